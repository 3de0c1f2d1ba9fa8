"""`python -m bot check` as a user runs it: real subprocess, real simulator, no secret printed."""

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


async def _check(env_extra: dict, tmp_path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env.update(env_extra)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check", "--skip-slack", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode()


async def test_check_passes_against_a_working_gateway(simulator, tmp_path):
    code, out = await _check({"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key,
                              "PYTHONPATH": str(ROOT)}, tmp_path)
    assert code == 0, out
    assert "gateway: ok" in out
    assert simulator.config.api_key not in out


async def test_check_names_a_refused_key_without_printing_it(simulator, tmp_path):
    code, out = await _check({"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": "sk-wrong-but-secret-999",
                              "PYTHONPATH": str(ROOT)}, tmp_path)
    assert code == 1
    assert "refused WAN_API_KEY" in out
    assert "secret-999" not in out


async def test_a_malformed_setting_stops_with_one_line_naming_it(tmp_path):
    code, out = await _check({"WAN_PRICE_PER_SECOND": "free", "PYTHONPATH": str(ROOT)}, tmp_path)
    assert code == 2
    assert out.strip().splitlines() == [out.strip()] and "WAN_PRICE_PER_SECOND" in out


async def _echo_gateway(status: int):
    """A gateway on loopback that answers every call `status` with an error message echoing the key it
    was sent (some gateways and proxies do)."""
    from aiohttp import web

    async def echo(request):
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.json_response({"error": {"type": "x", "code": "echo", "message": f"rejected key {key}"}},
                                 status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


async def test_check_prints_gateway_error_text_redacted(tmp_path):
    # issue 14 item 13: a gateway that echoes the key must not make `check` print it
    runner, port = await _echo_gateway(500)
    try:
        code, out = await _check({"WAN_API_BASE": f"http://127.0.0.1:{port}", "WAN_API_KEY": "gw-planted-key-777777",
                                  "PYTHONPATH": str(ROOT)}, tmp_path)
    finally:
        await runner.cleanup()
    assert code == 1 and "did not answer properly" in out
    assert "gw-planted-key-777777" not in out


async def test_check_never_prints_credentials_inside_wan_api_base(tmp_path):
    runner, port = await _echo_gateway(404)  # 404 for the made-up task: the gateway answers
    try:
        code, out = await _check({"WAN_API_BASE": f"http://wanuser:planted-pass-8888@127.0.0.1:{port}/",
                                  "WAN_API_KEY": "gw-planted-key-777777", "PYTHONPATH": str(ROOT)}, tmp_path)
    finally:
        await runner.cleanup()
    assert "gateway:" in out and f"127.0.0.1:{port}" in out
    assert "planted-pass-8888" not in out and "gw-planted-key-777777" not in out


# -- the database (issue 11): reachable, migrated, round trip; never its password ---------------

async def _gateway_env(simulator) -> dict:
    return {"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key, "PYTHONPATH": str(ROOT)}


def _database_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("database: "))


async def test_check_reports_a_migrated_postgresql_database_and_masks_its_password(simulator, tmp_path):
    from bot.jobs.store import MIGRATIONS, JobStore
    from tests.support.backends import drop_schema, new_schema

    url = await new_schema()
    store = await JobStore.open(url)
    await store.close()
    # Trust auth ignores the password, so the check connects with it in the URL as production would.
    with_password = url.replace("postgresql://postgres@", "postgresql://postgres:planted-pw-4242@")
    try:
        code, out = await _check({**await _gateway_env(simulator), "WANBOT_DB": with_password}, tmp_path)
    finally:
        await drop_schema(url)
    assert code == 0, out
    line = _database_line(out)
    assert line.startswith("database: ok: PostgreSQL postgresql://") and "****@127.0.0.1:5432/test" in line
    assert f"schema version {len(MIGRATIONS)} (current)" in line and "round trip" in line and " ms" in line
    assert "planted-pw-4242" not in out


async def test_check_fails_on_an_unreachable_postgresql_without_printing_its_password(simulator, tmp_path):
    from tests.support.processes import free_port

    url = f"postgresql://wanbot:planted-pw-4242@127.0.0.1:{free_port()}/wanbot"  # nothing listens there
    code, out = await _check({**await _gateway_env(simulator), "WANBOT_DB": url}, tmp_path)
    assert code == 1, out
    assert _database_line(out).startswith("database: FAILED: cannot connect to PostgreSQL")
    assert "planted-pw-4242" not in out and "****@127.0.0.1" in out  # masked, the host still shown


async def test_check_of_an_empty_postgresql_schema_says_so_and_creates_nothing(simulator, tmp_path):
    import asyncpg

    from tests.support.backends import drop_schema, new_schema

    url = await new_schema()
    try:
        code, out = await _check({**await _gateway_env(simulator), "WANBOT_DB": url}, tmp_path)
        conn = await asyncpg.connect(url)
        try:
            created = await conn.fetchval("SELECT to_regclass('schema_version')")
        finally:
            await conn.close()
    finally:
        await drop_schema(url)
    assert code == 0, out
    assert "no schema yet" in _database_line(out)
    assert created is None  # the check did not migrate


async def test_check_reports_sqlite_migrated_missing_behind_and_newer(simulator, tmp_path):
    import sqlite3

    from bot.jobs.store import MIGRATIONS, JobStore

    env = await _gateway_env(simulator)
    current = tmp_path / "current.db"
    store = await JobStore.open(current)
    await store.close()
    code, out = await _check({**env, "WANBOT_DB": str(current)}, tmp_path)
    assert code == 0 and f"schema version {len(MIGRATIONS)} (current)" in _database_line(out), out

    missing = tmp_path / "missing.db"
    code, out = await _check({**env, "WANBOT_DB": str(missing)}, tmp_path)
    assert code == 0 and "does not exist yet" in _database_line(out), out
    assert not missing.exists()

    with sqlite3.connect(current) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 1,))
    code, out = await _check({**env, "WANBOT_DB": str(current)}, tmp_path)
    assert code == 1 and "newer than this release knows" in _database_line(out), out

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    code, out = await _check({**env, "WANBOT_DB": f"sqlite:///{broken}"}, tmp_path)
    assert code == 1 and _database_line(out).startswith("database: FAILED"), out
