"""The chat.update budget kept in the store, on both backends: one row per bucket, spent by several
connections to one database (several replicas) without ever handing out more than it holds."""

from __future__ import annotations

import asyncio

from bot.jobs.store import JobStore


async def test_takes_racing_over_two_connections_never_exceed_the_burst(store_location):
    replicas = [await JobStore.open(store_location) for _ in range(2)]
    try:
        # 0.06 a minute: nothing refills during the test, so only the burst of 5 can be taken.
        waits = await asyncio.gather(*(replicas[n % 2].take_token("chat.update:T1", per_minute=0.06, burst=5)
                                       for n in range(20)))
        assert sum(w == 0 for w in waits) == 5
        assert all(w > 0 for w in waits if w != 0)
        # Another workspace's bucket is its own.
        assert await replicas[1].take_token("chat.update:T2", per_minute=0.06, burst=5) == 0
    finally:
        for store in replicas:
            await store.close()


async def test_a_bucket_refills_at_its_rate_and_says_when_the_next_token_comes(store):
    for _ in range(2):
        assert await store.take_token("k", per_minute=60, burst=2, now=1000.0) == 0
    assert await store.take_token("k", per_minute=60, burst=2, now=1000.0) == 1.0   # empty: 1 s to go
    assert await store.take_token("k", per_minute=60, burst=2, now=1000.5) == 0.5
    assert await store.take_token("k", per_minute=60, burst=2, now=1001.0) == 0     # one refilled
    # A replica whose clock lags does not refill it again for the time it is behind.
    assert await store.take_token("k", per_minute=60, burst=2, now=995.0) == 1.0
