"""A row of the request inbox (`seen_requests`) as the replay after a crash reads it."""

from __future__ import annotations

import json
from typing import Any

ANSWERED_WITH = "answered_with"  # the refusal already given: replayed as it is, never judged anew


def unanswered(row: Any) -> dict[str, Any]:
    """The stored request, with the words it was answered with when a crash came before its `done`."""
    payload = json.loads(row["payload"] or "{}")
    if row["answer"] is not None:
        payload[ANSWERED_WITH] = row["answer"]
    return payload
