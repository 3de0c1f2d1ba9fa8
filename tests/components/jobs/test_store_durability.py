"""Issue 14 item 20: on SQLite (WAL), the commits around paid calls are durable against power loss.

With synchronous=NORMAL a WAL commit is synced only at the next checkpoint, so a power cut can roll
back the last commits: losing the move to `submitted` or the task id means a second paid submit,
losing the delivery claim or `delivered` a second post. A power cut cannot be staged in a test; what
can be observed is the mode each commit ran under. SQLite's trace hook sees every statement the real
tracker's store runs for a real job against the simulator, so this checks each of those commits was
made under synchronous=FULL (WAL synced before COMMIT returns), and that the per-poll writes were not
(they need no fsync; bench/store_bench.py measures what FULL costs).
"""

from __future__ import annotations

import asyncio

from bot.jobs.models import JobState

from .conftest import t2v


def _commits(statements: list[str]) -> list[tuple[str, list[str]]]:
    """(synchronous mode in effect, statements) for each COMMIT, in order."""
    mode, pending, commits = "NORMAL", [], []
    for sql in statements:
        text = sql.strip()
        if text.upper().startswith("PRAGMA SYNCHRONOUS="):
            mode = text.split("=", 1)[1].upper()
        elif text.upper() == "COMMIT":
            commits.append((mode, pending))
            pending = []
        elif not text.upper().startswith("BEGIN"):
            pending.append(text)
    return commits


def _is_paid_step(statements: list[str]) -> bool:
    writes = [s for s in statements if s.upper().startswith("UPDATE JOBS")]
    return any("state = 'submitted'" in s or "state = 'delivered'" in s or "task_id = '" in s
               or "delivery_state = 'posting'" in s for s in writes)


async def test_commits_around_paid_calls_are_synced_and_poll_writes_are_not(run_tracker):
    tracker = await run_tracker()
    statements: list[str] = []
    connection = tracker.store.db._db  # the SQLite backend's aiosqlite connection
    await connection.set_trace_callback(statements.append)
    job = await tracker.enqueue(t2v(duration=3))
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state == JobState.DELIVERED
    await connection.set_trace_callback(None)

    commits = _commits(statements)
    paid = [(mode, sql) for mode, sql in commits if _is_paid_step(sql)]
    # submitted, the task id (with queued or running), the delivery claim, delivered
    assert len(paid) >= 4, commits
    assert all(mode == "FULL" for mode, _ in paid), [(m, s) for m, s in paid if m != "FULL"]
    polls = [mode for mode, sql in commits if not _is_paid_step(sql)
             and any(s.upper().startswith("UPDATE JOBS") for s in sql)]
    assert polls and all(mode == "NORMAL" for mode in polls)
    # after a synced commit the connection is back to NORMAL for the next one
    assert statements[-1].upper() != "PRAGMA SYNCHRONOUS=FULL"
