"""Deliver: download a succeeded job's video and hand it to the notifier, exactly once."""

from __future__ import annotations

import contextlib
import logging
import os

from bot.jobs import schedule
from bot.jobs.delivery import DeliveryError, VideoGone, download_video
from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.steps.base import Steps

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5


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
            outcome = await self.notifier.post_video(job, path)
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
        errors = self._errors[job.id] = self._errors.get(job.id, 0) + 1
        if retryable and errors < MAX_DELIVERY_ATTEMPTS:
            await self.store.update(job.id, delivery_state=DeliveryState.NONE)
            self._schedule(job.id, self.clock() + schedule.retry_delay(errors))
            return
        await self._end(job, JobState.FAILED, expect=[JobState.SUCCEEDED], error_code="delivery_failed",
                        error_message=reason, delivery_state=DeliveryState.NONE)
