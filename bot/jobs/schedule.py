"""When to poll a task next. Pure functions: the tracker owns the clock.

Polling every few seconds wastes quota on the gateway; instead poll once soon after submit (fast
failures such as content-policy rejections show up at once), then in a few steps up to the expected
finish time learned from recent jobs of the same mode and duration, then back off.
"""

from __future__ import annotations

from statistics import median

DEFAULT_MIN_INTERVAL = 2.0
DEFAULT_MAX_INTERVAL = 30.0


def default_expected_seconds(duration: int) -> float:
    """A first guess before any job of this kind has finished: Wan takes minutes, not seconds."""
    return 30.0 + 12.0 * duration


def expected_seconds(recent: list[float], duration: int) -> float:
    return median(recent) if recent else default_expected_seconds(duration)


def next_poll_delay(elapsed: float, expected: float, *, min_interval: float = DEFAULT_MIN_INTERVAL,
                    max_interval: float = DEFAULT_MAX_INTERVAL) -> float:
    """Seconds until the next poll of a task submitted `elapsed` seconds ago."""
    if elapsed < expected:
        # Approach the expected finish in thirds, so progress still shows on long jobs.
        return max(min_interval, min(expected - elapsed, expected / 3))
    # Overdue: a tenth of the expected time plus half the overrun, within bounds.
    overdue = elapsed - expected
    return min(max_interval, max(min_interval, 0.1 * expected + 0.5 * overdue))


def retry_delay(consecutive_errors: int, *, retry_after: float | None = None, cap: float = 60.0) -> float:
    """Delay after a failed poll or delivery (no jitter needed: schedules already spread jobs)."""
    delay = min(cap, 2.0 ** max(0, consecutive_errors - 1))
    return max(delay, retry_after or 0.0)
