"""Replicas (or several `generate`s) that start at the same moment on a fresh database: one
migrates, the others wait and find it done; every one opens, and each migration ran once."""

from __future__ import annotations

import asyncio

from bot.jobs.store import MIGRATIONS, JobStore


async def test_stores_opened_together_on_a_fresh_database_all_open_and_migrate_once(store_location):
    opened = await asyncio.gather(*(JobStore.open(store_location) for _ in range(4)), return_exceptions=True)
    stores = [s for s in opened if isinstance(s, JobStore)]
    try:
        assert len(stores) == 4, [repr(s) for s in opened if not isinstance(s, JobStore)]
        rows = await stores[0].db.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        for store in stores:
            await store.close()
