"""All SQL lives here, behind a small async interface (a PostgreSQL backend could replace it).

SQLite in WAL mode through aiosqlite; the schema is versioned and migrated on open. Every state
change is a compare-and-set on the row plus an event row, in one transaction, so a crash can never
leave a transition half-written.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import Iterable
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs.models import TERMINAL_STATES, DeliveryState, Job, JobState

MIGRATIONS: list[str] = [
    # 1: jobs and their events
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        request TEXT NOT NULL,
        state TEXT NOT NULL,
        origin TEXT NOT NULL,
        user_id TEXT, channel_id TEXT, thread_ts TEXT, message_ts TEXT, response_url TEXT,
        task_id TEXT,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        submitted_at REAL, started_at REAL, finished_at REAL, next_poll_at REAL,
        poll_count INTEGER NOT NULL DEFAULT 0,
        submit_attempts INTEGER NOT NULL DEFAULT 0,
        progress INTEGER,
        estimated_cost_usd REAL NOT NULL DEFAULT 0,
        billed_cost_usd REAL, billed_seconds REAL,
        error_code TEXT, error_message TEXT, request_id TEXT,
        video_url TEXT,
        delivery_state TEXT NOT NULL DEFAULT 'none',
        review_state TEXT, reviewed_by TEXT, reviewed_at REAL, review_note TEXT,
        extra TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX jobs_state ON jobs(state, created_at);
    CREATE INDEX jobs_user ON jobs(user_id, created_at);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id),
        at REAL NOT NULL,
        from_state TEXT, to_state TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX job_events_job ON job_events(job_id, id);
    """,
    # 2: support triage records and idempotency of incoming Slack requests
    """
    CREATE TABLE triage_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        staff_user TEXT, channel_id TEXT,
        verdict TEXT NOT NULL, amount_usd REAL,
        task_ids TEXT NOT NULL DEFAULT '[]',
        summary TEXT
    );
    CREATE TABLE seen_requests (
        key TEXT PRIMARY KEY,
        at REAL NOT NULL,
        job_id TEXT
    );
    """,
    # 3: an inbox of incoming commands: stored before Slack gets its ack, answered (done) afterwards,
    # so a crash in between is replayed on restart instead of silently dropping an acknowledged command
    """
    ALTER TABLE seen_requests ADD COLUMN payload TEXT;
    ALTER TABLE seen_requests ADD COLUMN done INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE jobs ADD COLUMN card_state TEXT;
    UPDATE jobs SET card_state = state;
    """,
    # 4: the customer reply of a triage, so "Post reply in thread" still works after a restart
    """
    ALTER TABLE triage_records ADD COLUMN reply TEXT;
    ALTER TABLE triage_records ADD COLUMN reply_channel TEXT;
    ALTER TABLE triage_records ADD COLUMN reply_thread_ts TEXT;
    """,
    # 5: indexes for the queries that otherwise read every job: the learned run time (newest finished
    # first) and spend since a time (every Slack job start checks the budget). Both columns are written
    # once or twice per job, never per poll.
    """
    CREATE INDEX jobs_finished ON jobs(finished_at);
    CREATE INDEX jobs_created ON jobs(created_at);
    """,
]

_UNFINISHED = [s.value for s in JobState if s not in TERMINAL_STATES]

_JOB_COLUMNS = [f.name for f in dataclass_fields(Job)]


def _serialized(method):
    """Run a write method under the store's lock (see JobStore.write_lock)."""

    @functools.wraps(method)
    async def locked(self, *args, **kwargs):
        async with self.write_lock:
            return await method(self, *args, **kwargs)

    return locked


class StaleTransition(Exception):
    """The job was not in the expected state (someone else moved it first)."""


def _row_to_job(row: aiosqlite.Row) -> Job:
    data = dict(row)
    data["request"] = json.loads(data["request"])
    data["extra"] = json.loads(data["extra"] or "{}")
    data["state"] = JobState(data["state"])
    data["delivery_state"] = DeliveryState(data["delivery_state"])
    return Job(**data)


def _encode(name: str, value: Any) -> Any:
    if name in ("request", "extra"):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, (JobState, DeliveryState)):
        return value.value
    return value


