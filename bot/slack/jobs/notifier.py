"""The jobs Notifier for Slack: the job card kept current, the video uploaded into its thread.

Card updates go through `CardUpdater` (coalesced, throttled). The video is uploaded with the external
upload flow (`upload.py`); under it a review message carries message metadata
`{"event_type": "wanbot_video", "event_payload": {"job_id": ...}}`, which is how a restarted
process finds out that a delivery it had started was in fact finished (exactly one video per job).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.notifier import Notifier
from bot.jobs.store import JobStore
from bot.slack.blocks.card import job_card, link_fallback_message, video_message
from bot.slack.jobs.card_updates import CardUpdater, workspace_bucket
from bot.slack.jobs.summaries import VariationSummaries
from bot.slack.metrics import Metrics
from bot.slack.web.posting import (
    INVITE_HINT,
    NotInChannel,
    post_message,
    respond_via,
    slack_error,
    tell_user,
    with_membership,
)
from bot.slack.web.upload import SLACK_FILE_LIMIT, UploadFailed, complete_upload, upload_bytes

log = logging.getLogger(__name__)

VIDEO_EVENT = "wanbot_video"
# Slack-side failures worth retrying later (the tracker retries a delivery that raises).
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
GONE = {"message_not_found", "channel_not_found", "is_archived", "thread_not_found"}
# In the job's extra: the Slack file id of its uploaded video, stored before the file is shared.
UPLOADED_FILE = "slack_file_id"


def _shared_in(file: dict[str, Any], channel_id: str | None) -> bool:
    """files.info's file lists `channel_id` among its shares (or its channels, groups or ims)."""
    listed = [*(file.get("channels") or []), *(file.get("groups") or []), *(file.get("ims") or [])]
    shares = file.get("shares") or {}
    return channel_id in listed or any(channel_id in (shares.get(kind) or {}) for kind in ("public", "private"))


def video_filename(job: Job) -> str:
    return f"wanbot-{job.id}.mp4"


def video_metadata(job: Job) -> dict[str, Any]:
    return {"event_type": VIDEO_EVENT, "event_payload": {"job_id": job.id}}


def expiry_hint(job: Job) -> str:
    """Gateways keep result links about 24 hours."""
    if not job.finished_at:
        return "expires about 24 hours after the video was made"
    until = datetime.fromtimestamp(job.finished_at + 24 * 3600, UTC)
    return f"expires about {until:%Y-%m-%d %H:%M} UTC (24 hours after the video was made)"


