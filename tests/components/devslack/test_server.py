"""The Slack stand-in driven by the real slack_sdk AsyncWebClient."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack import SlackStandIn

TOKEN = "xoxb-dev-local"


@pytest.fixture
async def standin():
    s = SlackStandIn()
    await s.start()
    s.add_channel("C1", "general")
    s.add_channel("C2", "random", member=False)
    s.add_channel("G1", "secret", member=False, is_private=True)
    s.add_user("U1", "ana", is_admin=True)
    s.add_user("U2", "bo")
    s.add_usergroup("S1", ["U1", "U2"])
    yield s
    await s.close()


@pytest.fixture
def client(standin):
    return AsyncWebClient(token=TOKEN, base_url=standin.api_url)


def error_of(exc_info) -> str:
    return exc_info.value.response["error"]


async def test_api_url_shape(standin):
    assert standin.api_url.endswith("/api/")
    assert standin.api_url.startswith(standin.base_url)


async def test_auth_test_and_bad_tokens(standin, client):
    r = await client.auth_test()
    assert r["user_id"] == standin.bot_user_id and r["team_id"] == "T0DEV" and r["bot_id"]
    with pytest.raises(SlackApiError) as e:
        await AsyncWebClient(token="xoxb-wrong", base_url=standin.api_url).auth_test()
    assert error_of(e) == "invalid_auth"
    with pytest.raises(SlackApiError) as e:
        await AsyncWebClient(base_url=standin.api_url).auth_test()
    assert error_of(e) == "not_authed"
    # the token is never recorded
    assert all("token" not in c.params for c in standin.calls())


async def test_token_as_form_param(standin):
    async with aiohttp.ClientSession() as s:
        async with s.post(standin.api_url + "auth.test", data={"token": TOKEN}) as r:
            assert (await r.json())["ok"] is True


async def test_post_update_delete_and_thread(standin, client):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*card*"}}]
    r = await client.chat_postMessage(channel="C1", text="card", blocks=blocks)
    assert r["channel"] == "C1" and r["message"]["blocks"] == blocks
    ts = r["ts"]
    reply = await client.chat_postMessage(channel="C1", text="in thread", thread_ts=ts)
    assert reply["ts"] > ts
    assert [m["text"] for m in standin.messages("C1", thread_ts=ts)] == ["in thread"]
    assert standin.message("C1", ts)["reply_count"] == 1

    u = await client.chat_update(channel="C1", ts=ts, text="card v2", blocks=blocks)
    assert u["ts"] == ts and standin.message("C1", ts)["text"] == "card v2"
    assert standin.message("C1", ts)["edited"]

    await client.chat_delete(channel="C1", ts=reply["ts"])
    assert standin.messages("C1", thread_ts=ts) == []
    with pytest.raises(SlackApiError) as e:
        await client.chat_update(channel="C1", ts="1.000000", text="x")
    assert error_of(e) == "message_not_found"
    with pytest.raises(SlackApiError) as e, pytest.warns(UserWarning):
        await client.chat_postMessage(channel="C1")
    assert error_of(e) == "no_text"

    call = standin.calls("chat.update")[0]
    assert call.params["channel"] == "C1" and call.response["ok"] is True
    assert standin.calls("chat.update")[1].response["error"] == "message_not_found"


async def test_form_encoded_blocks_are_decoded(standin, client):
    blocks = [{"type": "divider"}]
    # api_call with data= sends form fields, blocks as a JSON string, like older clients do
    await client.api_call("chat.postMessage", data={"channel": "C1", "blocks": '[{"type": "divider"}]'})
    assert standin.messages("C1")[-1]["blocks"] == blocks


async def test_channel_membership_rules(standin, client):
    # chat:write.public: a public channel without membership is fine for messages
    await client.chat_postMessage(channel="C2", text="hi")
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="G1", text="hi")
    assert error_of(e) == "channel_not_found"
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C404", text="hi")
    assert error_of(e) == "channel_not_found"
    with pytest.raises(SlackApiError) as e:
        await client.chat_postEphemeral(channel="C2", user="U1", text="psst")
    assert error_of(e) == "not_in_channel"

    info = await client.conversations_info(channel="C2")
    assert info["channel"]["is_member"] is False
    joined = await client.conversations_join(channel="C2")
    assert joined["channel"]["is_member"] is True
    again = await client.conversations_join(channel="C2")
    assert again["warning"] == "already_in_channel"
    with pytest.raises(SlackApiError) as e:
        await client.conversations_join(channel="G1")
    assert error_of(e) == "channel_not_found"

    standin.archive("C1")
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C1", text="hi")
    assert error_of(e) == "is_archived"
    with pytest.raises(SlackApiError) as e:
        await client.conversations_join(channel="C1")
    assert error_of(e) == "is_archived"


async def test_ephemeral_dm_users_and_groups(standin, client):
    r = await client.chat_postEphemeral(channel="C1", user="U2", text="only you")
    assert r["message_ts"]
    assert standin.ephemerals[-1]["user"] == "U2"
    dm = await client.chat_postMessage(channel="U2", text="hello")
    assert dm["channel"].startswith("D")

    user = (await client.users_info(user="U1"))["user"]
    assert user["name"] == "ana" and user["is_admin"] is True and user["real_name"] == "Ana"
    with pytest.raises(SlackApiError) as e:
        await client.users_info(user="U404")
    assert error_of(e) == "user_not_found"

    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as e:
        await client.usergroups_users_list(usergroup="S404")
    assert error_of(e) == "no_such_subteam"


async def test_permalink_history_replies(standin, client):
    ts = (await client.chat_postMessage(channel="C1", text="parent"))["ts"]
    await client.chat_postMessage(channel="C1", text="child", thread_ts=ts)
    link = (await client.chat_getPermalink(channel="C1", message_ts=ts))["permalink"]
    assert ts.replace(".", "") in link
    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["parent"]
    replies = await client.conversations_replies(channel="C1", ts=ts)
    assert [m["text"] for m in replies["messages"]] == ["parent", "child"]


MODAL = {
    "type": "modal",
    "callback_id": "wan_modal",
    "title": {"type": "plain_text", "text": "Wan"},
    "submit": {"type": "plain_text", "text": "Go"},
    "blocks": [{"type": "input", "block_id": "prompt",
                "element": {"type": "plain_text_input", "action_id": "value"},
                "label": {"type": "plain_text", "text": "Prompt"}}],
}


async def test_views_open_update_push(standin, client):
    opened = (await client.views_open(trigger_id="123.456", view=MODAL))["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "wan_modal"
    assert opened["state"] == {"values": {}} and opened["hash"]
    assert standin.views[opened["id"]] == opened

    changed = dict(MODAL, title={"type": "plain_text", "text": "Wan t2v"})
    updated = (await client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"]))["view"]
    assert updated["id"] == opened["id"] and updated["title"]["text"] == "Wan t2v"
    with pytest.raises(SlackApiError) as e:  # stale hash
        await client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert error_of(e) == "hash_conflict"
    with pytest.raises(SlackApiError) as e:
        await client.views_update(view_id="V404", view=changed)
    assert error_of(e) == "not_found"

    ext = (await client.views_open(trigger_id="1.2", view=dict(MODAL, external_id="job-1")))["view"]
    by_ext = (await client.views_update(external_id="job-1", view=dict(MODAL, external_id="job-1")))["view"]
    assert by_ext["id"] == ext["id"]

    pushed = (await client.views_push(trigger_id="1.3", view=MODAL))["view"]
    assert pushed["previous_view_id"] == ext["id"]
    with pytest.raises(SlackApiError) as e:
        await client.views_open(trigger_id="1.4", view={"type": "nope"})
    assert error_of(e) == "invalid_arguments"


async def test_view_answered_update_push_close(standin, client):
    opened = (await client.views_open(trigger_id="1.1", view=MODAL))["view"]
    standin.view_answered(opened["id"], {"response_action": "update", "view": dict(MODAL, callback_id="v2")})
    assert standin.views[opened["id"]]["callback_id"] == "v2"
    standin.view_answered(opened["id"], {"response_action": "push", "view": dict(MODAL, callback_id="v3")})
    assert standin.last_view()["previous_view_id"] == opened["id"]
    standin.view_answered(opened["id"], None)
    assert opened["id"] in standin.closed_views


async def test_trigger_ids_checked_when_asked():
    async with SlackStandIn(check_triggers=True) as s:
        client = AsyncWebClient(token=TOKEN, base_url=s.api_url)
        with pytest.raises(SlackApiError) as e:
            await client.views_open(trigger_id="made.up", view=MODAL)
        assert error_of(e) == "invalid_trigger_id"
        trigger = s.new_trigger_id()
        await client.views_open(trigger_id=trigger, view=MODAL)
        with pytest.raises(SlackApiError):  # single use
            await client.views_open(trigger_id=trigger, view=MODAL)


async def _upload(client, path_or_bytes, name, size=None, **share):
    size = size if size is not None else len(path_or_bytes)
    got = await client.files_getUploadURLExternal(filename=name, length=size)
    async with aiohttp.ClientSession() as s:
        if isinstance(path_or_bytes, str):
            with open(path_or_bytes, "rb") as f:  # noqa: ASYNC230 - aiohttp streams the file object
                async with s.post(got["upload_url"], data=f) as r:
                    status = r.status
        else:
            async with s.post(got["upload_url"], data=path_or_bytes) as r:
                status = r.status
    assert status == 200
    done = await client.files_completeUploadExternal(files=[{"id": got["file_id"], "title": name}], **share)
    return got["file_id"], done


@pytest.mark.slow
async def test_external_upload_streams_30mb_into_thread(standin, client, tmp_path):
    path = tmp_path / "video.mp4"
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for i in range(30):
            chunk = bytes([i]) * (1024 * 1024)
            f.write(chunk)
            digest.update(chunk)
    events = standin.subscribe()
    card = (await client.chat_postMessage(channel="C1", text="card"))["ts"]
    tracemalloc.start()
    try:
        file_id, done = await _upload(client, str(path), "video.mp4", 30 * 1024 * 1024, channel_id="C1",
                                      thread_ts=card, initial_comment="Here is your video")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"upload held {peak} bytes in memory"  # streamed, never buffered whole
    assert done["files"][0]["id"] == file_id
    file = standin.files[file_id]
    assert file["size"] == 30 * 1024 * 1024
    [upload] = standin.calls("upload")
    assert upload.params == {"file_id": file_id, "bytes": 30 * 1024 * 1024, "sha256": digest.hexdigest()}
    assert file["_sha256"] == digest.hexdigest()
    [share] = standin.messages("C1", thread_ts=card)
    assert share["files"][0]["id"] == file_id and share["text"] == "Here is your video"
    assert file["shares"]["public"]["C1"][0]["thread_ts"] == card

    kinds = []
    while not events.empty():
        kinds.append(events.get_nowait().kind)
    assert kinds == ["message", "file_shared"]

    info = (await client.files_info(file=file_id))["file"]
    assert info["mimetype"] == "video/mp4" and "C1" in info["channels"]
    # download with the bot token streams the same bytes; without it, Slack's login page
    async with aiohttp.ClientSession() as s:
        async with s.get(info["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            got = hashlib.sha256()
            async for chunk in r.content.iter_chunked(1 << 20):
                got.update(chunk)
        assert got.hexdigest() == digest.hexdigest()
        async with s.get(info["url_private"]) as r:
            assert r.status == 200 and r.content_type == "text/html"


async def test_upload_multipart_and_length_mismatch(standin, client):
    got = await client.files_getUploadURLExternal(filename="a.png", length=5)
    form = aiohttp.FormData()
    form.add_field("filename", b"12345", filename="a.png", content_type="image/png")
    async with aiohttp.ClientSession() as s:
        async with s.post(got["upload_url"], data=form) as r:
            assert r.status == 200
    assert standin.files[got["file_id"]]["_sha256"] == hashlib.sha256(b"12345").hexdigest()

    bad = await client.files_getUploadURLExternal(filename="b.mp4", length=10)
    async with aiohttp.ClientSession() as s:
        async with s.post(bad["upload_url"], data=b"short") as r:
            assert r.status == 400
    with pytest.raises(SlackApiError) as e:
        await client.files_completeUploadExternal(files=[{"id": bad["file_id"]}], channel_id="C1")
    assert error_of(e) == "file_not_found"
    with pytest.raises(SlackApiError) as e:
        await client.files_getUploadURLExternal(filename="c.mp4", length=0)
    assert error_of(e) == "invalid_arguments"


async def test_file_share_needs_membership(standin, client):
    # posting works in the public channel C2 (chat:write.public) but sharing a file does not
    card = (await client.chat_postMessage(channel="C2", text="card"))["ts"]
    with pytest.raises(SlackApiError) as e:
        await _upload(client, b"video", "v.mp4", channel_id="C2", thread_ts=card)
    assert error_of(e) == "not_in_channel"
    assert standin.messages("C2", thread_ts=card) == []
    await client.conversations_join(channel="C2")
    await client.files_completeUploadExternal(
        files=[{"id": standin.calls("files.getUploadURLExternal")[-1].response["file_id"]}],
        channel_id="C2", thread_ts=card)
    assert len(standin.messages("C2", thread_ts=card)) == 1


async def test_upload_url_failure_and_late_share():
    async with SlackStandIn(share_delay=0.2) as s:
        s.add_channel("C1", "general")
        client = AsyncWebClient(token=TOKEN, base_url=s.api_url)
        s.fail("upload")
        got = await client.files_getUploadURLExternal(filename="v.mp4", length=3)
        async with aiohttp.ClientSession() as session:
            async with session.post(got["upload_url"], data=b"abc") as r:
                assert r.status == 500
            async with session.post(got["upload_url"], data=b"abc") as r:
                assert r.status == 200
        await client.files_completeUploadExternal(files=[{"id": got["file_id"]}], channel_id="C1")
        assert s.messages("C1") == []  # the share shows up late, as on Slack
        await asyncio.sleep(0.4)
        assert s.messages("C1")[0]["files"][0]["id"] == got["file_id"]


async def test_delayed_shares_land_at_once_when_told():
    async with SlackStandIn(share_delay=60) as s:
        s.add_channel("C1", "general")
        client = AsyncWebClient(token=TOKEN, base_url=s.api_url)
        got = await client.files_getUploadURLExternal(filename="v.mp4", length=3)
        async with aiohttp.ClientSession() as session, session.post(got["upload_url"], data=b"abc") as r:
            assert r.status == 200
        await client.files_completeUploadExternal(files=[{"id": got["file_id"]}], channel_id="C1")
        assert s.messages("C1") == []
        s.land_shares()
        for _ in range(100):
            if s.messages("C1"):
                break
            await asyncio.sleep(0.05)
        assert s.messages("C1")[0]["files"][0]["id"] == got["file_id"]


async def test_add_file_and_download(standin, client):
    file = standin.add_file("cat.png", b"\x89PNG...", "image/png", channel="C1", user="U1")
    assert file["url_private"].startswith(standin.base_url) and "_path" not in file
    assert standin.messages("C1")[-1]["files"][0]["id"] == file["id"]
    async with aiohttp.ClientSession() as s:
        async with s.get(file["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.content_type == "image/png" and await r.read() == b"\x89PNG..."
    standin.fail("download")
    async with aiohttp.ClientSession() as s:
        async with s.get(file["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 500


async def test_ratelimit_retried_by_slack_sdk_handler(standin):
    standin.fail("chat.update", "ratelimited", retry_after=1, times=1)
    client = AsyncWebClient(token=TOKEN, base_url=standin.api_url,
                            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    ts = (await client.chat_postMessage(channel="C1", text="card"))["ts"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.chat_update(channel="C1", ts=ts, text="v2")
    assert loop.time() - started >= 0.9  # honoured Retry-After
    statuses = [c.status for c in standin.calls("chat.update")]
    assert statuses == [429, 200]
    assert standin.message("C1", ts)["text"] == "v2"


async def test_faults_without_retry_handler(standin, client):
    standin.fail("chat.postMessage", "ratelimited", times=1)
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 429 and e.value.response.headers["Retry-After"] == "1"
    standin.fail("chat.postMessage", "internal_error", times=1)
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 500
    standin.fail("chat.postMessage", "not_in_channel", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as e:
            await client.chat_postMessage(channel="C1", text="x")
        assert error_of(e) == "not_in_channel"
    await client.chat_postMessage(channel="C1", text="x")  # used up
    standin.fail("auth.test", "fatal_error", times=None)
    for _ in range(3):
        with pytest.raises(SlackApiError):
            await client.auth_test()
    standin.clear_faults()
    await client.auth_test()


async def test_events_and_response_url(standin, client):
    seen = []
    standin.on_event(seen.append)
    queue = standin.subscribe()
    ts = (await client.chat_postMessage(channel="C1", text="a"))["ts"]
    await client.chat_update(channel="C1", ts=ts, text="b")
    await client.chat_postEphemeral(channel="C1", user="U1", text="c")
    await client.views_open(trigger_id="1.1", view=MODAL)
    url = standin.new_response_url()
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"text": "only you", "response_type": "ephemeral"}) as r:
            assert r.status == 200
    kinds = [e.kind for e in seen]
    assert kinds == ["message", "message_changed", "ephemeral", "view_opened", "response"]
    assert queue.qsize() == 5
    assert standin.responses[-1]["body"]["text"] == "only you"
    assert url.endswith(standin.responses[-1]["id"])
    standin.unsubscribe(queue)


async def test_slow_method(standin, client):
    standin.slow("auth.test", 0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.auth_test()
    assert loop.time() - started >= 0.2


async def test_response_url_replace_in_channel_delete(standin, client):
    ts = (await client.chat_postMessage(channel="C1", text="card"))["ts"]
    url = standin.new_response_url("C1", ts, "U1")
    async with aiohttp.ClientSession() as s:
        await s.post(url, json={"replace_original": True, "text": "card v2"})
        assert standin.message("C1", ts)["text"] == "card v2"
        await s.post(standin.new_response_url("C1", None, "U1"), json={"response_type": "in_channel", "text": "hi all"})
        assert standin.messages("C1")[-1]["text"] == "hi all"
        await s.post(url, json={"delete_original": True})
        assert standin.message("C1", ts) is None
        async with s.post(url, data=b"not json") as r:
            assert r.status == 400
    assert [r["channel"] for r in standin.responses] == ["C1", "C1", "C1"]
    assert standin.responses[0]["user"] == "U1"


async def test_wait_helpers(standin, client):
    async def later():
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C1", text="done")

    task = asyncio.create_task(later())
    message = await standin.wait_for_message("C1", predicate=lambda m: m["text"] == "done")
    assert message["text"] == "done"
    call = await standin.wait_for_call("chat.postMessage")
    assert call.params["text"] == "done"
    await task
    with pytest.raises(TimeoutError):
        await standin.wait_for_call("chat.update", timeout=0.05)


async def test_rate_limit_window(standin, client):
    standin.limit("chat.update", 3, period=60)
    ts = (await client.chat_postMessage(channel="C1", text="card"))["ts"]
    for i in range(3):
        await client.chat_update(channel="C1", ts=ts, text=f"v{i}")
    with pytest.raises(SlackApiError) as e:
        await client.chat_update(channel="C1", ts=ts, text="too many")
    assert e.value.response.status_code == 429
    assert 55 <= int(e.value.response.headers["Retry-After"]) <= 60

    standin.limit("chat.postMessage", 1, period=1.0, per_channel=True)
    await client.chat_postMessage(channel="C2", text="other channel has its own window")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C2", text="second within a second")
    standin.clear_faults()
    await client.chat_update(channel="C1", ts=ts, text="fine again")


async def test_channel_by_name(standin, client):
    r = await client.chat_postMessage(channel="#general", text="by name")
    assert r["channel"] == "C1"
