"""Smoke test of the triage benchmark at tiny sizes: it runs end to end and its figures are sane.

2 MB is read whole (the small-input path), 10 MB is streamed through the prefilter (the path the
benchmark is about); no timing is asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_triage_benchmark_runs_at_tiny_sizes(tmp_path):
    out = tmp_path / "triage.json"
    done = subprocess.run([sys.executable, "-m", "bench.triage_bench", "--sizes-mb", "2,10", "--runs", "1",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(out.read_text())
    assert summary["verdict_ok"] is True
    small, big = summary["rows"]
    assert 2_000_000 <= small["bytes"] < 3_000_000 and 10_000_000 <= big["bytes"] < 11_000_000
    for row in (small, big):
        assert row["verdict"] == "refund_due"  # the task's charge and its failure were both found
        assert row["grep_lines"] == 2
        assert row["runs"] == 1
        assert row["grep_s"] > 0 and row["cli_s"] > 0 and row["engine_s"] > 0 and row["startup_s"] > 0
        assert row["cli_ratio"] > 0 and row["engine_ratio"] > 0
        assert row["cli_s"] > row["engine_s"]  # the CLI pays the interpreter start-up on top
        assert 10 < row["cli_peak_mib"] < 150 and 10 < row["engine_peak_mib"] < 150
        assert 0 < row["engine_base_mib"] <= row["engine_peak_mib"]
    assert "cli_peak_diff_mib" in summary and "engine_peak_diff_mib" in summary
    assert isinstance(summary["memory_flat"], bool) and isinstance(summary["engine_within_3x"], bool)

    table = done.stdout
    assert "| size | `grep -c` (baseline) | CLI `python -m bot triage --task` | CLI / grep |" in table
    assert re.search(r"^\| 2 MB \| [0-9.]+ s \(2 lines\) \| [0-9.]+ s \| [0-9.]+x \| [0-9.]+ s \| [0-9.]+x "
                     r"\| [0-9.]+ s \| \d+ MiB \| \d+ MiB \| refund_due \|$", table, re.M), table
    assert re.search(r"^\| 10 MB \| .* \| refund_due \|$", table, re.M), table
    assert "- 3x target, engine at 10 MB: " in table
    assert "- 3x target, CLI at 10 MB: " in table
    assert "- memory flat (peak RSS within 8 MiB from 2 MB to 10 MB): " in table
    assert "- triage verdict as expected (refund_due)" in table


def test_the_whole_export_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "whole.json"
    done = subprocess.run([sys.executable, "-m", "bench.triage_bench", "--whole", "--sizes-mb", "10", "--runs", "1",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())
    (row,) = summary["rows"]
    assert summary["whole"] is True and summary["verdict_ok"] is True
    assert row["verdict"] == "misrouted_chat_api"  # found with no task id among the chat rows
    assert row["grep_lines"] == 1  # the media pattern matches the one video-model row only
    assert 10 < row["cli_peak_mib"] < 150
    assert "| size | `grep -c -E` media pattern | CLI `python -m bot triage` (no task) |" in done.stdout
    assert "- triage verdict as expected (misrouted_chat_api)" in done.stdout
