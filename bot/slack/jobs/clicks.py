"""One click, one job: a button that starts a paid job (Re-run, and Final, Pick or a preset's run as
they come) starts it once per source message, action and person, however often it is clicked.

The claim is an atomic insert into the store's request inbox, so it also holds for two replicas
that each get one of the clicks."""

from __future__ import annotations

import logging

from bot.slack.services import Services

log = logging.getLogger(__name__)


def click_key(action_id: str, body: dict) -> str:
    """Which click this is: the action, the message it is on, and who clicked."""
    container = body.get("container") or {}
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    channel_id = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    return f"click:{action_id}:{channel_id}:{message_ts}:{body['user']['id']}"


async def first_click(services: Services, key: str) -> bool:
    """True for the first click of its kind; False (logged) for every repeat."""
    if await services.store.remember_request(key):
        return True
    log.info("repeated click ignored", extra={"click": key})
    return False
