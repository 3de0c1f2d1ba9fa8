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
