"""Store: job-store calls per second through the real `JobStore`, and the database size per 100k jobs.

    .venv/bin/python -m bench.store_bench [--jobs 100000] [--ops 3000] [--lives 300] [--concurrency 100]
                                          [--runs 3] [--json PATH] [--keep DIR]

Everything runs on real files in a temp dir: `bot.jobs.store.JobStore` (aiosqlite, WAL,
synchronous=NORMAL, the real migrations), one store per measurement, in this one process.

- floor: a plain `sqlite3` loop of single-row `UPDATE jobs SET progress, poll_count, next_poll_at,
  updated_at WHERE id = ?` + commit on the same schema with the same pragmas (no event loop, no thread);
- baseline: the same UPDATE + commit through a bare `aiosqlite` connection (the thread hop the store
  pays too), from 1 coroutine and from --concurrency coroutines;
- `JobStore.update` as the tracker calls it per poll (progress, poll_count, request_id; then
  next_poll_at) and `JobStore.transition` (queued <-> running with `expect`, one event row each);
- a job life: the store calls the tracker (`bot/jobs/tracker.py`) and the Slack card
  (`bot/slack/notifier.py`, `bot/slack/jobflow.py`) make for one job, in order: create_job, the card's
  update, get_job + transition submitted + transition submitted (the attempt, as the body leaves)
  + transition queued + update(next_poll_at), then per poll
  get_job + update(progress...) + update(next_poll_at) (the first poll: transition running, the last:
  transition succeeded), get_job + claim_delivery + transition delivered, plus per notification the
  card's get_job and, on a state change, update(card_state). The number of polls is what
  `bot/jobs/schedule.py` plans for the render times below.

Each timed figure is the median of --runs runs. "What 10,000 jobs need" is computed from the schedule:
render times uniform in 60-300 s, the run time learned (expected = their median), progress reported
linearly, polled as `Tracker._plan_poll` does; calls/s needed = 10,000 x calls per job / mean render
seconds (delivery time left out, so the need is over- rather than under-stated).

Size: --jobs jobs (realistic t2v/i2v requests, 100-300 character prompts, Slack ids, gateway task ids
and signed video URLs) driven through the store to delivered with every event the store writes, then
a WAL checkpoint (TRUNCATE); reported: db + wal bytes, bytes per job over the empty database, and that
per 100k jobs. A smaller --jobs extrapolates linearly. Then the tracker's and the Slack app's queries
that scan the table (recent_run_seconds, unfinished_jobs, count_active, spend) are timed on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs import schedule
from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.store import MIGRATIONS, Fence, JobStore, fenced
from bot.wan.request import build_request

TARGET_JOBS = 10_000
LEASE_SECONDS = 30.0  # WANBOT_LEASE_SECONDS' default
IN_FLIGHT_CAP = 1_000_000  # WAN_MAX_IN_FLIGHT, far above the load: the count is made, never refuses
RENDER_MIN_S, RENDER_MAX_S = 60, 300
HEADROOM_TARGET = 3.0  # "well above": at least this many times what 10,000 jobs need
SIZE_PER = 100_000
WORDS = ("a slow dolly shot of a red fox crossing a snowy birch forest at dawn, soft golden light, "
         "cinematic depth of field, drifting mist, 35mm film grain, the camera tracks left while the fox "
         "pauses and looks back, breath visible in the cold air, tall grass, city skyline at night neon rain "
         "reflections on wet asphalt, a paper boat floating down a gutter stream, children laughing off screen, "
         "aerial view over turquoise lagoon, surfer carving a wave in slow motion, studio product turntable "
         "of a ceramic mug with steam rising, warm rim light, macro of honey dripping").replace(",", "").split()
POLL_UPDATE = "UPDATE jobs SET progress = ?, poll_count = ?, next_poll_at = ?, updated_at = ? WHERE id = ?"


# --- what the schedule asks for ---------------------------------------------------------------

def polls_for(render_s: float, expected: float) -> int:
    """Polls (get_task calls after the submit) the tracker makes for a task that renders `render_s`,
    following `Tracker._plan_poll`: the first poll `min_interval` after submit, then `next_poll_delay`
    with the task's pace from its progress (when this schedule has one)."""
    min_i, max_i = schedule.DEFAULT_MIN_INTERVAL, schedule.DEFAULT_MAX_INTERVAL
    progress_i = getattr(schedule, "DEFAULT_PROGRESS_INTERVAL", None)
    pace = schedule.Pace() if hasattr(schedule, "Pace") else None
    if pace is not None:
        pace.observe(0.0, 0)  # the submit's answer: queued, 0 %
    t, polls = min_i, 0
    while True:
        polls += 1
        if t >= render_s:
            return polls  # this poll saw it succeeded
        progress = int(100 * t / render_s)
        kwargs: dict[str, Any] = dict(min_interval=min_i, max_interval=max_i)
        if pace is not None:
            pace.observe(t, progress)
            kwargs.update(to_finish=pace.seconds_to_finish(), progress_interval=progress_i)
        t += schedule.next_poll_delay(t, expected, **kwargs)


