"""A restart opens its port before it answers the commands a crash left unanswered. Answering them
takes as long as they take (a card each, Slack answering slowly); meanwhile the restarted process
must already take new requests (Slack gives every one 3 s) and answer its health check, or one
crash with a backlog keeps a replica (or the only process) out of service for the whole replay."""

from __future__ import annotations

import asyncio
import time

from bot.devslack import SlackStandIn
from bot.jobs.store import JobStore
from bot.slack.dispatch import command_key
from tests.support.backends import store_location, wanbot_db  # noqa: F401  (on both backends)
from tests.support.processes import Bot, free_port, read_jobs, serve_env, shut

CHANNEL = "C0DEV"
LEFT = 4        # commands acknowledged, then the process died before answering them
CARD_SECONDS = 2.0


async def test_a_restart_opens_its_port_before_it_answers_what_a_crash_left(tmp_path, simulator,
                                                                            wanbot_db):  # noqa: F811
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    store = await JobStore.open(str(wanbot_db))  # the inbox as a crash after the acks leaves it
    for n in range(LEFT):
        command = {"team_id": standin.team_id, "channel_id": CHANNEL, "user_id": "U0HUMAN", "command": "/wan",
                   "text": f"t2v a replayed kite {n} --duration 2", "trigger_id": standin.new_trigger_id(),
                   "response_url": standin.new_response_url(CHANNEL, None, "U0HUMAN")}
        assert await store.receive_request(command_key(command), command)
    await store.close()
    standin.slow("chat.postMessage", CARD_SECONDS)  # each answer (its card) takes a while

    def cards() -> list[dict]:
        return [m for m in standin.messages(CHANNEL) if "a replayed kite" in (m.get("text") or "")]

    bot = Bot(serve_env(standin, simulator, wanbot_db), free_port(), tmp_path)
    try:
        await bot.start()  # returns once /healthz answers
        answered_when_up = len(cards())
        deadline = time.monotonic() + LEFT * CARD_SECONDS + 30
        while len(cards()) < LEFT:
            assert time.monotonic() < deadline, (len(cards()), bot.logs()[-3000:])
            await asyncio.sleep(0.1)
        jobs = read_jobs(wanbot_db)
    finally:
        await shut(bot, standin)

    assert answered_when_up < LEFT, "the port opened only after every command left by the crash was answered"
    assert sorted(row["prompt"] for row in jobs) == [f"a replayed kite {n}" for n in range(LEFT)]
