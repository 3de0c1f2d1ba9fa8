"""The job tracker: one scheduler that submits, polls and delivers every job, durably.

Every transition is written to the store before the side effect that depends on it, so a process
killed at any point resumes correctly: `start()` picks up each unfinished job where it stood.

- pending:   waits for a free upstream slot (WAN_MAX_IN_FLIGHT), first come first served, then submits
- submitted: a submit was on the wire when the process died: resend with the same Idempotency-Key
- queued/running: polled on a schedule (soon, then towards the expected finish, then backing off)
- succeeded: the video is downloaded and handed to the notifier, exactly once

This module runs the loop and dispatches each due job to its step (bot/jobs/steps/: submit, poll,
deliver, cancel, settle); the timetable itself is bot/jobs/slots.py.

Several replicas on one database (issue 11): a tracker drives only the jobs it holds a lease on
(bot/jobs/leases.py). Each step runs under the job's lease (`fenced`): a write after another replica
took the job over is rejected (LeaseLost), logged, and the job dropped from this schedule. A second
loop renews the leases, claims free jobs up to a fair share, and sizes the upstream slots to
WAN_MAX_IN_FLIGHT less what the other replicas have in flight; on PostgreSQL it is also woken by
LISTEN/NOTIFY (a new job, a lease handed back or taken). `stop()` hands every lease back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable

from bot.aio import wait_event
from bot.jobs import schedule
from bot.jobs.leases import LeaseKeeper, default_replica_id, tick_seconds
from bot.jobs.models import Job, JobState
from bot.jobs.notifier import Notifier
from bot.jobs.options import TrackerOptions, new_job_id
from bot.jobs.slots import Slots
from bot.jobs.steps.cancel import CancelStep, CannotCancel
from bot.jobs.steps.deliver import DeliverStep
from bot.jobs.steps.poll import PollStep
from bot.jobs.steps.settle import CannotSettle, SettleStep
from bot.jobs.steps.submit import SubmitStep
from bot.jobs.store import Fence, JobStore, LeaseLost, StaleTransition, fenced
from bot.wan.client import GatewayClient
from bot.wan.request import VideoRequest, estimate_cost_usd

__all__ = ["CannotCancel", "CannotSettle", "Tracker", "TrackerOptions", "new_job_id"]

log = logging.getLogger(__name__)

MAX_STEP_FAILURES = 5
STEP_RETRY_CAP = 10  # step retries back off up to this many times step_retry_seconds
NOTICE_GRACE = 0.5  # after a notice of a new job, let the replica that stored it take it first


class Tracker(SubmitStep, PollStep, DeliverStep, CancelStep, SettleStep):
    def __init__(self, store: JobStore, client: GatewayClient, notifier: Notifier,
                 options: TrackerOptions | None = None, *, clock: Callable[[], float] = time.time):
        self.store = store
        self.client = client
        self.notifier = notifier
        self.options = options or TrackerOptions()
        self.clock = clock
        self.slots = Slots(self.options.max_in_flight)
        self._errors: dict[str, int] = {}        # consecutive poll/delivery errors per job
        self._step_failures: dict[str, int] = {}  # consecutive unexpected exceptions per job
        self._expected: dict[tuple[str, int], list[float]] = {}
        # Per job in flight: its progress readings (memory only: after a restart fresh polls rebuild it).
        self._paces: dict[str, schedule.Pace] = {}
        self._not_found_since: dict[str, float] = {}
        self._acting: Counter[str] = Counter()    # jobs a cancel or settle is acting on now
        self._tasks: set[asyncio.Task] = set()
        self._done: dict[str, asyncio.Event] = {}
        self._upstream_gate = asyncio.Semaphore(self.options.upstream_concurrency)
        self._delivery_gate = asyncio.Semaphore(self.options.delivery_concurrency)
        self._loop_task: asyncio.Task | None = None
        self._accepting = False
        self.replica_id = self.options.replica_id or default_replica_id()
        leased = self.options.leases
        if leased is None:
            leased = store.dialect == "postgresql"
        self.leases = LeaseKeeper(store, self.replica_id, self.options.lease_seconds, origin=self.options.origin,
                                  only=self.options.only_jobs, enabled=leased, clock=clock)
        self._lease_task: asyncio.Task | None = None
        self._nudge = asyncio.Event()  # a notice from another replica: look for work now

    @property
    def _price(self):
        """The price table (WAN_PRICES) when the options carry one, else the flat price per second."""
        return self.options.pricing or self.options.price_per_second

    @property
    def running(self) -> bool:
        """The scheduler loop is alive (for health checks)."""
        return self._loop_task is not None and not self._loop_task.done()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> int:
        """Claim and resume the unfinished jobs this replica is to drive, then run the scheduler.
        Returns how many were resumed."""
        # `generate --resume JOB` (only_jobs) was told to drive its job: it takes it whoever held it.
        jobs = await self.leases.claim_at_start(force=self.options.only_jobs is not None)
        if self.leases.enabled:
            jobs = [job for job in [await self._taken_over(job) for job in jobs] if job is not None]
        for job in jobs:
            self._adopt(job)
        self._accepting = True
        self._loop_task = asyncio.create_task(self._run(), name="tracker")
        if self.leases.enabled:
            self._lease_task = asyncio.create_task(self._keep_leases(), name="tracker-leases")
            try:
                await self.store.listen(self._heard)
            except Exception as exc:  # the periodic claims still find every job, a few seconds later
                log.warning("cannot listen for notices of other replicas", extra={"error": repr(exc)})
        if jobs:
            log.info("resumed unfinished jobs", extra={"count": len(jobs), "replica": self.replica_id})
        return len(jobs)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work, let in-flight steps finish within `grace`, hand every lease back (another
        replica takes the jobs over at once) and leave the rest resumable."""
        self._accepting = False
        for task in (self._loop_task, self._lease_task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._tasks:
            _, still_running = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.wait(still_running, timeout=2)
        try:
            released = await self.leases.release(leave=True)
            if released:
                log.info("leases handed back", extra={"count": released, "replica": self.replica_id})
        except Exception as exc:  # they expire on their own
            log.warning("could not hand the leases back", extra={"error": repr(exc)})

    @property
    def leases_held(self) -> int:
        return len(self.leases)

    # -- leases ---------------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Every tick: renew the leases well before they expire and drop the ones lost; then, and at
        once on a notice from another replica, size the upstream slots and claim free jobs up to a
        fair share."""
        tick = tick_seconds(self.options.lease_seconds)
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + tick
        while True:
            await wait_event(self._nudge, max(0.0, renew_at - loop.time()))
            if self._nudge.is_set():
                await asyncio.sleep(NOTICE_GRACE)
                self._nudge.clear()
            # A notice only sends this replica looking for free work; renewing every lease it holds on
            # each one was upkeep that grew with the replicas (a flood: every held row, twice a second).
            renew = loop.time() >= renew_at
            if renew:
                renew_at = loop.time() + tick
            try:
                await self._lease_tick(renew=renew)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lease upkeep failed; retrying", extra={"replica": self.replica_id})

    async def _lease_tick(self, *, renew: bool = True) -> None:
        if renew:
            for job_id in await self.leases.renew():
                self._lease_lost(job_id, "the lease was not renewed in time and another replica took the job")
        await self._refresh_capacity()
        if self._accepting:
            for job in await self.leases.claim_share():
                log.info("job taken over", extra={"job_id": job.id, "state": job.state.value,
                                                  "replica": self.replica_id})
                job = await self._taken_over(job)
                if job is not None:
                    self._adopt(job)
            if renew:  # a replica that joined late (a rolling deploy) takes its share of the rest
                for job_id in await self.leases.rebalance(self._idle_jobs):
                    log.info("job handed back to balance the replicas", extra={"job_id": job_id,
                                                                               "replica": self.replica_id})
                    if not self.leases.holds(job_id):  # else a cancel here took it back meanwhile
                        self._drop(job_id)

    def _idle_jobs(self) -> list[str]:
        """The jobs held here that may go to another replica: no step, cancel or settle running now,
        and no backoff or 404 grace in this process's memory (which the taker would start anew)."""
        keep = (self.slots.busy, self._acting, self._errors, self._step_failures, self._not_found_since)
        return [job_id for job_id in self.leases.versions if not any(job_id in kept for kept in keep)]

    async def _taken_over(self, job: Job) -> Job | None:
        """Let the surface complete a job another replica left (a card it never posted), under its lease."""
        try:
            with fenced(self.leases.fence(job.id)):
                kept = await self.notifier.taken_over(job)
        except LeaseLost as exc:
            self._lease_lost(job.id, str(exc))
            return None
        except Exception:  # the surface failing must not stop the job: drive it as it is
            log.exception("notifier failed on a job taken over", extra={"job_id": job.id})
            return job
        if kept is None:
            self.leases.forget(job.id)
        return kept

    async def _refresh_capacity(self) -> None:
        if not self.leases.enabled:
            return
        others = await self.store.count_in_flight(self.options.origin, not_owner=self.replica_id)
        self.slots.set_capacity(self.options.max_in_flight - others)

    def _heard(self, payload: str) -> None:
        """A notice from the database (PostgreSQL LISTEN): "new JOB", "free", "lease JOB"."""
        kind, _, job_id = payload.partition(" ")
        if kind == "lease" and self.leases.holds(job_id):
            task = asyncio.get_running_loop().create_task(self._check_lease(job_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind in ("new", "free") and self._accepting and not self.leases.holds(job_id):
            self._nudge.set()

    async def _check_lease(self, job_id: str) -> None:
        fence = self.leases.fence(job_id)
        lease = await self.store.lease_of(job_id)
        if fence is not None and lease is not None and (lease[0], lease[2]) != (fence.owner, fence.version):
            self._lease_lost(job_id, f"taken by {lease[0]} (a cancel or settle there)")

    async def _ended_under(self, fence: Fence | None) -> bool:
        """The job ended under this very lease (its end cleared the owner, at the same version), so
        no other replica took it: a step's late write after this replica's own cancel or settle."""
        if fence is None:
            return False
        lease = await self.store.lease_of(fence.job_id)
        if lease is None or lease[0] is not None or lease[2] != fence.version:
            return False
        job = await self.store.get_job(fence.job_id)
        return job is not None and job.state.terminal

    def _lease_lost(self, job_id: str, detail: str) -> None:
        """Another replica drives the job now: forget it here; nothing more is written, submitted or posted."""
        log.warning("lease lost: another replica drives this job now; dropped here",
                    extra={"job_id": job_id, "detail": detail, "replica": self.replica_id})
        self._drop(job_id)

    def _drop(self, job_id: str) -> None:
        """Nothing of the job stays here: another replica drives it now."""
        self.leases.forget(job_id)
        self.slots.forget(job_id)
        self._errors.pop(job_id, None)
        self._step_failures.pop(job_id, None)
        self._paces.pop(job_id, None)
        self._not_found_since.pop(job_id, None)

    def _adopt(self, job: Job) -> None:
        if job.state == JobState.PENDING:
            self.slots.wait(job.id)
        elif job.state.in_flight_upstream:
            self.slots.hold(job.id)
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
                  estimated_cost_usd=estimate_cost_usd(request, self._price),
                  extra=extra or {})
        await self.store.create_job(job)
        await self.admit(job)
        return job

    async def admit(self, job: Job) -> None:
        """Take on a pending job the caller stored itself (e.g. after posting its card)."""
        if not self._accepting:
            raise RuntimeError("the tracker is shutting down and takes no new jobs")
        if self.slots.knows(job.id):
            return
        if self.leases.enabled and await self.leases.claim(job.id) is None:
            return  # an idle replica took it first (a notice of the new job): it drives it
        self.slots.wait(job.id)
        await self._notify(job, waiting_position=self.waiting_position(job.id))

    def waiting_position(self, job_id: str) -> int | None:
        """How many jobs are ahead of this one for an upstream slot (None when not waiting)."""
        return self.slots.waiting_position(job_id)

    async def wait_for(self, job_id: str, timeout: float | None = None, *, recheck: float = 2.0) -> Job:
        """Wait until a job ends (delivered, failed, ...). For the CLI and tests.

        The store is read again every `recheck` seconds as well: another process may end the job (an
        admin's cancel in `serve`), which no step of this tracker would report."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            event = self._done.setdefault(job_id, asyncio.Event())  # before the read: no missed wake-up
            job = await self.store.get_job(job_id)
            if job is None or job.state.terminal:
                self._done.pop(job_id, None)
                return job
            wait = recheck if deadline is None else min(recheck, deadline - loop.time())
            if wait <= 0:
                raise TimeoutError(f"job {job_id} did not end within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), wait)

    # -- the scheduler --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self.slots.admit(self.clock())
            for job_id in self.slots.take_due(self.clock()):
                self._spawn(job_id)
            self.slots.wake.clear()
            await wait_event(self.slots.wake, self.slots.seconds_to_next(self.clock()))

    def _spawn(self, job_id: str) -> None:
        self.slots.step_started(job_id)
        task = asyncio.create_task(self._step(job_id), name=f"job-{job_id}")
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            self.slots.step_ended(job_id, self.clock())

        task.add_done_callback(done)

    async def _step(self, job_id: str) -> None:
        fence = self.leases.fence(job_id)
        if not self.leases.holds(job_id):  # taken over by another replica since it was scheduled
            self.slots.forget(job_id)
            return
        with fenced(fence):
            await self._fenced_step(job_id, fence)

    async def _fenced_step(self, job_id: str, fence: Fence | None) -> None:
        try:
            job = await self.store.get_job(job_id)
            if job is None or job.state.terminal:
                self._release(job_id)
                self.leases.forget(job_id)
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
        except LeaseLost as exc:
            if await self._ended_under(fence):  # this replica's own cancel or settle ended it meanwhile
                log.info("job ended while a step ran; the step's write was dropped", extra={"job_id": job_id})
                self._drop(job_id)
            else:
                self._lease_lost(job_id, f"a write was rejected: {exc}")
        except StaleTransition as exc:
            log.info("job moved on while a step ran", extra={"job_id": job_id, "detail": str(exc)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._step_failed(job_id, exc)
        else:
            self._step_failures.pop(job_id, None)

    async def _step_failed(self, job_id: str, exc: Exception) -> None:
        """A bug, or a store that cannot write (a full disk): log it and come back later, backing off.
        A bug that keeps coming back ends the job instead of holding its slot forever; a storage
        failure never does (the paid task upstream is fine: the job waits for the disk, and a give-up
        written the moment the disk is back would fail a live job). Nothing here may take the job off
        the schedule: if even the give-up cannot be written, the step is retried."""
        failures = self._step_failures[job_id] = self._step_failures.get(job_id, 0) + 1
        log.exception("job step failed", extra={"job_id": job_id, "failures": failures})
        retry = self.options.step_retry_seconds
        delay = min(retry * 2 ** (failures - 1), retry * STEP_RETRY_CAP)
        try:
            if failures >= MAX_STEP_FAILURES and not _storage_failure(exc):
                await self._give_up(job_id, exc)
                return
        except Exception:
            log.exception("giving up on the job failed too; retrying its step", extra={"job_id": job_id})
        self._schedule(job_id, self.clock() + delay)

    async def _give_up(self, job_id: str, exc: Exception) -> None:
        with contextlib.suppress(StaleTransition, KeyError):  # it ended meanwhile
            job = await self.store.transition(
                job_id, JobState.FAILED, expect=list(JobState.ACTIVE),
                error_code="internal_error",
                error_message=f"wanbot could not handle this job ({type(exc).__name__}); an admin should check the logs")
            self._release(job_id)
            await self._notify(job)
            self._finish(job)


def _storage_failure(exc: BaseException) -> bool:
    """The database could not be used (disk full, read-only, connection lost), as opposed to a bug.
    By the drivers' own error types, so that the tracker needs no import of either backend."""
    if isinstance(exc, (sqlite3.Error, OSError)):
        return True
    return type(exc).__module__.split(".")[0] in ("asyncpg", "aiosqlite")