def schedule_model() -> dict[str, Any]:
    renders = list(range(RENDER_MIN_S, RENDER_MAX_S + 1))
    expected = statistics.median(renders)
    polls = [polls_for(r, expected) for r in renders]
    return {"render_s": [RENDER_MIN_S, RENDER_MAX_S], "expected_s": expected,
            "mean_render_s": statistics.fmean(renders), "polls_mean": statistics.fmean(polls),
            "polls_min": min(polls), "polls_max": max(polls), "polls_life": round(statistics.fmean(polls)),
            "progress_pace": hasattr(schedule, "Pace")}


# --- realistic jobs ---------------------------------------------------------------------------

def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choices("0123456789abcdef", k=n))


def _id(rng: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rng.choices(string.ascii_uppercase + string.digits, k=n))


def make_job(rng: random.Random, seq: int) -> Job:
    length = rng.randint(100, 300)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(WORDS))
    prompt = " ".join(words)[:length].strip()
    duration = rng.choice((5, 5, 10))
    if rng.random() < 0.6:
        fields: dict[str, Any] = {"prompt": prompt, "duration": duration, "ratio": "16:9",
                                  "seed": rng.randrange(2**31)}
        if rng.random() < 0.3:
            fields["negative_prompt"] = "blurry, low quality, watermark, text"
        request = build_request("t2v", fields)
    else:
        request = build_request("i2v", {"prompt": prompt, "duration": duration,
                                        "image_url": f"https://files.example.com/uploads/2026/05/{_hex(rng, 32)}.png"})
    team = _id(rng, "T0", 9)
    return Job(id=f"j{seq:06d}{_hex(rng, 9)}", request=request.body(), origin="slack", user_id=_id(rng, "U0", 9),
               channel_id=_id(rng, "C0", 9),
               response_url=f"https://hooks.slack.com/commands/{team}/{rng.randrange(10**12, 10**13)}/{_hex(rng, 24)}",
               estimated_cost_usd=round(duration * 0.06, 4))


