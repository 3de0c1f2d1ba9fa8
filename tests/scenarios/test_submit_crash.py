"""A submit that never left the process is not an attempt. Only a send whose request reached the wire
can have created a paid task upstream, so only such a send counts toward the one resend that
gateway-api.md allows before a job becomes `unknown`.

Found by the replica chaos test (a job ended `unknown` with no task at the gateway): a replica
counted the attempt when the job moved to `submitted`, before the request went out, and was killed
in between twice (once mid-submit, once during the resend after the takeover). Here the request
cannot leave at all: the gateway's address accepts no connection (its accept queue is full, so the
connect hangs), and the bot is killed twice while it waits; the third start submits to the real
gateway and the job is delivered, with one task upstream."""

from __future__ import annotations

import asyncio
import socket
import time

from bot.devslack import SlackSender, SlackStandIn
from bot.sim import script
from bot.sim.script import Scripted
from tests.support.backends import store_location, wanbot_db  # noqa: F401  (on both backends)
from tests.support.processes import Bot, free_port, read_jobs, serve_env, shut

CHANNEL = "C0DEV"


def unreachable_gateway() -> tuple[str, list[socket.socket]]:
    """A loopback address whose connects hang: a listener that never accepts, its queue filled."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=2)
    return f"http://127.0.0.1:{listener.getsockname()[1]}", [listener, filler]


async def test_a_submit_killed_before_it_left_twice_is_sent_on_the_next_start(tmp_path, simulator,
                                                                              wanbot_db):  # noqa: F811
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    gate, sockets = unreachable_gateway()
    bot = Bot(serve_env(standin, simulator, wanbot_db, WAN_API_BASE=gate, WAN_TIMEOUT_SECONDS="30"), free_port(), tmp_path)
    sender = SlackSender(f"http://127.0.0.1:{bot.port}", standin.signing_secret, standin=standin, timeout=5)
    try:
        await bot.start()
        assert (await sender.slash_command("t2v a paper lantern --duration 2")).status == 200
        deadline = time.monotonic() + 30
        while [row["state"] for row in read_jobs(wanbot_db)] != ["submitted"]:
            assert time.monotonic() < deadline, [dict(r) for r in read_jobs(wanbot_db)]
            await asyncio.sleep(0.05)
        for _ in range(2):  # killed while the connect hangs: after the first start, and after a restart
            await asyncio.sleep(1.0)
            await bot.kill()
            await bot.start()  # resumes the job found `submitted` and sends it again (it hangs again)
        await asyncio.sleep(1.0)
        await bot.kill()

        bot.env["WAN_API_BASE"] = simulator.base_url  # the gateway can be reached again
        await bot.start()
        while (states := [row["state"] for row in read_jobs(wanbot_db)]) != ["delivered"]:
            assert time.monotonic() < deadline + 60 and states != ["unknown"], (states, bot.logs()[-3000:])
            await asyncio.sleep(0.1)
    finally:
        await shut(bot, sender, standin)
        for sock in sockets:
            sock.close()

    (row,) = read_jobs(wanbot_db)
    assert simulator.stats.tasks_created == 1 and set(simulator.stats.tasks_by_key) == {row["id"]}


async def test_a_crash_during_the_one_resend_leaves_the_job_unknown_with_no_third_send(tmp_path, simulator,
                                                                                       wanbot_db):  # noqa: F811
    """The first send's answer never comes back in time (the task was created), the resend with the
    same key hangs, and the bot is killed during it: two sends have unknown outcomes, so the restart
    parks the job `unknown` for a human (gateway-api.md: at most one resend) instead of a third send,
    which a gateway that ignores the key would bill as a second task."""
    script.add(simulator.app, Scripted(on="submit", answer="late", seconds=5),
               Scripted(on="submit", answer="hang", seconds=30))
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    bot = Bot(serve_env(standin, simulator, wanbot_db, WAN_TIMEOUT_SECONDS="1"), free_port(), tmp_path)
    sender = SlackSender(f"http://127.0.0.1:{bot.port}", standin.signing_secret, standin=standin, timeout=5)
    try:
        await bot.start()
        assert (await sender.slash_command("t2v a paper lantern --duration 2")).status == 200
        deadline = time.monotonic() + 30
        while sum(simulator.stats.submits_by_key.values()) < 2:  # the resend is on the wire, hanging
            assert time.monotonic() < deadline, bot.logs()[-3000:]
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        await bot.kill()
        await bot.start()
        while (states := [row["state"] for row in read_jobs(wanbot_db)]) != ["unknown"]:
            assert time.monotonic() < deadline, (states, bot.logs()[-3000:])
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a third send would show by now
    finally:
        await shut(bot, sender, standin)

    assert list(simulator.stats.submits_by_key.values()) == [2]
