"""Keeps each `--variations` summary card current: any change of one of its jobs re-renders it, through
the same coalescing, rate-limited updater as the job cards (chat.update is Tier 3)."""

from __future__ import annotations

import logging
from dataclasses import replace

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs.models import Job
from bot.jobs.store import JobStore
from bot.slack.blocks.variations import summary_card
from bot.slack.jobs.card_updates import Bucket, CardUpdater
from bot.slack.web.posting import slack_error

log = logging.getLogger(__name__)


def group_of(job: Job) -> dict | None:
    """The job's variation group (`extra["variation"]`): summary_ts, channel, count, total, ids."""
    group = job.extra.get("variation")
    return group if isinstance(group, dict) and group.get("summary_ts") else None


async def render_summary(store: JobStore, group: dict) -> tuple[str, list[dict]]:
    jobs = [job for job_id in group.get("ids") or [] if (job := await store.get_job(job_id)) is not None]
    return summary_card(jobs, count=int(group.get("count") or len(jobs)),
                        total_estimate=float(group.get("total") or 0.0))


class VariationSummaries:
    def __init__(self, client: AsyncWebClient, store: JobStore, *, per_minute: float = 40,
                 min_interval: float = 3.0, bucket: Bucket | None = None):
        self.client = client
        self.store = store
        self.cards = CardUpdater(self._send, per_minute=per_minute, min_interval=min_interval, tick_interval=0,
                                 bucket=bucket)

    def start(self) -> None:
        self.cards.start()

    async def stop(self, grace: float = 3.0) -> None:
        await self.cards.stop(grace)

    def changed(self, job: Job) -> None:
        group = group_of(job)
        if group is not None:
            # One pending render per summary, whichever of its jobs changed.
            self.cards.submit(replace(job, id=f"summary:{group['channel']}:{group['summary_ts']}"))

    async def _send(self, job: Job, _waiting: int | None) -> float | None:
        ids = (group_of(job) or {}).get("ids") or []
        fresh = (await self.store.get_job(ids[0]) if ids else None) or job  # the stored group is the newest
        group = group_of(fresh) or group_of(job)
        if group is None:
            return None
        text, blocks = await render_summary(self.store, group)
        try:
            await self.client.chat_update(channel=group["channel"], ts=group["summary_ts"], text=text, blocks=blocks)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error == "ratelimited":
                return float(exc.response.headers.get("Retry-After", 5) if exc.response.headers else 5)
            log.warning("variations summary update refused", extra={"error": error})
        return None
