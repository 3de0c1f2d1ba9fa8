"""Send signed requests to the bot's HTTP endpoint exactly as Slack does.

Slash commands are form-encoded fields; interactive payloads (block_actions, view_submission,
view_closed, message_action) are form-encoded `payload=<json>`; Events API callbacks are JSON.
Every request carries `X-Slack-Request-Timestamp` and `X-Slack-Signature`
(`v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.devslack.server import SlackStandIn


def sign(secret: str, timestamp: str | int, body: str | bytes) -> str:
    """Slack's v0 request signature."""
    if isinstance(body, bytes):
        body = body.decode()
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Reply:
    """The bot's answer to one request, plus what was sent."""

    status: int
    text: str
    headers: dict[str, str]
    elapsed: float
    sent: dict[str, Any] = field(default_factory=dict)  # the payload or form fields
    body: str = ""  # the raw request body, for resending
    content_type: str = ""

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


# Which key in state.values holds a value, per element type.
_VALUE_KEYS = {
    "plain_text_input": "value", "number_input": "value", "url_text_input": "value",
    "email_text_input": "value", "rich_text_input": "rich_text_value",
    "static_select": "selected_option", "external_select": "selected_option",
    "radio_buttons": "selected_option", "multi_static_select": "selected_options",
    "multi_external_select": "selected_options", "checkboxes": "selected_options",
    "users_select": "selected_user", "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation", "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel", "multi_channels_select": "selected_channels",
    "datepicker": "selected_date", "timepicker": "selected_time", "datetimepicker": "selected_date_time",
    "file_input": "files",
}
_INITIAL_KEYS = {
    "value": "initial_value", "selected_option": "initial_option", "selected_options": "initial_options",
    "selected_user": "initial_user", "selected_users": "initial_users",
    "selected_conversation": "initial_conversation", "selected_conversations": "initial_conversations",
    "selected_channel": "initial_channel", "selected_channels": "initial_channels",
    "selected_date": "initial_date", "selected_time": "initial_time", "selected_date_time": "initial_date_time",
    "rich_text_value": "initial_value",
}
_LIST_KEYS = {"selected_users", "selected_conversations", "selected_channels", "files"}


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    for option in _options(element):
        if option.get("value") == str(value):
            return option
    if element["type"].startswith(("external", "multi_external")):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    raise ValueError(f"{value!r} is not an option of {element.get('action_id')!r}")


def _element_value(element: dict[str, Any], key: str, value: Any) -> Any:
    if value is None:
        return [] if key in _LIST_KEYS or key == "selected_options" else None
    if key == "selected_option":
        return _option(element, value)
    if key == "selected_options":
        values = value if isinstance(value, list | tuple) else [value]
        return [_option(element, v) for v in values]
    if key in _LIST_KEYS:
        return list(value) if isinstance(value, list | tuple) else [value]
    if key == "selected_date_time":
        return int(value)
    return str(value)


