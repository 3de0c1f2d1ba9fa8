"""Job leases: which replica drives each unfinished job, so several `serve` replicas on one database
drive every job exactly once (issue 11). Mixed into `JobStore` (both backends, migration 10).

A lease is three columns of the job: `lease_owner` (a replica id), `lease_expires` (epoch seconds;
the owner renews it well before then) and `lease_version`, a fencing token that every claim bumps.
The owner's writes about the job carry its `Fence` (owner and version, set for the duration of a
step with `fenced`); the store adds both to the write's WHERE, so a replica whose lease lapsed and
was claimed by another (a longer pause than the lease: SIGSTOP, a GC stall, a partition) can never
overwrite what the new owner wrote: its write matches no row and raises `LeaseLost`.

Claims take jobs whose lease is free (never leased, handed back, or expired), oldest first. On
PostgreSQL the candidates are picked with `SELECT ... FOR UPDATE SKIP LOCKED`, so replicas claiming
at the same moment take disjoint sets without waiting for each other; SQLite's single writer makes
the same UPDATE atomic on its own (`skip_locked` is empty there).

Also here: the replicas' heartbeats (`replicas`, for a fair share of the jobs), and the count of
tasks in flight upstream over every replica (WAN_MAX_IN_FLIGHT is the gateway's quota, not a
process's; the cap itself is in_flight.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bot.jobs.models import JobState
from bot.jobs.store.errors import LeaseLost
from bot.jobs.store.in_flight import IN_FLIGHT_SQL
from bot.jobs.store.inbox import unanswered

_UNFINISHED = [s.value for s in JobState.ACTIVE]
_CHUNK = 500  # ids per statement (SQLite allows 32766 variables; PostgreSQL 65535)


@dataclass(frozen=True)
class Fence:
    """The lease a write is made under: this replica (`owner`) at `version` of the job's lease."""

    job_id: str
    owner: str
    version: int


_FENCE: ContextVar[Fence | None] = ContextVar("wanbot_lease_fence", default=None)


@contextlib.contextmanager
def fenced(fence: Fence | None) -> Iterator[None]:
    """Every store write about `fence.job_id` inside the block (in this task, and in what it awaits)
    checks the lease. The tracker wraps each step in it; the notifier's writes inside a step (the
    uploaded file's id) are fenced with no change to the notifier."""
    token = _FENCE.set(fence)
    try:
        yield
    finally:
        _FENCE.reset(token)


def fence_for(job_id: str) -> Fence | None:
    fence = _FENCE.get()
    return fence if fence is not None and fence.job_id == job_id else None


def fence_sql(fence: Fence | None) -> tuple[str, list[Any]]:
    """The WHERE condition a write under `fence` adds: still this owner at this version."""
    if fence is None:
        return "", []
    return " AND lease_owner = ? AND lease_version = ?", [fence.owner, fence.version]


def check_fence(fence: Fence | None, row: Any) -> None:
    """LeaseLost when the row's lease is no longer `fence` (another replica claimed the job)."""
    if fence is not None and (row["lease_owner"], row["lease_version"]) != (fence.owner, fence.version):
        raise LeaseLost(f"job {fence.job_id}: lease v{fence.version} of {fence.owner} was taken over "
                        f"(now v{row['lease_version']} of {row['lease_owner'] or 'nobody'})")


async def raise_if_fenced_out(tx: Any, fence: Fence) -> None:
    """After a fenced write matched no row: LeaseLost if the lease is why."""
    rows = await tx.fetch("SELECT lease_owner, lease_version FROM jobs WHERE id = ?", (fence.job_id,))
    if rows:
        check_fence(fence, rows[0])


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for job_id in ids:
        batch.append(job_id)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


