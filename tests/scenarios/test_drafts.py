"""Wan 2.6's own parameters from Slack, and the draft -> Final loop, through the real app on loopback."""

from __future__ import annotations

import av
import pytest

from bot.jobs.models import JobState
from tests.support.world import ANA, BOB, CHANNEL, delivered_job, private_answer


def actions_of(message: dict) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_flags_of_the_models_own_parameters_reach_the_gateway(world, simulator):
    await world.sender.slash_command("t2v a fox in the snow --duration 2 --ratio 9:16 --resolution 1080p "
                                     "--audio off --watermark on")
    job = await world.job_for_card()
    assert {k: job.request["input"].get(k) for k in ("resolution", "audio", "watermark")} == \
        {"resolution": "1080P", "audio": False, "watermark": True}
    await world.finished(job.id)
    (task,) = simulator.tasks.values()
    assert (task.tier, task.sound, task.ratio) == ("1080P", False, "9:16")


async def test_a_field_the_format_cannot_carry_opens_the_form_and_sends_nothing(make_world, simulator):
    world = await make_world(wan_api_format="openai")
    await world.sender.slash_command("t2v a fox in the snow --shot multi")
    opened = await world.standin.wait_for_call("views.open")
    assert "shot_type: cannot be sent through the openai wire format" in str(opened.params["view"])
    assert simulator.stats.requests == [] and not simulator.tasks


async def test_draft_renders_cheap_with_a_pinned_seed_and_final_rerenders_the_same_take(world, simulator):
    job, review = await delivered_job(world, "i2v the cat waves --image https://example.com/cat.png "
                                             "--duration 2 --draft")
    inp = job.request["input"]
    assert (inp["variant"], inp["resolution"], inp["audio"]) == ("flash", "720P", False)
    seed = inp["seed"]
    (draft_task,) = simulator.tasks.values()
    assert draft_task.flash and not draft_task.sound and draft_task.tier == "720P"

    final_button = next(e for e in actions_of(review) if e["action_id"] == "review_final")
    expected = world.services.settings.pricing().estimate  # the confirm dialog names the final's cost
    confirm_text = final_button["confirm"]["text"]["text"]
    assert "$" in confirm_text and "final settings" in confirm_text

    await world.sender.block_action("review_final", job.id, user_id=BOB, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    final = await world.job_for_card(count=2)
    assert final.thread_ts == job.message_ts and final.user_id == BOB and final.extra["final_of"] == job.id
    finp = final.request["input"]
    assert finp["seed"] == seed and finp["prompt"] == inp["prompt"]
    assert (finp.get("variant"), finp["resolution"], finp["audio"]) == (None, "1080P", True)
    from bot.wan.request import VideoRequest

    assert f"${expected(VideoRequest.model_validate(final.request)):.2f}" in confirm_text
    assert final.estimated_cost_usd == expected(VideoRequest.model_validate(final.request))
    final = await world.finished(final.id)  # its task id is known once submitted, not at its card
    final_task = simulator.tasks[final.task_id]
    assert not final_task.flash and final_task.sound and final_task.tier == "1080P"

    # A second click on the same Final starts nothing more.
    await world.sender.block_action("review_final", job.id, user_id=BOB, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    await world.standin.wait_until(lambda: any("already clicked Final" in str(r["body"])
                                               for r in world.standin.responses))
    assert len(await world.services.store.list_jobs(limit=10)) == 2


async def test_a_video_that_is_not_a_draft_has_no_final_button(world):
    job, review = await delivered_job(world)
    assert "review_final" not in [e["action_id"] for e in actions_of(review)]


async def test_help_lists_the_new_flags(world):
    reply = await world.sender.slash_command("help")
    text = await private_answer(world, reply)
    for flag in ("--resolution", "--audio", "--audio-url", "--shot", "--prompt-extend", "--watermark",
                 "--reference-video", "--variant", "--draft"):
        assert flag in text


@pytest.mark.parametrize("fmt", ["unified", "openai", "dashscope"])
async def test_a_1080p_request_with_sound_from_slack_reaches_the_gateway_in_each_format_and_the_video_matches(
        make_world, simulator, fmt):
    world = await make_world(wan_api_format=fmt)
    await world.sender.slash_command("t2v a fox in the snow --duration 4 --ratio 9:16 --resolution 1080P --audio on",
                                     user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    assert job.state == JobState.DELIVERED, (job.error_code, job.error_message)
    (task,) = simulator.tasks.values()  # the simulator read it in this format's own shape
    assert (task.wire, task.tier, task.sound, task.ratio) == (fmt, "1080P", True, "9:16")
    (video,) = [f for f in world.standin.files.values() if f["name"].endswith(".mp4")]
    with av.open(video["_path"]) as container:  # the video posted in the thread
        stream = container.streams.video[0]
        assert abs(float(stream.duration * stream.time_base) - 4) < 0.3
        assert abs(stream.height / stream.width - 16 / 9) < 0.05
        assert container.streams.audio
