"""i2v from an image attached in the channel: found, fetched with the bot token, sent as a data: URI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

from aiohttp import web

from bot.jobs.models import Job, JobState
from bot.slack.blocks.card import job_card
from bot.slack.blocks.messages import api_request_message
from bot.slack.jobs.attachments import MAX_IMAGE_BYTES, slack_file_id, sniff_image
from bot.wan.request import build_request
from tests.support.world import ANA, BOB, CHANNEL, OUTSIDE, OUTSIDER, TEAM

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)


def card_text(message: dict) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


async def answers(world, reply, count: int = 1, timeout: float = 5.0) -> str:
    """The private answers sent to the command's response_url (waits for `count` of them)."""
    url = reply.sent["response_url"]

    def found():
        got = [r for r in world.standin.responses if url.endswith(r["id"])]
        return got if len(got) >= count else None

    entries = await world.standin.wait_until(found, timeout)
    return "\n".join(e["body"].get("text", "") + str(e["body"].get("blocks", "")) for e in entries)


def shared_message(world, file_id: str) -> dict:
    return next(m for m in world.standin.messages(CHANNEL) if any(f["id"] == file_id for f in m.get("files", [])))


async def test_image_shared_in_the_channel_becomes_the_i2v_image(world, caplog):
    caplog.set_level("DEBUG", logger="bot")  # the bot's own logs (aiosqlite debug prints SQL values)
    world.standin.add_file("holiday.jpg", b"\xff\xd8\xff" + b"old" * 100, "image/jpeg", channel=CHANNEL)
    world.standin.add_file("notes.txt", b"just text", "text/plain", channel=CHANNEL, user=BOB)
    file = world.standin.add_file("cat.png", PNG, "image/png", channel=CHANNEL, user=BOB)
    world.standin.add_file("later.txt", b"more text", "text/plain", channel=CHANNEL)

    reply = await world.sender.slash_command("i2v the cat waves --duration 2", user_id=ANA)
    job = await world.job_for_card()
    image = job.request["input"]["image_url"]
    assert image.startswith("data:image/png;base64,")
    assert base64.b64decode(image.split(",", 1)[1]) == PNG  # the newest image, not the older jpeg
    downloads = world.standin.calls("download")
    assert [c.params["file_id"] for c in downloads] == [file["id"]]

    note = await answers(world, reply)
    assert "cat.png" in note and f"<@{BOB}>" in note and "PNG" in note
    b64_start = image.split(",", 1)[1][:40]
    card = world.standin.message(CHANNEL, job.message_ts)
    assert "attached image (PNG, 3 KB)" in card_text(card) and b64_start not in card_text(card)

    done = await world.finished(job.id)
    assert done.state == JobState.DELIVERED
    await world.services.notifier.cards.idle()
    for message in world.standin.messages(CHANNEL):
        assert b64_start not in card_text(message)
    assert all(b64_start not in card_text(r["body"]) for r in world.standin.responses)
    assert "attachment fetched" in caplog.text and b64_start not in caplog.text


async def test_a_slack_file_link_given_with_image_is_fetched(world):
    file = world.standin.add_file("dog.png", PNG, "image/png")  # not shared anywhere yet
    await world.sender.slash_command(f"i2v the dog runs --image <{file['permalink']}>")
    job = await world.job_for_card()
    assert base64.b64decode(job.request["input"]["image_url"].split(",", 1)[1]) == PNG
    assert world.standin.calls("files.info")[0].params["file"] == file["id"]


async def test_a_slack_file_link_is_refused_to_whoever_cannot_see_the_file(world, simulator):
    # Issue 14 item 12: the bot sees files in private channels (TEAM: only ANA and the bot) that the
    # requester may not; with --image and a permalink anyone could have animated them.
    secret = world.standin.add_file("team-plan.png", PNG, "image/png", channel=TEAM, user=ANA)
    elsewhere = world.standin.add_file("outside.png", PNG, "image/png", channel=OUTSIDE, user=ANA)
    for user, file in ((BOB, secret), (OUTSIDER, elsewhere)):
        reply = await world.sender.slash_command(f"i2v the plan comes alive --image <{file['permalink']}>",
                                                 user_id=user)
        text = await answers(world, reply)
        assert "image_url" in text and "not shared in this channel or in a channel you are in" in text
    assert world.standin.calls("download") == []  # nothing fetched
    assert await world.services.store.list_jobs() == [] and simulator.stats.requests == []  # nothing sent


