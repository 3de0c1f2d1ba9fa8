"""Two trackers (two replicas) on one PostgreSQL database, in one process, against the gateway
simulator: every job is driven by one of them under a lease, WAN_MAX_IN_FLIGHT holds over both, a
stopped tracker's jobs are taken over at once, and a tracker whose job was taken from it writes
nothing more about it. What counts is read from the simulator (tasks created, when) and from each
tracker's notifier (what a user would see), not from the trackers' word."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions
from bot.wan.client import GatewayClient
from tests.components.jobs.conftest import t2v
from tests.conftest import RecordingNotifier, bounded
from tests.support.backends import drop_schema, new_schema


@pytest.fixture
async def pg_url():
    url = await new_schema()
    yield url
    await drop_schema(url)


@pytest.fixture
async def replica(pg_url, simulator, make_settings, tmp_path):
    """`await replica("ra", **options)`: a started tracker with its own store and notifier."""
    started = []

    async def start(name: str, **options) -> Tracker:
        settings = make_settings(wanbot_db=pg_url, wan_api_base=simulator.base_url,
                                 wan_api_key=simulator.config.api_key)
        store = await JobStore.open(settings.wanbot_db)
        client = GatewayClient(settings)
        out = tmp_path / name
        out.mkdir()
        opts = TrackerOptions.from_settings(settings, download_dir=str(out), replica_id=name,
                                            **{"poll_min_interval": 0.2, "first_guess_seconds": 1.0,
                                               "lease_seconds": 3.0, **options})
        tracker = Tracker(store, client, RecordingNotifier(out), opts)
        await tracker.start()
        started.append((tracker, client, store))
        return tracker

    yield start
    for tracker, client, store in started:
        await bounded(tracker.stop(grace=1), client.aclose(), store.close())


def _videos(*trackers: Tracker) -> dict[str, int]:
    posted: dict[str, int] = {}
    for tracker in trackers:
        for job_id, videos in tracker.notifier.videos.items():
            posted[job_id] = posted.get(job_id, 0) + len(videos)
    return posted


async def _until(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def _all_upstream(tracker: Tracker, jobs) -> bool:
    """Every job submitted and queued or running upstream."""
    states = [(await tracker.store.get_job(job.id)).state for job in jobs]
    return all(state in (JobState.QUEUED, JobState.RUNNING) for state in states)


def _most_in_flight(simulator) -> int:
    """The most tasks the simulator had running at one moment (created, not yet seen ended)."""
    edges = []
    for task in simulator.tasks.values():
        edges.append((task.created_wall, 1))
        edges.append((task.ended_wall or float("inf"), -1))
    most = now = 0
    for _, step in sorted(edges):
        now += step
        most = max(most, now)
    return most


async def test_two_replicas_drive_every_job_once_and_share_the_work(replica, simulator):
    a, b = await replica("ra"), await replica("rb")
    jobs = [await (a, b)[n % 2].enqueue(t2v(f"fox {n}"), origin="slack") for n in range(12)]
    for job in jobs:
        done = await asyncio.wait_for(a.wait_for(job.id), 60)
        assert done.state == JobState.DELIVERED
    assert _videos(a, b) == {job.id: 1 for job in jobs}  # one post per job, over both
    assert simulator.stats.tasks_created == 12 and len(simulator.stats.tasks_by_key) == 12
    assert a.notifier.videos and b.notifier.videos  # both worked


async def test_wan_max_in_flight_holds_over_both_replicas(replica, simulator):
    a, b = await replica("ra", max_in_flight=2), await replica("rb", max_in_flight=2)
    jobs = [await (a, b)[n % 2].enqueue(t2v(f"owl {n}"), origin="slack") for n in range(8)]
    for job in jobs:
        assert (await asyncio.wait_for(a.wait_for(job.id), 90)).state == JobState.DELIVERED
    assert simulator.stats.tasks_created == 8
    assert _most_in_flight(simulator) <= 2  # each replica alone would have allowed 2, together 4


async def test_a_stopped_replica_hands_its_jobs_over_at_once_not_after_its_lease(replica, simulator):
    simulator.config.run_seconds = 4.0
    b = await replica("rb", lease_seconds=60.0)
    a = await replica("ra", lease_seconds=60.0)
    jobs = [await a.enqueue(t2v(f"cat {n}"), origin="slack") for n in range(4)]

    await _until(lambda: _all_upstream(a, jobs))
    stopped = time.monotonic()
    await a.stop(grace=1)
    for job in jobs:
        assert (await asyncio.wait_for(b.wait_for(job.id), 45)).state == JobState.DELIVERED
    assert time.monotonic() - stopped < 45  # far from the 60 s lease
    assert set(b.notifier.videos) == {job.id for job in jobs} and not a.notifier.videos
    assert _videos(a, b) == {job.id: 1 for job in jobs}
    assert simulator.stats.tasks_created == 4  # taken over where they stood: polled, not resubmitted


async def test_a_job_taken_over_by_a_cancel_elsewhere_gets_no_more_writes_from_its_old_owner(
        replica, simulator, caplog):
    simulator.config.run_seconds = 30.0
    a = await replica("ra")
    b = await replica("rb")
    job = await a.enqueue(t2v("a slow heron"), origin="slack")

    async def running():
        return (await a.store.get_job(job.id)).state == JobState.RUNNING
    await _until(running)
    assert a.leases.holds(job.id) and not b.leases.holds(job.id)
    caplog.set_level(logging.WARNING, logger="bot.jobs.tracker")
    canceled = await b.cancel(job.id, by="U1")  # the request reached the other replica
    assert canceled.state == JobState.CANCELED

    async def dropped():
        return not a.leases.holds(job.id) and any(
            "lease lost" in r.getMessage() and getattr(r, "replica", None) == "ra" for r in caplog.records)
    await _until(dropped, 30)
    await asyncio.sleep(1.5)  # a's polls would have come by now
    stored = await b.store.get_job(job.id)
    assert stored.state == JobState.CANCELED
    assert [e["to"] for e in await b.store.events(job.id)][-1] == "canceled"
    assert not a.notifier.videos and not b.notifier.videos


async def test_notices_of_new_jobs_elsewhere_do_not_rewrite_this_replicas_leases(replica, simulator):
    """A notice of a job another replica stored wakes this one to look for free work, not to renew
    every lease it holds: in a flood of commands spread over replicas, one renewal per notice (every
    held row written twice a second) was upkeep that grew with the replicas, not with the work.
    Renewals stay on their own schedule (a third of the lease, at most every 5 s)."""
    simulator.config.run_seconds = 30.0  # every job stays unfinished, under its lease, throughout
    a = await replica("ra", lease_seconds=30.0, max_in_flight=50)
    b = await replica("rb", lease_seconds=30.0, max_in_flight=50)
    # ra holds 2, rb will hold 6: within the rebalance tolerance (REBALANCE_SLACK), so no lease moves
    # for balance either, whenever a renewal comes.
    mine, _ = await a.enqueue(t2v("held by ra")), await a.enqueue(t2v("also held by ra"))
    await _until(lambda: _owner_is(a, mine.id, "ra"))
    before = await a.store.lease_of(mine.id)
    for i in range(6):  # six notices to ra, over more than NOTICE_GRACE each
        await b.enqueue(t2v(f"stored by rb {i}"))
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)
    after = await a.store.lease_of(mine.id)
    assert after == before, "ra renewed its lease on notices of rb's new jobs"
    counts = await a.store.lease_counts()
    assert counts == {"ra": 2, "rb": 6}, counts  # rb drives what it stored; ra took none of it


async def _owner_is(tracker: Tracker, job_id: str, owner: str) -> bool:
    lease = await tracker.store.lease_of(job_id)
    return lease is not None and lease[0] == owner


async def test_cancels_under_way_while_a_late_replica_is_handed_its_share_all_cancel(replica, simulator):
    """A replica rebalancing to one that just started never hands over a job a user is cancelling on
    it: the cancel would lose its lease halfway (an error for the user, and where the gateway cannot
    cancel, a video still posted and billed after the user asked to stop)."""
    simulator.config.run_seconds = 120.0
    a = await replica("ra", max_in_flight=50, first_guess_seconds=120.0)  # polled seldom: idle in between
    jobs = [await a.enqueue(t2v(f"mole {n}"), origin="slack") for n in range(10)]

    await _until(lambda: _all_upstream(a, jobs))
    await asyncio.sleep(1.0)  # the first polls are answered; the next are a minute away
    simulator.config.latency = 4.0  # each cancel takes 4 s upstream
    cancels = asyncio.gather(*(a.cancel(job.id, by="U1") for job in jobs), return_exceptions=True)
    b = await replica("rb", max_in_flight=50)  # joins while every cancel is on the wire
    outcomes = await cancels
    assert [getattr(o, "state", o) for o in outcomes] == [JobState.CANCELED] * 10
    await asyncio.sleep(2.0)  # a rebalance or a stray step would show by now
    assert [(await b.store.get_job(job.id)).state for job in jobs] == [JobState.CANCELED] * 10
    assert not a.notifier.videos and not b.notifier.videos
    assert simulator.stats.tasks_created == 10


async def test_a_poll_answered_after_this_replicas_own_cancel_is_not_reported_as_a_lease_lost(
        replica, simulator, caplog):
    """A cancel ends the job (and clears its lease) while the same replica's poll of it is on the
    wire: the poll's late write is dropped quietly. "lease lost: another replica drives this job now"
    would send an operator looking for a replica that took the job, and there is none."""
    simulator.config.run_seconds = 60.0
    a = await replica("ra", max_in_flight=50)
    jobs = [await a.enqueue(t2v(f"vole {n}"), origin="slack") for n in range(6)]

    await _until(lambda: _all_upstream(a, jobs))
    caplog.set_level(logging.INFO, logger="bot.jobs.tracker")
    simulator.config.latency = 1.0  # polls stay on the wire while the cancels land
    await asyncio.sleep(0.5)
    outcomes = await asyncio.gather(*(a.cancel(job.id, by="U1") for job in jobs))
    assert [o.state for o in outcomes] == [JobState.CANCELED] * 6
    await asyncio.sleep(2.5)  # every poll sent before the cancels is answered by now
    lost = [r.getMessage() for r in caplog.records if "lease lost" in r.getMessage()]
    assert lost == []
    assert [(await a.store.get_job(job.id)).state for job in jobs] == [JobState.CANCELED] * 6
