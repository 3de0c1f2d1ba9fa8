"""SupportStaff: user group members (cached), listed users, admins; fail closed."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from slack_sdk.errors import SlackApiError

from bot.slack.triage.staff import SupportStaff


class FakeClient:
    def __init__(self, members):
        self.members = members
        self.calls = 0
        self.fail = False

    async def usergroups_users_list(self, usergroup):
        self.calls += 1
        if self.fail:
            raise SlackApiError("boom", {"ok": False, "error": "missing_scope"})
        return {"ok": True, "users": list(self.members)}


def settings(**values):
    base = {"wanbot_support_usergroup": "S1", "wanbot_support_users": ["U_LIST"], "wanbot_admin_users": ["U_ADM"]}
    base.update(values)
    return SimpleNamespace(**base)


async def test_members_listed_and_admins():
    staff = SupportStaff(settings(), FakeClient(["U_GRP"]))
    assert await staff.is_support("U_GRP")
    assert await staff.is_support("U_LIST")
    assert await staff.is_support("U_ADM")
    assert not await staff.is_support("U_NO")
    assert not await staff.is_support(None)


async def test_cache_expires():
    now = [1000.0]
    client = FakeClient(["U_A"])
    staff = SupportStaff(settings(), client, cache_seconds=60, clock=lambda: now[0])
    assert await staff.is_support("U_A")
    client.members = ["U_B"]
    now[0] += 30
    assert await staff.is_support("U_A") and not await staff.is_support("U_B")
    assert client.calls == 1
    now[0] += 31
    assert await staff.is_support("U_B") and not await staff.is_support("U_A")
    assert client.calls == 2


async def test_no_group_configured_asks_nobody():
    client = FakeClient(["U_A"])
    staff = SupportStaff(settings(wanbot_support_usergroup=None), client)
    assert not await staff.is_support("U_A")
    assert client.calls == 0


async def test_slack_error_fails_closed_and_is_retried(caplog):
    caplog.set_level(logging.INFO)
    client = FakeClient(["U_A"])
    client.fail = True
    staff = SupportStaff(settings(), client)
    assert not await staff.check("U_A", "command")
    assert any(getattr(r, "error", None) == "missing_scope" for r in caplog.records)
    client.fail = False
    assert await staff.is_support("U_A")  # the failure was not cached


async def test_every_attempt_logged_with_user_id(caplog):
    caplog.set_level(logging.INFO, logger="bot.slack.triage.staff")
    staff = SupportStaff(settings(), FakeClient([]))
    await staff.check("U_LIST", "command")
    await staff.check("U_NO", "shortcut")
    attempts = [(r.user_id, r.triage_action, r.allowed) for r in caplog.records if r.getMessage() == "triage attempt"]
    assert attempts == [("U_LIST", "command", True), ("U_NO", "shortcut", False)]
