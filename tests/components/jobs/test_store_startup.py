"""Start-up on a database the bot must not use (issue 14 item 18): one line naming WANBOT_DB and a
non-zero exit, no traceback, no hang (a process that never exits is never restarted)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.jobs.store import MIGRATIONS, DatabaseUnusable, JobStore

ROOT = Path(__file__).resolve().parents[3]

COMMANDS = {
    "generate": ["generate", "--mode", "t2v", "--prompt", "a fox in snow"],
    "serve": ["serve"],
}


async def _run(command: list[str], db: str, cwd: Path) -> tuple[int | None, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env.update({"PYTHONPATH": str(ROOT), "WANBOT_DB": db, "WAN_API_BASE": "http://127.0.0.1:9/",
                "WAN_API_KEY": "sk-test-startup-0000", "SLACK_BOT_TOKEN": "xoxb-test-startup-0000",
                "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef", "PORT": "18931"})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *command, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return None, (out + err).decode()  # hung
    return proc.returncode, (out + err).decode()


def _assert_one_line_refusal(code: int | None, output: str, *words: str) -> None:
    assert code is not None, f"the process hung instead of exiting:\n{output}"
    assert code != 0
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "WANBOT_DB" in lines[0] and all(word in lines[0] for word in words), lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_a_corrupt_database_stops_start_up_with_one_line(tmp_path, command):
    db = tmp_path / "wanbot.db"
    db.write_bytes(b"this is not a database, it is a text file that lost its header\n" * 300)
    code, output = await _run(COMMANDS[command], str(db), tmp_path)
    _assert_one_line_refusal(code, output, str(db), "not a usable SQLite database")


@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_a_database_from_a_newer_release_is_refused(tmp_path, command):
    db = tmp_path / "wanbot.db"
    store = await JobStore.open(db)
    await store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 1,))
    code, output = await _run(COMMANDS[command], str(db), tmp_path)
    _assert_one_line_refusal(code, output, "newer than this release")


async def test_newer_schema_is_refused_on_both_backends(store_location):
    store = await JobStore.open(store_location)
    async with store.db.transaction() as tx:
        await tx.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 5,))
    await store.close()
    with pytest.raises(DatabaseUnusable, match="newer than this release"):
        await JobStore.open(store_location)


async def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path):
    url = "postgresql://wanbot:s3cr3t-pass-word@127.0.0.1:9/wanbot"
    code, output = await _run(COMMANDS["generate"], url, tmp_path)
    _assert_one_line_refusal(code, output, "cannot connect", "127.0.0.1:9")
    assert "s3cr3t-pass-word" not in output
