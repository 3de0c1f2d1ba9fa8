"""The stand-in's chat.* methods: postMessage, update, delete, postEphemeral, getPermalink.
"""

from __future__ import annotations

from typing import Any

from bot.devslack.base import StandInBase
from bot.devslack.state import SlackError


class ChatMethods(StandInBase):
    """chat.* as Slack answers them (archived channels, membership, no_text, only the bot's own messages)."""

    @staticmethod
    def _check_content(p: dict[str, Any]) -> None:
        if not p.get("text") and not p.get("blocks") and not p.get("attachments"):
            raise SlackError("no_text")
        if "blocks" in p and not isinstance(p["blocks"], list):
            raise SlackError("invalid_blocks")

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
