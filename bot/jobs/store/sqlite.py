"""The embedded backend: one SQLite file in WAL mode through aiosqlite.

One connection serves every coroutine, so writes take `write_lock`: each transaction is one
check-update-event-commit sequence, never interleaved with another coroutine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs.store.location import DatabaseUnusable


class SqliteTransaction:
    # What a SELECT appends to lock the rows it reads until the end of the transaction: nothing here,
    # the transaction's first write already made it the file's only writer.
    for_update = ""
    skip_locked = ""  # a claim's UPDATE is atomic on its own: SQLite has one writer at a time

    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    async def notify(self, payload: str) -> None:
        """Nothing to tell: one process serves a SQLite file, and it wakes itself in memory."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        cursor = await self._db.execute(sql, params)
        return cursor.rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self._db.execute_fetchall(sql, params))

    async def lock_job(self, job_id: str) -> None:
        """Nothing to do: the write lock already makes this process the only writer, and SQLite's
        own lock the only one of the file while the transaction writes."""

    async def lock_user(self, user_id: str) -> None:
        """Make this transaction the file's only writer before it reads (BEGIN IMMEDIATE), so a
        check-then-insert is serialised with every other process on the file, not only with the
        coroutines behind `write_lock`. Must come first in the transaction: the default deferred
        transaction only takes SQLite's write lock at its first write, after the reads."""
        if not self._db.in_transaction:
            await self._db.execute("BEGIN IMMEDIATE")

    async def in_flight_lock(self, *, shared: bool, tokens: int) -> int:
        """The in-flight cap's lock (in_flight.py): the file's write lock, exclusive whatever is asked
        (SQLite has one writer), so no other move into flight is between its count and its commit."""
        await self.lock_user("")
        return 1


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: str):
        self._db = db
        self.path = path
        self.write_lock = asyncio.Lock()
        # False only in bench/store_bench.py, to measure what the synced commits cost.
        self.sync_paid_commits = True

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Owner-only: the database holds prompts, user ids and spend.
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
        db = await aiosqlite.connect(path, timeout=30)
        try:
            db.row_factory = aiosqlite.Row
            await _set_wal(db)
            # NORMAL: durable against process crashes; the commits around paid calls ask for FULL
            # (see `transaction(durable=True)`).
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            # Closed before raising: aiosqlite's worker thread would otherwise keep the process alive.
            await db.close()
            raise DatabaseUnusable(f"WANBOT_DB: {path} is not a usable SQLite database ({exc}); "
                                   "restore it from a backup or move it aside") from None
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    async def listen(self, callback) -> None:
        """No notices between processes on SQLite (one `serve` per file)."""
        return None

    async def announce(self, owner: str) -> bool:
        """Nothing to say: one `serve` per file (bot/jobs/store/exclusive.py)."""
        return True

    async def others_alive(self, owner: str) -> bool:
        return False

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        # execute_fetchall: one trip to the connection's thread (execute, fetchone and close are three).
        return list(await self._db.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = (), *, before_ack: bool = False) -> int:
        """One statement in a transaction of its own, committed when it returns; the rows it changed.
        (`before_ack` matters on PostgreSQL only: one connection serves everything here.)"""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[SqliteTransaction]:
        """One transaction, committed on exit, rolled back on an exception.

        `durable`: commit with synchronous=FULL, which syncs the WAL before the commit returns. With
        NORMAL (the default, cheaper) a power loss can roll back the last commits; around paid calls
        that would mean a second paid submit or a second post. In WAL mode a synced commit also makes
        every earlier commit durable (the log is synced up to it). The pragma cannot change inside a
        transaction, hence before the first statement and after the commit.
        """
        durable = durable and self.sync_paid_commits
        async with self.write_lock:
            if durable:
                await self._db.execute("PRAGMA synchronous=FULL")
            try:
                yield SqliteTransaction(self._db)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
            finally:
                if durable:
                    await self._db.execute("PRAGMA synchronous=NORMAL")

    async def migrate(self, migrations: list[str]) -> int:
        """Apply the missing migrations; refuse a database from a newer release (the caller closes)."""
        try:
            await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = (await self.fetch("SELECT MAX(version) FROM schema_version"))[0][0] or 0
        except sqlite3.DatabaseError as exc:
            raise DatabaseUnusable(f"WANBOT_DB: {self.path} is not a usable SQLite database ({exc}); "
                                   "restore it from a backup or move it aside") from None
        if current > len(migrations):
            raise newer_release(self.path, current, len(migrations))
        for version, script in enumerate(migrations, start=1):
            if version > current:
                try:
                    await self._db.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\nINSERT INTO schema_version VALUES ({version});\nCOMMIT;")
                except sqlite3.OperationalError:
                    # Another process on the file (several `generate`s started at once) may have
                    # applied it between our read of the version and our write lock: its tables exist
                    # and its version is recorded. Then go on; else the migration itself failed.
                    await self._db.rollback()
                    current = (await self.fetch("SELECT MAX(version) FROM schema_version"))[0][0] or 0
                    if current < version:
                        raise
        return len(migrations)


def newer_release(where: str, found: int, known: int) -> DatabaseUnusable:
    return DatabaseUnusable(
        f"WANBOT_DB: {where} has schema version {found}, newer than this release of wanbot knows ({known}); "
        "run the newer release, or point WANBOT_DB at another database")


async def _set_wal(db: aiosqlite.Connection, patience: float = 30.0) -> None:
    """Switch to WAL. Several processes opening a fresh file at once (replicas, `generate`s) race
    for the switch, and SQLite answers "database is locked" at once there instead of waiting
    out its busy timeout: wait and try again, as the busy timeout would."""
    deadline = time.monotonic() + patience
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
