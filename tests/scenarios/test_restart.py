"""Exactly one video per job across a crash: a restarted bot looks in the thread before posting again."""

from __future__ import annotations

from bot.jobs.models import DeliveryState, JobState
from bot.slack.recovery import resume
from bot.slack.services import create_services
from tests.support.backends import store_location, wanbot_db  # noqa: F401  (on both backends)
from tests.support.world import CHANNEL


async def crashed_mid_delivery(world, *, drop_review_message: bool):
    """A delivered job put back to where a crash during the posting would have left it."""
    await world.sender.slash_command("t2v a fox --duration 2")
    job = await world.job_for_card()
    await world.finished(job.id)
    if drop_review_message:  # the crash hit between the upload and the review message
        review = await world.standin.wait_for_message(CHANNEL, job.message_ts, lambda m: m.get("metadata"))
        world.standin._messages[CHANNEL].remove(review)
    await world.services.store.transition(job.id, JobState.SUCCEEDED, delivery_state=DeliveryState.POSTING)
    world.standin.clear_calls()
    return job


async def restart(world):
    services = await create_services(world.services.settings, tracker_options={"poll_min_interval": 0.1},
                                     notifier_options={"card_tick_interval": 0})
    await resume(services)
    return services


async def test_restart_after_the_video_was_posted_does_not_post_it_again(world):
    job = await crashed_mid_delivery(world, drop_review_message=False)
    again = await restart(world)
    try:
        done = await again.tracker.wait_for(job.id, 10)
        assert done.state == JobState.DELIVERED
        assert world.standin.calls("conversations.replies")
        assert world.standin.calls("files.getUploadURLExternal") == []
        assert world.standin.calls("chat.postMessage") == []
    finally:
        await again.stop(0.5)


async def test_restart_after_the_upload_but_before_the_review_message_posts_only_the_message(world):
    job = await crashed_mid_delivery(world, drop_review_message=True)
    again = await restart(world)
    try:
        done = await again.tracker.wait_for(job.id, 10)
        assert done.state == JobState.DELIVERED
        assert world.standin.calls("files.getUploadURLExternal") == []
        posted = world.standin.calls("chat.postMessage")
        assert len(posted) == 1 and posted[0].params["metadata"]["event_payload"]["job_id"] == job.id
    finally:
        await again.stop(0.5)
