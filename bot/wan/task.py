"""One task model for every wire format (gateway-api.md, "One task model")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    # An upstream status this bot does not know: logged with the raw body and polled again.
    UNRECOGNISED = "unrecognised"

    @property
    def ended(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.EXPIRED)


@dataclass
class Task:
    id: str
    status: TaskStatus
    raw_status: str | None = None
    progress: int | None = None  # 0-100
    video_url: str | None = None
    billed_seconds: float | None = None
    cost_usd: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    seed: int | None = None  # the seed the upstream used, when its answer says (an unseeded run's too)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
