"""The tracker against the real gateway simulator on loopback, with a real SQLite file."""

from __future__ import annotations

import asyncio

import av
import pytest

from bot.jobs.models import DeliveryState, JobState
from bot.jobs.tracker import CannotCancel
from bot.wan.request import build_request

from .conftest import t2v


@pytest.mark.parametrize("fmt", ["unified", "openai", "dashscope"])
async def test_a_job_goes_from_pending_to_delivered_with_a_real_video(run_tracker, recorder, simulator, fmt, tmp_path):
    tracker = await run_tracker(fmt)
    job = await tracker.enqueue(t2v(duration=4))
    assert job.estimated_cost_usd == pytest.approx(0.24)
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.DELIVERED and job.delivery_state == DeliveryState.POSTED
    assert job.billed_seconds == 4 and job.billed_cost_usd == pytest.approx(0.24)
    states = recorder.states(job.id)
    assert states[0] == "pending" and "queued" in states or "running" in states
    assert states[-2:] == ["succeeded", "delivered"]
    (video,) = recorder.videos[job.id]
    path = tmp_path / "check.mp4"
    path.write_bytes(video)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)) is not None
    # the temporary download was removed after the hand-over
    assert not list(tmp_path.glob("wanbot-*.mp4"))


async def test_many_concurrent_jobs_all_delivered_once_within_the_in_flight_cap(run_tracker, recorder, simulator):
    tracker = await run_tracker(max_in_flight=5)
    jobs = [await tracker.enqueue(t2v(f"scene {i}")) for i in range(40)]
    done = await asyncio.wait_for(asyncio.gather(*(tracker.wait_for(j.id) for j in jobs)), 60)
    assert {j.state for j in done} == {JobState.DELIVERED}
    assert all(len(recorder.videos[j.id]) == 1 for j in jobs)
    # one task per job, one idempotency key per job, and the key is the job id
    assert simulator.stats.tasks_created == 40
    assert set(simulator.stats.submits_by_key) == {j.id for j in jobs}
    # jobs beyond the cap were told they wait, with their place in the line
    waiting = [pos for _, state, pos in recorder.changes if state == "pending" and pos]
    assert waiting and max(waiting) == 35
    # never more than 5 tasks in flight upstream: replay the store's events
    events = []
    for j in jobs:
        for e in await tracker.store.events(j.id):
            if e["to"] == "submitted" and e["from"] == "pending":
                events.append((e["at"], 1))
            if e["to"] in ("succeeded", "failed", "canceled", "expired"):
                events.append((e["at"], -1))
    level = peak = 0
    for _, delta in sorted(events):
        level += delta
        peak = max(peak, level)
    assert peak <= 5


async def test_failed_task_is_reported_with_its_code_and_message(run_tracker, recorder):
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v("a forbidden scene"))
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.FAILED
    assert job.error_code and job.error_message
    assert recorder.states(job.id)[-1] == "failed"
    assert job.id not in recorder.videos


async def test_cancel_a_running_job_and_a_finished_one(run_tracker, simulator):
    simulator.config.update({"never_finish": True})
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    for _ in range(100):
        if (await tracker.store.get_job(job.id)).state == JobState.RUNNING:
            break
        await asyncio.sleep(0.05)
    canceled = await tracker.cancel(job.id, by="U1")
    assert canceled.state == JobState.CANCELED
    assert simulator.tasks[canceled.task_id].canceled_progress is not None  # canceled upstream too
    with pytest.raises(CannotCancel):
        await tracker.cancel(job.id)


async def test_bad_request_is_not_retried_and_names_the_field(run_tracker, simulator):
    # DashScope's r2v takes at most 10 s: the gateway refuses a 12 s request with a 400
    tracker = await run_tracker("dashscope")
    job = await tracker.enqueue(build_request("r2v", {"reference_url": "https://example.com/a.png",
                                                      "prompt": "a dancer", "duration": 12}))
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.FAILED and "duration" in job.error_message and job.request_id
    submits = [r for r in simulator.stats.requests if r.method == "POST"]
    assert len(submits) == 1


