"""Graceful shutdown of `python -m bot serve`: SIGTERM while jobs are in flight stops taking new work (a
command sent after it is not taken), exits 0 within the grace period, and leaves every job resumable:
after a restart on the same database each one is delivered, once, from its one upstream task."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

from bot.devslack import SlackSender, SlackStandIn
from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.slack.serve import SHUTDOWN_GRACE
from tests.support.backends import store_location, wanbot_db  # noqa: F401  (on both backends)
from tests.support.processes import Bot, free_port, read_jobs, serve_env, shut

CHANNEL = "C0DEV"


async def test_sigterm_with_jobs_in_flight_exits_0_takes_nothing_new_and_every_job_resumes(tmp_path, simulator,
                                                                                           wanbot_db):  # noqa: F811
    simulator.config.update({"queue_seconds": 0.5, "run_seconds": 4.0})  # still running at SIGTERM
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    db = wanbot_db
    bot = Bot(serve_env(standin, simulator, db, WAN_EXPECTED_SECONDS=2, WANBOT_MAX_ACTIVE_JOBS_PER_USER=50,
                        WANBOT_CARD_UPDATES_PER_MINUTE=3000), free_port(), tmp_path)
    sender = SlackSender(f"http://127.0.0.1:{bot.port}", standin.signing_secret, standin=standin, timeout=5)
    try:
        await bot.start()
        for n in range(6):
            assert (await sender.slash_command(f"t2v shutdown scene {n} --duration 2")).status == 200
        deadline = time.monotonic() + 15
        while states_in(db).get("running", 0) + states_in(db).get("queued", 0) < 6:
            assert time.monotonic() < deadline, states_in(db)
            await asyncio.sleep(0.05)

        bot.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        await asyncio.sleep(0.3)
        try:  # the port is closed (or the command refused): no new work after SIGTERM
            late = await sender.slash_command("t2v too late --duration 2")
            assert late.status != 200
        except (aiohttp.ClientError, TimeoutError):
            pass
        assert await asyncio.wait_for(bot.proc.wait(), SHUTDOWN_GRACE + 10) == 0
        assert time.monotonic() - stopped_at < SHUTDOWN_GRACE + 5
        assert '"msg": "shutting down"' in bot.logs()
        states = states_in(db)
        assert sum(states.values()) == 6 and not set(states) & {s.value for s in JobState if s.terminal}, states

        await sender.close()
        await bot.start()  # same database: every job picks up where it stood
        deadline = time.monotonic() + 30
        while states_in(db) != {"delivered": 6}:
            assert time.monotonic() < deadline, states_in(db)
            await asyncio.sleep(0.1)
        bot.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.proc.wait(), SHUTDOWN_GRACE + 10) == 0
    finally:
        await shut(bot, sender, standin)

    store = await JobStore.open(db)
    jobs = await store.list_jobs()
    await store.close()
    assert not [j for j in jobs if "too late" in j.prompt]
    assert simulator.stats.tasks_created == 6 and set(simulator.stats.tasks_by_key) == {j.id for j in jobs}
    for job in jobs:  # one video, in its own card's thread
        thread = standin.messages(CHANNEL, job.message_ts)
        videos = [f for m in thread for f in m.get("files") or [] if f.get("name") == f"wanbot-{job.id}.mp4"]
        assert len(videos) == 1, job.id
        card = standin.message(CHANNEL, job.message_ts)
        assert f"job {job.id}: done" in card["text"]


def states_in(db) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in read_jobs(db):
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts
