"""The Slack stand-in's state: channels, messages, views, files, users, recorded calls and subscribers.

Each Web API family is a mixin over this base (chat.py, conversations.py, users.py, views.py,
files.py, responses.py, faults.py); server.py assembles them and serves HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.devslack.state import Call, Event, Fault, Ids, SlackError


class StandInBase:
    """The stand-in's state, and the test-facing ways to set the scene and to look at what happened."""

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
        self._land_shares = asyncio.Event()  # set: delayed shares land at once (`land_shares`)

        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.add_user(bot_user_id, bot_name, is_bot=True)

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

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Poll `predicate` until it returns something truthy (the bot works after its ack)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.01)
        return result

    async def wait_for_message(
        self, channel: str, thread_ts: str | None = None,
        predicate: Callable[[dict[str, Any]], Any] | None = None, timeout: float = 15.0,
    ) -> dict[str, Any]:
        """The first message in the channel (or thread) matching `predicate`, waiting for it if need be."""
        def find() -> dict[str, Any] | None:
            return next((m for m in self.messages(channel, thread_ts) if predicate is None or predicate(m)), None)

        return await self.wait_until(find, timeout)

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 15.0) -> Call:
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

    # ----- what several API families share -----

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

    def _add_message(self, channel_id: str, message: dict[str, Any]) -> None:
        self._messages.setdefault(channel_id, []).append(message)
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            parent = self.message(channel_id, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]

    def _take_fault(self, method: str) -> Fault | None:
        faults = self._faults.get(method, [])
        while faults:
            if faults[0].take():
                return faults[0]
            faults.pop(0)
        return None
