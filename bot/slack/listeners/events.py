"""Events API: a mention gets a pointer to `/wan`; other messages are acknowledged and ignored."""

from __future__ import annotations

from bot.slack.services import Services


def register(app, services: Services) -> None:
    @app.event("app_mention")
    async def mentioned(event, say):
        await say(text="Hi! Type `/wan help` to see what I can do, or `/wan` for a form.",
                  thread_ts=event.get("thread_ts") or event.get("ts"))

    @app.event("message")
    async def message(ack):
        await ack()  # file shares and chatter: nothing to do, but Slack wants a 200
