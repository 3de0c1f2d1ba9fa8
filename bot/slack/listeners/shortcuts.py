"""Message shortcuts: "Triage with wanbot" (support staff only; bot.slack.triage)."""

from __future__ import annotations

from bot.slack.blocks.triage import SHORTCUT_ID
from bot.slack.services import Services
from bot.slack.triage.run import triage_message


def register(app, services: Services) -> None:
    @app.shortcut(SHORTCUT_ID)
    async def triage_shortcut(ack, shortcut, respond):
        await ack()
        await triage_message(services, user_id=shortcut["user"]["id"],
                             channel_id=(shortcut.get("channel") or {}).get("id"),
                             message=shortcut.get("message") or {}, respond=respond)
