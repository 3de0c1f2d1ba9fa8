"""Attached files: only Slack's hosts get the token, downloads are capped, redirects are checked."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from bot.slack.triage import files as triage_files
from bot.slack.triage.files import is_text_file
from bot.slack.web.files import DownloadError, download, token_may_go_to
from tests.support.triage_inputs import refund_due_jsonl, report_text, shortcut_report
from tests.support.world import CUSTOMER, SUPPORT, SUPPORT_CHANNEL


@pytest.mark.parametrize("url,allowed", [
    ("https://files.slack.com/files-pri/T1-F1/log.txt", True),
    ("https://slack.com/files-pri/x", True),
    ("http://files.slack.com/files-pri/x", False),          # never in clear text
    ("https://files.slack.com:8443/x", False),
    ("https://slack.com.evil.example/x", False),
    ("https://evil.example/files.slack.com/x", False),
    ("https://evilslack.com/x", False),
    ("http://127.0.0.1:5555/files-pri/F1/a.log", True),    # the configured SLACK_API_URL's origin
    ("http://127.0.0.1:5556/files-pri/F1/a.log", False),
    ("http://localhost:5555/files-pri/F1/a.log", False),
])
def test_token_may_go_to(url, allowed):
    assert token_may_go_to(url, "http://127.0.0.1:5555/api/") is allowed


def test_text_files_recognised():
    assert is_text_file({"name": "export.jsonl"})
    assert is_text_file({"name": "x", "filetype": "csv"})
    assert is_text_file({"name": "x", "mimetype": "text/plain"})
    assert not is_text_file({"name": "cat.png", "filetype": "png", "mimetype": "image/png"})


async def serve(routes) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


async def test_redirect_off_slack_is_not_followed(tmp_path):
    seen: list[str] = []

    async def elsewhere(request):
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(text="secret-stealer")

    other, other_url = await serve([web.get("/steal", elsewhere)])

    async def redirect(request):
        raise web.HTTPFound(other_url + "/steal")

    async def same_origin(request):
        raise web.HTTPFound("/file")

    async def file(request):
        return web.Response(text="row 1\n")

    home, home_url = await serve([web.get("/redir", redirect), web.get("/same", same_origin),
                                  web.get("/file", file)])
    try:
        with pytest.raises(DownloadError, match="not on a Slack host"):
            await download(home_url + "/redir", "xoxb-secret-token", tmp_path / "a", api_url=home_url + "/api/")
        assert seen == []
        size = await download(home_url + "/same", "xoxb-secret-token", tmp_path / "b", api_url=home_url + "/api/")
        assert size == 6 and (tmp_path / "b").read_text() == "row 1\n"
    finally:
        await home.cleanup()
        await other.cleanup()


async def test_download_is_capped_while_streaming(tmp_path):
    async def big(request):
        response = web.StreamResponse()  # chunked: no Content-Length to reject up front
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"x" * 65536)
        return response

    runner, url = await serve([web.get("/big", big)])
    try:
        with pytest.raises(DownloadError, match="larger than"):
            await download(url + "/big", "t", tmp_path / "big", api_url=url + "/", max_bytes=1024 * 1024)
    finally:
        await runner.cleanup()


async def test_oversized_attachment_is_skipped_with_a_note(world, monkeypatch):
    monkeypatch.setattr(triage_files, "MAX_FILE_BYTES", 1024)
    file = world.standin.add_file("export.jsonl", refund_due_jsonl() * 20, "application/x-ndjson")
    file["size"] = 10  # Slack's metadata can be wrong: the stream is capped too
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000700", "text": "charged twice?",
               "files": [file]}
    shown = report_text(await shortcut_report(world, message))
    assert "export.jsonl: could not be downloaded" in shown and "larger than" in shown
    assert "refund_due" not in shown


async def test_image_attachments_are_not_downloaded(world):
    file = world.standin.add_file("cat.png", b"\x89PNG....", "image/png")
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000800", "text": "invalid apitype: -1",
               "files": [file]}
    shown = report_text(await shortcut_report(world, message))
    assert "cat.png: skipped" in shown and "misrouted_chat_api" in shown
    assert not world.standin.calls("download")


async def test_report_through_response_url_when_bot_not_in_channel(world):
    world.standin.set_member(SUPPORT_CHANNEL, False)
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.000900", "text": "invalid apitype: -1"}
    await world.sender.message_shortcut("triage_message", message, SUPPORT_CHANNEL, user_id=SUPPORT)
    response = await world.standin.wait_until(lambda: world.standin.responses, timeout=10)
    body = response[0]["body"]
    assert body["response_type"] == "ephemeral" and "misrouted_chat_api" in json.dumps(body)


async def test_big_attachment_does_not_stall_other_requests(world):
    row = json.dumps({"id": 1, "type": 5, "model_name": "wan2.6-t2v", "quota": 0, "content": "upstream error " * 8})
    data = ((row + "\n") * 150_000).encode()  # ~25 MB
    file = world.standin.add_file("big.jsonl", data, "application/x-ndjson")
    message = {"type": "message", "user": CUSTOMER, "ts": "1700000000.001000", "text": "charged?", "files": [file]}
    reply = await world.sender.message_shortcut("triage_message", message, SUPPORT_CHANNEL, user_id=SUPPORT)
    assert reply.elapsed < 3
    slowest = 0.0
    while not world.standin.ephemerals:
        ping = await world.sender.slash_command("triage invalid apitype: -1", user_id=SUPPORT, channel_id=SUPPORT_CHANNEL)
        slowest = max(slowest, ping.elapsed)
        await asyncio.sleep(0.05)
    assert slowest < 1.0
    assert "not_charged" in report_text(world.standin.ephemerals[0]["message"])
