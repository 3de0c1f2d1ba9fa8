"""Team review under the video: approve, request changes, re-run, tweak, show the API request."""

from __future__ import annotations

import json

from tests.support.world import BOB, CHANNEL, delivered_job


async def test_approve_is_recorded_and_shown_on_the_card(world):
    job, review = await delivered_job(world)
    reply = await world.sender.block_action("review_approve", job.id, user_id=BOB, channel_id=CHANNEL,
                                            message_ts=review["ts"])
    assert reply.status == 200 and reply.elapsed < 3.0
    await world.standin.wait_until(lambda: "Approved by" in str(world.standin.message(CHANNEL, job.message_ts)))
    stored = await world.services.store.get_job(job.id)
    assert stored.review_state == "approved" and stored.reviewed_by == BOB and stored.reviewed_at
    assert f"<@{BOB}>" in str(world.standin.message(CHANNEL, job.message_ts)["blocks"])


async def test_request_changes_opens_a_note_modal_and_stores_the_note(world):
    job, review = await delivered_job(world)
    await world.sender.block_action("review_changes", job.id, user_id=BOB, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    opened = (await world.standin.wait_for_call("views.open")).params["view"]
    assert opened["callback_id"] == "wan_request_changes"
    view = world.standin.last_view()
    empty = await world.sender.view_submission(view, user_id=BOB, values={"note": ""})
    assert empty.json()["response_action"] == "errors"
    await world.sender.view_submission(view, user_id=BOB, values={"note": "slower camera please"})
    await world.standin.wait_until(lambda: "slower camera" in str(world.standin.message(CHANNEL, job.message_ts)))
    stored = await world.services.store.get_job(job.id)
    assert (stored.review_state, stored.review_note) == ("changes_requested", "slower camera please")


async def test_rerun_starts_a_new_job_with_a_new_seed_in_the_same_thread(world):
    job, review = await delivered_job(world)
    await world.sender.block_action("review_rerun", job.id, user_id=BOB, channel_id=CHANNEL, message_ts=review["ts"])
    again = await world.job_for_card(count=2)
    assert again.id != job.id and again.thread_ts == job.message_ts and again.user_id == BOB
    assert again.request["input"]["prompt"] == job.request["input"]["prompt"]
    assert again.request["input"]["seed"] != 7
    card = world.standin.message(CHANNEL, again.message_ts)
    assert card["thread_ts"] == job.message_ts  # the new card is in the original thread
    await world.finished(again.id)
    complete = world.standin.calls("files.completeUploadExternal")[-1]
    assert complete.params["thread_ts"] == job.message_ts


async def test_tweak_opens_the_modal_prefilled_and_its_submission_runs_in_the_thread(world):
    job, review = await delivered_job(world)
    await world.sender.block_action("review_tweak", job.id, channel_id=CHANNEL, message_ts=review["ts"])
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    prompt = next(b for b in view["blocks"] if b.get("block_id") == "prompt")
    assert prompt["element"]["initial_value"] == "a fox in the snow"
    assert json.loads(view["private_metadata"]) == {"channel_id": CHANNEL, "thread_ts": job.message_ts}
    await world.sender.view_submission(view, values={"prompt": "a fox in the rain"})
    tweaked = await world.job_for_card(count=2)
    assert tweaked.thread_ts == job.message_ts and tweaked.request["input"]["prompt"] == "a fox in the rain"


async def test_show_api_request_is_private_and_masks_the_key(world):
    job, review = await delivered_job(world)
    await world.sender.block_action("review_show_api", job.id, channel_id=CHANNEL, message_ts=review["ts"])
    shown = await world.standin.wait_until(lambda: [r for r in world.standin.responses if "curl" in str(r["body"])])
    body = shown[0]["body"]
    assert body["response_type"] == "ephemeral" and body.get("replace_original") is False
    text = json.dumps(body)
    assert "$WAN_API_KEY" in text and job.id in text and "a fox in the snow" in text
    assert world.services.settings.secret("wan_api_key") not in text
