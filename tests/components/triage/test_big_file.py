"""A 300 MB log read with flat memory: the prefilter keeps only the task's lines."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TASK = "task_BIGfile0042"


def _row(i, model, quota, pt, ct, other):
    return json.dumps({"id": i, "created_at": 1764000000 + i, "type": 2, "content": "模型倍率 1.00，补全倍率 1.00",
                       "username": "acme", "token_name": "prod", "model_name": model, "quota": quota,
                       "prompt_tokens": pt, "completion_tokens": ct, "use_time": 2, "is_stream": False,
                       "channel": 3, "group": "default", "other": json.dumps(other)}, ensure_ascii=False)


def make_log(path: Path, size: int) -> int:
    """Write ~size bytes of ordinary traffic with the task's charge in the middle and its failure at
    the end; return the charge row's line number."""
    filler = "\n".join(
        _row(i, "gpt-4o-mini" if i % 3 else "wan2.6-t2v", 1234, 0 if i % 3 == 0 else 120, 300,
             {"is_task": i % 3 == 0, "task_id": f"task_other{i:06d}", "request_path": "/v1/videos"})
        for i in range(2000)
    ).encode() + b"\n"
    lines_per_block = 2000
    blocks = size // len(filler)
    with path.open("wb") as f:
        for b in range(blocks):
            if b == blocks // 2:
                f.write(_row(99, "wan2.6-t2v", 1600000, 0, 0, {"is_task": True, "task_id": TASK}).encode() + b"\n")
                charge_line = b * lines_per_block + 1
            f.write(filler)
        f.write(json.dumps({"task_id": TASK, "platform": "wan", "status": "FAILURE", "quota": 1600000,
                            "fail_reason": "upstream timeout", "submit_time": 1764000000}).encode() + b"\n")
    return charge_line


# The child's own peak RSS: VmHWM belongs to the process image after exec. (ru_maxrss would also count
# the pages of the forked pytest process before exec, which says nothing about triage.)
PEAK_RSS_WRAPPER = """
import sys
from bot.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write(next(line for line in open('/proc/self/status') if line.startswith('VmHWM')))
sys.exit(code)
"""


@pytest.mark.slow
def test_300mb_log_flat_memory(tmp_path):
    path = tmp_path / "big.log"
    charge_line = make_log(path, 300_000_000)
    assert path.stat().st_size > 290_000_000
    out_path = tmp_path / "out.json"
    started = time.monotonic()
    with out_path.open("wb") as out_file:
        proc = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, "triage", str(path), "--task", TASK, "--json"],
                              stdout=out_file, stderr=subprocess.PIPE, cwd=ROOT)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    peak_mb = int(proc.stderr.decode().split("VmHWM:")[1].split()[0]) / 1024
    out = json.loads(out_path.read_bytes())
    assert (out["verdict"], out["amount_usd"], out["task_ids"]) == ("refund_due", 3.2, [TASK])
    assert out["evidence"][0]["line"] == charge_line
    print(f"\n300 MB log: {elapsed:.2f} s, peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB"
    assert elapsed < 30, f"{elapsed:.1f} s"


def _peak_and_output(path: Path, out_path: Path, *args: str) -> tuple[float, dict]:
    with out_path.open("wb") as out_file:
        proc = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, "triage", str(path), "--json", *args],
                              stdout=out_file, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    peak_mb = int(proc.stderr.decode().split("VmHWM:")[1].split()[0]) / 1024
    return peak_mb, json.loads(out_path.read_bytes())


@pytest.mark.slow
def test_300mb_whole_export_without_a_task_id_finds_the_one_video_row(tmp_path):
    """Issue 13: a whole chat export, no task or model named; one wan row was billed with tokens."""
    from bench.triage_bench import make_export

    path = tmp_path / "export.jsonl"
    rows = make_export(path, 300_000_000)
    assert rows > 1_000_000 and path.stat().st_size > 299_000_000
    peak_mb, out = _peak_and_output(path, tmp_path / "out.json")
    assert out["verdict"] == "misrouted_chat_api", out["next_step"]
    assert out["model"] == "wan2.6-t2v" and out["amount_usd"] == 0.01204
    assert [e["row_id"] for e in out["evidence"]] == ["99"]
    assert not out["notes"], out["notes"]  # nothing truncated
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB"


@pytest.mark.slow
def test_one_line_150mb_export_is_not_held_in_memory(tmp_path):
    """Issue 14 item 19: a one-line JSON export (Python's `}, {` separators) of 150 MB."""
    path = tmp_path / "one-line.json"
    row = {"id": 0, "created_at": 1764000000, "type": 2, "content": "模型倍率 1.00", "username": "acme",
           "token_name": "prod", "model_name": "gpt-4o-mini", "quota": 1234, "prompt_tokens": 300,
           "completion_tokens": 120, "use_time": 2, "is_stream": True, "channel": 12, "group": "default",
           "other": "{\"request_path\":\"/v1/chat/completions\"}"}
    chunk = ", ".join(json.dumps({**row, "id": i}, ensure_ascii=False) for i in range(5000)).encode()
    charge = json.dumps({**row, "id": 77, "model_name": "wan2.6-t2v", "quota": 1600000, "prompt_tokens": 0,
                         "completion_tokens": 0, "other": json.dumps({"is_task": True, "task_id": TASK})})
    failed = json.dumps({"task_id": TASK, "platform": "wan", "status": "FAILURE", "quota": 1600000,
                         "fail_reason": "upstream timeout", "submit_time": 1764000000})
    with path.open("wb") as f:
        f.write(b'{"success": true, "message": "", "data": {"items": [')
        n = -(-150_000_000 // len(chunk))
        for i in range(n):
            f.write(chunk + b", ")
            if i == n // 2:
                f.write(charge.encode() + b", ")
        f.write(failed.encode() + b"]}}")
    assert path.stat().st_size > 149_000_000 and path.read_bytes().count(b"\n") == 0
    peak_mb, out = _peak_and_output(path, tmp_path / "out.json")
    assert (out["verdict"], out["amount_usd"], out["task_ids"]) == ("refund_due", 3.2, [TASK])
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB for a 150 MB file"
