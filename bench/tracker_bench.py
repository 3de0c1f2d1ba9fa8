"""How many jobs one tracker process follows at once, and how many polls per job its schedule costs
compared with polling every 5 seconds.

Starts `python -m bot simulate` as a separate process (tasks take --run-seconds), then one tracker in
this process submits --jobs jobs at once, twice: a first wave before any run time was learned and a
second wave that uses the learned expectation. Prints a markdown table.

    .venv/bin/python bench/tracker_bench.py --jobs 300 --run-seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import socket
import statistics
import sys
import tempfile
import time

import httpx

from bot.config import load_settings
from bot.jobs.models import DeliveryState, JobState
from bot.jobs.notifier import Notifier
from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions
from bot.wan.client import GatewayClient
from bot.wan.request import build_request


class CountingNotifier(Notifier):
    def __init__(self):
        self.videos = 0

    async def post_video(self, job, video) -> DeliveryState:
        self.videos += 1
        return DeliveryState.POSTED


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wave(tracker: Tracker, jobs: int, label: str) -> dict:
    started = time.monotonic()
    cpu0 = time.process_time()
    queued = [await tracker.enqueue(build_request("t2v", {"prompt": f"{label} {i}", "duration": 5}))
              for i in range(jobs)]
    done = await asyncio.gather(*(tracker.wait_for(j.id) for j in queued))
    wall = time.monotonic() - started
    delivered = [j for j in done if j.state == JobState.DELIVERED]
    polls = [j.poll_count for j in delivered]
    run_times = [j.finished_at - j.submitted_at for j in delivered]
    fixed = [math.ceil(t / 5.0) for t in run_times]  # what polling every 5 s would have cost
    return {"label": label, "jobs": jobs, "delivered": len(delivered), "wall": wall,
            "cpu": time.process_time() - cpu0,
            "polls_median": statistics.median(polls), "polls_max": max(polls),
            "fixed_median": statistics.median(fixed), "run_median": statistics.median(run_times)}


async def main(args) -> None:
    port = free_port()
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "simulate", "--port", str(port), "--queue-seconds", "2",
        "--run-seconds", str(args.run_seconds), stdout=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                await http.get(base + "/_sim/stats")
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    tmp = tempfile.mkdtemp()
    settings = load_settings(wan_api_base=base, wan_api_key="sk-sim-local", wanbot_db=os.path.join(tmp, "b.db"),
                             wan_max_in_flight=args.jobs)
    store = await JobStore.open(settings.wanbot_db)
    client = GatewayClient(settings)
    tracker = Tracker(store, client, CountingNotifier(), TrackerOptions.from_settings(settings, download_dir=tmp))
    await tracker.start()
    try:
        rows = [await wave(tracker, args.jobs, "first wave (nothing learned)"),
                await wave(tracker, args.jobs, "second wave (run time learned)")]
    finally:
        await tracker.stop()
        await client.aclose()
        await store.close()
        sim.terminate()
        await sim.wait()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.jobs} concurrent jobs per wave, tasks of ~{args.run_seconds + 2:g} s, peak RSS {rss:.0f} MB\n")
    print("| wave | jobs delivered | wall | tracker CPU | polls/job (median, max) | every 5 s would be | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['label']} | {r['delivered']}/{r['jobs']} | {r['wall']:.1f} s | {r['cpu']:.1f} s | "
              f"{r['polls_median']:g}, {r['polls_max']} | {r['fixed_median']:g} | "
              f"{r['fixed_median'] / r['polls_median']:.1f}x fewer |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--run-seconds", type=float, default=60.0)
    asyncio.run(main(parser.parse_args()))
