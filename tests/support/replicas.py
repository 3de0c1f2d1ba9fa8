"""Several `python -m bot serve` replicas (HTTP mode) on one PostgreSQL database, behind a
round-robin loopback proxy, with the gateway simulator and the Slack stand-in: the deployment of
issue 11 ("Running several replicas" in the README), on one machine.

`await Replicas.start(tmp_path, simulator, standin, count=3, **env)` gives each test its own
PostgreSQL schema (dropped by `close()`), starts the replicas on free ports and the proxy in front
of them. Slack requests go to `replicas.proxy_url` (each to the next replica in turn), or to one
replica by index (`replicas.sender(i)`) when a test needs to choose, e.g. a Slack retry landing on
another replica than the first delivery.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.devslack import SlackSender, SlackStandIn
from tests.support.backends import drop_schema, new_schema
from tests.support.processes import ENV_VARS, Bot, free_port

# Hop-by-hop and length headers: the proxy's HTTP stack sets its own.
_DROP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class RoundRobinProxy:
    """A loopback HTTP proxy that sends each request to the next backend in turn (what a load
    balancer does with no stickiness). `served[i]` counts the requests replica i answered."""

    def __init__(self, ports: list[int]):
        self.ports = ports
        self.served = [0] * len(ports)
        self._next = itertools.cycle(range(len(ports)))
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> RoundRobinProxy:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _forward(self, request: web.Request) -> web.Response:
        index = next(self._next)
        self.served[index] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        body = await request.read()
        target = f"http://127.0.0.1:{self.ports[index]}{request.path_qs}"
        try:
            async with self._http.request(request.method, target, headers=headers, data=body) as answer:
                payload = await answer.read()
                out = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP}
                return web.Response(status=answer.status, body=payload, headers=out)
        except aiohttp.ClientError:
            return web.Response(status=502, text="replica unavailable")


class Replicas:
    def __init__(self, tmp_path: Path, standin: SlackStandIn, env: dict[str, str], count: int):
        self.standin = standin
        self.env = env
        self.db_url = env["WANBOT_DB"]
        self.bots: list[Bot] = []
        for index in range(count):
            log_dir = tmp_path / f"replica-{index}"
            log_dir.mkdir(parents=True, exist_ok=True)
            self.bots.append(Bot(dict(env), free_port(), log_dir))
        self.proxy = RoundRobinProxy([bot.port for bot in self.bots])
        self._senders: list[SlackSender] = []

    @classmethod
    async def start(cls, tmp_path: Path, simulator, standin: SlackStandIn, *, count: int = 3,
                    together: bool = False, **settings: object) -> Replicas:
        """Start `count` replicas on a fresh PostgreSQL schema, and the proxy in front of them.
        `together`: all at the same moment (as Compose starts them), else one after another."""
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        env.update(SLACK_BOT_TOKEN=standin.bot_token, SLACK_SIGNING_SECRET=standin.signing_secret,
                   SLACK_API_URL=standin.api_url, WAN_API_BASE=simulator.base_url,
                   WAN_API_KEY=simulator.config.api_key, WANBOT_DB=await new_schema(),
                   WAN_POLL_MIN_SECONDS="0.2", WAN_EXPECTED_SECONDS="2")
        env.update({k: str(v) for k, v in settings.items()})
        replicas = cls(tmp_path, standin, env, count)
        try:
            if together:  # one migrates the fresh schema, the others wait for it
                await asyncio.gather(*(bot.start() for bot in replicas.bots))
            else:
                for bot in replicas.bots:
                    await bot.start()
            await replicas.proxy.start()
        except BaseException:
            await replicas.close()
            raise
        return replicas

    @property
    def proxy_url(self) -> str:
        return self.proxy.url

    def sender(self, index: int | None = None, *, timeout: float = 30) -> SlackSender:
        """Plays Slack towards the proxy (index None) or towards one replica."""
        url = self.proxy_url if index is None else f"http://127.0.0.1:{self.bots[index].port}"
        sender = SlackSender(url, self.standin.signing_secret, standin=self.standin, timeout=timeout)
        self._senders.append(sender)
        return sender

    def logs(self) -> str:
        return "\n".join(f"--- replica {i}\n{bot.logs()[-3000:]}" for i, bot in enumerate(self.bots) if bot.runs)

    async def close(self) -> None:
        for sender in self._senders:
            await sender.close()
        await self.proxy.close()
        for bot in self.bots:
            if bot.proc is not None and bot.proc.returncode is None:
                bot.proc.send_signal(signal.SIGTERM)
        for bot in self.bots:
            if bot.proc is not None and bot.proc.returncode is None:
                try:
                    await asyncio.wait_for(bot.proc.wait(), 20)
                except TimeoutError:
                    bot.proc.kill()
                    await bot.proc.wait()
        await drop_schema(self.db_url)

    async def jobs(self) -> list[dict]:
        """The jobs table, read straight from the database (not through the bot)."""
        import asyncpg

        conn = await asyncpg.connect(self.db_url)
        try:
            rows = await conn.fetch("SELECT id, user_id, state, request FROM jobs ORDER BY created_at")
        finally:
            await conn.close()
        return [dict(row) for row in rows]

    async def story(self, job_ids: list[str]) -> str:
        """What happened to these jobs: their events from the database and the replicas' log lines
        that name them, for a failure message that explains itself."""
        import asyncpg

        conn = await asyncpg.connect(self.db_url)
        try:
            rows = await conn.fetch("SELECT job_id, at, from_state, to_state, detail FROM job_events "
                                    "WHERE job_id = ANY($1::text[]) ORDER BY id", job_ids)
        finally:
            await conn.close()
        lines = [f"{r['job_id']} {r['at']:.3f} {r['from_state']} -> {r['to_state']} {r['detail']}" for r in rows]
        logs = [f"replica {i} {log.stem}: {line}" for i, bot in enumerate(self.bots)
                for log in sorted(bot.log_dir.glob("serve-*.log"))
                for line in log.read_text(errors="replace").splitlines() if any(job in line for job in job_ids)]
        return "\n".join(["events:", *lines, "log lines:", *logs])
