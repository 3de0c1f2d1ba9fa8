"""Triage throughput: a big new-api JSONL log with one relevant task, next to `grep -c` on the same file.

    .venv/bin/python -m bench.triage_bench [--sizes-mb 300,1024] [--runs 3] [--keep DIR] [--json PATH]
    .venv/bin/python -m bench.triage_bench --whole ...  (a whole export, no task id: see below)
    .venv/bin/python bench/triage_bench.py ...          (the same)

For every size (1 MB = 10^6 bytes) it writes a new-api log export (JSON Lines: chat calls and other
tasks, the target task's charge in the middle and its failure at the end), reads it once to warm the
page cache, then times, interleaved, `--runs` runs of each:

- grep: `grep -c TASK_ID FILE`, the baseline (wall time of the child);
- CLI: `python -m bot triage FILE --task TASK_ID --json` in a child (interpreter start-up and imports
  included), run through a two-line wrapper that writes the child's own peak RSS (VmHWM, read from
  /proc/self/status at exit) to stderr;
- engine: `bot.triage.engine.triage(paths=[FILE], task_id=TASK_ID)` in a fresh child per run, timed
  inside the child after its imports (no start-up), with its VmHWM read just before exit.

With `--whole` the log is a whole new-api export of chat traffic (about 1.3 million rows per 300 MB)
with one video-model row billed with token statistics, triage is run with no `--task` (the
prefilter must find that row by itself), the verdict must be misrouted_chat_api, and the baseline
is `grep -c -E '<the media-model pattern>'` on the same file (the pattern the product searches for).

A "start-up" row times the CLI on a one-line file: the fixed cost no file size changes. Medians are
reported. Targets: the whole read within 3x of `grep -c`, and memory flat (peak RSS at the largest
size within FLAT_TOLERANCE_MIB of the smallest). The children run in the log's directory with
WAN_API_BASE unset, so no .env is read and no gateway look-up is made.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/triage_bench.py` from anywhere
    sys.path.insert(0, str(ROOT))

from bench.procstat import status_kib  # noqa: E402  (after the path is set)

MB = 1_000_000
MIB = 1 << 20
TASK = "task_BENCH00042"
VERDICT = "refund_due"  # the task was charged and failed
WHOLE_VERDICT = "misrouted_chat_api"  # the one video-model row was billed with tokens
RATIO_TARGET = 3.0
FLAT_TOLERANCE_MIB = 8.0

# `python -m bot ...` plus the child's own peak RSS on stderr. VmHWM belongs to the process image after
# exec (ru_maxrss from wait4 would also count the forking parent's pages).
CLI_WRAPPER = """
import atexit, runpy, sys
def _peak():
    with open('/proc/self/status') as f:
        sys.stderr.write('\\n' + next(line for line in f if line.startswith('VmHWM')))
atexit.register(_peak)
runpy.run_module('bot', run_name='__main__', alter_sys=True)
"""


# --- the log ------------------------------------------------------------------------------------

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
    blocks = max(1, -(-size // len(block)))  # at least `size` bytes
    with path.open("wb") as f:
        for b in range(blocks):
            if b == blocks // 2:
                f.write(_row(99, TASK, 1600000, 0, "wan2.6-t2v").encode() + b"\n")
            f.write(block)
        f.write(json.dumps({"task_id": TASK, "platform": "wan", "status": "FAILURE", "quota": 1600000}).encode() + b"\n")


def _chat_row(i: int) -> str:
    models = ("gpt-4o-mini", "claude-3-5-haiku", "deepseek-chat", "qwen-plus", "gpt-4.1")
    return json.dumps({"id": 100000 + i, "created_at": 1764000000 + i // 10, "type": 2, "content": "",
                       "username": f"u{i % 7}", "token_name": "k", "model_name": models[i % 5], "quota": 1234,
                       "prompt_tokens": 300 + i % 50, "completion_tokens": 120, "use_time": 2, "is_stream": True,
                       "channel": 12, "group": "default", "other": ""}, separators=(",", ":"))


MISROUTED_ROW = json.dumps({"id": 99, "created_at": 1764000500, "type": 2, "content": "模型倍率 2.00，补全倍率 1.00",
                            "username": "acme", "token_name": "prod", "model_name": "wan2.6-t2v", "quota": 6020,
                            "prompt_tokens": 1204, "completion_tokens": 0, "use_time": 2, "is_stream": False,
                            "channel": 12, "group": "default",
                            "other": "{\"request_path\":\"/v1/chat/completions\"}"},
                           ensure_ascii=False, separators=(",", ":"))


def make_export(path: Path, size: int) -> int:
    """A whole export of chat rows with the one misrouted video-model row in the middle; returns the
    number of rows written."""
    block = ("\n".join(_chat_row(i) for i in range(2000)) + "\n").encode()
    blocks = max(1, -(-size // len(block)))
    with path.open("wb") as f:
        for b in range(blocks):
            if b == blocks // 2:
                f.write(MISROUTED_ROW.encode() + b"\n")
            f.write(block)
    return blocks * 2000 + 1


def media_pattern() -> str:
    """The media-model part of the product's prefilter, as one `grep -E` alternation."""
    from bot.triage.prefilter import media_literals
    from bot.triage.records import MEDIA_MODEL_PATTERNS

    return "|".join(media_literals(MEDIA_MODEL_PATTERNS)).replace("\\", "")


