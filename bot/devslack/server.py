"""A local Slack stand-in: the Web API methods wanbot calls, served by aiohttp on 127.0.0.1.

Point a real `slack_sdk` client at it with `AsyncWebClient(token, base_url=standin.api_url)`.
It keeps channels, messages, views, files, users and user groups in memory, records every call,
can inject faults per method, and tells subscribers what the bot made visible.

Behaviour copied from Slack on purpose (the traps the bot must handle):
- `chat.postMessage` into a public channel works without membership (`chat:write.public`), but
  `files.completeUploadExternal` (and `chat.postEphemeral`, by default) need the bot in the channel:
  `not_in_channel`; private channels the bot is not in look like `channel_not_found`.
- `url_private` downloads need `Authorization: Bearer <bot token>`; without it Slack answers
  200 with an HTML login page, and so does this stand-in.
- `share_delay` makes the file share message appear some time after `files.completeUploadExternal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import mimetypes
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from bot.devslack.state import Call, Event, Fault, Ids, SlackError

JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


class _Sink:
    """Writes an upload to disk while counting bytes and hashing them (never the whole body in memory)."""

    def __init__(self, path: Path):
        self.path = path
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._file = path.open("wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.size += len(chunk)
        self.sha256.update(chunk)

    def close(self) -> None:
        self._file.close()


class SlackStandIn:
    def __init__(
        self,
        bot_token: str = "xoxb-dev-local",
        signing_secret: str = "dev-signing-secret",
        team_id: str = "T0DEV",
        *,
        team_domain: str = "wanbot-dev",
        bot_user_id: str = "U0BOT",
        bot_name: str = "wanbot",
        bot_id: str = "B0BOT",
        app_id: str = "A0DEV",
        upload_dir: str | Path | None = None,
        share_delay: float = 0.0,
        ephemeral_needs_membership: bool = True,
        check_triggers: bool = False,
    ):
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_name = bot_name
        self.bot_id = bot_id
        self.app_id = app_id
        self.share_delay = share_delay
        self.ephemeral_needs_membership = ephemeral_needs_membership
        self.check_triggers = check_triggers

        self._own_dir = upload_dir is None
        self.upload_dir = Path(upload_dir or tempfile.mkdtemp(prefix="devslack-"))
        self.upload_dir.mkdir(parents=True, exist_ok=True)

        self.channels: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.closed_views: set[str] = set()
        self.files: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._calls: list[Call] = []
        self._faults: dict[str, list[Fault]] = {}
        self._delays: dict[str, float] = {}
        self._limits: dict[str, tuple[int, float, bool]] = {}
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._triggers: dict[str, float] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._callbacks: list[Callable[[Event], Any]] = []
        self._ids = Ids()
        self._pending: set[asyncio.Task[Any]] = set()

        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.add_user(bot_user_id, bot_name, is_bot=True)

        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "api.test": lambda p: {"args": p},
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
        }

    # ----- lifecycle -----

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{file_id}/{name}", self._handle_download)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackStandIn:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_dir:
            shutil.rmtree(self.upload_dir, ignore_errors=True)

    async def __aenter__(self) -> SlackStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.base_url + "api/"

    # ----- setting the scene -----

    def add_channel(
        self, id: str, name: str, member: bool = True, is_private: bool = False, is_archived: bool = False
    ) -> dict[str, Any]:
        channel = {
            "id": id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_private": is_private,
            "is_archived": is_archived,
            "is_member": member,
            "created": int(time.time()),
        }
        self.channels[id] = channel
        self._messages.setdefault(id, [])
        return channel

    def archive(self, channel: str, archived: bool = True) -> None:
        self.channels[channel]["is_archived"] = archived

    def set_member(self, channel: str, member: bool = True) -> None:
        """Invite the bot into (or remove it from) a channel, as a person would."""
        self.channels[channel]["is_member"] = member

    def add_user(
        self, id: str, name: str, is_admin: bool = False, real_name: str | None = None, is_bot: bool = False
    ) -> dict[str, Any]:
        real_name = real_name or name.replace(".", " ").title()
        user = {
            "id": id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name,
            "deleted": False,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "tz": "UTC",
            "profile": {"real_name": real_name, "display_name": name},
        }
        self.users[id] = user
        return user

    def add_usergroup(self, id: str, user_ids: list[str]) -> None:
        self.usergroups[id] = list(user_ids)

    def add_file(
        self, name: str, data: bytes, mimetype: str = "application/octet-stream", channel: str | None = None,
        user: str = "U0HUMAN", title: str | None = None,
    ) -> dict[str, Any]:
        """A file a person shared (e.g. an image for i2v); posted into `channel` when given."""
        file_id = self._ids.make("F")
        path = self._file_path(file_id, name)
        path.write_bytes(data)
        file = self._file_dict(file_id, name, title or name, mimetype, len(data), user)
        file["_path"] = str(path)
        file["_sha256"] = hashlib.sha256(data).hexdigest()
        self.files[file_id] = file
        if channel is not None:
            ts = self._ids.ts()
            self._share(file, channel, ts, None)
            message = {"type": "message", "subtype": "file_share", "ts": ts, "user": user,
                       "text": "", "files": [self.public_file(file)], "upload": True}
            self._messages.setdefault(channel, []).append(message)
        return self.public_file(file)

    def new_trigger_id(self) -> str:
        trigger = f"{int(time.time())}.{self._ids.make('')}.{self._ids.make('')}".lower()
        self._triggers[trigger] = time.monotonic()
        return trigger

    def new_response_url(self, channel: str | None = None, message_ts: str | None = None,
                         user: str | None = None) -> str:
        """A response_url for a slash command (channel, user) or an action on a message (+ message_ts)."""
        response_id = self._ids.make("R")
        self._response_urls[response_id] = {"channel": channel, "message_ts": message_ts, "user": user}
        return f"{self.base_url}response/{response_id}"

    # ----- faults -----

    def fail(
        self, method: str, error: str | None = None, status: int | None = None,
        retry_after: int | None = None, times: int | None = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail (None: until `clear_faults`).

        The error defaults to "ratelimited": HTTP 429 with Retry-After: 1. "internal_error" and
        "fatal_error" answer HTTP 500;
        other errors ("channel_not_found", "not_in_channel", "is_archived", ...) to 200 with ok=false.
        `method` "upload" makes the POST to the upload URL answer `status` (default 500, internal_error);
        "download" does the same for url_private.
        """
        if error is None:
            error = "internal_error" if method in ("upload", "download") else "ratelimited"
        if status is None:
            if error == "ratelimited":
                status = 429
            elif error in ("internal_error", "fatal_error") or method in ("upload", "download"):
                status = 500
            else:
                status = 200
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.setdefault(method, []).append(Fault(error, status, retry_after, times))

    def limit(self, method: str, calls: int, period: float = 60.0, per_channel: bool = False) -> None:
        """Enforce a rate limit like Slack's tiers: more than `calls` in `period` seconds answers 429
        with Retry-After until the window frees up (e.g. `limit("chat.update", 50)` for Tier 3;
        `limit("chat.postMessage", 1, 1.0, per_channel=True)` for its one-per-second-per-channel)."""
        self._limits[method] = (calls, period, per_channel)

    def _rate_limited(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait when `method` is over its limit, else None (and the call is counted)."""
        if method not in self._limits:
            return None
        calls, period, per_channel = self._limits[method]
        key = (method, str(params.get("channel") or params.get("channel_id") or "")) if per_channel else (method, "")
        now = time.monotonic()
        window = [t for t in self._windows.get(key, []) if now - t < period]
        self._windows[key] = window
        if len(window) >= calls:
            return max(1, math.ceil(period - (now - window[0])))
        window.append(now)
        return None

    def slow(self, method: str, seconds: float) -> None:
        """Delay every answer of `method` (0 removes the delay)."""
        self._delays[method] = seconds

    def clear_faults(self) -> None:
        """Remove injected faults, delays and rate limits."""
        self._faults.clear()
        self._delays.clear()
        self._limits.clear()
        self._windows.clear()

    def _take_fault(self, method: str) -> Fault | None:
        faults = self._faults.get(method, [])
        while faults:
            if faults[0].take():
                return faults[0]
            faults.pop(0)
        return None

    # ----- looking at what happened -----

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self._calls if method is None or c.method == method]

    def clear_calls(self) -> None:
        self._calls.clear()

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """All messages in `channel` in posting order; with `thread_ts`, only that thread's replies."""
        messages = self._messages.get(channel, [])
        if thread_ts is None:
            return list(messages)
        return [m for m in messages if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll `predicate` until it returns something truthy (the bot works after its ack)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.01)
        return result

    async def wait_for_message(
        self, channel: str, thread_ts: str | None = None,
        predicate: Callable[[dict[str, Any]], Any] | None = None, timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The first message in the channel (or thread) matching `predicate`, waiting for it if need be."""
        def find() -> dict[str, Any] | None:
            return next((m for m in self.messages(channel, thread_ts) if predicate is None or predicate(m)), None)

        return await self.wait_until(find, timeout)

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> Call:
        """The `count`-th call of `method`, waiting for it if need be."""
        return (await self.wait_until(lambda: self.calls(method)[count - 1:], timeout))[0]

    def last_view(self) -> dict[str, Any] | None:
        return list(self.views.values())[-1] if self.views else None

    def file_path(self, file_id: str) -> Path:
        """Where an uploaded or added file's bytes are on disk."""
        return Path(self.files[file_id]["_path"])

    def public_file(self, file: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in file.items() if not k.startswith("_")}

    # ----- events -----

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every Event from now on (`unsubscribe` it when done)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    def on_event(self, callback: Callable[[Event], Any]) -> None:
        """Call `callback(event)` for every Event (a sync function; keep it quick)."""
        self._callbacks.append(callback)

    def _emit(self, kind: str, channel: str | None = None, ts: str | None = None,
              thread_ts: str | None = None, **data: Any) -> None:
        event = Event(kind, channel, ts, thread_ts, data)
        for queue in self._subscribers:
            queue.put_nowait(event)
        for callback in self._callbacks:
            callback(event)

    # ----- HTTP handlers -----

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, token = await self._read_params(request)
        delay = self._delays.get(method)
        if delay:
            await asyncio.sleep(delay)
        status, headers = 200, {}
        if token != self.bot_token:
            body: dict[str, Any] = {"ok": False, "error": "not_authed" if not token else "invalid_auth"}
        elif (fault := self._take_fault(method)) is not None:
            body = {"ok": False, "error": fault.error}
            status = fault.status
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
        elif (wait := self._rate_limited(method, params)) is not None:
            body = {"ok": False, "error": "ratelimited"}
            status = 429
            headers["Retry-After"] = str(wait)
        elif method not in self._methods:
            body = {"ok": False, "error": "unknown_method"}
        else:
            try:
                result = self._methods[method](params)
                body = {"ok": True, **(result or {})}
            except SlackError as exc:
                body = {"ok": False, "error": exc.code, **exc.extra}
        self._calls.append(Call(method, params, time.time(), body, status))
        return web.json_response(body, status=status, headers=headers)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str) and params[key][:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        token = params.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        return params, token

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.get("_state") != "pending":
            return web.Response(status=404, text="not found")
        if (fault := self._take_fault("upload")) is not None:
            await request.release()
            self._calls.append(Call("upload", {"file_id": file["id"]}, time.time(),
                                    {"ok": False, "error": fault.error}, fault.status))
            return web.Response(status=fault.status, text=fault.error)
        sink = _Sink(self._file_path(file["id"], file["name"]))
        try:
            if request.content_type.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if isinstance(part, BodyPartReader) and (part.filename or part.name in ("file", "filename")):
                        while chunk := await part.read_chunk(256 * 1024):
                            sink.write(chunk)
                        break
            else:
                async for chunk in request.content.iter_chunked(256 * 1024):
                    sink.write(chunk)
        finally:
            sink.close()
        file["_path"] = str(sink.path)
        file["_sha256"] = sink.sha256.hexdigest()
        file["_received"] = sink.size
        record = {"file_id": file["id"], "bytes": sink.size, "sha256": file["_sha256"]}
        if sink.size != file["_length"]:
            file["_state"] = "failed"
            self._calls.append(Call("upload", record, time.time(), {"ok": False, "error": "length_mismatch"}, 400))
            return web.Response(status=400, text=f"length mismatch: announced {file['_length']}, got {sink.size}")
        file["_state"] = "uploaded"
        file["size"] = sink.size
        self._calls.append(Call("upload", record, time.time(), {"ok": True}, 200))
        return web.Response(text=f"OK - {sink.size}")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if request.headers.get("Authorization", "") != f"Bearer {self.bot_token}":
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        if file is None or "_path" not in file or file.get("_state") in ("pending", "failed"):
            return web.Response(status=404, text="file not found")
        if (fault := self._take_fault("download")) is not None:
            self._calls.append(Call("download", {"file_id": file["id"]}, time.time(),
                                    {"ok": False, "error": fault.error}, fault.status))
            return web.Response(status=fault.status, text=fault.error)
        self._calls.append(Call("download", {"file_id": file["id"]}, time.time(), {"ok": True}, 200))
        return web.FileResponse(file["_path"], headers={"Content-Type": file["mimetype"]})

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        response_id = request.match_info["response_id"]
        origin = self._response_urls.get(response_id, {})
        channel, message_ts = origin.get("channel"), origin.get("message_ts")
        entry = {"id": response_id, "body": body, "time": time.time(), **origin}
        self.responses.append(entry)
        self._emit("response", channel, response_id=response_id, body=body, user=origin.get("user"))
        self._apply_response(body, channel, message_ts)
        return web.Response(text="ok")

    def _apply_response(self, body: dict[str, Any], channel: str | None, message_ts: str | None) -> None:
        """What Slack does with a response_url message besides showing it to the user."""
        original = self.message(channel, message_ts) if channel and message_ts else None
        if body.get("delete_original") and original is not None:
            self._messages[channel].remove(original)  # type: ignore[index]
            self._emit("message_deleted", channel, original["ts"], original.get("thread_ts"), message=original)
        elif body.get("replace_original") and original is not None:
            for key in ("text", "blocks", "attachments"):
                if key in body:
                    original[key] = body[key]
            self._emit("message_changed", channel, original["ts"], original.get("thread_ts"), message=original)
        elif body.get("response_type") == "in_channel" and channel in self.channels:
            ts = self._ids.ts()
            message = self._bot_message(body, ts)
            self._add_message(channel, message)  # type: ignore[arg-type]
            self._emit("message", channel, ts, message.get("thread_ts"), message=message)

    # ----- Web API methods -----

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{self.team_domain}.slack.com/", "team": self.team_domain, "user": self.bot_name,
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _channel(self, channel_id: Any) -> dict[str, Any]:
        """The channel as the bot can see it; a DM channel is made for a user id."""
        if not channel_id:
            raise SlackError("channel_not_found")
        channel_id = str(channel_id)
        if channel_id in self.users and channel_id[0] in "UW":
            dm_id = "D" + channel_id[1:]
            if dm_id not in self.channels:
                self.add_channel(dm_id, channel_id, member=True, is_private=True)
                self.channels[dm_id].update(is_im=True, is_channel=False, is_group=False, user=channel_id)
            channel_id = dm_id
        channel = self.channels.get(channel_id) or next(
            (c for c in self.channels.values() if not c["is_im"] and c["name"] == channel_id.lstrip("#")), None)
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            raise SlackError("channel_not_found")
        return channel

    def _bot_message(self, p: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message", "ts": ts, "user": self.bot_user_id, "bot_id": self.bot_id,
            "app_id": self.app_id, "team": self.team_id, "text": str(p.get("text") or ""),
        }
        for key in ("blocks", "attachments", "metadata"):
            if p.get(key):
                message[key] = p[key]
        if p.get("thread_ts"):
            message["thread_ts"] = str(p["thread_ts"])
        return message

    @staticmethod
    def _check_content(p: dict[str, Any]) -> None:
        if not p.get("text") and not p.get("blocks") and not p.get("attachments"):
            raise SlackError("no_text")
        if "blocks" in p and not isinstance(p["blocks"], list):
            raise SlackError("invalid_blocks")

    def _add_message(self, channel_id: str, message: dict[str, Any]) -> None:
        self._messages.setdefault(channel_id, []).append(message)
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            parent = self.message(channel_id, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]

    def _chat_post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        if channel["is_archived"]:
            raise SlackError("is_archived")
        if not channel["is_member"] and channel["is_private"]:
            raise SlackError("not_in_channel")
        self._check_content(p)
        ts = self._ids.ts()
        message = self._bot_message(p, ts)
        self._add_message(channel["id"], message)
        self._emit("message", channel["id"], ts, message.get("thread_ts"), message=message)
        return {"channel": channel["id"], "ts": ts, "message": message}

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        if channel["is_archived"]:
            raise SlackError("is_archived")
        message = self.message(channel["id"], str(p.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        self._check_content(p)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in p:
                message[key] = p[key] if key != "text" else str(p[key] or "")
        message["edited"] = {"user": self.bot_user_id, "ts": self._ids.ts()}
        self._emit("message_changed", channel["id"], message["ts"], message.get("thread_ts"), message=message)
        return {"channel": channel["id"], "ts": message["ts"], "text": message["text"], "message": message}

    def _chat_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        message = self.message(channel["id"], str(p.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self._messages[channel["id"]].remove(message)
        self._emit("message_deleted", channel["id"], message["ts"], message.get("thread_ts"), message=message)
        return {"channel": channel["id"], "ts": message["ts"]}

    def _chat_post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        if not p.get("user"):
            raise SlackError("user_not_found")
        if str(p["user"]) not in self.users:
            raise SlackError("user_not_found")
        if channel["is_archived"]:
            raise SlackError("is_archived")
        if self.ephemeral_needs_membership and not channel["is_member"]:
            raise SlackError("not_in_channel")
        self._check_content(p)
        ts = self._ids.ts()
        message = self._bot_message(p, ts)
        entry = {"channel": channel["id"], "user": str(p["user"]), "message_ts": ts, "message": message}
        self.ephemerals.append(entry)
        self._emit("ephemeral", channel["id"], ts, message.get("thread_ts"), user=entry["user"], message=message)
        return {"message_ts": ts}

    def _chat_get_permalink(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        ts = str(p.get("message_ts") or "")
        if self.message(channel["id"], ts) is None:
            raise SlackError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel['id']}/p{ts.replace('.', '')}"
        return {"channel": channel["id"], "permalink": link}

    def _conversations_join(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(p.get("channel") or ""))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            raise SlackError("channel_not_found")
        if channel["is_archived"]:
            raise SlackError("is_archived")
        if channel["is_im"]:
            raise SlackError("method_not_supported_for_channel_type")
        result: dict[str, Any] = {"channel": dict(channel)}
        if channel["is_member"]:
            result["warning"] = "already_in_channel"
            result["response_metadata"] = {"warnings": ["already_in_channel"]}
        else:
            channel["is_member"] = True
            result["channel"] = dict(channel)
            self._emit("joined", channel["id"])
        return result

    def _conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": dict(self._channel(p.get("channel")))}

    def _conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        if not channel["is_member"]:
            raise SlackError("not_in_channel")
        top = [m for m in self._messages[channel["id"]] if m.get("thread_ts", m["ts"]) == m["ts"]]
        return {"messages": list(reversed(top)), "has_more": False}

    def _conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        ts = str(p.get("ts") or "")
        parent = self.message(channel["id"], ts)
        if parent is None:
            raise SlackError("thread_not_found")
        return {"messages": [parent, *self.messages(channel["id"], ts)], "has_more": False}

    def _users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def _usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        group = str(p.get("usergroup") or "")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    # views

    def _check_trigger(self, p: dict[str, Any]) -> None:
        trigger = p.get("trigger_id") or p.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments")
        if self.check_triggers:
            issued = self._triggers.pop(str(trigger), None)
            if issued is None:
                raise SlackError("invalid_trigger_id")
            if time.monotonic() - issued > 3.0:
                raise SlackError("expired_trigger_id")

    def _view_payload(self, p: dict[str, Any]) -> dict[str, Any]:
        view = p.get("view")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if not isinstance(view.get("blocks", []), list):
            raise SlackError("invalid_blocks")
        return view

    def _store_view(self, payload: dict[str, Any], view_id: str, root_id: str, previous: str | None) -> dict[str, Any]:
        view = {
            "id": view_id, "team_id": self.team_id, "type": payload["type"],
            "blocks": payload.get("blocks", []), "private_metadata": payload.get("private_metadata", ""),
            "callback_id": payload.get("callback_id", ""), "state": {"values": {}},
            "hash": self._ids.make("h").lower(), "title": payload.get("title"), "clear_on_close": False,
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "close": payload.get("close"), "submit": payload.get("submit"),
            "previous_view_id": previous, "root_view_id": root_id, "app_id": self.app_id,
            "external_id": payload.get("external_id", ""), "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = view
        return view

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_trigger(p)
        payload = self._view_payload(p)
        external_id = payload.get("external_id")
        if external_id and any(v["external_id"] == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        view_id = self._ids.make("V")
        view = self._store_view(payload, view_id, view_id, None)
        self._emit("view_opened", view=view)
        return {"view": view}

    def view_answered(self, view_id: str, answer: Any) -> None:
        """Apply the bot's answer to a view_submission as Slack does: `response_action` "update"
        replaces the view, "push" stacks a new one, "errors" keeps it open, anything else closes it."""
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if action == "errors":
            return
        if action in ("update", "push") and isinstance(answer.get("view"), dict):
            old = self.views.get(view_id)
            if action == "update" and old is not None:
                view = self._store_view(answer["view"], view_id, old["root_view_id"], old["previous_view_id"])
                self._emit("view_updated", view=view)
            else:
                new_id = self._ids.make("V")
                root = old["root_view_id"] if old else new_id
                view = self._store_view(answer["view"], new_id, root, view_id if old else None)
                self._emit("view_pushed", view=view)
            return
        self.closed_views.add(view_id)
        self._emit("view_closed", view_id=view_id)

    def _views_push(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_trigger(p)
        payload = self._view_payload(p)
        parent = self.last_view()
        view_id = self._ids.make("V")
        root = parent["root_view_id"] if parent else view_id
        view = self._store_view(payload, view_id, root, parent["id"] if parent else None)
        self._emit("view_pushed", view=view)
        return {"view": view}

    def _views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        payload = self._view_payload(p)
        if p.get("view_id"):
            old = self.views.get(str(p["view_id"]))
        elif p.get("external_id"):
            old = next((v for v in self.views.values() if v["external_id"] == p["external_id"]), None)
        else:
            raise SlackError("invalid_arguments")
        if old is None:
            raise SlackError("not_found")
        if p.get("hash") and p["hash"] != old["hash"]:
            raise SlackError("hash_conflict")
        view = self._store_view(payload, old["id"], old["root_view_id"], old["previous_view_id"])
        if not view["external_id"]:
            view["external_id"] = old["external_id"]
        self._emit("view_updated", view=view)
        return {"view": view}

    # files

    def _file_path(self, file_id: str, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "file"
        return self.upload_dir / f"{file_id}-{safe}"

    def _file_dict(self, file_id: str, name: str, title: str, mimetype: str, size: int, user: str) -> dict[str, Any]:
        url = f"{self.base_url}files-pri/{file_id}/{name}"
        return {
            "id": file_id, "created": int(time.time()), "timestamp": int(time.time()), "name": name,
            "title": title, "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1].lower() if "." in name else "",
            "user": user, "size": size, "mode": "hosted", "is_external": False, "is_public": False,
            "url_private": url, "url_private_download": url + "?download=1",
            "permalink": f"https://{self.team_domain}.slack.com/files/{user}/{file_id}/{name}",
            "channels": [], "groups": [], "ims": [], "shares": {},
        }

    def _files_get_upload_url(self, p: dict[str, Any]) -> dict[str, Any]:
        filename = p.get("filename")
        try:
            length = int(p.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length < 1:
            raise SlackError("invalid_arguments")
        file_id = self._ids.make("F")
        mimetype = _guess_mimetype(str(filename))
        file = self._file_dict(file_id, str(filename), str(filename), mimetype, length, self.bot_user_id)
        file["_state"] = "pending"
        file["_length"] = length
        if p.get("alt_txt"):
            file["alt_txt"] = p["alt_txt"]
        self.files[file_id] = file
        return {"upload_url": f"{self.base_url}upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        entries = p.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        files = []
        for entry in entries:
            file = self.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if file is None or file.get("_state") != "uploaded":
                raise SlackError("file_not_found")
            files.append((file, entry))
        channel_ids = [str(p["channel_id"])] if p.get("channel_id") else []
        if p.get("channels"):
            channel_ids += [c.strip() for c in str(p["channels"]).split(",") if c.strip()]
        channels = [self._channel(c) for c in channel_ids]
        for channel in channels:
            if channel["is_archived"]:
                raise SlackError("is_archived")
            if not channel["is_member"]:
                raise SlackError("not_in_channel")
        for file, entry in files:
            file["_state"] = "complete"
            if entry.get("title"):
                file["title"] = str(entry["title"])
        public = [self.public_file(f) for f, _ in files]
        for channel in channels:
            ts = self._ids.ts()
            thread_ts = str(p["thread_ts"]) if p.get("thread_ts") else None
            message = self._bot_message({"text": p.get("initial_comment") or "", "thread_ts": thread_ts}, ts)
            if p.get("blocks") and not p.get("initial_comment"):
                message["blocks"] = p["blocks"]
            message.update(subtype="file_share", upload=True)
            if self.share_delay > 0:
                task = asyncio.get_running_loop().create_task(
                    self._share_later(channel["id"], message, [f for f, _ in files]))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            else:
                self._share_now(channel["id"], message, [f for f, _ in files])
        return {"files": [{"id": f["id"], "title": f["title"]} for f in public]}

    async def _share_later(self, channel_id: str, message: dict[str, Any], files: list[dict[str, Any]]) -> None:
        await asyncio.sleep(self.share_delay)
        message["ts"] = self._ids.ts()
        self._share_now(channel_id, message, files)

    def _share_now(self, channel_id: str, message: dict[str, Any], files: list[dict[str, Any]]) -> None:
        for file in files:
            self._share(file, channel_id, message["ts"], message.get("thread_ts"))
        message["files"] = [self.public_file(f) for f in files]
        self._add_message(channel_id, message)
        self._emit("file_shared", channel_id, message["ts"], message.get("thread_ts"), message=message,
                   files=message["files"])

    def _share(self, file: dict[str, Any], channel_id: str, ts: str, thread_ts: str | None) -> None:
        channel = self.channels[channel_id]
        kind = "private" if channel["is_private"] else "public"
        share = {"ts": ts, "channel_name": channel["name"], "team_id": self.team_id}
        if thread_ts:
            share["thread_ts"] = thread_ts
        file["shares"].setdefault(kind, {}).setdefault(channel_id, []).append(share)
        if kind == "public":
            file["is_public"] = True
        listing = "ims" if channel["is_im"] else "groups" if channel["is_private"] else "channels"
        if channel_id not in file[listing]:
            file[listing].append(channel_id)

    def _files_info(self, p: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(p.get("file") or ""))
        if file is None or file.get("_state") in ("pending", "failed"):
            raise SlackError("file_not_found")
        return {"file": self.public_file(file)}


def _guess_mimetype(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
