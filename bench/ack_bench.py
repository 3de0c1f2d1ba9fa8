"""Ack latency: signed `/wan t2v` slash commands from 50 concurrent clients into the HTTP app, next to
a bare Bolt AsyncApp that only acks (the floor).

    .venv/bin/python -m bench.ack_bench [--requests 2000] [--concurrency 50] [--rounds 3] [--rate R] [--json PATH]

Closed loop by default (a flood: each client sends again as soon as it is answered, so latency is
concurrency / throughput, and the app's post-ack work competes with its acks on one event loop);
`--rate R` sends R requests a second in all instead (open loop), the latency of an unsaturated app.
Both servers answer through Bolt, which polls for the ack every 10 ms: that is most of the floor.

Processes (nothing shares an event loop with anything else):
- the Slack stand-in (`bot.devslack.SlackStandIn`, its channels and users set up) and the gateway
  simulator (`python -m bot simulate`, tasks of --run-seconds so none finishes during a round);
- the app: `python -m bot serve` in HTTP mode (no SLACK_APP_TOKEN), a fresh one on a fresh database
  for every round, with WANBOT_MAX_ACTIVE_JOBS_PER_USER and WAN_MAX_IN_FLIGHT raised and no budget,
  so every command is a real job start: stored, its card posted, its task submitted upstream;
- the floor: a bare `slack_bolt.async_app.AsyncApp` whose one `/wan` listener only `await ack()`,
  served by the same stack as `bot serve` (aiohttp `web.AppRunner`, `to_bolt_request` /
  `async_dispatch` / `to_aiohttp_response`), same signing secret, same Web API (auth.test once);
- the load generator: this process. --concurrency clients, each sends one signed request (as Slack
  signs it: `v0=` HMAC-SHA256 of `v0:{ts}:{body}`, `bot.devslack.sign`), waits for the HTTP answer,
  sends the next. Latency is timed from just before the POST (signing done) to the end of the
  response body. A warm-up of --warmup requests first, then --requests timed ones.

Each round measures the floor and the app (alternating which goes first), each only after every
process has gone quiet (CPU idle), and the app round's jobs are counted afterwards: jobs in its
database, their cards, and the upstream tasks. Reported: per-round p50, p99, max and throughput, and
the median of the rounds with the ratios app/floor. Target: p99(app) <= 1.5x p99(floor), and far
under the 3 s Slack waits for an ack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "xoxb-bench-local"
SIM_KEY = "sk-sim-local"
TEAM = "T0BENCH"
TARGET_RATIO = 1.5
SLACK_ACK_LIMIT = 3.0
CHANNELS = [f"C0BENCH{n}" for n in range(8)]
USERS = 200
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
# Settings of the app under test: the per-user and in-flight limits far above the load, no budget.
APP_ENV = {
    "WANBOT_MAX_ACTIVE_JOBS_PER_USER": "1000000",
    "WAN_MAX_IN_FLIGHT": "1000000",
    "LOG_LEVEL": "INFO",
}
BUSY_MARK = b"too busy"  # in the ack of a command the bot could not store in time (bot.slack.inbox.BUSY_TEXT)
DROP_ENV = ("WAN_API_BASE", "WAN_API_KEY", "WAN_API_FORMAT", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
            "SLACK_APP_TOKEN", "SLACK_API_URL", "WANBOT_DB", "PORT", "WANBOT_USER_DAILY_BUDGET_USD",
            "WAN_EXPECTED_SECONDS", "WAN_POLL_MIN_SECONDS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (seconds)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


# --- the floor and the stand-in, each run as `python -m bench.ack_bench --role ...` ------------------

async def run_floor(port: int, secret: str, api_url: str) -> None:
    """A bare Bolt AsyncApp that only acks `/wan`, behind the same aiohttp stack as `bot serve`."""
    import logging

    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    logging.basicConfig(level=logging.WARNING)
    bolt = AsyncApp(signing_secret=secret, client=AsyncWebClient(token=TOKEN, base_url=api_url),
                    request_verification_enabled=True, process_before_response=False)

    @bolt.command("/wan")
    async def wan(ack):
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _wait_for_signal()
    await runner.cleanup()


async def run_standin(port: int, secret: str) -> None:
    """The Slack stand-in with the bench's channels and users; GET /_bench/counts says what it got."""
    from aiohttp import web

    from bot.devslack import SlackStandIn

    class BenchStandIn(SlackStandIn):
        def make_app(self) -> web.Application:
            app = super().make_app()
            app.router.add_get("/_bench/counts", self.counts)
            return app

        async def counts(self, request: web.Request) -> web.Response:
            cards = sum(1 for c in CHANNELS for m in self.messages(c)
                        if (not m.get("thread_ts") or m["thread_ts"] == m["ts"]) and " job " in f" {m.get('text', '')}")
            by_method: dict[str, int] = {}
            for call in self._calls:
                by_method[call.method] = by_method.get(call.method, 0) + 1
            return web.json_response({"cards": cards, "responses": len(self.responses),
                                      "ephemerals": len(self.ephemerals), "calls": by_method})

    standin = BenchStandIn(bot_token=TOKEN, signing_secret=secret, team_id=TEAM)
    for n, channel in enumerate(CHANNELS):
        standin.add_channel(channel, f"bench-{n}")
    for n in range(USERS):
        standin.add_user(f"U0B{n:04d}", f"bench.user{n}")
    await standin.start("127.0.0.1", port)
    await _wait_for_signal()
    await standin.close()


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# --- the processes ------------------------------------------------------------------------------

