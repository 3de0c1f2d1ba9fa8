"""A refusal is an answer: a crash after a command was refused (the user has read "you already have N
jobs in flight") and before the bot marked the command answered must not, on the restart, start the
job after all. The user was told it did not start, so they send it again (or not): a job started by
the replay would be one they never asked for, and one more paid task when they do send it again.

Found by the replica chaos test (120 commands made 121 jobs): a replica killed between a limit
refusal and its inbox row's `done`; another replica replayed the command once the user's jobs had
ended, and the user's second try started a second job."""

from __future__ import annotations

import asyncio
import signal
import time

from bot.devslack import SlackSender, SlackStandIn
from tests.support.backends import store_location, wanbot_db  # noqa: F401  (on both backends)
from tests.support.processes import Bot, free_port, read_jobs, serve_env, shut

CHANNEL = "C0DEV"
REFUSED = "jobs in flight"


async def test_a_crash_after_a_refusal_was_sent_does_not_start_the_job_on_the_restart(tmp_path, simulator,
                                                                                      wanbot_db):  # noqa: F811
    simulator.config.update({"run_seconds": 120})  # the first job stays in flight throughout
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    bot = Bot(serve_env(standin, simulator, wanbot_db, WANBOT_MAX_ACTIVE_JOBS_PER_USER=1), free_port(), tmp_path)
    sender = SlackSender(f"http://127.0.0.1:{bot.port}", standin.signing_secret, standin=standin, timeout=5)

    def refusals() -> list[dict]:
        return [r for r in standin.responses if REFUSED in (r["body"].get("text") or "")]

    try:
        await bot.start()
        assert (await sender.slash_command("t2v the first kite --duration 2")).status == 200
        deadline = time.monotonic() + 30
        while not [m for m in standin.messages(CHANNEL) if "the first kite" in (m.get("text") or "")]:
            assert time.monotonic() < deadline, "the first job's card never came"
            await asyncio.sleep(0.05)

        standin.slow("response_url", 5.0)  # the refusal is shown, and the bot is killed before it hears back
        assert (await sender.slash_command("t2v the second kite --duration 2")).status == 200
        while not refusals():
            assert time.monotonic() < deadline, "the second command was never refused"
            await asyncio.sleep(0.02)
        bot.proc.send_signal(signal.SIGKILL)
        await bot.proc.wait()
        standin.slow("response_url", 0)

        # The operator raises the limit and restarts: what the user was told stays true.
        bot.env["WANBOT_MAX_ACTIVE_JOBS_PER_USER"] = "2"
        await bot.start()
        while "commands left by a restart answered" not in bot.logs():  # the replay is done
            assert time.monotonic() < deadline + 30, bot.logs()[-3000:]
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a card posted by the replay would show by now
        jobs = read_jobs(wanbot_db)
    finally:
        await shut(bot, sender, standin)

    assert [row["prompt"] for row in jobs] == ["the first kite"], [dict(row) for row in jobs]
    assert not [m for m in standin.messages(CHANNEL) if "the second kite" in (m.get("text") or "")]
    assert refusals(), "the refusal was shown"
