"""Message shortcuts: "Triage with wanbot" (support staff only; bot.slack.triage)."""

from __future__ import annotations

from bot.slack.blocks.triage import SHORTCUT_ID
from bot.slack.services import services_of
from bot.slack.triage.run import triage_message


async def on_triage_shortcut(ack, shortcut, respond, context):
    await ack()
    await triage_message(services_of(context), user_id=shortcut["user"]["id"],
                         channel_id=(shortcut.get("channel") or {}).get("id"),
                         message=shortcut.get("message") or {}, respond=respond)


def register(app) -> None:
    app.shortcut(SHORTCUT_ID)(on_triage_shortcut)
