"""Job leases in the store, on both backends, over separate connections to one database (what
several replicas are): claims are disjoint, an expired lease is taken over, a handed-back lease is
taken at once, and a write under a lease another replica has claimed since is rejected."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.store import Fence, JobStore, LeaseLost, NoUpstreamSlot, fenced

LEASE = 30.0


def _job(n: int, **kw) -> Job:
    return Job(id=f"j{n:03d}", request={"mode": "text-to-video", "input": {"prompt": "a fox"}}, origin="slack",
               created_at=1000.0 + n, estimated_cost_usd=0.3, **kw)


@pytest.fixture
async def two(store_location):
    """Two replicas' own stores on one database."""
    stores = [await JobStore.open(store_location) for _ in range(2)]
    yield stores
    for store in stores:
        await store.close()


async def test_two_connections_claiming_at_once_take_disjoint_sets_oldest_first(two):
    a, b = two
    for n in range(40):
        await a.create_job(_job(n))
    await a.transition("j039", JobState.DELIVERED)  # ended: nobody claims it
    claims = await asyncio.gather(*(store.claim_jobs(owner, limit=12, lease_seconds=LEASE)
                                    for _ in range(3) for store, owner in ((a, "r1"), (b, "r2"))))
    ids = [job.id for batch in claims for job, _ in batch]
    assert len(ids) == len(set(ids)) == 39  # every unfinished job once, none twice
    for batch in claims:
        created = [job.created_at for job, _ in batch]
        assert created == sorted(created)
    # The database agrees: each job has exactly the owner whose claim returned it.
    owners = {job.id: owner for batch, owner in zip(claims, ["r1", "r2"] * 3, strict=True) for job, _ in batch}
    for job_id, owner in owners.items():
        assert (await b.lease_of(job_id))[0] == owner
    assert await a.claim_jobs("r3", limit=100, lease_seconds=LEASE) == []  # all leases live
    assert sum((await a.lease_counts()).values()) == 39


async def test_an_expired_lease_is_taken_over_with_a_new_version_and_a_live_one_is_not(two):
    a, b = two
    for n in range(3):
        await a.create_job(_job(n))
    now = time.time()
    first = await a.claim_jobs("r1", limit=10, lease_seconds=LEASE, now=now)
    assert [job.id for job, _ in first] == ["j000", "j001", "j002"]
    assert await b.claim_jobs("r2", limit=10, lease_seconds=LEASE, now=now + LEASE - 1) == []
    assert await b.claim_job("r2", "j000", lease_seconds=LEASE, now=now + LEASE - 1) is None
    # r1 renews one of them; the other two lapse and r2 takes them over.
    held = await a.renew_leases("r1", ["j001"], lease_seconds=LEASE, now=now + LEASE - 1)
    assert held == {"j001": (first[1][1], "pending")}
    taken = await b.claim_jobs("r2", limit=10, lease_seconds=LEASE, now=now + LEASE + 1)
    assert [job.id for job, _ in taken] == ["j000", "j002"]
    assert all(version == old + 1 for (_, version), (_, old) in zip(taken, [first[0], first[2]], strict=True))
    # r1's renewal now finds only what it still holds.
    assert set(await a.renew_leases("r1", ["j000", "j001", "j002"], lease_seconds=LEASE)) == {"j001"}


async def test_a_write_under_a_lease_taken_over_since_is_rejected_and_changes_nothing(two):
    a, b = two
    await a.create_job(_job(1))
    now = time.time()
    [(_, v1)] = await a.claim_jobs("r1", limit=1, lease_seconds=LEASE, now=now - 2 * LEASE)  # long expired
    with fenced(Fence("j001", "r1", v1)):
        await a.transition("j001", JobState.SUBMITTED, expect=[JobState.PENDING], submit_attempts=1)
    [(_, v2)] = await b.claim_jobs("r2", limit=1, lease_seconds=LEASE)
    assert v2 == v1 + 1
    with fenced(Fence("j001", "r2", v2)):
        await b.transition("j001", JobState.QUEUED, expect=[JobState.SUBMITTED], task_id="t-new")
        await b.hold_lease("j001")
    stale = Fence("j001", "r1", v1)
    with fenced(stale):  # r1 wakes up: every kind of write it would make is refused
        with pytest.raises(LeaseLost):
            await a.transition("j001", JobState.RUNNING, expect=[JobState.QUEUED], task_id="t-old")
        with pytest.raises(LeaseLost):
            await a.update("j001", progress=50, task_id="t-old")
        with pytest.raises(LeaseLost):
            await a.claim_delivery("j001")
        with pytest.raises(LeaseLost):
            await a.hold_lease("j001")
    job = await b.get_job("j001")
    assert (job.state, job.task_id, job.progress, job.delivery_state) == \
        (JobState.QUEUED, "t-new", None, DeliveryState.NONE)
    assert [e["to"] for e in await b.events("j001")] == ["pending", "submitted", "queued"]
    # A stale write for another job is not this lease's business: unfenced, as before.
    await a.create_job(_job(2))
    with fenced(stale):
        assert (await a.update("j002", progress=5)).progress == 5


