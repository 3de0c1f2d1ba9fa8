"""Cancel: stop a job on the user's word, canceling its upstream task where the format can."""

from __future__ import annotations

import asyncio
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
        upstream_canceled, note = False, None
        if job.task_id:
            try:
                upstream_canceled = await self.client.cancel(job.task_id)
                if not upstream_canceled:
                    note = "the gateway has no cancel for this format: the task may still run and be billed upstream"
            except GatewayError as exc:
                log.warning("upstream cancel failed", extra={"job_id": job_id, "error": str(exc)})
                note = f"the gateway's cancel failed ({exc}): the task may still run and be billed upstream"
        try:
            job = await self.store.transition(
                job_id, JobState.CANCELED, expect=[JobState.PENDING, JobState.QUEUED, JobState.RUNNING],
                error_message=note, detail={"by": by, "upstream_canceled": upstream_canceled})
        except StaleTransition:
            raise CannotCancel(f"job {job_id} changed state while canceling; try again") from None
        self._release(job_id)
        await self._notify(job)
        self._finish(job)
        return job

    async def _wait_while_submitting(self, job: Job, limit: float = 15.0) -> Job:
        deadline = self.clock() + limit
        while job.state == JobState.SUBMITTED and self.clock() < deadline:
            await asyncio.sleep(0.1)
            job = await self.store.get_job(job.id)
        return job
