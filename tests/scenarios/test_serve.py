"""`python -m bot serve` as a real process: clear errors for missing settings, HTTP mode, clean SIGTERM;
and the Socket Mode watchdog."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import aiohttp
import pytest

from bot.devslack import SlackSender, SlackStandIn
from bot.slack.serve import _watchdog
from tests.support.processes import bot_env, free_port


def test_missing_settings_are_one_clear_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=bot_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.strip() == "wanbot: SLACK_BOT_TOKEN is not set (see README: Settings)"
    run = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, capture_output=True, text=True,
                         env=bot_env(tmp_path, SLACK_BOT_TOKEN="xoxb-1-2", WAN_API_BASE="http://127.0.0.1:9"),
                         timeout=60)
    assert run.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in run.stderr
    assert "xoxb-1-2" not in run.stderr


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_signing_secret_stops_start_up_instead_of_answering_every_request_500(tmp_path, empty):
    run = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, capture_output=True, text=True,
                         env=bot_env(tmp_path, SLACK_BOT_TOKEN="xoxb-1-2", SLACK_SIGNING_SECRET=empty,
                                     WAN_API_BASE="http://127.0.0.1:9"), timeout=60)
    assert run.returncode == 2 and run.stderr.strip() == \
        "wanbot: SLACK_SIGNING_SECRET is not set (see README: Settings)"


async def test_http_mode_serves_slack_and_health_then_exits_cleanly_on_sigterm(tmp_path, simulator):
    standin = await SlackStandIn().start()
    standin.add_channel("C0DEV", "general")
    port = free_port()
    env = bot_env(tmp_path, SLACK_BOT_TOKEN=standin.bot_token, SLACK_SIGNING_SECRET=standin.signing_secret,
                  SLACK_API_URL=standin.api_url, WAN_API_BASE=simulator.base_url,
                  WAN_API_KEY=simulator.config.api_key, PORT=port)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                                                cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    assert time.monotonic() < deadline, "serve did not come up"
                    await asyncio.sleep(0.1)
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert "wanbot_jobs" in await response.text()
        async with SlackSender(f"http://127.0.0.1:{port}", standin.signing_secret, standin=standin) as sender:
            assert (await sender.slash_command("t2v a fox --duration 2", forge=True)).status == 401
            assert (await sender.slash_command("t2v a fox --duration 2")).status == 200
            await standin.wait_for_call("chat.postMessage", timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        logs = (await proc.stderr.read()).decode()
        assert standin.bot_token not in logs and standin.signing_secret not in logs
        assert '"msg": "shutting down"' in logs
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await standin.close()


async def test_socket_mode_watchdog_reconnects_a_silent_connection():
    reconnects = []

    class SocketClient:
        async def is_connected(self):
            return False

        async def connect_to_new_endpoint(self, force=False):
            reconnects.append(force)

    class WebClient:
        async def auth_test(self):
            return {"ok": True}

    stop = asyncio.Event()
    services = SimpleNamespace(client=WebClient())
    task = asyncio.create_task(_watchdog(services, SimpleNamespace(client=SocketClient()), stop, interval=0.05))
    await asyncio.sleep(0.18)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert reconnects and all(reconnects)
