"""The request inbox before the ack: a command or a form submission is stored first, so a crash
after Slack got its ack is answered on restart (`bot.slack.recovery`), never silently lost.

The write is bounded: Slack gives an ack 3 seconds, and a write-locked database (a busy timeout of
30 s) must not take them all. When the store does not answer within PRE_ACK_SECONDS the caller
acks "busy, nothing started"; should the late write land after all, it is marked answered at
once, so a restart never starts what the user was told did not start."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.slack.services import Services

log = logging.getLogger(__name__)

PRE_ACK_SECONDS = 2.0  # of Slack's 3 s, the rest is for the network and Bolt
BUSY_TEXT = ("I could not store that just now (my database was too busy or refused the write), so "
             "nothing was started. Please try again in a minute.")

_late: set[asyncio.Task] = set()  # late writes being undone (kept referenced until they finish)
_turned_away: dict[str, int] = {}  # keys answered busy, and how often (their late writes are spent)
MAX_TURNED_AWAY = 10_000


async def receive(services: Services, key: str, payload: dict[str, Any], *,
                  within: float = PRE_ACK_SECONDS) -> tuple[bool | None, str]:
    """(True, key): stored, answer it; (False, key): a repeat of a stored request; (None, key): the
    store was too slow or refused the write (nothing stored: answer BUSY_TEXT). The key is the one
    stored: a request turned away busy may come again (the same form, submitted again), and then
    gets a key of its own."""
    if key in _turned_away:
        key = f"{key}:again{_turned_away[key]}"
    write = asyncio.ensure_future(services.store.receive_request(key, payload, replica=services.tracker.replica_id))
    try:
        return await asyncio.wait_for(asyncio.shield(write), max(within, 0.0)), key
    except TimeoutError:
        log.warning("request not stored in time; answered busy", extra={"request": key.split(":", 1)[0]})
        write.add_done_callback(lambda done: _undo_late(services, key, done))
        base = key.split(":again", 1)[0]
        _turned_away[base] = _turned_away.get(base, 0) + 1
        while len(_turned_away) > MAX_TURNED_AWAY:
            _turned_away.pop(next(iter(_turned_away)))
        return None, key
    except Exception as exc:  # a full disk, a read-only file, a database gone: words, not a 500
        log.error("request not stored; answered that nothing started",
                  extra={"request": key.split(":", 1)[0], "error": type(exc).__name__, "detail": str(exc)[:200]})
        return None, key


def _undo_late(services: Services, key: str, write: asyncio.Future) -> None:
    if write.cancelled() or write.exception() is not None or not write.result():
        return
    task = asyncio.ensure_future(services.store.request_done(key))
    _late.add(task)
    task.add_done_callback(_late.discard)
