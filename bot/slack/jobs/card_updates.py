"""Job card updates, coalesced and throttled.

`chat.update` is a Tier 3 method (about 50 calls a minute per workspace). Many busy jobs would trip
it, so: only the latest state of each job is kept (older renders are dropped, never sent), a job's
card is updated at most once every `min_interval` seconds, and all updates share a token bucket of
`per_minute` calls (on PostgreSQL a row that every replica spends from, `workspace_bucket`). Terminal states skip the per-job interval (the user waits for them). A ticker
refreshes in-flight cards every `tick_interval` seconds so "running, elapsed" moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.aio import wait_event
from bot.jobs.models import Job
from bot.jobs.store import JobStore, buckets

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    job: Job
    waiting_position: int | None
    urgent: bool


class Bucket(Protocol):
    async def try_take(self) -> float:
        """Take a token: 0.0 when taken, else the seconds until one is there (nothing taken)."""


class TokenBucket:
    """The budget in this process's memory: right for one process (SQLite), wrong for several."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = buckets.refill(self.tokens, self.stamp, now, rate=self.rate, capacity=self.capacity)
        self.stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    async def try_take(self) -> float:
        self._refill()
        self.tokens, wait = buckets.take(self.tokens, rate=self.rate)
        return wait


class SharedBucket:
    """The budget in a row of the database, spent by every replica on it (bot/jobs/store/buckets.py
    says why a row rather than one elected replica). One short transaction per take."""

    def __init__(self, store: JobStore, key: str, per_minute: float, burst: int):
        self.store, self.key, self.per_minute, self.burst = store, key, per_minute, burst

    async def try_take(self) -> float:
        return await self.store.take_token(self.key, per_minute=self.per_minute, burst=self.burst)


def workspace_bucket(store: JobStore, token: str | None, per_minute: float, burst: int = 5) -> Bucket:
    """chat.update's budget for the workspace of this bot token: a row shared by every replica on
    PostgreSQL; in memory for the single process on a SQLite file. The row's key is a hash of the
    token (one workspace, one install), never the token itself."""
    if getattr(store, "dialect", None) != "postgresql":  # (a bench passes no store)
        return TokenBucket(per_minute, burst)
    install = hashlib.sha256((token or "").encode()).hexdigest()[:16]
    return SharedBucket(store, f"chat.update:{install}", per_minute, burst)


class CardUpdater:
    """Holds the latest render request per job and sends them within the rate limits.

    `send(job, waiting_position)` does the actual chat.update; it returns the seconds to wait before
    trying again (a 429 that survived the client's retries), or None when done (sent or dropped).
    """

    def __init__(self, send: Callable[[Job, int | None], Awaitable[float | None]], *, per_minute: float = 40,
                 burst: int = 5, min_interval: float = 3.0, tick_interval: float = 15.0,
                 bucket: Bucket | None = None):
        self._send = send
        self.bucket: Bucket = bucket or TokenBucket(per_minute, burst)
        self.min_interval = min_interval
        self.tick_interval = tick_interval
        self._pending: dict[str, _Pending] = {}
        self._last_sent: dict[str, float] = {}
        self._live: dict[str, Job] = {}          # in-flight jobs the ticker refreshes
        self._blocked_until = 0.0                 # a 429 pauses every update (the limit is global)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()           # set whenever nothing is left to send
        self._sending: _Pending | None = None     # the render on the wire (no longer in _pending)
        self._task: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="card-updates")
        if self.tick_interval > 0:
            self._ticker = asyncio.create_task(self._tick(), name="card-ticker")

    async def stop(self, grace: float = 3.0) -> None:
        """Send what is urgent (terminal states) within `grace`, then stop."""
        # A final render already taken off the queue counts too: cancelling its chat.update mid-way
        # would leave the card showing a state the job has left.
        if any(p.urgent for p in self._pending.values()) or (self._sending and self._sending.urgent):
            await self.idle(grace)
        for task in (self._ticker, self._task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def submit(self, job: Job, waiting_position: int | None = None) -> None:
        """Ask for the card to show this job; replaces any render not yet sent."""
        urgent = job.state.terminal or (job.id in self._pending and self._pending[job.id].urgent)
        self._pending[job.id] = _Pending(job, waiting_position, urgent)
        if job.state.terminal:
            self._live.pop(job.id, None)
        else:
            self._live[job.id] = job
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until nothing is pending (tests, shutdown)."""
        if self._pending or self._sending:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)

    def _due(self, now: float) -> tuple[str | None, float]:
        """The job to send next (urgent first, then oldest) and, if none is due, how long to wait."""
        best, best_key, wait = None, None, 60.0
        for job_id, pending in self._pending.items():
            ready_at = 0.0 if pending.urgent else self._last_sent.get(job_id, 0.0) + self.min_interval
            if ready_at <= now:
                key = (not pending.urgent, self._last_sent.get(job_id, 0.0))
                if best_key is None or key < best_key:
                    best, best_key = job_id, key
            else:
                wait = min(wait, ready_at - now)
        return best, wait

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            if self._pending and self._blocked_until > now:
                # Nothing can be sent before a 429's pause ends, whatever arrives meanwhile: sleep
                # instead of rescanning every pending card on each new render.
                await asyncio.sleep(self._blocked_until - now)
                continue
            job_id, wait = self._due(now)
            if job_id is None:
                await wait_event(self._wake, wait)
                continue
            gate = await self._take_token()
            if gate > 0:
                # No token yet: sleep until one is there (thousands of cards may wait here when many
                # jobs start at once; none is rescanned meanwhile), then choose again.
                await asyncio.sleep(gate)
                continue
            await self._flush(job_id)

    async def _take_token(self) -> float:
        try:
            return await self.bucket.try_take()
        except Exception:  # the shared bucket's database: send nothing rather than overspend
            log.warning("card update budget unavailable; retrying", exc_info=True)
            return 1.0

    async def _flush(self, job_id: str) -> None:
        pending = self._pending.pop(job_id)
        self._last_sent[job_id] = time.monotonic()
        self._sending = pending
        try:
            retry_in = await self._send(pending.job, pending.waiting_position)
        except Exception:
            log.exception("card update failed", extra={"job_id": job_id})
            retry_in = None
        finally:
            self._sending = None
        if retry_in is not None:
            self._blocked_until = time.monotonic() + retry_in
            self._pending.setdefault(job_id, pending)  # unless a newer render arrived meanwhile
        if pending.job.state.terminal and job_id not in self._pending:
            self._last_sent.pop(job_id, None)
        if not self._pending:
            self._drained.set()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            for job_id, job in list(self._live.items()):
                if job_id not in self._pending and job.state.value in ("queued", "running"):
                    self._pending[job_id] = _Pending(job, None, False)
            self._wake.set()
