"""response_url for the stand-in: slash commands' and actions' replies, and what Slack does with them.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from bot.devslack.base import StandInBase


class ResponseUrls(StandInBase):
    """Issue response_urls and apply what the bot posts to them (ephemeral, in_channel, replace, delete)."""

    def new_response_url(self, channel: str | None = None, message_ts: str | None = None,
                         user: str | None = None) -> str:
        """A response_url for a slash command (channel, user) or an action on a message (+ message_ts)."""
        response_id = self._ids.make("R")
        self._response_urls[response_id] = {"channel": channel, "message_ts": message_ts, "user": user}
        return f"{self.base_url}response/{response_id}"

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
        if delay := self._delays.get("response_url"):  # shown to the user, then answered late (slow("response_url", s))
            await asyncio.sleep(delay)
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
