from bot.jobs.schedule import (
    Pace,
    default_expected_seconds,
    expected_seconds,
    next_poll_delay,
    retry_delay,
    seconds_to_finish,
)
from bot.wan.retry import backoff_delay, parse_retry_after


def _polls_until(finish: float, expected: float, first: float = 2.0) -> int:
    """How many polls the schedule makes for a task that ends `finish` seconds after submit."""
    t, polls = first, 1
    while t < finish:
        t += next_poll_delay(t, expected)
        polls += 1
    return polls


def test_schedule_polls_far_less_than_every_five_seconds():
    # A 90 s task whose duration was learned: every-5 s polling would take 18 polls.
    assert _polls_until(90, expected=90) <= 5
    # Even 50% slower than expected it stays well under fixed polling (27 polls).
    assert _polls_until(135, expected=90) <= 12


def test_first_guess_and_learning():
    assert expected_seconds([], 5) == default_expected_seconds(5)
    assert expected_seconds([10, 12, 50], 5) == 12


def test_overdue_polls_back_off_but_stay_bounded():
    delays = [next_poll_delay(e, 60) for e in (61, 100, 200, 10_000)]
    assert delays == sorted(delays)
    assert delays[-1] == 30.0


def test_backoff_doubles_with_full_jitter_and_honours_retry_after():
    assert [backoff_delay(a, rng=lambda: 1.0) for a in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(3, rng=lambda: 0.0) == 0.0          # full jitter reaches zero
    assert backoff_delay(0, retry_after=7, rng=lambda: 0.5) == 7
    assert retry_delay(1, retry_after=5) == 5
    assert parse_retry_after("3") == 3.0 and parse_retry_after("Wed, 21 Oct 2015") is None


def _follow(queue: float, run: float, expected: float) -> tuple[int, float]:
    """(polls, seconds from the task's end to the poll that saw it) for a task whose progress is
    floored like real gateways report it, polled as the tracker does (first poll at 2 s)."""
    end = queue + run
    t, polls, pace = 2.0, 0, Pace(not_started=0.0)  # the submit's answer said queued
    while True:
        polls += 1
        if t >= end:
            return polls, t - end
        pace.observe(t, 0 if t < queue else max(1, int(100 * (t - queue) / run)))
        t += next_poll_delay(t, expected, to_finish=pace.seconds_to_finish())


def test_progress_pace_finds_the_end_with_few_polls_and_little_delay():
    # Render times of the same request spread over minutes: the learned median (180 s) is far off for
    # most of them, but the task's own pace puts the poll just after its end.
    for run in (60, 97, 150, 180, 233, 300):
        polls, late = _follow(queue=5, run=run, expected=180)
        assert polls <= 7, (run, polls)                 # every 5 s would be 13-61 polls
        assert late <= 0.02 * run + 2.0, (run, late)    # within a poll interval of the end


def test_seconds_to_finish_needs_a_pace():
    assert seconds_to_finish((10, 20), (40, 50)) == 50.0
    assert seconds_to_finish((10, 20), (10, 20)) is None      # one reading
    assert seconds_to_finish((10, 50), (40, 50)) is None      # stalled
    assert seconds_to_finish((10, 20), (40, 100)) is None     # already done
    assert seconds_to_finish((0, 0), (2, 1)) is None          # 1 % is rounding, not a pace


def test_a_stalled_task_falls_back_to_the_backing_off_schedule():
    # Without a pace (e.g. stuck at 99 % while encoding) the overdue back-off applies, not 2 s polls.
    assert next_poll_delay(400, 180, to_finish=None) == 30.0
    assert next_poll_delay(100, 180, to_finish=500) == 60.0   # far away: still show progress each minute
    assert next_poll_delay(100, 180, to_finish=0.1) == 2.0    # never faster than the minimum


def test_a_long_queue_does_not_make_the_first_estimate_late():
    # Queued for 30 s, then a 60 s render: the first running reading alone would overestimate the
    # remaining time; looking again half-way keeps the detection close to the end.
    polls, late = _follow(queue=30, run=60, expected=180)
    assert polls <= 5 and late <= 3.0
