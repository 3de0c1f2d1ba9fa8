"""The store's two backends for tests: one parametrized fixture, `store_location`, yields a WANBOT_DB
value for SQLite (a file in tmp_path) and for PostgreSQL (a fresh schema of the test server, dropped
afterwards). Import the fixture into a test module to run its tests on both.

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
