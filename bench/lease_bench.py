"""Tracker over several replicas on one PostgreSQL database (issue 11): many in-flight jobs over 3
tracker processes, one SIGKILLed halfway.

    .venv/bin/python -m bench.lease_bench [--jobs 3000] [--replicas 3] [--time-factor 2]
        [--lease-seconds 30] [--kill-after 0.4] [--restart] [--json PATH]

Processes: the gateway simulator (realistic render times, as bench/tracker_bench.py: 40 s + 16 s
per video second, +/-25 %, after a 5 s queue, all --time-factor times faster) and --replicas
workers, each the real `Tracker` with the PostgreSQL store on one fresh schema (dropped after),
WANBOT_REPLICA_ID r0.., leases of --lease-seconds (real seconds: not scaled, so the takeover time
reads as it would in production). The jobs are enqueued round robin over the workers, as a load
balancer spreads Slack commands, --enqueue-concurrency at a time in each (default 16). The tracker's schedule is scaled by the time factor as in
tracker_bench; figures in real-world seconds are marked so.

Measured from outside the bot (the simulator's task list and the jobs table):
- upstream calls per job: submits + polls the simulator counted for each job's task (tracker_bench:
  ~6 in one process), and one task per job;
- balance: leases held per replica among unfinished jobs, sampled every second once all jobs are
  enqueued and before the kill; spread = (max - min) / mean, and max |held - mean| / mean;
- takeover: --kill-after (a share of the median render time, scaled) after the last enqueue, the
  last worker is SIGKILLed; for each unfinished job it held, the time until another replica holds
  its lease (polled every 0.2 s): p50/p95/max against the target lease time + 5 s;
- with --restart, a rolling deploy's last step: once the victim's jobs are all taken over, it starts
  again (same id, enqueuing nothing) and finds every job held by the others; the time until the
  leases are within 20 % of the mean again (polled every 0.5 s), and how many were handed back;
- every job ends delivered, exactly one upstream task per job.
"""

# The few blocking calls (marker files, starting workers, the simulator's lists at the end) are made
# while nothing else runs on this script's loop, as in tests/ (the same rules are waived there).
# ruff: noqa: ASYNC110, ASYNC210, ASYNC220, ASYNC230, ASYNC240
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from bench.procstat import status_kib
from bench.tracker_bench import _requests, percentile, start_simulator

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
TAKEOVER_SLACK = 5.0
BALANCE_TARGET = 0.20


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"] + [("search_path", schema)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


# --- a worker: one replica's tracker --------------------------------------------------------------

async def _run_replica(cfg: dict) -> dict:
    from bot.config import load_settings
    from bot.jobs.models import DeliveryState
    from bot.jobs.notifier import Notifier
    from bot.jobs.store import JobStore
    from bot.jobs.tracker import Tracker, TrackerOptions
    from bot.wan.client import GatewayClient
    from bot.wan.request import build_request

    f = cfg["time_factor"]

    class Quiet(Notifier):
        async def job_changed(self, job, *, waiting_position=None):
            return None

        async def post_video(self, job, video) -> DeliveryState:
            return DeliveryState.POSTED

    settings = load_settings(wan_api_base=cfg["base"], wan_api_key="sk-sim-local", wanbot_db=cfg["db"],
                             wan_max_in_flight=cfg["jobs"], wanbot_replica_id=cfg["replica"],
                             wanbot_lease_seconds=cfg["lease_seconds"])
    store = await JobStore.open(settings.wanbot_db)
    client = GatewayClient(settings)
    options = TrackerOptions.from_settings(
        settings, download_dir=cfg["tmp"], max_in_flight=cfg["jobs"],
        poll_min_interval=2.0 / f, poll_max_interval=30.0 / f, poll_progress_interval=60.0 / f,
        first_guess_seconds=(30.0 + 12.0 * 5) / f)
    tracker = Tracker(store, client, Quiet(), options)
    await tracker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    Path(cfg["ready"]).write_text("ready")
    while not Path(cfg["go"]).exists():
        await asyncio.sleep(0.05)
    requests = _requests(cfg["jobs"], cfg["seed"])
    started = time.time()
    # Several enqueues at a time, as a replica takes several Slack commands at once: one at a time
    # the enqueue of 10,000 outlasts the shortest renders and never has them all in flight.
    gate = asyncio.Semaphore(cfg["enqueue_concurrency"])

    async def enqueue(request) -> None:
        async with gate:
            await tracker.enqueue(build_request("t2v", request))

    if cfg.get("enqueue", True):  # (a restarted replica enqueues nothing: it only takes its share)
        await asyncio.gather(*(enqueue(r) for r in requests[cfg["index"]::cfg["replicas"]]))
    Path(cfg["enqueued"]).write_text(str(time.time()))
    await stop.wait()
    await tracker.stop()
    await client.aclose()
    await store.close()
    return {"enqueue_s": time.time() - started}


