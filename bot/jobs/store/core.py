"""The job store: every query the bot makes, written once for both backends.

`JobStore.open(WANBOT_DB)` picks the backend from the location: SQLite (a path or `sqlite:///...`,
the embedded default) or PostgreSQL (`postgresql://...`, several replicas on one database). The
backends (sqlite.py, postgres.py) only run statements and transactions; the schema is versioned and
migrated on open (schema.py). Every state change is a compare-and-set on the row plus an event row,
in one transaction, so a crash can never leave a transition half-written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import fields as dataclass_fields
from typing import Any

from bot.jobs import attachments
from bot.jobs.models import TERMINAL_STATES, DeliveryState, Job, JobState
from bot.jobs.store.buckets import BucketQueries
from bot.jobs.store.errors import LeaseLost, NoUpstreamSlot, RequestAnswered, StaleTransition
from bot.jobs.store.in_flight import InFlightGate
from bot.jobs.store.inbox import InboxQueries, record_refusal
from bot.jobs.store.leases import (
    LeaseQueries,
    check_fence,
    fence_for,
    fence_sql,
    raise_if_fenced_out,
)
from bot.jobs.store.location import is_postgresql, sqlite_path
from bot.jobs.store.presets import PresetQueries
from bot.jobs.store.schema import MIGRATIONS
from bot.jobs.store.sqlite import SqliteDatabase
from bot.jobs.store.standing import Standing, commitments, read_standing

_UNFINISHED = [s.value for s in JobState if s not in TERMINAL_STATES]
_IN_UNFINISHED = f"state IN ({', '.join('?' for _ in _UNFINISHED)})"

_JOB_COLUMNS = [f.name for f in dataclass_fields(Job)]
_JOB_COLUMN_SET = frozenset(_JOB_COLUMNS)
# Named columns, not `*`: a list reads what a Job holds and nothing a later migration adds beside it.
_SELECT_JOBS = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"

# The commits around paid calls: the move to `submitted` (a submit is about to be paid for), the
# task id (the paid task exists), the delivery claim and `delivered` (the video was posted). Lost to
# a power cut, each would mean a second paid submit or a second post; the store makes them durable.
_PAID_STATES = frozenset({JobState.SUBMITTED, JobState.DELIVERED})
_PAID_FIELDS = frozenset({"task_id", "delivery_state"})



__all__ = ["JobStore", "LeaseLost", "NoUpstreamSlot", "StaleTransition"]




def _row_to_job(row: Any) -> Job:
    data = dict(row)
    if len(data) != len(_JOB_COLUMNS):  # PostgreSQL's explicit rowid
        data = {k: v for k, v in data.items() if k in _JOB_COLUMN_SET}
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


def _marks(values: Iterable[Any]) -> str:
    return ", ".join("?" for _ in values)


class JobStore(PresetQueries, BucketQueries, LeaseQueries, InboxQueries):
    def __init__(self, db: Any, location: str):
        self.db = db
        self.location = location
        self.path = db.path  # the SQLite file, or the PostgreSQL URL without its password
        self.dialect = db.dialect
        self._requests_pruned_at = 0.0  # never yet: the first incoming request prunes
        self._in_flight = InFlightGate()

    @classmethod
    async def open(cls, location: Any) -> JobStore:
        """Open (and migrate) the store at `location`: a SQLite path or a postgresql:// URL.

        Raises DatabaseUnusable (one line, no secret) when it cannot be used safely."""
        location = str(location)
        if is_postgresql(location):
            from bot.jobs.store.postgres import PostgresDatabase

            db = await PostgresDatabase.open(location)
        else:
            db = await SqliteDatabase.open(sqlite_path(location))
        try:
            await db.migrate(MIGRATIONS)
        except BaseException:
            await db.close()
            raise
        return cls(db, location)

    async def close(self) -> None:
        await self.db.close()

    @staticmethod
    def _job_from_row(row: Any) -> Job:
        return _row_to_job(row)

    async def schema_version(self) -> int:
        return (await self.db.fetch("SELECT MAX(version) FROM schema_version"))[0][0]

    # -- jobs ----------------------------------------------------------------------------------

    async def create_job(self, job: Job, *, request_key: str | None = None) -> Job:
        """Insert a new job; with `request_key`, the incoming request (see `receive_request`) is marked
        answered by this job in the same transaction, so a replay can never start it twice."""
        stored, moved = self._prepare(job)
        async with self.db.transaction() as tx:
            await self._insert(tx, job, stored, moved, request_key)
        if moved:  # storage grows only here, so pruning here bounds it
            await self.prune_attachments()
        return job

    async def create_job_within_limits(self, job: Job, admit: Callable[[Standing], str | None], *,
                                       day_start: float, request_key: str | None = None) -> str | None:
        """Insert a new job (as `create_job`) unless `admit`, shown the user's standing, refuses it.

        The check and the insert are one transaction serialised per user across every process on
        the database (`lock_user`: an advisory lock on PostgreSQL, the write lock taken up front on
        SQLite), so two starts of one user, on one replica or two, can never both pass a limit that
        admits one. The refusal, or None when the job was stored."""
        stored, moved = self._prepare(job)
        async with self.db.transaction() as tx:
            await tx.lock_user(job.user_id or "")
            refusal = admit(await read_standing(tx, job.user_id, day_start))
            if refusal is None:
                await self._insert(tx, job, stored, moved, request_key)
            elif request_key is not None:
                refusal = await record_refusal(tx, request_key, refusal)
        if moved and refusal is None:
            await self.prune_attachments()
        return refusal

    async def standing(self, user_id: str, *, day_start: float) -> Standing:
        """What counts toward a user's limits now (a quick check; starts re-check inside their insert)."""
        return await read_standing(self.db, user_id, day_start)

    @staticmethod
    def _prepare(job: Job) -> tuple[dict[str, Any], dict[str, str]]:
        now = time.time()
        job.created_at = job.created_at or now
        job.updated_at = now
        return attachments.split(job.request)

    @staticmethod
    async def _insert(tx: Any, job: Job, stored: dict[str, Any], moved: dict[str, str],
                      request_key: str | None) -> None:
        values = {name: _encode(name, getattr(job, name)) for name in _JOB_COLUMNS}
        values["request"] = _encode("request", stored)
        await tx.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES ({_marks(values)})",
                         list(values.values()))
        for name, data in moved.items():
            await tx.execute("INSERT INTO job_attachments (job_id, field, data) VALUES (?, ?, ?)",
                             (job.id, name, data))
        await tx.execute(
            "INSERT INTO job_events (job_id, at, from_state, to_state, detail) VALUES (?, ?, NULL, ?, ?)",
            (job.id, job.updated_at, job.state.value, json.dumps({"estimated_cost_usd": job.estimated_cost_usd})))
        if request_key is not None:
            # The request is claimed by its first job only: two replicas answering it at once (one
            # judged gone while it was only slow) must not both start one. A key not in the inbox
            # (pruned, or a start that stored none) starts its job as before.
            if not await tx.execute("UPDATE seen_requests SET job_id = ?, done = 1 WHERE key = ? AND job_id IS NULL"
                                    " AND answer IS NULL", (job.id, request_key)):
                if await tx.fetch("SELECT 1 FROM seen_requests WHERE key = ?", (request_key,)):
                    raise RequestAnswered(request_key)
        await tx.notify(f"new {job.id}")  # an idle replica may take it (bot/jobs/leases.py)

    async def full_request(self, job: Job) -> dict[str, Any] | None:
        """The job's request with its attachments read back (for the submit, a Re-run, a Tweak);
        None when one was pruned (the job ended more than a day ago)."""
        if not attachments.stub_fields(job.request):
            return job.request
        rows = await self.db.fetch("SELECT field, data FROM job_attachments WHERE job_id = ?", (job.id,))
        return attachments.restore(job.request, {r["field"]: r["data"] for r in rows})

    async def prune_attachments(self, *, now: float | None = None) -> int:
        """Delete the attachments of jobs that ended more than KEEP_AFTER_END_SECONDS ago."""
        before = (now if now is not None else time.time()) - attachments.KEEP_AFTER_END_SECONDS
        ended = [s.value for s in TERMINAL_STATES]
        async with self.db.transaction() as tx:
            return await tx.execute(
                "DELETE FROM job_attachments WHERE job_id IN (SELECT id FROM jobs WHERE finished_at < ?"
                f" AND state IN ({_marks(ended)}))", [before, *ended])

    async def discard_job(self, job_id: str) -> bool:
        """Remove a job that never started: still pending and without a Slack card (it could not be posted)."""
        async with self.db.transaction() as tx:
            await tx.lock_job(job_id)
            if not await tx.fetch("SELECT 1 FROM jobs WHERE id = ? AND state = ? AND message_ts IS NULL",
                                  (job_id, JobState.PENDING.value)):
                return False
            await tx.execute("DELETE FROM job_events WHERE job_id = ?", (job_id,))
            await tx.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return True

    async def get_job(self, job_id: str) -> Job | None:
        rows = await self.db.fetch(f"{_SELECT_JOBS} WHERE id = ?", (job_id,))
        return _row_to_job(rows[0]) if rows else None

    async def find_job(self, prefix: str) -> Job | None:
        """A job by its id or an unambiguous prefix of it (users type short ids)."""
        job = await self.get_job(prefix)
        if job or len(prefix) < 4:
            return job
        rows = await self.db.fetch(f"{_SELECT_JOBS} WHERE id LIKE ? LIMIT 2", (prefix + "%",))
        return _row_to_job(rows[0]) if len(rows) == 1 else None

    async def transition(self, job_id: str, to: JobState, *, expect: Iterable[JobState] | None = None,
                         detail: dict[str, Any] | None = None,
                         in_flight_cap: tuple[int, str | None] | None = None, **changes: Any) -> Job:
        """Move a job to `to` (only from a state in `expect`, when given) and record the event.

        Raises StaleTransition when the job is not in an expected state: the caller lost a race
        (e.g. a cancel arrived while a poll was in flight) and must not act on its stale view;
        LeaseLost when the write is made under a lease (`leases.fenced`) that another replica has
        claimed since. `in_flight_cap` (limit, origin): raise NoUpstreamSlot instead when that many
        tasks of the origin are already in flight upstream, counted in the database (every
        replica's) in the same transaction (in_flight.py). A job that ends hands its lease back.
        """
        now = time.time()
        changes = {"state": to, "updated_at": now, **changes}
        if to.terminal and "finished_at" not in changes:
            changes["finished_at"] = now
        if to.terminal:
            changes.update(lease_owner=None, lease_expires=None)
        assignments = ", ".join(f"{name} = ?" for name in changes)
        values = [_encode(name, value) for name, value in changes.items()]
        fence = fence_for(job_id)
        where, where_params = "id = ?", [job_id]
        if expect is not None:
            expected = [state.value for state in expect]
            where += f" AND state IN ({_marks(expected)})"
            where_params.extend(expected)
        fence_where, fence_params = fence_sql(fence)
        where += fence_where
        where_params.extend(fence_params)
        durable = to in _PAID_STATES or not _PAID_FIELDS.isdisjoint(changes)

        async def move(tx: Any) -> list[Any]:
            await tx.lock_job(job_id)
            # Two statements: the event is recorded from the row as it stands, only if it is in an
            # expected state; then the update returns the new row.
            recorded = await tx.execute(
                "INSERT INTO job_events (job_id, at, from_state, to_state, detail) "
                f"SELECT id, ?, state, ?, ? FROM jobs WHERE {where}",
                [now, to.value, json.dumps(detail or {}, default=str, ensure_ascii=False), *where_params])
            if recorded != 1:
                rows = await tx.fetch("SELECT state, lease_owner, lease_version FROM jobs WHERE id = ?", (job_id,))
                if not rows:
                    raise KeyError(job_id)
                check_fence(fence, rows[0])
                raise StaleTransition(
                    f"job {job_id} is {rows[0]['state']}, not in {sorted(s.value for s in expect or [])}")
            return await tx.fetch(f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING *", [*values, job_id])

        if in_flight_cap is not None:
            rows = await self._in_flight.admit(self.db, *in_flight_cap, durable=durable, body=move)
        else:
            async with self.db.transaction(durable=durable) as tx:
                rows = await move(tx)
        return _row_to_job(rows[0])

    async def update(self, job_id: str, **changes: Any) -> Job | None:
        """Change fields that are not the state (progress, poll times, the card's ts, review)."""
        if "state" in changes:
            raise ValueError("use transition() to change a job's state")
        changes["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        fence = fence_for(job_id)
        fence_where, fence_params = fence_sql(fence)
        params = [_encode(name, value) for name, value in changes.items()] + [job_id, *fence_params]
        async with self.db.transaction(durable=not _PAID_FIELDS.isdisjoint(changes)) as tx:
            rows = await tx.fetch(f"UPDATE jobs SET {assignments} WHERE id = ?{fence_where} RETURNING *", params)
            if not rows and fence is not None:
                await raise_if_fenced_out(tx, fence)
        return _row_to_job(rows[0]) if rows else None

    async def claim_delivery(self, job_id: str) -> bool:
        """Mark the delivery as started, once. False if another worker already started it."""
        fence = fence_for(job_id)
        fence_where, fence_params = fence_sql(fence)
        async with self.db.transaction(durable=True) as tx:
            changed = await tx.execute(
                f"UPDATE jobs SET delivery_state = ?, updated_at = ? WHERE id = ? AND delivery_state = ?{fence_where}",
                (DeliveryState.POSTING.value, time.time(), job_id, DeliveryState.NONE.value, *fence_params))
            if changed != 1 and fence is not None:
                await raise_if_fenced_out(tx, fence)
        return changed == 1

    async def list_jobs(self, *, user_id: str | None = None, states: Iterable[JobState] | None = None,
                        limit: int = 20) -> list[Job]:
        where, params = ["1=1"], []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if states is not None:
            values = [s.value for s in states]
            where.append(f"state IN ({_marks(values)})")
            params.extend(values)
        sql = f"{_SELECT_JOBS} WHERE {' AND '.join(where)} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        return [_row_to_job(row) for row in await self.db.fetch(sql, [*params, limit])]

    async def unfinished_jobs(self, origin: str | None = None) -> list[Job]:
        """Every job a restart must pick up, oldest first (first come, first served)."""
        # `state IN (unfinished)` rather than `NOT IN (terminal)`: the jobs_state index finds the few
        # unfinished jobs instead of reading every finished one.
        where, params = _IN_UNFINISHED, list(_UNFINISHED)
        if origin is not None:
            where += " AND origin = ?"
            params.append(origin)
        rows = await self.db.fetch(f"{_SELECT_JOBS} WHERE {where} ORDER BY created_at, rowid", params)
        return [_row_to_job(row) for row in rows]

    async def stale_cards(self, *, since: float) -> list[Job]:
        """Jobs changed since `since` whose Slack card last showed another state (a crash came between)."""
        sql = (f"{_SELECT_JOBS} WHERE message_ts IS NOT NULL AND updated_at >= ?"
               " AND (card_state IS NULL OR card_state != state) ORDER BY created_at, rowid")
        return [_row_to_job(row) for row in await self.db.fetch(sql, (since,))]

    async def commitments(self, user_id: str) -> tuple[int, float]:
        """What counts toward a user's limits: (jobs, estimated USD of those not billed yet)."""
        return await commitments(self.db, user_id)

    async def count_active(self, user_id: str) -> int:
        return (await self.commitments(user_id))[0]

    async def recent_run_seconds(self, mode: str, duration: int, limit: int = 20) -> list[float]:
        """How long recent finished jobs of this mode and duration took upstream (submit to end)."""
        if self.dialect == "sqlite":
            # `+state`: walk the jobs_finished index newest first and stop after `limit` matches, instead
            # of reading every succeeded/delivered job through jobs_state and sorting them.
            sql = """SELECT finished_at - submitted_at FROM jobs
                     WHERE +state IN ('succeeded', 'delivered') AND submitted_at IS NOT NULL
                       AND json_extract(request, '$.mode') = ?
                       AND COALESCE(json_extract(request, '$.input.duration'), 5) = ?
                     ORDER BY finished_at DESC LIMIT ?"""
        else:
            sql = """SELECT finished_at - submitted_at FROM jobs
                     WHERE state IN ('succeeded', 'delivered') AND submitted_at IS NOT NULL
                       AND request::jsonb ->> 'mode' = ?
                       AND COALESCE((request::jsonb #>> '{input,duration}')::float8, 5) = ?
                     ORDER BY finished_at DESC NULLS LAST LIMIT ?"""
        rows = await self.db.fetch(sql, (mode, duration, limit))
        return [row[0] for row in rows if row[0] is not None and row[0] > 0]

    async def events(self, job_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT at, from_state, to_state, detail FROM job_events WHERE job_id = ? ORDER BY id", (job_id,))
        return [{"at": r["at"], "from": r["from_state"], "to": r["to_state"], "detail": json.loads(r["detail"])}
                for r in rows]

    async def spend(self, *, since: float, user_id: str | None = None) -> dict[str, float]:
        """Billed and estimated spend since a time, for one user or everyone."""
        # Two spellings rather than `(? IS NULL OR user_id = ?)`, which no index can serve.
        where, params = ("created_at >= ?", [since]) if user_id is None else \
            ("user_id = ? AND created_at >= ?", [user_id, since])
        sql = f"""SELECT COALESCE(SUM(billed_cost_usd), 0), COALESCE(SUM(estimated_cost_usd), 0), COUNT(*)
                  FROM jobs WHERE {where}"""
        billed, estimated, count = (await self.db.fetch(sql, params))[0]
        return {"billed_usd": round(billed, 4), "estimated_usd": round(estimated, 4), "jobs": count}

    async def spend_by(self, column: str, *, since: float, limit: int = 10) -> list[tuple[str, float, int]]:
        if column not in ("user_id", "channel_id"):
            raise ValueError(column)
        sql = f"""SELECT {column}, COALESCE(SUM(billed_cost_usd), 0) AS billed, COUNT(*) FROM jobs
                  WHERE created_at >= ? AND {column} IS NOT NULL
                  GROUP BY {column} ORDER BY billed DESC LIMIT ?"""
        return [(r[0], round(r[1], 4), r[2]) for r in await self.db.fetch(sql, (since, limit))]

    # -- triage --------------------------------------------------------------------------------

    async def add_triage_record(self, *, staff_user: str | None, channel_id: str | None, verdict: str,
                                amount_usd: float | None, task_ids: list[str], summary: str,
                                details: list[dict[str, Any]] | None = None) -> int:
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "INSERT INTO triage_records (at, staff_user, channel_id, verdict, amount_usd, task_ids, summary,"
                " details) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (time.time(), staff_user, channel_id, verdict, amount_usd, json.dumps(task_ids), summary,
                 json.dumps(details) if details is not None else None))
        return rows[0][0]

    async def keep_triage_reply(self, record_id: int, *, channel_id: str, thread_ts: str, reply: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE triage_records SET reply = ?, reply_channel = ?, reply_thread_ts = ? WHERE id = ?",
                (reply, channel_id, thread_ts, record_id))

    async def triage_record(self, record_id: int) -> dict[str, Any] | None:
        rows = await self.db.fetch("SELECT * FROM triage_records WHERE id = ?", (record_id,))
        return _triage_row(rows[0]) if rows else None

    async def refunds_due(self, *, since: float) -> tuple[int, float]:
        """How many `refund_due` triage verdicts since a time, and their total in USD."""
        sql = ("SELECT COUNT(*), COALESCE(SUM(amount_usd), 0) FROM triage_records"
               " WHERE verdict = 'refund_due' AND at >= ?")
        count, usd = (await self.db.fetch(sql, (since,)))[0]
        return count, round(usd, 4)

    async def triage_records(self, *, verdict: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        where, params = ("", []) if verdict is None else ("WHERE verdict = ?", [verdict])
        rows = await self.db.fetch(f"SELECT * FROM triage_records {where} ORDER BY id DESC LIMIT ?",
                                   [*params, limit])
        return [_triage_row(r) for r in rows]


def _triage_row(row: Any) -> dict[str, Any]:
    record = dict(row)
    record["task_ids"] = json.loads(record["task_ids"])
    record["details"] = json.loads(record["details"]) if record.get("details") else []
    return record
