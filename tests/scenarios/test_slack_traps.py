"""Slack's known traps: not_in_channel, 429s on chat.update/chat.postMessage, uploads that fail."""

from __future__ import annotations

import asyncio

from bot.jobs.models import DeliveryState, JobState
from tests.support.world import ANA, CHANNEL, OUTSIDE, PRIVATE


async def test_public_channel_without_the_bot_is_joined_and_the_job_runs(world):
    await world.sender.slash_command("t2v a fox --duration 2", channel_id=OUTSIDE)
    job = await world.job_for_card(OUTSIDE)  # chat:write.public: the card needs no membership
    done = await world.finished(job.id)
    # the upload does: completeUploadExternal said not_in_channel, the bot joined and retried
    assert world.standin.calls("conversations.join")[0].params["channel"] == OUTSIDE
    assert world.standin.channels[OUTSIDE]["is_member"]
    assert [c.response.get("error") for c in world.standin.calls("files.completeUploadExternal")] == [
        "not_in_channel", None]
    assert done.state == JobState.DELIVERED and done.delivery_state == DeliveryState.POSTED


async def test_private_channel_without_the_bot_tells_the_user_to_invite_it(world):
    reply = await world.sender.slash_command("t2v a fox --duration 2", channel_id=PRIVATE)
    assert reply.status == 200
    told = await world.standin.wait_until(lambda: [r for r in world.standin.responses if "invite" in str(r["body"])])
    assert told[0]["body"].get("response_type") == "ephemeral"
    assert await world.services.store.list_jobs() == []  # no job without a card


async def test_rate_limited_post_and_updates_are_retried_after_retry_after(world):
    world.standin.fail("chat.postMessage", "ratelimited", retry_after=1)
    world.standin.fail("chat.update", "ratelimited", retry_after=1, times=2)
    await world.sender.slash_command("t2v a fox --duration 2")
    job = await world.job_for_card(timeout=10)
    assert [c.status for c in world.standin.calls("chat.postMessage")][:2] == [429, 200]
    done = await world.finished(job.id)
    await world.services.notifier.cards.idle()
    statuses = [c.status for c in world.standin.calls("chat.update")]
    assert statuses[:2] == [429, 429] and statuses[-1] == 200
    card = world.standin.message(CHANNEL, job.message_ts)
    assert done.state == JobState.DELIVERED and "job_cancel" not in str(card["blocks"])


async def test_many_busy_jobs_stay_under_the_chat_update_limit(world):
    notifier = world.services.notifier
    notifier.cards.bucket.rate = 10 / 60.0  # 10 a minute, a burst of 5: the sixth update must wait
    for word in ("one", "two", "three", "four"):
        await world.sender.slash_command(f"t2v {word} --duration 2")
    for n in range(1, 5):
        await world.finished((await world.job_for_card(count=n)).id)
    await asyncio.sleep(0.3)
    # every job reached the stand-in at most 5 times in total (coalesced), never 429
    assert all(c.status == 200 for c in world.standin.calls("chat.update"))
    assert len(world.standin.calls("chat.update")) <= 5
    assert notifier.cards.backlog > 0  # the rest waits for tokens instead of tripping the limit


async def test_upload_failure_posts_the_link_with_its_expiry(world):
    world.standin.fail("upload", status=500)
    await world.sender.slash_command("t2v a fox --duration 2")
    job = await world.job_for_card()
    done = await world.finished(job.id)
    assert done.state == JobState.DELIVERED and done.delivery_state == DeliveryState.LINK
    link = await world.standin.wait_for_message(CHANNEL, job.message_ts)
    assert "Download the video" in str(link["blocks"]) and "expires" in str(link["blocks"])
    assert link["metadata"]["event_payload"]["job_id"] == job.id
    assert world.standin.calls("files.completeUploadExternal") == []


async def test_video_over_the_cap_is_a_link(world):
    world.services.notifier.upload_cap = 100
    await world.sender.slash_command("t2v a fox --duration 2")
    job = await world.job_for_card()
    done = await world.finished(job.id)
    assert done.delivery_state == DeliveryState.LINK
    assert world.standin.calls("files.getUploadURLExternal") == []
    assert "upload limit" in str((await world.standin.wait_for_message(CHANNEL, job.message_ts))["blocks"])


async def test_removed_from_a_private_channel_before_the_upload_gives_the_requester_the_link(world):
    world.standin.set_member(PRIVATE, True)
    await world.sender.slash_command("t2v a fox --duration 2", channel_id=PRIVATE)
    job = await world.job_for_card(PRIVATE)
    world.standin.set_member(PRIVATE, False)  # someone removed the bot while the video rendered
    done = await world.finished(job.id)
    assert done.delivery_state == DeliveryState.LINK
    told = await world.standin.wait_until(lambda: [r for r in world.standin.responses if r.get("user") == ANA])
    assert "Download the video" in str(told[-1]["body"]) and "invite" in str(told[-1]["body"]).lower()
