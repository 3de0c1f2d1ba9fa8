"""Retry timing, pure so it can be tested alone (gateway-api.md, "Errors and what the client does")."""

from __future__ import annotations

import random
from collections.abc import Callable

BACKOFF_CAP_SECONDS = 60.0


def backoff_delay(attempt: int, *, retry_after: float | None = None, cap: float = BACKOFF_CAP_SECONDS,
                  rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: attempt 0 waits up to 1 s, then 2 s, 4 s, ... capped.

    A Retry-After from the server is a floor: we never come back before it says we may.
    """
    ceiling = min(cap, 2.0 ** max(0, attempt))
    delay = rng() * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (HTTP dates are not used by gateways we know; treat them as absent)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, min(seconds, 3600.0))
