"""`python -m bot check` as a user runs it: real subprocess, real simulator, no secret printed."""

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def _check(env_extra: dict, tmp_path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env.update(env_extra)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check", "--skip-slack", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode()


async def test_check_passes_against_a_working_gateway(simulator, tmp_path):
    code, out = await _check({"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key,
                              "PYTHONPATH": str(ROOT)}, tmp_path)
    assert code == 0, out
    assert "gateway: ok" in out
    assert simulator.config.api_key not in out


async def test_check_names_a_refused_key_without_printing_it(simulator, tmp_path):
    code, out = await _check({"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": "sk-wrong-but-secret-999",
                              "PYTHONPATH": str(ROOT)}, tmp_path)
    assert code == 1
    assert "refused WAN_API_KEY" in out
    assert "secret-999" not in out


async def test_a_malformed_setting_stops_with_one_line_naming_it(tmp_path):
    code, out = await _check({"WAN_PRICE_PER_SECOND": "free", "PYTHONPATH": str(ROOT)}, tmp_path)
    assert code == 2
    assert out.strip().splitlines() == [out.strip()] and "WAN_PRICE_PER_SECOND" in out
