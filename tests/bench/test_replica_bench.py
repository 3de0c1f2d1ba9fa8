"""Smoke test of the replica benchmark at a tiny size: it runs end to end on SQLite and on one and two
PostgreSQL replicas, every command is answered 200 and became a real job start (stored, carded,
one upstream task), and the table has a row per setup."""

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
STEADY, FLOOD, WARMUP = 20, 30, 5


def test_the_replica_benchmark_runs_at_a_tiny_size(tmp_path):
    require_postgres()
    out = tmp_path / "replicas.json"
    done = subprocess.run([sys.executable, "-m", "bench.replica_bench", "--replicas", "1,2", "--rounds", "1",
                           "--steady-requests", str(STEADY), "--flood-requests", str(FLOOD), "--warmup", str(WARMUP),
                           "--concurrency", "5", "--postgres", postgres_url(), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(out.read_text())
    rows = summary["rounds"]
    assert sorted(r["setup"] for r in rows) == ["pg-1", "pg-2", "sqlite"]
    sent = STEADY + FLOOD + WARMUP
    for r in rows:
        assert r["warmup_statuses"] == {"200": WARMUP}
        assert r["steady"]["statuses"] == {"200": STEADY} and r["flood"]["statuses"] == {"200": FLOOD}
        assert 0 < r["steady"]["p50_ms"] <= r["steady"]["p99_ms"] < 3000
        # every acknowledged command became a job with its card and exactly one upstream task
        assert r["busy"] == 0
        assert r["sent"] == r["jobs"] == r["jobs_started"] == r["tasks"] == sent
        assert r["job_starts_per_s"] > 0
        assert all(code == 0 for code in r["exit_codes"])  # every replica stopped cleanly on SIGTERM
    assert len(next(r for r in rows if r["setup"] == "pg-2")["cpu_s"]) == 2  # two replicas measured
    for r in rows:  # where the CPU of the flood went, by role: each role's processes were found
        cpu, so_far = r["cpu_s_by_role"], r["cpu_s_so_far_by_role"]
        # /proc counts CPU in 10 ms ticks: 30 commands may cost the stand-in or the simulator less than one
        # tick, so their flood share can read 0; their CPU since they began cannot (a process not found reads 0).
        assert all(so_far[role] > 0 for role in ("replicas", "simulator", "stand-in", "load generator"))
        assert all(cpu[role] >= 0 for role in cpu) and cpu["replicas"] > 0
        assert (cpu["postgres"] > 0) == (r["backend"] == "postgresql")
        assert (r["postgres_backends"] > 0) == (r["backend"] == "postgresql")
    assert summary["ratios"]["pg-2"]["starts_vs_pg1"] > 0

    table = done.stdout
    assert "| setup | steady p50 | steady p99 | p99 vs sqlite |" in table
    for name in ("sqlite", "pg-1", "pg-2"):
        assert f"| {name} |" in table
    assert "Target pg-2 >= 1.6x pg-1 job starts/s:" in table
    assert "| setup | replicas | postgres | simulator | stand-in | load generator | total |" in table
    assert f"{sent}/{sent} (0) |" in table
