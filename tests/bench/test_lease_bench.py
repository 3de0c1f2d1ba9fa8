"""Smoke test of the tracker-over-replicas benchmark at a tiny size: three tracker processes on one
PostgreSQL schema, one SIGKILLed; every job is delivered with one upstream task, the killed replica's
jobs are taken over, it starts again (--restart), and the table has its rows."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.support.backends import _admin, postgres_url

ROOT = Path(__file__).resolve().parents[2]


def require_postgres() -> None:
    """Skips the test (or fails it under CI=true) without a reachable PostgreSQL."""
    async def probe() -> None:
        await (await _admin()).close()

    asyncio.run(probe())
JOBS = 30


def test_the_lease_benchmark_runs_at_a_tiny_size(tmp_path):
    require_postgres()
    out = tmp_path / "lease.json"
    done = subprocess.run([sys.executable, "-m", "bench.lease_bench", "--jobs", str(JOBS), "--time-factor", "20",
                           "--lease-seconds", "2", "--kill-after", "0.3", "--restart", "--postgres", postgres_url(),
                           "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    s = json.loads(out.read_text())
    assert s["delivered"] == JOBS and s["states"] == {"delivered": JOBS}
    assert s["tasks_created"] == JOBS  # one upstream task per job, the takeover included
    assert 2 <= s["calls_per_job_median"] < 30
    assert s["balance_samples"] >= 1 and set(s["held_median"]) == {"r0", "r1", "r2"}
    assert s["victim"] == "r2"
    assert s["taken_over"] == s["victim_held"] and s["not_taken_over"] == 0
    if s["victim_held"]:
        assert 0 <= s["takeover_p50"] <= s["takeover_p95"] <= s["takeover_max"]
    assert set(s["workers"]) == {"r0", "r1"}  # the survivors stopped cleanly and reported
    assert s["rebalance"]["ready_s"] > 0  # the killed replica started again (and stopped at the end)

    table = done.stdout
    assert "| figure | value | target |" in table
    assert f"| jobs delivered | {JOBS}/{JOBS} " in table
    assert "| takeover after SIGKILL, real seconds: p50 / p95 / max |" in table
    assert "within 20 %:" in table
    assert "| restart to leases within 20 % of the mean, real seconds" in table
