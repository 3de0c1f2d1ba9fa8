"""Job starts per second and ack latency for 1, 2 and 3 `bot serve` replicas on one PostgreSQL
database, next to one `bot serve` on SQLite (issue 11): same load generator, same run.

    .venv/bin/python -m bench.replica_bench [--replicas 1,2,3] [--rounds 2] [--rate 20]
        [--steady-requests 300] [--flood-requests 1000] [--concurrency 50] [--json PATH]

The load generator is the ack benchmark's (`bench.ack_bench.Load` and `fire`: signed `/wan t2v`
slash commands, each a real job start). It spreads the commands round robin over the replicas
itself, as a load balancer with no stickiness does, so no proxy process takes CPU from the
replicas. The Slack stand-in and the gateway simulator run in processes of their own
(`python -m bench.ack_bench --role standin`, `python -m bot simulate`, tasks of --run-seconds so
none finishes during a round).

Each round runs every setup (rotating which goes first): `sqlite` (one `bot serve` on a fresh
SQLite file) and `pg-N` (N replicas, WANBOT_REPLICA_ID r0..rN-1, on a fresh PostgreSQL schema,
dropped afterwards), each in two phases after a warm-up:

- steady: --steady-requests commands at --rate a second (open loop): ack p50/p99;
- flood: --flood-requests commands from --concurrency clients back to back (closed loop), then
  the time until every job of the flood is stored with its card posted and its task submitted
  upstream, read from the database itself: job starts per second = flood commands / that time.

Targets (issue 11): pg-2 >= 1.6x pg-1 job starts/s; pg-N steady p99 no worse than sqlite's.
Figures are medians of the rounds; ratios are taken within a round, then their median.

Where the CPU goes: over each flood, the CPU seconds (utime + stime, /proc/<pid>/stat) of every
process taking part, by role: the replicas, the PostgreSQL backends serving them (found by the
application_name their URL sets), the simulator, the stand-in and this process (the load generator),
per job start. They bound what the machine can do (its CPUs / the total per start) and what the
replicas can with a core each (replicas / their CPU per start), as a second table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.ack_bench import (
    APP_ENV,
    SIM_KEY,
    TOKEN,
    Load,
    Proc,
    cpu_seconds,
    fire,
    free_port,
    summarize,
    wait_http,
    wait_quiet,
)
from bench.ack_bench import Bench as AckBench

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
SPEEDUP_TARGET = 1.6


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def with_search_path(url: str, schema: str, **settings: str) -> str:
    """The URL with search_path (and any other session settings, asyncpg passes them on) set."""
    parts = urlsplit(url)
    settings = {"search_path": schema, **settings}
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in settings] + list(settings.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


ROLES = ("replicas", "postgres", "simulator", "stand-in", "load generator")


class Setup:
    """One setup under test: its replicas, its database, how to count its jobs."""

    def __init__(self, bench: ReplicaBench, name: str, replicas: int, backend: str):
        self.bench, self.name, self.count, self.backend = bench, name, replicas, backend
        self.procs: list[Proc] = []
        self.ports: list[int] = []
        self.db = ""
        self.schema = ""
        self.pg = None  # asyncpg connection for counting (and for finding the replicas' backends)

    async def start(self, http, round_no: int) -> None:
        b = self.bench
        tag = f"{self.name}-{round_no}"
        if self.backend == "sqlite":
            self.db = str(b.workdir / f"{tag}.db")
        else:
            import asyncpg

            self.schema = f"wanbot_bench_{uuid.uuid4().hex[:10]}"
            admin = await asyncpg.connect(b.args.postgres)
            try:
                await admin.execute(f'CREATE SCHEMA "{self.schema}"')
            finally:
                await admin.close()
            self.db = with_search_path(b.args.postgres, self.schema)
        # The replicas' sessions carry the schema as their application_name: their backends' CPU is theirs.
        app_db = with_search_path(self.db, self.schema, application_name=self.schema) if self.schema else self.db
        env = b.child_env() | APP_ENV | {
            "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": b.secret, "SLACK_API_URL": b.api_url,
            "WAN_API_BASE": b.sim_url, "WAN_API_KEY": SIM_KEY, "WANBOT_DB": app_db}
        for i in range(self.count):  # one after another: the first migrates the fresh database
            port = free_port()
            cwd = b.workdir / f"{tag}-r{i}"  # no stray .env is read
            cwd.mkdir()
            proc = Proc(f"{self.name} r{i}", [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                                               "--port", str(port)],
                        b.workdir / f"{tag}-r{i}.log", env | {"WANBOT_REPLICA_ID": f"r{i}"}, cwd)
            self.procs.append(proc)
            self.ports.append(port)
            await wait_http(http, f"http://127.0.0.1:{port}/healthz", proc)
        if self.backend == "postgresql":
            import asyncpg

            self.pg = await asyncpg.connect(self.db)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/slack/events" for port in self.ports]

    async def started_jobs(self) -> tuple[int, int]:
        """(jobs stored, jobs with their card posted and their task submitted upstream)."""
        sql = "SELECT count(*), count(*) FILTER (WHERE message_ts IS NOT NULL AND task_id IS NOT NULL) FROM jobs"
        if self.pg is not None:
            row = await self.pg.fetchrow(sql)
            return row[0], row[1]
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)) as conn:
            sql_lite = "SELECT count(*), sum(message_ts IS NOT NULL AND task_id IS NOT NULL) FROM jobs"
            total, done = conn.execute(sql_lite).fetchone()
        return total, done or 0

    async def backend_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each PostgreSQL backend serving the replicas, by pid."""
        if self.pg is None:
            return {}
        rows = await self.pg.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", self.schema)
        return {row["pid"]: cpu_seconds(row["pid"]) for row in rows}

    def warnings(self) -> dict[str, int]:
        """Warnings the replicas logged, by message (e.g. leases lost, commands answered busy)."""
        counts: dict[str, int] = {}
        for proc in self.procs:
            for line in proc.log.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if entry.get("level") in ("warning", "error"):
                        counts[entry.get("msg", "?")] = counts.get(entry.get("msg", "?"), 0) + 1
        return counts

    async def stop(self) -> list[int | None]:
        if self.pg is not None:
            await self.pg.close()
            self.pg = None
        codes = [proc.stop() for proc in self.procs]
        if self.schema:
            import asyncpg

            admin = await asyncpg.connect(self.bench.args.postgres)
            try:
                await admin.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                await admin.close()
        return codes


