"""Presets through the real app on loopback: saved from an approved video, run after a restart with the
prompt appended, listed, deleted by their author or an admin, and run from the terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.world import ADMIN, ANA, BOB, CHANNEL, delivered_job, private_answer, start_world

ROOT = Path(__file__).resolve().parents[2]


async def approve_and_save(world, job, review, name: str):
    await world.sender.block_action("review_approve", job.id, user_id=ANA, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    approved = await world.standin.wait_for_message(CHANNEL, job.message_ts,
                                                    lambda m: "Approved by" in m.get("text", ""))
    await world.sender.block_action("preset_save", job.id, user_id=ANA, channel_id=CHANNEL,
                                    message_ts=approved["ts"])
    await world.standin.wait_for_call("views.open", count=1)
    view = world.standin.last_view()
    assert view["callback_id"] == "wan_save_preset"
    return await world.sender.view_submission(view, user_id=ANA, values={"preset_name": name}), view


async def test_a_preset_saved_from_an_approved_job_starts_the_same_request_after_a_restart(
        simulator, make_settings, tmp_path):
    world, close = await start_world(simulator, make_settings, tmp_path)
    try:
        job, review = await delivered_job(world, "t2v a fox in the snow --duration 2 --seed 7 --ratio 9:16")
        reply, view = await approve_and_save(world, job, review, "fox-snow")
        assert reply.status == 200 and not reply.text.strip().startswith('{"response_action"')
        await world.standin.wait_until(lambda: any("Saved as preset `fox-snow`" in m.get("text", "")
                                                   for m in world.standin.messages(CHANNEL, job.message_ts)))
        clash = await world.sender.view_submission(view, user_id=BOB, values={"preset_name": "FOX-snow"})
        assert "already exists" in clash.json()["errors"]["preset_name"]
        bad = await world.sender.view_submission(view, user_id=BOB, values={"preset_name": "a b"})
        assert "letters, digits" in bad.json()["errors"]["preset_name"]
    finally:
        await close()

    world, close = await start_world(simulator, make_settings, tmp_path)  # a new process, same database
    try:
        await world.sender.slash_command("preset fox-snow at night", user_id=BOB)
        again = await world.job_for_card(count=2)
        assert again.user_id == BOB and again.extra["preset"] == "fox-snow"
        assert again.request["input"] == {**job.request["input"], "prompt": "a fox in the snow at night"}
        listed = await private_answer(world, await world.sender.slash_command("presets"))
        assert "fox-snow" in listed and f"<@{ANA}>" in listed and "$0.12 a run" in listed and "(1×)" in listed
        missing = await private_answer(world, await world.sender.slash_command("preset nope"))
        assert "There is no preset `nope`" in missing
        refused = await private_answer(world, await world.sender.slash_command("preset delete fox-snow",
                                                                                user_id=BOB))
        assert "Only" in refused and await world.services.store.get_preset("fox-snow") is not None

        # From the terminal: the same preset, more prompt appended.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
        env.update(PYTHONPATH=str(ROOT), WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key,
                   WANBOT_DB=str(world.services.settings.wanbot_db))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "generate", "--quiet", "--preset", "FOX-SNOW", "--prompt", "at dawn",
            "-o", str(tmp_path / "p.mp4"), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "a fox in the snow at dawn" in {t.prompt for t in simulator.tasks.values()}

        deleted = await private_answer(world, await world.sender.slash_command("preset delete fox-snow",
                                                                                user_id=ADMIN))
        assert "Deleted preset `fox-snow`" in deleted
        assert await world.services.store.get_preset("fox-snow") is None
    finally:
        await close()


async def test_only_an_approved_video_can_become_a_preset(world):
    job, review = await delivered_job(world)
    await world.sender.block_action("preset_save", job.id, user_id=ANA, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    await world.standin.wait_until(lambda: any("Approve the video first" in str(r["body"])
                                               for r in world.standin.responses))
