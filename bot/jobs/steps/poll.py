"""Poll: ask the gateway how a task stands, record it, and plan the next poll (soon, then towards the
expected finish, then backing off); learn how long tasks take."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

from bot.jobs import attachments, schedule
from bot.jobs.models import Job, JobState
from bot.jobs.steps.base import Steps
from bot.wan.errors import GatewayError, NotFound
from bot.wan.pricing import Bill, settle
from bot.wan.request import VideoRequest
from bot.wan.retry import backoff_delay
from bot.wan.task import Task, TaskStatus

log = logging.getLogger(__name__)


class PollStep(Steps):
    _expected: dict[tuple[str, int], list[float]]  # recent run seconds per (mode, duration)

    async def _poll(self, job: Job) -> None:
        over_limit = bool(job.submitted_at) and self.clock() - job.submitted_at > self.options.time_limit_seconds
        try:
            task = await self.client.get_task(job.task_id)
        except NotFound as exc:
            if self._gone_for_good(job):
                await self._end(job, JobState.EXPIRED, error_code="task_not_found",
                                error_message="the gateway no longer knows this task (task ids expire after 24 h)")
                return
            await self._poll_failed(job, exc, over_limit)
            return
        except GatewayError as exc:
            await self._poll_failed(job, exc, over_limit)
            return
        self._errors.pop(job.id, None)
        self._not_found_since.pop(job.id, None)
        if over_limit and not task.status.ended:
            # Checked after the poll: a task that finished while we were away (a restart, a long
            # gap between polls) is delivered, never failed for lateness.
            await self._fail_time_limit(job)
            return
        await self._apply_task(job, task)

    def _gone_for_good(self, job: Job) -> bool:
        """A 404 on a poll means expired only for a task past its expiry, or after 404s for longer than
        the grace (gateway-api.md): a younger task's 404 may be a proxy's page or a lagging replica."""
        now = self.clock()
        if job.submitted_at and now - job.submitted_at > self.options.task_expiry_seconds:
            return True
        # Memory only: after a restart the grace starts again, which errs on the side of the paid task.
        since = self._not_found_since.setdefault(job.id, now)
        return now - since > self.options.not_found_grace_seconds

    async def _poll_failed(self, job: Job, exc: GatewayError, over_limit: bool) -> None:
        if over_limit:
            await self._fail_time_limit(job)
            return
        # The task is alive and paid for upstream: a failed poll never fails the job.
        errors = self._errors[job.id] = self._errors.get(job.id, 0) + 1
        # Full jitter spreads many jobs' retries apart; Retry-After is a floor.
        delay = max(self.options.poll_min_interval, backoff_delay(errors - 1, retry_after=exc.retry_after))
        log.warning("poll failed; will poll again", extra={"job_id": job.id, "error": str(exc), "in_s": delay})
        await self._plan_poll(job, delay)

    async def _fail_time_limit(self, job: Job) -> None:
        minutes = self.options.time_limit_seconds / 60
        with contextlib.suppress(GatewayError):
            await self.client.cancel(job.task_id)
        await self._end(job, JobState.FAILED, error_code="time_limit",
                        error_message=f"the video did not finish within {minutes:g} minutes")

    async def _apply_task(self, job: Job, task: Task, *, first: bool = False) -> None:
        now = self.clock()
        progress = task.progress if task.progress is not None else job.progress
        changes = dict(poll_count=job.poll_count + (0 if first else 1), progress=progress,
                       request_id=task.request_id or job.request_id)
        status = task.status
        if first:
            # The job's clock (time limit, learned run time) starts when the gateway accepts the task,
            # not when the first try was sent: waits behind 429s are not the task's run time.
            changes["task_id"] = task.id
            changes["submitted_at"] = now
        if status == TaskStatus.UNRECOGNISED:
            log.warning("unknown upstream status; polling again", extra={"job_id": job.id,
                                                                       "raw_status": task.raw_status,
                                                                       "body": task.raw})
            status = TaskStatus.QUEUED if job.state in (JobState.SUBMITTED, JobState.QUEUED) else TaskStatus.RUNNING
        if first and status == TaskStatus.SUCCEEDED and not task.video_url:
            # The answer to a submit resent after a crash (same key) can say the task is done without
            # its details: poll it for the video URL and the billing instead of failing the job.
            status = TaskStatus.RUNNING
        if status.ended and job.cancel_requested:
            await self._end_canceled(job, task, status, now, changes)
            return
        if status == TaskStatus.QUEUED:
            self._note_progress(job.id, now, 0)
            # The next poll time is written with the poll's other changes: one store write per poll.
            changes["next_poll_at"] = await self._next_poll_at(replace(job, **changes))
            if job.state == JobState.SUBMITTED:
                job = await self.store.transition(job.id, JobState.QUEUED, expect=[JobState.SUBMITTED], **changes)
                await self._notify(job)
            else:
                job = await self.store.update(job.id, **changes)
            self._schedule(job.id, changes["next_poll_at"])
        elif status == TaskStatus.RUNNING:
            self._note_progress(job.id, now, task.progress)
            changes["next_poll_at"] = await self._next_poll_at(replace(job, **changes))
            if job.state != JobState.RUNNING:
                job = await self.store.transition(job.id, JobState.RUNNING, expect=list(JobState.IN_FLIGHT_UPSTREAM),
                                                  started_at=now, **changes)
                await self._notify(job)
            else:
                changed = progress != job.progress
                job = await self.store.update(job.id, **changes)
                if changed:
                    await self._notify(job)
            self._schedule(job.id, changes["next_poll_at"])
        elif status == TaskStatus.SUCCEEDED:
            bill = self._bill(job, task)
            extra = dict(job.extra)
            if bill.differs:
                extra["bill_differs"] = bill.differs
            if task.seed is not None:
                extra["seed_used"] = task.seed  # "Show API request" pins it for an unseeded run
            if extra != job.extra:
                changes["extra"] = extra
            job = await self.store.transition(
                job.id, JobState.SUCCEEDED, expect=list(JobState.IN_FLIGHT_UPSTREAM), video_url=task.video_url, progress=100,
                billed_seconds=bill.seconds, billed_cost_usd=bill.usd, finished_at=now,
                **{k: v for k, v in changes.items() if k != "progress"})
            self._learn(job)
            self._release(job.id)
            await self._notify(job)
            self._schedule(job.id, now)
        elif status == TaskStatus.FAILED:
            await self._end(job, JobState.FAILED, error_code=task.error_code or "task_failed",
                            error_message=task.error_message or "the gateway reported the task as failed",
                            billed_cost_usd=task.cost_usd, **changes)
        elif status == TaskStatus.CANCELED:
            await self._end(job, JobState.CANCELED, error_message="canceled upstream", **changes)
        elif status == TaskStatus.EXPIRED:
            await self._end(job, JobState.EXPIRED, error_code="task_expired",
                            error_message="the gateway says the task expired (task ids last 24 h)", **changes)

    def _bill(self, job: Job, task: Task) -> Bill:
        """A succeeded task's bill: the gateway's when its usage names one (>1 % off the estimate:
        logged, kept on the job), else the price table's."""
        # Pricing never looks at an attached image: its stub stands in, no 13 MB read.
        return settle(VideoRequest.model_validate(attachments.for_pricing(job.request)), self.options.pricing or self.options.price_per_second,
                      estimated_usd=job.estimated_cost_usd, billed_seconds=task.billed_seconds,
                      reported_usd=task.cost_usd, job_id=job.id)

    async def _end_canceled(self, job: Job, task: Task, status: TaskStatus, now: float, changes: dict) -> None:
        """A cancel the gateway could not carry out: the task has now ended upstream. Record its bill,
        post nothing, end the job canceled."""
        if status == TaskStatus.SUCCEEDED:
            bill = self._bill(job, task)
            billed_seconds, billed = bill.seconds, bill.usd
        else:
            billed_seconds, billed = None, task.cost_usd
        bill = f"was billed ${billed:.2f}" if billed else "was not billed"
        why = (job.extra.get("cancel_requested") or {}).get("why") or "the gateway could not stop it"
        await self._end(job, JobState.CANCELED, billed_seconds=billed_seconds,
                        billed_cost_usd=None if billed is None else round(billed, 4), finished_at=now,
                        error_message=f"canceled ({why}): the task ran on upstream, ended {status.value} and "
                                      f"{bill}; the video was not posted",
                        **{k: v for k, v in changes.items() if k != "progress"})

    async def _plan_poll(self, job: Job, delay: float | None = None) -> None:
        at = await self._next_poll_at(job, delay)
        await self.store.update(job.id, next_poll_at=at)
        self._schedule(job.id, at)

    async def _next_poll_at(self, job: Job, delay: float | None = None) -> float:
        if delay is None:
            elapsed = self.clock() - (job.submitted_at or self.clock())
            if job.poll_count == 0:
                delay = self.options.poll_min_interval
            else:
                delay = schedule.next_poll_delay(elapsed, await self._expected_for(job),
                                                 to_finish=self._seconds_to_finish(job.id),
                                                 min_interval=self.options.poll_min_interval,
                                                 max_interval=self.options.poll_max_interval,
                                                 progress_interval=self.options.poll_progress_interval)
        return self.clock() + delay

    def _note_progress(self, job_id: str, now: float, progress: int | None) -> None:
        self._paces.setdefault(job_id, schedule.Pace()).observe(now, progress)

    def _seconds_to_finish(self, job_id: str) -> float | None:
        pace = self._paces.get(job_id)
        return pace.seconds_to_finish() if pace else None

    async def _expected_for(self, job: Job) -> float:
        key = (job.mode, job.duration)
        if key not in self._expected:
            self._expected[key] = await self.store.recent_run_seconds(job.mode, job.duration)
        recent = self._expected[key]
        if not recent and self.options.first_guess_seconds is not None:
            return self.options.first_guess_seconds
        return schedule.expected_seconds(recent, job.duration)

    def _learn(self, job: Job) -> None:
        if job.submitted_at and job.finished_at:
            recent = self._expected.setdefault((job.mode, job.duration), [])
            recent.insert(0, job.finished_at - job.submitted_at)
            del recent[20:]
