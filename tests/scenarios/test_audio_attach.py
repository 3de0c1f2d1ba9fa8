"""An audio file attached in Slack as `audio_url` (issue 12): fetched with the bot token and sent
inline where the wire format takes inline data, capped at 15 MB, refused (nothing fetched, nothing
sent) on a format that takes none, and checked for type and length before any job starts."""

from __future__ import annotations

import base64
import io
import json
import wave

import av
import pytest

from bot.jobs.models import JobState
from tests.support.world import ANA, BOB, CHANNEL, private_answer


def wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * int(seconds * 8000))
    return buf.getvalue()


async def nothing_started(world, simulator, tasks: int = 0) -> None:
    assert await world.store.list_jobs(limit=10) == []
    assert len(simulator.tasks) == tasks and not simulator.stats.submits


async def test_an_attached_wav_becomes_the_inline_audio_url_and_the_video_has_sound(world, simulator):
    voice = wav(4)
    file = world.standin.add_file("voice.wav", voice, "audio/wav", channel=CHANNEL, user=BOB)
    await world.sender.slash_command(f"t2v a fox sings --duration 3 --audio-url <{file['permalink']}>", user_id=ANA)
    job = await world.job_for_card()
    audio_url = job.request["input"]["audio_url"]
    assert audio_url.startswith("data:audio/wav;base64,") and base64.b64decode(audio_url.split(",", 1)[1]) == voice
    card = json.dumps(world.standin.message(CHANNEL, job.message_ts))
    assert "attached audio (WAV" in card and audio_url[30:80] not in card
    done = await world.finished(job.id)  # its submit follows the card: wait for it, then read what was sent
    assert done.state == JobState.DELIVERED
    (sent,) = simulator.stats.submitted_bodies(job.id)
    assert sent["input"]["audio_url"] == audio_url                   # sent inline, as attached
    (video,) = [f for f in world.standin.files.values() if f["name"].endswith(".mp4")]
    with av.open(video["_path"]) as container:
        assert container.streams.audio                                # it follows a soundtrack


async def test_an_audio_file_over_the_cap_gets_a_clear_error_and_nothing_is_sent(world, simulator):
    big = world.standin.add_file("long.wav", b"RIFF\0\0\0\0WAVE" + b"\0" * (15 * 1024 * 1024), "audio/wav",
                                 channel=CHANNEL)
    reply = await world.sender.slash_command(f"t2v a fox sings --audio-url <{big['permalink']}>")
    text = await private_answer(world, reply)
    assert "long.wav" in text and "at most 15 MB" in text and "Nothing was sent" in text
    assert world.standin.calls("download") == []                     # Slack's size said so: not fetched
    # A file whose announced size lies is cut off while streaming.
    world.standin.files[big["id"]]["size"] = 1000
    reply = await world.sender.slash_command(f"t2v a fox sings --audio-url <{big['permalink']}>")
    assert "at most 15 MB" in await private_answer(world, reply)
    await nothing_started(world, simulator)


@pytest.mark.parametrize("wire", ["dashscope", "openai"])
async def test_attached_audio_on_a_format_without_inline_audio_is_refused_before_anything_is_fetched(
        make_world, simulator, wire):
    world = await make_world(wan_api_format=wire)
    file = world.standin.add_file("voice.wav", wav(4), "audio/wav", channel=CHANNEL)
    reply = await world.sender.slash_command(f"t2v a fox sings --audio-url <{file['permalink']}>")
    text = await private_answer(world, reply)
    assert "audio_url" in text and f"WAN_API_FORMAT={wire}" in text and "https link" in text
    assert world.standin.calls("files.info") == [] and world.standin.calls("download") == []
    await nothing_started(world, simulator)


async def test_an_attachment_that_is_not_usable_audio_gets_a_clear_error(world, simulator):
    short = world.standin.add_file("blip.wav", wav(1), "audio/wav", channel=CHANNEL)
    text = await private_answer(world, await world.sender.slash_command(
        f"t2v a fox sings --audio-url <{short['permalink']}>"))
    assert "blip.wav" in text and "3 to 30 seconds" in text
    notes = world.standin.add_file("notes.txt", b"la la la", "text/plain", channel=CHANNEL)
    text = await private_answer(world, await world.sender.slash_command(
        f"t2v a fox sings --audio-url <{notes['permalink']}>"))
    assert "notes.txt" in text and "is not audio" in text
    fake = world.standin.add_file("fake.mp3", b"just some text, honestly", "audio/mpeg", channel=CHANNEL)
    text = await private_answer(world, await world.sender.slash_command(
        f"t2v a fox sings --audio-url <{fake['permalink']}>"))
    assert "fake.mp3" in text and "not an MP3 or WAV file" in text
    voice = world.standin.add_file("voice.wav", wav(4), "audio/wav", channel=CHANNEL)
    text = await private_answer(world, await world.sender.slash_command(  # a mode without audio_url
        f"r2v two friends --reference https://example.com/a.png --audio-url <{voice['permalink']}>"))
    assert "`--audio-url` doesn't apply to `r2v`" in text
    assert [c.params["file_id"] for c in world.standin.calls("download")] == [short["id"], fake["id"]]
    await nothing_started(world, simulator)


async def test_tweak_of_a_job_with_attached_audio_keeps_the_soundtrack(world, simulator):
    voice = wav(4)
    file = world.standin.add_file("voice.wav", voice, "audio/wav", channel=CHANNEL)
    await world.sender.slash_command(f"t2v a fox sings --duration 2 --audio-url <{file['permalink']}>", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    review = await world.standin.wait_for_message(CHANNEL, job.message_ts, lambda m: "review_tweak" in json.dumps(m))
    await world.sender.block_action("review_tweak", job.id, user_id=ANA, channel_id=CHANNEL, message_ts=review["ts"])
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    assert "base64" not in json.dumps(view)                          # no data URI in the form
    await world.sender.view_submission(view, user_id=ANA, values={"prompt": "a fox sings twice"})
    tweaked = await world.job_for_card(count=2)
    assert tweaked.request["input"]["prompt"] == "a fox sings twice"
    assert tweaked.request["input"]["audio_url"] == job.request["input"]["audio_url"]
    await world.finished(tweaked.id)  # its submit follows the card: wait for it, then read what was sent
    (sent,) = simulator.stats.submitted_bodies(tweaked.id)
    assert base64.b64decode(sent["input"]["audio_url"].split(",", 1)[1]) == voice
