"""The Slack stand-in, plus the people in each channel: `conversations.members` as Slack answers it
(paged; a private channel the bot is not in is `channel_not_found`), for the checks that ask who
may see what. (The stand-in itself, bot/devslack, knows the bot's memberships only.)"""

from __future__ import annotations

import functools
from typing import Any

from bot.devslack import SlackStandIn
from bot.devslack.state import SlackError

PAGE = 2  # small pages, so the bot must follow next_cursor as it must on Slack


class PeopleStandIn(SlackStandIn):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.people: dict[str, list[str]] = {}

    def add_members(self, channel_id: str, *user_ids: str) -> None:
        self.people.setdefault(channel_id, []).extend(u for u in user_ids if u not in self.people.get(channel_id, []))

    @functools.cached_property
    def _methods(self):
        return {**super()._methods, "conversations.members": self._conversations_members}

    def _conversations_members(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p.get("channel"))
        if channel["is_private"] and not channel["is_member"]:
            raise SlackError("channel_not_found")
        members = self.people.get(channel["id"], [])
        start = int(p.get("cursor") or 0)
        page = members[start:start + PAGE]
        more = start + PAGE < len(members)
        return {"members": page, "response_metadata": {"next_cursor": str(start + PAGE) if more else ""}}