class Proc:
    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None):
        self.name, self.log = name, log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd or ROOT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


async def wait_http(http, url: str, proc: Proc, timeout: float = 60.0) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        try:
            async with http.get(url) as response:
                if response.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not come up:\n{proc.tail()}")
        await asyncio.sleep(0.05)


async def wait_quiet(procs: list[Proc], *, window: float = 0.3, share: float = 0.1, timeout: float = 30.0) -> bool:
    """Until the processes together use under `share` of one CPU over `window` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(p.cpu() for p in procs)
        await asyncio.sleep(window)
        if sum(p.cpu() for p in procs) - before < share * window:
            return True
    return False


# --- the load -----------------------------------------------------------------------------------

class Load:
    """Signed slash commands: unique trigger ids and response URLs, users and channels in turn."""

    def __init__(self, secret: str, standin_url: str):
        self.secret = secret
        self.standin_url = standin_url.rstrip("/")
        self.sent = 0
        self.run = secrets.token_hex(3)

    def body(self) -> str:
        n = self.sent
        self.sent += 1
        user, channel = f"U0B{n % USERS:04d}", CHANNELS[n % len(CHANNELS)]
        return urlencode({
            "token": "deprecated-verification-token", "team_id": TEAM, "team_domain": "wanbot-bench",
            "channel_id": channel, "channel_name": f"bench-{CHANNELS.index(channel)}",
            "user_id": user, "user_name": f"bench.user{n % USERS}", "command": "/wan",
            "text": f"t2v a paper boat drifts on a pond at dawn, scene {self.run}-{n} --duration 5",
            "api_app_id": "A0BENCH", "is_enterprise_install": "false",
            "response_url": f"{self.standin_url}/response/R{self.run}{n}",
            "trigger_id": f"{int(time.time())}.{n}.{self.run}{secrets.token_hex(8)}",
        })


async def fire(url: str | list[str], load: Load, count: int, concurrency: int,
               rate: float | None = None) -> dict[str, Any]:
    """`count` requests from `concurrency` clients; latencies of the answered ones, statuses, wall.

    Without `rate` each client sends its next request as soon as its last one is answered (closed
    loop); with it, request n is sent at n/rate seconds (open loop), by whichever client is free.
    With several URLs request n goes to URL n mod len (round robin, as a load balancer with no
    stickiness would spread them: bench/replica_bench.py)."""
    import aiohttp

    from bot.devslack import sign

    urls = [url] if isinstance(url, str) else list(url)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    busy = 0
    left = count
    begin = 0.0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def client() -> None:
            nonlocal left, busy
            while left > 0:
                index = count - left
                left -= 1
                if rate:
                    due = begin + index / rate
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                body = load.body()
                stamp = str(int(time.time()))
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(load.secret, stamp, body),
                           "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
                data = body.encode()
                started = time.perf_counter()
                try:
                    async with http.post(urls[index % len(urls)], data=data, headers=headers) as response:
                        answer = await response.read()
                        status = str(response.status)
                    if BUSY_MARK in answer:  # acked, but turned away: the store did not answer in time
                        busy += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - started
                statuses[status] = statuses.get(status, 0) + 1
                if status == "200":
                    latencies.append(elapsed)

        begin = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - begin
    return {"latencies": latencies, "statuses": statuses, "wall": wall, "busy": busy}


def summarize(result: dict[str, Any], count: int) -> dict[str, Any]:
    values = sorted(result["latencies"])
    return {"requests": count, "ok": len(values), "statuses": result["statuses"], "busy": result.get("busy", 0),
            "p50_ms": percentile(values, 0.50) * 1000, "p99_ms": percentile(values, 0.99) * 1000,
            "max_ms": (values[-1] if values else math.nan) * 1000, "rps": count / result["wall"]}


# --- one run --------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.secret = secrets.token_hex(16)
        self.ports = {name: free_port() for name in ("standin", "sim", "floor")}
        self.standin_url = f"http://127.0.0.1:{self.ports['standin']}"
        self.api_url = f"{self.standin_url}/api/"
        self.sim_url = f"http://127.0.0.1:{self.ports['sim']}"
        self.support: list[Proc] = []
        self.floor: Proc | None = None
        self.app: Proc | None = None

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    async def start_support(self, http) -> None:
        me = [sys.executable, "-m", "bench.ack_bench", "--secret-env", "ACK_BENCH_SECRET"]
        env = self.child_env() | {"ACK_BENCH_SECRET": self.secret}
        standin = Proc("stand-in", [*me, "--role", "standin", "--port", str(self.ports["standin"])],
                       self.workdir / "standin.log", env)
        sim = Proc("simulator", [sys.executable, "-m", "bot", "simulate", "--port", str(self.ports["sim"]),
                                 "--queue-seconds", "1", "--run-seconds", str(self.args.run_seconds)],
                   self.workdir / "sim.log", self.child_env())
        self.support = [standin, sim]
        self.floor = Proc("floor", [*me, "--role", "floor", "--port", str(self.ports["floor"]),
                                    "--api-url", self.api_url], self.workdir / "floor.log", env)
        await wait_http(http, f"{self.standin_url}/_bench/counts", standin)
        await wait_http(http, f"{self.sim_url}/_sim/config", sim)
        await wait_http(http, f"http://127.0.0.1:{self.ports['floor']}/healthz", self.floor)

    async def start_app(self, http, round_no: int) -> tuple[Proc, int, Path]:
        port = free_port()
        db = self.workdir / f"app-{round_no}.db"
        env = self.child_env() | APP_ENV | {
            "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": self.secret, "SLACK_API_URL": self.api_url,
            "WAN_API_BASE": self.sim_url, "WAN_API_KEY": SIM_KEY, "WANBOT_DB": str(db)}
        cwd = self.workdir / f"app-{round_no}"  # no stray .env is read
        cwd.mkdir()
        app = Proc("bot serve", [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                   self.workdir / f"serve-{round_no}.log", env, cwd)
        await wait_http(http, f"http://127.0.0.1:{port}/healthz", app)
        return app, port, db

    async def counts(self, http) -> dict[str, Any]:
        async with http.get(f"{self.standin_url}/_bench/counts") as response:
            standin = await response.json()
        async with http.get(f"{self.sim_url}/_sim/stats") as response:
            sim = await response.json()
        return {"cards": standin["cards"], "responses": standin["responses"], "calls": standin["calls"],
                "tasks": sim.get("tasks_created", len(sim.get("tasks", {})))}

    async def measure(self, name: str, url: str, server: Proc) -> dict[str, Any]:
        args = self.args
        load = Load(self.secret, self.standin_url)
        warm = await fire(url, load, args.warmup, args.concurrency, args.rate)
        everyone = [*self.support, server, *([self.floor] if server is not self.floor else [])]
        quiet = await wait_quiet(everyone)
        cpu_before = {p.name: p.cpu() for p in everyone}
        result = await fire(url, load, args.requests, args.concurrency, args.rate)
        row = summarize(result, args.requests)
        row.update(target=name, quiet_before=quiet, warmup_statuses=warm["statuses"], sent=load.sent,
                   cpu_s={p.name: round(p.cpu() - cpu_before[p.name], 2) for p in everyone})
        return row

    async def app_round(self, http, round_no: int) -> dict[str, Any]:
        app, port, db = await self.start_app(http, round_no)
        self.app = app
        before = await self.counts(http)
        try:
            row = await self.measure("app", f"http://127.0.0.1:{port}/slack/events", app)
            # the work each ack started: wait until every job is stored, carded and submitted upstream
            drained_at = None
            started = time.perf_counter()
            while time.perf_counter() - started < self.args.drain_timeout:
                jobs = read_jobs(db)
                if jobs["jobs"] >= row["sent"] and jobs["pending_or_cardless"] == 0:
                    drained_at = time.perf_counter() - started
                    break
                await asyncio.sleep(0.2)
            after = await self.counts(http)
        finally:
            code = app.stop()
            self.app = None
        jobs = read_jobs(db)
        row.update(jobs=jobs, drain_s=drained_at, exit_code=code,
                   cards=after["cards"] - before["cards"], tasks=after["tasks"] - before["tasks"],
                   responses=after["responses"] - before["responses"])
        return row

    async def run(self) -> dict[str, Any]:
        import aiohttp

        rounds: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as http:
            await self.start_support(http)
            floor_url = f"http://127.0.0.1:{self.ports['floor']}/slack/events"
            for r in range(1, self.args.rounds + 1):
                order = ("floor", "app") if r % 2 else ("app", "floor")
                for target in order:
                    if target == "floor":
                        row = await self.measure("floor", floor_url, self.floor)
                    else:
                        row = await self.app_round(http, r)
                    row["round"] = r
                    rounds.append(row)
                    print(f"round {r} {target}: p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                          f"{row['rps']:.0f} req/s, {row['ok']}/{row['requests']} answered 200",
                          file=sys.stderr, flush=True)
        return {"rounds": rounds}

    def close(self) -> None:
        for proc in [self.app, self.floor, *self.support]:
            if proc is not None:
                proc.stop()


def read_jobs(db: Path) -> dict[str, Any]:
    if not db.exists():
        return {"jobs": 0, "pending_or_cardless": 0, "states": {}, "with_card": 0, "with_task": 0}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        with_card = conn.execute("SELECT count(*) FROM jobs WHERE message_ts IS NOT NULL").fetchone()[0]
        with_task = conn.execute("SELECT count(*) FROM jobs WHERE task_id IS NOT NULL").fetchone()[0]
    total = sum(states.values())
    return {"jobs": total, "states": states, "with_card": with_card, "with_task": with_task,
            "pending_or_cardless": states.get("pending", 0) + (total - with_card)}


# --- the report -----------------------------------------------------------------------------------

def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    rows = {}
    for target in ("floor", "app"):
        mine = [r for r in rounds if r["target"] == target]
        rows[target] = {key: statistics.median(r[key] for r in mine) for key in ("p50_ms", "p99_ms", "max_ms", "rps")}
        rows[target]["ok"] = sum(r["ok"] for r in mine)
        rows[target]["requests"] = sum(r["requests"] for r in mine)
    floor, app = rows["floor"], rows["app"]
    ratios = {key: app[key] / floor[key] for key in ("p50_ms", "p99_ms", "max_ms", "rps")}
    apps = [r for r in rounds if r["target"] == "app"]
    started = {"commands": sum(r["sent"] for r in apps), "jobs": sum(r["jobs"]["jobs"] for r in apps),
               "cards": sum(r["jobs"]["with_card"] for r in apps), "tasks": sum(r["jobs"]["with_task"] for r in apps),
               "refusals": sum(r["responses"] for r in apps)}
    return {"rows": rows, "ratios": ratios, "started": started,
            "p99_target_met": ratios["p99_ms"] <= TARGET_RATIO,
            "slack_share": app["p99_ms"] / 1000 / SLACK_ACK_LIMIT}


def report(args: argparse.Namespace, rounds: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    rows, ratios, started = summary["rows"], summary["ratios"], summary["started"]
    lines = [
        f"## Ack latency: {args.requests} signed `/wan t2v` per round, {args.concurrency} concurrent clients, "
        f"{args.rounds} round(s), " + (f"open loop at {args.rate:g} req/s, " if args.rate else "closed loop, ")
        + "medians of the rounds",
        "",
        "| target | answered 200 | p50 | p99 | max | throughput |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    names = {"floor": "bare Bolt AsyncApp, ack only (floor)", "app": "`bot serve` HTTP, real job starts"}
    for key in ("floor", "app"):
        row = rows[key]
        lines.append(f"| {names[key]} | {row['ok']}/{row['requests']} | {row['p50_ms']:.1f} ms | "
                     f"{row['p99_ms']:.1f} ms | {row['max_ms']:.1f} ms | {row['rps']:.0f} req/s |")
    lines.append(f"| app / floor | | {ratios['p50_ms']:.2f}x | {ratios['p99_ms']:.2f}x | {ratios['max_ms']:.2f}x | "
                 f"{ratios['rps']:.2f}x |")
    lines += ["", "| round | target | p50 | p99 | max | req/s | CPU s during the round (per process) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rounds:
        cpu = ", ".join(f"{name} {sec:.1f}" for name, sec in r["cpu_s"].items())
        lines.append(f"| {r['round']} | {r['target']} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
                     f"{r['max_ms']:.1f} ms | {r['rps']:.0f} | {cpu} |")
    drains = [r["drain_s"] for r in rounds if r["target"] == "app"]
    drain_text = ("; after the last ack, all cards posted and tasks submitted within "
                  + ", ".join("n/a" if d is None else f"{d:.1f} s" for d in drains))
    lines += [
        "",
        f"Jobs started by the app rounds (warm-up included): {started['commands']} commands, "
        f"{started['jobs']} jobs stored, {started['cards']} cards posted, {started['tasks']} tasks submitted "
        f"upstream, {started['refusals']} ephemeral replies (refusals){drain_text}.",
        f"Target p99(app) <= {TARGET_RATIO}x p99(floor): "
        f"{'met' if summary['p99_target_met'] else 'MISSED'} ({ratios['p99_ms']:.2f}x); "
        f"p99 is {summary['slack_share'] * 100:.1f}% of Slack's {SLACK_ACK_LIMIT:.0f} s.",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="wanbot-ack-bench-"))
    bench = Bench(args, workdir)
    try:
        result = await bench.run()
    except BaseException:
        print(f"(logs kept in {workdir})", file=sys.stderr)
        bench.close()
        raise
    bench.close()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"(logs in {workdir})", file=sys.stderr)
    return result["rounds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per target per round")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests before each timed run")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: send this many requests a second in all (default: closed loop, "
                             "each client sends again as soon as it is answered)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each: floor and app, alternating order)")
    parser.add_argument("--run-seconds", type=float, default=600.0,
                        help="simulated render time: no task finishes during a round")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="after an app round, how long to wait for every card and submit")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    # internal: the child processes
    parser.add_argument("--role", choices=["floor", "standin"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--secret-env", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        secret = os.environ[args.secret_env]
        with contextlib.suppress(KeyboardInterrupt):
            if args.role == "floor":
                asyncio.run(run_floor(args.port, secret, args.api_url))
            else:
                asyncio.run(run_standin(args.port, secret))
        return 0
    if min(args.requests, args.concurrency, args.rounds) < 1 or args.warmup < 0 or (args.rate or 1) <= 0:
        parser.error("--requests, --concurrency and --rounds must be at least 1, --rate above 0")
    rounds = asyncio.run(main_async(args))
    summary = combine(rounds)
    print(report(args, rounds, summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rounds": rounds, **summary}, indent=1,
                                              default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
