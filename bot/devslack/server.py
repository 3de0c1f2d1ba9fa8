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
import functools
import json
import shutil
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.devslack.base import StandInBase
from bot.devslack.chat import ChatMethods
from bot.devslack.conversations import ConversationsMethods
from bot.devslack.faults import FaultsMixin
from bot.devslack.files import FilesMethods
from bot.devslack.responses import ResponseUrls
from bot.devslack.state import Call, SlackError
from bot.devslack.users import UsersMethods
from bot.devslack.views import ViewsMethods

JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


class SlackStandIn(ChatMethods, ConversationsMethods, UsersMethods, ViewsMethods, FilesMethods, ResponseUrls,
                  FaultsMixin, StandInBase):
    """The stand-in: every API family's mixin over one state, served by aiohttp."""

    @functools.cached_property
    def _methods(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        """Web API method name -> its handler (the module that has it is named after the family)."""
        return {
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

    # ----- HTTP -----

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
