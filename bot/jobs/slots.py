"""The tracker's timetable, in memory: when each job's next step is due, and who holds an upstream slot.

Pure bookkeeping (no store, no network): the tracker asks it which jobs are due and tells it when a
job starts or ends a step. Pending jobs wait in a FIFO for one of `max_in_flight` upstream slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import deque


class Slots:
    def __init__(self, max_in_flight: int):
        self.max_in_flight = max_in_flight
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self.pending: deque[str] = deque()   # job ids waiting for an upstream slot, oldest first
        self.upstream: set[str] = set()      # job ids holding an upstream slot
        self.busy: set[str] = set()          # job ids with a step running now
        self._deferred: set[str] = set()     # came due while busy: run again when the step ends
        self.wake = asyncio.Event()          # set whenever something may have become due

    def schedule(self, job_id: str, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, job_id))
        self.wake.set()

    def wait(self, job_id: str) -> None:
        """A pending job joins the queue for an upstream slot (once)."""
        if job_id not in self.pending and job_id not in self.upstream:
            self.pending.append(job_id)
            self.wake.set()

    def hold(self, job_id: str) -> None:
        """A job found in flight upstream (after a restart) holds its slot."""
        self.upstream.add(job_id)

    def requeue(self, job_id: str) -> None:
        """A job given a slot found none free after all (another replica took it): back to the head
        of the queue, first in line for the next one."""
        self.upstream.discard(job_id)
        if job_id not in self.pending:
            self.pending.appendleft(job_id)

    def set_capacity(self, slots: int) -> None:
        """The slots this process may fill: WAN_MAX_IN_FLIGHT less the tasks other replicas have in flight."""
        if slots > self.max_in_flight:
            self.wake.set()
        self.max_in_flight = max(0, slots)

    def forget(self, job_id: str) -> None:
        """Another replica drives the job now: nothing of it stays here (a due step is skipped)."""
        self.release(job_id)
        self._deferred.discard(job_id)

    def knows(self, job_id: str) -> bool:
        return job_id in self.pending or job_id in self.upstream

    def admit(self, now: float) -> None:
        """Move pending jobs into free upstream slots, oldest first; each is due at once."""
        while self.pending and len(self.upstream) < self.max_in_flight:
            job_id = self.pending.popleft()
            self.upstream.add(job_id)
            self.schedule(job_id, now)

    def waiting_position(self, job_id: str) -> int | None:
        """How many jobs are ahead of this one for an upstream slot (None when not waiting)."""
        if job_id not in self.pending:
            return None
        free = self.max_in_flight - len(self.upstream)
        index = list(self.pending).index(job_id)
        return None if index < free else index - max(free, 0) + 1

    def release(self, job_id: str) -> None:
        """The job no longer needs an upstream slot: give it to the next pending job."""
        self.upstream.discard(job_id)
        with contextlib.suppress(ValueError):
            self.pending.remove(job_id)
        self.wake.set()

    def take_due(self, now: float) -> list[str]:
        """Job ids due by `now` and not busy; a busy one runs again once its step ends."""
        due: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, job_id = heapq.heappop(self._heap)
            if job_id in self.busy:
                self._deferred.add(job_id)
            elif job_id not in due:
                due.append(job_id)
        return due

    def step_started(self, job_id: str) -> None:
        self.busy.add(job_id)

    def step_ended(self, job_id: str, now: float) -> None:
        self.busy.discard(job_id)
        if job_id in self._deferred:
            self._deferred.discard(job_id)
            self.schedule(job_id, now)
        self.wake.set()

    def seconds_to_next(self, now: float) -> float | None:
        return max(0.0, self._heap[0][0] - now) if self._heap else None