async def test_a_slack_file_link_is_fetched_for_a_member_of_where_it_is_shared(world):
    secret = world.standin.add_file("team-plan.png", PNG, "image/png", channel=TEAM, user=ANA)
    here = world.standin.add_file("here.png", PNG[:1000], "image/png", channel=CHANNEL, user=ANA)
    elsewhere = world.standin.add_file("outside.png", PNG[:2000], "image/png", channel=OUTSIDE, user=ANA)
    await world.sender.slash_command(f"i2v the plan comes alive --image <{secret['permalink']}>", user_id=ANA)
    await world.sender.slash_command(f"i2v here it moves --image <{here['permalink']}>", user_id=BOB)  # shared here
    await world.sender.slash_command(f"i2v outside it moves --image <{elsewhere['permalink']}>", user_id=BOB)
    images = []
    for count in (1, 2, 3):
        job = await world.job_for_card(count=count)
        images.append(base64.b64decode(job.request["input"]["image_url"].split(",", 1)[1]))
    assert sorted(images, key=len) == [PNG[:1000], PNG[:2000], PNG]


async def test_oversize_image_gets_a_clear_message_and_no_job(world):
    world.standin.add_file("huge.png", PNG + b"\0" * MAX_IMAGE_BYTES, "image/png", channel=CHANNEL)
    reply = await world.sender.slash_command("i2v the cat waves")
    text = await answers(world, reply)
    assert "huge.png" in text and "at most 10 MB" in text
    assert world.standin.calls("download") == []  # Slack's size said so: nothing fetched
    assert await world.services.store.list_jobs() == []


async def test_oversize_image_with_a_wrong_size_is_capped_while_streaming(world):
    file = world.standin.add_file("sneaky.png", PNG + b"\0" * MAX_IMAGE_BYTES, "image/png", channel=CHANNEL)
    shared_message(world, file["id"])["files"][0]["size"] = 1000
    reply = await world.sender.slash_command("i2v the cat waves")
    assert "at most 10 MB" in await answers(world, reply)
    assert await world.services.store.list_jobs() == []


async def test_a_file_that_is_not_an_image_gets_a_clear_message(world):
    world.standin.add_file("fake.png", b"this is text, not a picture", "image/png", channel=CHANNEL)
    reply = await world.sender.slash_command("i2v the cat waves")
    text = await answers(world, reply)
    assert "fake.png" in text and "not a PNG, JPEG, WEBP or GIF image" in text

    notes = world.standin.add_file("notes.txt", b"hello", "text/plain")
    reply = await world.sender.slash_command(f"i2v the cat waves --image {notes['permalink']}")
    text = await answers(world, reply)
    assert "notes.txt" in text and "is not an image" in text
    assert await world.services.store.list_jobs() == []


async def test_no_image_in_the_channel_opens_the_form_prefilled_with_a_hint(world):
    world.standin.add_file("notes.txt", b"hello", "text/plain", channel=CHANNEL)
    old = world.standin.add_file("old.png", PNG, "image/png", channel=CHANNEL)
    shared_message(world, old["id"])["ts"] = f"{time.time() - 31 * 60:.6f}"  # too old to count
    await world.sender.slash_command("i2v the cat waves --duration 3")
    opened = (await world.standin.wait_for_call("views.open")).params["view"]
    view = json.dumps(opened)
    assert "the cat waves" in view and "No image was shared in this channel" in view
    assert world.standin.calls("download") == []
    assert await world.services.store.list_jobs() == []


