"""Only Slack can talk to the bot: unsigned requests and requests replayed more than 5 minutes later are
refused with 401 and start nothing (forged and 10-minute-old ones: tests/scenarios/test_job_flow.py)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.devslack import sign

FORM = "application/x-www-form-urlencoded"


def command_body(world, text: str = "t2v a fox --duration 2") -> str:
    return urlencode({"team_id": world.standin.team_id, "channel_id": "C0DEV", "user_id": "U0HUMAN",
                      "command": "/wan", "text": text, "trigger_id": world.standin.new_trigger_id(),
                      "response_url": world.standin.new_response_url("C0DEV", None, "U0HUMAN")})


async def post(world, body: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.post(world.base_url + "/slack/events", data=body.encode(),
                             headers={"Content-Type": FORM, **headers}) as response:
            return response.status


@pytest.mark.parametrize("missing", ["X-Slack-Signature", "X-Slack-Request-Timestamp", "both"])
async def test_a_request_without_signature_headers_is_refused(world, missing):
    body = command_body(world)
    stamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(world.standin.signing_secret, stamp, body)}
    for name in list(headers):
        if missing in (name, "both"):
            del headers[name]
    assert await post(world, body, headers) == 401
    assert world.standin.calls("chat.postMessage") == []
    assert await world.services.store.list_jobs() == []


async def test_a_signed_request_replayed_after_five_minutes_is_refused(world):
    secret = world.standin.signing_secret
    body = command_body(world)
    captured = str(int(time.time()) - 5 * 60 - 5)  # signed correctly, but more than 5 minutes ago
    assert await post(world, body, {"X-Slack-Request-Timestamp": captured,
                                    "X-Slack-Signature": sign(secret, captured, body)}) == 401
    # a signature that does not match its timestamp is refused as well (the stamp cannot be refreshed)
    now = str(int(time.time()))
    assert await post(world, body, {"X-Slack-Request-Timestamp": now,
                                    "X-Slack-Signature": sign(secret, captured, body)}) == 401
    assert await world.services.store.list_jobs() == []
    # the same body, signed now, is taken: the refusals were about the signature only
    assert await post(world, body, {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": sign(secret, now, body)}) == 200
    await world.job_for_card()
