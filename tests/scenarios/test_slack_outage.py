"""A Slack outage while a finished, paid video waits to be posted (issue 14 item 3): the bot keeps
trying with capped backoff until the video's link expires, posts the link when the upload cannot be
done, and never calls a job that succeeded upstream `failed`."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs.models import DeliveryState, JobState
from tests.support.world import CHANNEL

OUTAGE = ("files.getUploadURLExternal", "files.completeUploadExternal", "chat.postMessage", "upload")


def _slack_down(world) -> None:
    for method in OUTAGE:
        world.standin.fail(method, error="internal_error", times=None)


async def _job_with_slack_down(world, simulator):
    """A job whose card is posted; then Slack goes down while the task renders."""
    simulator.config.update({"run_seconds": 1.5})
    world.services.tracker.options.delivery_retry_scale = 0.05  # the backoff, 20x faster
    await world.sender.slash_command("t2v a fox in the snow --duration 2")
    job = await world.job_for_card()
    _slack_down(world)
    return job


@pytest.mark.slow
async def test_a_slack_outage_longer_than_the_old_retries_still_posts_the_video(world, simulator):
    job = await _job_with_slack_down(world, simulator)
    world.services.tracker.options.delivery_retry_scale = 1.0  # real backoff: 1, 2, 4, 8, 16 s
    await asyncio.sleep(20.0)  # down for longer than the five tries that used to end the job failed
    stored = await world.services.store.get_job(job.id)
    assert stored.state == JobState.SUCCEEDED and stored.billed_cost_usd, (stored.state, stored.error_message)
    world.standin.clear_faults()
    job = await world.finished(job.id, timeout=30)
    assert job.state == JobState.DELIVERED and job.delivery_state == DeliveryState.POSTED, (job.state,
                                                                                            job.error_message)
    videos = [m for m in world.standin.messages(CHANNEL, job.message_ts) if m.get("metadata")]
    assert len(videos) == 1


async def test_when_only_the_upload_keeps_failing_the_link_is_posted(world):
    world.services.tracker.options.delivery_retry_scale = 0.05
    # Messages work; the upload's first call keeps answering 500 (transient, so retried, never ending).
    world.standin.fail("files.getUploadURLExternal", error="internal_error", times=None)
    await world.sender.slash_command("t2v a fox in the snow --duration 2")
    job = await world.job_for_card()
    job = await world.finished(job.id, timeout=30)
    assert job.state == JobState.DELIVERED and job.delivery_state == DeliveryState.LINK, (job.state,
                                                                                          job.error_message)
    posted = " ".join(str(m) for m in world.standin.messages(CHANNEL, job.message_ts))
    assert "expires" in posted


async def test_an_outage_that_outlasts_the_video_link_ends_expired_never_failed(world, simulator):
    world.services.tracker.options.video_link_seconds = 2.0  # links said to last 2 s, not 24 h
    job = await _job_with_slack_down(world, simulator)
    job = await world.finished(job.id, timeout=30)
    assert job.state == JobState.EXPIRED and job.delivery_state == DeliveryState.GONE, (job.state,
                                                                                         job.error_message)
    assert "expired before it could be posted" in job.error_message and job.billed_cost_usd
