"""Paid tasks must never be lost, doubled or failed while alive (issue 14), through the simulator
on loopback with scripted faults: exactly which call misbehaves, and how."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bot.jobs import tracker as tracker_module
from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore
from bot.jobs.tracker import new_job_id
from bot.sim import script
from bot.sim.script import Scripted
from tests.support.backends import allow_writes, refuse_writes, store_location, wanbot_db  # noqa: F401

from .conftest import t2v


async def test_one_404_on_a_poll_never_expires_a_young_paid_task(run_tracker, simulator, recorder):
    # A proxy's HTML 404 page (or a replica that has not seen the task yet) answers one poll.
    script.add(simulator.app, Scripted(on="poll", answer="404_html"))
    tracker = await run_tracker()
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert any(r.status == 404 for r in simulator.stats.requests), "the fault was injected"
    assert job.state == JobState.DELIVERED, job.error_message
    assert len(recorder.videos[job.id]) == 1 and simulator.stats.tasks_created == 1


async def test_404s_that_persist_past_the_grace_expire_the_job(run_tracker, simulator):
    script.add(simulator.app, Scripted(on="poll", answer="404", times=10_000))
    tracker = await run_tracker(not_found_grace_seconds=1.5)
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.EXPIRED and job.error_code == "task_not_found"
    not_found = [r.time for r in simulator.stats.requests if r.status == 404]
    assert len(not_found) >= 2 and not_found[-1] - not_found[0] >= 1.5 - 0.05


async def test_a_404_for_a_task_older_than_its_expiry_expires_it_at_once(run_tracker, simulator):
    simulator.config.update({"never_finish": True})
    script.add(simulator.app, Scripted(on="poll", answer="404", skip=2))
    tracker = await run_tracker(task_expiry_seconds=0.3)
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.EXPIRED and job.error_code == "task_not_found"
    assert len([r for r in simulator.stats.requests if r.status == 404]) == 1


def _submits(simulator, job_id):
    return simulator.stats.submits_by_key.get(job_id, 0)


@pytest.mark.parametrize("resend", ["500", "409", "429", "hang"])
async def test_an_unknown_submit_then_anything_but_a_task_leaves_the_job_unknown(run_tracker, simulator, resend):
    # The first submit creates (and bills) the task but answers after the client's timeout; the one
    # resend with the same key gets no task back. The task may be alive: never `failed`, never a third try.
    script.add(simulator.app, Scripted(on="submit", answer="late", seconds=1.5),
               Scripted(on="submit", answer=resend, times=20, seconds=0.2 if resend == "429" else 1.5))
    tracker = await run_tracker()
    tracker.client._http.timeout = httpx.Timeout(0.5)
    job = await tracker.enqueue(t2v())
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.UNKNOWN, (job.state, job.error_message)
    assert job.error_code == "submit_unknown" and "Idempotency-Key" in job.error_message
    assert _submits(simulator, job.id) == 2 and simulator.stats.tasks_created == 1
    await asyncio.sleep(0.5)  # and nothing comes back to submit it again
    assert _submits(simulator, job.id) == 2


@pytest.mark.parametrize("resend", ["500", "429"])
async def test_a_job_found_submitted_after_a_restart_stays_unknown_when_the_resend_gets_no_task(
        run_tracker, simulator, make_settings, resend):
    # A crash while the submit was on the wire: the one resend after the restart answers no task.
    store = await JobStore.open(make_settings().wanbot_db)
    job = Job(id=new_job_id(), request=t2v().body(), estimated_cost_usd=0.3)
    await store.create_job(job)
    await store.transition(job.id, JobState.SUBMITTED, submit_attempts=1, submitted_at=time.time())
    await store.close()
    script.add(simulator.app, Scripted(on="submit", answer=resend, times=20, seconds=0.2))
    tracker = await run_tracker()
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.UNKNOWN, (job.state, job.error_message)
    assert _submits(simulator, job.id) == 1


async def _until(predicate, timeout: float = 10.0):
    for _ in range(int(timeout / 0.02)):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met")


async def test_a_database_that_refuses_writes_for_a_while_never_takes_a_job_off_the_schedule(
        run_tracker, simulator, recorder, caplog):
    # A full disk for a while: every write fails, the step fails again and again (more often than a
    # bug would be allowed to). The job stays on the schedule; when writes work again the paid video
    # is delivered, never failed.
    simulator.config.update({"run_seconds": 1.0})
    tracker = await run_tracker(step_retry_seconds=0.05)
    job = await tracker.enqueue(t2v())

    async def has_task():
        return bool((await tracker.store.get_job(job.id)).task_id)
    await _until(has_task)
    await refuse_writes(tracker.store)  # like a full disk
    await asyncio.sleep(2.5)
    assert (await tracker.store.get_job(job.id)).state in (JobState.QUEUED, JobState.RUNNING)
    failed_steps = [r for r in caplog.records if r.getMessage() == "job step failed"]
    assert len(failed_steps) >= tracker_module.MAX_STEP_FAILURES + 1
    await allow_writes(tracker.store)
    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.DELIVERED, (job.state, job.error_message)
    assert len(recorder.videos[job.id]) == 1 and simulator.stats.tasks_created == 1


@pytest.mark.parametrize("fmt", ["openai", "dashscope"])
async def test_a_cancel_the_format_cannot_send_upstream_stops_the_delivery_not_the_bill(
        run_tracker, simulator, recorder, fmt):
    # These formats have no upstream cancel: the task renders on and is billed. The job is tracked to
    # its end to record the cost, counts toward the limits until then, and its video is never posted.
    simulator.config.update({"run_seconds": 1.5})
    tracker = await run_tracker(fmt=fmt)
    job = await tracker.enqueue(t2v(duration=3), user_id="U1")

    async def has_task():
        return bool((await tracker.store.get_job(job.id)).task_id)
    await _until(has_task)
    answered = await tracker.cancel(job.id, by="U1")
    assert answered.state in (JobState.QUEUED, JobState.RUNNING) and answered.cancel_requested
    assert await tracker.store.commitments("U1") == (1, answered.estimated_cost_usd)

    job = await asyncio.wait_for(tracker.wait_for(job.id), 30)
    assert job.state == JobState.CANCELED and job.cancel_requested
    assert job.billed_cost_usd == pytest.approx(3 * 0.06)  # the bill is recorded
    assert "billed" in job.error_message
    assert job.id not in recorder.videos  # the user said stop: nothing is posted
    assert (await tracker.store.spend(since=0, user_id="U1"))["billed_usd"] == pytest.approx(0.18)
    assert await tracker.store.commitments("U1") == (0, 0.0)


async def test_a_give_up_that_cannot_be_written_is_tried_again_not_dropped(run_tracker, recorder, caplog):
    # A job that crashes its step every time (a bug) while the database refuses writes: the give-up's
    # own write fails. The job stays on the schedule and ends failed once the write can be made.
    tracker = await run_tracker(step_retry_seconds=0.1)
    broken = Job(id="jbroken000000002", request={"model": "wan2-6", "mode": "no-such-mode", "input": {}})
    await tracker.store.create_job(broken)
    await tracker.admit(await tracker.store.get_job(broken.id))  # taken on (on PostgreSQL: claimed, a write)
    await refuse_writes(tracker.store)  # before its fifth failure gives up (1.5 s of retries)

    async def gave_up_and_failed():
        return any("giving up on the job failed too" in r.getMessage() for r in caplog.records)
    await _until(gave_up_and_failed)
    await allow_writes(tracker.store)
    job = await asyncio.wait_for(tracker.wait_for(broken.id), 15)
    assert job.state == JobState.FAILED and job.error_code == "internal_error"
    assert recorder.states(broken.id)[-1] == "failed"