def worker(cfg: dict) -> None:
    import logging

    from bot.logs import setup_logging

    # Warnings to the worker's log, and the tracker's lease moves ("job taken over", "handed back"),
    # which the report counts; not the per-call lines (3,000 jobs, ~20,000 calls).
    setup_logging("WARNING")
    logging.getLogger("bot.jobs.tracker").setLevel(logging.INFO)
    result = asyncio.run(_run_replica(cfg))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(cpu=usage.ru_utime + usage.ru_stime, peak_rss_kb=status_kib("VmHWM"))
    Path(cfg["out"]).write_text(json.dumps(result))


# --- the orchestrator -------------------------------------------------------------------------------

async def wait_file(path: Path, procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a worker exited early waiting for {path.name}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path.name}")
        await asyncio.sleep(0.05)


async def holdings(conn, terminal: list[str]) -> dict[str, int]:
    """Unexpired leases per replica among unfinished jobs."""
    rows = await conn.fetch("SELECT lease_owner, count(*) FROM jobs WHERE state <> ALL($1::text[]) "
                            "AND lease_owner IS NOT NULL AND lease_expires > $2 GROUP BY lease_owner",
                            terminal, time.time())
    return {r[0]: r[1] for r in rows}


async def analyze_now(conn, args: argparse.Namespace, last: list[float]) -> None:
    """ANALYZE the jobs table every --analyze-every seconds: what autovacuum's auto-analyze does on a
    production server, and this development server runs with autovacuum off (the planner then keeps
    the plan it made for the empty table)."""
    if args.analyze_every > 0 and time.time() - last[0] >= args.analyze_every:
        await conn.execute("ANALYZE jobs")
        last[0] = time.time()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    from bot.jobs.models import JobState

    f = args.time_factor
    terminal = [s.value for s in JobState.TERMINAL]
    in_flight = [s.value for s in JobState.IN_FLIGHT_UPSTREAM]
    schema = f"wanbot_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    db = with_search_path(args.postgres, schema)
    sim, base = start_simulator(f, args.seed)
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="wanbot-lease-bench-"))
    conn = None
    try:
        names = [f"r{i}" for i in range(args.replicas)]
        cfgs = []
        for i, name in enumerate(names):  # one after another: the first migrates the schema
            cfg = {"jobs": args.jobs, "replicas": args.replicas, "index": i, "replica": name, "seed": args.seed,
                   "time_factor": f, "lease_seconds": args.lease_seconds, "base": base, "db": db,
                   "enqueue_concurrency": args.enqueue_concurrency, "tmp": str(tmp / name), "ready": str(tmp / f"{name}.ready"), "go": str(tmp / "go"),
                   "enqueued": str(tmp / f"{name}.enqueued"), "out": str(tmp / f"{name}.json")}
            os.makedirs(cfg["tmp"])
            log = open(tmp / f"{name}.log", "wb")  # kept open for the child's life
            procs.append(subprocess.Popen([sys.executable, "-m", "bench.lease_bench", "--worker", json.dumps(cfg)],
                                          stdout=log, stderr=subprocess.STDOUT))
            cfgs.append(cfg)
            await wait_file(Path(cfg["ready"]), procs, 120)
        conn = await asyncpg.connect(db)
        Path(tmp / "go").write_text("go")
        began = time.time()
        # From the first enqueue to the kill: the most in flight upstream and unfinished at once
        # (every second; submits go on after the last enqueue).
        peak = {"in_flight": 0, "unfinished": 0}
        analyzed = [began]

        async def sample_peaks() -> None:
            peak["in_flight"] = max(peak["in_flight"], await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE state = ANY($1::text[])", in_flight))
            peak["unfinished"] = max(peak["unfinished"], await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE state <> ALL($1::text[])", terminal))

        while not all(Path(cfg["enqueued"]).exists() for cfg in cfgs):
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited early while enqueuing")
            if time.time() - began > 1800:
                raise SystemExit("timed out waiting for the enqueue")
            await sample_peaks()
            await analyze_now(conn, args, analyzed)
            await asyncio.sleep(1.0)
        enqueued_at = time.time()
        # balance: sample holdings until the kill
        median_render = (40.0 + 16.0 * 8.5 + 5.0) / f
        kill_at = enqueued_at + args.kill_after * median_render
        samples: list[dict[str, int]] = []
        while time.time() < kill_at:
            held = await holdings(conn, terminal)
            if held:
                samples.append(held)
            await sample_peaks()
            await analyze_now(conn, args, analyzed)
            await asyncio.sleep(1.0)
        victim = names[-1]
        held_before = await conn.fetch("SELECT id FROM jobs WHERE lease_owner = $1 AND state <> ALL($2::text[])",
                                       victim, terminal)
        procs[-1].send_signal(signal.SIGKILL)
        killed_at = time.time()
        procs[-1].wait()
        pending = {r[0] for r in held_before}
        takeover: dict[str, float] = {}
        ended_unowned = 0
        after_samples: list[dict[str, int]] = []
        last_sample = 0.0
        deadline = killed_at + args.lease_seconds * 4 + 60
        while pending and time.time() < deadline:
            rows = await conn.fetch("SELECT id, lease_owner, state FROM jobs WHERE id = ANY($1::text[])",
                                    list(pending))
            now = time.time()
            for job_id, owner, state in rows:
                # another replica holds it, or already drove it to its end (its lease cleared)
                if (owner is not None and owner != victim) or state in terminal:
                    takeover[job_id] = now - killed_at
                    pending.discard(job_id)
                    ended_unowned += state in terminal
            if now - last_sample > 1.0:
                after_samples.append(await holdings(conn, terminal))
                last_sample = now
            await asyncio.sleep(0.2)
        after_samples.append(await holdings(conn, terminal))  # once every job of the victim was taken over
        rebalance: dict[str, Any] = {}
        if args.restart:
            rebalance = await restart_and_rebalance(conn, terminal, names, cfgs[-1], procs, tmp)
        # wait for every job to end
        total_deadline = time.time() + args.finish_timeout
        while time.time() < total_deadline:
            left = await conn.fetchval("SELECT count(*) FROM jobs WHERE state <> ALL($1::text[])", terminal)
            if left == 0:
                break
            await asyncio.sleep(1.0)
        finished_at = time.time()
        states = dict(await conn.fetch("SELECT state, count(*) FROM jobs GROUP BY state"))
        task_ids = [r[0] for r in await conn.fetch("SELECT task_id FROM jobs WHERE task_id IS NOT NULL")]
        owners_end = dict(await conn.fetch("SELECT coalesce(lease_owner, '-'), count(*) FROM jobs GROUP BY 1"))
        alive = procs if args.restart else procs[:-1]
        for p in alive:
            p.send_signal(signal.SIGTERM)
        for p in alive:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        tmp_logs = {name: "".join(log.read_text(errors="replace") for log in sorted(tmp.glob(f"{name}*.log")))
                    for name in names}
        lost = {name: tmp_logs[name].count("lease lost") for name in names}
        results = {name: json.loads(Path(c["out"]).read_text()) for name, c in zip(names, cfgs, strict=True)
                   if Path(c["out"]).exists()}
        sim_tasks = httpx.get(base + "/_sim/tasks", timeout=120).json()
        sim_stats = httpx.get(base + "/_sim/stats", timeout=120).json()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sim.terminate()
        sim.wait()
        if conn is not None:
            await conn.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
        if args.keep:
            print(f"(logs in {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    calls = [1 + sim_tasks[t]["polls"] for t in task_ids if t in sim_tasks]
    submits = sum(sim_stats["submits_by_key"].values())
    balance = [_balance(s, names) for s in samples]
    return {
        "jobs": args.jobs, "replicas": args.replicas, "time_factor": f, "lease_seconds": args.lease_seconds,
        "enqueue_concurrency": args.enqueue_concurrency,
        "states": states, "delivered": states.get("delivered", 0), "tasks_created": sim_stats["tasks_created"],
        "submit_requests": submits, "requests_total": len(sim_stats["requests"]),
        "calls_per_job_mean": statistics.mean(calls) if calls else 0.0,
        "calls_per_job_median": statistics.median(calls) if calls else 0.0,
        "calls_per_job_total": len(sim_stats["requests"]) / max(1, args.jobs),
        "enqueue_s": enqueued_at - began, "enqueue_per_s": args.jobs / max(1e-9, enqueued_at - began),
        "enqueue_peak_in_flight": peak["in_flight"], "enqueue_peak_unfinished": peak["unfinished"],
        "analyze_every": args.analyze_every, "wall_real_s": (finished_at - began) * f,
        "balance_samples": len(samples),
        "in_flight_peak": max((sum(x.values()) for x in samples), default=0),
        "balance_spread_median": statistics.median(b["spread"] for b in balance) if balance else None,
        "balance_dev_median": statistics.median(b["dev"] for b in balance) if balance else None,
        "balance_dev_max": max(b["dev"] for b in balance) if balance else None,
        "held_median": {n: statistics.median(s.get(n, 0) for s in samples) for n in names} if samples else {},
        "after_kill_last": after_samples[-1] if after_samples else {},
        "victim": victim, "victim_held": len(held_before), "taken_over": len(takeover),
        "not_taken_over": len(pending), "taken_over_and_ended": ended_unowned,
        "takeover_p50": percentile(list(takeover.values()), 0.5) if takeover else None,
        "takeover_p95": percentile(list(takeover.values()), 0.95) if takeover else None,
        "takeover_max": max(takeover.values()) if takeover else None,
        "takeover_target": args.lease_seconds + TAKEOVER_SLACK,
        "owners_end": owners_end, "workers": results, "leases_lost_logged": lost,
        "rebalance": rebalance,
        "handed_back_logged": {name: (tmp_logs.get(name) or "").count("handed back to balance") for name in names},
    }


async def restart_and_rebalance(conn, terminal: list[str], names: list[str], cfg: dict,
                                procs: list[subprocess.Popen], tmp: Path) -> dict[str, Any]:
    """Start the victim again (same id, nothing to enqueue): the seconds until every replica holds
    within BALANCE_TARGET of the mean, counted from its start (its tracker's first claim)."""
    cfg = {**cfg, "enqueue": False, "ready": str(tmp / "restart.ready"), "enqueued": str(tmp / "restart.enqueued"),
           "out": str(tmp / "restart.json")}
    log = open(tmp / f"{cfg['replica']}-restart.log", "wb")  # kept open for the child's life
    started = time.time()
    procs[-1] = subprocess.Popen([sys.executable, "-m", "bench.lease_bench", "--worker", json.dumps(cfg)],
                                 stdout=log, stderr=subprocess.STDOUT)
    first = await holdings(conn, terminal)
    await wait_file(Path(cfg["ready"]), procs, 120)
    ready_s = time.time() - started
    while time.time() - started < 120:
        held = await holdings(conn, terminal)
        if not held:  # every job ended first (a tiny run): nothing to balance
            break
        if held.get(cfg["replica"]) and _balance(held, names)["dev"] <= BALANCE_TARGET:
            return {"balanced_s": time.time() - started, "ready_s": ready_s, "before": first, "after": held}
        await asyncio.sleep(0.5)
    return {"balanced_s": None, "ready_s": ready_s, "before": first, "after": await holdings(conn, terminal)}


def _balance(held: dict[str, int], names: list[str]) -> dict[str, float]:
    counts = [held.get(n, 0) for n in names]
    mean = statistics.mean(counts)
    if mean == 0:
        return {"spread": 0.0, "dev": 0.0}
    return {"spread": (max(counts) - min(counts)) / mean, "dev": max(abs(c - mean) for c in counts) / mean}


def report(s: dict[str, Any]) -> str:
    def fmt(x, unit=" s"):
        return "n/a" if x is None else f"{x:.1f}{unit}"

    bal = s["balance_dev_max"]
    tp95 = s["takeover_p95"]
    cpu = ", ".join(f"{n} {w['cpu']:.0f} s" for n, w in s["workers"].items())
    lines = [
        f"## Tracker over {s['replicas']} replicas on PostgreSQL: {s['jobs']:,} jobs, time factor {s['time_factor']:g}, "
        f"leases of {s['lease_seconds']:g} s; {os.cpu_count()} CPUs",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| jobs delivered | {s['delivered']:,}/{s['jobs']:,} (states {s['states']}) | all |",
        f"| upstream tasks created / submit requests | {s['tasks_created']:,} / {s['submit_requests']:,} | one task per job |",
        f"| upstream calls per job (submit + polls; median / mean) | {s['calls_per_job_median']:g} / "
        f"{s['calls_per_job_mean']:.2f} (every request the simulator saw, video downloads included, per job: "
        f"{s['calls_per_job_total']:.2f}) | ~6, as one process |",
        f"| leases held per replica (median of {s['balance_samples']} samples before the kill; "
        f"unfinished jobs at the peak: {s['in_flight_peak']:,}) | {s['held_median']} | |",
        f"| balance: max deviation from the mean (median of samples / worst sample) | "
        f"{fmt(100 * s['balance_dev_median'] if s['balance_dev_median'] is not None else None, ' %')} / "
        f"{fmt(100 * bal if bal is not None else None, ' %')} | within 20 %: "
        f"{'met' if bal is not None and bal <= BALANCE_TARGET else 'MISSED'} |",
        f"| jobs held by the SIGKILLed replica ({s['victim']}) / taken over | {s['victim_held']:,} / "
        f"{s['taken_over']:,} (not taken over: {s['not_taken_over']}) | all |",
        f"| takeover after SIGKILL, real seconds: p50 / p95 / max | {fmt(s['takeover_p50'])} / {fmt(tp95)} / "
        f"{fmt(s['takeover_max'])} | p95 < {s['takeover_target']:g} s: "
        f"{'met' if tp95 is not None and tp95 < s['takeover_target'] else 'MISSED'} |",
        f"| leases held once the victim's jobs were all taken over | {s['after_kill_last']} | |",
        f"| enqueue of all jobs / whole run (real-world s) | {s['enqueue_s']:.0f} s ({s['enqueue_per_s']:.1f} jobs/s) / "
        f"{s['wall_real_s']:.0f} s | |",
        f"| most in flight upstream / unfinished at once, first enqueue to the kill (sampled every second) | "
        f"{s['enqueue_peak_in_flight']:,} / {s['enqueue_peak_unfinished']:,} | all {s['jobs']:,} |",
        f"| worker CPU (the killed one not counted) | {cpu} | |",
        f"| \"lease lost\" logged per replica | {s['leases_lost_logged']} | |",
    ]
    if s["rebalance"]:
        r = s["rebalance"]
        lines += [
            f"| restarted {s['victim']}: leases held when it started / once balanced | {r['before']} / {r['after']} | |",
            f"| restart to leases within 20 % of the mean, real seconds (its tracker started after) | "
            f"{fmt(r['balanced_s'])} ({fmt(r['ready_s'])}) | |",
            f"| \"handed back to balance\" logged per replica | {s['handed_back_logged']} | |",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lease_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--time-factor", type=float, default=2.0)
    parser.add_argument("--lease-seconds", type=float, default=30.0, help="WANBOT_LEASE_SECONDS (real seconds)")
    parser.add_argument("--kill-after", type=float, default=0.4,
                        help="SIGKILL the last replica this share of the median render time after the last enqueue")
    parser.add_argument("--restart", action="store_true",
                        help="start the killed replica again once its jobs are taken over: time to balance")
    parser.add_argument("--finish-timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--enqueue-concurrency", type=int, default=16,
                        help="enqueues each replica runs at once (1: one after another, as before)")
    parser.add_argument("--analyze-every", type=float, default=30.0,
                        help="ANALYZE the jobs table this often in seconds, as autovacuum would (0: never)")
    parser.add_argument("--postgres", default=os.environ.get("WANBOT_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true", help="keep the workers' logs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.replicas < 2 or args.jobs < args.replicas:
        parser.error("--replicas at least 2 (one is killed), --jobs at least --replicas")
    summary = asyncio.run(measure(args))
    print(report(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