def warm(path: Path) -> None:
    """Read the file once so every timed run finds it in the page cache."""
    with path.open("rb", buffering=0) as f:
        while f.read(8 * MIB):
            pass


# --- the children -------------------------------------------------------------------------------

def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() != "WAN_API_BASE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_grep(path: Path, whole: bool = False) -> dict[str, Any]:
    args = ["grep", "-c", "-E", "-e", media_pattern()] if whole else ["grep", "-c", TASK]
    start = time.perf_counter()
    done = subprocess.run([*args, str(path)], capture_output=True, check=False, cwd=path.parent)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"grep failed: {done.stderr.decode(errors='replace')}")
    return {"seconds": seconds, "lines": int(done.stdout)}


def run_cli(path: Path, whole: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-c", CLI_WRAPPER, "triage", str(path), *([] if whole else ["--task", TASK]), "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, check=False, cwd=path.parent, env=_child_env())
    seconds = time.perf_counter() - start
    err = done.stderr.decode(errors="replace")
    if done.returncode != 0 or "VmHWM:" not in err:
        raise RuntimeError(f"the CLI failed ({done.returncode}): {err[-2000:]}")
    out = json.loads(done.stdout)
    return {"seconds": seconds, "peak_kib": int(err.rsplit("VmHWM:", 1)[1].split()[0]), "verdict": out["verdict"]}


