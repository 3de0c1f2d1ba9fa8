"""Hand-off that reproduces (issue 12 item 6), through the real app on loopback: "Show API request"
and `/wan preset NAME --api` show the exact submit the simulator received, for each wire format, with
the seed actually used; the curl line and the Python snippet, run as shown, reach the gateway."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shlex
import shutil
import sys

import pytest

from bot.slack.blocks.messages import PIN_SEED_ACTION
from bot.wan.request import VideoRequest
from tests.support.world import ANA, BOB, CHANNEL, delivered_job, private_answer

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2500)


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def code_after(blocks: list[dict], heading: str | None) -> str:
    """The code in the sections that follow the section starting with `heading` (None: the first)."""
    texts = [b.get("text", {}).get("text", "") for b in blocks]
    start = 1 if heading is None else next(i for i, t in enumerate(texts) if t.startswith(heading)) + 1
    chunks = []
    for text in texts[start:]:
        if not text.startswith("```"):
            break
        chunks.append(text[3:-3])
    return unescape("".join(chunks))


def shown_parts(body: dict) -> tuple[dict, str, str, str]:
    """(JSON body, curl line, Python snippet, note) of a Show API request answer."""
    blocks = body["blocks"]
    note = " ".join(e.get("text", "") for b in blocks if b["type"] == "context" for e in b["elements"])
    return (json.loads(code_after(blocks, None)), code_after(blocks, "As a curl command"),
            code_after(blocks, "In Python with httpx"), note)


async def show_api(world, job, review) -> dict:
    before = len(world.standin.responses)
    await world.sender.block_action("review_show_api", job.id, user_id=ANA, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    entry = await world.standin.wait_until(
        lambda: next((r for r in world.standin.responses[before:] if "In Python" in str(r["body"])), None))
    assert entry["body"]["response_type"] == "ephemeral"
    return entry["body"]


async def run_python(code: str, simulator, tmp_path, files: dict[str, bytes] | None = None) -> dict:
    for name, data in (files or {}).items():
        (tmp_path / name).write_bytes(data)
    script = tmp_path / "handoff.py"
    script.write_text(code)
    env = {**os.environ, "WAN_API_KEY": simulator.config.api_key}
    proc = await asyncio.create_subprocess_exec(sys.executable, str(script), cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return eval(out.decode())  # what print(response.json()) wrote: a Python literal  # noqa: S307


@pytest.mark.parametrize("wire", ["unified", "openai", "dashscope"])
async def test_show_api_request_is_the_body_the_gateway_received_with_its_seed(make_world, simulator, wire,
                                                                                tmp_path):
    world = await make_world(wan_api_format=wire)
    job, review = await delivered_job(world, "t2v a fox in the snow --duration 2 --seed 7 --resolution 1080P")
    job = await world.store.get_job(job.id)
    received = simulator.stats.submitted_bodies(job.id)
    assert len(received) == 1
    body = await show_api(world, job, review)
    shown, curl, python, note = shown_parts(body)
    assert shown == received[0]                                   # the exact body, in this format's shape
    assert "Seed 7, as sent" in note
    assert f"Idempotency-Key: {job.id}" in curl and "$WAN_API_KEY" in curl
    assert world.services.settings.secret("wan_api_key") not in json.dumps(body)

    # Run as shown, both reach the gateway with that body (same Idempotency-Key: the same task back).
    answer = await run_python(python, simulator, tmp_path)
    assert simulator.stats.submitted_bodies(job.id)[-1] == received[0]
    assert job.task_id in json.dumps(answer)
    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine: the Python snippet was checked")
    env = {**os.environ, "WAN_API_KEY": simulator.config.api_key}
    proc = await asyncio.create_subprocess_exec("bash", "-c", curl, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert job.task_id in out.decode()
    assert simulator.stats.submitted_bodies(job.id) == received * 3


async def test_an_unseeded_run_is_shown_with_the_seed_the_gateway_reported(world, simulator):
    job, review = await delivered_job(world, "t2v a fox in the snow --duration 2")
    job = await world.store.get_job(job.id)
    received = simulator.stats.submitted_bodies(job.id)[0]
    assert "seed" not in received["input"]                        # sent without one
    used = simulator.tasks[job.task_id].seed
    assert (await world.store.get_job(job.id)).extra["seed_used"] == used
    shown, _, python, note = shown_parts(await show_api(world, job, review))
    assert shown == {**received, "input": {**received["input"], "seed": used}}
    assert f"reported seed {used}" in note and "pinned" in note
    assert f"'seed': {used}" in python


async def test_an_unseeded_run_the_gateway_did_not_report_offers_to_pin_a_seed(world, simulator):
    simulator.config.report_seed = False
    job, review = await delivered_job(world, "t2v a fox in the snow --duration 2")
    job = await world.store.get_job(job.id)
    body = await show_api(world, job, review)
    shown, _, _, note = shown_parts(body)
    assert shown == simulator.stats.submitted_bodies(job.id)[0] and "seed" not in shown["input"]
    assert "unseeded" in note
    button = next(e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["action_id"] == PIN_SEED_ACTION and "$0.12" in json.dumps(button["confirm"])

    for _ in range(2):  # a double click is one job
        await world.sender.block_action(PIN_SEED_ACTION, job.id, user_id=BOB, channel_id=CHANNEL,
                                        message=body, is_ephemeral=True)
    pinned = await world.job_for_card(count=2)
    assert pinned.user_id == BOB and pinned.thread_ts == job.message_ts
    seed = pinned.request["input"]["seed"]
    assert {**pinned.request["input"], "seed": None} == {**job.request["input"], "seed": None}
    await world.finished(pinned.id)
    await world.standin.wait_until(lambda: any("already clicked Pin a seed" in str(r["body"])
                                               for r in world.standin.responses))
    assert len([j for j in await world.store.list_jobs(limit=10)]) == 2
    review2 = await world.standin.wait_for_message(  # under the video, in the original thread
        CHANNEL, job.message_ts, lambda m: pinned.id in json.dumps(m.get("metadata") or {}))
    shown2, _, _, note2 = shown_parts(await show_api(world, pinned, review2))
    assert shown2 == simulator.stats.submitted_bodies(pinned.id)[0] and shown2["input"]["seed"] == seed
    assert f"Seed {seed}, as sent" in note2


async def test_an_attached_image_is_shown_by_label_and_the_python_sends_it_from_a_file(world, simulator, tmp_path):
    world.standin.add_file("cat.png", PNG, "image/png", channel=CHANNEL, user=BOB)
    await world.sender.slash_command("i2v the cat waves --duration 2 --seed 3", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    review = await world.standin.wait_for_message(CHANNEL, job.message_ts, lambda m: m.get("metadata"))
    received = simulator.stats.submitted_bodies(job.id)[0]
    body = await show_api(world, job, review)
    shown, curl, python, _ = shown_parts(body)
    b64 = base64.b64encode(PNG).decode()
    assert b64[:40] not in json.dumps(body)                        # never the base64 in Slack
    assert shown["input"]["image_url"].startswith("data:image/png;base64,<attached image (PNG")
    assert {**shown["input"], "image_url": None} == {**received["input"], "image_url": None}
    assert "inline('image.png', 'image/png')" in python
    await run_python(python, simulator, tmp_path, files={"image.png": PNG})
    again = simulator.stats.submitted_bodies(job.id)[-1]
    assert again == received                                       # the image too, byte for byte
    assert hashlib.sha256(again["input"]["image_url"].encode()).hexdigest() == \
        simulator.tasks[job.task_id].image_sha256


async def test_preset_api_shows_the_request_it_would_send_and_starts_nothing(world, simulator):
    job, review = await delivered_job(world, "t2v a fox in the snow --duration 2 --seed 7 --ratio 9:16")
    await world.store.update(job.id, review_state="approved")
    await world.store.save_preset("fox", (await world.store.get_job(job.id)).request, created_by=ANA)
    tasks = len(simulator.tasks)
    reply = await world.sender.slash_command("preset fox at night --api", user_id=BOB)
    answer = await private_answer(world, reply)
    entry = next(r for r in world.standin.responses if reply.sent["response_url"].endswith(r["id"]))
    shown, curl, python, note = shown_parts(entry["body"])
    expected = VideoRequest.model_validate({**job.request, "input": {**job.request["input"],
                                                                      "prompt": "a fox in the snow at night"}})
    assert shown == world.services.gateway.format.submit(expected).json
    assert "Seed 7" in note and "new Idempotency-Key" in note and "Preset `fox`" in answer
    assert shlex.split(curl.replace("\\\n", " "))[0] == "curl"
    await asyncio.sleep(0.3)
    assert len(simulator.tasks) == tasks                           # nothing was sent or started
    assert len(await world.store.list_jobs(limit=10)) == 1
