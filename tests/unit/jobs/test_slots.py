"""The tracker's timetable: first come first served for upstream slots, no step run twice at once."""

from __future__ import annotations

from bot.jobs.slots import Slots


async def test_pending_jobs_take_free_slots_oldest_first_and_know_their_place():
    slots = Slots(max_in_flight=2)
    for job_id in ("a", "b", "c", "d"):
        slots.wait(job_id)
    slots.wait("a")  # admitting twice keeps one place
    assert [slots.waiting_position(j) for j in "abcd"] == [None, None, 1, 2]
    slots.admit(now=10.0)
    assert slots.upstream == {"a", "b"} and list(slots.pending) == ["c", "d"]
    assert slots.waiting_position("c") == 1
    slots.release("a")
    slots.admit(now=11.0)
    assert slots.upstream == {"b", "c"} and slots.waiting_position("d") == 1
    assert slots.take_due(now=11.0) == ["a", "b", "c"]  # each admitted job is due at once


async def test_a_job_due_while_its_step_runs_runs_again_after_it_not_alongside():
    slots = Slots(max_in_flight=1)
    slots.schedule("a", 5.0)
    assert slots.take_due(now=4.0) == [] and slots.seconds_to_next(4.0) == 1.0
    assert slots.take_due(now=5.0) == ["a"]
    slots.step_started("a")
    slots.schedule("a", 6.0)
    assert slots.take_due(now=7.0) == []
    slots.step_ended("a", now=8.0)
    assert slots.take_due(now=8.0) == ["a"]
