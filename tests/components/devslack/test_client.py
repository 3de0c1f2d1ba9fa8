"""SlackSender against a real Bolt AsyncApp whose Web API calls go to the stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack import SlackSender, SlackStandIn, fill_view, sign

SECRET = "dev-signing-secret"

MODAL = {
    "type": "modal",
    "callback_id": "wan_modal",
    "title": {"type": "plain_text", "text": "Wan"},
    "submit": {"type": "plain_text", "text": "Go"},
    "blocks": [
        {"type": "actions", "block_id": "mode",
         "elements": [{"type": "static_select", "action_id": "pick_mode",
                       "options": [{"text": {"type": "plain_text", "text": m}, "value": m} for m in ("t2v", "i2v")],
                       "initial_option": {"text": {"type": "plain_text", "text": "t2v"}, "value": "t2v"}}]},
        {"type": "input", "block_id": "prompt", "label": {"type": "plain_text", "text": "Prompt"},
         "element": {"type": "plain_text_input", "action_id": "value"}},
        {"type": "input", "block_id": "duration", "label": {"type": "plain_text", "text": "Duration"},
         "element": {"type": "number_input", "action_id": "value", "is_decimal_allowed": False,
                     "initial_value": "5", "min_value": "2", "max_value": "15"}},
        {"type": "input", "block_id": "image", "optional": True, "label": {"type": "plain_text", "text": "Image"},
         "element": {"type": "url_text_input", "action_id": "value"}},
        {"type": "input", "block_id": "ratio", "label": {"type": "plain_text", "text": "Ratio"},
         "element": {"type": "static_select", "action_id": "value",
                     "option_groups": [{"label": {"type": "plain_text", "text": "all"},
                                        "options": [{"text": {"type": "plain_text", "text": r}, "value": r}
                                                    for r in ("16:9", "9:16")]}]}},
        {"type": "input", "block_id": "tags", "optional": True, "label": {"type": "plain_text", "text": "Tags"},
         "element": {"type": "multi_static_select", "action_id": "value",
                     "options": [{"text": {"type": "plain_text", "text": t}, "value": t} for t in ("a", "b")]}},
    ],
}


def test_sign_matches_slack_sdk_verifier():
    body = "token=x&text=%2Fwan+t2v"
    ts = str(int(time.time()))
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, ts, sign(SECRET, ts, body))
    assert not verifier.is_valid(body, ts, sign("other", ts, body))
    stale = str(int(time.time()) - 600)
    assert not verifier.is_valid(body, stale, sign(SECRET, stale, body))


def test_fill_view_shapes():
    filled = fill_view(MODAL, {"prompt": "a fox", "duration": 8, "ratio": "9:16", "tags": ["a", "b"]})
    values = filled["state"]["values"]
    assert values["prompt"]["value"] == {"type": "plain_text_input", "value": "a fox"}
    assert values["duration"]["value"] == {"type": "number_input", "value": "8"}
    assert values["image"]["value"] == {"type": "url_text_input", "value": None}
    assert values["ratio"]["value"]["selected_option"]["value"] == "9:16"
    assert [o["value"] for o in values["tags"]["value"]["selected_options"]] == ["a", "b"]
    assert values["mode"]["pick_mode"]["selected_option"]["value"] == "t2v"  # initial option kept
    assert "state" not in MODAL  # the original is untouched
    # initial values stand when not given; unknown keys and options are mistakes
    assert fill_view(MODAL)["state"]["values"]["duration"]["value"]["value"] == "5"
    with pytest.raises(KeyError):
        fill_view(MODAL, {"nope": 1})
    with pytest.raises(ValueError):
        fill_view(MODAL, {"ratio": "1:1"})
    by_both = fill_view(MODAL, {"mode.pick_mode": "i2v"})
    assert by_both["state"]["values"]["mode"]["pick_mode"]["selected_option"]["value"] == "i2v"


@pytest.fixture
async def world():
    """Stand-in + a small Bolt app (HTTP mode) whose listeners record what they received."""
    standin = await SlackStandIn().start()
    standin.add_channel("C1", "general")
    standin.add_user("U1", "ana")
    seen: dict[str, list] = {}
    app = AsyncApp(token=standin.bot_token, signing_secret=SECRET,
                   client=AsyncWebClient(token=standin.bot_token, base_url=standin.api_url))

    @app.command("/wan")
    async def wan(ack, command, client, respond):
        await ack()
        seen.setdefault("command", []).append(command)
        if command["text"] == "modal":
            await client.views_open(trigger_id=command["trigger_id"], view=MODAL)
        else:
            await respond(f"got {command['text']}")

    @app.action("cancel")
    async def cancel(ack, body, client):
        await ack()
        seen.setdefault("action", []).append(body)

    @app.action("pick_mode")
    async def pick(ack, body, client):
        await ack()
        seen.setdefault("pick", []).append(body)
        view = body["view"]
        await client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)

    @app.view("wan_modal")
    async def submit(ack, view, body):
        seen.setdefault("submit", []).append(body)
        prompt = view["state"]["values"]["prompt"]["value"]["value"]
        if not prompt:
            await ack(response_action="errors", errors={"prompt": "Say what to make"})
        else:
            await ack()

    @app.view_closed("wan_modal")
    async def closed(ack, body):
        await ack()
        seen.setdefault("closed", []).append(body)

    @app.shortcut("triage")
    async def triage(ack, shortcut):
        await ack()
        seen.setdefault("shortcut", []).append(shortcut)

    @app.event("message")
    async def message(event):
        seen.setdefault("event", []).append(event)

    runner = web.AppRunner(app.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sender = SlackSender(f"http://127.0.0.1:{port}", SECRET, standin=standin)
    yield standin, sender, seen
    await sender.close()
    await runner.cleanup()
    await standin.close()


async def wait_for(predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_slash_command_and_response_url(world):
    standin, sender, seen = world
    reply = await sender.slash_command("t2v a fox", user_id="U1", channel_id="C1")
    assert reply.status == 200 and reply.elapsed < 3
    command = seen["command"][0]
    assert command["command"] == "/wan" and command["text"] == "t2v a fox"
    assert command["user_name"] == "ana" and command["channel_name"] == "general"
    assert command["trigger_id"] and command["team_id"] == "T0DEV"
    await wait_for(lambda: standin.responses)
    assert standin.responses[0]["body"]["text"] == "got t2v a fox"
    assert command["response_url"].endswith(standin.responses[0]["id"])
    assert parse_qs(reply.body)["text"] == ["t2v a fox"]


async def test_forged_stale_and_retried_requests(world):
    standin, sender, seen = world
    assert (await sender.slash_command("x", forge=True)).status == 401
    assert (await sender.slash_command("x", stale=True)).status == 401
    assert "command" not in seen
    first = await sender.slash_command("again", user_id="U1", channel_id="C1")
    retry = await sender.resend(first, retry_num=1, retry_reason="http_timeout")
    assert retry.status == 200
    assert [c["trigger_id"] for c in seen["command"]] == [first.sent["trigger_id"]] * 2


async def test_modal_cycle_with_inline_errors(world):
    standin, sender, seen = world
    await sender.slash_command("modal", user_id="U1", channel_id="C1")
    await wait_for(lambda: standin.views)
    view = standin.last_view()

    await sender.block_action("pick_mode", "i2v", user_id="U1", view=view)
    await wait_for(lambda: standin.calls("views.update"))
    pick = seen["pick"][0]
    assert pick["container"] == {"type": "view", "view_id": view["id"]}
    assert pick["actions"][0]["selected_option"]["value"] == "i2v"
    assert pick["actions"][0]["block_id"] == "mode" and pick["actions"][0]["type"] == "static_select"
    assert standin.calls("views.update")[0].response["ok"] is True

    view = standin.views[view["id"]]
    reply = await sender.view_submission(view, "U1", {"prompt": "", "ratio": "16:9"})
    assert reply.status == 200
    assert reply.json() == {"response_action": "errors", "errors": {"prompt": "Say what to make"}}
    assert view["id"] not in standin.closed_views  # errors keep the modal open
    reply = await sender.view_submission(view, "U1", {"prompt": "a fox", "ratio": "16:9"})
    assert reply.status == 200 and not reply.text
    assert view["id"] in standin.closed_views
    submitted = seen["submit"][-1]["view"]
    assert submitted["id"] == view["id"] and submitted["state"]["values"]["duration"]["value"]["value"] == "5"

    await sender.view_closed(view, "U1")
    assert seen["closed"][0]["type"] == "view_closed"


async def test_block_action_on_a_message(world):
    standin, sender, seen = world
    client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
    blocks = [{"type": "actions", "block_id": "card",
               "elements": [{"type": "button", "action_id": "cancel", "value": "job-1",
                             "text": {"type": "plain_text", "text": "Cancel"}}]}]
    ts = (await client.chat_postMessage(channel="C1", text="card", blocks=blocks))["ts"]
    reply = await sender.block_action("cancel", user_id="U1", channel_id="C1", message_ts=ts)
    assert reply.status == 200
    body = seen["action"][0]
    assert body["type"] == "block_actions"
    assert body["container"]["message_ts"] == ts and body["channel"]["id"] == "C1"
    assert body["actions"][0]["value"] == "job-1" and body["actions"][0]["block_id"] == "card"
    assert body["message"]["blocks"] == blocks and body["response_url"]


async def test_shortcut_and_events(world):
    standin, sender, seen = world
    message = {"type": "message", "ts": "1700000000.000100", "user": "U1", "text": "I was charged"}
    reply = await sender.message_shortcut("triage", message, "C1", "U1")
    assert reply.status == 200
    assert seen["shortcut"][0]["message"]["text"] == "I was charged"

    file = standin.add_file("cat.png", b"png", "image/png", channel="C1", user="U1")
    reply = await sender.file_shared_message(file, "C1", "U1")
    assert reply.status == 200
    await wait_for(lambda: seen.get("event"))
    assert seen["event"][0]["files"][0]["id"] == file["id"]

    verify = await sender.url_verification("xyz")
    assert verify.status == 200 and "xyz" in verify.text


async def test_raw_payload_is_form_encoded_json(world):
    standin, sender, seen = world
    reply = await sender.view_closed(MODAL, "U1")
    payload = json.loads(parse_qs(reply.body)["payload"][0])
    assert payload["type"] == "view_closed" and payload["user"]["id"] == "U1"
