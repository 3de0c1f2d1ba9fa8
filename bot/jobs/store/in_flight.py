"""WAN_MAX_IN_FLIGHT over every replica on one database (issue 11): the move to `submitted` admits a
task only while fewer than the limit of its origin are in flight upstream, counted in the database.

Before, every such move took one lock for the whole database and counted under it, so the fleet's
submits went one at a time, each holding the lock for its transaction's round trips and a count
(bench/README.md section 7). Now a move far from the limit takes that lock *shared* plus one of
`TOKENS` token locks; only a move near the limit takes it exclusive, as before. Why a task is never
admitted past the limit (for each origin and limit): let R be the moves that passed their count but
have not committed, and C the tasks committed in flight. C + |R| never exceeds the limit, because
- a shared move holds its token from before its count until it ends, so when it passes, R holds at
  most `TOKENS - 1` others; its count is a statement after its locks, so it is at least C; it passes
  only if count + `TOKENS` <= limit, so C + |R| stays within the limit;
- an exclusive move waits for every shared holder to end and keeps new ones out, so R is empty
  but for itself from its count to its commit; it passes only if its count < limit;
- a commit moves one from R to C, and a task that ends lowers C.
Hence C <= limit. (Outside the cap, as before: a resumed submit, already counted, and an admin's
settle naming a task that is alive upstream.) The key of the lock is the one the releases before this took exclusively, so
replicas of both kinds during a rolling deploy still exclude each other.

A move whose shared count is too close to the limit rolls back (it wrote nothing yet) and runs again
on the exclusive lock; the store remembers that and goes straight to the exclusive lock until a count
says the limit is far again. `TOKENS` must be the same on every replica of a database (a constant).
SQLite needs none of this: its one writer (BEGIN IMMEDIATE) already serialises every move there.
No limit, no lock: callers pass no cap then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.jobs.models import JobState
from bot.jobs.store.errors import NoUpstreamSlot

TOKENS = 8  # moves admitted at once on the shared path; also the margin it keeps from the limit

# Literal states (enum values, no user input): a plan made for bound values could not use an index
# whose WHERE names them. Every count of the jobs in flight uses this list (leases.count_in_flight too).
IN_FLIGHT_SQL = ", ".join(f"'{s.value}'" for s in sorted(JobState.IN_FLIGHT_UPSTREAM))

T = TypeVar("T")


class _TooClose(Exception):
    """The shared path's count is within `TOKENS` of the limit: run again on the exclusive lock."""


class InFlightGate:
    """One per store: runs a transaction that moves a job into flight upstream under the cap."""

    def __init__(self) -> None:
        self.near = False  # the last count was within TOKENS of the limit: go exclusive at once

    async def admit(self, db: Any, limit: int, origin: str | None, *, durable: bool,
                    body: Callable[[Any], Awaitable[T]]) -> T:
        """`body(tx)` in one transaction that first checks the cap; NoUpstreamSlot when it is full."""
        for shared in ((False,) if self.near else (True, False)):
            try:
                async with db.transaction(durable=durable) as tx:
                    margin = await tx.in_flight_lock(shared=shared, tokens=TOKENS)
                    count = await _count(tx, origin)
                    self.near = count + TOKENS > limit
                    if count + margin > limit:
                        if margin > 1:
                            raise _TooClose
                        raise NoUpstreamSlot(f"{limit} tasks already in flight upstream")
                    return await body(tx)
            except _TooClose:
                continue
        raise AssertionError("the exclusive pass either admits or raises NoUpstreamSlot")


async def _count(tx: Any, origin: str | None) -> int:
    sql = f"SELECT COUNT(*) FROM jobs WHERE state IN ({IN_FLIGHT_SQL})"
    params: list[Any] = []
    if origin is not None:
        sql += " AND origin = ?"
        params.append(origin)
    return (await tx.fetch(sql, params))[0][0]
