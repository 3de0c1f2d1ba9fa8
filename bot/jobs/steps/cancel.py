"""Cancel: stop a job on the user's word, canceling its upstream task where the format can."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.jobs.models import Job, JobState
from bot.jobs.steps.base import Steps
from bot.jobs.store import StaleTransition
from bot.wan.errors import GatewayError

log = logging.getLogger(__name__)


class CannotCancel(Exception):
    pass


class CancelStep(Steps):
    async def cancel(self, job_id: str, *, by: str | None = None) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.state.terminal:
            raise CannotCancel(f"job {job_id} has already ended ({job.state})")
        if job.state == JobState.SUCCEEDED:
            raise CannotCancel(f"job {job_id} has finished; its video is being delivered")
        if job.state == JobState.SUBMITTED:
            # The task id is not known yet: canceling now would leave a paid task running unseen.
            # Wait for the submit's answer (it is on the wire), then cancel the task it created.
            job = await self._wait_while_submitting(job)
            if job.state.terminal:
                raise CannotCancel(f"job {job_id} has already ended ({job.state})")
            if job.state == JobState.SUBMITTED:
                raise CannotCancel(f"job {job_id} is being submitted right now; try again in a few seconds")
        if job.cancel_requested:
            return job  # asked before: the task is being tracked to its end
        async with self._acting_on(job_id):
            return await self._cancel(job, by=by)

    async def _cancel(self, job: Job, *, by: str | None) -> Job:
        job_id = job.id
        upstream_canceled, note = False, None
        if job.task_id:
            try:
                upstream_canceled = await self.client.cancel(job.task_id)
                if not upstream_canceled:
                    note = "the gateway has no cancel for this format"
            except GatewayError as exc:
                log.warning("upstream cancel failed", extra={"job_id": job_id, "error": str(exc)})
                note = f"the gateway's cancel failed ({exc})"
        if job.task_id and not upstream_canceled:
            return await self._cancel_when_it_ends(job, by=by, note=note)
        try:
            job = await self.store.transition(
                job_id, JobState.CANCELED, expect=[JobState.PENDING, JobState.QUEUED, JobState.RUNNING],
                extra={**job.extra, "canceled_by": by} if by else job.extra,
                detail={"by": by, "upstream_canceled": upstream_canceled})
        except StaleTransition:
            raise CannotCancel(f"job {job_id} changed state while canceling; try again") from None
        self._release(job_id)
        await self._notify(job)
        self._finish(job)
        return job

    async def _cancel_when_it_ends(self, job: Job, *, by: str | None, note: str | None) -> Job:
        """The task renders on and is billed: stop the delivery, not the tracking. The job keeps its
        state (so it counts toward the limits) until the task ends; then it ends canceled, billed."""
        extra = {**job.extra, "cancel_requested": {"by": by, "at": self.clock(), "why": note}}
        job = await self.store.update(job.id, extra=extra)
        log.info("cancel requested; the task runs on upstream", extra={"job_id": job.id, "reason": note})
        # The cancel may have failed because the task just ended (a 409): look once, so that the
        # answer says what happened instead of waiting for the next scheduled poll.
        with contextlib.suppress(GatewayError, StaleTransition):
            task = await self.client.get_task(job.task_id)
            if task.status.ended:
                await self._apply_task(job, task)
                return await self.store.get_job(job.id) or job
        await self._notify(job)
        return job

    async def _wait_while_submitting(self, job: Job, limit: float = 15.0) -> Job:
        deadline = self.clock() + limit
        while job.state == JobState.SUBMITTED and self.clock() < deadline:
            await asyncio.sleep(0.1)
            job = await self.store.get_job(job.id)
        return job
