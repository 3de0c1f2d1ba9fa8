"""The job record and its states. Pure data: the store persists it, the tracker moves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class JobState(StrEnum):
    PENDING = "pending"        # stored, not yet submitted (or waiting for a free upstream slot)
    SUBMITTED = "submitted"    # a submit request is on the wire (outcome unknown until answered)
    QUEUED = "queued"          # upstream accepted it: task id known
    RUNNING = "running"
    SUCCEEDED = "succeeded"    # video ready upstream, not yet delivered
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"        # submit outcome unknown after a retry with the same key: a human checks

    # State groups, one home each (filled in below the class: members do not exist inside its body).
    IN_FLIGHT_UPSTREAM: ClassVar[frozenset[JobState]]  # the gateway holds (or may hold) a task for it
    ACTIVE: ClassVar[frozenset[JobState]]              # not ended: the tracker still drives it
    TERMINAL: ClassVar[frozenset[JobState]]            # ended: nothing more happens to it
    COUNTED: ClassVar[frozenset[JobState]]             # counts toward per-user active jobs and budget

    @property
    def terminal(self) -> bool:
        return self in JobState.TERMINAL

    @property
    def in_flight_upstream(self) -> bool:
        """Counts against WAN_MAX_IN_FLIGHT."""
        return self in JobState.IN_FLIGHT_UPSTREAM

    @property
    def active(self) -> bool:
        return self in JobState.ACTIVE


JobState.IN_FLIGHT_UPSTREAM = frozenset({JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING})
# Pending, in flight upstream, or succeeded but not yet delivered.
JobState.ACTIVE = frozenset({JobState.PENDING, *JobState.IN_FLIGHT_UPSTREAM, JobState.SUCCEEDED})
JobState.TERMINAL = frozenset(JobState) - JobState.ACTIVE
# Active, or unknown: a task may be alive and billed until a human settles it (gateway-api.md).
JobState.COUNTED = JobState.ACTIVE | {JobState.UNKNOWN}
TERMINAL_STATES = JobState.TERMINAL  # the older name, still imported by the store and the metrics


class DeliveryState(StrEnum):
    NONE = "none"
    POSTING = "posting"      # written before the upload starts: a restart re-checks before posting again
    POSTED = "posted"        # the video (or its link) is in the thread
    LINK = "link"            # upload impossible; a link with its expiry was posted instead
    GONE = "gone"            # the video URL had expired or vanished


@dataclass
class Job:
    id: str
    request: dict[str, Any]            # the validated request's unified body (VideoRequest.body())
    state: JobState = JobState.PENDING
    origin: str = "cli"                # "cli" or "slack"
    user_id: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None       # thread the job lives in (for re-runs: the original card's thread)
    message_ts: str | None = None      # the job card's ts
    response_url: str | None = None
    task_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    next_poll_at: float | None = None
    poll_count: int = 0
    submit_attempts: int = 0
    progress: int | None = None
    estimated_cost_usd: float = 0.0
    billed_cost_usd: float | None = None
    billed_seconds: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    video_url: str | None = None
    delivery_state: DeliveryState = DeliveryState.NONE
    review_state: str | None = None    # approved / changes_requested
    reviewed_by: str | None = None
    reviewed_at: float | None = None
    review_note: str | None = None
    card_state: str | None = None      # the state the Slack card last showed (differs after a crash)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cancel_requested(self) -> bool:
        """Canceled by a user while its task could not be stopped upstream: it is tracked to its end
        (to record the bill), counts toward the limits until then, and its video is not posted."""
        return bool(self.extra.get("cancel_requested"))

    @property
    def mode(self) -> str:
        return self.request.get("mode", "")

    @property
    def duration(self) -> int:
        return int(self.request.get("input", {}).get("duration", 5))

    @property
    def prompt(self) -> str:
        inp = self.request.get("input", {})
        return inp.get("prompt") or inp.get("instruction") or ""
