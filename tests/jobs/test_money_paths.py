"""Paid tasks must never be lost, doubled or failed while alive (issue 14), through the simulator
on loopback with scripted faults: exactly which call misbehaves, and how."""

from __future__ import annotations

import asyncio

from bot.jobs.models import JobState
from bot.sim import script
from bot.sim.script import Scripted
from tests.jobs.conftest import t2v


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
