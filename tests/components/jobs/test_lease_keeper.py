"""The lease keeper's bookkeeping against a real store (both backends): what it believes it holds
matches the database, also when a claim lands while a renewal is on the wire."""

from __future__ import annotations

import asyncio

from bot.jobs.leases import LeaseKeeper
from bot.jobs.models import Job
from bot.jobs.store import JobStore

LEASE = 30.0


class SlowRenewals:
    """The real store, with each renewal's round trip made slow (a busy database), nothing faked."""

    def __init__(self, store: JobStore, delay: float):
        self._store, self._delay = store, delay

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def renew_leases(self, *args, **kwargs):
        await asyncio.sleep(self._delay)
        return await self._store.renew_leases(*args, **kwargs)


def _job(n: int) -> Job:
    return Job(id=f"jk{n:03d}", request={"mode": "text-to-video", "input": {"prompt": "a fox"}}, origin="slack",
               created_at=1000.0 + n, estimated_cost_usd=0.3)


async def test_a_job_claimed_while_a_renewal_is_on_the_wire_stays_held(store_location):
    store = await JobStore.open(store_location)
    try:
        for n in range(2):
            await store.create_job(_job(n))
        keeper = LeaseKeeper(SlowRenewals(store, 0.3), "replica-a", LEASE, origin="slack")
        assert await keeper.claim("jk000")
        renewal = asyncio.create_task(keeper.renew())
        await asyncio.sleep(0.05)            # the renewal of jk000 is on its way
        assert await keeper.claim("jk001")   # a new job claimed meanwhile
        assert await renewal == []           # nothing was lost
        assert keeper.holds("jk001") and keeper.fence("jk001") is not None
        assert len(keeper) == 2
    finally:
        await store.close()


def _cli_job(n: int) -> Job:
    return Job(id=f"jc{n:03d}", request={"mode": "text-to-video", "input": {"prompt": "a fox"}}, origin="cli",
               created_at=1000.0 + n, estimated_cost_usd=0.3)


async def test_a_generate_driving_its_own_job_does_not_shrink_the_replicas_share(store_location):
    """`python -m bot generate` pointed at the replicas' database drives its one job: it is not a
    replica, so the serve replicas still split every slack job between them (none left undriven)."""
    store = await JobStore.open(store_location)
    try:
        for n in range(10):
            await store.create_job(_job(n))
        await store.create_job(_cli_job(0))
        a = LeaseKeeper(store, "replica-a", LEASE, origin="slack")
        b = LeaseKeeper(store, "replica-b", LEASE, origin="slack")
        await a.renew()
        await b.renew()
        generate = LeaseKeeper(store, "generate-1", LEASE, origin="cli", only=frozenset({"jc000"}))
        assert [job.id for job in await generate.claim_at_start(force=True)] == ["jc000"]
        await generate.renew()
        await a.claim_share()
        await b.claim_share()
        assert (len(a), len(b)) == (5, 5)
        assert await store.live_replicas(within=LEASE) == 2
    finally:
        await store.close()
