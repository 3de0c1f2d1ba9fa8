"""Triage through the real app, the whole way: /wan triage, the shortcut with a file, the reply posted."""

from __future__ import annotations

import json

from bot.slack.blocks.triage import POST_REPLY_ACTION
from tests.support.triage_inputs import MISROUTED, SECRETS, refund_due_jsonl, report_text
from tests.support.world import CUSTOMER, OUTSIDER, SUPPORT, SUPPORT_CHANNEL


async def test_command_shortcut_and_reply_through_the_real_app(world):
    standin, sender, services = world.standin, world.sender, world.services
    reply = await sender.slash_command("triage " + MISROUTED, user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    assert reply.status == 200 and reply.elapsed < 3
    response = await standin.wait_until(lambda: standin.responses, timeout=10)
    assert "misrouted_chat_api" in report_text(response[0]["body"])

    file = standin.add_file("export.jsonl", refund_due_jsonl(), "application/x-ndjson")
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000001.000100", "text": "charged for a failed video",
               "files": [file]}
    reply = await sender.message_shortcut("triage_message", message, SUPPORT_CHANNEL, user_id=SUPPORT)
    assert reply.status == 200 and reply.elapsed < 3
    entry = (await standin.wait_until(lambda: standin.ephemerals, timeout=10))[0]
    assert "refund_due" in report_text(entry["message"])

    button = next(e for b in entry["message"]["blocks"] if b["type"] == "actions" for e in b["elements"])
    await sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=SUPPORT_CHANNEL,
                              message=entry["message"], is_ephemeral=True)
    view = await standin.wait_until(standin.last_view, timeout=10)
    await sender.view_submission(view, user_id=SUPPORT)
    posted = await standin.wait_for_message(SUPPORT_CHANNEL, "1700000001.000100", timeout=10)
    assert "refunding $2.00" in posted["text"]

    records = await services.store.triage_records()
    assert [r["verdict"] for r in records] == ["refund_due", "misrouted_chat_api"]
    sent = json.dumps([[c.params for c in standin.calls()], standin.responses], default=str)
    assert not any(secret in sent for secret in SECRETS)


async def test_outsider_refused_through_the_real_app(world):
    standin, sender, services = world.standin, world.sender, world.services
    await sender.slash_command("triage " + MISROUTED, user_id=OUTSIDER, channel_id=SUPPORT_CHANNEL)
    response = await standin.wait_until(lambda: standin.responses, timeout=10)
    assert "support team" in response[0]["body"]["text"]
    assert await services.store.triage_records() == []
