"""The tracker's leases: which jobs this replica holds, at which fencing version, and how many it
should hold (issue 11; the columns and queries are bot/jobs/store/leases.py).

Bookkeeping and the few store calls around it, no scheduling: the tracker asks `fence(job_id)`
before each step (None: not ours, do nothing), claims on start, on a new job and on each
maintenance tick, renews everything it holds well before expiry, and hands it all back on stop.

Leases are for several processes on one PostgreSQL database. On SQLite (one process serves a file,
bot/jobs/store/exclusive.py) the keeper is `enabled=False`: it holds every job of its origin without
writing a lease, and the tracker runs exactly as a single process always has.

A fair share keeps leases balanced: a replica claims free jobs only up to ceil(unfinished jobs /
live replicas), live meaning a heartbeat within the lease time. A replica that dies stops beating,
so the others' share grows and they take its jobs as its leases expire. The other way round, a
replica that joins late (the last one restarted in a rolling deploy) would find no free job and stay
idle: a replica holding well over the lightest one hands its surplus back (`rebalance`), never going
below its own share, so the newcomer claims it at once and no job is left without a taker.

A keeper told to drive `only` some jobs (`generate` on the replicas' database, driving the one job it
started) is not a replica: it neither beats nor announces itself, so the serve replicas' share of
the others' jobs stays whole and a restarted lone `serve` still finds itself alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterable

from bot.jobs.models import Job
from bot.jobs.store import Fence, JobStore

log = logging.getLogger(__name__)


def default_replica_id() -> str:
    """Unique among the processes on a database: the host (a container's own hostname) and the pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


REBALANCE_SLACK = 4  # jobs: an imbalance this small costs a few polls, not worth moving leases for


def surplus(held: int, lightest: int, share: int) -> int:
    """How many leases a replica holding `held` hands back when the lightest other replica holds
    `lightest` and the fair share is `share`: none within a tolerance (a job ending or starting must
    not move leases back and forth), else what takes the lightest towards its share, keeping this
    one at its share at least (several givers at once never leave a job without a taker)."""
    tolerance = max(REBALANCE_SLACK, math.ceil(share * 0.1))
    if held - lightest <= tolerance:
        return 0
    return max(0, min(held - share, share - lightest))


def tick_seconds(lease_seconds: float) -> float:
    """How often leases are renewed and free jobs claimed: three times a lease at least (a renewal
    may fail twice and the lease still holds), and every 5 s at most (takeover soon after expiry)."""
    return max(0.05, min(5.0, lease_seconds / 3))


class LeaseKeeper:
    def __init__(self, store: JobStore, owner: str, lease_seconds: float, *, origin: str | None = None,
                 only: frozenset[str] | None = None, enabled: bool = True,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.enabled = enabled
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.origin = origin
        self.only = only
        self.clock = clock
        self.versions: dict[str, int] = {}
        self.alone = False  # no other replica was alive when this one started (`claim_at_start`)
        self.counted = only is None  # a replica (heartbeat, presence), not a one-job driver

    def __len__(self) -> int:
        return len(self.versions)

    def fence(self, job_id: str) -> Fence | None:
        """The lease to write under; None when not held (or leases are off: then nothing is fenced)."""
        version = self.versions.get(job_id)
        return None if version is None else Fence(job_id, self.owner, version)

    def holds(self, job_id: str) -> bool:
        return not self.enabled or job_id in self.versions

    def forget(self, job_id: str) -> None:
        """The job ended (its lease was cleared with the end) or was taken over."""
        self.versions.pop(job_id, None)

    def _allowed(self, job_id: str) -> bool:
        return self.only is None or job_id in self.only

    async def claim(self, job_id: str, *, force: bool = False) -> Fence | None:
        """Claim one job (a new one, or with `force` one a user acts on while another replica holds it)."""
        if not self.enabled:
            return None
        if job_id in self.versions and not force:
            return self.fence(job_id)
        version = await self.store.claim_job(self.owner, job_id, lease_seconds=self.lease_seconds, force=force)
        if version is None:
            return None
        self.versions[job_id] = version
        return self.fence(job_id)

    async def claim_at_start(self, *, force: bool) -> list[Job]:
        """On start: the leases of this replica's previous run (same id), or with `force` every
        unfinished job of the origin; then a fair share of the free ones.

        When no other replica is alive (one `serve` restarted after a crash, under whatever id), every
        unfinished job of the origin is this one's at once: its previous run's leases and the jobs it
        stored but had not claimed yet, instead of waiting a lease time for them. Alive is checked
        after this replica says it is (`announce`): of two starting together, at most one is alone."""
        if not self.enabled:
            jobs = await self.store.unfinished_jobs(self.origin)
            return [job for job in jobs if self._allowed(job.id)]
        if self.counted:
            await self.store.announce(self.owner)
            await self.store.renew_leases(self.owner, [], lease_seconds=self.lease_seconds)  # count me in
        self.alone = not force and not await self.store.others_alive(self.owner)
        take_all = force or self.alone
        claimed = await self.store.claim_jobs(self.owner, limit=1_000_000, lease_seconds=self.lease_seconds,
                                              origin=self.origin, only=self.only, force=take_all,
                                              reclaim_own=not take_all)
        self.versions.update((job.id, version) for job, version in claimed)
        return [job for job, _ in claimed] + await self.claim_share()

    async def claim_share(self) -> list[Job]:
        """Claim free jobs (unleased, handed back, expired) up to this replica's fair share."""
        if not self.enabled:
            return []
        if self.only is not None:
            want = len([j for j in self.only if j not in self.versions])
        else:
            live = max(1, await self.store.live_replicas(within=self.lease_seconds))
            total = await self.store.count_unfinished(self.origin)
            want = math.ceil(total / live) - len(self.versions)
        if want <= 0:
            return []
        claimed = await self.store.claim_jobs(self.owner, limit=want, lease_seconds=self.lease_seconds,
                                              origin=self.origin, only=self.only)
        self.versions.update((job.id, version) for job, version in claimed)
        return [job for job, _ in claimed]

    async def rebalance(self, idle: Callable[[], Iterable[str]]) -> list[str]:
        """Hand back this replica's surplus over the lightest live replica (`surplus`): the ids
        handed back, taken from `idle()` (held jobs with no step running now), which is called
        right before the leases are dropped here, with no await between: no step of them starts."""
        if not self.enabled or not self.counted or len(self.versions) <= REBALANCE_SLACK:
            return []  # (holding no more than the tolerance, there is never a surplus)
        loads = await self.store.replica_loads(within=self.lease_seconds, origin=self.origin)
        others = [count for owner, count in loads.items() if owner != self.owner]
        if not others:
            return []
        total = await self.store.count_unfinished(self.origin)
        count = surplus(len(self.versions), min(others), math.ceil(total / (len(others) + 1)))
        if count <= 0:
            return []
        ids = [job_id for job_id in idle() if job_id in self.versions][:count]
        fences = {job_id: self.versions.pop(job_id) for job_id in ids}  # no step of them starts now
        try:  # shielded: a stop arriving meanwhile must not leave them held by nobody until they expire
            await asyncio.shield(self.store.release_leases(self.owner, fences))
        except Exception as exc:  # dropped here all the same: their leases expire, another takes them
            log.warning("could not hand leases back", extra={"error": repr(exc), "replica": self.owner})
        return ids

    async def renew(self) -> list[str]:
        """Renew every lease held (and the heartbeat); the ids whose lease was lost meanwhile."""
        if not self.enabled:
            return []
        asked = dict(self.versions)
        held = await self.store.renew_leases(self.owner, list(asked), lease_seconds=self.lease_seconds,
                                             beat=self.counted)
        try:  # again if its connection was lost (a database restart)
            if self.counted:
                await self.store.announce(self.owner)
        except Exception as exc:  # the leases were renewed: judge them; try again next tick
            log.warning("cannot say this replica is alive", extra={"error": repr(exc), "replica": self.owner})
        # Judge only the leases this renewal asked about, and only if still held as asked: a job
        # claimed (or claimed again) while the renewal was on the wire is not lost.
        lost = [job_id for job_id, version in asked.items()
                if held.get(job_id, (None,))[0] != version and self.versions.get(job_id) == version]
        for job_id in lost:
            self.versions.pop(job_id, None)
        return lost

    async def release(self, job_ids: Iterable[str] | None = None, *, leave: bool = False) -> int:
        """Hand leases back at once (all of them by default); `leave` also stops the heartbeat."""
        if not self.enabled:
            return 0
        ids = list(self.versions) if job_ids is None else [j for j in job_ids if j in self.versions]
        fences = {job_id: self.versions.pop(job_id) for job_id in ids}
        # Only a replica has a heartbeat to end: a generate under the same WANBOT_REPLICA_ID as a
        # serve (`docker compose exec`) must not take that serve out of the fair share.
        return await self.store.release_leases(self.owner, fences, leave=leave and self.counted)
