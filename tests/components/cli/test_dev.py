"""`python -m bot dev` driven through its terminal (piped input), end to end, as a newcomer runs it."""

import asyncio
import os
import sys
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[3]


async def test_dev_makes_a_video_and_takes_a_review_click_from_piped_input(tmp_path):
    script = "/wan t2v a red fox runs through snow --duration 2\nwait\n1\n/wan jobs\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "dev", "--run-seconds", "1", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(script.encode()), 120)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "a red fox runs through snow" in out           # the job card
    assert "rendering" in out                              # live updates
    assert "video posted in the thread" in out             # the upload into the thread
    assert "Approve" in out and "you clicked" in out       # the review buttons, clickable by number
    assert "approved" in out.lower()                       # the card shows the decision
    assert "Your recent jobs" in out
    (video,) = (tmp_path / "wanbot-out").glob("*.mp4")
    with av.open(str(video)) as container:
        assert next(container.decode(video=0)) is not None
    assert "Traceback" not in out + err
