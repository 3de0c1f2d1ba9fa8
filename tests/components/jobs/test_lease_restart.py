"""A `serve` restarted on PostgreSQL takes its jobs back at once, whatever id its previous run had
(the default one holds the pid): a replica that finds no other alive, by its process rather than its
heartbeat (fresh for a lease time after a SIGKILL), takes every unfinished job when it starts, those
its previous run stored but had not claimed yet included. One that finds another replica alive
leaves that one's jobs to it."""

from __future__ import annotations

import pytest

from bot.jobs.leases import LeaseKeeper
from bot.jobs.models import Job
from bot.jobs.store import JobStore
from tests.support.backends import drop_schema, new_schema

LEASE = 30.0


@pytest.fixture
async def postgresql():
    url = await new_schema()
    yield url
    await drop_schema(url)


async def _replica(url: str, owner: str) -> tuple[JobStore, LeaseKeeper, list[Job]]:
    """A replica's store and leases, started: the jobs it took."""
    store = await JobStore.open(url)
    keeper = LeaseKeeper(store, owner, LEASE, origin="slack")
    return store, keeper, await keeper.claim_at_start(force=False)


async def _first_with_jobs(url: str) -> tuple[JobStore, LeaseKeeper]:
    """A replica that stored three jobs just now and claimed one of them (the others' cards are still
    being posted: stored, not claimed yet)."""
    store, keeper, taken = await _replica(url, "host-100")
    assert taken == []
    for n in range(3):
        await store.create_job(Job(id=f"jr{n:03d}", request={"mode": "text-to-video", "input": {"prompt": "a fox"}},
                                   origin="slack", estimated_cost_usd=0.3))
    assert await keeper.claim("jr000")
    return store, keeper


async def test_a_replica_started_after_the_only_other_died_takes_all_its_jobs_at_once(postgresql):
    first, _ = await _first_with_jobs(postgresql)
    await first.close()  # the process dies (SIGKILL): its sessions end, its heartbeat is still fresh
    second, keeper, taken = await _replica(postgresql, "host-200")  # restarted: another pid, another id
    try:
        assert sorted(job.id for job in taken) == ["jr000", "jr001", "jr002"] and keeper.alone
        assert (await second.lease_of("jr000"))[0] == "host-200"
    finally:
        await second.close()


async def test_a_replica_that_finds_another_alive_leaves_that_ones_jobs_to_it(postgresql):
    first, _ = await _first_with_jobs(postgresql)
    try:
        second, keeper, taken = await _replica(postgresql, "host-200")
        try:
            assert not keeper.alone and taken == []
            assert (await second.lease_of("jr000"))[0] == "host-100"
        finally:
            await second.close()
    finally:
        await first.close()
