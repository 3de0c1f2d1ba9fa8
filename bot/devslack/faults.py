"""Injected faults for the Slack stand-in: failing calls, Slack-like rate limits, slow answers.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bot.devslack.base import StandInBase
from bot.devslack.state import Fault


class FaultsMixin(StandInBase):
    """fail / limit / slow a Web API method (or the upload and download URLs)."""

    def fail(
        self, method: str, error: str | None = None, status: int | None = None,
        retry_after: int | None = None, times: int | None = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail (None: until `clear_faults`).

        The error defaults to "ratelimited": HTTP 429 with Retry-After: 1. "internal_error" and
        "fatal_error" answer HTTP 500;
        other errors ("channel_not_found", "not_in_channel", "is_archived", ...) to 200 with ok=false.
        `method` "upload" makes the POST to the upload URL answer `status` (default 500, internal_error);
        "download" does the same for url_private.
        """
        if error is None:
            error = "internal_error" if method in ("upload", "download") else "ratelimited"
        if status is None:
            if error == "ratelimited":
                status = 429
            elif error in ("internal_error", "fatal_error") or method in ("upload", "download"):
                status = 500
            else:
                status = 200
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.setdefault(method, []).append(Fault(error, status, retry_after, times))

    def limit(self, method: str, calls: int, period: float = 60.0, per_channel: bool = False) -> None:
        """Enforce a rate limit like Slack's tiers: more than `calls` in `period` seconds answers 429
        with Retry-After until the window frees up (e.g. `limit("chat.update", 50)` for Tier 3;
        `limit("chat.postMessage", 1, 1.0, per_channel=True)` for its one-per-second-per-channel)."""
        self._limits[method] = (calls, period, per_channel)

    def _rate_limited(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait when `method` is over its limit, else None (and the call is counted)."""
        if method not in self._limits:
            return None
        calls, period, per_channel = self._limits[method]
        key = (method, str(params.get("channel") or params.get("channel_id") or "")) if per_channel else (method, "")
        now = time.monotonic()
        window = [t for t in self._windows.get(key, []) if now - t < period]
        self._windows[key] = window
        if len(window) >= calls:
            return max(1, math.ceil(period - (now - window[0])))
        window.append(now)
        return None

    def slow(self, method: str, seconds: float) -> None:
        """Delay every answer of `method` (0 removes the delay). "response_url": a message posted to a
        response_url is shown at once and answered after the delay (a bot killed meanwhile has sent it)."""
        self._delays[method] = seconds

    def clear_faults(self) -> None:
        """Remove injected faults, delays and rate limits."""
        self._faults.clear()
        self._delays.clear()
        self._limits.clear()
        self._windows.clear()
