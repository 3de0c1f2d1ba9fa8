"""The job state groups that limits, the scheduler and health checks rely on."""

from __future__ import annotations

from bot.jobs.models import Job, JobState
from bot.jobs.notifier import Notifier


def test_every_state_is_either_active_or_terminal_never_both():
    assert JobState.ACTIVE | JobState.TERMINAL == set(JobState)
    assert not JobState.ACTIVE & JobState.TERMINAL
    assert JobState.IN_FLIGHT_UPSTREAM == {JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING}
    # A finished video not yet delivered still counts for limits; an ended job does not.
    assert JobState.SUCCEEDED.active and JobState.PENDING.active and not JobState.PENDING.in_flight_upstream
    assert JobState.DELIVERED.terminal and not JobState.DELIVERED.active


def test_a_notifier_without_a_card_can_be_asked_to_refresh_it():
    Notifier().refresh(Job(id="j1", request={}))  # the default shows nothing and raises nothing


async def test_running_says_whether_the_scheduler_lives(run_tracker):
    tracker = await run_tracker()
    assert tracker.running
    await tracker.stop(grace=0.5)
    assert not tracker.running