class Calls:
    """The store calls a run made, by kind."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.count.values())

    @property
    def writes(self) -> int:
        return self.total - self.count["get_job"]


async def job_life(store: JobStore, job: Job, polls: int, calls: Calls, rng: random.Random,
                   cards: bool = True, lease_owner: str | None = None) -> None:
    """One job from create to delivered, with the store calls (and their arguments) the tracker makes.
    With `lease_owner` as a replica on PostgreSQL drives it (bot/jobs/leases.py): the job claimed on
    admit, every tracker step's writes fenced by that lease, the move to submitted capped by the
    tasks in flight counted in the database. Lease renewals are one statement per replica per tick
    for all its jobs (up to 500 ids), so they are left out of a single job's life."""
    c = calls.count
    now = time.time
    jid = job.id

    async def card(j: Job) -> None:  # SlackNotifier._send_card: re-read, update card_state on a state change
        if not cards:
            return
        with fenced(None):  # the card updater's own task writes it, outside the tracker step's lease
            fresh = await store.get_job(jid)
            c["get_job"] += 1
            if fresh.card_state != fresh.state.value:
                await store.update(jid, card_state=fresh.state.value)
                c["update"] += 1

    await store.create_job(job)                                             # jobflow.start_job
    c["create_job"] += 1
    if cards:
        ts = f"{int(now())}.{rng.randrange(10**6):06d}"                     # jobflow.post_card
        await store.update(jid, channel_id=job.channel_id, message_ts=ts, thread_ts=ts, card_state="pending")
        c["update"] += 1
    await card(job)                                                         # admit: _notify(pending)
    fence = None
    if lease_owner is not None:  # PostgreSQL replicas: the tracker claims the new job, then steps under it
        version = await store.claim_job(lease_owner, jid, lease_seconds=LEASE_SECONDS)
        c["claim_job"] += 1
        fence = Fence(jid, lease_owner, version)
    with fenced(fence):  # every write below checks owner and version (no-op without a lease)
        # step 1: submit (Tracker._step -> _submit -> _apply_task(first=True) -> _plan_poll)
        j = await store.get_job(jid)
        j = await store.transition(jid, JobState.SUBMITTED, expect=[JobState.PENDING], submitted_at=now(),
                                   detail={"sending": True},
                                   in_flight_cap=None if fence is None else (IN_FLIGHT_CAP, None))
        # the attempt, recorded as the submit's body is about to leave (SubmitStep's `sending`)
        j = await store.transition(jid, JobState.SUBMITTED, expect=[JobState.SUBMITTED], submit_attempts=1,
                                   detail={"attempt": 1, "resumed": False})
        task_id, request_id = "task_" + _hex(rng, 24), _hex(rng, 32)
        j = await store.transition(jid, JobState.QUEUED, expect=[JobState.SUBMITTED], poll_count=0, progress=0,
                                   request_id=request_id, task_id=task_id, submitted_at=now(),
                                   next_poll_at=now() + 2)  # the next poll is written with the poll's changes
        await card(j)
        c["get_job"] += 1
        c["transition"] += 3
        # polls (Tracker._step -> _poll -> _apply_task -> _plan_poll)
        for k in range(1, polls + 1):
            j = await store.get_job(jid)
            c["get_job"] += 1
            progress = min(99, int(100 * k / polls))
            changes = dict(poll_count=j.poll_count + 1, progress=progress, request_id=request_id,
                           next_poll_at=now() + 30)
            if k == polls:
                j = await store.transition(
                    jid, JobState.SUCCEEDED, expect=[JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING],
                    video_url=(f"https://gw.example.com/v1/videos/{task_id}/content?expires={int(now()) + 86400}"
                               f"&signature={_hex(rng, 64)}"),
                    progress=100, billed_seconds=float(j.duration), billed_cost_usd=round(j.duration * 0.06, 4),
                    finished_at=now(), poll_count=j.poll_count + 1, request_id=request_id)
                c["transition"] += 1
                await card(j)
                break
            if k == 1:
                j = await store.transition(jid, JobState.RUNNING,
                                           expect=[JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING],
                                           started_at=now(), **changes)
                c["transition"] += 1
            else:
                j = await store.update(jid, **changes)
                c["update"] += 1
            await card(j)  # progress moved: the card is re-rendered
        # deliver (Tracker._deliver -> _end)
        j = await store.get_job(jid)
        c["get_job"] += 1
        if await store.claim_delivery(jid):
            c["claim_delivery"] += 1
            j = await store.transition(jid, JobState.DELIVERED, expect=[JobState.SUCCEEDED],
                                       delivery_state=DeliveryState.POSTED)
            c["transition"] += 1
            await card(j)


async def fill_life(store: JobStore, job: Job, calls: Calls, rng: random.Random) -> None:
    """One job to delivered with only the store writes that leave something in the database: the same
    row values and event rows as `job_life`, without its re-reads and per-poll rewrites."""
    c = calls.count
    now = time.time
    jid = job.id
    await store.create_job(job)
    ts = f"{int(now())}.{rng.randrange(10**6):06d}"
    await store.update(jid, channel_id=job.channel_id, message_ts=ts, thread_ts=ts, card_state="pending")
    await store.transition(jid, JobState.SUBMITTED, expect=[JobState.PENDING], submitted_at=now(),
                           detail={"sending": True})
    await store.transition(jid, JobState.SUBMITTED, expect=[JobState.SUBMITTED], submit_attempts=1,
                           detail={"attempt": 1, "resumed": False})
    task_id, request_id = "task_" + _hex(rng, 24), _hex(rng, 32)
    await store.transition(jid, JobState.QUEUED, expect=[JobState.SUBMITTED], poll_count=0, progress=0,
                           request_id=request_id, task_id=task_id, submitted_at=now())
    await store.transition(jid, JobState.RUNNING, expect=[JobState.QUEUED], started_at=now(), poll_count=1,
                           progress=40, next_poll_at=now() + 30)
    duration = job.duration
    await store.transition(
        jid, JobState.SUCCEEDED, expect=[JobState.RUNNING],
        video_url=f"https://gw.example.com/v1/videos/{task_id}/content?expires={int(now()) + 86400}"
                  f"&signature={_hex(rng, 64)}",
        progress=100, billed_seconds=float(duration), billed_cost_usd=round(duration * 0.06, 4),
        finished_at=now(), poll_count=rng.randint(2, 7), request_id=request_id)
    await store.claim_delivery(jid)
    await store.transition(jid, JobState.DELIVERED, expect=[JobState.SUCCEEDED], delivery_state=DeliveryState.POSTED)
    await store.update(jid, card_state="delivered")
    c["create_job"] += 1
    c["update"] += 2
    c["transition"] += 5
    c["claim_delivery"] += 1


