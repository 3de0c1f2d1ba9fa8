"""The bot as a real process (`python -m bot serve`): its environment, a free port, a restartable
`Bot`, and the jobs table read straight from its database (a SQLite file or a PostgreSQL URL)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp

from bot.jobs.store.location import is_postgresql

ENV_VARS = ("WAN_API_BASE", "WAN_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN",
            "SLACK_API_URL", "WANBOT_DB", "PORT")


def bot_env(tmp_path, **values) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update({k: str(v) for k, v in values.items()})
    env["WANBOT_DB"] = str(tmp_path / "serve.db")
    return env


def serve_env(standin, simulator, db, **values) -> dict[str, str]:
    """The environment of a `serve` between the Slack stand-in and the gateway simulator, on `db`:
    this process's own without the bot's variables, then theirs (quick polls), then `values`."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(SLACK_BOT_TOKEN=standin.bot_token, SLACK_SIGNING_SECRET=standin.signing_secret,
               SLACK_API_URL=standin.api_url, WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key,
               WANBOT_DB=str(db), WAN_POLL_MIN_SECONDS="0.2", WAN_EXPECTED_SECONDS="1")
    env.update({k: str(v) for k, v in values.items()})
    return env


async def shut(bot: Bot, *closable) -> None:
    """A test's teardown: the bot killed if it still runs, then each of `closable` closed."""
    if bot.proc is not None and bot.proc.returncode is None:
        bot.proc.kill()
        await bot.proc.wait()
    for thing in closable:
        await thing.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bot:
    """`python -m bot serve` on a fixed port and database, started again after each kill."""

    def __init__(self, env: dict[str, str], port: int, log_dir: Path):
        self.env, self.port, self.log_dir = env, port, log_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.runs = 0

    async def start(self) -> None:
        self.runs += 1
        log = open(self.log_dir / f"serve-{self.runs}.log", "wb")  # noqa: SIM115 - the child writes it
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port),
            cwd=self.log_dir, env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=log)
        log.close()
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                assert self.proc.returncode is None, self.logs()[-3000:]
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "serve did not come up"
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def logs(self) -> str:
        return (self.log_dir / f"serve-{self.runs}.log").read_text(errors="replace")


def read_jobs(db: Path | str) -> list:
    """Every job's id, state and prompt, read with the database's own driver, not through the bot."""
    if is_postgresql(str(db)):
        # asyncpg needs a loop, and the caller's is busy waiting for this answer: a loop of its own
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _read_postgresql_jobs(str(db))).result(timeout=30)
    with sqlite3.connect(db, timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT id, state, json_extract(request, '$.input.prompt') AS prompt FROM jobs").fetchall()


async def _read_postgresql_jobs(url: str) -> list:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetch("SELECT id, state, request::jsonb -> 'input' ->> 'prompt' AS prompt FROM jobs")
    finally:
        await conn.close()