def _interactive_elements(view: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every element that contributes to state.values."""
    found = []
    for block in view.get("blocks", []):
        block_id = block.get("block_id")
        if not block_id:
            continue
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            found.append((block_id, block["element"]))
        elif block.get("type") == "actions":
            found += [(block_id, e) for e in block.get("elements", []) if e.get("type") in _VALUE_KEYS]
        elif block.get("type") == "section" and (block.get("accessory") or {}).get("type") in _VALUE_KEYS:
            found.append((block_id, block["accessory"]))
    return found


def fill_view(view: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `view` with `state.values` as Slack sends it on submission.

    `values` maps a block_id, an action_id or "block_id.action_id" to what the user entered: a string
    or number for text/number/url inputs, an option value (or option dict) for selects and radio
    buttons, a list for multi-selects and checkboxes. Elements not mentioned keep their initial value
    (or none), as in Slack.
    """
    values = dict(values or {})
    used: set[str] = set()
    state: dict[str, dict[str, Any]] = {}
    for block_id, element in _interactive_elements(view):
        action_id = element.get("action_id") or "action"
        kind = element.get("type", "")
        key = _VALUE_KEYS.get(kind)
        if key is None:
            continue
        entry: dict[str, Any] = {"type": kind}
        name = next((n for n in (f"{block_id}.{action_id}", block_id, action_id) if n in values), None)
        if name is not None:
            used.add(name)
            entry[key] = _element_value(element, key, values[name])
        elif _INITIAL_KEYS[key] in element:
            entry[key] = copy.deepcopy(element[_INITIAL_KEYS[key]])
        elif key in _LIST_KEYS or key == "selected_options":
            entry[key] = []
        else:
            entry[key] = None
        state.setdefault(block_id, {})[action_id] = entry
    unknown = set(values) - used
    if unknown:
        raise KeyError(f"no input for {sorted(unknown)} in the view")
    filled = copy.deepcopy(view)
    filled["state"] = {"values": state}
    return filled


class SlackSender:
    """Plays Slack towards the bot: `POST {bot_url}/slack/events`, signed.

    Every request method takes the keyword options `forge=True` (signature made with a wrong secret),
    `stale=True` (timestamp ten minutes old), `retry_num`/`retry_reason` (Slack's retry headers),
    and `timestamp=`/`signature=` to set them outright.
    """

    def __init__(
        self,
        bot_url: str,
        signing_secret: str = "dev-signing-secret",
        *,
        standin: SlackStandIn | None = None,
        path: str = "/slack/events",
        team_id: str | None = None,
        team_domain: str | None = None,
        api_app_id: str | None = None,
        timeout: float = 30.0,
    ):
        self.url = bot_url.rstrip("/") + path
        self.signing_secret = signing_secret
        self.standin = standin
        self.team_id = team_id or (standin.team_id if standin else "T0DEV")
        self.team_domain = team_domain or (standin.team_domain if standin else "wanbot-dev")
        self.api_app_id = api_app_id or (standin.app_id if standin else "A0DEV")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SlackSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- plumbing -----

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        sent: dict[str, Any] | None = None,
        forge: bool = False,
        stale: bool = False,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: str | int | None = None,
        signature: str | None = None,
    ) -> Reply:
        """Post a raw body, signed like Slack signs it."""
        if timestamp is None:
            timestamp = int(time.time()) - (600 if stale else 0)
        if signature is None:
            secret = "forged-" + secrets.token_hex(8) if forge else self.signing_secret
            signature = sign(secret, timestamp, body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        started = time.monotonic()
        async with self._session.post(self.url, data=body.encode(), headers=headers) as response:
            text = await response.text()
            return Reply(response.status, text, dict(response.headers), time.monotonic() - started,
                         sent or {}, body, content_type)

    async def resend(self, reply: Reply, retry_num: int = 1, retry_reason: str = "http_timeout", **options: Any) -> Reply:
        """Send the same body again as Slack's retry does (fresh signature, retry headers)."""
        return await self.post(reply.body, reply.content_type, sent=reply.sent, retry_num=retry_num,
                               retry_reason=retry_reason, **options)

    async def _form(self, fields: dict[str, Any], **options: Any) -> Reply:
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded", sent=fields, **options)

    async def _interactive(self, payload: dict[str, Any], **options: Any) -> Reply:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", sent=payload, **options)

    def _trigger(self) -> str:
        if self.standin is not None:
            return self.standin.new_trigger_id()
        return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"

    def _response_url(self, channel: str | None, message_ts: str | None = None, user: str | None = None) -> str:
        if self.standin is not None:
            return self.standin.new_response_url(channel, message_ts, user)
        return f"http://127.0.0.1:9/response/{secrets.token_hex(8)}"

    def _user(self, user_id: str) -> dict[str, Any]:
        name = user_id.lower()
        if self.standin is not None and user_id in self.standin.users:
            name = self.standin.users[user_id]["name"]
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _channel(self, channel_id: str | None) -> dict[str, Any] | None:
        if channel_id is None:
            return None
        name = channel_id.lower()
        if self.standin is not None and channel_id in self.standin.channels:
            name = self.standin.channels[channel_id]["name"]
        return {"id": channel_id, "name": name}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    # ----- what Slack sends -----

    async def slash_command(
        self,
        text: str,
        user_id: str = "U0HUMAN",
        channel_id: str = "C0DEV",
        *,
        command: str = "/wan",
        trigger_id: str | None = None,
        response_url: str | None = None,
        **options: Any,
    ) -> Reply:
        channel = self._channel(channel_id) or {}
        fields = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel.get("name", ""),
            "user_id": user_id,
            "user_name": self._user(user_id)["name"],
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(channel_id, None, user_id),
            "trigger_id": trigger_id or self._trigger(),
        }
        return await self._form(fields, **options)

    async def block_action(
        self,
        action_id: str,
        value: Any = None,
        *,
        user_id: str = "U0HUMAN",
        channel_id: str | None = None,
        message_ts: str | None = None,
        message: dict[str, Any] | None = None,
        block_id: str | None = None,
        action_type: str | None = None,
        view: dict[str, Any] | None = None,
        view_values: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        is_ephemeral: bool = False,
        trigger_id: str | None = None,
        response_url: str | None = None,
        **options: Any,
    ) -> Reply:
        """A click or selection: on a message (channel_id + message_ts) or inside a modal (view).

        The element is looked up by action_id in the message's or view's blocks (the message is taken
        from the stand-in when not given) to fill in block_id, type and the chosen option.
        """
        if message is None and self.standin is not None and channel_id and message_ts:
            message = self.standin.message(channel_id, message_ts)
        source = view if view is not None else message or {}
        found_block, element = _find_element(source, action_id)
        action_type = action_type or (element or {}).get("type", "button")
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block or "block",
            "type": action_type,
            "action_ts": f"{time.time():.6f}",
        }
        key = _VALUE_KEYS.get(action_type)
        if action_type == "button":
            if element and "text" in element:
                action["text"] = element["text"]
            action["value"] = str(value) if value is not None else (element or {}).get("value")
        elif key is not None:
            action[key] = _element_value(element or {"type": action_type}, key, value)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": "deprecated-verification-token",
            "trigger_id": trigger_id or self._trigger(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [action],
        }
        if view is not None:
            filled = fill_view(view, view_values)
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = filled
            payload["state"] = filled["state"]
        else:
            container = {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                         "is_ephemeral": is_ephemeral}
            if thread_ts or (message or {}).get("thread_ts"):
                container["thread_ts"] = thread_ts or (message or {}).get("thread_ts")
            payload["container"] = container
            payload["channel"] = self._channel(channel_id)
            payload["message"] = message or {"type": "message", "ts": message_ts, "text": ""}
            payload["state"] = {"values": {}}
            payload["response_url"] = response_url or self._response_url(channel_id, message_ts, user_id)
        return await self._interactive(payload, **options)

    async def view_submission(
        self, view: dict[str, Any], user_id: str = "U0HUMAN", values: dict[str, Any] | None = None,
        *, trigger_id: str | None = None, **options: Any,
    ) -> Reply:
        """Submit a modal: `view` as opened (from the stand-in), with `values` filled in via fill_view.

        Without `values`, the view's own `state.values` are sent as they are.
        """
        submitted = fill_view(view, values) if values is not None or not view.get("state", {}).get("values") \
            else copy.deepcopy(view)
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": "deprecated-verification-token",
            "trigger_id": trigger_id or self._trigger(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        reply = await self._interactive(payload, **options)
        if self.standin is not None and reply.status == 200 and view.get("id") in self.standin.views:
            try:
                answer = reply.json()
            except ValueError:
                answer = None
            self.standin.view_answered(view["id"], answer)
        return reply

    async def view_closed(
        self, view: dict[str, Any], user_id: str = "U0HUMAN", *, is_cleared: bool = False, **options: Any
    ) -> Reply:
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": "deprecated-verification-token",
            "view": copy.deepcopy(view),
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._interactive(payload, **options)

    async def message_shortcut(
        self,
        callback_id: str,
        message: dict[str, Any],
        channel_id: str,
        user_id: str = "U0HUMAN",
        *,
        trigger_id: str | None = None,
        response_url: str | None = None,
        **options: Any,
    ) -> Reply:
        payload = {
            "type": "message_action",
            "token": "deprecated-verification-token",
            "action_ts": f"{time.time():.6f}",
            "team": self._team(),
            "user": self._user(user_id),
            "channel": self._channel(channel_id),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id or self._trigger(),
            "response_url": response_url or self._response_url(channel_id, None, user_id),
            "message_ts": message.get("ts"),
            "message": message,
        }
        return await self._interactive(payload, **options)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, **options: Any) -> Reply:
        """An Events API callback wrapping `event` (e.g. a message with files)."""
        event = dict(event)
        event.setdefault("event_ts", f"{time.time():.6f}")
        envelope = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [{
                "enterprise_id": None, "team_id": self.team_id, "is_bot": True, "is_enterprise_install": False,
                "user_id": self.standin.bot_user_id if self.standin else "U0BOT",
            }],
            "is_ext_shared_channel": False,
        }
        return await self.post(json.dumps(envelope), "application/json", sent=envelope, **options)

    async def file_shared_message(
        self, file: dict[str, Any], channel_id: str, user_id: str = "U0HUMAN", text: str = "", **options: Any
    ) -> Reply:
        """The `message` event (subtype file_share) Slack sends when a person shares `file`."""
        event = {
            "type": "message", "subtype": "file_share", "text": text, "user": user_id, "upload": False,
            "ts": f"{time.time():.6f}", "channel": channel_id, "channel_type": "channel",
            "files": [file], "display_as_bot": False,
        }
        return await self.event(event, **options)

    async def url_verification(self, challenge: str = "dev-challenge", **options: Any) -> Reply:
        body = {"token": "deprecated-verification-token", "challenge": challenge, "type": "url_verification"}
        return await self.post(json.dumps(body), "application/json", sent=body, **options)


def _find_element(source: dict[str, Any], action_id: str) -> tuple[str | None, dict[str, Any] | None]:
    for block in source.get("blocks") or []:
        elements = list(block.get("elements") or [])
        for extra in (block.get("accessory"), block.get("element")):
            if isinstance(extra, dict):
                elements.append(extra)
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block.get("block_id"), element
    return None, None
