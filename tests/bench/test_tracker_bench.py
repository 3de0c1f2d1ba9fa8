"""Smoke test of the tracker benchmark at a tiny size: it runs end to end and its figures are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_tracker_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "tracker.json"
    done = subprocess.run([sys.executable, "-m", "bench.tracker_bench", "--jobs", "30", "--naive-jobs", "30",
                           "--time-factor", "40", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    (ours,) = figures["runs"]
    naive = figures["naive"]
    assert ours["delivered"] == 30 and naive["delivered"] == 30
    # The schedule's point: far fewer gateway calls than polling every 5 s, on the same tasks.
    assert ours["requests_mean"] * 3 < naive["requests_mean"]
    assert ours["fewer_than_naive"] > 3
    assert ours["delay_p50"] >= 0 and ours["peak_rss_mb"] > ours["idle_rss_mb"] > 0
    assert "| **wanbot, 30 jobs** | 30/30 |" in done.stdout
    assert "naive every 5 s, 30 jobs (measured)" in done.stdout
