from bot.jobs.schedule import default_expected_seconds, expected_seconds, next_poll_delay, retry_delay
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
