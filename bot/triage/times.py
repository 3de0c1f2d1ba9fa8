"""Timestamps in every form triage meets: unix seconds or milliseconds (numbers or digit strings),
ISO 8601, local `YYYY-MM-DD HH:MM:SS` and new-api's logger form `2006/01/02 - 15:04:05`.

A time without a zone is read as UTC: exports and gateway logs are written in the server's time,
which is UTC in the deployments we know; the report prints UTC so staff can see what was assumed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_MIN, _MAX = 1e9, 1e11  # 2001 .. 5138 in seconds: anything else is not a timestamp
_LOGGER_RE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})\s*-?\s*(\d{2}:\d{2}(?::\d{2})?)")


def parse_time(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _unix(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.replace(".", "", 1).isdigit():
        return _unix(float(text))
    if m := _LOGGER_RE.match(text):
        text = f"{m.group(1)}-{m.group(2)}-{m.group(3)} {m.group(4)}"
    text = text.replace("/", "-")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _unix(n: float) -> float | None:
    if n > _MAX:
        n /= 1000  # milliseconds
    return n if _MIN <= n <= _MAX else None
