"""The schema, as numbered migrations shared by both backends.

Written in SQLite's spelling; `for_postgresql` makes the few type changes PostgreSQL needs (float8
for REAL, which would be float4 there; BIGSERIAL for AUTOINCREMENT) and un-comments the
PostgreSQL-only parts marked `/*pg: ... */` (an explicit `rowid`, which SQLite has implicitly and the
queries order ties by). One list, so the two schemas cannot drift apart.
"""

from __future__ import annotations

import re

MIGRATIONS: list[str] = [
    # 1: jobs and their events
    """
    CREATE TABLE jobs (
        /*pg: rowid BIGSERIAL, */
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
    # 6: per task of a triage, the refund due (task, gateway user, model, amount, evidence row ids):
    # the "Refunds due" CSV export of /wan spend team
    """
    ALTER TABLE triage_records ADD COLUMN details TEXT;
    """,
    # 7: presets, shared by the workspace: a named request to start again (`key` is the name in lower
    # case, so "Hero" and "hero" cannot both exist)
    """
    CREATE TABLE presets (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        request TEXT NOT NULL,
        created_by TEXT,
        created_at REAL NOT NULL,
        source_job_id TEXT,
        last_used_at REAL,
        uses INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 8: attachments (an image attached in Slack, a 13 MB data: URI) out of the job rows, so a list
    # of jobs never reads them; read when submitting, pruned a day after the job ends
    # (bot/jobs/attachments.py)
    """
    CREATE TABLE job_attachments (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        field TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, field)
    );
    """,
    # 9: token buckets shared by every replica on the database, one row each (bot/jobs/store/buckets.py):
    # Slack's chat.update budget is per workspace, not per process
    """
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        stamp REAL NOT NULL
    );
    """,
    # 10: job leases (bot/jobs/store/leases.py): which replica drives an unfinished job (owner), until
    # when without renewal (expires), and a fencing version bumped by every claim, which each of the
    # owner's writes checks; and the replicas alive on the database (their heartbeats), for a fair share
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_expires REAL;
    ALTER TABLE jobs ADD COLUMN lease_version INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_lease ON jobs(lease_owner);
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    """,
    # 11: which replica is answering an incoming request (the one it reached, or the one that took
    # it over): a replica that starts replays only the requests of replicas no longer alive, not the
    # ones another replica is answering right now (bot/jobs/store/leases.py, take_unanswered)
    """
    ALTER TABLE seen_requests ADD COLUMN replica TEXT;
    """,
    # 12: the jobs in flight upstream alone, for the count every move to `submitted` makes under
    # WAN_MAX_IN_FLIGHT (bot/jobs/store/in_flight.py, which names the same states in the same order:
    # a query uses a partial index only when its WHERE repeats the index's)
    """
    CREATE INDEX jobs_in_flight ON jobs(origin) WHERE state IN ('queued', 'running', 'submitted');
    """,
    # 13: a preset's attachments (an i2v image, a 13 MB data: URI) out of its row, as migration 8 did
    # for jobs: `/wan presets` lists every preset and must not read them; deleted with the preset
    """
    CREATE TABLE preset_attachments (
        key TEXT NOT NULL REFERENCES presets(key) ON DELETE CASCADE,
        field TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (key, field)
    );
    """,
    # 14: the refusal an incoming request was answered with, stored before it is sent: a crash before
    # the request is marked done replays these words, and never judges the request anew (the user's
    # jobs may have ended by then: a job would start that the user was told did not start)
    """
    ALTER TABLE seen_requests ADD COLUMN answer TEXT;
    """,
]

_PG_ONLY = re.compile(r"/\*pg: (.*?)\*/", re.S)


def for_postgresql(script: str) -> str:
    script = _PG_ONLY.sub(r"\1", script)
    script = script.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", script)
