"""The tracker's knobs, read from the settings once, and the job id (also the Idempotency-Key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bot.jobs import schedule
from bot.redact import without_credentials


@dataclass
class TrackerOptions:
    max_in_flight: int = 20
    upstream_concurrency: int = 16      # simultaneous HTTP calls to the gateway
    delivery_concurrency: int = 4       # simultaneous video downloads/uploads
    poll_min_interval: float = schedule.DEFAULT_MIN_INTERVAL
    poll_max_interval: float = schedule.DEFAULT_MAX_INTERVAL
    poll_progress_interval: float = schedule.DEFAULT_PROGRESS_INTERVAL  # longest gap while progress moves
    time_limit_seconds: float = 30 * 60
    price_per_second: float = 0.06
    pricing: Any = None                 # bot.wan.pricing.Pricing (WAN_PRICES); None: price_per_second flat
    max_video_bytes: int = 1_000_000_000
    download_timeout: float = 300.0
    trusted_origin: str | None = None   # the gateway's own origin (videos there are trusted)
    download_dir: str | None = None
    origin: str | None = None           # resume only jobs of this origin ("cli" or "slack"); None: all
    only_jobs: frozenset[str] | None = None  # resume only these job ids (`generate`: its own); None: any
    first_guess_seconds: float | None = None  # expected run time before any job was learned (None: Wan's)
    # A poll's 404 expires a job only past the task's expiry or after 404s for this long (gateway-api.md).
    task_expiry_seconds: float = 24 * 3600
    not_found_grace_seconds: float = 10 * 60
    # A finished video that cannot be posted (Slack down) is retried, backing off up to the cap, until
    # its link expires: the URL's own Expires=, else this long after the task ended (gateway-api.md).
    video_link_seconds: float = 24 * 3600
    delivery_retry_cap: float = 120.0
    delivery_retry_scale: float = 1.0   # tests shrink the backoff
    step_retry_seconds: float = 30.0    # after an unexpected error in a step (a bug): try again this much later
    # Leases (bot/jobs/leases.py): this replica's id (None: host-pid) and how long a claim lasts unrenewed.
    replica_id: str | None = None
    lease_seconds: float = 30.0
    # Drive jobs under leases (several replicas on one database): None means on PostgreSQL. On
    # SQLite one process serves the file, and it drives every job of its origin, as it always has.
    leases: bool | None = None

    @classmethod
    def from_settings(cls, settings, **overrides) -> TrackerOptions:
        values = dict(
            max_in_flight=settings.wan_max_in_flight,
            time_limit_seconds=settings.wan_job_time_limit_minutes * 60,
            price_per_second=settings.wan_price_per_second,
            pricing=settings.pricing(),
            max_video_bytes=settings.wanbot_max_video_bytes,
            download_timeout=settings.wanbot_download_timeout_seconds,
            trusted_origin=without_credentials(settings.wan_api_base) if settings.wan_api_base else None,
            poll_min_interval=settings.wan_poll_min_seconds,
            first_guess_seconds=settings.wan_expected_seconds,
            replica_id=settings.wanbot_replica_id,
            lease_seconds=settings.wanbot_lease_seconds,
        )
        values.update(overrides)
        return cls(**values)


def new_job_id() -> str:
    """Short enough to type in `/wan status`, long enough never to collide; also the Idempotency-Key."""
    return "j" + uuid.uuid4().hex[:15]
