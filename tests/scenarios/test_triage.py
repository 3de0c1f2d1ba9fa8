"""Triage in Slack end to end through the real app: signed requests in, Web API calls into the stand-in."""

from __future__ import annotations

import json
import logging
import time

from bot.slack.blocks.triage import POST_REPLY_ACTION
from tests.support.triage_inputs import MISROUTED, SECRETS, refund_due_jsonl, report_text, shortcut_report
from tests.support.world import ADMIN, CUSTOMER, LISTED, OUTSIDER, SUPPORT, SUPPORT_CHANNEL


async def test_command_by_usergroup_member_reports_and_records(world):
    reply = await world.sender.slash_command("triage " + MISROUTED, user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    assert reply.status == 200 and reply.elapsed < 3
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    body = response[0]["body"]
    assert body["response_type"] == "ephemeral"
    shown = report_text(body)
    assert "misrouted_chat_api" in shown and "Misrouted through the chat API" in shown
    assert "invalid api type" in shown and "[line " in shown  # evidence with its line number
    assert "/v1/video/generations" in shown  # the customer reply
    assert world.standin.calls("usergroups.users.list")
    records = await world.store.triage_records()
    assert len(records) == 1
    record = records[0]
    assert record["staff_user"] == SUPPORT and record["channel_id"] == SUPPORT_CHANNEL
    assert record["verdict"] == "misrouted_chat_api"
    assert "pasted text" in record["summary"]


async def test_listed_user_and_admin_may_triage(world):
    for user in (LISTED, ADMIN):
        await world.sender.slash_command("triage invalid apitype: -1 on wan2.6-t2v", user_id=user, channel_id=SUPPORT_CHANNEL)
    await world.standin.wait_until(lambda: len(world.standin.responses) == 2, timeout=10)
    assert all("misrouted_chat_api" in report_text(r["body"]) for r in world.standin.responses)
    assert {r["staff_user"] for r in await world.store.triage_records()} == {LISTED, ADMIN}


async def test_outsider_refused_politely_and_logged(world, caplog):
    caplog.set_level(logging.INFO, logger="bot.slack.triage.staff")
    await world.sender.slash_command("triage " + MISROUTED, user_id=OUTSIDER, channel_id=SUPPORT_CHANNEL)
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    body = response[0]["body"]
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith("Sorry") and "support team" in body["text"]
    assert "misrouted" not in json.dumps(body)
    assert await world.store.triage_records() == []
    refused = [r for r in caplog.records if getattr(r, "allowed", None) is False]
    assert refused and refused[0].user_id == OUTSIDER
    logged = " ".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "invalid api type" not in logged and "sk-live" not in logged  # never the text of the input


async def test_usergroup_failure_fails_closed(world, caplog):
    world.standin.fail("usergroups.users.list", "internal_error", times=None)
    caplog.set_level(logging.INFO, logger="bot.slack.triage.staff")
    await world.sender.slash_command("triage invalid apitype: -1", user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    assert "support team" in response[0]["body"]["text"]
    assert any("look-up failed" in r.getMessage() for r in caplog.records)
    # a listed user still gets in when Slack is down
    await world.sender.slash_command("triage invalid apitype: -1", user_id=LISTED, channel_id=SUPPORT_CHANNEL)
    await world.standin.wait_until(lambda: len(world.standin.responses) == 2, timeout=10)
    assert "misrouted_chat_api" in report_text(world.standin.responses[1]["body"])


async def test_usergroup_is_cached(world):
    for _ in range(3):
        await world.sender.slash_command("triage invalid apitype: -1", user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    await world.standin.wait_until(lambda: len(world.standin.responses) == 3, timeout=10)
    assert len(world.standin.calls("usergroups.users.list")) == 1


async def test_empty_command_shows_usage(world):
    await world.sender.slash_command("triage", user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    assert "/wan triage" in response[0]["body"]["text"]


async def test_shortcut_with_attached_jsonl_log(world):
    file = world.standin.add_file("export.jsonl", refund_due_jsonl(), "application/x-ndjson")
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000100",
               "text": "task task_slack42Z failed and I was charged", "files": [file]}
    shown = report_text(await shortcut_report(world, message))
    assert "refund_due" in shown and "$2.00" in shown and "task_slack42Z" in shown
    assert "FAILURE" in shown or "failed" in shown
    assert world.standin.calls("download")  # fetched with the bot token
    assert POST_REPLY_ACTION in shown
    record = (await world.store.triage_records())[0]
    assert record["verdict"] == "refund_due" and record["amount_usd"] == 2.0
    assert "task_slack42Z" in record["task_ids"]


async def test_shortcut_never_sends_the_token_elsewhere(world, make_settings):
    # a file whose link points away from Slack: reported as skipped, never fetched
    foreign = {"id": "F0EVIL", "name": "log.txt", "filetype": "text", "mimetype": "text/plain", "size": 10,
               "url_private_download": "http://127.0.0.2:9/steal.txt"}
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000200",
               "text": "invalid apitype: -1", "files": [foreign]}
    shown = report_text(await shortcut_report(world, message))
    assert "not on a Slack host" in shown
    assert not world.standin.calls("download")


async def test_secrets_never_reach_slack(world):
    await world.sender.slash_command("triage " + MISROUTED, user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000300", "text": MISROUTED}
    report = await shortcut_report(world, message)
    button = next(e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"])
    await world.sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=SUPPORT_CHANNEL,
                                    message=report, is_ephemeral=True)
    view = await world.standin.wait_until(world.standin.last_view, timeout=10)
    await world.sender.view_submission(view, user_id=SUPPORT,
                                       values={"reply": "Your key sk-abcdef1234567890ABCDEF is exposed."})
    await world.standin.wait_for_message(SUPPORT_CHANNEL, "1700000000.000300", timeout=10)
    sent = world.everything_sent()
    for secret in SECRETS:
        assert secret not in sent
    posted = world.standin.messages(SUPPORT_CHANNEL, "1700000000.000300")[0]["text"]
    assert posted.startswith("Your key ") and "****" in posted
    for record in await world.store.triage_records():
        assert not any(secret in json.dumps(record) for secret in SECRETS)


async def test_post_reply_in_thread_after_editing(world):
    world.standin._messages[SUPPORT_CHANNEL].append(
        {"type": "message", "user": CUSTOMER, "ts": "1700000000.000400", "text": "invalid apitype: -1"})
    message = world.standin.message(SUPPORT_CHANNEL, "1700000000.000400")
    report = await shortcut_report(world, message)
    button = next(e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["action_id"] == POST_REPLY_ACTION and len(button["value"]) < 100
    # someone else cannot use the button
    await world.sender.block_action(POST_REPLY_ACTION, button["value"], user_id=OUTSIDER, channel_id=SUPPORT_CHANNEL,
                                    message=report, is_ephemeral=True)
    refusal = await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    assert "support team" in refusal[0]["body"]["text"]
    assert not world.standin.views
    # staff: the modal opens prefilled with the reply, and the edited text lands in the thread
    await world.sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=SUPPORT_CHANNEL,
                                    message=report, is_ephemeral=True)
    view = await world.standin.wait_until(world.standin.last_view, timeout=10)
    assert view["callback_id"] == "triage_reply_edit"
    prefilled = view["blocks"][0]["element"]["initial_value"]
    assert "/v1/video/generations" in prefilled
    edited = prefilled + "\n\nBest, the support team"
    answer = await world.sender.view_submission(view, user_id=SUPPORT, values={"reply": edited})
    assert answer.status == 200
    posted = await world.standin.wait_for_message(SUPPORT_CHANNEL, "1700000000.000400", timeout=10)
    assert posted["text"] == edited and posted["thread_ts"] == "1700000000.000400"
    confirm = await world.standin.wait_until(lambda: world.standin.ephemerals[1:], timeout=10)
    assert "Reply posted" in confirm[0]["message"]["text"] and confirm[0]["user"] == SUPPORT


async def test_reply_modal_rejects_empty_text(world):
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000500", "text": "invalid apitype: -1"}
    report = await shortcut_report(world, message)
    button = next(e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"])
    await world.sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=SUPPORT_CHANNEL,
                                    message=report, is_ephemeral=True)
    view = await world.standin.wait_until(world.standin.last_view, timeout=10)
    answer = await world.sender.view_submission(view, user_id=SUPPORT, values={"reply": "  "})
    assert answer.json()["response_action"] == "errors"
    assert world.standin.messages(SUPPORT_CHANNEL, "1700000000.000500") == []


async def test_shortcut_refused_for_outsider(world):
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000600", "text": MISROUTED}
    shown = report_text(await shortcut_report(world, message, user=OUTSIDER))
    assert "support team" in shown and "misrouted" not in shown
    assert await world.store.triage_records() == []


async def test_task_id_with_live_lookup(make_world, simulator):
    world = await make_world(wan_api_base=simulator.base_url, wan_api_key=simulator.config.api_key)
    task = simulator.state.create_task("unified", "t2v", "wan2.6-t2v",
                                       {"prompt": ("a forbidden fox", ""), "duration": (5, "")}, None)
    task.final = "failed"
    await world.sender.slash_command(f"triage {task.id}", user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=15)
    shown = report_text(response[0]["body"])
    assert "gateway look-up" in shown and f"task {task.id} status=failed" in shown
    assert simulator.stats.to_dict()  # the simulator was asked
    record = (await world.store.triage_records())[0]
    assert task.id in record["summary"] or task.id in record["task_ids"]


async def test_post_reply_still_works_after_a_restart(world):
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000700", "text": "invalid apitype: -1"}
    report = await shortcut_report(world, message)
    button = next(e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"])
    world.services.triage.replies.clear()   # what a restart forgets: only the database remembers
    await world.sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=SUPPORT_CHANNEL,
                                    message=report, is_ephemeral=True)
    view = await world.standin.wait_until(world.standin.last_view, timeout=10)
    assert "/v1/video/generations" in view["blocks"][0]["element"]["initial_value"]
    world.services.triage.replies.clear()
    await world.sender.view_submission(view, user_id=SUPPORT, values={"reply": "Please use the task API."})
    posted = await world.standin.wait_for_message(SUPPORT_CHANNEL, "1700000000.000700", timeout=10)
    assert posted["text"] == "Please use the task API." and posted["thread_ts"] == "1700000000.000700"


async def test_shortcut_measures_stuck_from_the_complained_message_not_the_log(world):
    # The log ends a minute after the submit; the customer complained 45 minutes later. "Stuck" is
    # measured from the message's own time, so the report flags it (the log alone would not).
    submitted = int(time.time()) - 7200
    rows = [
        {"id": 940, "task_id": "task_waitingQ1", "platform": "wan", "quota": 1000000, "status": "IN_PROGRESS",
         "submit_time": submitted, "progress": "30%", "properties": {"origin_model_name": "wan2.6-t2v"}},
        {"id": 7010, "created_at": submitted + 60, "type": 2, "model_name": "wan2.6-t2v", "quota": 1000000,
         "other": json.dumps({"is_task": True, "request_path": "/v1/videos", "task_id": "task_waitingQ1"})},
    ]
    file = world.standin.add_file("rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode(),
                                  "application/x-ndjson")
    message = {"type": "message", "user": CUSTOMER, "ts": f"{submitted + 45 * 60}.000100",
               "text": "my video task_waitingQ1 never arrived", "files": [file]}
    shown = report_text(await shortcut_report(world, message))
    assert "task_in_progress" in shown
    assert "stuck" in shown.lower()
    record = (await world.store.triage_records())[0]
    assert record["verdict"] == "task_in_progress" and "stuck" in json.dumps(record).lower()
