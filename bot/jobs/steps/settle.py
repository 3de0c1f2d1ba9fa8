"""Settle: a human ends the doubt about an `unknown` job (gateway-api.md: a submit whose outcome
stayed unknown "counts toward its user's budget and active jobs at its estimate until a human
settles it").

An admin looks the job up on the gateway's dashboard (its Idempotency-Key is the job id) and either
names the task it created, which the tracker then follows to its end as if the submit had answered
(billed, delivered once), or says no task was created, which ends the job failed and unbilled, so it
stops counting toward the limits.
"""

from __future__ import annotations

import logging

from bot.jobs.models import Job, JobState
from bot.jobs.steps.base import Steps
from bot.jobs.store import StaleTransition
from bot.wan.errors import GatewayError, NotFound

log = logging.getLogger(__name__)

NO_TASK_CODE = "settled_no_task"


class CannotSettle(Exception):
    pass


class SettleStep(Steps):
    async def settle(self, job_id: str, *, task_id: str | None, by: str | None = None) -> Job:
        """Attach the upstream task `task_id` to an unknown job, or (task_id None) end it unbilled."""
        job = await self.store.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.state != JobState.UNKNOWN:
            raise CannotSettle(f"job {job_id} is {job.state}, not unknown: only a job whose submit "
                               "stayed unknown needs settling")
        async with self._acting_on(job_id):
            if task_id is None:
                return await self._settle_without_task(job, by)
            return await self._settle_with_task(job, task_id, by)

    async def _settle_with_task(self, job: Job, task_id: str, by: str | None) -> Job:
        job_id = job.id
        try:
            # Ask the gateway first: a mistyped id must not become the job's task.
            task = await self.client.get_task(task_id)
        except NotFound:
            raise CannotSettle(f"the gateway does not know task {task_id}") from None
        except GatewayError as exc:
            raise CannotSettle(f"the gateway could not be asked about task {task_id} ({exc}); "
                               "try again") from None
        try:
            job = await self.store.transition(
                job_id, JobState.QUEUED, expect=[JobState.UNKNOWN], task_id=task.id, submitted_at=self.clock(),
                finished_at=None, error_code=None, error_message=None,
                detail={"settled_by": by, "task_id": task.id})
        except StaleTransition:
            raise CannotSettle(f"job {job_id} changed while settling; look again") from None
        log.info("unknown job settled with its task", extra={"job_id": job_id, "task_id": task.id, "by": by})
        self.slots.hold(job_id)
        await self._notify(job)
        await self._apply_task(job, task)  # from here on it is an ordinary job in flight
        return await self.store.get_job(job_id) or job

    async def _settle_without_task(self, job: Job, by: str | None) -> Job:
        try:
            job = await self.store.transition(
                job.id, JobState.FAILED, expect=[JobState.UNKNOWN], error_code=NO_TASK_CODE,
                error_message=f"settled by {by or 'an admin'}: the gateway created no task, nothing was billed",
                billed_cost_usd=0.0, detail={"settled_by": by, "task_id": None})
        except StaleTransition:
            raise CannotSettle(f"job {job.id} changed while settling; look again") from None
        log.info("unknown job settled: no upstream task", extra={"job_id": job.id, "by": by})
        await self._notify(job)
        self._finish(job)
        return job
