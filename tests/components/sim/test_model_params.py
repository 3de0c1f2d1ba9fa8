"""Wan 2.6's own parameters (gateway-api.md, "Beyond the page") end to end: `python -m bot generate`
(the real tracker and store) against the simulator on loopback, in each wire format, and the
simulator's own per-format validation of them."""

import asyncio
import base64
import io
import os
import sys
import wave
from pathlib import Path

import av
import httpx
import pytest

from bot.sim import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[3]
FORMATS = ["unified", "openai", "dashscope"]
DS_SUBMIT = "/api/v1/services/aigc/video-generation/video-synthesis"


@pytest.fixture
async def sim():
    async with Simulator(SimConfig(queue_seconds=0.1, run_seconds=0.3, seed=3)) as sim:
        yield sim


async def generate(sim, fmt: str, args: list[str], cwd: Path, **settings: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env.update(PYTHONPATH=str(ROOT), WAN_API_BASE=sim.base_url, WAN_API_KEY=sim.config.api_key,
               WAN_API_FORMAT=fmt, **settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "generate", "--quiet", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode, out.decode(), err.decode()


def probe(path: Path) -> tuple[float, int, int, bool]:
    """(seconds, width, height, has an audio stream) of a delivered file, read with PyAV."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        seconds = float(video.duration * video.time_base)
        return seconds, video.width, video.height, bool(container.streams.audio)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_1080p_with_sound_reaches_the_simulator_in_each_format_and_the_mp4_matches(sim, tmp_path, fmt):
    code, out, err = await generate(sim, fmt, ["--mode", "t2v", "--prompt", "a fox in snow", "--duration", "4",
                                               "--ratio", "9:16", "--resolution", "1080P", "--audio", "on",
                                               "-o", "fox.mp4"], tmp_path)
    assert code == 0, err
    (task,) = sim.tasks.values()
    assert (task.wire, task.tier, task.sound, task.ratio) == (fmt, "1080P", True, "9:16")
    seconds, width, height, audio = probe(tmp_path / "fox.mp4")
    assert abs(seconds - 4) < 0.3
    assert abs(height / width - 16 / 9) < 0.05
    assert audio


@pytest.mark.parametrize("fmt", FORMATS)
async def test_sound_off_gives_a_silent_video_of_the_asked_length(sim, tmp_path, fmt):
    code, out, err = await generate(sim, fmt, ["--mode", "i2v", "--prompt", "waves", "--image",
                                               "https://example.com/a.png", "--duration", "2", "--audio", "off",
                                               "--variant", "flash", "-o", "v.mp4"], tmp_path)
    assert code == 0, err
    (task,) = sim.tasks.values()
    assert task.flash and not task.sound
    seconds, width, height, audio = probe(tmp_path / "v.mp4")
    assert abs(seconds - 2) < 0.3 and not audio


@pytest.mark.parametrize("fmt", ["unified", "dashscope"])
async def test_r2v_with_reference_videos_and_multi_shot(sim, tmp_path, fmt):
    code, out, err = await generate(sim, fmt, ["--mode", "r2v", "--prompt", "character1 waves at character2",
                                               "--reference-video", "https://example.com/c1.mp4",
                                               "--reference-video", "https://example.com/c2.mp4",
                                               "--shot", "multi", "--duration", "3", "-o", "r.mp4"], tmp_path)
    assert code == 0, err
    assert abs(probe(tmp_path / "r.mp4")[0] - 3) < 0.3


async def test_a_field_the_format_cannot_carry_is_refused_before_sending(sim, tmp_path):
    code, out, err = await generate(sim, "openai", ["--mode", "t2v", "--prompt", "a story", "--shot", "multi"],
                                    tmp_path)
    assert code == 2 and "shot_type" in err and "openai" in err and "Traceback" not in err
    assert sim.stats.requests == []


async def test_unknown_resolution_is_refused_before_sending(sim, tmp_path):
    code, out, err = await generate(sim, "dashscope", ["--prompt", "x", "--resolution", "4K"], tmp_path)
    assert code == 2 and "resolution" in err and "720P, 1080P" in err
    assert sim.stats.requests == []


# --- the simulator checks the real ranges in each format, independently of the bot -------------------

def wav_uri(seconds: float) -> str:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(seconds * 8000))
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("path, headers, body, field", [
    ("/v1/video/generations", {}, {"model": "wan2-6", "mode": "text-to-video",
                                   "input": {"prompt": "x", "resolution": "4K"}}, "input.resolution"),
    ("/v1/video/generations", {}, {"model": "wan2-6", "mode": "text-to-video",
                                   "input": {"prompt": "x", "audio_url": wav_uri(2)}}, "input.audio_url"),
    ("/v1/video/generations", {}, {"model": "wan2-6", "mode": "text-to-video",
                                   "input": {"prompt": "x", "variant": "flash"}}, "input.variant"),
    ("/v1/video/generations", {}, {"model": "wan2-6", "mode": "r2v", "input": {"prompt": "x",
     "reference_video_url": [f"https://e.com/{i}.mp4" for i in range(4)]}}, "input.reference_video_url"),
    ("/v1/video/generations", {}, {"model": "wan2-6", "mode": "r2v",
                                   "input": {"prompt": "x", "audio_url": "https://e.com/a.mp3",
                                             "reference_url": ["https://e.com/a.png"]}}, "input.audio_url"),
    ("/v1/videos", {}, {"model": "wan2.6-t2v", "prompt": "x", "metadata": {"parameters": {"shot_type": "multi"}}},
     "metadata.parameters.shot_type"),
    ("/v1/videos", {}, {"model": "wan2.6-t2v", "prompt": "x", "size": "1280*721"}, "size"),
    (DS_SUBMIT, {"X-DashScope-Async": "enable"}, {"model": "wan2.6-t2v", "input": {"prompt": "x"},
                                                  "parameters": {"size": "1920*1088"}}, "parameters.size"),
    (DS_SUBMIT, {"X-DashScope-Async": "enable"}, {"model": "wan2.6-t2v-flash", "input": {"prompt": "x"}}, "model"),
    (DS_SUBMIT, {"X-DashScope-Async": "enable"}, {"model": "wan2.6-i2v", "input": {
        "prompt": "x", "img_url": "https://e.com/a.png", "audio_url": wav_uri(4)}}, "input.audio_url"),
    (DS_SUBMIT, {"X-DashScope-Async": "enable"}, {"model": "wan2.6-i2v", "input": {
        "prompt": "x", "img_url": "https://e.com/a.png"}, "parameters": {"audio": "yes"}}, "parameters.audio"),
])
async def test_the_simulator_refuses_what_the_real_api_would(sim, path, headers, body, field):
    auth = {"Authorization": f"Bearer {sim.config.api_key}", **headers}
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        r = await client.post(path, json=body, headers=auth)
    assert r.status_code == 400, r.text
    answer = r.json()
    message = answer["message"] if path == DS_SUBMIT else answer["error"]["message"]
    assert message.startswith(field), message


async def test_the_simulator_accepts_inline_audio_of_the_right_length_on_unified(sim):
    auth = {"Authorization": f"Bearer {sim.config.api_key}"}
    body = {"model": "wan2-6", "mode": "image-to-video",
            "input": {"prompt": "x", "image_url": "https://e.com/a.png", "audio_url": wav_uri(5), "duration": 2}}
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        r = await client.post("/v1/video/generations", json=body, headers=auth)
    assert r.status_code == 200, r.text
    (task,) = sim.tasks.values()
    assert task.sound


# --- prices: the estimate from WAN_PRICES, the bill from the gateway's usage --------------------------

TABLE = """
default = 0.06
[[output]]
mode = "t2v"
resolution = "1080P"
usd_per_second = 0.15
"""


async def test_estimate_from_the_table_and_the_gateways_bill_agree(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text(TABLE)
    async with Simulator(SimConfig(queue_seconds=0.1, run_seconds=0.3, prices=str(prices))) as sim:
        code, out, err = await generate(sim, "unified", [
            "--prompt", "a fox", "--duration", "10", "--resolution", "1080P", "--audio", "on", "-o", "f.mp4"],
            tmp_path, WAN_PRICES=str(prices), WANBOT_DB=str(tmp_path / "w.db"))
    assert code == 0, err
    assert "estimated $1.50 (10 s × $0.15/s ≈ $1.50)" in err
    assert "billed $1.50 for 10 s" in out
    assert "differs" not in err
    # nothing beside the output and the seed the gateway reported (no bill difference recorded)
    assert {k: v for k, v in job_extra(tmp_path / "w.db").items() if k != "seed_used"} == {"output": "f.mp4"}


async def test_a_bill_more_than_1_percent_off_the_estimate_is_logged_and_kept_on_the_job(sim, tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text(TABLE)
    # The bot's table says $0.15/s at 1080P; this gateway bills its flat $0.06/s.
    code, out, err = await generate(sim, "openai", [
        "--prompt", "a fox", "--duration", "4", "--resolution", "1080P", "--ratio", "16:9", "-o", "f.mp4"],
        tmp_path, WAN_PRICES=str(prices), WANBOT_DB=str(tmp_path / "w.db"))
    assert code == 0, err
    assert "estimated $0.60" in err and "billed $0.24 for 4 s" in out
    assert "gateway bill differs from the estimate" in err
    assert job_extra(tmp_path / "w.db")["bill_differs"] == {"estimated_usd": 0.6, "billed_usd": 0.24,
                                                            "percent": -60.0}


def job_extra(db: Path) -> dict:
    import json
    import sqlite3

    with sqlite3.connect(db) as conn:
        (extra,) = conn.execute("SELECT extra FROM jobs").fetchone()
    return json.loads(extra or "{}")
