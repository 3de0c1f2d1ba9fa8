"""The job tracker: one scheduler that submits, polls and delivers every job, durably.

Every transition is written to the store before the side effect that depends on it, so a process
killed at any point resumes correctly: `start()` picks up each unfinished job where it stood.

- pending:   waits for a free upstream slot (WAN_MAX_IN_FLIGHT), first come first served, then submits
- submitted: a submit was on the wire when the process died: resend with the same Idempotency-Key
- queued/running: polled on a schedule (soon, then towards the expected finish, then backing off)
- succeeded: the video is downloaded and handed to the notifier, exactly once
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.aio import wait_event
from bot.jobs import schedule
from bot.jobs.delivery import DeliveryError, VideoGone, download_video
from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.notifier import Notifier
from bot.jobs.store import JobStore, StaleTransition
from bot.wan.client import GatewayClient
from bot.wan.errors import BadRequest, GatewayError, NotFound, RateLimited, SubmitOutcomeUnknown
from bot.wan.request import VideoRequest, estimate_cost_usd
from bot.wan.retry import backoff_delay
from bot.wan.task import Task, TaskStatus

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5
MAX_STEP_FAILURES = 5


class CannotCancel(Exception):
    pass


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
    max_video_bytes: int = 1_000_000_000
    download_timeout: float = 300.0
    trusted_origin: str | None = None   # the gateway's own origin (videos there are trusted)
    download_dir: str | None = None
    origin: str | None = None           # resume only jobs of this origin ("cli" or "slack"); None: all
    first_guess_seconds: float | None = None  # expected run time before any job was learned (None: Wan's)
    step_retry_seconds: float = 30.0    # after an unexpected error in a step (a bug): try again this much later

    @classmethod
    def from_settings(cls, settings, **overrides) -> TrackerOptions:
        values = dict(
            max_in_flight=settings.wan_max_in_flight,
            time_limit_seconds=settings.wan_job_time_limit_minutes * 60,
            price_per_second=settings.wan_price_per_second,
            max_video_bytes=settings.wanbot_max_video_bytes,
            download_timeout=settings.wanbot_download_timeout_seconds,
            trusted_origin=settings.wan_api_base,
            poll_min_interval=settings.wan_poll_min_seconds,
            first_guess_seconds=settings.wan_expected_seconds,
        )
        values.update(overrides)
        return cls(**values)


def new_job_id() -> str:
    """Short enough to type in `/wan status`, long enough never to collide; also the Idempotency-Key."""
    return "j" + uuid.uuid4().hex[:15]


class Tracker:
    def __init__(self, store: JobStore, client: GatewayClient, notifier: Notifier,
                 options: TrackerOptions | None = None, *, clock: Callable[[], float] = time.time):
        self.store = store
        self.client = client
        self.notifier = notifier
        self.options = options or TrackerOptions()
        self.clock = clock
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._pending: deque[str] = deque()      # FIFO of job ids waiting for an upstream slot
        self._upstream: set[str] = set()         # job ids holding an upstream slot
        self._busy: set[str] = set()             # job ids with a step running now
        self._deferred: set[str] = set()         # came due while busy: run again when the step ends
        self._errors: dict[str, int] = {}        # consecutive poll/delivery errors per job
        self._step_failures: dict[str, int] = {}  # consecutive unexpected exceptions per job
        self._expected: dict[tuple[str, int], list[float]] = {}
        # Per job in flight: its progress readings (memory only: after a restart fresh polls rebuild it).
        self._paces: dict[str, schedule.Pace] = {}
        self._tasks: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._done: dict[str, asyncio.Event] = {}
        self._upstream_gate = asyncio.Semaphore(self.options.upstream_concurrency)
        self._delivery_gate = asyncio.Semaphore(self.options.delivery_concurrency)
        self._loop_task: asyncio.Task | None = None
        self._accepting = False

    @property
    def running(self) -> bool:
        """The scheduler loop is alive (for health checks)."""
        return self._loop_task is not None and not self._loop_task.done()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> int:
        """Resume every unfinished job, then run the scheduler. Returns how many were resumed."""
        jobs = await self.store.unfinished_jobs(self.options.origin)
        for job in jobs:
            self._adopt(job)
        self._accepting = True
        self._loop_task = asyncio.create_task(self._run(), name="tracker")
        if jobs:
            log.info("resumed unfinished jobs", extra={"count": len(jobs)})
        return len(jobs)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work, let in-flight steps finish within `grace`, leave the rest resumable."""
        self._accepting = False
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            _, still_running = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.wait(still_running, timeout=2)

    def _adopt(self, job: Job) -> None:
        if job.state == JobState.PENDING:
            self._pending.append(job.id)
        elif job.state.in_flight_upstream:
            self._upstream.add(job.id)
            self._schedule(job.id, job.next_poll_at or self.clock())
        elif job.state == JobState.SUCCEEDED:
            self._schedule(job.id, self.clock())

    # -- public API -------------------------------------------------------------------------

    async def enqueue(self, request: VideoRequest, *, origin: str = "cli", user_id: str | None = None,
                      channel_id: str | None = None, thread_ts: str | None = None,
                      message_ts: str | None = None, response_url: str | None = None,
                      job_id: str | None = None, extra: dict | None = None) -> Job:
        """Store a new job (pending, with its cost estimate) and wake the scheduler."""
        if not self._accepting:
            raise RuntimeError("the tracker is shutting down and takes no new jobs")
        job = Job(id=job_id or new_job_id(), request=request.body(), origin=origin, user_id=user_id,
                  channel_id=channel_id, thread_ts=thread_ts, message_ts=message_ts, response_url=response_url,
                  estimated_cost_usd=estimate_cost_usd(request, self.options.price_per_second),
                  extra=extra or {})
        await self.store.create_job(job)
        await self.admit(job)
        return job

    async def admit(self, job: Job) -> None:
        """Take on a pending job the caller stored itself (e.g. after posting its card)."""
        if not self._accepting:
            raise RuntimeError("the tracker is shutting down and takes no new jobs")
        if job.id in self._pending or job.id in self._upstream:
            return
        self._pending.append(job.id)
        await self._notify(job, waiting_position=self.waiting_position(job.id))
        self._wake.set()

    def waiting_position(self, job_id: str) -> int | None:
        """How many jobs are ahead of this one for an upstream slot (None when not waiting)."""
        if job_id not in self._pending:
            return None
        free = self.options.max_in_flight - len(self._upstream)
        index = list(self._pending).index(job_id)
        return None if index < free else index - max(free, 0) + 1

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

    async def wait_for(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait until a job ends (delivered, failed, ...). For the CLI and tests."""
        event = self._done.setdefault(job_id, asyncio.Event())  # before the read: no missed wake-up
        job = await self.store.get_job(job_id)
        if job is None or job.state.terminal:
            self._done.pop(job_id, None)
            return job
        await asyncio.wait_for(event.wait(), timeout)
        return await self.store.get_job(job_id)

    # -- the scheduler --------------------------------------------------------------------------

    def _schedule(self, job_id: str, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, job_id))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._admit()
            now = self.clock()
            due: list[str] = []
            while self._heap and self._heap[0][0] <= now:
                _, _, job_id = heapq.heappop(self._heap)
                if job_id in self._busy:
                    self._deferred.add(job_id)
                elif job_id not in due:
                    due.append(job_id)
            for job_id in due:
                self._spawn(job_id)
            self._wake.clear()
            timeout = max(0.0, self._heap[0][0] - self.clock()) if self._heap else None
            await wait_event(self._wake, timeout)

    def _admit(self) -> None:
        """Move pending jobs into free upstream slots, oldest first."""
        while self._pending and len(self._upstream) < self.options.max_in_flight:
            job_id = self._pending.popleft()
            self._upstream.add(job_id)
            self._schedule(job_id, self.clock())

    def _spawn(self, job_id: str) -> None:
        self._busy.add(job_id)
        task = asyncio.create_task(self._step(job_id), name=f"job-{job_id}")
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            self._busy.discard(job_id)
            if job_id in self._deferred:
                self._deferred.discard(job_id)
                self._schedule(job_id, self.clock())
            self._wake.set()

        task.add_done_callback(done)

    async def _step(self, job_id: str) -> None:
        try:
            job = await self.store.get_job(job_id)
            if job is None or job.state.terminal:
                self._release(job_id)
                return
            if job.state in (JobState.PENDING, JobState.SUBMITTED):
                async with self._upstream_gate:
                    await self._submit(job)
            elif job.state in (JobState.QUEUED, JobState.RUNNING):
                async with self._upstream_gate:
                    await self._poll(job)
            elif job.state == JobState.SUCCEEDED:
                async with self._delivery_gate:
                    await self._deliver(job)
        except StaleTransition as exc:
            log.info("job moved on while a step ran", extra={"job_id": job_id, "detail": str(exc)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug must not stop the scheduler or lose the job: log it and come back later; a failure
            # that keeps coming back ends the job instead of holding its slot forever.
            failures = self._step_failures[job_id] = self._step_failures.get(job_id, 0) + 1
            log.exception("job step failed", extra={"job_id": job_id, "failures": failures})
            if failures < MAX_STEP_FAILURES:
                self._schedule(job_id, self.clock() + self.options.step_retry_seconds)
            else:
                await self._give_up(job_id, exc)
        else:
            self._step_failures.pop(job_id, None)

    async def _give_up(self, job_id: str, exc: Exception) -> None:
        with contextlib.suppress(StaleTransition, KeyError):
            job = await self.store.transition(
                job_id, JobState.FAILED, expect=list(JobState.ACTIVE),
                error_code="internal_error",
                error_message=f"wanbot could not handle this job ({type(exc).__name__}); an admin should check the logs")
            self._release(job_id)
            await self._notify(job)
            self._finish(job)

    # -- submit ---------------------------------------------------------------------------------

    async def _submit(self, job: Job) -> None:
        request = VideoRequest.model_validate(job.request)
        resumed = job.state == JobState.SUBMITTED
        # Counted with the move to `submitted` (one transaction): a crash before it is not an attempt.
        attempts = job.submit_attempts + 1
        if resumed and attempts > 2:
            await self._end(job, JobState.UNKNOWN, error_code="submit_unknown",
                            error_message="the submit's outcome is unknown after a retry with the same "
                                          "Idempotency-Key; check the gateway before re-running")
            return
        job = await self.store.transition(job.id, JobState.SUBMITTED, expect=[JobState.PENDING, JobState.SUBMITTED],
                                          submitted_at=job.submitted_at or self.clock(), submit_attempts=attempts,
                                          detail={"attempt": attempts, "resumed": resumed})
        try:
            task = await self.client.submit(request, idempotency_key=job.id)
        except RateLimited as exc:
            # Not accepted upstream: back to pending, keep our place, come back after the wait.
            job = await self.store.transition(job.id, JobState.PENDING, expect=[JobState.SUBMITTED],
                                              submit_attempts=0, submitted_at=None,
                                              detail={"rate_limited": str(exc)})
            errors = self._errors[job.id] = self._errors.get(job.id, 0) + 1
            self._schedule(job.id, self.clock() + backoff_delay(errors - 1, retry_after=exc.retry_after))
            return
        except SubmitOutcomeUnknown as exc:
            await self._end(job, JobState.UNKNOWN, error_code="submit_unknown", error_message=exc.message,
                            request_id=exc.request_id)
            return
        except GatewayError as exc:
            await self._fail_from_error(job, exc, during="submit")
            return
        self._errors.pop(job.id, None)
        await self._apply_task(job, task, first=True)

    # -- poll -----------------------------------------------------------------------------------

    async def _poll(self, job: Job) -> None:
        over_limit = bool(job.submitted_at) and self.clock() - job.submitted_at > self.options.time_limit_seconds
        try:
            task = await self.client.get_task(job.task_id)
        except NotFound:
            await self._end(job, JobState.EXPIRED, error_code="task_not_found",
                            error_message="the gateway no longer knows this task (task ids expire after 24 h)")
            return
        except GatewayError as exc:
            if over_limit:
                await self._fail_time_limit(job)
                return
            # The task is alive and paid for upstream: a failed poll never fails the job.
            errors = self._errors[job.id] = self._errors.get(job.id, 0) + 1
            # Full jitter spreads many jobs' retries apart; Retry-After is a floor.
            delay = max(self.options.poll_min_interval, backoff_delay(errors - 1, retry_after=exc.retry_after))
            log.warning("poll failed; will poll again", extra={"job_id": job.id, "error": str(exc), "in_s": delay})
            await self._plan_poll(job, delay)
            return
        self._errors.pop(job.id, None)
        if over_limit and not task.status.ended:
            # Checked after the poll: a task that finished while we were away (a restart, a long
            # gap between polls) is delivered, never failed for lateness.
            await self._fail_time_limit(job)
            return
        await self._apply_task(job, task)

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
            billed_seconds = task.billed_seconds if task.billed_seconds is not None else float(job.duration)
            billed = task.cost_usd if task.cost_usd is not None else billed_seconds * self.options.price_per_second
            job = await self.store.transition(
                job.id, JobState.SUCCEEDED, expect=list(JobState.IN_FLIGHT_UPSTREAM), video_url=task.video_url, progress=100,
                billed_seconds=billed_seconds, billed_cost_usd=round(billed, 4), finished_at=now,
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

    # -- deliver --------------------------------------------------------------------------------

    async def _deliver(self, job: Job) -> None:
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

    # -- endings --------------------------------------------------------------------------------

    async def _fail_from_error(self, job: Job, exc: GatewayError, *, during: str) -> None:
        code = exc.code or type(exc).__name__
        message = exc.message
        if isinstance(exc, BadRequest) and exc.content_policy:
            code = exc.code or "content_policy_violation"
            message = f"the gateway's content filter rejected this request: {exc.message}"
        elif isinstance(exc, NotFound) and during == "submit":
            message = "the gateway answered 404 to the submit: check WAN_API_BASE and WAN_API_FORMAT"
        elif exc.status in (401, 403):
            message = f"the gateway refused the API key ({exc.message}); an admin must fix WAN_API_KEY"
        await self._end(job, JobState.FAILED, error_code=code, error_message=message, request_id=exc.request_id)

    async def _end(self, job: Job, state: JobState, *, expect=None, **changes) -> None:
        if expect is None:
            expect = [JobState.PENDING, *JobState.IN_FLIGHT_UPSTREAM]
        changes = {k: v for k, v in changes.items() if not (k == "request_id" and v is None)}
        job = await self.store.transition(job.id, state, expect=expect, **changes)
        self._release(job.id)
        self._errors.pop(job.id, None)
        await self._notify(job)
        self._finish(job)

    def _release(self, job_id: str) -> None:
        """Give the job's upstream slot to the next pending job."""
        self._upstream.discard(job_id)
        self._paces.pop(job_id, None)
        with contextlib.suppress(ValueError):
            self._pending.remove(job_id)
        self._wake.set()

    def _finish(self, job: Job) -> None:
        event = self._done.pop(job.id, None)
        if event:
            event.set()

    async def _notify(self, job: Job, *, waiting_position: int | None = None) -> None:
        try:
            await self.notifier.job_changed(job, waiting_position=waiting_position)
        except Exception:
            # The user-facing surface failing must never stop or corrupt the job itself.
            log.exception("notifier failed", extra={"job_id": job.id})
