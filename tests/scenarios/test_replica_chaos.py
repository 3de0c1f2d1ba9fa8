"""Replica chaos (issue 11): three `python -m bot serve` replicas on one PostgreSQL database behind a
round-robin proxy, 120 jobs from 10 users, replicas SIGKILLed and restarted at random moments (while
submits, polls and uploads are on the wire) six times, with leases of 3 s.

Afterwards, from outside the bot: every job delivered, one video and one review message each in its
own card's thread, one upstream task per job (keyed by the job id), one card per accepted command,
and no user ever had more tasks running at the gateway than WANBOT_MAX_ACTIVE_JOBS_PER_USER.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter

import aiohttp
import pytest

from bot.devslack import SlackStandIn
from tests.support.replicas import Replicas

JOBS = 120
USERS = [f"U0RC{n:02d}" for n in range(10)]
CHANNEL = "C0RCHAOS"
LIMIT = 3
KILLS = 6
SEED = int(os.environ.get("WANBOT_CHAOS_SEED", "20261202"))
REFUSED = "jobs in flight"


def _command_of(job: dict) -> str:
    return re.search(r"replica chaos u\d+ n\d+", job["request"]).group(0)


def _prompt(user: int, n: int) -> str:
    return f"replica chaos u{user} n{n} a kite over dunes"


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_replica_chaos_120_jobs_6_kills_every_job_delivered_once(tmp_path, simulator):
    started = time.monotonic()
    rng = random.Random(SEED)
    simulator.config.update({"queue_seconds": 0.3, "run_seconds": 1.5, "latency": 0.05})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "chaos")
    for user in USERS:
        standin.add_user(user, user.lower())
    replicas = await Replicas.start(tmp_path, simulator, standin, count=3, WANBOT_LEASE_SECONDS="3",
                                    WANBOT_MAX_ACTIVE_JOBS_PER_USER=str(LIMIT), WAN_MAX_IN_FLIGHT="40",
                                    WANBOT_CARD_UPDATES_PER_MINUTE="30000")
    sender = replicas.sender(timeout=10)
    accepted: dict[str, int] = {}   # prompt -> how many commands for it were answered with a card
    refusals = Counter()
    kills: list[str] = []

    def card_of(prompt: str) -> list[dict]:
        return [m for m in standin.messages(CHANNEL) if prompt in (m.get("text") or "")
                and (not m.get("thread_ts") or m.get("thread_ts") == m["ts"])]

    def refused(response_url: str) -> bool:
        rid = response_url.rsplit("/", 1)[-1]
        return any(r["id"] == rid and REFUSED in (r["body"].get("text") or "") for r in standin.responses)

    async def command(user: int, n: int) -> None:
        """One user's command as Slack delivers it (retried on the same trigger when no replica
        answers), sent again as a new command while the user's limit refuses it, as a person would."""
        prompt = _prompt(user, n)
        while True:
            trigger = standin.new_trigger_id()
            response_url = standin.new_response_url(CHANNEL, None, USERS[user])
            for attempt in range(8):
                options = {"retry_num": attempt, "retry_reason": "http_error"} if attempt else {}
                try:
                    reply = await sender.slash_command(f"t2v {prompt} --duration 2", user_id=USERS[user],
                                                       channel_id=CHANNEL, trigger_id=trigger,
                                                       response_url=response_url, **options)
                    if reply.status == 200:
                        break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(1.0 + attempt)
            deadline = time.monotonic() + 60
            while not card_of(prompt) and not refused(response_url):
                assert time.monotonic() < deadline, f"{prompt}: neither a card nor a refusal"
                await asyncio.sleep(0.1)
            if card_of(prompt):
                accepted[prompt] = len(card_of(prompt))
                return
            refusals[USERS[user]] += 1
            await asyncio.sleep(rng.uniform(0.5, 1.5))

    sent: list[asyncio.Future] = []

    async def user_sends(user: int) -> None:
        for n in range(JOBS // len(USERS)):
            sent.append(asyncio.ensure_future(command(user, n)))
            await asyncio.sleep(rng.uniform(0.2, 1.2))

    def uploads() -> int:
        return len(standin.calls("files.getUploadURLExternal"))

    async def kill_one(moment: str) -> None:
        index = rng.randrange(len(replicas.bots))
        bot = replicas.bots[index]
        await bot.kill()
        kills.append(f"replica {index} {moment}")
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        await bot.start()

    async def wait_for(grown, baseline: int, by: int) -> None:
        """Until the count grew (a submit, poll or upload just went out), or 10 s at most."""
        deadline = time.monotonic() + 10
        while grown() < baseline + by and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    try:
        commands = [asyncio.ensure_future(user_sends(user)) for user in range(len(USERS))]
        for moment in ("submitting", "polling", "uploading", "submitting", "polling", "uploading"):
            if moment == "submitting":
                await wait_for(lambda: sum(simulator.stats.submits_by_key.values()),
                               sum(simulator.stats.submits_by_key.values()), rng.randint(1, 5))
            elif moment == "polling":
                await wait_for(lambda: sum(simulator.stats.polls.values()),
                               sum(simulator.stats.polls.values()), rng.randint(5, 30))
            else:
                await wait_for(uploads, uploads(), 1)
                await asyncio.sleep(rng.uniform(0.0, 0.08))
            await kill_one(moment)
            await asyncio.sleep(rng.uniform(1.0, 3.0))
        await asyncio.gather(*commands)
        await asyncio.gather(*sent)  # every command answered (a card or a refusal), or its failure here

        async def every_job_ended() -> list[dict]:
            jobs = await replicas.jobs()
            return jobs if len(jobs) >= JOBS and all(j["state"] in ("delivered", "failed", "unknown", "expired",
                                                                     "canceled") for j in jobs) else None
        deadline = time.monotonic() + 240
        while len(accepted) < JOBS or not (jobs := await every_job_ended()):
            assert time.monotonic() < deadline, (len(accepted), Counter(j["state"] for j in await replicas.jobs()),
                                                 replicas.logs())
            await asyncio.sleep(0.5)
        await asyncio.sleep(3.0)  # anything late (a second post, a second task) would show by now
        jobs = await replicas.jobs()
        twice = Counter(_command_of(j) for j in jobs)
        story = await replicas.story([j["id"] for j in jobs if j["state"] != "delivered" or twice[_command_of(j)] > 1])
    finally:
        await replicas.close()

    ids = {j["id"] for j in jobs}
    prompts = Counter(_command_of(j) for j in jobs)
    shares: Counter = Counter()
    for file in standin.files.values():
        match = re.fullmatch(r"wanbot-(j[0-9a-f]+)\.mp4", file.get("name", ""))
        if match and file.get("_state") == "complete":
            shares[match.group(1)] += sum(len(e) for kind in ("public", "private")
                                          for e in file["shares"].get(kind, {}).values())
    reviews = Counter((m.get("metadata") or {}).get("event_payload", {}).get("job_id")
                      for m in standin.messages(CHANNEL) if (m.get("metadata") or {}).get("event_type") == "wanbot_video")
    stats = simulator.stats
    # What the gateway saw per user: tasks whose lives overlapped (created .. seen ended).
    user_of = {task.id: re.search(r"u(\d+) n", task.prompt).group(1) for task in simulator.tasks.values()}
    most = Counter()
    for user in set(user_of.values()):
        edges = sorted((t, step) for task in simulator.tasks.values() if user_of[task.id] == user
                       for t, step in ((task.created_wall, 1), (task.ended_wall or float("inf"), -1)))
        now = 0
        for _, step in edges:
            now += step
            most[user] = max(most[user], now)
    states = Counter(j["state"] for j in jobs)
    print(f"\nreplica chaos: {len(jobs)} jobs {dict(states)}, kills {kills}, refusals {sum(refusals.values())}, "
          f"videos {sum(shares.values())}, upstream tasks {stats.tasks_created}, most running per user "
          f"{max(most.values())}, {time.monotonic() - started:.1f} s (seed {SEED})")
    await standin.close()

    assert len(kills) == KILLS
    assert len(jobs) == JOBS and all(count == 1 for count in prompts.values()), story  # one job per command
    assert all(count == 1 for count in accepted.values())                        # one card each
    if states != {"delivered": JOBS}:
        pytest.fail(f"{states}\n{story}")
    assert shares == dict.fromkeys(ids, 1)                                       # one video each
    assert reviews == dict.fromkeys(ids, 1)
    assert stats.tasks_created == len(stats.tasks_by_key) == JOBS and set(stats.tasks_by_key) == ids
    assert max(most.values()) <= LIMIT, most
