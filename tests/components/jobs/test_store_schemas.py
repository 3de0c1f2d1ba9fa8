"""Two deployments (or two test runs) on one PostgreSQL database, each in a schema of its own, must
not wait for each other: PostgreSQL's advisory locks are the database's, not a schema's, so the
store's locks (a user's limit check, the count of tasks in flight) carry the schema in their key."""

from __future__ import annotations

import asyncio

from bot.jobs.store import JobStore
from bot.jobs.store.in_flight import TOKENS
from tests.support.backends import drop_schema, new_schema


async def test_the_stores_locks_in_one_schema_do_not_hold_up_another_schema_on_the_same_database():
    first_url, second_url = await new_schema(), await new_schema()
    first, second = await JobStore.open(first_url), await JobStore.open(second_url)
    holding, done = asyncio.Event(), asyncio.Event()

    async def hold_in_first():
        async with first.db.transaction() as tx:
            await tx.lock_user("U0SAME")
            await tx.in_flight_lock(shared=False, tokens=TOKENS)  # a move to `submitted` near its limit
            holding.set()
            await done.wait()

    holder = asyncio.create_task(hold_in_first())
    try:
        await asyncio.wait_for(holding.wait(), 30)

        async def in_second():
            async with second.db.transaction() as tx:
                await tx.lock_user("U0SAME")
                await tx.in_flight_lock(shared=False, tokens=TOKENS)

        async def far_from_the_limit_in_second():
            async with second.db.transaction() as tx:
                await tx.in_flight_lock(shared=True, tokens=TOKENS)  # would wait for an exclusive holder

        await asyncio.wait_for(in_second(), 5)  # at once, not when the first schema's transaction ends
        await asyncio.wait_for(far_from_the_limit_in_second(), 5)
    finally:
        done.set()
        await holder
        await first.close()
        await second.close()
        await drop_schema(first_url)
        await drop_schema(second_url)
