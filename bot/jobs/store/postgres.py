"""The shared backend: a PostgreSQL database through an asyncpg pool, for several replicas.

The queries are written once, with `?` placeholders (SQLite's); they become `$1, $2, ...` here.
Each transaction runs on its own pooled connection at READ COMMITTED; a compare-and-set on a job
first locks its row (`lock_job`), so two replicas' writes to one job are serialised the way the
SQLite backend's single writer serialises them. A write that comes before Slack's ack (the request
inbox) has a small pool of its own, so it never queues behind the work that follows acks.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.jobs.store.location import DatabaseUnusable, display
from bot.jobs.store.schema import for_postgresql
from bot.jobs.store.sqlite import newer_release

# A session left idle inside a transaction this long is ended by the server, releasing its locks.
# The bot's transactions never wait on anything but the database (a few ms); one idle for seconds
# belongs to a replica that is frozen (SIGSTOP, a VM paused) or cut off, and must not hold a job's row
# or the in-flight lock (every replica's submits wait on it) until it wakes. A URL may set another.
IDLE_IN_TRANSACTION_MS = 10_000

# Any constant: the key of the advisory lock that lets one replica at a time run migrations.
_MIGRATION_LOCK = 0x77616E626F74
# The first key of the two-key advisory locks on users (`lock_user`); the second is the user id's hash.
# Two 32-bit keys never meet the one 64-bit key above (PostgreSQL keeps the two spaces apart).
_USER_LOCK_SPACE = 0x77616E
# WAN_MAX_IN_FLIGHT (in_flight.py): the lock every move into flight takes (a `lock_user` key: the one the
# releases before took exclusively, so old and new replicas exclude each other in a rolling deploy),
# exclusive near the limit and shared far from it; and the shared path's token locks, in a space of
# their own, keyed like it by the schema and the token's number (0 .. tokens - 1).
_IN_FLIGHT_LOCK = "wanbot:in-flight"
_IN_FLIGHT_TOKEN_SPACE = 0x77616F
# The first key of the session locks that say a replica is alive (`announce`); the second is the hash
# of the schema and the replica id.
_PRESENCE_SPACE = 0x776170

# Connections kept for the writes before an ack (`execute(before_ack=True)`): one such write is a
# single round trip of a few ms. Two kept up at a steady 20 commands/s, but a burst of 50 at once
# queued on them for ~170 ms (each write waits its turn, and its commit's sync is shared by fewer);
# five take a burst in a fifth of a second even with the machine busy.
BEFORE_ACK_CONNECTIONS = 5


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders -> `$n` (no query here has a `?` inside a string literal)."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTransaction:
    for_update = " FOR UPDATE"  # appended to a SELECT: its rows stay locked until the transaction ends
    # appended to the SELECT of a claim: rows another transaction holds are passed over, not waited for
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: Any, channel: str):
        self._conn = conn
        self._channel = channel  # "wanbot:<schema>": also the scope of this store's advisory locks

    async def notify(self, payload: str) -> None:
        """Tell every replica listening on this database (delivered when the transaction commits)."""
        await self._conn.execute("SELECT pg_notify($1, $2)", self._channel, payload)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _rowcount(await self._conn.execute(numbered(sql), *params))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._conn.fetch(numbered(sql), *params)

    async def lock_job(self, job_id: str) -> None:
        await self._conn.execute("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", job_id)

    async def lock_user(self, user_id: str) -> None:
        """Serialise this transaction with every other one of this user, on any replica, until it
        ends: an advisory lock on the user id's hash (released at commit or rollback). Two users
        whose ids share a hash merely wait for each other. A row lock (`FOR UPDATE`) would not do:
        the user's first job has no row to lock yet.

        Advisory locks are the database's, not a schema's: the key hashes the schema (the channel)
        with the user id, so deployments or test runs in other schemas of the database never wait
        for this one (a replica frozen in one held every other schema's job starts for the idle
        timeout)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _USER_LOCK_SPACE,
                                 f"{self._channel}:{user_id}")

    async def in_flight_lock(self, *, shared: bool, tokens: int) -> int:
        """The in-flight cap's locks (in_flight.py), first in the transaction, held until it ends:
        how many moves into flight may be between their count and their commit beside this one,
        itself included. Exclusive: 1. Shared: the shared lock, then one token lock, in that order (the
        subquery is taken first), so a move waiting for a token already holds its shared lock and
        an exclusive waiter never sits between a token's holder and its waiter."""
        if not shared:
            await self.lock_user(_IN_FLIGHT_LOCK)
            return 1
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock($3, hashtext($4)) FROM"
            " (SELECT pg_advisory_xact_lock_shared($1, hashtext($2)) OFFSET 0) AS first",
            _USER_LOCK_SPACE, f"{self._channel}:{_IN_FLIGHT_LOCK}",
            _IN_FLIGHT_TOKEN_SPACE, f"{self._channel}:{random.randrange(tokens)}")
        return tokens


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, pool: Any, url: str, channel: str = "wanbot", ack_pool: Any = None):
        self._pool = pool
        self._ack_pool = ack_pool or pool
        self.url = url
        self.path = display(url)
        # NOTIFY reaches every session of the database, whatever its schema: one channel per schema,
        # so deployments (and tests) sharing a database in different schemas do not hear each other.
        self.channel = channel
        self._listener: Any = None
        self._presence: Any = None  # the connection holding this replica's presence lock
        self._present = False

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10) -> PostgresDatabase:
        import asyncpg  # only a PostgreSQL deployment pays for the import

        settings = {"idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_MS)}
        given = {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}

        def pool(size: int):
            # reset: asyncpg's default sends a reset query (unlock all, close cursors, unlisten, reset
            # settings) on every release, a round trip before the caller goes on (before an ack, for
            # the inbox). The bot leaves none of that on a pooled connection: transaction-level
            # advisory locks only, LISTEN on a connection of its own, no SET, no cursors. asyncpg
            # still rolls back a transaction left open.
            return asyncpg.create_pool(url, min_size=1, max_size=size, timeout=10, reset=_session_is_clean,
                                       server_settings={k: v for k, v in settings.items() if k not in given})

        main = None
        try:
            main = await pool(max_connections)
            ack = await pool(BEFORE_ACK_CONNECTIONS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            if main is not None:
                await main.close()
            raise DatabaseUnusable(f"WANBOT_DB: cannot connect to {display(url)} ({_reason(exc)})") from None
        schema = await main.fetchval("SELECT current_schema()")
        return cls(main, url, f"wanbot:{schema}"[:63], ack_pool=ack)

    async def close(self) -> None:
        for conn in (self._listener, self._presence):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        if self._ack_pool is not self._pool:
            await self._ack_pool.close()
        await self._pool.close()

    async def announce(self, owner: str) -> bool:
        """Say replica `owner` is alive for as long as this process is: a session advisory lock on a
        connection of its own. The server drops it the moment the process dies (its socket closes;
        a heartbeat would stay fresh for a lease time). Call again after the connection was lost.
        False when another live session holds it (a second process under the same id)."""
        import asyncpg

        if self._presence is None or self._presence.is_closed():
            self._presence, self._present = await asyncpg.connect(self.url, timeout=10), False
        if not self._present:
            self._present = await self._presence.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema() || ' ' || $2))", _PRESENCE_SPACE, owner)
        return self._present

    async def others_alive(self, owner: str) -> bool:
        """Whether a replica other than `owner` with a heartbeat on this schema holds its presence lock
        (`announce`). A hash shared with another replica's id only makes the answer True: the safe side."""
        return await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM replicas r JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted"
            " AND l.classid = $1::oid AND l.objid = hashtext(current_schema() || ' ' || r.id)::oid"
            " AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " WHERE r.id <> $2)", _PRESENCE_SPACE, owner)

    async def listen(self, callback) -> Any:
        """LISTEN on this database's channel on a connection of its own (a pooled one would be handed
        to other work); `callback(payload)` runs for each notice. Returns the connection (closed with
        the database); call again after it was lost (`is_closed()`)."""
        import asyncpg

        if self._listener is not None and not self._listener.is_closed():
            return self._listener
        conn = await asyncpg.connect(self.url, timeout=10)
        await conn.add_listener(self.channel, lambda _conn, _pid, _channel, payload: callback(payload))
        self._listener = conn
        return conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._pool.fetch(numbered(sql), *params)

    async def execute(self, sql: str, params: Sequence[Any] = (), *, before_ack: bool = False) -> int:
        """One statement, a transaction of its own: committed (and synced: synchronous_commit=on)
        when it returns, in one round trip (no BEGIN, no COMMIT). `before_ack`: on the connections
        kept for writes before an ack, which the work after acks never holds."""
        return _rowcount(await (self._ack_pool if before_ack else self._pool).execute(numbered(sql), *params))

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[PostgresTransaction]:
        # `durable` needs nothing: PostgreSQL's commits are synced by default (synchronous_commit=on).
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn, self.channel)

    async def migrate(self, migrations: list[str]) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # Replicas starting together: one migrates, the others wait here and then find it done.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0
            if current > len(migrations):
                raise newer_release(self.path, current, len(migrations))
            for version, script in enumerate(migrations, start=1):
                if version > current:
                    await conn.execute(for_postgresql(script))
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", version)
        return len(migrations)


async def _session_is_clean(conn: Any) -> None:
    """Nothing to reset on a connection handed back to the pool (see `PostgresDatabase.open`)."""


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
