"""The stand-in's identity methods: auth.test, users.info, usergroups.users.list.
"""

from __future__ import annotations

from typing import Any

from bot.devslack.base import StandInBase
from bot.devslack.state import SlackError


class UsersMethods(StandInBase):
    """Who the bot is, and the users and user groups the scene was given."""

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{self.team_domain}.slack.com/", "team": self.team_domain, "user": self.bot_name,
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

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
