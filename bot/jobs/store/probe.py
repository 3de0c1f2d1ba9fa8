"""Look at the database `WANBOT_DB` names without changing it (`python -m bot check`): is it
reachable, which schema version does it hold against this release's, and how long does a round
trip take. Opening the store would migrate it; a check must not, so this reads `schema_version`
directly, and a SQLite file that does not exist yet is not created.

Every message shows the location through `display` (no password)."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bot.jobs.store.location import display, is_postgresql, sqlite_path
from bot.jobs.store.schema import MIGRATIONS

ROUND_TRIPS = 5  # `SELECT 1`s timed; the median is reported


@dataclass(frozen=True)
class Probe:
    ok: bool
    message: str


def _verdict(where: str, kind: str, found: int | None, latency_ms: float) -> Probe:
    current = len(MIGRATIONS)
    timing = f"round trip {latency_ms:.1f} ms"
    if found is None:
        return Probe(True, f"{kind} {where} reachable, no schema yet (the first start creates version "
                           f"{current}); {timing}")
    if found > current:
        return Probe(False, f"{kind} {where} has schema version {found}, newer than this release knows "
                            f"({current}): run the newer release; {timing}")
    if found < current:
        return Probe(True, f"{kind} {where} reachable, schema version {found} of {current} (the next start "
                           f"migrates it); {timing}")
    return Probe(True, f"{kind} {where} reachable, schema version {found} (current); {timing}")


async def probe(location: str) -> Probe:
    location = str(location)
    if is_postgresql(location):
        return await _probe_postgresql(location)
    return await asyncio.to_thread(_probe_sqlite, sqlite_path(location))


async def _probe_postgresql(url: str) -> Probe:
    import asyncpg

    where = display(url)
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        return Probe(False, f"cannot connect to PostgreSQL {where} ({_reason(exc)})")
    try:
        timings = []
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            timings.append((time.perf_counter() - started) * 1000)
        # to_regclass: NULL when the table is absent from the search_path, instead of an error
        if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
            found = None
        else:
            found = await conn.fetchval("SELECT MAX(version) FROM schema_version")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return Probe(False, f"PostgreSQL {where} answered but cannot be read ({_reason(exc)})")
    finally:
        await conn.close()
    return _verdict(where, "PostgreSQL", found, statistics.median(timings))


def _probe_sqlite(path: str) -> Probe:
    if path != ":memory:" and not Path(path).exists():
        return Probe(True, f"SQLite {path} does not exist yet (the first start creates it)")
    try:
        # Read-only: a check never creates, migrates or locks the file for writing.
        target = f"file:{quote(str(Path(path).resolve()))}?mode=ro" if path != ":memory:" else path
        conn = sqlite3.connect(target, uri=path != ":memory:", timeout=5)
    except sqlite3.Error as exc:
        return Probe(False, f"cannot open SQLite {path} ({exc})")
    try:
        timings = []
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            timings.append((time.perf_counter() - started) * 1000)
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
        found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] if has_table else None
    except sqlite3.Error as exc:
        return Probe(False, f"SQLite {path} is not a usable database ({exc})")
    finally:
        conn.close()
    return _verdict(path, "SQLite", found, statistics.median(timings))


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
