"""Triage through the real app wiring (bot.slack.app + Services), not a test-only Bolt app."""

from __future__ import annotations

import json

import pytest

from bot.devslack import SlackSender, SlackStandIn
from bot.slack.blocks.triage import POST_REPLY_ACTION
from tests.slack_triage.conftest import CHANNEL, CUSTOMER, GROUP, OUTSIDER, SUPPORT
from tests.slack_triage.test_triage_slack import MISROUTED, SECRETS, refund_due_jsonl, report_text

app_module = pytest.importorskip("bot.slack.app")
services_module = pytest.importorskip("bot.slack.services")


@pytest.fixture
async def real(simulator, make_settings):
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "support")
    for user in (SUPPORT, OUTSIDER, CUSTOMER):
        standin.add_user(user, user.lower())
    standin.add_usergroup(GROUP, [SUPPORT])
    settings = make_settings(
        wan_api_base=simulator.base_url, wan_api_key=simulator.config.api_key,
        slack_bot_token=standin.bot_token, slack_signing_secret=standin.signing_secret,
        slack_api_url=standin.api_url, wanbot_support_usergroup=GROUP)
    services = await services_module.create_services(settings)
    runner = await app_module.start_http(services, "127.0.0.1", 0)
    sender = SlackSender(f"http://127.0.0.1:{runner.addresses[0][1]}", standin.signing_secret, standin=standin)
    yield standin, sender, services
    await sender.close()
    await runner.cleanup()
    await services.stop(2)
    await standin.close()


async def test_command_shortcut_and_reply_through_the_real_app(real):
    standin, sender, services = real
    reply = await sender.slash_command("triage " + MISROUTED, user_id=SUPPORT, channel_id=CHANNEL)
    assert reply.status == 200 and reply.elapsed < 3
    response = await standin.wait_until(lambda: standin.responses, timeout=10)
    assert "misrouted_chat_api" in report_text(response[0]["body"])

    file = standin.add_file("export.jsonl", refund_due_jsonl(), "application/x-ndjson")
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000001.000100", "text": "charged for a failed video",
               "files": [file]}
    reply = await sender.message_shortcut("triage_message", message, CHANNEL, user_id=SUPPORT)
    assert reply.status == 200 and reply.elapsed < 3
    entry = (await standin.wait_until(lambda: standin.ephemerals, timeout=10))[0]
    assert "refund_due" in report_text(entry["message"])

    button = next(e for b in entry["message"]["blocks"] if b["type"] == "actions" for e in b["elements"])
    await sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=CHANNEL,
                              message=entry["message"], is_ephemeral=True)
    view = await standin.wait_until(standin.last_view, timeout=10)
    await sender.view_submission(view, user_id=SUPPORT)
    posted = await standin.wait_for_message(CHANNEL, "1700000001.000100", timeout=10)
    assert "refunding $2.00" in posted["text"]

    records = await services.store.triage_records()
    assert [r["verdict"] for r in records] == ["refund_due", "misrouted_chat_api"]
    sent = json.dumps([[c.params for c in standin.calls()], standin.responses], default=str)
    assert not any(secret in sent for secret in SECRETS)


async def test_outsider_refused_through_the_real_app(real):
    standin, sender, services = real
    await sender.slash_command("triage " + MISROUTED, user_id=OUTSIDER, channel_id=CHANNEL)
    response = await standin.wait_until(lambda: standin.responses, timeout=10)
    assert "support team" in response[0]["body"]["text"]
    assert await services.store.triage_records() == []
