"""Presets through the real app on loopback: saved from an approved video, run after a restart with the
prompt appended, listed, deleted by their author or an admin, and run from the terminal."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.jobs.models import JobState
from bot.slack.blocks.presets import RUN_PRESET_ACTION
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


async def test_clashing_invalid_and_reserved_names_are_refused_and_nothing_is_saved_or_sent(world, simulator):
    job, review = await delivered_job(world)
    reply, view = await approve_and_save(world, job, review, "fox")
    assert reply.status == 200
    tasks = len(simulator.tasks)
    for name, error in (("FOX", "already exists"), ("delete", "word of the `/wan preset` command"),
                        ("list", "word of the"), ("-x", "letters, digits"), ("x" * 41, "letters, digits"),
                        ("", "letters, digits")):
        answer = await world.sender.view_submission(view, user_id=BOB, values={"preset_name": name})
        assert error in answer.json()["errors"]["preset_name"], name
    presets = await world.store.list_presets()
    assert [(p.name, p.created_by) for p in presets] == [("fox", ANA)]    # the first one, untouched
    missing = await private_answer(world, await world.sender.slash_command("preset nope more words"))
    assert "There is no preset `nope`" in missing
    await asyncio.sleep(0.3)
    assert len(simulator.tasks) == tasks and len(await world.store.list_jobs(limit=10)) == 1


async def test_presets_list_says_who_when_last_used_and_cost_and_its_run_button_is_one_job_per_click(
        world, simulator):
    job, review = await delivered_job(world, "t2v a fox in the snow --duration 3 --seed 7")
    await approve_and_save(world, job, review, "fox-snow")
    await world.standin.wait_until(lambda: world.standin.calls("chat.postMessage") and any(
        "Saved as preset" in m.get("text", "") for m in world.standin.messages(CHANNEL, job.message_ts)))
    reply = await world.sender.slash_command("presets", user_id=BOB)
    listed = await private_answer(world, reply)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "`fox-snow`" in listed and f"saved by <@{ANA}> {today}" in listed
    assert "last used never (0×)" in listed and "$0.18 a run" in listed   # 3 s at the flat $0.06/s
    entry = next(r for r in world.standin.responses if reply.sent["response_url"].endswith(r["id"]))
    (run,) = [b["accessory"] for b in entry["body"]["blocks"] if b.get("accessory")]
    assert run["action_id"] == RUN_PRESET_ACTION and "$0.18" in json.dumps(run["confirm"])

    for _ in range(3):  # an impatient triple click
        await world.sender.block_action(RUN_PRESET_ACTION, run["value"], user_id=BOB, channel_id=CHANNEL,
                                        message=entry["body"], is_ephemeral=True)
    again = await world.job_for_card(count=2)
    assert again.user_id == BOB and again.extra["preset"] == "fox-snow"
    await world.finished(again.id)
    await world.standin.wait_until(lambda: sum("already clicked Run" in str(r["body"])
                                               for r in world.standin.responses) == 2)
    assert len(await world.store.list_jobs(limit=10)) == 2
    assert simulator.stats.submitted_bodies(again.id)[0]["input"] == \
        simulator.stats.submitted_bodies(job.id)[0]["input"]
    listed = await private_answer(world, await world.sender.slash_command("presets", user_id=BOB))
    assert f"last used {today}" in listed and "(1×)" in listed


async def test_a_preset_is_deleted_by_its_author_or_an_admin_only(world):
    job, review = await delivered_job(world)
    await approve_and_save(world, job, review, "mine")
    await world.store.save_preset("theirs", job.request, created_by=BOB)
    refused = await private_answer(world, await world.sender.slash_command("preset delete mine", user_id=BOB))
    assert f"Only <@{ANA}>" in refused and await world.store.get_preset("mine") is not None
    own = await private_answer(world, await world.sender.slash_command("preset delete MINE", user_id=ANA))
    assert "Deleted preset `mine`" in own and await world.store.get_preset("mine") is None
    refused = await private_answer(world, await world.sender.slash_command("preset delete theirs", user_id=ANA))
    assert "Only" in refused and await world.store.get_preset("theirs") is not None
    admin = await private_answer(world, await world.sender.slash_command("preset delete theirs", user_id=ADMIN))
    assert "Deleted preset `theirs`" in admin and await world.store.list_presets() == []


@pytest.mark.parametrize("wire", ["dashscope", "openai"])
async def test_a_preset_starts_a_wire_level_identical_request_after_a_restart(simulator, make_settings, tmp_path,
                                                                               wire):
    world, close = await start_world(simulator, make_settings, tmp_path, wan_api_format=wire)
    try:
        job, review = await delivered_job(
            world, "t2v a fox in the snow --duration 2 --seed 7 --ratio 9:16 --resolution 1080P --watermark on")
        await approve_and_save(world, job, review, "fox")
        await world.standin.wait_until(lambda: any("Saved as preset" in m.get("text", "")
                                                   for m in world.standin.messages(CHANNEL, job.message_ts)))
    finally:
        await close()
    world, close = await start_world(simulator, make_settings, tmp_path, wan_api_format=wire)
    try:
        await world.sender.slash_command("preset fox at night", user_id=BOB)
        again = await world.finished((await world.job_for_card(count=2)).id)
        first, = simulator.stats.submitted_bodies(job.id)
        second, = simulator.stats.submitted_bodies(again.id)
        prompt = ("input", "prompt") if wire == "dashscope" else ("prompt",)

        def without_prompt(body):
            body = json.loads(json.dumps(body))
            holder = body
            for step in prompt[:-1]:
                holder = holder[step]
            return body, holder.pop(prompt[-1])

        (rest1, p1), (rest2, p2) = without_prompt(first), without_prompt(second)
        assert rest1 == rest2 and (p1, p2) == ("a fox in the snow", "a fox in the snow at night")
    finally:
        await close()


async def test_a_preset_from_an_i2v_job_with_an_attached_image_keeps_the_image(world, simulator):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(4000)
    world.standin.add_file("cat.png", png, "image/png", channel=CHANNEL, user=BOB)
    await world.sender.slash_command("i2v the cat waves --duration 2", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    review = await world.standin.wait_for_message(CHANNEL, job.message_ts, lambda m: m.get("metadata"))
    reply, _ = await approve_and_save(world, job, review, "cat")
    assert reply.status == 200 and "errors" not in reply.text
    listed = await private_answer(world, await world.sender.slash_command("presets", user_id=BOB))
    assert "`cat`" in listed and "$0.12 a run" in listed and "base64" not in listed  # priced without the bytes
    await world.sender.slash_command("preset cat twice", user_id=ANA)
    again = await world.finished((await world.job_for_card(count=2)).id)
    assert again.state == JobState.DELIVERED
    first, = simulator.stats.submitted_bodies(job.id)
    second, = simulator.stats.submitted_bodies(again.id)
    assert second["input"]["image_url"] == first["input"]["image_url"]
    assert base64.b64decode(second["input"]["image_url"].split(",", 1)[1]) == png
