"""Deliver: download a succeeded job's video and hand it to the notifier, exactly once."""

from __future__ import annotations

import contextlib
import logging
import os
from urllib.parse import parse_qs, urlsplit

from bot.jobs import schedule
from bot.jobs.delivery import DeliveryError, VideoGone, download_video
from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.steps.base import Steps
from bot.jobs.store import LeaseLost

log = logging.getLogger(__name__)

LINK_AFTER_FAILURES = 5  # failed uploads in a row before the link is offered instead


class DeliverStep(Steps):
    async def _deliver(self, job: Job) -> None:
        if job.cancel_requested:  # canceled while its last poll ran: the bill is recorded, post nothing
            await self._end(job, JobState.CANCELED, expect=[JobState.SUCCEEDED],
                            error_message="canceled: the task ran on upstream and was billed; the video was not posted")
            return
        if job.delivery_state == DeliveryState.POSTING and await self._already_posted(job):
            await self._end(job, JobState.DELIVERED, expect=[JobState.SUCCEEDED], delivery_state=DeliveryState.POSTED)
            return
        if job.delivery_state == DeliveryState.NONE and not await self.store.claim_delivery(job.id):
            return
        if not job.video_url:
            await self._end(job, JobState.FAILED, expect=[JobState.SUCCEEDED], error_code="no_video_url",
                            error_message="the gateway said the task succeeded but gave no video URL",
                            delivery_state=DeliveryState.NONE)
            return
        path = None
        try:
            path = await download_video(job.video_url, max_bytes=self.options.max_video_bytes,
                                        time_limit=self.options.download_timeout,
                                        trusted_origin=self.options.trusted_origin,
                                        dest_dir=self.options.download_dir)
            await self.store.hold_lease(job.id)  # a replica that slept past its lease posts nothing
            outcome = await self.notifier.post_video(job, path)
        except LeaseLost:
            raise
        except VideoGone as exc:
            await self._end(job, JobState.EXPIRED, expect=[JobState.SUCCEEDED], error_code="video_expired",
                            error_message=exc.reason, delivery_state=DeliveryState.GONE)
            return
        except DeliveryError as exc:
            await self._delivery_problem(job, exc.reason, retryable=exc.retryable)
            return
        except Exception as exc:  # the notifier could not post (e.g. Slack down): nothing was half-posted
            log.warning("posting the video failed", extra={"job_id": job.id, "error": repr(exc)})
            await self._delivery_problem(job, f"posting the video failed: {exc}", retryable=True)
            return
        finally:
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        self._errors.pop(job.id, None)
        await self._end(job, JobState.DELIVERED, expect=[JobState.SUCCEEDED], delivery_state=outcome)

    async def _already_posted(self, job: Job) -> bool:
        """Did a crashed process finish posting? If the surface cannot tell (e.g. the bot lost access to
        the thread), post again: a second post beats a video never delivered."""
        try:
            return await self.notifier.video_already_posted(job)
        except Exception as exc:
            log.warning("cannot tell whether the video was posted; posting it", extra={"job_id": job.id,
                                                                                      "error": repr(exc)})
            return False

    async def _delivery_problem(self, job: Job, reason: str, *, retryable: bool) -> None:
        """The video could not be handed over. A paid video is never given up while its link lives:
        retry with capped backoff, offer the link after a few failed uploads, and end `expired` (not
        `failed`) when the link runs out first."""
        errors = self._errors[job.id] = self._errors.get(job.id, 0) + 1
        if not retryable:
            await self._end(job, JobState.FAILED, expect=[JobState.SUCCEEDED], error_code="delivery_failed",
                            error_message=reason, delivery_state=DeliveryState.NONE)
            return
        now = self.clock()
        expires = video_expires_at(job, self.options.video_link_seconds, now)
        if now >= expires:
            await self._end(job, JobState.EXPIRED, expect=[JobState.SUCCEEDED], error_code="video_expired",
                            error_message=f"the video link expired before it could be posted ({reason})",
                            delivery_state=DeliveryState.GONE)
            return
        if errors >= LINK_AFTER_FAILURES and await self._post_link_instead(job, reason):
            return
        await self.store.update(job.id, delivery_state=DeliveryState.NONE)
        delay = schedule.retry_delay(errors, cap=self.options.delivery_retry_cap) * self.options.delivery_retry_scale
        log.info("delivery will be retried", extra={"job_id": job.id, "attempt": errors, "in_s": delay})
        self._schedule(job.id, min(now + delay, expires))

    async def _post_link_instead(self, job: Job, reason: str) -> bool:
        await self.store.hold_lease(job.id)
        try:
            outcome = await self.notifier.post_link(job, reason)
        except LeaseLost:
            raise
        except NotImplementedError:
            return False
        except Exception as exc:  # the surface is down altogether: the next try starts with the upload
            log.warning("posting the link failed too", extra={"job_id": job.id, "error": repr(exc)})
            return False
        self._errors.pop(job.id, None)
        await self._end(job, JobState.DELIVERED, expect=[JobState.SUCCEEDED], delivery_state=outcome)
        return True


def video_expires_at(job: Job, link_seconds: float, now: float) -> float:
    """When the job's video link stops working: the URL's own `Expires=` (epoch seconds, as on
    DashScope's OSS links), else `link_seconds` after the task ended."""
    ended = job.finished_at or now
    try:
        values = parse_qs(urlsplit(job.video_url or "").query).get("Expires") or []
        stated = float(values[0]) if values else None
    except ValueError:
        stated = None
    if stated is not None and ended < stated < ended + 7 * 86400:  # a sane epoch, not a duration
        return min(stated, ended + link_seconds)
    return ended + link_seconds