async def test_a_file_on_a_foreign_host_is_never_fetched_with_the_token(world):
    seen: list[str] = []

    async def steal(request):
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.add_routes([web.get("/cat.png", steal)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        file = world.standin.add_file("cat.png", PNG, "image/png", channel=CHANNEL)
        shown = shared_message(world, file["id"])["files"][0]
        shown["url_private"] = shown["url_private_download"] = f"http://127.0.0.1:{port}/cat.png"
        reply = await world.sender.slash_command("i2v the cat waves")
        assert "not stored on Slack" in await answers(world, reply)
        assert seen == []
        assert await world.services.store.list_jobs() == []
    finally:
        await runner.cleanup()


def test_magic_bytes_and_slack_file_links():
    assert sniff_image(PNG) == "png"
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert sniff_image(b"GIF89a...") == "gif"
    assert sniff_image(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert sniff_image(b"<svg xmlns=...>") is None
    assert slack_file_id("https://acme.slack.com/files/U012AB/F0123ABCD/cat.png", None) == "F0123ABCD"
    assert slack_file_id("https://files.slack.com/files-pri/T012-F0123ABCD/cat.png", None) == "F0123ABCD"
    assert slack_file_id("https://example.com/files/U1/F0123ABCD/cat.png", None) is None
    assert slack_file_id("http://127.0.0.1:5555/files-pri/F0123ABCD/cat.png", "http://127.0.0.1:5555/api/") \
        == "F0123ABCD"


def test_card_and_api_request_show_a_label_not_the_base64():
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    request = build_request("i2v", {"prompt": "the cat waves", "image_url": data_uri})
    job = Job(id="j_abc123", request=request.body(), origin="slack", user_id=ANA, channel_id=CHANNEL,
              created_at=time.time())
    text, blocks = job_card(job, now=time.time())
    shown = text + json.dumps(blocks)
    assert "attached image (PNG, 3 KB)" in shown and data_uri[30:70] not in shown
    text, blocks = api_request_message("POST", "https://gw.example/v1/videos", {}, request.body())
    shown = json.dumps(blocks)
    assert "data:image/png;base64,&lt;attached image (PNG, 3 KB), not shown&gt;" in shown
    assert data_uri[30:70] not in shown
    assert request.body()["input"]["image_url"] == data_uri  # the stored request keeps the image


async def test_tweak_of_a_job_with_an_attached_image_keeps_the_image(world):
    world.standin.add_file("cat.png", PNG, "image/png", channel=CHANNEL, user=BOB)
    await world.sender.slash_command("i2v the cat waves --duration 2", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    review = await world.standin.wait_for_message(CHANNEL, job.message_ts,
                                                  lambda m: "review_tweak" in json.dumps(m))
    await world.sender.block_action("review_tweak", job.id, user_id=ANA, channel_id=CHANNEL,
                                    message_ts=review["ts"])
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    image_block = next(b for b in view["blocks"] if b.get("block_id") == "image_url")
    assert "base64" not in json.dumps(view)                    # no data URI in the form
    assert image_block["optional"] is True and "keep the attached image" in image_block["hint"]["text"]
    await world.sender.view_submission(view, user_id=ANA, values={"prompt": "the cat waves twice"})
    tweaked = await world.job_for_card(count=2)
    assert tweaked.request["input"]["image_url"] == job.request["input"]["image_url"]
    assert tweaked.request["input"]["prompt"] == "the cat waves twice"


async def test_a_large_attached_image_stays_out_of_job_lists_and_is_pruned_a_day_after_the_end(world, simulator):
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(7 * 1024 * 1024)  # a 7 MB image: a 9.3 MB data URI
    data_uri = "data:image/png;base64," + base64.b64encode(big).decode()
    world.standin.add_file("big.png", big, "image/png", channel=CHANNEL, user=BOB)
    await world.sender.slash_command("i2v the cat waves --duration 2", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    assert job.state == JobState.DELIVERED, (job.error_code, job.error_message)
    # The gateway got the whole image, as a data: URI.
    assert simulator.tasks[job.task_id].image_sha256 == hashlib.sha256(data_uri.encode()).hexdigest()

    # The job rows (what every list reads) hold a short stub, not the 9 MB; lists show the label.
    longest = (await world.store.db.fetch("SELECT MAX(LENGTH(request)) FROM jobs"))[0][0]
    assert longest < 2000
    listed = await world.store.list_jobs(user_id=ANA)
    assert len(json.dumps(listed[0].request)) < 2000
    jobs_answer = await answers(world, await world.sender.slash_command("jobs", user_id=ANA))
    assert job.id in jobs_answer and "base64" not in jobs_answer

    # Re-run within the day keeps the image; a day after the end it is pruned and Re-run says so.
    review = await world.standin.wait_for_message(CHANNEL, job.message_ts, lambda m: "review_rerun" in json.dumps(m))
    assert await world.store.prune_attachments() == 0
    assert await world.store.prune_attachments(now=time.time() + 25 * 3600) == 1
    assert (await world.store.db.fetch("SELECT COUNT(*) FROM job_attachments"))[0][0] == 0
    await world.sender.block_action("review_rerun", job.id, user_id=ANA, channel_id=CHANNEL, message_ts=review["ts"])
    said = await world.standin.wait_until(
        lambda: next((r for r in world.standin.responses if "no longer kept" in r["body"].get("text", "")), None))
    assert "Attach it again" in said["body"]["text"]
    assert len(await world.store.list_jobs()) == 1  # no second job
