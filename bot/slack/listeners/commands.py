"""`/wan`: stored, acknowledged at once, then answered (bot.slack.dispatch)."""

from __future__ import annotations

from bot.slack import dispatch
from bot.slack.services import Services


def register(app, services: Services) -> None:
    @app.command("/wan")
    async def wan_command(ack, command, respond):
        key = await dispatch.receive(services, command)  # stored before the ack: a crash after it is replayed
        await ack()  # within 3 s, always: everything else happens after
        if key is not None:
            await dispatch.answer(services, command, respond=respond, request_key=key)