class ReplicaBench(AckBench):
    """The ack benchmark's stand-in, simulator and process handling; the setups above as targets."""

    async def start_support(self, http) -> None:
        me = [sys.executable, "-m", "bench.ack_bench", "--secret-env", "ACK_BENCH_SECRET"]
        env = self.child_env() | {"ACK_BENCH_SECRET": self.secret}
        standin = Proc("stand-in", [*me, "--role", "standin", "--port", str(self.ports["standin"])],
                       self.workdir / "standin.log", env)
        sim = Proc("simulator", [sys.executable, "-m", "bot", "simulate", "--port", str(self.ports["sim"]),
                                 "--queue-seconds", "1", "--run-seconds", str(self.args.run_seconds)],
                   self.workdir / "sim.log", self.child_env())
        self.support = [standin, sim]
        await wait_http(http, f"{self.standin_url}/_bench/counts", standin)
        await wait_http(http, f"{self.sim_url}/_sim/config", sim)

    async def tasks_created(self, http) -> int:
        async with http.get(f"{self.sim_url}/_sim/stats") as response:
            return (await response.json())["tasks_created"]

    async def one(self, http, setup: Setup, round_no: int) -> dict[str, Any]:
        args = self.args
        await setup.start(http, round_no)
        row: dict[str, Any] = {"setup": setup.name, "replicas": setup.count, "backend": setup.backend,
                               "round": round_no}
        try:
            everyone = [*self.support, *setup.procs]
            tasks_before = await self.tasks_created(http)
            load = Load(self.secret, self.standin_url)
            warm = await fire(setup.urls, load, args.warmup, min(args.concurrency, 10), args.rate)
            row["warmup_statuses"] = warm["statuses"]
            busy = warm["busy"]
            await self.drain(setup, load.sent - busy)
            row["quiet_before_steady"] = await wait_quiet(everyone)
            steady = await fire(setup.urls, load, args.steady_requests, args.concurrency, args.rate)
            row["steady"] = summarize(steady, args.steady_requests)
            busy += steady["busy"]
            await self.drain(setup, load.sent - busy)
            row["quiet_before_flood"] = await wait_quiet(everyone)
            cpu_before = {p.name: p.cpu() for p in setup.procs}
            roles_before = await self.role_cpu(setup)
            backends_before = await setup.backend_cpu()
            busy_before = machine_busy()
            started = time.perf_counter()
            flood = await fire(setup.urls, load, args.flood_requests, args.concurrency)
            row["flood"] = summarize(flood, args.flood_requests)
            busy += flood["busy"]
            starts_s = await self.drain(setup, load.sent - busy, since=started)
            busy_after = machine_busy()
            roles = await self.role_cpu(setup)
            backends = await setup.backend_cpu()
            # A backend that began during the flood spent all its CPU in it; one that ended is lost.
            roles["postgres"] = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends.items())
            row["cpu_s_by_role"] = {k: round(roles[k] - roles_before.get(k, 0.0), 3) for k in ROLES}
            # Since each process began: a role whose flood share is under one clock tick still shows it was found.
            row["cpu_s_so_far_by_role"] = {k: round(roles[k], 3) for k in ROLES}
            row["postgres_backends"] = len(backends)
            row["flood"]["start_all_s"] = starts_s
            # jobs the flood started (a command answered busy started nothing)
            row["jobs_started_flood"] = args.flood_requests - flood["busy"]
            row["job_starts_per_s"] = row["jobs_started_flood"] / starts_s if starts_s else 0.0
            row["machine_busy"] = ((busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]))
            row["cpu_s"] = {p.name: round(p.cpu() - cpu_before[p.name], 2) for p in setup.procs}
            row["sent"] = load.sent
            row["busy"] = busy
            row["jobs"], row["jobs_started"] = await setup.started_jobs()
            row["tasks"] = await self.tasks_created(http) - tasks_before
        finally:
            row["exit_codes"] = await setup.stop()
            row["log_warnings"] = setup.warnings()
        print(f"round {round_no} {setup.name}: steady p99 {row['steady']['p99_ms']:.1f} ms, flood "
              f"{row['flood']['rps']:.0f} acks/s, {row['job_starts_per_s']:.0f} job starts/s, "
              f"{row['jobs_started']}/{row['sent']} started, {row['busy']} busy; {row['log_warnings']}",
              file=sys.stderr, flush=True)
        return row

    async def role_cpu(self, setup: Setup) -> dict[str, float]:
        """CPU seconds so far of every process but PostgreSQL's, by role."""
        standin, sim = self.support
        return {"replicas": sum(p.cpu() for p in setup.procs), "simulator": sim.cpu(), "stand-in": standin.cpu(),
                "load generator": cpu_seconds(os.getpid()), "postgres": 0.0}

    async def drain(self, setup: Setup, sent: int, since: float | None = None) -> float | None:
        """Wait until all `sent` jobs are stored, carded and submitted; seconds since `since`."""
        begin = time.perf_counter()
        while time.perf_counter() - begin < self.args.drain_timeout:
            total, done = await setup.started_jobs()
            if total >= sent and done >= sent:
                return time.perf_counter() - (since if since is not None else begin)
            await asyncio.sleep(0.1)
        return None

    async def run(self) -> dict[str, Any]:
        import aiohttp

        setups = [Setup(self, "sqlite", 1, "sqlite")]
        setups += [Setup(self, f"pg-{n}", n, "postgresql") for n in self.args.replicas]
        rows = []
        async with aiohttp.ClientSession() as http:
            await self.start_support(http)
            for r in range(1, self.args.rounds + 1):
                k = (r - 1) % len(setups)
                for template in setups[k:] + setups[:k]:
                    setup = Setup(self, template.name, template.count, template.backend)
                    rows.append(await self.one(http, setup, r))
        return {"rounds": rows}


