"""Presets in the store: a named, workspace-wide request that `/wan preset NAME` (and
`python -m bot generate --preset NAME`) starts again. Mixed into `JobStore`, so both backends get
the same queries; the table is migration 7 (schema.py). An attached image lives in
`preset_attachments` (migration 13), read back only to run the preset, never by the list."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from bot.jobs import attachments


class PresetExists(Exception):
    """Another preset already has this name (names are unique regardless of case)."""


@dataclass(frozen=True)
class Preset:
    name: str                  # as saved; `key` (its lower case) is what must be unique
    request: dict[str, Any]    # the unified request body, seed included when it was known (listed:
    #                            attachments as stubs, bot/jobs/attachments.py)
    created_by: str | None
    created_at: float
    source_job_id: str | None = None
    last_used_at: float | None = None
    uses: int = 0

    @property
    def key(self) -> str:
        return self.name.lower()


def _row_to_preset(row: Any) -> Preset:
    data = dict(row)
    return Preset(name=data["name"], request=json.loads(data["request"]), created_by=data["created_by"],
                  created_at=data["created_at"], source_job_id=data["source_job_id"],
                  last_used_at=data["last_used_at"], uses=data["uses"])


class PresetQueries:
    """The preset half of the store's interface (needs `self.db`, as JobStore has)."""

    db: Any

    async def save_preset(self, name: str, request: dict[str, Any], *, created_by: str | None,
                          source_job_id: str | None = None) -> Preset:
        """Store a new preset; raises PresetExists when the name is taken (nothing is overwritten)."""
        preset = Preset(name=name, request=request, created_by=created_by, created_at=time.time(),
                        source_job_id=source_job_id)
        stored, moved = attachments.split(request)
        async with self.db.transaction() as tx:
            added = await tx.execute(
                "INSERT INTO presets (key, name, request, created_by, created_at, source_job_id)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (preset.key, name, json.dumps(stored, ensure_ascii=False, sort_keys=True), created_by,
                 preset.created_at, source_job_id))
            if added != 1:
                raise PresetExists(name)
            for field_name, data in moved.items():
                await tx.execute("INSERT INTO preset_attachments (key, field, data) VALUES (?, ?, ?)",
                                 (preset.key, field_name, data))
        return preset

    async def get_preset(self, name: str) -> Preset | None:
        """The preset with its whole request, attachments read back: what a run sends."""
        rows = await self.db.fetch("SELECT * FROM presets WHERE key = ?", (name.lower(),))
        if not rows:
            return None
        preset = _row_to_preset(rows[0])
        if not attachments.stub_fields(preset.request):
            return preset
        moved = await self.db.fetch("SELECT field, data FROM preset_attachments WHERE key = ?", (preset.key,))
        full = attachments.restore(preset.request, {r["field"]: r["data"] for r in moved})
        return replace(preset, request=full) if full is not None else preset

    async def list_presets(self, limit: int = 100) -> list[Preset]:
        """Most recently used first, then newest; attachments stay stubs (see `get_preset`)."""
        rows = await self.db.fetch(
            "SELECT * FROM presets ORDER BY COALESCE(last_used_at, created_at) DESC, key LIMIT ?", (limit,))
        return [_row_to_preset(r) for r in rows]

    async def preset_used(self, name: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE presets SET last_used_at = ?, uses = uses + 1 WHERE key = ?",
                             (time.time(), name.lower()))

    async def delete_preset(self, name: str) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM presets WHERE key = ?", (name.lower(),)) == 1
