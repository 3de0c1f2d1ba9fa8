"""When to poll a task next. Pure functions: the tracker owns the clock.

Polling every few seconds wastes quota on the gateway; instead poll once soon after submit (fast
failures such as content-policy rejections show up at once), then in a few steps up to the expected
finish time learned from recent jobs of the same mode and duration, then back off.

Once two polls of a running task report different progress, the finish is extrapolated from them and
the next poll lands there (at most `progress_interval` away, so the card's progress still moves):
render times for the same request vary by minutes, and only the task's own progress says when it
will end. Formats without progress (DashScope) keep the learned-time schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

DEFAULT_MIN_INTERVAL = 2.0
DEFAULT_MAX_INTERVAL = 30.0
DEFAULT_PROGRESS_INTERVAL = 60.0

MIN_PACE_SPAN = 5  # percentage points between two readings before their pace is trusted

Reading = tuple[float, int]  # (time, progress %) of one poll


def default_expected_seconds(duration: int) -> float:
    """A first guess before any job of this kind has finished: Wan takes minutes, not seconds."""
    return 30.0 + 12.0 * duration


def expected_seconds(recent: list[float], duration: int) -> float:
    return median(recent) if recent else default_expected_seconds(duration)


def seconds_to_finish(first: Reading, last: Reading) -> float | None:
    """Seconds from the `last` reading until the task reaches 100 %, assuming it keeps the pace it had
    between the two readings; None when they show no usable pace: too little progress between them
    (percentages are whole numbers, so 0 -> 1 % says almost nothing), or a bad pair."""
    (t0, p0), (t1, p1) = first, last
    if t1 <= t0 or not 0 <= p0 < p1 < 100 or p1 - p0 < MIN_PACE_SPAN:
        return None
    return (100 - p1) * (t1 - t0) / (p1 - p0)


@dataclass(slots=True)
class Pace:
    """What one task's progress readings say about when it will finish."""

    not_started: float | None = None  # last time it was seen at 0 % (queued, or not begun)
    first: Reading | None = None      # first reading above 0 %
    last: Reading | None = None
    advancing: bool = False           # did the latest reading move?

    def observe(self, at: float, progress: int | None) -> None:
        if progress is None:
            return
        if progress <= 0:
            if self.first is None:
                self.not_started = at
            return
        self.advancing = self.last is None or progress > self.last[1]
        self.first = self.first or (at, progress)
        self.last = (at, progress)

    def seconds_to_finish(self) -> float | None:
        if self.last is None or not self.advancing:
            return None  # no reading yet, or stalled (e.g. 99 % while encoding): no pace to trust
        estimate = seconds_to_finish(self.first, self.last)
        if estimate is None and self.not_started is not None:
            # Too few readings above 0 %: the task began after it was last seen at 0 %, so this pace
            # is the slowest it can have and the estimate the latest it can end. Look again half-way
            # there: a long queue makes that bound loose, and the next reading gives the real pace.
            bound = seconds_to_finish((self.not_started, 0), self.last)
            estimate = None if bound is None else 0.5 * bound
        return estimate


def next_poll_delay(elapsed: float, expected: float, *, to_finish: float | None = None,
                    min_interval: float = DEFAULT_MIN_INTERVAL, max_interval: float = DEFAULT_MAX_INTERVAL,
                    progress_interval: float = DEFAULT_PROGRESS_INTERVAL) -> float:
    """Seconds until the next poll of a task submitted `elapsed` seconds ago; `to_finish` is the
    estimate from the task's progress, when there is one."""
    if to_finish is not None:
        return min(progress_interval, max(min_interval, to_finish))
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
