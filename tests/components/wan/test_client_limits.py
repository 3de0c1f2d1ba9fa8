"""Gateway answers are bounded (issue 14 item 15): one deadline for the whole call, a cap on JSON bodies.

A tiny gateway on loopback misbehaves on purpose: it drips its answer a byte at a time (each read
arrives well within a per-read timeout, so only a whole-call deadline ends it), or it streams a JSON
answer far larger than any task.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from bot.wan.client import MAX_JSON_BYTES, GatewayClient
from bot.wan.errors import ServerError, SubmitOutcomeUnknown, TransportError
from bot.wan.request import build_request

TASK = b'{"id": "vt_drip", "status": "running", "progress": 40}'


@pytest.fixture
async def bad_gateway():
    """A gateway whose every answer is 200 JSON delivered by `behaviour` ("drip" or "huge")."""
    state = {"behaviour": "drip", "sent": 0, "requests": 0}

    async def answer(request: web.Request) -> web.StreamResponse:
        state["requests"] += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            if state["behaviour"] == "drip":
                for byte in TASK:
                    await response.write(bytes([byte]))
                    state["sent"] += 1
                    await asyncio.sleep(0.2)
            else:  # a valid JSON task padded to 150 MB, generated as it goes
                await response.write(TASK[:-1] + b', "pad": "')
                chunk = b"a" * (1 << 20)
                for _ in range(150):
                    await response.write(chunk)
                    state["sent"] += len(chunk)
                await response.write(b'"}')
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["base"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield state
    await runner.cleanup()


@pytest.fixture
async def client(bad_gateway, make_settings):
    settings = make_settings(wan_api_base=bad_gateway["base"], wan_api_key="sk-test-key-123456",
                             wan_timeout_seconds=1.0)
    gateway = GatewayClient(settings)
    yield gateway
    await gateway.aclose()


async def test_a_poll_that_drips_a_byte_at_a_time_ends_at_the_timeout(client, bad_gateway):
    # The answer would take ~11 s (55 bytes, 0.2 s apart); WAN_TIMEOUT_SECONDS is 1.
    started = time.monotonic()
    with pytest.raises(TransportError, match="within 1 s"):
        await client.get_task("vt_drip")
    assert time.monotonic() - started < 3, "the call outlived WAN_TIMEOUT_SECONDS"
    assert bad_gateway["sent"] < len(TASK)


async def test_a_submit_that_drips_is_an_unknown_outcome_not_a_second_task(client, bad_gateway):
    request = build_request("t2v", {"prompt": "a fox"})
    started = time.monotonic()
    with pytest.raises(SubmitOutcomeUnknown):
        await client.submit(request, "job-drip-1")
    assert bad_gateway["requests"] == 2            # the one resend with the same key, no more
    assert time.monotonic() - started < 5


async def test_a_huge_json_answer_is_refused_without_reading_it_whole(client, bad_gateway):
    bad_gateway["behaviour"] = "huge"
    with pytest.raises(ServerError, match="larger than"):
        await client.get_task("vt_drip")
    await asyncio.sleep(0.2)
    # the bot stopped reading near the cap; the gateway could not push the whole 150 MB
    assert bad_gateway["sent"] < 150 * (1 << 20)
    assert MAX_JSON_BYTES < 16 * (1 << 20)
