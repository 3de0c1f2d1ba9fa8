"""Money-safety cases found in review: lateness, rate limits and cancels must never cost a paid video."""

from __future__ import annotations

import asyncio

from bot.jobs.models import Job, JobState

from .conftest import t2v


async def _wait_state(tracker, job_id, states, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        job = await tracker.store.get_job(job_id)
        if job.state in states:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job never reached {states}: {job.state}")


async def test_a_task_that_finished_while_the_bot_was_down_is_delivered_not_failed_as_late(run_tracker, simulator):
    tracker = await run_tracker(time_limit_seconds=1.0)
    job = await tracker.enqueue(t2v())
    await _wait_state(tracker, job.id, {JobState.QUEUED, JobState.RUNNING})
    await tracker.stop(grace=1)
    await asyncio.sleep(1.5)                  # down past the time limit; the task finishes meanwhile
    again = await run_tracker(time_limit_seconds=1.0)
    job = await asyncio.wait_for(again.wait_for(job.id), 20)
    assert job.state == JobState.DELIVERED


async def test_time_spent_rate_limited_before_acceptance_does_not_count_against_the_limit(run_tracker, simulator):
    simulator.config.update({"rate_429": 1.0, "retry_after": 0.3})
    tracker = await run_tracker(time_limit_seconds=2.5)
    job = await tracker.enqueue(t2v())
    await asyncio.sleep(3.0)                  # refused for longer than the whole time limit
    waiting = await tracker.store.get_job(job.id)
    # still waiting its turn (between two tries, or in the middle of one), never failed as late
    assert waiting.state in (JobState.PENDING, JobState.SUBMITTED) and waiting.task_id is None
    simulator.config.update({"rate_429": 0.0})
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.DELIVERED, (job.error_code, job.error_message, await tracker.store.events(job.id))


async def test_cancel_during_the_submit_waits_for_the_task_id_then_cancels_it_upstream(run_tracker, simulator):
    simulator.config.update({"latency": 0.6})
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    await _wait_state(tracker, job.id, {JobState.SUBMITTED})
    canceled = await tracker.cancel(job.id)   # waits for the submit's answer: no paid task goes unseen
    assert canceled.state == JobState.CANCELED and canceled.task_id
    assert simulator.tasks[canceled.task_id].canceled_progress is not None


async def test_a_job_that_keeps_crashing_a_step_ends_failed_instead_of_holding_its_slot(run_tracker, recorder):
    tracker = await run_tracker(step_retry_seconds=0.05)
    broken = Job(id="jbroken000000001", request={"model": "wan2-6", "mode": "no-such-mode", "input": {}})
    await tracker.store.create_job(broken)
    await tracker.admit(await tracker.store.get_job(broken.id))
    job = await asyncio.wait_for(tracker.wait_for(broken.id), 10)
    assert job.state == JobState.FAILED and job.error_code == "internal_error"
    assert recorder.states(broken.id)[-1] == "failed"
