"""Numbers from the gateway, parsed defensively (a gateway is not trusted to send sane values).

A 400-digit integer, NaN, infinity or a negative cost never raises and never reaches a job: a value
out of range is logged and ignored, and the caller falls back (the price table bills the job).
Pure functions; the only side effect is the warning log line.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

log = logging.getLogger(__name__)

# What a gateway's numbers may be; anything outside is logged and ignored (never fails a job, never
# negative or infinite spend). A task bills a 2-15 s video: an hour or $1000 is already absurd.
MAX_BILLED_SECONDS = 3600.0
MAX_COST_USD = 1000.0
# Progress a little outside 0-100 (101, -1) is clamped; beyond this it is garbage, logged and ignored.
PROGRESS_SANE = (-100.0, 1000.0)
_NUMERIC_TEXT = re.compile(r"^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf(inity)?|nan)$", re.IGNORECASE)


def _finite(value: Any) -> float | None:
    """A finite float from a JSON number or numeric text; None for anything else (bool, NaN, +-inf, a
    400-digit integer that float() cannot hold)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _ignored(field: str, value: Any) -> None:
    log.warning("ignored an out of range number from the gateway", extra={"field": field,
                                                                           "value": repr(value)[:40]})


def parse_progress(value: Any) -> int | None:
    """Percent 0-100 from 30, 30.4, "30", "30%"; a number strictly between 0 and 1 is a fraction (0.3 -> 30).
    A little out of range is clamped; non-finite or unrepresentable values are logged and ignored."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        fraction_allowed = not value.strip().endswith("%")
    elif isinstance(value, (int, float)):
        text, fraction_allowed = value, True
    else:
        return None
    number = _finite(text)
    if number is None or not PROGRESS_SANE[0] <= number <= PROGRESS_SANE[1]:
        if number is not None or isinstance(value, (int, float)) or _looks_numeric(str(text)):
            _ignored("progress", value)
        return None
    if fraction_allowed and 0 < number < 1:
        number *= 100
    return max(0, min(100, round(number)))


def _looks_numeric(text: str) -> bool:
    return bool(_NUMERIC_TEXT.match(text.strip()))


def parse_amount(value: Any, field: str, high: float) -> float | None:
    """A billed amount in [0, high]; None when absent; logged and ignored when out of range."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    number = _finite(value)
    if number is None and isinstance(value, str) and not _looks_numeric(value):
        return None  # not a number at all ("n/a"): absent, as before
    if number is None or not 0 <= number <= high:
        _ignored(field, value)
        return None
    return number