def run_engine(path: Path, whole: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.triage_bench", "--engine-worker", str(path), *(["--whole"] if whole else [])]
    done = subprocess.run(cmd, capture_output=True, check=False, cwd=path.parent, env=_child_env())
    if done.returncode != 0:
        raise RuntimeError(f"the engine worker failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])




def engine_worker(path: Path, whole: bool = False) -> dict[str, Any]:
    """One engine run in this process: the imports first, untimed; then the product's entry point."""
    import asyncio

    from bot.triage.engine import triage

    base_kib = status_kib("VmRSS")
    start = time.perf_counter()
    result = asyncio.run(triage(paths=[path], task_id=None if whole else TASK))
    seconds = time.perf_counter() - start
    verdict = json.loads(result.to_json())["verdict"]
    return {"seconds": seconds, "peak_kib": status_kib("VmHWM"), "base_kib": base_kib, "verdict": verdict}


# --- one size -----------------------------------------------------------------------------------

def measure(path: Path, runs: int, startup_path: Path, whole: bool = False) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"grep": [], "cli": [], "engine": [], "startup": []}
    for run in range(runs):  # interleaved, so drift on a shared machine hits all alike
        results["grep"].append(run_grep(path, whole))
        results["cli"].append(run_cli(path, whole))
        results["engine"].append(run_engine(path, whole))
        results["startup"].append(run_cli(startup_path))
        print(f"# {path.name} run {run + 1}: " + ", ".join(
            f"{k} {v[-1]['seconds']:.3f} s" for k, v in results.items()), file=sys.stderr, flush=True)

    def med(kind: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in results[kind])

    verdicts = {r["verdict"] for r in results["cli"] + results["engine"]}
    grep_s = med("grep")
    return {
        "bytes": path.stat().st_size,
        "runs": runs,
        "grep_s": grep_s,
        "grep_lines": results["grep"][0]["lines"],
        "cli_s": med("cli"),
        "cli_ratio": med("cli") / grep_s,
        "engine_s": med("engine"),
        "engine_ratio": med("engine") / grep_s,
        "startup_s": med("startup"),
        "cli_peak_mib": med("cli", "peak_kib") / 1024,
        "engine_peak_mib": med("engine", "peak_kib") / 1024,
        "engine_base_mib": med("engine", "base_kib") / 1024,
        "verdict": verdicts.pop() if len(verdicts) == 1 else "MISMATCH " + "/".join(sorted(verdicts)),
        "all": results,
    }


def summarize(rows: list[dict[str, Any]], whole: bool = False) -> dict[str, Any]:
    big, small = rows[-1], rows[0]
    summary: dict[str, Any] = {
        "rows": rows,
        "whole": whole,
        "verdict_ok": all(r["verdict"] == (WHOLE_VERDICT if whole else VERDICT) for r in rows),
        "engine_within_3x": big["engine_ratio"] <= RATIO_TARGET,
        "cli_within_3x": big["cli_ratio"] <= RATIO_TARGET,
        # the CLI less its fixed start-up: the file read as the CLI does it
        "cli_less_startup_ratio": max(big["cli_s"] - big["startup_s"], 0.0) / big["grep_s"],
    }
    if len(rows) > 1:
        summary["cli_peak_diff_mib"] = big["cli_peak_mib"] - small["cli_peak_mib"]
        summary["engine_peak_diff_mib"] = big["engine_peak_mib"] - small["engine_peak_mib"]
        summary["memory_flat"] = max(abs(summary["cli_peak_diff_mib"]),
                                     abs(summary["engine_peak_diff_mib"])) <= FLAT_TOLERANCE_MIB
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    grep, cli = ("`grep -c -E` media pattern", "CLI `python -m bot triage` (no task)") if summary.get("whole") \
        else ("`grep -c` (baseline)", "CLI `python -m bot triage --task`")
    lines = [f"| size | {grep} | {cli} | CLI / grep | engine alone "
             "| engine / grep | CLI start-up | peak RSS CLI | peak RSS engine | verdict |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['bytes'] / MB:.0f} MB | {r['grep_s']:.3f} s ({r['grep_lines']} lines) | {r['cli_s']:.3f} s "
                     f"| {r['cli_ratio']:.1f}x | {r['engine_s']:.3f} s | {r['engine_ratio']:.1f}x "
                     f"| {r['startup_s']:.3f} s | {r['cli_peak_mib']:.0f} MiB | {r['engine_peak_mib']:.0f} MiB "
                     f"| {r['verdict']} |")
    big = rows[-1]
    lines.append("")
    lines.append(f"Medians of {big['runs']} run(s), {os.cpu_count()} CPUs; every file read once before timing "
                 "(page cache warm). Ratios are against `grep -c` on the same file in the same run.")
    size = f"{big['bytes'] / MB:.0f} MB"
    ok = "met" if summary["engine_within_3x"] else "MISSED"
    lines.append(f"- 3x target, engine at {size}: {ok} ({big['engine_ratio']:.1f}x grep)")
    if summary["cli_within_3x"]:
        lines.append(f"- 3x target, CLI at {size}: met ({big['cli_ratio']:.1f}x grep)")
    else:
        cause = ("the fixed start-up" if summary["cli_less_startup_ratio"] <= RATIO_TARGET
                 else "not only the start-up")
        lines.append(f"- 3x target, CLI at {size}: MISSED ({big['cli_ratio']:.1f}x grep), cause: {cause} "
                     f"({big['startup_s']:.3f} s of interpreter start-up and imports; less that, "
                     f"{summary['cli_less_startup_ratio']:.1f}x grep)")
    if "memory_flat" in summary:
        small = rows[0]
        ok = "met" if summary["memory_flat"] else "MISSED"
        lines.append(f"- memory flat (peak RSS within {FLAT_TOLERANCE_MIB:g} MiB from {small['bytes'] / MB:.0f} MB "
                     f"to {size}): {ok}: CLI {small['cli_peak_mib']:.0f} -> {big['cli_peak_mib']:.0f} MiB "
                     f"({summary['cli_peak_diff_mib']:+.1f}), engine {small['engine_peak_mib']:.0f} -> "
                     f"{big['engine_peak_mib']:.0f} MiB ({summary['engine_peak_diff_mib']:+.1f})")
    else:
        lines.append("- memory flat: needs two sizes")
    expected = WHOLE_VERDICT if summary.get("whole") else VERDICT
    lines.append(f"- triage verdict {'as expected' if summary['verdict_ok'] else 'WRONG'} ({expected})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.triage_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", default="300,1024", help="log sizes in MB (10^6 bytes), comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (the median is shown)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the logs here and keep them")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--whole", action="store_true", help="a whole chat export with no task id (see above)")
    parser.add_argument("--engine-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_worker:
        print(json.dumps(engine_worker(args.engine_worker, args.whole)), flush=True)
        return 0
    sizes = [float(s) for s in args.sizes_mb.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="wanbot-triage-bench-"))
    try:
        where = args.keep or work
        where.mkdir(parents=True, exist_ok=True)
        startup_path = work / "one-line.jsonl"
        startup_path.write_bytes(_row(1, TASK, 1600000, 0, "wan2.6-t2v").encode() + b"\n")
        rows = []
        for size_mb in sizes:
            path = where / f"triage-{size_mb:g}mb.jsonl"
            (make_export if args.whole else make_log)(path, int(size_mb * MB))
            warm(path)
            try:
                rows.append(measure(path, args.runs, startup_path, args.whole))
            finally:
                if not args.keep:
                    path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(rows, args.whole)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if args.whole:
        print("Triage: a whole new-api chat export with one video-model row billed with tokens, no task id, "
              "vs `grep -c -E '<media pattern>'` on the same file")
    else:
        print(f"Triage: a new-api JSONL log with one relevant task ({TASK}) vs `grep -c` on the same file")
    print()
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
