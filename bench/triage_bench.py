"""Triage throughput on a 300 MB new-api log next to `grep -c` on the same file.

    .venv/bin/python bench/triage_bench.py [--size-mb 300] [--runs 3] [--keep PATH]

Prints one markdown table row per measurement (median of the runs, file in the page cache):
`grep -c TASK_ID`, the whole CLI (`python -m bot triage FILE --task ID --json`, interpreter start-up
and imports included) and the engine alone (the reader + rules in-process, no start-up).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TASK = "task_BENCH00042"


def _row(i: int, task: str | None, quota: int, tokens: int, model: str) -> str:
    other = {"is_task": task is not None, "request_path": "/v1/videos" if task else "/v1/chat/completions"}
    if task:
        other["task_id"] = task
    return json.dumps({"id": i, "created_at": 1764000000 + i, "type": 2, "content": "模型倍率 1.00，补全倍率 1.00",
                       "username": "acme", "token_name": "prod", "model_name": model, "quota": quota,
                       "prompt_tokens": tokens, "completion_tokens": tokens // 2, "use_time": 2, "is_stream": False,
                       "channel": 3, "group": "default", "other": json.dumps(other)}, ensure_ascii=False)


def make_log(path: Path, size: int) -> None:
    """Ordinary traffic (chat rows and other tasks) written as one repeated block; the task's charge
    sits in the middle and its failure near the end, as in a real export."""
    rows = [_row(i, f"task_other{i:05d}" if i % 4 == 0 else None, 1234, 0 if i % 4 == 0 else 300,
                 "wan2.6-t2v" if i % 4 == 0 else "gpt-4o-mini") for i in range(2000)]
    block = ("\n".join(rows) + "\n").encode()
    blocks = max(1, size // len(block))
    with path.open("wb") as f:
        for b in range(blocks):
            if b == blocks // 2:
                f.write(_row(99, TASK, 1600000, 0, "wan2.6-t2v").encode() + b"\n")
            f.write(block)
        f.write(json.dumps({"task_id": TASK, "platform": "wan", "status": "FAILURE", "quota": 1600000}).encode() + b"\n")


def timed(cmd: list[str], runs: int) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, check=False, cwd=ROOT).stdout
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def engine_only(path: Path, runs: int) -> float:
    from bot.triage.readers import Filter, read_stream
    from bot.triage.rules import Options, decide

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with path.open("rb", buffering=0) as raw, io.BufferedReader(raw, 1 << 20) as stream:
            decision = decide(read_stream(stream, Filter(task_id=TASK)).records, Options(), task_id=TASK)
        times.append(time.perf_counter() - start)
        assert decision.verdict == "refund_due", decision.verdict
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "big.log"
        make_log(path, args.size_mb * 1_000_000)
        size_mb = path.stat().st_size / 1e6
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        grep_s, grep_out = timed(["grep", "-c", TASK, str(path)], args.runs)
        cli_s, cli_out = timed([sys.executable, "-m", "bot", "triage", str(path), "--task", TASK, "--json"], args.runs)
        verdict = json.loads(cli_out)["verdict"]
        engine_s = engine_only(path, args.runs)
        print("| file | `grep -c` | `python -m bot triage --task` | ratio | engine alone | ratio | verdict |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print(f"| {size_mb:.0f} MB, {os.cpu_count()} CPUs | {grep_s:.3f} s ({grep_out.decode().strip()} lines) "
              f"| {cli_s:.3f} s | {cli_s / grep_s:.1f}x | {engine_s:.3f} s | {engine_s / grep_s:.1f}x | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
