"""Smoke test of the ack latency benchmark at a tiny size: it runs end to end, every request is answered
200, both rows are in the table, and every command the app acknowledged really started a job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUESTS, WARMUP = 40, 5


def test_the_ack_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "ack.json"
    done = subprocess.run([sys.executable, "-m", "bench.ack_bench", "--requests", str(REQUESTS), "--concurrency", "5",
                           "--warmup", str(WARMUP), "--rounds", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(out.read_text())
    rounds = summary["rounds"]
    assert sorted(r["target"] for r in rounds) == ["app", "floor"]
    for r in rounds:
        assert r["statuses"] == {"200": REQUESTS} and r["ok"] == REQUESTS
        assert r["warmup_statuses"] == {"200": WARMUP}
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] < 3000
        assert r["rps"] > 0
    (app,) = [r for r in rounds if r["target"] == "app"]
    assert app["exit_code"] == 0  # `bot serve` stopped cleanly on SIGTERM
    # real job starts, not refusals: one stored job, card and upstream task per command
    assert app["jobs"]["jobs"] == app["sent"] == REQUESTS + WARMUP
    assert app["jobs"]["with_card"] == app["cards"] == REQUESTS + WARMUP
    assert app["jobs"]["with_task"] == app["tasks"] == REQUESTS + WARMUP
    assert app["responses"] == 0
    assert summary["ratios"]["p99_ms"] > 0 and summary["started"]["jobs"] == REQUESTS + WARMUP

    table = done.stdout
    assert "| target | answered 200 | p50 | p99 | max | throughput |" in table
    assert f"| bare Bolt AsyncApp, ack only (floor) | {REQUESTS}/{REQUESTS} |" in table
    assert f"| `bot serve` HTTP, real job starts | {REQUESTS}/{REQUESTS} |" in table
    assert "| app / floor |" in table
    assert "Target p99(app) <= 1.5x p99(floor)" in table
