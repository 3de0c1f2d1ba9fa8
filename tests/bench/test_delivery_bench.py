"""Smoke test of the delivery benchmark at a tiny size: it runs end to end and its figures are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZE = 2_000_000


def test_the_delivery_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "delivery.json"
    done = subprocess.run([sys.executable, "-m", "bench.delivery_bench", "--sizes-mb", "2", "--runs", "1",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(out.read_text())
    runs = summary["runs"]
    assert sorted(r["path"] for r in runs) == ["plain", "product"]
    for run in runs:
        assert run["size"] == SIZE
        assert run["uploaded_bytes"] == SIZE  # the stand-in received the whole video
        assert run["seconds"] > 0
        assert 0 < run["baseline_kib"] <= run["peak_kib"]
    (row,) = summary["rows"]
    assert row["product"]["mb_per_s"] > 0 and row["plain"]["mb_per_s"] > 0
    assert row["ratio"] > 0
    assert summary["rss_worst_mib"] < 32  # streaming: a 2 MB video cannot cost tens of MB

    table = done.stdout
    assert "| size | path | MB/s (median) |" in table
    assert "| 2 MB | plain streamed copy (baseline) |" in table
    assert "| 2 MB | download_video + post_video |" in table
    assert "RSS target" in table
