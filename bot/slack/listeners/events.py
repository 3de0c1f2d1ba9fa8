"""Events API: a mention gets a pointer to `/wan`; other messages are acknowledged and ignored."""

from __future__ import annotations

MENTION_REPLY = "Hi! Type `/wan help` to see what I can do, or `/wan` for a form."


async def on_mention(event, say):
    await say(text=MENTION_REPLY, thread_ts=event.get("thread_ts") or event.get("ts"))


async def on_message(ack):
    await ack()  # file shares and chatter: nothing to do, but Slack wants a 200


def register(app) -> None:
    app.event("app_mention")(on_mention)
    app.event("message")(on_message)