def combine(rows: list[dict[str, Any]], replicas: list[int]) -> dict[str, Any]:
    names = ["sqlite"] + [f"pg-{n}" for n in replicas]
    out: dict[str, Any] = {}
    for name in names:
        mine = [r for r in rows if r["setup"] == name]
        out[name] = {
            "steady_p50_ms": statistics.median(r["steady"]["p50_ms"] for r in mine),
            "steady_p99_ms": statistics.median(r["steady"]["p99_ms"] for r in mine),
            "flood_p99_ms": statistics.median(r["flood"]["p99_ms"] for r in mine),
            "acks_per_s": statistics.median(r["flood"]["rps"] for r in mine),
            "job_starts_per_s": statistics.median(r["job_starts_per_s"] for r in mine),
            "machine_busy": statistics.median(r["machine_busy"] for r in mine),
            "cpu_per_start_ms": statistics.median(1000 * sum(r["cpu_s"].values()) / r["flood"]["requests"]
                                                  for r in mine),
            "started": sum(r["jobs_started"] for r in mine), "sent": sum(r["sent"] for r in mine),
            "busy": sum(r["busy"] for r in mine),
            "leases_lost": sum(n for r in mine for m, n in r["log_warnings"].items() if m.startswith("lease lost")),
            "tasks": sum(r["tasks"] for r in mine),
            # CPU ms per job start of the flood, by role (the median of the rounds, role by role)
            "cpu_ms_per_start": {role: statistics.median(1000 * r["cpu_s_by_role"][role] / max(1, r["jobs_started_flood"])
                                                         for r in mine) for role in ROLES},
        }
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_round.setdefault(r["round"], {})[r["setup"]] = r
    ratios: dict[str, Any] = {}
    for name in names:
        if name == "sqlite":
            continue
        per = [(rr[name], rr["sqlite"], rr.get("pg-1")) for rr in by_round.values() if name in rr and "sqlite" in rr]
        ratios[name] = {
            "p99_vs_sqlite": statistics.median(a["steady"]["p99_ms"] / s["steady"]["p99_ms"] for a, s, _ in per),
            "starts_vs_sqlite": statistics.median(a["job_starts_per_s"] / s["job_starts_per_s"] for a, s, _ in per),
        }
        with_one = [(a, one) for a, _, one in per if one is not None]
        if with_one:
            ratios[name]["starts_vs_pg1"] = statistics.median(a["job_starts_per_s"] / one["job_starts_per_s"]
                                                             for a, one in with_one)
    return {"setups": out, "ratios": ratios}


