"""What every tracker step shares: the tracker's state, and how a job ends or is shown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

from bot.jobs import schedule
from bot.jobs.leases import LeaseKeeper
from bot.jobs.models import Job, JobState
from bot.jobs.notifier import Notifier
from bot.jobs.options import TrackerOptions
from bot.jobs.slots import Slots
from bot.jobs.store import JobStore, fenced
from bot.wan.client import GatewayClient
from bot.wan.errors import BadRequest, GatewayError, NotFound
from bot.wan.task import Task

log = logging.getLogger(__name__)


class Steps:
    store: JobStore
    client: GatewayClient
    notifier: Notifier
    options: TrackerOptions
    clock: Callable[[], float]
    slots: Slots
    leases: LeaseKeeper              # the jobs this replica holds a lease on (bot/jobs/leases.py)
    _errors: dict[str, int]          # consecutive poll/delivery/429 errors per job
    _paces: dict[str, schedule.Pace]  # per job in flight: its progress readings (memory only)
    _done: dict[str, asyncio.Event]   # wait_for's wake-ups
    _not_found_since: dict[str, float]  # when a job's polls began to answer 404 (memory only)
    _acting: Counter[str]            # jobs a user's cancel or settle is acting on now

    async def _apply_task(self, job: Job, task: Task, *, first: bool = False) -> None:
        """Record what the gateway says of the task (the poll step's; the submit step uses it too)."""
        raise NotImplementedError

    def _adopt(self, job: Job) -> None:
        """Put a job this replica now holds on its schedule (the tracker's)."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _acting_on(self, job_id: str) -> AsyncIterator[None]:
        """A user's cancel or settle, on whichever replica got the request: take the job's lease
        (from the replica that holds it, whose next write is then rejected), act under it, and drive
        the job here from then on if it goes on."""
        self._acting[job_id] += 1  # not handed to another replica meanwhile (the tracker's rebalance)
        try:
            held = self.leases.holds(job_id)
            fence = self.leases.fence(job_id) if held else await self.leases.claim(job_id, force=True)
            try:
                with fenced(fence):
                    yield
            finally:
                if not held:
                    job = await self.store.get_job(job_id)
                    if job is None or not job.state.active:
                        self.leases.forget(job_id)
                    elif self.leases.holds(job_id) and not self.slots.knows(job_id):
                        self._adopt(job)
        finally:
            self._acting[job_id] -= 1
            if self._acting[job_id] <= 0:
                del self._acting[job_id]

    async def _refresh_capacity(self) -> None:
        """Size the upstream slots to what the other replicas leave free (the tracker's)."""
        raise NotImplementedError

    def _schedule(self, job_id: str, at: float) -> None:
        self.slots.schedule(job_id, at)

    def _release(self, job_id: str) -> None:
        """Give the job's upstream slot to the next pending job."""
        self.slots.release(job_id)
        self._paces.pop(job_id, None)
        self._not_found_since.pop(job_id, None)

    def _finish(self, job: Job) -> None:
        self.leases.forget(job.id)  # the end cleared the lease in the same write
        event = self._done.pop(job.id, None)
        if event:
            event.set()

    async def _notify(self, job: Job, *, waiting_position: int | None = None) -> None:
        try:
            await self.notifier.job_changed(job, waiting_position=waiting_position)
        except Exception:
            # The user-facing surface failing must never stop or corrupt the job itself.
            log.exception("notifier failed", extra={"job_id": job.id})

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
