"""Fetched, not pasted (issue 13): a task id alone is enough when new-api's admin APIs are set.

The simulator runs real tasks and serves new-api's /api/task/ and /api/log/ (plus /self) from them,
with consumption and refund rows written the way new-api writes them; triage fetches over loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from bot.sim import newapi
from bot.sim.config import SimConfig
from bot.sim.server import Simulator
from bot.triage import triage
from bot.triage.fetch import NewApiFetcher

ROOT = Path(__file__).resolve().parents[3]
KEY = "sk-sim-local"  # the simulator's one credential: gateway key and new-api access token
DURATION = 5  # seconds of video: 5 x 0.06 USD = 0.30 USD


@pytest.fixture
async def sim():
    async with Simulator(SimConfig(queue_seconds=0, run_seconds=0.05)) as simulator:
        yield simulator


async def _run_task(sim: Simulator, prompt: str) -> str:
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        body = {"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": prompt, "duration": DURATION}}
        task_id = (await client.post("/v1/video/generations", json=body)).json()["id"]
        for _ in range(100):
            status = (await client.get(f"/v1/video/generations/{task_id}")).json()["status"]
            if status in ("failed", "succeeded"):
                return task_id
            await asyncio.sleep(0.02)
    raise AssertionError("the simulated task never ended")


async def test_a_failed_task_without_a_refund_row_is_refund_due_from_the_task_id_alone(sim):
    newapi.settings(sim.state).refunds = "none"  # the refund never happened
    task_id = await _run_task(sim, "a forbidden fox")
    result = await triage(task_id=task_id, fetch=NewApiFetcher(sim.base_url, KEY, "1"))
    assert result.verdict == "refund_due", result.notes
    assert result.amount_usd == pytest.approx(0.30) and result.task_ids == [task_id]
    assert {e.row_id for e in result.evidence} >= {"1"}  # the consumption row, by its new-api id
    assert any("fetched task" in n for n in result.notes)


@pytest.mark.parametrize("mode", ["row", "text"])  # a type 6 row (current builds), a type 4 row (older)
async def test_a_refund_row_written_as_new_api_writes_it_is_already_refunded(sim, mode):
    newapi.settings(sim.state).refunds = mode
    other = await _run_task(sim, "a red fox")  # another task of the same user and model, same window
    task_id = await _run_task(sim, "a forbidden fox")
    result = await triage(task_id=task_id, fetch=NewApiFetcher(sim.base_url, KEY, "1"))
    assert (result.verdict, result.amount_usd) == ("already_refunded", pytest.approx(0.30)), result.notes
    assert other not in result.task_ids


async def test_a_succeeded_task_is_task_succeeded(sim):
    task_id = await _run_task(sim, "a red fox")
    result = await triage(task_id=task_id, fetch=NewApiFetcher(sim.base_url, KEY, "1"))
    assert result.verdict == "task_succeeded" and result.amount_usd == pytest.approx(0.30)


async def test_a_user_token_falls_back_to_the_self_endpoints(sim):
    """User 2 is no admin: /api/task/ answers HTTP 200 with success false, /self answers."""
    newapi.settings(sim.state).refunds = "none"
    task_id = await _run_task(sim, "a forbidden fox")
    result = await triage(task_id=task_id, fetch=NewApiFetcher(sim.base_url, KEY, "2"))
    assert result.verdict == "refund_due", result.notes
    assert any("权限不足" in n for n in result.notes)  # the refusal is noted, not raised


async def test_log_rows_are_paged_with_p_and_page_size_at_most_100(sim):
    newapi.settings(sim.state).refunds = "none"
    target = await _run_task(sim, "a forbidden fox")
    await asyncio.gather(*(_run_task(sim, f"a red fox {i}") for i in range(130)))  # newer rows come first
    result = await triage(task_id=target, fetch=NewApiFetcher(sim.base_url, KEY, "1"))
    assert result.verdict == "refund_due" and result.amount_usd == pytest.approx(0.30), result.notes
    assert any("131 log row(s)" in n for n in result.notes), result.notes  # two pages of 100 and 31


async def test_a_failing_fetch_is_a_note_and_the_token_is_masked(sim):
    secret = "sk-wrongtoken1234567890abcdef"
    task_id = await _run_task(sim, "a red fox")
    result = await triage(task_id=task_id, fetch=NewApiFetcher(sim.base_url, secret, "1"))
    assert result.verdict == "needs_more_info" and result.notes
    assert secret not in result.to_json()
    unreachable = await triage(task_id=task_id, fetch=NewApiFetcher("http://127.0.0.1:9", secret, "1"))
    assert unreachable.verdict == "needs_more_info"
    assert any("failed" in n for n in unreachable.notes) and secret not in unreachable.to_json()


async def test_the_fetch_gives_up_after_its_deadline(sim):
    sim.config.latency = 0.5
    task_id = next(iter(sim.tasks), "task_x")
    result = await triage(task_id=task_id, fetch=NewApiFetcher(sim.base_url, KEY, "1", deadline=0.2))
    assert any("stopped after 0.2 s" in n for n in result.notes), result.notes


async def test_the_cli_fetches_with_only_a_task_id_and_never_prints_the_token(sim):
    newapi.settings(sim.state).refunds = "none"
    task_id = await _run_task(sim, "a forbidden fox")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "WANBOT_", "SLACK_"))}
    env |= {"WANBOT_NEWAPI_URL": sim.base_url, "WANBOT_NEWAPI_TOKEN": KEY, "WANBOT_NEWAPI_USER": "1"}
    for args in (["--task", task_id, "--json"], ["--task", task_id]):
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "triage", *args, cwd=ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert KEY not in out.decode() and KEY not in err.decode()
        if "--json" in args:
            body = json.loads(out)
            assert (body["verdict"], body["task_ids"]) == ("refund_due", [task_id])
        else:
            assert "Verdict:    refund_due" in out.decode()
    seen = [r for r in sim.stats.requests if r.path.startswith("/api/")]
    assert {r.path for r in seen} >= {"/api/task/", "/api/log/"}


def test_without_a_path_or_a_configured_new_api_the_cli_exits_2():
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "WANBOT_", "SLACK_"))}
    proc = subprocess.run([sys.executable, "-m", "bot", "triage", "--task", "task_x"], capture_output=True,
                          cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 2 and b"WANBOT_NEWAPI_URL" in proc.stderr


async def test_an_id_new_api_does_not_know_is_looked_up_as_a_request_id(sim):
    task_id = await _run_task(sim, "a red fox")
    result = await triage(task_id=f"req_{task_id}", fetch=NewApiFetcher(sim.base_url, KEY, "1"))
    assert any("looking it up as a request id" in n for n in result.notes), result.notes
    # the request id finds the consumption row of that call, and nothing else
    assert [e.row_id for e in result.evidence] == ["1"] and result.amount_usd == pytest.approx(0.30)
    nothing = await triage(task_id="req_nosuchcall0000", fetch=NewApiFetcher(sim.base_url, KEY, "1"))
    assert nothing.verdict == "needs_more_info" and not nothing.evidence
