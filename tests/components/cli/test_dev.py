"""`python -m bot dev` driven through its terminal (piped input), end to end, as a newcomer runs it."""

import asyncio
import os
import re
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


LOOP = """/wan t2v a red fox runs through snow --duration 2 --draft --variations 2
wait
click Pick 1
click Final
wait
click Approve
click Save as preset
preset_name=fox-snow
submit
/wan preset fox-snow at dusk
wait
/wan presets
"""


async def test_dev_shows_the_whole_loop_variations_pick_final_save_preset_and_run_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "dev", "--run-seconds", "1", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(LOOP.encode()), 180)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "2 variations" in out and "Sound off" in out                      # drafts under one summary
    assert "⭐ Pick 1" in out                                                 # shown on the updated summary
    picked = re.search(r"Variation 1 \(seed (\d+)\) picked by", out)
    assert picked, out[-3000:]
    seed = picked.group(1)
    assert f"Seed {seed} · Resolution 1080P · Sound on" in out                # Final: same seed, final settings
    assert "Approved by" in out and "Saved as preset `fox-snow`" in out
    assert "a red fox runs through snow at dusk" in out                       # the preset, prompt appended
    assert "`fox-snow` · text-to-video" in out and "(1×)" in out and "▶️ Run" in out
    videos = sorted((tmp_path / "wanbot-out").glob("*.mp4"))
    assert len(videos) == 4                                                   # 2 drafts, the final, the preset's
    sounds = []
    for video in videos:
        with av.open(str(video)) as container:
            sounds.append(bool(container.streams.audio))
    assert sorted(sounds) == [False, False, True, True]
    assert "Traceback" not in out + err and "no button" not in out