def report(args: argparse.Namespace, summary: dict[str, Any]) -> str:
    setups, ratios = summary["setups"], summary["ratios"]
    lines = [f"## Replicas: {args.rounds} round(s); steady {args.steady_requests} commands at {args.rate:g}/s, "
             f"flood {args.flood_requests} commands from {args.concurrency} clients; {os.cpu_count()} CPUs; "
             "medians of the rounds, ratios within a round",
             "",
             "| setup | steady p50 | steady p99 | p99 vs sqlite | flood ack p99 | acks/s | job starts/s | "
             "vs pg-1 | vs sqlite | bot CPU per start | machine busy | started / sent (busy) | leases lost |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in setups.items():
        r = ratios.get(name, {})
        vs1 = f"{r['starts_vs_pg1']:.2f}x" if "starts_vs_pg1" in r else ""
        p99 = f"{r['p99_vs_sqlite']:.2f}x" if r else ""
        vss = f"{r['starts_vs_sqlite']:.2f}x" if r else ""
        lines.append(f"| {name} | {s['steady_p50_ms']:.1f} ms | {s['steady_p99_ms']:.1f} ms | {p99} | "
                     f"{s['flood_p99_ms']:.0f} ms | {s['acks_per_s']:.0f} | {s['job_starts_per_s']:.0f} | {vs1} | "
                     f"{vss} | {s['cpu_per_start_ms']:.1f} ms | {100 * s['machine_busy']:.0f} % | "
                     f"{s['started']}/{s['sent']} ({s['busy']}) | {s['leases_lost']} |")
    lines += ["", f"CPU per job start in the flood (ms of CPU, each role's processes summed; medians of the rounds). "
              f"Ceilings: the machine's {os.cpu_count()} CPUs / the total; the replicas with a core each "
              "(replicas / their ms per start) when nothing else shares those cores.", "",
              "| setup | " + " | ".join(ROLES) + " | total | machine ceiling | replicas' ceiling |",
              "| --- |" + " --- |" * (len(ROLES) + 3)]
    for name, s in setups.items():
        cpu = s["cpu_ms_per_start"]
        total = sum(cpu.values())
        count = 1 if name == "sqlite" else int(name.split("-")[1])
        machine = (os.cpu_count() or 1) * 1000 / total if total else float("nan")
        replicas = count * 1000 / cpu["replicas"] if cpu["replicas"] else float("nan")
        lines.append(f"| {name} | " + " | ".join(f"{cpu[role]:.1f}" for role in ROLES)
                     + f" | {total:.1f} | {machine:.0f}/s | {replicas:.0f}/s |")
    lines.append("")
    if "pg-2" in ratios and "starts_vs_pg1" in ratios["pg-2"]:
        x = ratios["pg-2"]["starts_vs_pg1"]
        lines.append(f"Target pg-2 >= {SPEEDUP_TARGET}x pg-1 job starts/s: {'met' if x >= SPEEDUP_TARGET else 'MISSED'} "
                     f"({x:.2f}x).")
    worst = max((r["p99_vs_sqlite"] for r in ratios.values()), default=float("nan"))
    lines.append(f"Target steady p99 no worse than sqlite: {'met' if worst <= 1.0 else 'MISSED'} "
                 f"(worst pg setup {worst:.2f}x sqlite's p99).")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="wanbot-replica-bench-"))
    bench = ReplicaBench(args, workdir)
    try:
        result = await bench.run()
    except BaseException:
        print(f"(logs kept in {workdir})", file=sys.stderr)
        bench.close()
        raise
    bench.close()
    if args.keep:
        print(f"(logs in {workdir})", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result["rounds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", default="1,2,3", help="PostgreSQL replica counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="steady phase: commands a second")
    parser.add_argument("--steady-requests", type=int, default=300)
    parser.add_argument("--flood-requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--run-seconds", type=float, default=900.0,
                        help="simulated render time: no task finishes during a round")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--postgres", default=os.environ.get("WANBOT_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    args.replicas = [int(x) for x in args.replicas.split(",") if x.strip()]
    if min(args.rounds, args.steady_requests, args.flood_requests, args.concurrency, *args.replicas) < 1:
        parser.error("counts must be at least 1")
    rows = asyncio.run(main_async(args))
    summary = combine(rows, args.replicas)
    print(report(args, summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rounds": rows, **summary}, indent=1,
                                              default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
