"""Job leases between real `python -m bot serve` replicas on one PostgreSQL database (issue 11):
a replica frozen past its lease (SIGSTOP) loses its jobs to the other, which finishes them; when it
wakes (SIGCONT) its stale writes are rejected and logged and nothing is posted twice. A replica
stopped with SIGTERM hands its leases back, so the other takes its jobs over long before they
would have expired. A replica started again after the jobs were spread (a rolling deploy) gets its
share of them handed back by the one that holds them all, instead of idling.

What counts is read from outside the bot: the simulator's tasks (one per job, keyed by the job id),
the files and messages the Slack stand-in received (one video and one review message per job), and
the jobs table read straight from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from collections import Counter

import asyncpg

from bot.devslack import SlackStandIn
from tests.support.replicas import Replicas

CHANNEL = "C0LEASE"
USER = "U0LEASE"
ACTIVE = ("pending", "submitted", "queued", "running", "succeeded")


async def _until(condition, what, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while not (result := await condition()):
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.2)
    return result


async def _leases(replicas: Replicas) -> list[dict]:
    conn = await asyncpg.connect(replicas.db_url)
    try:
        rows = await conn.fetch("SELECT id, state, task_id, lease_owner, lease_version FROM jobs ORDER BY created_at")
    finally:
        await conn.close()
    return [dict(row) for row in rows]


def _replica_id(replicas: Replicas, index: int) -> str:
    return f"{socket.gethostname()}-{replicas.bots[index].proc.pid}"  # the default WANBOT_REPLICA_ID


def _videos(standin: SlackStandIn) -> Counter:
    """Video files shared into a thread, by the job their name carries."""
    shared = Counter()
    for file in standin.files.values():
        match = re.fullmatch(r"wanbot-(j[0-9a-f]+)\.mp4", file.get("name", ""))
        if match and file.get("_state") == "complete":
            shared[match.group(1)] += sum(len(entries) for kind in ("public", "private")
                                          for entries in file["shares"].get(kind, {}).values())
    return shared


def _review_posts(standin: SlackStandIn) -> Counter:
    return Counter((m.get("metadata") or {}).get("event_payload", {}).get("job_id")
                   for m in standin.messages(CHANNEL)
                   if (m.get("metadata") or {}).get("event_type") == "wanbot_video")


async def _start_jobs(replicas: Replicas, standin: SlackStandIn, count: int, word: str) -> list[dict]:
    """`count` jobs started through replica 0, which claims each one as it stores it."""
    sender = replicas.sender(0)
    for n in range(count):
        reply = await sender.slash_command(f"t2v {word} {n} --duration 2", user_id=USER, channel_id=CHANNEL)
        assert reply.status == 200

    async def all_in_flight():
        jobs = await _leases(replicas)
        return jobs if len(jobs) == count and all(j["state"] in ("queued", "running") for j in jobs) else None
    return await _until(all_in_flight, replicas.logs)


async def test_a_replica_frozen_past_its_lease_loses_its_jobs_and_its_stale_writes_are_rejected(
        tmp_path, simulator):
    # Every gateway call takes 4 s. The replica is frozen 1 s after its submits were answered: by
    # then it has sent each job's first poll (0.2 s later), whose answer reaches it only when it
    # wakes, long after the takeover; it then writes what it would have written, under its old lease.
    simulator.config.update({"queue_seconds": 0.5, "run_seconds": 4.0, "latency": 4.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=2, WANBOT_LEASE_SECONDS="3",
                                    WANBOT_CARD_UPDATES_PER_MINUTE="3000", WAN_TIMEOUT_SECONDS="120")
    frozen = replicas.bots[0].proc
    try:
        jobs = await _start_jobs(replicas, standin, 4, "frozen heron")
        ids = [j["id"] for j in jobs]
        # 4 jobs are within the rebalance tolerance (REBALANCE_SLACK): replica 0 keeps them all.
        assert {j["lease_owner"] for j in jobs} == {_replica_id(replicas, 0)}
        await asyncio.sleep(1.0)
        polls = sum(simulator.stats.polls.values())
        frozen.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()

        # The other replica takes the jobs over once the leases expire and finishes them.
        async def all_delivered():
            now = await _leases(replicas)
            return now if all(j["state"] == "delivered" for j in now) else None
        done = await _until(all_delivered, lambda: replicas.logs())
        assert frozen.returncode is None and time.monotonic() - stopped > 3  # still frozen all along
        assert polls == 0  # the frozen replica's polls were all still on the wire
        assert all(j["task_id"] for j in done)

        frozen.send_signal(signal.SIGCONT)
        woken = replicas.bots[0]

        def rejected() -> list[str]:
            return [line for line in woken.logs().splitlines()
                    if "lease lost" in line and any(job_id in line for job_id in ids)]
        await _until(lambda: _ready(rejected()), lambda: woken.logs()[-3000:], timeout=60)
        await _until(lambda: _ready([line for line in rejected() if "a write was rejected" in line]),
                     lambda: "\n".join(rejected()), timeout=60)
        await asyncio.sleep(3.0)  # a second post, task or write would show by now

        assert _videos(standin) == dict.fromkeys(ids, 1)
        assert _review_posts(standin) == dict.fromkeys(ids, 1)
        assert simulator.stats.tasks_created == 4 and set(simulator.stats.tasks_by_key) == set(ids)
        assert all(count == 1 for count in simulator.stats.submits_by_key.values())
        after = await _leases(replicas)
        assert [(j["state"], j["task_id"]) for j in after] == [(j["state"], j["task_id"]) for j in done]
        assert replicas.bots[0].proc.returncode is None  # it woke up and serves on
    finally:
        if frozen.returncode is None:
            frozen.send_signal(signal.SIGCONT)
        await replicas.close()
        await standin.close()


async def test_sigterm_hands_the_leases_back_and_the_other_replica_takes_over_before_they_expire(
        tmp_path, simulator):
    simulator.config.update({"queue_seconds": 0.5, "run_seconds": 6.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    lease = 120.0
    replicas = await Replicas.start(tmp_path, simulator, standin, count=2, WANBOT_LEASE_SECONDS=str(int(lease)),
                                    WANBOT_CARD_UPDATES_PER_MINUTE="3000")
    try:
        jobs = await _start_jobs(replicas, standin, 4, "handed over otter")
        ids = [j["id"] for j in jobs]
        assert {j["lease_owner"] for j in jobs} == {_replica_id(replicas, 0)}  # within the tolerance
        other = _replica_id(replicas, 1)
        leaving = replicas.bots[0].proc
        leaving.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert await asyncio.wait_for(leaving.wait(), 30) == 0

        async def taken_over():
            now = await _leases(replicas)
            return all(j["state"] == "delivered" or j["lease_owner"] == other for j in now)
        await _until(taken_over, replicas.logs, timeout=lease / 2)

        async def all_delivered():
            now = await _leases(replicas)
            return now if all(j["state"] == "delivered" for j in now) else None
        await _until(all_delivered, replicas.logs, timeout=lease / 2)
        assert time.monotonic() - stopped < lease / 2  # handed back, not waited out
        assert _videos(standin) == dict.fromkeys(ids, 1)
        assert _review_posts(standin) == dict.fromkeys(ids, 1)
        assert simulator.stats.tasks_created == 4 and set(simulator.stats.tasks_by_key) == set(ids)
    finally:
        await replicas.close()
        await standin.close()


async def test_a_replica_started_late_gets_its_share_handed_back_and_every_job_ends_once(tmp_path, simulator):
    # A rolling deploy: replica 1 restarts while replica 0 holds every job; nothing is free for it.
    simulator.config.update({"queue_seconds": 0.5, "run_seconds": 20.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=2, WANBOT_LEASE_SECONDS="3",
                                    WANBOT_CARD_UPDATES_PER_MINUTE="3000", WANBOT_MAX_ACTIVE_JOBS_PER_USER="12")
    try:
        restarted = replicas.bots[1]
        restarted.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(restarted.proc.wait(), 30) == 0
        jobs = await _start_jobs(replicas, standin, 12, "late lynx")
        ids = [j["id"] for j in jobs]
        assert {j["lease_owner"] for j in jobs} == {_replica_id(replicas, 0)}
        await restarted.start()
        late = _replica_id(replicas, 1)

        async def balanced():
            owners = Counter(j["lease_owner"] for j in await _leases(replicas) if j["state"] in ACTIVE)
            return owners if sorted(owners.values()) == [6, 6] and late in owners else None
        owners = await _until(balanced, replicas.logs, timeout=15)
        assert set(owners) == {_replica_id(replicas, 0), late}

        async def all_delivered():
            now = await _leases(replicas)
            return now if all(j["state"] == "delivered" for j in now) else None
        await _until(all_delivered, replicas.logs, timeout=90)
        assert _videos(standin) == dict.fromkeys(ids, 1)
        assert _review_posts(standin) == dict.fromkeys(ids, 1)
        assert simulator.stats.tasks_created == 12 and set(simulator.stats.tasks_by_key) == set(ids)
        assert all(count == 1 for count in simulator.stats.submits_by_key.values())
        handed = Counter(job_id for bot in replicas.bots for line in bot.logs().splitlines()
                         if "handed back to balance the replicas" in line
                         for job_id in ids if job_id in line)
        assert sum(handed.values()) >= 6 and max(handed.values()) == 1, handed  # no back and forth
    finally:
        await replicas.close()
        await standin.close()


async def _ready(value):
    return value


def test_the_frozen_replica_test_uses_the_default_replica_id():
    # _replica_id() relies on WANBOT_REPLICA_ID being unset in the replicas' environment.
    assert "WANBOT_REPLICA_ID" not in os.environ