async def test_a_lease_handed_back_is_taken_at_once_and_an_ended_job_frees_its_lease(two):
    a, b = two
    for n in range(4):
        await a.create_job(_job(n))
    claimed = dict((job.id, v) for job, v in await a.claim_jobs("r1", limit=10, lease_seconds=LEASE))
    with fenced(Fence("j003", "r1", claimed["j003"])):
        await a.transition("j003", JobState.FAILED)
    assert (await a.lease_of("j003"))[0] is None
    stale = {**claimed, "j002": claimed["j002"] - 1}  # a version r1 no longer has: not handed back
    assert await a.release_leases("r1", stale, leave=True) == 2
    taken = await b.claim_jobs("r2", limit=10, lease_seconds=LEASE)
    assert [job.id for job, _ in taken] == ["j000", "j001"]  # without waiting for expiry
    assert (await b.lease_of("j002"))[0] == "r1"


async def test_heartbeats_count_live_replicas_and_leaving_stops_counting(two):
    a, b = two
    await a.renew_leases("r1", [], lease_seconds=LEASE)
    await b.renew_leases("r2", [], lease_seconds=LEASE)
    await b.renew_leases("r-old", [], lease_seconds=LEASE, now=time.time() - 10 * LEASE)
    assert await a.live_replicas(within=LEASE) == 2
    await b.release_leases("r2", {}, leave=True)
    assert await a.live_replicas(within=LEASE) == 1


async def test_moves_to_submitted_racing_over_two_connections_never_exceed_the_in_flight_cap(two):
    a, b = two
    for n in range(10):
        await a.create_job(_job(n))
    await a.create_job(Job(id="jcli", request={}, origin="cli", state=JobState.PENDING))
    await a.transition("jcli", JobState.SUBMITTED)  # another origin does not count

    async def submit(store: JobStore, n: int) -> bool:
        try:
            await store.transition(f"j{n:03d}", JobState.SUBMITTED, expect=[JobState.PENDING],
                                   in_flight_cap=(3, "slack"))
            return True
        except NoUpstreamSlot:
            return False

    outcomes = await asyncio.gather(*(submit((a, b)[n % 2], n) for n in range(10)))
    assert sum(outcomes) == 3
    assert await a.count_in_flight("slack") == 3
    assert [j.state for j in await a.list_jobs(states=[JobState.PENDING], limit=20)].count(JobState.PENDING) == 7


async def test_a_postgresql_session_idle_in_a_transaction_loses_its_locks_so_a_frozen_replica_blocks_nothing(
        store_location):
    if not store_location.startswith("postgresql"):
        pytest.skip("PostgreSQL only: a SQLite file has one serving process")
    from bot.jobs.store.postgres import IDLE_IN_TRANSACTION_MS

    default = await JobStore.open(store_location)
    try:
        shown = (await default.db.fetch("SHOW idle_in_transaction_session_timeout"))[0][0]
        assert shown == f"{IDLE_IN_TRANSACTION_MS // 1000}s"
        await default.create_job(_job(1))
    finally:
        await default.close()
    # The same rule at 1 s (set in the URL): a replica frozen while it holds the job's row lock.
    frozen = await JobStore.open(store_location + "&idle_in_transaction_session_timeout=1000")
    other = await JobStore.open(store_location)
    try:
        async with frozen.db._pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("SELECT 1 FROM jobs WHERE id = 'j001' FOR UPDATE")
            assert await other.claim_jobs("r2", limit=5, lease_seconds=LEASE) == []  # locked: skipped
            await asyncio.sleep(2.0)  # "frozen" past the timeout: the server ends the session
            taken = await other.claim_jobs("r2", limit=5, lease_seconds=LEASE)
            assert [job.id for job, _ in taken] == ["j001"]
            with contextlib.suppress(Exception):  # the server ended the session
                await tx.rollback()
    finally:
        await frozen.close()
        await other.close()


async def test_unanswered_requests_are_taken_once_and_only_from_replicas_that_are_gone(two):
    a, b = two
    now = time.time()
    await a.renew_leases("r-live", [], lease_seconds=LEASE)
    await a.renew_leases("r-dead", [], lease_seconds=LEASE, now=now - 10 * LEASE)
    await b.renew_leases("r-new", [], lease_seconds=LEASE)
    for key, replica in (("k-live", "r-live"), ("k-dead", "r-dead"), ("k-mine", "r-new"), ("k-old", None),
                         ("k-done", "r-dead")):
        await a.receive_request(key, {"text": f"t2v {key}"}, replica=replica)
    await a.request_done("k-done")
    taken = await asyncio.gather(b.take_unanswered("r-new", since=now - 60, live_within=LEASE, reclaim_own=True),
                                 a.take_unanswered("r-live", since=now - 60, live_within=LEASE))
    keys = sorted(key for batch in taken for key, _ in batch)
    # k-live is being answered by its live replica (which, running, does not replay its own); each of
    # the others is taken by exactly one replica: r-new's own previous run's only by r-new
    assert keys == ["k-dead", "k-mine", "k-old"]
    assert dict(taken[0] + taken[1])["k-dead"] == {"text": "t2v k-dead"}
    again = await a.take_unanswered("r-other", since=now - 60, live_within=LEASE)
    assert again == []  # now held by replicas that are alive
