"""The one record model every reader produces (filled by bot.triage.rows and bot.triage.textfacts).

A record is one row or one line of evidence, whatever its origin (a new-api log row, a task
export row, a gateway query result, a LiteLLM spend row, a line of prose). Fields the source does
not carry stay None, so the rules can tell "zero" from "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bot.redact import redact

QUOTE_CHARS = 240

# new-api log types
TOPUP, CONSUME, MANAGE, SYSTEM, ERROR, REFUND = 1, 2, 3, 4, 5, 6

# Upstream status words -> the task model's statuses (gateway-api.md, "status mapping").
_STATUS = {
    "queued": ("pending", "queued", "submitted", "not_start", "in_queue", "waiting", "queuing"),
    "running": ("running", "in_progress", "processing", "generating"),
    "succeeded": ("succeeded", "completed", "success", "succeed"),
    "failed": ("failed", "fail", "failure", "error"),
    "canceled": ("canceled", "cancelled"),
    "expired": ("unknown", "expired"),
}
_STATUS_OF = {raw: status for status, raws in _STATUS.items() for raw in raws}

# Video and image model names (fnmatch patterns, matched lower-case).
MEDIA_MODEL_PATTERNS = (
    "wan*", "*-t2v*", "*-i2v*", "*-r2v*", "*t2v*", "*i2v*", "*video*", "*image*", "kling*", "sora*",
    "veo*", "*vace*", "*seedance*", "*hailuo*", "*runway*", "*luma*", "*pika*", "*vidu*",
    "*dall-e*", "*flux*", "*midjourney*", "mj_*", "*imagen*", "*seedream*", "*jimeng*",
)
CHAT_PATHS = ("/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages")


@dataclass(slots=True)
class Record:
    kind: str  # log | task | query | litellm | usage | request | error | text | prose | lookup
    line: int | None = None
    row_id: str | None = None
    quote: str = ""
    log_type: int | None = None
    model: str | None = None
    quota: float | None = None  # new-api quota units
    usd: float | None = None  # a charge already in USD (LiteLLM spend, usage.cost_usd)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    is_task: bool | None = None
    request_path: str | None = None
    task_id: str | None = None
    status: str | None = None  # one of the task model's statuses
    error: str | None = None
    refund: bool = False
    refund_quota: float | None = None
    created_at: float | None = None  # unix seconds
    api_type_error: bool = False
    billed_seconds: float | None = None
    chinese: bool = False  # prose in Chinese: the complaint's language
    username: str | None = None
    refund_usd: float | None = None  # a refund written as money (`＄0.800000 额度`, `3.2 USD`)
    refund_cny: float | None = None  # a refund written in yuan: its USD value is unknown here
    refund_failed: bool = False  # the gateway logged that returning the money failed
    adjustment: bool = False  # a settlement after the task (new-api RecalculateTaskQuota)
    prose: bool = False  # a line in the customer's words, not a line the gateway wrote
    lang: str | None = None  # the language of that prose: "zh" or "en"
    total_grew: bool = False  # "my total quota grew after the refund" (new-api #4211)

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @property
    def source(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row_id:
            parts.append(f"row {self.row_id}")
        return ", ".join(parts) or self.kind


def is_media_model(name: str | None, extra: tuple[str, ...] = ()) -> bool:
    if not name:
        return False
    low = name.lower().strip()
    return any(fnmatchcase(low, pattern) for pattern in MEDIA_MODEL_PATTERNS + extra)


def is_chat_path(path: str | None) -> bool:
    return bool(path) and any(p in path.lower() for p in CHAT_PATHS)


def status_of(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    return _STATUS_OF.get(raw.strip().lower().replace(" ", "_"))


def make_quote(text: str) -> str:
    """Redact first (so a cut can never expose part of a key), then squeeze and truncate."""
    text = " ".join(redact(text).split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"