class LeaseQueries:
    """The lease half of the store's interface (needs `self.db` and `self._job_from_row`)."""

    async def claim_jobs(self, owner: str, *, limit: int, lease_seconds: float, origin: str | None = None,
                         only: Iterable[str] | None = None, reclaim_own: bool = False, force: bool = False,
                         now: float | None = None) -> list[tuple[Any, int]]:
        """Claim up to `limit` unfinished jobs whose lease is free (none, handed back, or expired),
        oldest first: [(job, lease version)]. Replicas claiming at once get disjoint sets. A job never
        leased is left to the replica storing it for `lease_seconds` after its creation.

        At a replica's start only: `reclaim_own` takes only the leases held under its own id (its
        previous run's, ended by a crash), `force` every lease (the one process that serves a SQLite
        file, a replica that finds no other alive, or `generate --resume` told to drive one job)."""
        if limit <= 0:
            return []
        now = time.time() if now is None else now
        where, params = f"state IN ({_marks(_UNFINISHED)})", list(_UNFINISHED)
        if origin is not None:
            where += " AND origin = ?"
            params.append(origin)
        if only is not None:
            only = list(only)
            if not only:
                return []
            where += f" AND id IN ({_marks(only)})"
            params.extend(only)
        if reclaim_own:
            where += " AND lease_owner = ?"
            params.append(owner)
        elif not force:
            # A job never leased yet belongs to the replica that is storing it (it posts the card,
            # then claims it) for one lease time after its creation; after that its creator is gone.
            where += " AND (lease_owner IS NULL OR lease_expires < ?) AND (lease_version > 0 OR created_at < ?)"
            params.extend([now, now - lease_seconds])
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE jobs SET lease_owner = ?, lease_expires = ?, lease_version = lease_version + 1"
                f" WHERE id IN (SELECT id FROM jobs WHERE {where}"
                f" ORDER BY created_at, rowid LIMIT ?{tx.skip_locked}) RETURNING *",
                [owner, now + lease_seconds, *params, limit])
        claimed = [(self._job_from_row(row), row["lease_version"]) for row in rows]
        claimed.sort(key=lambda pair: pair[0].created_at)
        return claimed

    async def claim_job(self, owner: str, job_id: str, *, lease_seconds: float, force: bool = False,
                        now: float | None = None) -> int | None:
        """Claim one job: its new lease version, or None when another replica holds a live lease.
        `force` takes it whoever holds it (a cancel or a settle acting on another replica's job):
        the holder's next write is rejected and it drops the job."""
        now = time.time() if now is None else now
        where, params = "id = ?", [job_id]
        if not force:
            where += " AND (lease_owner IS NULL OR lease_expires < ?)"
            params.append(now)
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE jobs SET lease_owner = ?, lease_expires = ?, lease_version = lease_version + 1"
                f" WHERE {where} RETURNING lease_version", [owner, now + lease_seconds, *params])
            if rows and force:
                await tx.notify(f"lease {job_id}")  # the previous holder drops it at once
        return rows[0][0] if rows else None

    async def renew_leases(self, owner: str, job_ids: Iterable[str], *, lease_seconds: float, beat: bool = True,
                           now: float | None = None) -> dict[str, tuple[int, str]]:
        """Extend this replica's leases on `job_ids` and (with `beat`) record its heartbeat, in one
        transaction: {job id: (lease version, state)} of those it still owns. A missing id, or another
        version than the caller's, is a lease lost (claimed by another replica after it expired)."""
        now = time.time() if now is None else now
        held: dict[str, tuple[int, str]] = {}
        async with self.db.transaction() as tx:
            if beat:
                await tx.execute("INSERT INTO replicas (id, seen_at) VALUES (?, ?)"
                                 " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at", (owner, now))
            for batch in _chunks(job_ids):
                rows = await tx.fetch(
                    f"UPDATE jobs SET lease_expires = ? WHERE lease_owner = ? AND id IN ({_marks(batch)})"
                    " RETURNING id, lease_version, state", [now + lease_seconds, owner, *batch])
                held.update({row["id"]: (row["lease_version"], row["state"]) for row in rows})
        return held

    async def release_leases(self, owner: str, fences: dict[str, int], *, leave: bool = False) -> int:
        """Hand leases back at once (a graceful stop, or a job this replica stops driving), so another
        replica takes the jobs over without waiting for them to expire. Only leases still at the
        caller's versions. `leave`: this replica also stops counting toward the fair share."""
        released = 0
        async with self.db.transaction() as tx:
            if leave:
                await tx.execute("DELETE FROM replicas WHERE id = ?", (owner,))
            for batch in _chunks(fences):
                rows = await tx.fetch(
                    f"SELECT id, lease_version FROM jobs WHERE lease_owner = ? AND id IN ({_marks(batch)})"
                    f"{tx.for_update}", [owner, *batch])
                mine = [row["id"] for row in rows if fences.get(row["id"]) == row["lease_version"]]
                if mine:
                    released += await tx.execute(
                        f"UPDATE jobs SET lease_owner = NULL, lease_expires = NULL WHERE id IN ({_marks(mine)})",
                        mine)
            if released:
                await tx.notify("free")
        return released

    async def hold_lease(self, job_id: str) -> None:
        """Under a lease (`fenced`): raise LeaseLost unless it is still this one. Checked right before
        a side effect that no write guards (posting the video), so a replica that slept past its
        lease posts nothing. Nothing to check outside a lease."""
        fence = fence_for(job_id)
        if fence is not None:
            await raise_if_fenced_out(self.db, fence)

    async def lease_of(self, job_id: str) -> tuple[str | None, float | None, int] | None:
        """(owner, expires, version) of a job's lease; None when there is no such job."""
        rows = await self.db.fetch("SELECT lease_owner, lease_expires, lease_version FROM jobs WHERE id = ?",
                                   (job_id,))
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    async def lease_counts(self, *, now: float | None = None) -> dict[str, int]:
        """Live leases on unfinished jobs per replica (for balance checks and benchmarks)."""
        now = time.time() if now is None else now
        rows = await self.db.fetch(
            f"SELECT lease_owner, COUNT(*) FROM jobs WHERE state IN ({_marks(_UNFINISHED)})"
            " AND lease_owner IS NOT NULL AND lease_expires >= ? GROUP BY lease_owner", [*_UNFINISHED, now])
        return {row[0]: row[1] for row in rows}

    async def replica_loads(self, *, within: float, origin: str | None = None,
                            now: float | None = None) -> dict[str, int]:
        """Each live replica (a heartbeat younger than `within` seconds) and its live leases on
        unfinished jobs (of `origin`), 0 for one that holds none: who is overloaded, who idle."""
        now = time.time() if now is None else now
        on, params = f"j.lease_owner = r.id AND j.state IN ({_marks(_UNFINISHED)}) AND j.lease_expires >= ?", \
            [*_UNFINISHED, now]
        if origin is not None:
            on += " AND j.origin = ?"
            params.append(origin)
        rows = await self.db.fetch(f"SELECT r.id, COUNT(j.id) FROM replicas r LEFT JOIN jobs j ON {on}"
                                   " WHERE r.seen_at >= ? GROUP BY r.id", [*params, now - within])
        return {row[0]: row[1] for row in rows}

    async def live_replicas(self, *, within: float, now: float | None = None) -> int:
        """Replicas whose heartbeat is younger than `within` seconds."""
        now = time.time() if now is None else now
        return (await self.db.fetch("SELECT COUNT(*) FROM replicas WHERE seen_at >= ?", (now - within,)))[0][0]

    async def count_unfinished(self, origin: str | None = None) -> int:
        where, params = f"state IN ({_marks(_UNFINISHED)})", list(_UNFINISHED)
        if origin is not None:
            where += " AND origin = ?"
            params.append(origin)
        return (await self.db.fetch(f"SELECT COUNT(*) FROM jobs WHERE {where}", params))[0][0]

    async def count_in_flight(self, origin: str | None = None, *, not_owner: str | None = None) -> int:
        """Tasks in flight upstream (submitted, queued, running) over every replica; with
        `not_owner`, those another replica (or none) drives."""
        where, params = f"state IN ({IN_FLIGHT_SQL})", []  # literals: migration 12's index serves it
        if origin is not None:
            where += " AND origin = ?"
            params.append(origin)
        if not_owner is not None:
            where += " AND (lease_owner IS NULL OR lease_owner != ?)"
            params.append(not_owner)
        return (await self.db.fetch(f"SELECT COUNT(*) FROM jobs WHERE {where}", params))[0][0]

    async def take_unanswered(self, replica: str, *, since: float, live_within: float, reclaim_own: bool = False,
                              before: float | None = None, now: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The requests received (and acknowledged) since `since` but not answered whose replica is
        gone (no heartbeat within `live_within` seconds), and with `reclaim_own` (at start only)
        this replica's own previous run's (same id). Taken for `replica` in one statement, so two
        replicas never replay the same one; those a live replica is answering right now are left to
        it; with `before`, only those received before then (a replica's own, since it started, are its
        live handlers'). Oldest first."""
        now = time.time() if now is None else now
        own = " OR replica = ?" if reclaim_own else ""
        params = (replica, since, float("inf") if before is None else before, *((replica,) if reclaim_own else ()),
                  now - live_within)
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE seen_requests SET replica = ? WHERE key IN (SELECT key FROM seen_requests"
                f" WHERE done = 0 AND at >= ? AND at < ? AND (replica IS NULL{own} OR replica NOT IN"
                f" (SELECT id FROM replicas WHERE seen_at >= ?)){tx.skip_locked}) RETURNING key, payload, answer, at",
                params)
        rows = sorted(rows, key=lambda row: row["at"])
        return [(row["key"], unanswered(row)) for row in rows]

    async def announce(self, owner: str) -> bool:
        """Say this replica is alive while its process is (PostgreSQL: a session lock the server drops
        when the process dies); see `others_alive`."""
        return await self.db.announce(owner)

    async def others_alive(self, owner: str) -> bool:
        """Whether any replica but `owner` is alive right now (its process, not its heartbeat: a
        replica killed a second ago has a fresh heartbeat but no presence)."""
        return await self.db.others_alive(owner)

    async def listen(self, callback) -> Any:
        """Call `callback(payload)` on each notice of this database ("new JOB", "lease JOB", "free",
        "ended JOB"); PostgreSQL's LISTEN/NOTIFY. None on SQLite (one process: in-process wake-ups)."""
        return await self.db.listen(callback)
