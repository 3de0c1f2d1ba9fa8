"""`/wan`: stored, acknowledged at once, then answered (bot.slack.dispatch)."""

from __future__ import annotations

from bot.slack import dispatch
from bot.slack.inbox import BUSY_TEXT
from bot.slack.services import services_of


async def on_wan(ack, command, respond, context):
    services = services_of(context)
    key = await dispatch.receive(services, command)  # stored before the ack: a crash after it is replayed
    if key == dispatch.BUSY:
        await ack(text=BUSY_TEXT)  # within 3 s, always: nothing was stored, so nothing starts
        return
    await ack()  # within 3 s, always: everything else happens after
    if key is not None:
        await dispatch.answer(services, command, respond=respond, request_key=key)


def register(app) -> None:
    app.command("/wan")(on_wan)