class SlackNotifier(Notifier):
    def __init__(self, client: AsyncWebClient, store: JobStore, metrics: Metrics, *,
                 upload_cap: int = SLACK_FILE_LIMIT, card_per_minute: float = 40, card_min_interval: float = 3.0,
                 card_tick_interval: float = 15.0, http: httpx.AsyncClient | None = None):
        self.client = client
        self.store = store
        self.metrics = metrics
        self.upload_cap = upload_cap
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0))
        # chat.update's budget is the workspace's: on PostgreSQL both updaters (and every replica)
        # spend from one row; a single SQLite process keeps its buckets in memory.
        self.cards = CardUpdater(self._send_card, per_minute=card_per_minute, min_interval=card_min_interval,
                                 tick_interval=card_tick_interval,
                                 bucket=workspace_bucket(store, client.token, card_per_minute))
        self.summaries = VariationSummaries(client, store, per_minute=card_per_minute, min_interval=card_min_interval,
                                            bucket=workspace_bucket(store, client.token, card_per_minute))
        # Posts a stored job's missing card (bot.slack.jobs.start.post_card, set by recovery.resume):
        # the job with its card, or None when it could not be posted and the job was removed.
        self.post_card: Callable[[Job], Awaitable[Job | None]] | None = None

    def start(self) -> None:
        self.cards.start()
        self.summaries.start()

    async def stop(self, grace: float = 3.0) -> None:
        await self.cards.stop(grace)
        await self.summaries.stop(grace)
        await self.http.aclose()

    # -- the card ------------------------------------------------------------------------------

    async def job_changed(self, job: Job, *, waiting_position: int | None = None) -> None:
        self.metrics.job_changes.labels(state=job.state.value).inc()
        self.refresh(job, waiting_position)

    def refresh(self, job: Job, waiting_position: int | None = None) -> None:
        """Re-render the card (e.g. after a review decision)."""
        if job.channel_id and job.message_ts:
            self.cards.submit(job, waiting_position)
        self.summaries.changed(job)  # a --variations job: its summary card too

    async def _send_card(self, job: Job, waiting_position: int | None) -> float | None:
        fresh = await self.store.get_job(job.id) or job  # render what is stored now, not a stale copy
        if fresh.state != JobState.PENDING:
            waiting_position = None
        text, blocks = job_card(fresh, now=time.time(), waiting_position=waiting_position)
        try:
            await self.client.chat_update(channel=fresh.channel_id, ts=fresh.message_ts, text=text, blocks=blocks)
            self.metrics.card_updates.inc()
            if fresh.card_state != fresh.state.value:
                await self.store.update(fresh.id, card_state=fresh.state.value)
            return None
        except SlackApiError as exc:
            error = slack_error(exc)
            self.metrics.slack_error("chat.update", error)
            if error == "ratelimited":
                return float(exc.response.headers.get("Retry-After", 5) if exc.response.headers else 5)
            log.warning("card update refused", extra={"job_id": job.id, "error": error})
            return None

    # -- the video -----------------------------------------------------------------------------

    async def post_video(self, job: Job, video: Path) -> DeliveryState:
        thread_ts = job.thread_ts or job.message_ts
        size = await asyncio.to_thread(os.path.getsize, video)
        if size > self.upload_cap:
            reason = f"the video is {size / 1e6:.0f} MB, over the {self.upload_cap / 1e6:.0f} MB upload limit"
            return await self._post_link(job, reason)
        try:
            await self._upload_once(job, video, thread_ts)
        except UploadFailed as exc:
            return await self._post_link(job, str(exc))
        except NotInChannel:
            return await self._post_link(job, "I'm not a member of this channel, so I can't upload here",
                                         invite=True)
        except SlackApiError as exc:
            error = slack_error(exc)
            self.metrics.slack_error(exc.response.api_url.rsplit("/", 1)[-1] if exc.response else "files", error)
            if error in TRANSIENT:
                raise
            return await self._post_link(job, f"Slack refused the upload ({error})")
        text, blocks = video_message(job)
        await post_message(self.client, job.channel_id, thread_ts=thread_ts, text=text, blocks=blocks,
                           metadata=video_metadata(job))
        self._delivered(job)
        return DeliveryState.POSTED

    async def _upload_once(self, job: Job, video: Path, thread_ts: str | None) -> None:
        """Upload the video and share it into the thread, one file per job across crashes.

        The file id is stored before files.completeUploadExternal is called: a process killed while
        that call is on the wire (or whose review message then failed) comes back to the same file
        instead of uploading a second one. Slack shares the file some time after the call, so a
        restart may not see the share in the thread yet; files.info says whether it happened."""
        stored = await self.store.get_job(job.id) or job
        file_id = stored.extra.get(UPLOADED_FILE)
        if file_id and await self._shared_already(job, file_id, thread_ts):
            return
        file_id = await upload_bytes(self.client, self.http, video, filename=video_filename(job))
        await self.store.update(job.id, extra={**stored.extra, UPLOADED_FILE: file_id})
        await self._complete(job, file_id, thread_ts)

    async def _complete(self, job: Job, file_id: str, thread_ts: str | None) -> None:
        await with_membership(self.client, job.channel_id, lambda: complete_upload(
            self.client, file_id, title=f"Wan video · job {job.id}", channel_id=job.channel_id,
            thread_ts=thread_ts))

    async def _shared_already(self, job: Job, file_id: str, thread_ts: str | None) -> bool:
        """The job's stored upload: True when it is (or now is) shared into the job's channel; False
        when Slack no longer has it (the bytes never arrived, or it was deleted): upload anew."""
        try:
            file = (await self.client.files_info(file=file_id))["file"]
        except SlackApiError as exc:
            if slack_error(exc) == "file_not_found":
                return False
            raise
        if _shared_in(file, job.channel_id):
            return True
        try:  # not shared yet: the completion never reached Slack, or its share is still on the way
            await self._complete(job, file_id, thread_ts)
        except SlackApiError as exc:
            if slack_error(exc) != "file_not_found":
                raise
            # Slack has the file but takes no second completion for it: the first one went through
            # and its share is on the way.
            log.info("the upload was completed before a restart; its share is on the way",
                     extra={"job_id": job.id})
        return True

    async def post_link(self, job: Job, reason: str) -> DeliveryState:
        return await self._post_link(job, reason)

    async def _post_link(self, job: Job, reason: str, *, invite: bool = False) -> DeliveryState:
        """The upload is impossible: post the link and its expiry instead (or tell the requester)."""
        log.info("posting a link instead of the video", extra={"job_id": job.id, "reason": reason})
        text, blocks = link_fallback_message(job, reason, expiry_hint(job))
        try:
            await post_message(self.client, job.channel_id, thread_ts=job.thread_ts or job.message_ts,
                               text=text, blocks=blocks, metadata=video_metadata(job))
            posted = True
        except NotInChannel:
            posted = False
        if invite or not posted:
            await tell_user(self.client, user_id=job.user_id, channel_id=job.channel_id,
                            text=f"{INVITE_HINT}\n{blocks[0]['text']['text']}", respond=respond_via(job.response_url))
        self._delivered(job)
        return DeliveryState.LINK

    def _delivered(self, job: Job) -> None:
        if job.finished_at:
            self.metrics.delivery_seconds.observe(max(0.0, time.time() - job.finished_at))

    async def taken_over(self, job: Job) -> Job | None:
        """A pending Slack job whose replica died before posting its card: post it now, before the
        job is submitted (as a restart does on one process; bot/slack/recovery.py sets `post_card`)."""
        if job.state == JobState.PENDING and job.message_ts is None and job.channel_id and self.post_card:
            return await self.post_card(job)
        return job

    async def video_already_posted(self, job: Job) -> bool:
        """Look in the card's thread for this job's video message (or its uploaded file)."""
        thread_ts = job.thread_ts or job.message_ts
        if not (job.channel_id and thread_ts):
            return False
        file_seen = False
        cursor = None
        for _ in range(20):  # 20 pages of 200 replies: far beyond any real thread
            try:
                answer = await self.client.conversations_replies(channel=job.channel_id, ts=thread_ts, limit=200,
                                                                 include_all_metadata=True, cursor=cursor)
            except SlackApiError as exc:
                if slack_error(exc) in GONE:
                    return False
                raise
            for message in answer.get("messages", []):
                meta = message.get("metadata") or {}
                if meta.get("event_type") == VIDEO_EVENT and (meta.get("event_payload") or {}).get("job_id") == job.id:
                    return True
                if any(f.get("name") == video_filename(job) for f in message.get("files") or []):
                    file_seen = True
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not answer.get("has_more") or not cursor:
                break
        if file_seen:
            # The upload finished but its review message did not: post just the message.
            text, blocks = video_message(job)
            await post_message(self.client, job.channel_id, thread_ts=thread_ts, text=text, blocks=blocks,
                               metadata=video_metadata(job))
            return True
        return False
