"""Plain data the Slack stand-in keeps: recorded calls, events, injected faults, ids and timestamps."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    """One Web API call as the stand-in saw it (the token is never recorded)."""

    method: str
    params: dict[str, Any]
    time: float
    response: dict[str, Any]
    status: int = 200


@dataclass
class Event:
    """Something the bot made visible in Slack, for a live view (`python -m bot dev`) or a test.

    kind: "message", "message_changed", "message_deleted", "ephemeral", "view_opened",
    "view_updated", "view_pushed", "file_shared", "response", "joined".
    """

    kind: str
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


@dataclass
class Fault:
    """An injected failure for one method (or the pseudo-methods "upload" and "download")."""

    error: str
    status: int = 200
    retry_after: int | None = None
    times: int | None = 1  # None: until cleared

    def take(self) -> bool:
        """Use one occurrence; False when it is used up."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


class SlackError(Exception):
    """Raised by a method handler: answered as {"ok": false, "error": code}."""

    def __init__(self, code: str, **extra: Any):
        super().__init__(code)
        self.code = code
        self.extra = extra


class Ids:
    """Slack-looking ids and strictly increasing message timestamps."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._last_ts = 0.0

    def make(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter):06d}{secrets.token_hex(2).upper()}"

    def ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"
