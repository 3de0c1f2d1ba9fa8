"""The store's two backends for tests: one parametrized fixture, `store_location`, yields a WANBOT_DB
value for SQLite (a file in tmp_path) and for PostgreSQL (a fresh schema of the test server, dropped
afterwards). Import the fixture into a test module to run its tests on both.

`wanbot_db` is the same choice for the store of a whole module: imported into a test module, it
overrides tests/conftest.py's (a SQLite file), so every test there whose settings come from
`make_settings` (the world, the tracker fixtures), or that takes `wanbot_db` itself for a process
it starts, runs once per backend, its body unchanged.

PostgreSQL is read from WANBOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
Without a reachable server the PostgreSQL cases are skipped with one line saying why; under CI=true
a missing server fails them instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("WANBOT_TEST_POSTGRES_URL") or DEFAULT_URL


def with_search_path(url: str, schema: str) -> str:
    """The URL with its search_path set to `schema` (asyncpg passes unknown query keys as settings)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"] + [("search_path", schema)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


async def _admin():
    import asyncpg

    try:
        return await asyncpg.connect(postgres_url(), timeout=5)
    except Exception as exc:
        reason = f"PostgreSQL not reachable at WANBOT_TEST_POSTGRES_URL ({type(exc).__name__}: {exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " -- CI=true requires it")
        pytest.skip(reason)


async def new_schema() -> str:
    """A fresh, empty schema on the test server; returns a WANBOT_DB URL that uses it."""
    schema = f"wanbot_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin()
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return with_search_path(postgres_url(), schema)


async def drop_schema(url: str) -> None:
    schema = dict(parse_qsl(urlsplit(url).query))["search_path"]
    conn = await _admin()
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_location(request, tmp_path):
    """WANBOT_DB for each backend in turn: a SQLite file, or a PostgreSQL URL with its own schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "jobs.db")
        return
    url = await new_schema()
    yield url
    await drop_schema(url)


@pytest.fixture
def wanbot_db(store_location) -> str:
    """WANBOT_DB of a module's tests, on each backend in turn (see the module's docstring)."""
    return store_location


async def refuse_writes(store) -> None:
    """Make the store's database refuse every write, as a full disk does, until `allow_writes`.
    SQLite: its connection turns query-only. PostgreSQL: a trigger on each table of the test's
    schema raises `disk_full` (SQLSTATE 53100), the error a full disk gives there."""
    if store.dialect == "sqlite":
        await store.db._db.execute("PRAGMA query_only = ON")
        return
    async with store.db.transaction() as tx:
        await tx.execute("CREATE FUNCTION wanbot_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS"
                         " $$BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'"
                         " USING ERRCODE = 'disk_full'; END$$")
        for table in await _tables(tx):
            await tx.execute(f'CREATE TRIGGER wanbot_test_disk_full BEFORE INSERT OR UPDATE OR DELETE ON "{table}"'
                             " FOR EACH STATEMENT EXECUTE FUNCTION wanbot_test_disk_full()")


async def allow_writes(store) -> None:
    """Undo `refuse_writes`: the disk has room again."""
    if store.dialect == "sqlite":
        await store.db._db.execute("PRAGMA query_only = OFF")
        return
    async with store.db.transaction() as tx:
        await tx.execute("DROP FUNCTION wanbot_test_disk_full() CASCADE")  # and its triggers


async def _tables(tx) -> list[str]:
    rows = await tx.fetch("SELECT table_name FROM information_schema.tables"
                          " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
    return [row[0] for row in rows]
