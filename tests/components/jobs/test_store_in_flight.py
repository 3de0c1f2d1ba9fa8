"""WAN_MAX_IN_FLIGHT in the database (bot/jobs/store/in_flight.py): never one task more in flight than
the limit, however many replicas race for the last slots, while moves far from the limit run side
by side instead of one at a time.

PostgreSQL cases hold moves open inside their transactions (moved, not committed) to build the
worst interleavings on purpose: a move that should wait is seen waiting on a lock in pg_locks, then
refused once the others commit. The process race runs on both backends."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import pytest

from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore, NoUpstreamSlot
from bot.jobs.store.in_flight import IN_FLIGHT_SQL, TOKENS, InFlightGate

PATIENCE = 60.0  # seconds for any condition on a loaded machine


def _job(n: int) -> Job:
    return Job(id=f"j{n:03d}", request={"mode": "text-to-video", "input": {"prompt": "a fox"}}, origin="slack",
               created_at=1000.0 + n, estimated_cost_usd=0.3)


async def _jobs(store: JobStore, count: int, *, submitted: int) -> list[str]:
    """`count` pending slack jobs, after `submitted` already in flight (moved without a cap)."""
    for n in range(submitted + count):
        await store.create_job(_job(n))
        if n < submitted:
            await store.transition(f"j{n:03d}", JobState.SUBMITTED)
    return [f"j{n:03d}" for n in range(submitted, submitted + count)]


async def _until(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def pg(store_location, monkeypatch):
    """PostgreSQL only: a store whose connections are named (to find their lock waits in pg_locks),
    a function counting their lock waits, and the token each next shared move takes (0, 1, ... in turn)."""
    if not store_location.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's one writer serialises every move (the race below covers it)")
    import asyncpg

    import bot.jobs.store.postgres as postgres

    class Turns:
        def __init__(self):
            self.next = 0

        def randrange(self, n):
            self.next += 1
            return (self.next - 1) % n

    monkeypatch.setattr(postgres, "random", Turns())
    name = f"inflight-{uuid.uuid4().hex[:8]}"
    store = await JobStore.open(f"{store_location}&application_name={name}")
    admin = await asyncpg.connect(store_location.split("?")[0])

    async def waiting() -> int:
        return await admin.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = $1", name)

    yield store, waiting
    await admin.close()
    await store.close()


async def _race(store: JobStore, job_ids: list[str], limit: int, go: asyncio.Event):
    """Each job moved to `submitted` under the cap by a gate of its own (a replica each), held open
    inside its transaction until `go`. Returns (tasks, how many are inside at once)."""
    inside = {"now": 0, "most": 0}

    def hold(job_id):
        async def body(tx):
            await tx.execute("UPDATE jobs SET state = 'submitted' WHERE id = ?", (job_id,))
            inside["now"] += 1
            inside["most"] = max(inside["most"], inside["now"])
            await go.wait()
            inside["now"] -= 1
        return body

    tasks = [asyncio.create_task(InFlightGate().admit(store.db, limit, "slack", durable=False, body=hold(job_id)))
             for job_id in job_ids]
    return tasks, inside


async def _outcomes(tasks) -> list[bool]:
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), PATIENCE)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, NoUpstreamSlot):
            raise result
    return [not isinstance(result, NoUpstreamSlot) for result in results]


async def test_far_from_the_limit_moves_into_flight_run_side_by_side_and_the_one_past_it_waits_and_is_refused(pg):
    store, waiting = pg
    limit = TOKENS + 4
    ids = await _jobs(store, TOKENS + 1, submitted=limit - TOKENS)  # exactly far enough for TOKENS at once
    go = asyncio.Event()
    tasks, inside = await _race(store, ids[:TOKENS], limit, go)
    await _until(lambda: _ready(inside["now"] == TOKENS), f"{TOKENS} moves are inside their transactions at once")
    # One more: its token is held (all are), so it waits; had it counted now it would have seen
    # room (the others are not committed) and made limit + 1.
    [last], _ = await _race(store, ids[TOKENS:], limit, asyncio.Event())
    await _until(lambda: _positive(waiting), "the move past the limit waits on a lock")
    assert not last.done()
    go.set()
    assert await _outcomes(tasks) == [True] * TOKENS
    assert await _outcomes([last]) == [False]  # refused once they committed: the limit is reached
    assert await store.count_in_flight("slack") == limit


async def test_within_tokens_of_the_limit_moves_take_turns_on_one_lock_and_exactly_the_free_slots_are_taken(pg):
    store, waiting = pg
    limit = TOKENS + 4
    ids = await _jobs(store, TOKENS, submitted=limit - TOKENS + 1)  # TOKENS - 1 slots left
    go = asyncio.Event()
    tasks, inside = await _race(store, ids, limit, go)
    await _until(lambda: _ready(inside["now"] == 1), "one move is inside its transaction")
    await _until(lambda: _positive(waiting, TOKENS - 1), "all the others wait on a lock")
    assert inside["most"] == 1  # one at a time: side by side, TOKENS of them would make limit + 1
    go.set()
    outcomes = await _outcomes(tasks)
    assert outcomes.count(True) == TOKENS - 1 and outcomes.count(False) == 1
    assert await store.count_in_flight("slack") == limit


async def test_the_last_slot_goes_to_one_of_two_replicas_moving_at_once(pg):
    store, waiting = pg
    limit = TOKENS + 4
    ids = await _jobs(store, 2, submitted=limit - 1)
    go = asyncio.Event()
    tasks, inside = await _race(store, ids, limit, go)
    await _until(lambda: _ready(inside["now"] == 1), "one move holds the last slot")
    await _until(lambda: _positive(waiting), "the other waits on a lock")
    go.set()
    assert sorted(await _outcomes(tasks)) == [False, True]
    assert await store.count_in_flight("slack") == limit


async def test_replicas_in_processes_of_their_own_racing_for_the_cap_admit_exactly_the_limit(store_location):
    limit, per_process, processes = TOKENS + 12, 20, 3  # starts far from the limit, ends at it
    store = await JobStore.open(store_location)
    try:
        ids = await _jobs(store, per_process * processes, submitted=0)
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.components.jobs.in_flight_racer", store_location, str(limit), "slack",
            *ids[i::processes], stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            for i in range(processes)]
        try:
            for proc in procs:
                assert await asyncio.wait_for(proc.stdout.readline(), PATIENCE) == b"ready\n"
            for proc in procs:  # all ready: go together
                proc.stdin.write(b"go\n")
                await proc.stdin.drain()
            results = [json.loads(await asyncio.wait_for(proc.stdout.readline(), PATIENCE)) for proc in procs]
            for proc in procs:
                assert await asyncio.wait_for(proc.wait(), PATIENCE) == 0
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        admitted = [job_id for result in results for job_id in result["admitted"]]
        assert len(admitted) == len(set(admitted)) == limit
        assert sum(result["refused"] for result in results) == per_process * processes - limit
        assert await store.count_in_flight("slack") == limit
        assert {job.id for job in await store.list_jobs(states=[JobState.SUBMITTED], limit=100)} == set(admitted)
    finally:
        await store.close()


async def _ready(value: bool) -> bool:
    return value


async def _positive(waiting, at_least: int = 1) -> bool:
    return await waiting() >= at_least


async def test_the_count_under_the_cap_can_read_the_index_of_jobs_in_flight_alone(store):
    """Migration 12's partial index is usable by the cap's count on both backends: the count names
    the index's states, in its order (a planner uses a partial index only when the query repeats
    its WHERE). On PostgreSQL the planner picks it once the table is analyzed; here the other scans
    are switched off to show that it can."""
    from bot.jobs.store.in_flight import _count

    ids = await _jobs(store, 3, submitted=2)
    async with store.db.transaction() as tx:
        if store.dialect == "postgresql":
            await tx.execute("SET LOCAL enable_seqscan = off")
            await tx.execute("SET LOCAL enable_bitmapscan = off")
        explain = "EXPLAIN QUERY PLAN" if store.dialect == "sqlite" else "EXPLAIN"
        plan = " ".join(str(tuple(row)) for row in await tx.fetch(
            f"{explain} SELECT COUNT(*) FROM jobs WHERE state IN ({IN_FLIGHT_SQL}) AND origin = 'slack'"))
        assert await _count(tx, "slack") == 2 and await _count(tx, None) == 2
    assert "jobs_in_flight" in plan, plan
    assert (await store.get_job(ids[0])).state == JobState.PENDING  # pending jobs are not counted
