"""Smoke test of the store benchmark at a tiny size: it runs end to end and its figures are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOBS, OPS, LIVES = 200, 200, 20


def test_the_store_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "store.json"
    done = subprocess.run([sys.executable, "-m", "bench.store_bench", "--jobs", str(JOBS), "--ops", str(OPS),
                           "--lives", str(LIVES), "--runs", "1", "--concurrency", "10", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(out.read_text())
    rows, need = summary["rows"], summary["need"]
    leased = {"life_pg_leased_1", "life_pg_leased_n"} if "life_pg_1" in rows else set()
    lives = {"life_1", "life_n", "life_nosync_1", "life_nosync_n"} | (
        {"life_pg_1", "life_pg_n"} if "life_pg_1" in rows else set())  # PostgreSQL when reachable
    assert leased <= set(rows)
    assert set(rows) == {"floor", "aiosqlite_1", "aiosqlite_n", "update_1", "update_n", "transition_1",
                         "transition_n"} | lives | leased
    for row in rows.values():
        assert row["calls_per_s"] > 0 and 0 < row["writes_per_s"] <= row["calls_per_s"]
    for key in ("floor", "aiosqlite_1", "update_1", "transition_1"):
        assert rows[key]["calls"] == OPS
    # every job life went from create to delivered, with the calls a life is counted at
    for key in lives:
        assert rows[key]["delivered"] == LIVES
        assert rows[key]["calls"] == LIVES * need["calls"]
    for key in leased:  # a replica's life on PostgreSQL: the same calls and its lease claim
        assert rows[key]["delivered"] == LIVES
        assert rows[key]["calls"] == LIVES * (need["calls"] + 1) and rows[key]["by_kind"]["claim_job"] == LIVES
    if leased:
        assert "PostgreSQL leased job life / SQLite job life (calls/s):" in done.stdout
    assert 2 <= need["polls_min"] <= need["polls_mean"] <= need["polls_max"] <= 20
    assert need["calls"] == need["writes"] + need["reads"] > 10
    assert need["calls_per_s"] == 10_000 * need["calls"] / need["mean_render_s"]
    assert need["headroom"] > 0

    size = summary["size"]
    assert size["rows"] == size["delivered"] == JOBS
    # pending, submitted, the attempt (recorded as the submit's body leaves), queued, running,
    # succeeded, delivered
    assert size["events"] == 7 * JOBS
    assert size["bytes"] > size["empty_bytes"]
    assert 500 < size["bytes_per_job"] < 10_000  # a ~200-character prompt, URLs, ids and seven events
    assert size["mb_per_100k"] == size["bytes_per_job"] * 100_000 / 1e6
    assert len(size["queries_ms"]) == 5 and all(ms >= 0 for ms in size["queries_ms"].values())

    table = done.stdout
    assert "| what | coroutines | store calls/s (median) |" in table
    assert "| sqlite3 UPDATE+commit (floor) | 1 |" in table
    assert "| job life (all calls, mixed) | 10 |" in table
    assert "| headroom |" in table
    assert "| **per 100k finished jobs** |" in table and "extrapolated from 200" in table
