"""The modal cycle: bare /wan opens it, picking a mode swaps in its fields, a bad submission gets
inline errors, a good one closes it and starts the job in the channel it was opened from."""

from __future__ import annotations

from tests.support.world import CHANNEL


def block_ids(view: dict) -> list[str]:
    return [b.get("block_id") for b in view["blocks"]]


async def test_bare_wan_opens_the_modal_and_picking_a_mode_updates_it(world):
    reply = await world.sender.slash_command("", channel_id=CHANNEL)
    assert reply.status == 200 and reply.elapsed < 3.0
    opened = (await world.standin.wait_for_call("views.open")).params["view"]
    assert opened["callback_id"] == "wan_generate" and "prompt" not in block_ids(opened)
    view = world.standin.last_view()

    picked = await world.sender.block_action("mode_select", "image-to-video", view=view,
                                             view_values={"mode": "image-to-video"})
    assert picked.status == 200
    update = await world.standin.wait_for_call("views.update")
    assert update.params["view_id"] == view["id"] and update.params["hash"] == view["hash"]
    assert {"image_url", "prompt", "camera_motion"} <= set(block_ids(world.standin.views[view["id"]]))


async def test_mode_switch_keeps_what_was_typed(world):
    await world.sender.slash_command("t2v", channel_id=CHANNEL)  # a mode without its prompt: prefilled modal
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    assert "prompt" in block_ids(view)
    await world.sender.block_action("mode_select", "r2v", view=view,
                                    view_values={"mode": "r2v", "prompt": "two friends dancing"})
    await world.standin.wait_for_call("views.update")
    updated = world.standin.views[view["id"]]
    prompt = next(b for b in updated["blocks"] if b.get("block_id") == "prompt")
    assert prompt["element"]["initial_value"] == "two friends dancing"


async def test_invalid_submission_comes_back_inline_and_a_valid_one_starts_the_job(world):
    await world.sender.slash_command("", channel_id=CHANNEL)
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    await world.sender.block_action("mode_select", "text-to-video", view=view,
                                    view_values={"mode": "text-to-video"})
    await world.standin.wait_for_call("views.update")
    view = world.standin.views[view["id"]]

    bad = await world.sender.view_submission(view, values={"prompt": "   ", "duration": "3"})
    assert bad.status == 200 and bad.elapsed < 3.0
    answer = bad.json()
    assert answer["response_action"] == "errors" and "prompt" in answer["errors"]
    assert await world.services.store.list_jobs() == []

    good = await world.sender.view_submission(view, values={"prompt": "a calm lake", "duration": "3"})
    assert good.status == 200 and not good.text  # closes the modal
    job = await world.job_for_card(CHANNEL)
    assert job.request["input"]["prompt"] == "a calm lake" and job.request["input"]["duration"] == 3
    assert job.message_ts and world.standin.message(CHANNEL, job.message_ts)
