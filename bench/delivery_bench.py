"""Delivery: a big video downloaded from the gateway simulator and uploaded to the Slack stand-in.

    .venv/bin/python -m bench.delivery_bench [--sizes-mb 50,500] [--runs 3] [--json PATH]

Three processes: the gateway simulator (`python -m bot simulate --video-mode oversize`), the Slack
stand-in (`bot.devslack.SlackStandIn`, uploads written to a scratch directory) and, for every
measured delivery, a fresh worker process, so the worker's memory is the delivery's alone.

- product: the bot's own path, `bot.jobs.delivery.download_video` (streamed to a temp file, checked)
  then `SlackNotifier.post_video` with the bot's real Web API client (`files.getUploadURLExternal`,
  the bytes POSTed from the file, `files.completeUploadExternal`, the review message), then the temp
  file is deleted as the tracker does.
- plain: the baseline, the same bytes copied on loopback with nothing in between: an httpx streamed
  GET of the simulator's video URL piped into a streamed POST to the stand-in's upload URL (asked for
  with one plain `files.getUploadURLExternal` call), no temp file, no checks.

Each worker first does a small warm-up delivery (1 MB), takes its RSS as the baseline, resets its
peak (VmHWM, via /proc/self/clear_refs; a 5 ms VmRSS sampler thread as well) and then times the big
delivery. Reported: MB/s (1 MB = 10^6 bytes, median of the runs), product/plain ratio, and the
worker's peak RSS growth over its baseline in MiB (median and worst of the runs).
Target: RSS growth flat whatever the size and under 32 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.procstat import status_kib

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000
WARMUP_BYTES = 1 * MB
RSS_TARGET_MIB = 32.0
FLAT_TOLERANCE_MIB = 8.0  # growth at the largest size may exceed the smallest's by at most this
CHANNEL = "C0BENCH"
TOKEN = "xoxb-bench-local"
SIM_KEY = "sk-sim-local"
HEADER_BYTES = 32  # bot.sim.downloads.MP4_HEADER_FAKE: the oversize video is this header, then zeros


# --- memory -----------------------------------------------------------------------------------



def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples VmRSS every `interval` seconds in a thread; `peak` is the largest seen (KiB)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak = status_kib("VmRSS")
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kib("VmRSS"))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_kib("VmRSS"))


# --- the worker (one measured delivery per process) -------------------------------------------

async def _set_video_size(sim: str, size: int) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim}/_sim/config", json={"oversize_bytes": size - HEADER_BYTES})
        answer.raise_for_status()


class ProductPath:
    """download_video + SlackNotifier.post_video, the tracker's delivery. The job's row lives in a
    SQLite store in the scratch folder: post_video stores the uploaded file id before completing it."""

    def __init__(self, sim: str, api_url: str, scratch: str):
        from bot.config import Settings
        from bot.slack.jobs.notifier import SlackNotifier
        from bot.slack.metrics import Metrics
        from bot.slack.web.client import make_web_client

        self.sim, self.scratch = sim, scratch
        self.settings = Settings(_env_file=None, slack_bot_token=TOKEN, slack_api_url=api_url,
                                 wan_api_base=sim, wan_api_key=SIM_KEY)
        self.client = make_web_client(self.settings)
        self.notifier: SlackNotifier | None = None  # opened with its store on the first delivery
        self.metrics = Metrics()
        self.store = None
        self.count = 0

    async def _open(self) -> None:
        from bot.jobs.store import JobStore
        from bot.slack.jobs.notifier import SlackNotifier

        self.store = await JobStore.open(os.path.join(self.scratch, f"bench-{os.getpid()}.db"))
        self.notifier = SlackNotifier(self.client, self.store, self.metrics)  # no cards here

    async def deliver(self, video_url: str, size: int) -> dict[str, Any]:
        from bot.jobs.delivery import download_video
        from bot.jobs.models import DeliveryState, Job, JobState

        self.count += 1
        card = await self.client.chat_postMessage(channel=CHANNEL, text="bench card")
        job = Job(id=f"bench{os.getpid()}x{self.count}", request={"mode": "text-to-video", "prompt": "bench"},
                  state=JobState.SUCCEEDED, origin="slack", channel_id=CHANNEL, message_ts=card["ts"],
                  video_url=video_url, billed_cost_usd=0.0, finished_at=time.time())
        if self.store is None:
            await self._open()
        await self.store.create_job(job)
        max_bytes = max(self.settings.wanbot_max_video_bytes, 2 * size)  # the bot's cap, raised for the run
        start = time.perf_counter()
        path = await download_video(video_url, max_bytes=max_bytes, time_limit=600, trusted_origin=self.sim,
                                    dest_dir=self.scratch)
        try:
            outcome = await self.notifier.post_video(job, path)
        finally:
            os.unlink(path)
        seconds = time.perf_counter() - start
        if outcome != DeliveryState.POSTED:
            raise SystemExit(f"the video was not uploaded (delivery state {outcome})")
        replies = await self.client.conversations_replies(channel=CHANNEL, ts=card["ts"])
        sizes = [f.get("size") for m in replies["messages"] for f in m.get("files") or []
                 if f.get("name") == f"wanbot-{job.id}.mp4"]
        return {"seconds": seconds, "uploaded_bytes": sizes[0] if sizes else None}

    async def close(self) -> None:
        if self.notifier is not None:
            await self.notifier.http.aclose()
        if self.store is not None:
            await self.store.close()


class PlainPath:
    """The baseline: a streamed GET piped into a streamed POST, nothing else."""

    def __init__(self, sim: str, api_url: str, scratch: str):
        import httpx

        from bot.jobs.delivery import CHUNK

        self.api_url = api_url
        self.chunk = CHUNK  # the same read size as download_video
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0))

    async def deliver(self, video_url: str, size: int) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        start = time.perf_counter()
        async with self.http.stream("GET", video_url) as source:
            source.raise_for_status()
            length = int(source.headers["content-length"])
            answer = (await self.http.post(self.api_url + "files.getUploadURLExternal", headers=auth,
                                           data={"filename": "plain.mp4", "length": str(length)})).json()
            sent = await self.http.post(answer["upload_url"], content=source.aiter_bytes(self.chunk),
                                        headers={"Content-Type": "application/octet-stream",
                                                 "Content-Length": str(length)})
            sent.raise_for_status()
        seconds = time.perf_counter() - start
        info = (await self.http.post(self.api_url + "files.info", headers=auth,
                                     data={"file": answer["file_id"]})).json()
        return {"seconds": seconds, "uploaded_bytes": info.get("file", {}).get("size")}

    async def close(self) -> None:
        await self.http.aclose()


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    path_class = {"product": ProductPath, "plain": PlainPath}[args.worker]
    path = path_class(args.sim, args.api_url, args.scratch)
    try:
        await _set_video_size(args.sim, WARMUP_BYTES)
        warm = await path.deliver(args.video_url, WARMUP_BYTES)
        if warm["uploaded_bytes"] != WARMUP_BYTES:
            raise SystemExit(f"warm-up upload incomplete: {warm['uploaded_bytes']} of {WARMUP_BYTES} bytes")
        await _set_video_size(args.sim, args.size)
        gc.collect()
        baseline = status_kib("VmRSS")
        exact = _reset_peak()
        with RssSampler() as sampler:
            result = await path.deliver(args.video_url, args.size)
        hwm = status_kib("VmHWM") if exact else 0
    finally:
        await path.close()
    peak = max(hwm, sampler.peak)
    return {**result, "path": args.worker, "size": args.size, "baseline_kib": baseline, "peak_kib": peak,
            "growth_mib": (peak - baseline) / 1024, "peak_source": "VmHWM" if exact else "sampler",
            "samples": sampler.samples}


# --- the Slack stand-in process ---------------------------------------------------------------

async def _serve_slack(upload_dir: str) -> None:
    from bot.devslack.server import SlackStandIn

    standin = SlackStandIn(bot_token=TOKEN, upload_dir=upload_dir)
    await standin.start("127.0.0.1", 0)
    standin.add_channel(CHANNEL, "bench")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {standin.api_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await standin.close()


# --- the orchestrator -------------------------------------------------------------------------

def _start(cmd: list[str], pattern: str, log: Path, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """Start a server, its output going to `log`; returns it and the first match of `pattern`."""
    out = log.open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (match := re.search(pattern, log.read_text())) is not None:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd[1:4])} did not start:\n{log.read_text()[-2000:]}")


def _finished_video_url(sim: str) -> str:
    import httpx

    with httpx.Client(base_url=sim, headers={"Authorization": f"Bearer {SIM_KEY}"}) as http:
        task = http.post("/v1/video/generations", json={
            "model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "a delivery benchmark"}})
        task.raise_for_status()
        for _ in range(200):
            body = http.get(f"/v1/video/generations/{task.json()['id']}").json()
            if body["status"] == "succeeded":
                return body["output"]["video_url"]
            time.sleep(0.05)
    raise SystemExit("the simulator task did not finish")


def _run_worker(kind: str, size: int, sim: str, api_url: str, video_url: str, scratch: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.delivery_bench", "--worker", kind, "--size", str(size), "--sim", sim,
           "--api-url", api_url, "--video-url", video_url, "--scratch", scratch]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {kind} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["uploaded_bytes"] != size:
        raise SystemExit(f"{kind}: the stand-in received {result['uploaded_bytes']} of {size} bytes")
    return result


def _clear(directory: Path) -> None:
    for item in directory.iterdir():
        item.unlink(missing_ok=True)


def summarize(results: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    rows = []
    for size in sizes:
        figures = {}
        for kind in ("plain", "product"):
            runs = [r for r in results if r["size"] == size and r["path"] == kind]
            figures[kind] = {
                "mb_per_s": statistics.median(size / MB / r["seconds"] for r in runs),
                "seconds": statistics.median(r["seconds"] for r in runs),
                "growth_mib": statistics.median(r["growth_mib"] for r in runs),
                "growth_max_mib": max(r["growth_mib"] for r in runs),
                "uploaded_bytes": [r["uploaded_bytes"] for r in runs],
                "runs": len(runs),
            }
        figures["ratio"] = figures["product"]["mb_per_s"] / figures["plain"]["mb_per_s"]
        rows.append({"size": size, **figures})
    worst = max(r["product"]["growth_max_mib"] for r in rows)
    spread = max(r["product"]["growth_max_mib"] for r in rows) - min(r["product"]["growth_max_mib"] for r in rows)
    return {"rows": rows, "rss_worst_mib": worst, "rss_spread_mib": spread,
            "rss_under_target": worst < RSS_TARGET_MIB, "rss_flat": spread <= FLAT_TOLERANCE_MIB}


def table(summary: dict[str, Any]) -> str:
    lines = ["| size | path | MB/s (median) | ratio vs plain | peak RSS growth, MiB (median / worst) | runs |",
             "|---:|---|---:|---:|---:|---:|"]
    for row in summary["rows"]:
        for kind, label in (("plain", "plain streamed copy (baseline)"),
                            ("product", "download_video + post_video")):
            f = row[kind]
            ratio = "1.00" if kind == "plain" else f"{row['ratio']:.2f}"
            lines.append(f"| {row['size'] / MB:g} MB | {label} | {f['mb_per_s']:.0f} | {ratio} | "
                         f"{f['growth_mib']:.1f} / {f['growth_max_mib']:.1f} | {f['runs']} |")
    verdict = "met" if summary["rss_under_target"] and summary["rss_flat"] else "MISSED"
    lines.append("")
    lines.append(f"RSS target (product, flat within {FLAT_TOLERANCE_MIB:g} MiB across sizes and under "
                 f"{RSS_TARGET_MIB:g} MiB): {verdict} (worst {summary['rss_worst_mib']:.1f} MiB, "
                 f"spread {summary['rss_spread_mib']:.1f} MiB)")
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(float(s) * MB) for s in args.sizes_mb.split(",") if s.strip()]
    if any(size <= HEADER_BYTES for size in sizes):
        raise SystemExit("every size must be above the 32-byte MP4 header")
    work = Path(tempfile.mkdtemp(prefix="wanbot-delivery-bench-"))
    uploads, scratch = work / "slack-uploads", work / "downloads"
    uploads.mkdir()
    scratch.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        sim_proc, sim = _start([sys.executable, "-m", "bot", "simulate", "--port", "0", "--queue-seconds", "0",
                                "--run-seconds", "0", "--video-mode", "oversize", "--api-key", SIM_KEY],
                               r"listening on (http://\S+)", work / "sim.log")
        procs.append(sim_proc)
        slack_proc, api_url = _start([sys.executable, "-m", "bench.delivery_bench", "--serve-slack", str(uploads)],
                                     r"READY (\S+)", work / "slack.log")
        procs.append(slack_proc)
        video_url = _finished_video_url(sim)
        results = []
        for size in sizes:
            for run in range(args.runs):
                for kind in ("plain", "product"):  # interleaved, so drift hits both alike
                    result = _run_worker(kind, size, sim, api_url, video_url, str(scratch))
                    results.append(result)
                    _clear(uploads)
                    print(f"# {size / MB:g} MB run {run + 1} {kind}: {size / MB / result['seconds']:.0f} MB/s, "
                          f"RSS +{result['growth_mib']:.1f} MiB ({result['peak_source']})",
                          file=sys.stderr, flush=True)
        summary = summarize(results, sizes)
        summary["runs"] = results
        return summary
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", default="50,500", help="video sizes in MB (10^6 bytes), comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per size and path (the median is shown)")
    parser.add_argument("--json", help="also write every figure to this file")
    # internal: the worker and the stand-in process
    parser.add_argument("--worker", choices=["product", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sim", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--video-url", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--serve-slack", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_slack:
        asyncio.run(_serve_slack(args.serve_slack))
        return 0
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args))), flush=True)
        return 0
    summary = orchestrate(args)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    print(f"Delivery: a video from the gateway simulator (oversize mode) uploaded to the Slack stand-in, "
          f"{args.runs} run(s) per size and path, fresh worker process each")
    print()
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
