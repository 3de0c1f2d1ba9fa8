"""The lease keeper's bookkeeping against a real store (both backends): what it believes it holds
matches the database, also when a claim lands while a renewal is on the wire."""

from __future__ import annotations

import asyncio
import time

from bot.jobs.leases import LeaseKeeper, surplus
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


async def _generate(store: JobStore, owner: str = "generate-1") -> LeaseKeeper:
    """`python -m bot generate` driving its one job (jc000), as its tracker starts."""
    generate = LeaseKeeper(store, owner, LEASE, origin="cli", only=frozenset({"jc000"}))
    assert [job.id for job in await generate.claim_at_start(force=True)] == ["jc000"]
    return generate


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
        generate = await _generate(store)
        await generate.renew()
        await a.claim_share()
        await b.claim_share()
        assert (len(a), len(b)) == (5, 5)
        assert await store.live_replicas(within=LEASE) == 2
    finally:
        await store.close()


def test_surplus_hands_back_towards_the_lightest_never_below_the_share():
    assert surplus(held=12, lightest=0, share=6) == 6      # a replica restarted late: half of it all
    assert surplus(held=10, lightest=0, share=7) == 3      # two givers at once: each stays at its share
    assert surplus(held=8, lightest=4, share=6) == 0       # within the tolerance: no back and forth
    assert surplus(held=60, lightest=55, share=58) == 0    # the tolerance grows with the share (6 here)
    assert surplus(held=5, lightest=0, share=5) == 0       # at its share already (the others hold the rest)
    assert surplus(held=4, lightest=0, share=2) == 0       # a few jobs: not worth moving (REBALANCE_SLACK)
    assert surplus(held=9, lightest=0, share=5) == 4       # jobs ended meanwhile: the share is smaller


async def test_a_replica_joining_late_is_handed_its_share_and_the_givers_keep_theirs(store_location):
    store = await JobStore.open(store_location)
    try:
        for n in range(20):
            await store.create_job(_job(n))
        a = LeaseKeeper(store, "replica-a", LEASE, origin="slack")
        b = LeaseKeeper(store, "replica-b", LEASE, origin="slack")
        await a.claim_at_start(force=False)      # alone: takes every job
        await b.renew()                          # joins (beats): nothing free, holds nothing
        assert await b.claim_share() == []
        assert (len(a), len(b)) == (20, 0)
        assert await store.replica_loads(within=LEASE, origin="slack") == {"replica-a": 20, "replica-b": 0}
        assert await store.replica_loads(within=LEASE, now=time.time() + 2 * LEASE) == {}  # heartbeats gone

        busy = {"jk000", "jk001"}                # steps running now: never handed over
        handed = await a.rebalance(lambda: [j for j in a.versions if j not in busy])
        assert len(handed) == 10 and not busy & set(handed)
        assert not any(a.holds(j) for j in handed) and len(a) == 10
        assert {job.id for job in await b.claim_share()} == set(handed)
        assert (len(a), len(b)) == (10, 10)
        assert await a.rebalance(lambda: list(a.versions)) == []   # balanced: nothing moves
        assert await b.rebalance(lambda: list(b.versions)) == []

        c = LeaseKeeper(store, "replica-c", LEASE, origin="slack")
        await c.renew()                          # a third one: each of the two gives down to its share
        given = await a.rebalance(lambda: list(a.versions)) + await b.rebalance(lambda: list(b.versions))
        assert (len(a), len(b)) == (7, 7) and len(given) == 6
        await c.claim_share()
        assert (len(a), len(b), len(c)) == (7, 7, 6)
        assert sum((await store.lease_counts()).values()) == 20   # every job held by one replica
    finally:
        await store.close()


async def test_a_generate_never_hands_back_the_job_it_drives(store_location):
    store = await JobStore.open(store_location)
    try:
        await store.create_job(_cli_job(0))
        replica = LeaseKeeper(store, "replica-a", LEASE, origin="cli")
        await replica.renew()
        generate = await _generate(store)
        assert await generate.rebalance(lambda: list(generate.versions)) == []
        assert generate.holds("jc000")
    finally:
        await store.close()


async def test_a_serve_restarted_alone_while_a_generate_runs_still_takes_every_job(store_location):
    """The generate's keeper is no replica: a lone `serve` restarted beside it (after a crash) finds no
    other replica alive and takes every slack job at once, instead of waiting out their leases."""
    store = await JobStore.open(store_location)
    try:
        for n in range(3):
            await store.create_job(_job(n))
        await store.create_job(_cli_job(0))
        generate = await _generate(store)
        await generate.renew()
        # The crashed run's leases are still live (it died a second ago); its process is gone.
        assert len(await store.claim_jobs("replica-old", limit=10, lease_seconds=LEASE, origin="slack")) == 3
        restarted = LeaseKeeper(store, "replica-new", LEASE, origin="slack")
        assert [job.id for job in await restarted.claim_at_start(force=False)] == ["jk000", "jk001", "jk002"]
        assert restarted.alone and generate.holds("jc000")
    finally:
        await store.close()


async def test_a_generate_under_a_serves_replica_id_leaves_that_serves_heartbeat(store_location):
    """`docker compose exec wanbot-1 python -m bot generate ...` inherits WANBOT_REPLICA_ID=wanbot-1:
    its stop must not end the serve's heartbeat (the serve would drop out of the fair share)."""
    store = await JobStore.open(store_location)
    try:
        await store.create_job(_cli_job(0))
        serve = LeaseKeeper(store, "wanbot-1", LEASE, origin="slack")
        await serve.renew()
        generate = await _generate(store, "wanbot-1")
        assert await generate.release(leave=True) == 1
        assert await store.live_replicas(within=LEASE) == 1
    finally:
        await store.close()
