"""The request inbox before the ack, through the real app on loopback, on both backends (SQLite and
PostgreSQL): an acknowledged command is answered once after a crash, a Slack retry gets one job, and
on PostgreSQL an ack never waits for a connection the work after other acks holds."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bot.slack import dispatch
from bot.slack.recovery import replay_unanswered
from tests.support.backends import store_location  # noqa: F401  (the parametrized fixture)
from tests.support.world import ANA, CHANNEL


@pytest.fixture
async def world(make_world, store_location):  # noqa: F811
    return await make_world(wanbot_db=store_location)


async def _until(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (result := await condition()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)
    return result


async def test_a_command_acknowledged_before_a_crash_is_answered_once_on_restart(world, monkeypatch):
    answer = dispatch.answer

    async def stopped(*args, **kwargs):  # the process stops for good right after the ack
        await asyncio.Event().wait()

    monkeypatch.setattr(dispatch, "answer", stopped)
    reply = await world.sender.slash_command("t2v a fox before the crash --duration 2", user_id=ANA,
                                             channel_id=CHANNEL)
    assert reply.status == 200 and reply.elapsed < 3 and "busy" not in reply.text
    assert await world.store.list_jobs(limit=10) == []
    assert [key for key, _ in await world.store.unanswered_requests(since=0)] == [dispatch.command_key(reply.sent)]
    monkeypatch.setattr(dispatch, "answer", answer)

    assert await replay_unanswered(world.services) == 1  # the restart answers it
    job = await world.job_for_card()
    assert "a fox before the crash" in job.request["input"]["prompt"]
    assert await replay_unanswered(world.services) == 0  # and only once
    again = await world.sender.resend(reply, retry_num=1)  # Slack's late retry starts nothing either
    assert again.status == 200
    await asyncio.sleep(0.5)
    assert len(await world.store.list_jobs(limit=10)) == 1
    assert len([m for m in world.standin.messages(CHANNEL) if "before the crash" in (m.get("text") or "")]) == 1


async def test_slack_retries_of_one_command_get_one_job_and_one_card(world, simulator):
    first = await world.sender.slash_command("t2v a retried heron --duration 2", user_id=ANA, channel_id=CHANNEL)
    retried = await asyncio.gather(world.sender.resend(first, retry_num=1),
                                   world.sender.resend(first, retry_num=2, retry_reason="http_error"))
    assert [r.status for r in (first, *retried)] == [200, 200, 200]
    await world.job_for_card()

    async def one_task():
        return simulator.stats.tasks_created >= 1

    await _until(one_task, "the job's task was never submitted")
    await asyncio.sleep(0.5)  # a second job, card or task would show by now
    assert len(await world.store.list_jobs(limit=10)) == 1
    assert len([m for m in world.standin.messages(CHANNEL) if "retried heron" in (m.get("text") or "")]) == 1
    assert simulator.stats.tasks_created == 1
    assert await world.store.unanswered_requests(since=0) == []


async def test_an_ack_does_not_wait_for_the_connections_the_work_after_acks_holds(world, store_location):  # noqa: F811
    if not store_location.startswith("postgresql"):
        pytest.skip("one SQLite connection serves everything: its write lock is tested in test_slack_hardening")
    # The work after acks (job starts, polls, card updates) holds every connection of the pool, each
    # in a transaction that is taking its time.
    release = asyncio.Event()
    held = 0

    async def hold():
        nonlocal held
        async with world.store.db.transaction() as tx:
            await tx.fetch("SELECT 1")
            held += 1
            await release.wait()

    async def all_held():
        return held == 10

    holders = [asyncio.create_task(hold()) for _ in range(10)]
    try:
        await _until(all_held, f"only {held} of the pool's 10 connections held")
        reply = await world.sender.slash_command("t2v a fox while busy --duration 2", user_id=ANA, channel_id=CHANNEL)
        # Acknowledged in time, and stored: not "busy, nothing started".
        assert reply.status == 200 and reply.elapsed < 1.5, reply.elapsed
        assert "busy" not in reply.text, reply.text
    finally:
        release.set()
        with contextlib.suppress(Exception):
            await asyncio.gather(*holders)
    job = await world.job_for_card()  # the connections are free again: the command is answered
    assert "a fox while busy" in job.request["input"]["prompt"]
