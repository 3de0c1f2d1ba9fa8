"""The stand-in's conversations.* methods: join, info, history, replies.
"""

from __future__ import annotations

from typing import Any

from bot.devslack.base import StandInBase
from bot.devslack.state import SlackError


class ConversationsMethods(StandInBase):
    """conversations.* with Slack's membership rules (history needs the bot in the channel)."""

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
