"""A user's whole way through Slack: signed requests into the running app over HTTP, the bot's Web API
calls into the stand-in, the gateway simulator behind it."""

from __future__ import annotations

import json
import os
import socket

import aiohttp

from bot.jobs.delivery import looks_like_mp4
from bot.jobs.models import DeliveryState, JobState
from tests.support.world import CHANNEL


def card_text(message: dict) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


async def test_forged_or_stale_signature_is_refused_with_401(world):
    forged = await world.sender.slash_command("t2v a fox", forge=True)
    stale = await world.sender.slash_command("t2v a fox", stale=True)
    assert forged.status == 401 and stale.status == 401
    assert world.standin.calls("chat.postMessage") == []
    assert await world.services.store.list_jobs() == []


async def test_t2v_command_acks_fast_then_card_updates_and_video_lands_in_its_thread(world):
    reply = await world.sender.slash_command("t2v a fox in the snow --duration 3", channel_id=CHANNEL)
    assert reply.status == 200
    assert reply.elapsed < 3.0, reply.elapsed
    job = await world.job_for_card()
    assert job.message_ts and job.thread_ts == job.message_ts
    card = world.standin.message(CHANNEL, job.message_ts)
    assert job.id in card_text(card) and "a fox in the snow" in card_text(card)

    done = await world.finished(job.id)
    assert done.state == JobState.DELIVERED and done.delivery_state == DeliveryState.POSTED
    # the card was updated in place to its final state
    await world.services.notifier.cards.idle()
    assert world.standin.calls("chat.update")
    final = world.standin.message(CHANNEL, job.message_ts)
    assert "job_cancel" not in card_text(final)
    # the video went into the card's thread through the external upload flow
    complete = world.standin.calls("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == CHANNEL and complete.params["thread_ts"] == job.message_ts
    upload = [c for c in world.standin.calls("upload") if c.status == 200][0]
    path = world.standin.file_path(upload.params["file_id"])
    assert looks_like_mp4(path.read_bytes()[:16]) and upload.params["bytes"] == path.stat().st_size
    # and under it the review message with its marker
    review = await world.standin.wait_for_message(
        CHANNEL, job.message_ts, lambda m: (m.get("metadata") or {}).get("event_type") == "wanbot_video")
    assert review["metadata"]["event_payload"]["job_id"] == job.id
    assert "review_approve" in card_text(review)
    # exactly once: a restarted process would see the video is already there
    assert await world.services.notifier.video_already_posted(done)


async def test_slack_retry_of_the_same_command_starts_no_second_job(world):
    first = await world.sender.slash_command("t2v a heron --duration 2")
    again = await world.sender.resend(first, retry_num=1)
    third = await world.sender.resend(first, retry_num=2, retry_reason="http_error")
    assert first.status == again.status == third.status == 200
    await world.job_for_card()
    await world.standin.wait_for_call("chat.postMessage")
    import asyncio
    await asyncio.sleep(0.3)
    assert len(await world.services.store.list_jobs()) == 1
    assert len(world.standin.calls("chat.postMessage")) == 1


async def test_healthz_and_metrics_answer(world):
    async with aiohttp.ClientSession() as http:
        async with http.get(world.base_url + "/healthz") as response:
            assert response.status == 200
            # Which replica answered (host-pid unless WANBOT_REPLICA_ID), and its leases: none on SQLite,
            # where one process drives every job without them.
            assert await response.json() == {"ok": True, "db": True, "tracker": True,
                                             "replica": f"{socket.gethostname()}-{os.getpid()}", "leases": 0}
        await world.sender.slash_command("t2v a fox --duration 2")
        job = await world.job_for_card()
        await world.finished(job.id)
        async with http.get(world.base_url + "/metrics") as response:
            assert response.status == 200
            text = await response.text()
    assert 'wanbot_job_changes_total{state="delivered"} 1.0' in text
    assert "wanbot_poll_seconds_count" in text and "wanbot_delivery_seconds_count 1.0" in text
    assert 'wanbot_jobs{state="running"} 0.0' in text
    assert f'wanbot_replica_info{{replica="{socket.gethostname()}-{os.getpid()}"}} 1.0' in text
    assert "wanbot_leases_held{" in text