async def test_wrong_key_fails_at_once_without_retry_and_says_who_must_fix_it(run_tracker, simulator, make_settings):
    tracker = await run_tracker(api_key="sk-revoked-key-123")
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.FAILED
    assert "WAN_API_KEY" in job.error_message and job.request_id
    assert len([r for r in simulator.stats.requests if r.method == "POST"]) == 1


async def test_429_is_honoured_and_never_fails_the_job(run_tracker, simulator):
    simulator.config.update({"rate_429": 0.5, "retry_after": 0.4, "seed": 3})
    tracker = await run_tracker()
    jobs = [await tracker.enqueue(t2v(f"p{i}")) for i in range(4)]
    done = await asyncio.wait_for(asyncio.gather(*(tracker.wait_for(j.id) for j in jobs)), 60)
    assert {j.state for j in done} == {JobState.DELIVERED}
    limited = [r for r in simulator.stats.requests if r.status == 429]
    assert limited, "the fault was injected"
    # after each 429 the same call was not repeated before Retry-After elapsed
    by_path: dict[str, list] = {}
    for r in simulator.stats.requests:
        by_path.setdefault((r.method, r.path, r.idempotency_key), []).append(r)
    for calls in by_path.values():
        for before, after in zip(calls, calls[1:], strict=False):
            if before.status == 429:
                assert after.time - before.time >= 0.4 - 0.02


async def test_5xx_on_submit_is_retried_then_fails_with_the_request_id(run_tracker, simulator):
    simulator.config.update({"rate_5xx": 1.0})
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.FAILED and job.request_id
    assert len([r for r in simulator.stats.requests if r.method == "POST"]) == 3


async def test_failed_polls_never_fail_a_paid_job(run_tracker, simulator):
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    for _ in range(100):
        if (await tracker.store.get_job(job.id)).task_id:
            break
        await asyncio.sleep(0.02)
    simulator.config.update({"rate_5xx": 1.0})
    await asyncio.sleep(2.0)
    assert (await tracker.store.get_job(job.id)).state in (JobState.QUEUED, JobState.RUNNING)
    simulator.config.update({"rate_5xx": 0.0})
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.DELIVERED


async def test_malformed_submit_answer_is_retried_once_with_the_same_key(run_tracker, simulator):
    simulator.config.update({"malformed_rate": 1.0})
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    # both answers were garbled: the job is parked as unknown, never submitted a third time
    assert job.state == JobState.UNKNOWN
    assert simulator.stats.submits_by_key[job.id] == 2
    assert simulator.stats.tasks_created == 1


async def test_a_task_that_never_finishes_fails_at_the_time_limit(run_tracker, simulator):
    simulator.config.update({"never_finish": True})
    tracker = await run_tracker(time_limit_seconds=1.5)
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.FAILED and job.error_code == "time_limit"
    assert "did not finish within" in job.error_message


@pytest.mark.parametrize("video_mode, state, words", [
    ("404", JobState.EXPIRED, "expired"),
    ("html", JobState.FAILED, "web page"),
    ("oversize", JobState.FAILED, "limit"),
])
async def test_bad_video_urls_fail_clearly_and_post_nothing(run_tracker, simulator, recorder, video_mode, state, words):
    simulator.config.update({"video_mode": video_mode, "oversize_bytes": 3_000_000})
    tracker = await run_tracker(max_video_bytes=1_000_000)
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == state and words in job.error_message
    assert job.id not in recorder.videos


async def test_delivery_is_retried_when_the_surface_is_down(run_tracker, recorder):
    recorder.fail_posts = 2
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.DELIVERED and len(recorder.videos[job.id]) == 1


async def test_hung_calls_time_out_and_the_job_continues(run_tracker, simulator, make_settings):
    simulator.config.update({"hang_rate": 0.3, "hang_seconds": 5, "seed": 11})
    tracker = await run_tracker()
    tracker.client._http.timeout = __import__("httpx").Timeout(0.5)
    jobs = [await tracker.enqueue(t2v(f"h{i}")) for i in range(3)]
    done = await asyncio.wait_for(asyncio.gather(*(tracker.wait_for(j.id) for j in jobs)), 60)
    assert {j.state for j in done} <= {JobState.DELIVERED, JobState.UNKNOWN}
    assert simulator.stats.faults.get("hang", 0) >= 1
