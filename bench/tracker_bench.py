"""Tracker scale and polling efficiency: N concurrent jobs in one process against the simulator, next
to a naive tracker that polls every 5 s.

Render times are realistic (40 s + 16 s per video second for 2-15 s videos, +/-25 %: about 55-350 s,
plus a 5 s queue) and everything runs `--time-factor` times faster: the simulator's timings and the
tracker's own schedule (2 s minimum, 30 s back-off cap, 60 s progress interval) are divided by the
factor, and every figure below is multiplied back, so it reads in real-world seconds.

For each N, three processes: the simulator (`python -m bot simulate`), and a worker running the real
`Tracker` with its SQLite store (its CPU seconds and peak RSS are the bot's), then this script reads
each task's true finish time from the simulator (`GET /_sim/tasks`) and each job's detection time from
the store. The naive tracker (one coroutine per job: submit, then sleep 5 s and poll until the task
ends) is run for real at `--naive-jobs`; for every N the table also shows what it would cost on the
very same tasks (computed from their run times), and a naive tracker tuned to the same p95 detection
delay as ours.

    python -m bench.tracker_bench                      # --jobs 1000 --naive-jobs 300 --time-factor 5
    python -m bench.tracker_bench --jobs 10000 --naive-jobs 0 --time-factor 1  # 10k jobs: ~7.5 min
    python -m bench.tracker_bench --jobs 30 --naive-jobs 30 --time-factor 40   # smoke size

The time factor must leave the tracker CPU to spare (it needs ~25 ms of CPU per job): 10,000 jobs
at 5x would measure a saturated CPU, not the schedule, so use 1x there (2x for 5,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

import httpx

from bench.procstat import status_kib

QUEUE_SECONDS = 5.0
RUN_BASE_SECONDS = 40.0
RUN_SECONDS_PER_VIDEO_SECOND = 16.0
RUN_JITTER = 0.25
NAIVE_INTERVAL = 5.0
DURATIONS = range(2, 16)


# --- the measured side: a worker process ------------------------------------------------------




def _requests(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"prompt": f"bench scene {i}: a lighthouse in a storm, slow dolly in", "duration": rng.choice(DURATIONS)}
            for i in range(n)]


async def _run_tracker(cfg: dict) -> dict:
    from bot.config import load_settings
    from bot.jobs.models import DeliveryState
    from bot.jobs.notifier import Notifier
    from bot.jobs.store import JobStore
    from bot.jobs.tracker import Tracker, TrackerOptions
    from bot.wan.client import GatewayClient
    from bot.wan.request import build_request

    f = cfg["time_factor"]
    n = cfg["jobs"]

    class Counter(Notifier):
        def __init__(self):
            self.ended = 0
            self.all_ended = asyncio.Event()

        async def job_changed(self, job, *, waiting_position=None):
            if job.state.terminal:
                self.ended += 1
                if self.ended >= n:
                    self.all_ended.set()

        async def post_video(self, job, video) -> DeliveryState:
            return DeliveryState.POSTED

    settings = load_settings(wan_api_base=cfg["base"], wan_api_key="sk-sim-local", wanbot_db=cfg["db"],
                             wan_max_in_flight=n)
    store = await JobStore.open(settings.wanbot_db)
    client = GatewayClient(settings)
    notifier = Counter()
    options = TrackerOptions.from_settings(
        settings, download_dir=cfg["tmp"], max_in_flight=n,
        poll_min_interval=2.0 / f, poll_max_interval=30.0 / f, poll_progress_interval=60.0 / f,
        first_guess_seconds=(30.0 + 12.0 * 5) / f)  # Wan's first guess for a 5 s video, scaled
    tracker = Tracker(store, client, notifier, options)
    await tracker.start()
    idle_rss_kb = status_kib("VmRSS")
    started = time.time()
    for request in _requests(n, cfg["seed"]):
        await tracker.enqueue(build_request("t2v", request))
    submitted_all = time.time() - started
    await notifier.all_ended.wait()
    wall = time.time() - started
    await tracker.stop()
    await client.aclose()
    await store.close()
    return {"wall": wall, "submit_all": submitted_all, "idle_rss_kb": idle_rss_kb}


async def _run_naive(cfg: dict) -> dict:
    """One coroutine per job: submit, then sleep NAIVE_INTERVAL and poll until the task has ended."""
    from bot.config import load_settings
    from bot.wan.client import GatewayClient
    from bot.wan.errors import GatewayError
    from bot.wan.request import build_request

    f = cfg["time_factor"]
    settings = load_settings(wan_api_base=cfg["base"], wan_api_key="sk-sim-local", wanbot_db=cfg["db"])
    client = GatewayClient(settings)
    idle_rss_kb = status_kib("VmRSS")
    results: dict[str, float] = {}

    submits = asyncio.Semaphore(16)  # as the tracker's upstream gate: 1000 submits at once overflow the pool

    async def follow(request: dict) -> None:
        key = uuid.uuid4().hex
        async with submits:
            while True:
                try:
                    task = await client.submit(build_request("t2v", request), idempotency_key=key)
                    break
                except GatewayError:
                    await asyncio.sleep(1.0 / f)
        while not task.status.ended:
            await asyncio.sleep(NAIVE_INTERVAL / f)
            try:
                task = await client.get_task(task.id)
            except GatewayError:
                continue
        results[task.id] = time.time()

    started = time.time()
    await asyncio.gather(*(follow(r) for r in _requests(cfg["jobs"], cfg["seed"])))
    wall = time.time() - started
    await client.aclose()
    return {"wall": wall, "idle_rss_kb": idle_rss_kb, "detected": results}


def worker(cfg: dict) -> None:
    run = _run_tracker if cfg["kind"] == "tracker" else _run_naive
    result = asyncio.run(run(cfg))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(cpu=usage.ru_utime + usage.ru_stime, peak_rss_kb=status_kib("VmHWM"))
    with open(cfg["out"], "w") as out:
        json.dump(result, out)


# --- the orchestrating side ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Run:
    kind: str
    jobs: int
    delivered: int
    wall: float           # real-world seconds (scaled back)
    cpu: float            # CPU seconds actually spent (not scaled: the work is the same)
    peak_rss_mb: float
    idle_rss_mb: float
    requests_per_job: list[int]   # submits + polls seen by the simulator
    delays: list[float]           # detection delay per job, real-world seconds
    run_times: list[float]        # task accepted -> task finished, real-world seconds


def start_simulator(f: float, seed: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "bot", "simulate", "--port", str(port), "--seed", str(seed),
         "--queue-seconds", str(QUEUE_SECONDS / f), "--run-seconds", str(RUN_BASE_SECONDS / f),
         "--seconds-per-video-second", str(RUN_SECONDS_PER_VIDEO_SECOND / f), "--run-jitter", str(RUN_JITTER),
         "--video-mode", "oversize", "--oversize-bytes", "65536"],  # small valid-looking MP4s, no encoding
        stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/_sim/config", timeout=1)
            return sim, base
        except httpx.HTTPError:
            time.sleep(0.05)
    sim.kill()
    raise SystemExit("the simulator did not start")


def measure(kind: str, jobs: int, f: float, seed: int) -> Run:
    sim, base = start_simulator(f, seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = {"kind": kind, "jobs": jobs, "time_factor": f, "seed": seed, "base": base, "tmp": tmp,
                   "db": os.path.join(tmp, "bench.db"), "out": os.path.join(tmp, "result.json")}
            subprocess.run([sys.executable, "-m", "bench.tracker_bench", "--worker", json.dumps(cfg)], check=True)
            with open(cfg["out"]) as fh:
                result = json.load(fh)
            tasks = httpx.get(base + "/_sim/tasks", timeout=60).json()
            if kind == "tracker":
                with sqlite3.connect(cfg["db"]) as db:
                    # When the tracker saw the task succeed (the job's finished_at is its delivery).
                    rows = db.execute("SELECT j.task_id, j.state, e.at FROM jobs j JOIN job_events e "
                                      "ON e.job_id = j.id AND e.to_state = 'succeeded'").fetchall()
                done = [(task_id, None, seen) for task_id, state, seen in rows
                        if state == "delivered" and task_id in tasks]
            else:
                done = [(task_id, tasks[task_id]["created"], seen) for task_id, seen in result["detected"].items()
                        if tasks.get(task_id, {}).get("status") == "succeeded"]
    finally:
        sim.terminate()
        sim.wait()
    return Run(kind=kind, jobs=jobs, delivered=len(done), wall=result["wall"] * f, cpu=result["cpu"],
               peak_rss_mb=result["peak_rss_kb"] / 1024, idle_rss_mb=result["idle_rss_kb"] / 1024,
               requests_per_job=[1 + tasks[t]["polls"] for t, _, _ in done],
               delays=[(seen - tasks[t]["finishes_at"]) * f for t, _, seen in done],
               run_times=[(tasks[t]["finishes_at"] - tasks[t]["created"]) * f for t, _, _ in done])


def naive_on_same_tasks(run_times: list[float], interval: float) -> tuple[list[int], list[float]]:
    """Requests and detection delays of a tracker polling every `interval` s on tasks of these run times."""
    polls = [max(1, math.ceil(t / interval)) for t in run_times]
    return [1 + p for p in polls], [p * interval - t for p, t in zip(polls, run_times, strict=True)]


def row(label: str, jobs: int, delivered: int, requests: list[int], delays: list[float],
        wall: str = "", cpu: str = "", rss: str = "", ratio: str = "") -> str:
    return (f"| {label} | {delivered}/{jobs} | {statistics.median(requests):g} | {statistics.mean(requests):.1f} | "
            f"{percentile(delays, 0.5):.1f} s | {percentile(delays, 0.95):.1f} s | {ratio} | {wall} | {cpu} | {rss} |")


def summary(r: Run) -> dict:
    ours = statistics.mean(r.requests_per_job)
    naive_req, naive_delays = naive_on_same_tasks(r.run_times, NAIVE_INTERVAL)
    tuned_req, _ = naive_on_same_tasks(r.run_times, max(percentile(r.delays, 0.95) / 0.95, 0.1))
    return {"kind": r.kind, "jobs": r.jobs, "delivered": r.delivered, "requests_mean": ours,
            "delay_p50": percentile(r.delays, 0.5), "delay_p95": percentile(r.delays, 0.95),
            "naive_requests_mean": statistics.mean(naive_req), "naive_delay_p95": percentile(naive_delays, 0.95),
            "fewer_than_naive": statistics.mean(naive_req) / ours,
            "fewer_than_tuned_naive": statistics.mean(tuned_req) / ours,
            "wall": r.wall, "cpu": r.cpu, "peak_rss_mb": r.peak_rss_mb, "idle_rss_mb": r.idle_rss_mb}


def report(runs: list[Run], naive: Run | None, f: float) -> None:
    print(f"\nTime factor {f:g} (figures in real-world seconds). Requests = submit + polls per job, as the "
          "simulator counted them. Delay = task finished -> the tracker saw it.\n")
    print("| tracker | jobs done | requests/job (median) | (mean) | delay p50 | delay p95 | fewer requests "
          "| wall | CPU | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        ours = statistics.mean(r.requests_per_job)
        print(row(f"**wanbot, {r.jobs} jobs**", r.jobs, r.delivered, r.requests_per_job, r.delays,
                  f"{r.wall:.0f} s", f"{r.cpu:.1f} s", f"{r.peak_rss_mb:.0f} MB (idle {r.idle_rss_mb:.0f})"))
        req, delays = naive_on_same_tasks(r.run_times, NAIVE_INTERVAL)
        print(row("naive every 5 s, same tasks (computed)", r.jobs, r.delivered, req, delays,
                  ratio=f"{statistics.mean(req) / ours:.1f}x"))
        interval = percentile(r.delays, 0.95) / 0.95
        req, delays = naive_on_same_tasks(r.run_times, max(interval, 0.1))
        print(row(f"naive tuned to the same p95 (every {interval:.1f} s, computed)", r.jobs, r.delivered, req,
                  delays, ratio=f"**{statistics.mean(req) / ours:.1f}x**"))
    if naive:
        print(row(f"naive every 5 s, {naive.jobs} jobs (measured)", naive.jobs, naive.delivered,
                  naive.requests_per_job, naive.delays, f"{naive.wall:.0f} s", f"{naive.cpu:.1f} s",
                  f"{naive.peak_rss_mb:.0f} MB (idle {naive.idle_rss_mb:.0f})"))
    spread = [t for r in runs for t in r.run_times]
    print(f"\nRender times (accepted -> finished): p5 {percentile(spread, 0.05):.0f} s, median "
          f"{statistics.median(spread):.0f} s, p95 {percentile(spread, 0.95):.0f} s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1000", help="comma-separated N, one run each (default 1000)")
    parser.add_argument("--naive-jobs", type=int, default=300,
                        help="N of the measured naive run (0: skip; default 300: at --time-factor 5 that is "
                             "already 300 polls a second)")
    parser.add_argument("--time-factor", type=float, default=5.0, help="run this many times faster (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    f = args.time_factor
    runs = []
    for n in (int(x) for x in args.jobs.split(",")):
        runs.append(measure("tracker", n, f, args.seed))
        print(f"measured {n} jobs: {runs[-1].delivered} delivered in {runs[-1].wall:.0f} s", file=sys.stderr)
    naive = measure("naive", args.naive_jobs, f, args.seed) if args.naive_jobs else None
    report(runs, naive, f)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"time_factor": f, "runs": [summary(r) for r in runs],
                       "naive": summary(naive) if naive else None}, out, indent=1)


if __name__ == "__main__":
    main()
