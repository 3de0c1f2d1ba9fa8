"""Issue 13 in Slack: the reply modal's language choice, and `/wan triage task_...` fetching the
task's rows from new-api (served by the simulator) through the real app on loopback."""

from __future__ import annotations

from bot.sim import newapi
from bot.slack.blocks.triage import POST_REPLY_ACTION, REPLY_LANGUAGE_ACTION
from tests.support.triage_inputs import report_text, shortcut_report
from tests.support.world import CUSTOMER, SUPPORT, SUPPORT_CHANNEL

ZH_COMPLAINT = ("我的视频生成失败了，但是扣费了。任务 task_Qw3rTy7uIo9pAs1dFg5hJk2lZx8cVb4n 状态: FAILURE，"
                "quota: 1600000")


async def test_the_reply_modal_switches_the_reply_language(world):
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000900", "text": ZH_COMPLAINT}
    report = await shortcut_report(world, message)
    button = next(e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"])
    await world.sender.block_action(POST_REPLY_ACTION, button["value"], user_id=SUPPORT, channel_id=SUPPORT_CHANNEL,
                                    message=report, is_ephemeral=True)
    view = await world.standin.wait_until(world.standin.last_view, timeout=10)
    assert "退款" in view["blocks"][0]["element"]["initial_value"]  # the customer wrote Chinese
    select = view["blocks"][1]["elements"][0]
    assert select["action_id"] == REPLY_LANGUAGE_ACTION and select["initial_option"]["value"] == "zh"

    await world.sender.block_action(REPLY_LANGUAGE_ACTION, "en", user_id=SUPPORT, view=view)

    def switched():
        last = world.standin.last_view()
        return last if last and "refund" in last["blocks"][0]["element"]["initial_value"] else None

    english = await world.standin.wait_until(switched, timeout=10)
    assert english["blocks"][0]["block_id"] != view["blocks"][0]["block_id"]  # Slack would keep the old draft
    assert english["blocks"][1]["elements"][0]["initial_option"]["value"] == "en"
    text = english["blocks"][0]["element"]["initial_value"]
    await world.sender.view_submission(english, user_id=SUPPORT, values={english["blocks"][0]["block_id"]: text})
    posted = await world.standin.wait_for_message(SUPPORT_CHANNEL, "1700000000.000900", timeout=10)
    assert posted["text"] == text and "Thank you" in text


async def test_a_bare_task_id_is_triaged_from_new_apis_rows(make_world, simulator):
    world = await make_world(wanbot_newapi_url=simulator.base_url, wanbot_newapi_token=simulator.config.api_key,
                             wanbot_newapi_user="1")
    newapi.settings(simulator.state).refunds = "none"
    try:
        task = simulator.state.create_task("unified", "t2v", "wan2.6-t2v-fetchtest",
                                           {"prompt": ("a forbidden fox", ""), "duration": (5, "")}, None)
        task.final = "failed"
        await world.sender.slash_command(f"triage {task.id}", user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
        response = await world.standin.wait_until(lambda: world.standin.responses, timeout=15)
        shown = report_text(response[0]["body"])
        assert "Refund due" in shown and task.id in shown, shown
        assert "fetched task" in shown and simulator.config.api_key not in shown
        record = (await world.store.triage_records())[0]
        assert record["verdict"] == "refund_due" and task.id in record["task_ids"]
    finally:
        newapi.settings(simulator.state).refunds = "row"


def _refund_due_text(task_id: str) -> str:
    import json

    charge = {"id": 8101, "created_at": 1764000000, "type": 2, "content": "操作 textGenerate", "username": "acme",
              "model_name": "wan2.6-t2v", "quota": 1600000, "prompt_tokens": 0, "completion_tokens": 0,
              "other": json.dumps({"is_task": True, "request_path": "/v1/videos"})}
    task = {"id": 930, "task_id": task_id, "platform": "wan", "quota": 1600000, "status": "FAILURE",
            "fail_reason": "upstream timeout", "submit_time": 1764000000, "progress": "100%",
            "properties": {"origin_model_name": "wan2.6-t2v"}}
    return f"triage {json.dumps(charge)}\n{json.dumps(task)}"


async def test_refunds_due_csv_is_posted_in_a_thread_for_admins(world):
    from tests.support.world import ADMIN, ANA, CHANNEL
    from tests.support.world import private_answer as answer

    task_id = "task_CsvExport00000000000000000000001"
    await world.sender.slash_command(_refund_due_text(task_id), user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
    await world.standin.wait_until(lambda: world.standin.responses, timeout=15)
    (record,) = await world.store.triage_records()
    assert record["verdict"] == "refund_due"
    assert record["details"] == [{"task_id": task_id, "user": "acme", "model": "wan2.6-t2v", "amount_usd": 3.2,
                                  "evidence": ["8101", "930"]}]

    reply = await world.sender.slash_command("spend team", user_id=ADMIN, channel_id=CHANNEL)
    shown = await answer(world, reply)
    assert "Refunds due" in shown and "triage_refunds_csv" in shown
    url = reply.sent["response_url"]
    body = next(r for r in world.standin.responses if url.endswith(r["id"]))["body"]
    # someone who is not an admin cannot post the team's refunds
    await world.sender.block_action("triage_refunds_csv", user_id=ANA, channel_id=CHANNEL, message=body,
                                    is_ephemeral=True)
    await world.standin.wait_until(lambda: any("for admins" in str(r["body"]) for r in world.standin.responses),
                                   timeout=10)
    assert not [m for m in world.standin.messages(CHANNEL) if "Refunds due" in (m.get("text") or "")]

    await world.sender.block_action("triage_refunds_csv", user_id=ADMIN, channel_id=CHANNEL, message=body,
                                    is_ephemeral=True)
    head = await world.standin.wait_for_message(CHANNEL, predicate=lambda m: "Refunds due" in (m.get("text") or ""),
                                                timeout=10)
    assert "1 task(s) · $3.20" in head["text"]
    shared = await world.standin.wait_for_message(CHANNEL, head["ts"], predicate=lambda m: m.get("files"), timeout=10)
    (file,) = shared["files"]
    assert file["name"].startswith("refunds-due-") and file["name"].endswith(".csv")
    lines = world.standin.file_path(file["id"]).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "task_id,user,model,amount_usd,evidence_row_ids,triaged_at,triaged_by,record_id"
    assert lines[1].startswith(f"{task_id},acme,wan2.6-t2v,3.2,8101 930,") and SUPPORT in lines[1]


async def test_a_report_on_several_tasks_shows_the_per_task_table(world):
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[1] / "components" / "triage" / "corpus" / "c8_three_tasks.json"
    await world.sender.slash_command("triage " + corpus.read_text(encoding="utf-8"), user_id=SUPPORT,
                                     channel_id=SUPPORT_CHANNEL)
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=15)
    shown = report_text(response[0]["body"])
    assert "Per task" in shown and "total due: $3.20" in shown
    assert "task_ManyB000000000000000000000000008" in shown and "already_refunded" in shown