class JobStore:
    def __init__(self, db: aiosqlite.Connection, path: str):
        self._db = db
        self.path = path
        # One connection is shared by every coroutine: writes take this lock so that each
        # check-update-event-commit sequence is one transaction, never interleaved with another.
        self.write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | os.PathLike) -> JobStore:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Owner-only: the database holds prompts, user ids and spend.
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
        db = await aiosqlite.connect(path, timeout=30)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable against process crashes
        await db.execute("PRAGMA foreign_keys=ON")
        store = cls(db, path)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            current = (await cur.fetchone())[0] or 0
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            await self._db.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_version VALUES ({version});\nCOMMIT;")

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            return (await cur.fetchone())[0]

    # -- jobs ----------------------------------------------------------------------------------

    @_serialized
    async def create_job(self, job: Job, *, request_key: str | None = None) -> Job:
        """Insert a new job; with `request_key`, the incoming request (see `receive_request`) is marked
        answered by this job in the same transaction, so a replay can never start it twice."""
        now = time.time()
        job.created_at = job.created_at or now
        job.updated_at = now
        values = {name: _encode(name, getattr(job, name)) for name in _JOB_COLUMNS}
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        await self._db.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", list(values.values()))
        await self._db.execute(
            "INSERT INTO job_events (job_id, at, from_state, to_state, detail) VALUES (?, ?, NULL, ?, ?)",
            (job.id, now, job.state.value, json.dumps({"estimated_cost_usd": job.estimated_cost_usd})))
        if request_key is not None:
            await self._db.execute("UPDATE seen_requests SET job_id = ?, done = 1 WHERE key = ?",
                                   (job.id, request_key))
        await self._db.commit()
        return job

    @_serialized
    async def discard_job(self, job_id: str) -> bool:
        """Remove a job that never started: still pending and without a Slack card (it could not be posted)."""
        async with self._db.execute("SELECT 1 FROM jobs WHERE id = ? AND state = ? AND message_ts IS NULL",
                                    (job_id, JobState.PENDING.value)) as cur:
            if await cur.fetchone() is None:
                return False
        await self._db.execute("DELETE FROM job_events WHERE job_id = ?", (job_id,))
        await self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        await self._db.commit()
        return True

    async def get_job(self, job_id: str) -> Job | None:
        # execute_fetchall: one trip to the connection's thread (execute, fetchone and close are three).
        rows = await self._db.execute_fetchall("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _row_to_job(rows[0]) if rows else None

    async def find_job(self, prefix: str) -> Job | None:
        """A job by its id or an unambiguous prefix of it (users type short ids)."""
        job = await self.get_job(prefix)
        if job or len(prefix) < 4:
            return job
        async with self._db.execute("SELECT * FROM jobs WHERE id LIKE ? LIMIT 2", (prefix + "%",)) as cur:
            rows = await cur.fetchall()
        return _row_to_job(rows[0]) if len(rows) == 1 else None

    @_serialized
    async def transition(self, job_id: str, to: JobState, *, expect: Iterable[JobState] | None = None,
                         detail: dict[str, Any] | None = None, **changes: Any) -> Job:
        """Move a job to `to` (only from a state in `expect`, when given) and record the event.

        Raises StaleTransition when the job is not in an expected state: the caller lost a race
        (e.g. a cancel arrived while a poll was in flight) and must not act on its stale view.
        """
        now = time.time()
        changes = {"state": to, "updated_at": now, **changes}
        if to.terminal and "finished_at" not in changes:
            changes["finished_at"] = now
        assignments = ", ".join(f"{name} = ?" for name in changes)
        values = [_encode(name, value) for name, value in changes.items()]
        where, where_params = "id = ?", [job_id]
        if expect is not None:
            expected = [state.value for state in expect]
            where += f" AND state IN ({', '.join('?' for _ in expected)})"
            where_params.extend(expected)
        # Three trips to the database thread (each costs ~0.1 ms under load): the event is recorded from
        # the row as it stands, only if it is in an expected state; then the update returns the new row.
        recorded = await self._db.execute(
            "INSERT INTO job_events (job_id, at, from_state, to_state, detail) "
            f"SELECT id, ?, state, ?, ? FROM jobs WHERE {where}",
            [now, to.value, json.dumps(detail or {}, default=str, ensure_ascii=False), *where_params])
        if recorded.rowcount != 1:
            await self._db.rollback()
            rows = await self._db.execute_fetchall("SELECT state FROM jobs WHERE id = ?", (job_id,))
            if not rows:
                raise KeyError(job_id)
            raise StaleTransition(
                f"job {job_id} is {rows[0]['state']}, not in {sorted(s.value for s in expect or [])}")
        rows = await self._db.execute_fetchall(f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING *",
                                               [*values, job_id])
        await self._db.commit()
        return _row_to_job(rows[0])

    @_serialized
    async def update(self, job_id: str, **changes: Any) -> Job:
        """Change fields that are not the state (progress, poll times, the card's ts, review)."""
        if "state" in changes:
            raise ValueError("use transition() to change a job's state")
        changes["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        params = [_encode(name, value) for name, value in changes.items()] + [job_id]
        rows = await self._db.execute_fetchall(f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING *", params)
        await self._db.commit()
        return _row_to_job(rows[0]) if rows else None

    @_serialized
    async def claim_delivery(self, job_id: str) -> bool:
        """Mark the delivery as started, once. False if another worker already started it."""
        cursor = await self._db.execute(
            "UPDATE jobs SET delivery_state = ?, updated_at = ? WHERE id = ? AND delivery_state = ?",
            (DeliveryState.POSTING.value, time.time(), job_id, DeliveryState.NONE.value))
        await self._db.commit()
        return cursor.rowcount == 1

    async def list_jobs(self, *, user_id: str | None = None, states: Iterable[JobState] | None = None,
                        limit: int = 20) -> list[Job]:
        where, params = ["1=1"], []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if states is not None:
            values = [s.value for s in states]
            where.append(f"state IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        sql = f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        async with self._db.execute(sql, [*params, limit]) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def unfinished_jobs(self, origin: str | None = None) -> list[Job]:
        """Every job a restart must pick up, oldest first (first come, first served)."""
        # `state IN (unfinished)` rather than `NOT IN (terminal)`: the jobs_state index finds the few
        # unfinished jobs instead of reading every finished one.
        sql = (f"SELECT * FROM jobs WHERE state IN ({', '.join('?' for _ in _UNFINISHED)})"
               " AND (? IS NULL OR origin = ?) ORDER BY created_at, rowid")
        async with self._db.execute(sql, [*_UNFINISHED, origin, origin]) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def stale_cards(self, *, since: float) -> list[Job]:
        """Jobs changed since `since` whose Slack card last showed another state (a crash came between)."""
        sql = ("SELECT * FROM jobs WHERE message_ts IS NOT NULL AND updated_at >= ?"
               " AND (card_state IS NULL OR card_state != state) ORDER BY created_at, rowid")
        async with self._db.execute(sql, (since,)) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def count_active(self, user_id: str) -> int:
        sql = f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN ({', '.join('?' for _ in _UNFINISHED)})"
        async with self._db.execute(sql, [user_id, *_UNFINISHED]) as cur:
            return (await cur.fetchone())[0]

    async def recent_run_seconds(self, mode: str, duration: int, limit: int = 20) -> list[float]:
        """How long recent finished jobs of this mode and duration took upstream (submit to end)."""
        # `+state`: walk the jobs_finished index newest first and stop after `limit` matches, instead
        # of reading every succeeded/delivered job through jobs_state and sorting them.
        sql = """SELECT finished_at - submitted_at FROM jobs
                 WHERE +state IN ('succeeded', 'delivered') AND submitted_at IS NOT NULL
                   AND json_extract(request, '$.mode') = ?
                   AND COALESCE(json_extract(request, '$.input.duration'), 5) = ?
                 ORDER BY finished_at DESC LIMIT ?"""
        async with self._db.execute(sql, (mode, duration, limit)) as cur:
            return [row[0] for row in await cur.fetchall() if row[0] is not None and row[0] > 0]

    async def events(self, job_id: str) -> list[dict[str, Any]]:
        async with self._db.execute(
                "SELECT at, from_state, to_state, detail FROM job_events WHERE job_id = ? ORDER BY id",
                (job_id,)) as cur:
            return [{"at": r["at"], "from": r["from_state"], "to": r["to_state"],
                     "detail": json.loads(r["detail"])} for r in await cur.fetchall()]

    async def spend(self, *, since: float, user_id: str | None = None) -> dict[str, float]:
        """Billed and estimated spend since a time, for one user or everyone."""
        # Two spellings rather than `(? IS NULL OR user_id = ?)`, which no index can serve.
        where, params = ("created_at >= ?", [since]) if user_id is None else \
            ("user_id = ? AND created_at >= ?", [user_id, since])
        sql = f"""SELECT COALESCE(SUM(billed_cost_usd), 0), COALESCE(SUM(estimated_cost_usd), 0), COUNT(*)
                  FROM jobs WHERE {where}"""
        async with self._db.execute(sql, params) as cur:
            billed, estimated, count = await cur.fetchone()
        return {"billed_usd": round(billed, 4), "estimated_usd": round(estimated, 4), "jobs": count}

    async def spend_by(self, column: str, *, since: float, limit: int = 10) -> list[tuple[str, float, int]]:
        if column not in ("user_id", "channel_id"):
            raise ValueError(column)
        sql = f"""SELECT {column}, COALESCE(SUM(billed_cost_usd), 0) AS billed, COUNT(*) FROM jobs
                  WHERE created_at >= ? AND {column} IS NOT NULL
                  GROUP BY {column} ORDER BY billed DESC LIMIT ?"""
        async with self._db.execute(sql, (since, limit)) as cur:
            return [(r[0], round(r[1], 4), r[2]) for r in await cur.fetchall()]

    # -- incoming request de-duplication (Slack retries) ---------------------------------------

    @_serialized
    async def remember_request(self, key: str, job_id: str | None = None) -> bool:
        """True the first time a key is seen; False for a repeat (e.g. Slack's X-Slack-Retry-Num)."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO seen_requests (key, at, job_id) VALUES (?, ?, ?)", (key, time.time(), job_id))
        await self._db.commit()
        return cursor.rowcount == 1

    @_serialized
    async def receive_request(self, key: str, payload: dict[str, Any]) -> bool:
        """Store an incoming request before it is acknowledged. False for a repeat of a stored one."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO seen_requests (key, at, payload, done) VALUES (?, ?, ?, 0)",
            (key, time.time(), json.dumps(payload, ensure_ascii=False)))
        await self._db.commit()
        return cursor.rowcount == 1

    @_serialized
    async def request_done(self, key: str) -> None:
        await self._db.execute("UPDATE seen_requests SET done = 1, payload = NULL WHERE key = ?", (key,))
        await self._db.commit()

    async def unanswered_requests(self, *, since: float) -> list[tuple[str, dict[str, Any]]]:
        """Requests received (and acknowledged) but not answered, oldest first: a crash came between."""
        async with self._db.execute(
                "SELECT key, payload FROM seen_requests WHERE done = 0 AND at >= ? ORDER BY at", (since,)) as cur:
            return [(r["key"], json.loads(r["payload"] or "{}")) for r in await cur.fetchall()]

    # -- triage --------------------------------------------------------------------------------

    @_serialized
    async def add_triage_record(self, *, staff_user: str | None, channel_id: str | None, verdict: str,
                                amount_usd: float | None, task_ids: list[str], summary: str) -> int:
        cursor = await self._db.execute(
            "INSERT INTO triage_records (at, staff_user, channel_id, verdict, amount_usd, task_ids, summary)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), staff_user, channel_id, verdict, amount_usd, json.dumps(task_ids), summary))
        await self._db.commit()
        return cursor.lastrowid

    @_serialized
    async def keep_triage_reply(self, record_id: int, *, channel_id: str, thread_ts: str, reply: str) -> None:
        await self._db.execute(
            "UPDATE triage_records SET reply = ?, reply_channel = ?, reply_thread_ts = ? WHERE id = ?",
            (reply, channel_id, thread_ts, record_id))
        await self._db.commit()

    async def triage_record(self, record_id: int) -> dict[str, Any] | None:
        async with self._db.execute("SELECT * FROM triage_records WHERE id = ?", (record_id,)) as cur:
            row = await cur.fetchone()
        return {**dict(row), "task_ids": json.loads(row["task_ids"])} if row else None

    async def refunds_due(self, *, since: float) -> tuple[int, float]:
        """How many `refund_due` triage verdicts since a time, and their total in USD."""
        sql = "SELECT COUNT(*), COALESCE(SUM(amount_usd), 0) FROM triage_records WHERE verdict = 'refund_due' AND at >= ?"
        async with self._db.execute(sql, (since,)) as cur:
            count, usd = await cur.fetchone()
        return count, round(usd, 4)

    async def triage_records(self, *, verdict: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql = "SELECT * FROM triage_records WHERE (? IS NULL OR verdict = ?) ORDER BY id DESC LIMIT ?"
        async with self._db.execute(sql, (verdict, verdict, limit)) as cur:
            rows = await cur.fetchall()
        return [{**dict(r), "task_ids": json.loads(r["task_ids"])} for r in rows]