# --- measurements -------------------------------------------------------------------------------

async def run_coroutines(n_items: int, concurrency: int, work: Callable[[int], Awaitable[None]]) -> float:
    """Run work(0..n_items-1) from `concurrency` coroutines; returns the wall seconds."""
    items = iter(range(n_items))

    async def worker() -> None:
        for i in items:
            await work(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def _schema_sql() -> str:
    return "\n".join(MIGRATIONS)


def _fresh_path(workdir: Path, name: str) -> Path:
    path = workdir / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def _seed_rows(conn: sqlite3.Connection, n: int) -> list[str]:
    ids = [f"j{i:015d}" for i in range(n)]
    now = time.time()
    conn.executemany("INSERT INTO jobs (id, request, state, origin, created_at, updated_at) VALUES (?, '{}', "
                     "'running', 'slack', ?, ?)", [(i, now, now) for i in ids])
    conn.commit()
    return ids


def floor_sqlite3(workdir: Path, ops: int) -> dict[str, Any]:
    path = _fresh_path(workdir, "floor.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(_schema_sql())
    ids = _seed_rows(conn, 1000)
    started = time.perf_counter()
    for k in range(ops):
        conn.execute(POLL_UPDATE, (k % 100, k, time.time() + 30, time.time(), ids[k % len(ids)]))
        conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return {"calls": ops, "writes": ops, "seconds": seconds}


async def baseline_aiosqlite(workdir: Path, ops: int, concurrency: int) -> dict[str, Any]:
    path = _fresh_path(workdir, f"aiosqlite-{concurrency}.db")
    conn = sqlite3.connect(path)
    conn.executescript(_schema_sql())
    ids = _seed_rows(conn, 1000)
    conn.close()
    db = await aiosqlite.connect(path, timeout=30)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("PRAGMA foreign_keys=ON")
    lock = asyncio.Lock()  # one shared connection: an UPDATE and its commit must not interleave

    async def one(k: int) -> None:
        async with lock:
            await db.execute(POLL_UPDATE, (k % 100, k, time.time() + 30, time.time(), ids[k % len(ids)]))
            await db.commit()

    seconds = await run_coroutines(ops, concurrency, one)
    await db.close()
    return {"calls": ops, "writes": ops, "seconds": seconds}


async def _store_with_jobs(workdir: Path, name: str, n: int) -> tuple[JobStore, list[str]]:
    store = await JobStore.open(_fresh_path(workdir, name))
    rng = random.Random(7)
    ids = []
    for i in range(n):
        job = make_job(rng, i)
        await store.create_job(job)
        await store.transition(job.id, JobState.SUBMITTED, submitted_at=time.time(), submit_attempts=1)
        await store.transition(job.id, JobState.QUEUED, task_id="task_" + _hex(rng, 24), poll_count=0)
        ids.append(job.id)
    return store, ids


async def store_update(workdir: Path, ops: int, concurrency: int) -> dict[str, Any]:
    """The two writes of a running poll: update(progress, poll_count, request_id) and update(next_poll_at)."""
    store, ids = await _store_with_jobs(workdir, f"update-{concurrency}.db", max(concurrency, 100))
    request_id = "r" * 32

    async def one(k: int) -> None:
        jid = ids[k % len(ids)]
        if k % 2:
            await store.update(jid, next_poll_at=time.time() + 30)
        else:
            await store.update(jid, poll_count=k, progress=k % 100, request_id=request_id)

    seconds = await run_coroutines(ops, concurrency, one)
    await store.close()
    return {"calls": ops, "writes": ops, "seconds": seconds}


async def store_transition(workdir: Path, ops: int, concurrency: int) -> dict[str, Any]:
    """transition() with `expect`, queued -> running -> queued ... (each one an event row)."""
    n = max(concurrency, 100)
    store, ids = await _store_with_jobs(workdir, f"transition-{concurrency}.db", n)
    locks = [asyncio.Lock() for _ in ids]  # one step per job at a time, as the tracker's _busy set ensures
    states = [JobState.QUEUED] * n

    async def one(k: int) -> None:
        i = k % n
        async with locks[i]:
            to = JobState.RUNNING if states[i] == JobState.QUEUED else JobState.QUEUED
            await store.transition(ids[i], to, expect=[states[i]], poll_count=k, progress=k % 100)
            states[i] = to

    seconds = await run_coroutines(ops, concurrency, one)
    await store.close()
    return {"calls": ops, "writes": ops, "seconds": seconds}


async def store_lives(store: JobStore, lives: int, concurrency: int, polls: int, first_seq: int,
                      seed: int, fill: bool = False, lease_owner: str | None = None) -> dict[str, Any]:
    calls = Calls()
    rng = random.Random(seed)

    async def one(k: int) -> None:
        job = make_job(rng, first_seq + k)
        if fill:
            await fill_life(store, job, calls, rng)
        else:
            await job_life(store, job, polls, calls, rng, lease_owner=lease_owner)

    seconds = await run_coroutines(lives, concurrency, one)
    return {"calls": calls.total, "writes": calls.writes, "seconds": seconds, "lives": lives,
            "by_kind": dict(calls.count)}


async def store_life_fresh(workdir: Path, lives: int, concurrency: int, polls: int, *,
                           sync_paid: bool = True, location: str | None = None,
                           lease_owner: str | None = None) -> dict[str, Any]:
    """Job lives on a fresh store: SQLite (paid commits synced, or with `sync_paid=False` all NORMAL as
    before issue 14 item 20), or the PostgreSQL database at `location` (a fresh schema)."""
    store = await JobStore.open(location or _fresh_path(workdir, f"life-{concurrency}.db"))
    if store.dialect == "sqlite":
        store.db.sync_paid_commits = sync_paid
    result = await store_lives(store, lives, concurrency, polls, 0, seed=concurrency, lease_owner=lease_owner)
    rows = await store.db.fetch("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'")
    result["delivered"] = rows[0][0]
    await store.close()
    return result


async def pg_life(url: str, lives: int, concurrency: int, polls: int, *, leased: bool = False) -> dict[str, Any]:
    """Job lives on a fresh schema of `url`; `leased`: as a replica drives them (claimed, fenced)."""
    import asyncpg

    schema = f"wanbot_bench_{os.getpid()}_{concurrency}{'_leased' if leased else ''}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    try:
        return await store_life_fresh(Path("."), lives, concurrency, polls,
                                      location=f"{url}{sep}search_path={schema}",
                                      lease_owner="bench-replica" if leased else None)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def postgres_reachable(url: str) -> bool:
    import asyncpg

    try:
        await (await asyncpg.connect(url, timeout=3)).close()
    except Exception:
        return False
    return True


def _file_bytes(path: Path) -> int:
    return sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())


async def _checkpointed_bytes(store: JobStore) -> int:
    await store.db.fetch("PRAGMA wal_checkpoint(TRUNCATE)")
    return _file_bytes(Path(store.path))


async def _timed_ms(call: Callable[[], Awaitable[Any]], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def size_and_queries(workdir: Path, jobs: int, concurrency: int, polls: int) -> dict[str, Any]:
    path = _fresh_path(workdir, "size.db")
    store = await JobStore.open(path)
    empty = await _checkpointed_bytes(store)
    fill = await store_lives(store, jobs, concurrency, 0, 0, seed=1, fill=True)
    total = await _checkpointed_bytes(store)
    events = (await store.db.fetch("SELECT COUNT(*) FROM job_events"))[0][0]
    rows, delivered = (await store.db.fetch("SELECT COUNT(*), SUM(state = 'delivered') FROM jobs"))[0]
    per_job = (total - empty) / jobs
    (any_job,) = await store.list_jobs(limit=1)
    queries = {}
    for name, call in [
        ("recent_run_seconds (tracker: first poll of a mode+duration)",
         lambda: store.recent_run_seconds(any_job.mode, any_job.duration)),
        ("unfinished_jobs (tracker start, /metrics scrape)", lambda: store.unfinished_jobs()),
        ("count_active(user) (every Slack job start)", lambda: store.count_active(any_job.user_id)),
        ("spend(today, user) (every Slack job start)", lambda: store.spend(since=time.time() - 86400,
                                                                           user_id=any_job.user_id)),
        ("stale_cards(7 days) (Slack app start)", lambda: store.stale_cards(since=time.time() - 7 * 86400)),
    ]:
        ms, _ = await _timed_ms(call)
        queries[name] = round(ms, 3)
    # the same job lives on this full database
    on_full = await store_lives(store, min(jobs, 300), concurrency, polls, jobs, seed=2)
    await store.close()
    return {"jobs": jobs, "rows": rows, "delivered": delivered, "events": events, "empty_bytes": empty,
            "bytes": total, "bytes_per_job": per_job, "mb_per_100k": per_job * SIZE_PER / 1e6,
            "fill": fill, "queries_ms": queries, "life_on_full": on_full}


# --- report -------------------------------------------------------------------------------------

def _rate(result: dict[str, Any]) -> float:
    return result["calls"] / result["seconds"]


def _median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [_rate(r) for r in results]
    best = sorted(results, key=_rate)[len(results) // 2]
    return {**best, "calls_per_s": statistics.median(rates),
            "writes_per_s": statistics.median(r["writes"] / r["seconds"] for r in results),
            "runs_calls_per_s": [round(x) for x in rates]}


async def calls_per_life(polls: int) -> dict[str, int]:
    calls = Calls()

    class Fake:  # counts the calls of one life without a database
        def __init__(self) -> None:
            self.job = Job(id="x", request={"mode": "text-to-video", "input": {"duration": 5}})

        async def _ret(self, *a, **kw):
            return self.job

        async def transition(self, job_id, to, **kw):
            self.job.state = to
            return self.job

        async def update(self, job_id, **kw):
            if "card_state" in kw:
                self.job.card_state = kw["card_state"]
            return self.job

        async def claim_delivery(self, job_id):
            return True

        async def claim_job(self, owner, job_id, **kw):
            return 1

        create_job = get_job = _ret

    await job_life(Fake(), Job(id="x", request={}), polls, calls, random.Random(0))  # type: ignore[arg-type]
    return {"calls": calls.total, "writes": calls.writes, "reads": calls.count["get_job"]}


def _pg_lines(args: argparse.Namespace, rows: dict[str, Any], need: dict[str, Any]) -> list[str]:
    """PostgreSQL against SQLite on the same job life, and the headroom of a replica's leased life."""
    if "life_pg_leased_n" not in rows:
        return []
    lines = []
    for key, what in (("life_pg", "job life"), ("life_pg_leased", "leased job life")):
        lines.append(f"PostgreSQL {what} / SQLite job life (calls/s): "
                     f"{rows[key + '_1']['calls_per_s'] / rows['life_1']['calls_per_s']:.2f}x (1 coroutine), "
                     f"{rows[key + '_n']['calls_per_s'] / rows['life_n']['calls_per_s']:.2f}x ({args.concurrency}).")
    per_job = need["calls"] + 1  # the claim
    needed = TARGET_JOBS * per_job / need["mean_render_s"]
    lines.append(f"A replica's leased life, {per_job} calls a job: 10,000 jobs need {needed:,.0f} calls/s on "
                 f"one database; measured {rows['life_pg_leased_n']['calls_per_s']:,.0f} from one process "
                 f"({rows['life_pg_leased_n']['calls_per_s'] / needed:.1f}x).")
    return lines


def report(args: argparse.Namespace, summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    floor = rows["floor"]["calls_per_s"]
    lines = [f"Store benchmark: {args.runs} run(s) each, median; {args.ops} single calls, {args.lives} job lives "
             f"of {summary['need']['polls_life']} polls; SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs.",
             "",
             "| what | coroutines | store calls/s (median) | writes/s | us/call | vs sqlite3 floor | runs |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    labels = {
        "floor": "sqlite3 UPDATE+commit (floor)",
        "aiosqlite_1": "aiosqlite UPDATE+commit (baseline)",
        "aiosqlite_n": "aiosqlite UPDATE+commit (baseline)",
        "update_1": "JobStore.update (poll writes)",
        "update_n": "JobStore.update (poll writes)",
        "transition_1": "JobStore.transition (+ event)",
        "transition_n": "JobStore.transition (+ event)",
        "life_1": "job life (all calls, mixed)",
        "life_n": "job life (all calls, mixed)",
        "life_nosync_1": "job life, every commit NORMAL (before item 20)",
        "life_nosync_n": "job life, every commit NORMAL (before item 20)",
        "life_pg_1": "job life on PostgreSQL (asyncpg pool)",
        "life_pg_n": "job life on PostgreSQL (asyncpg pool)",
        "life_pg_leased_1": "job life on PostgreSQL under a lease (claim + fenced writes)",
        "life_pg_leased_n": "job life on PostgreSQL under a lease (claim + fenced writes)",
    }
    for key, label in labels.items():
        if key not in rows:
            continue
        r = rows[key]
        conc = 1 if key in ("floor",) or key.endswith("_1") else args.concurrency
        rate = r["calls_per_s"]
        lines.append(f"| {label} | {conc} | {rate:,.0f} | {r['writes_per_s']:,.0f} | {1e6 / rate:,.0f} | "
                     f"{floor / rate:.1f}x slower | {', '.join(f'{x:,}' for x in r['runs_calls_per_s'])} |")
    need = summary["need"]
    lines += ["",
              f"Baseline ratio: JobStore.update costs {rows['aiosqlite_1']['calls_per_s'] / rows['update_1']['calls_per_s']:.1f}x "
              f"a bare aiosqlite UPDATE+commit (1 coroutine), "
              f"{rows['aiosqlite_n']['calls_per_s'] / rows['update_n']['calls_per_s']:.1f}x with {args.concurrency}.",
              f"Synced paid commits (issue 14 item 20) cost the job life "
              f"{100 * (1 - rows['life_1']['calls_per_s'] / rows['life_nosync_1']['calls_per_s']):.0f} % (1 coroutine), "
              f"{100 * (1 - rows['life_n']['calls_per_s'] / rows['life_nosync_n']['calls_per_s']):.0f} % "
              f"({args.concurrency}).",
              *_pg_lines(args, rows, summary["need"]),
              "",
              "| need for 10,000 concurrent jobs | value |",
              "| --- | --- |",
              f"| render time (uniform) | {need['render_s'][0]}-{need['render_s'][1]} s, mean {need['mean_render_s']:.0f} s, "
              f"learned expected {need['expected_s']:.0f} s |",
              f"| polls per job (schedule{' with progress pace' if need['progress_pace'] else ''}) | "
              f"mean {need['polls_mean']:.1f} (min {need['polls_min']}, max {need['polls_max']}); "
              f"a life here uses {need['polls_life']} |",
              f"| store calls per job life | {need['calls']} ({need['writes']} writes, {need['reads']} reads) |",
              f"| calls/s needed = 10,000 x {need['calls']} / {need['mean_render_s']:.0f} s | {need['calls_per_s']:,.0f} "
              f"({need['writes_per_s']:,.0f} writes/s) |",
              f"| measured, job life, {args.concurrency} coroutines | {rows['life_n']['calls_per_s']:,.0f} |",
              f"| headroom | **{need['headroom']:.1f}x** (target >= {HEADROOM_TARGET:g}x: "
              f"{'met' if need['headroom'] >= HEADROOM_TARGET else 'MISSED'}) |",
              f"| most concurrent jobs at this rate | ~{need['max_jobs']:,.0f} |"]
    size = summary.get("size")
    if size:
        extrap = "" if size["jobs"] >= SIZE_PER else f" (extrapolated from {size['jobs']:,})"
        fill = size["fill"]
        lines += ["",
                  "| database after N delivered jobs | value |",
                  "| --- | --- |",
                  f"| jobs (rows, delivered) / events | {size['rows']:,} ({size['delivered']:,}) / {size['events']:,} |",
                  f"| db + wal after checkpoint | {size['bytes'] / 1e6:.2f} MB (empty: {size['empty_bytes'] / 1e3:.0f} kB) |",
                  f"| bytes per job | {size['bytes_per_job']:,.0f} |",
                  f"| **per 100k finished jobs** | **{size['mb_per_100k']:.0f} MB**{extrap} |",
                  f"| fill rate ({args.concurrency} coroutines, 9 writes per job) | {fill['lives'] / fill['seconds']:,.0f} "
                  f"jobs/s, {_rate(fill):,.0f} calls/s |",
                  f"| job life, {args.concurrency} coroutines, on this database | "
                  f"{_rate(size['life_on_full']):,.0f} calls/s |",
                  "",
                  f"| query on the {size['rows']:,}-job database | ms (median of 3) |",
                  "| --- | --- |"]
        lines += [f"| {name} | {ms:,.2f} |" for name, ms in size["queries_ms"].items()]
    lines += ["",
              "Notes: every call is a real `JobStore` method on a file in a temp dir (WAL, synchronous=NORMAL; the 4 commits around paid calls of a life FULL, issue 14 item 20). "
              "A store write is its SQL + commit + (update/transition) the re-read of the row it returns; "
              "the job life adds the Slack card's re-read and card_state write. The need counts every "
              "store call of a life at the mean render time; polls and calls per life follow "
              "`bot/jobs/schedule.py` and `bot/jobs/tracker.py`."]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    need = schedule_model()
    polls = need["polls_life"]
    per_life = await calls_per_life(polls)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "floor", "aiosqlite_1", "aiosqlite_n", "update_1", "update_n", "transition_1", "transition_n",
        "life_1", "life_n", "life_nosync_1", "life_nosync_n")}
    pg = args.postgres if args.postgres and await postgres_reachable(args.postgres) else None
    if pg:
        rows.update(life_pg_1=[], life_pg_n=[], life_pg_leased_1=[], life_pg_leased_n=[])
    n = args.concurrency
    for _ in range(args.runs):
        rows["floor"].append(floor_sqlite3(workdir, args.ops))
        rows["aiosqlite_1"].append(await baseline_aiosqlite(workdir, args.ops, 1))
        rows["aiosqlite_n"].append(await baseline_aiosqlite(workdir, args.ops, n))
        rows["update_1"].append(await store_update(workdir, args.ops, 1))
        rows["update_n"].append(await store_update(workdir, args.ops, n))
        rows["transition_1"].append(await store_transition(workdir, args.ops, 1))
        rows["transition_n"].append(await store_transition(workdir, args.ops, n))
        rows["life_1"].append(await store_life_fresh(workdir, args.lives, 1, polls))
        rows["life_n"].append(await store_life_fresh(workdir, args.lives, n, polls))
        rows["life_nosync_1"].append(await store_life_fresh(workdir, args.lives, 1, polls, sync_paid=False))
        rows["life_nosync_n"].append(await store_life_fresh(workdir, args.lives, n, polls, sync_paid=False))
        if pg:
            rows["life_pg_1"].append(await pg_life(pg, args.lives, 1, polls))
            rows["life_pg_n"].append(await pg_life(pg, args.lives, n, polls))
            rows["life_pg_leased_1"].append(await pg_life(pg, args.lives, 1, polls, leased=True))
            rows["life_pg_leased_n"].append(await pg_life(pg, args.lives, n, polls, leased=True))
    medians = {k: _median_of(v) for k, v in rows.items()}
    needed = TARGET_JOBS * per_life["calls"] / need["mean_render_s"]
    need.update(per_life, calls_per_s=needed,
                writes_per_s=TARGET_JOBS * per_life["writes"] / need["mean_render_s"],
                headroom=medians["life_n"]["calls_per_s"] / needed,
                max_jobs=medians["life_n"]["calls_per_s"] * need["mean_render_s"] / per_life["calls"])
    summary: dict[str, Any] = {"rows": medians, "need": need}
    if args.jobs > 0:
        summary["size"] = await size_and_queries(workdir, args.jobs, n, polls)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=SIZE_PER,
                        help="jobs driven to delivered for the size figure (0: skip)")
    parser.add_argument("--ops", type=int, default=3000, help="calls per single-call run")
    parser.add_argument("--lives", type=int, default=300, help="job lives per job-life run")
    parser.add_argument("--concurrency", type=int, default=100, help="concurrent coroutines")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (median)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", help="put the databases in this directory and keep them")
    parser.add_argument("--postgres", default=os.environ.get("WANBOT_TEST_POSTGRES_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/test"),
                        help="also run the job lives on this PostgreSQL database (a schema of its own); "
                             "skipped when unreachable; '' to skip")
    args = parser.parse_args(argv)
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        summary = asyncio.run(main_async(args, workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="wanbot-store-bench-") as tmp:
            summary = asyncio.run(main_async(args, Path(tmp)))
    print(report(args, summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
