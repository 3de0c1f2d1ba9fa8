"""Who may use support triage (shared/spec/triage.md, "Who may use it").

Support staff are the members of `WANBOT_SUPPORT_USERGROUP` (asked of Slack with
`usergroups.users.list`, cached briefly), the ids in `WANBOT_SUPPORT_USERS`, and the admins
(`WANBOT_ADMIN_USERS`). When Slack cannot answer, the group counts as empty (fail closed).
Every attempt is logged with the user id and the outcome, never with the text of the input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0

REFUSAL = (
    "Sorry, triage is only open to the support team. If you need it, ask a support lead to add you "
    "to the support user group."
)


class SupportStaff:
    def __init__(self, settings: Settings, client: AsyncWebClient, *, cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.usergroup: str | None = settings.wanbot_support_usergroup or None
        self.users = set(settings.wanbot_support_users or [])
        self.admins = set(settings.wanbot_admin_users or [])
        self.client = client
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._members: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def is_support(self, user_id: str | None) -> bool:
        if not user_id:
            return False
        if user_id in self.users or user_id in self.admins:
            return True
        return user_id in await self.group_members()

    async def check(self, user_id: str | None, action: str) -> bool:
        """`is_support`, logged as one attempt (`action` names what was tried, e.g. "command")."""
        allowed = await self.is_support(user_id)
        log.info("triage attempt", extra={"user_id": user_id, "triage_action": action, "allowed": allowed})
        if not allowed:
            log.warning("triage refused: not support staff",
                        extra={"user_id": user_id, "triage_action": action})
        return allowed

    async def group_members(self) -> frozenset[str]:
        if not self.usergroup:
            return frozenset()
        async with self._lock:  # one Slack call when many requests arrive at once
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self.cache_seconds:
                return self._members
            try:
                answer = await self.client.usergroups_users_list(usergroup=self.usergroup)
            except Exception as exc:  # any failure: fail closed
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                log.warning("support user group look-up failed; treating it as empty",
                            extra={"usergroup": self.usergroup, "error": str(error)})
                return frozenset()  # fail closed, and ask again next time
            self._members = frozenset(answer.get("users") or [])
            self._fetched_at = now
            return self._members
