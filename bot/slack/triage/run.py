"""Running triage from Slack: `/wan triage <text or task id>` and the "Triage with wanbot" message
shortcut (shared/spec/triage.md). Only support staff may; reports are ephemeral and every one is
recorded with `store.add_triage_record`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.redact import redact
from bot.slack.blocks.mrkdwn import clip
from bot.slack.blocks.triage import summary_line, triage_report
from bot.slack.grammar import clean_slack_text
from bot.slack.services import Services
from bot.slack.triage.desk import PendingReply
from bot.slack.triage.files import fetch_files
from bot.slack.triage.staff import REFUSAL
from bot.slack.web.posting import ephemeral
from bot.triage import TriageResult, triage
from bot.triage.fetch import fetcher_from_settings

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 15.0
TASK_ID_RE = re.compile(r"(?=[\w\-]*\d)[A-Za-z0-9][\w\-]{5,127}")  # vt_1a2b3c, task_9x, a uuid
USAGE = "Paste what to triage after the word: `/wan triage <error message, log lines or a task id>`."


def _lookup(services: Services):
    """The live task look-up through the gateway, when one is configured."""
    if not services.settings.wan_api_base:
        return None

    async def get_task(task_id: str):
        return await asyncio.wait_for(services.gateway.get_task(task_id), LOOKUP_TIMEOUT)

    return get_task


async def _record(services: Services, result: TriageResult, *, user_id: str, channel_id: str | None,
                  source: str) -> int | None:
    summary = redact(clip(f"{summary_line(result)} — from {source}. Next step: {result.next_step}", 1000))
    try:
        return await services.store.add_triage_record(
            staff_user=user_id, channel_id=channel_id, verdict=result.verdict,
            amount_usd=result.amount_usd, task_ids=list(result.task_ids), summary=summary,
            details=result.refunds)
    except Exception:  # the report matters more than its record
        log.exception("could not store the triage record", extra={"user_id": user_id})
        return None


def _log_done(result: TriageResult, user_id: str, action: str, started: float) -> None:
    log.info("triage done", extra={"user_id": user_id, "triage_action": action, "verdict": result.verdict,
                                   "seconds": round(time.monotonic() - started, 3)})


def message_time(message: dict[str, Any]) -> float | None:
    """When the complained-about message was posted (its ts is unix seconds), if it says."""
    try:
        return float(message.get("ts") or "") or None
    except ValueError:
        return None


def bare_task_id(text: str) -> str | None:
    text = text.strip().strip("`").strip()
    return text if TASK_ID_RE.fullmatch(text) else None


async def handle_triage_command(services: Services, *, text: str, user_id: str, channel_id: str, respond) -> None:
    """`/wan triage <text or task id>`, after the ack: an ephemeral report through `respond`."""
    started = time.monotonic()
    if not await services.triage.check(user_id, "command"):
        await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
        return
    text = clean_slack_text(text or "").strip()
    text = re.sub(r"^triage(\s+|$)", "", text, flags=re.I)
    if not text:
        await respond(text=USAGE, response_type="ephemeral", replace_original=False)
        return
    kwargs: dict[str, Any] = {"settings": services.settings, "lookup": _lookup(services)}
    task_id = bare_task_id(text)
    if task_id:
        kwargs["task_id"] = task_id
        kwargs["fetch"] = fetcher_from_settings(services.settings)  # new-api's rows, when configured
        source = f"task id {task_id}"
    else:
        source = "pasted text"
    try:
        result = await triage(texts=[text], **kwargs)
    except Exception:
        log.exception("triage failed", extra={"user_id": user_id, "triage_action": "command"})
        await respond(text="Sorry, triage failed on that input. Please try again, or use the CLI.",
                      response_type="ephemeral", replace_original=False)
        return
    # Recorded before the report is shown, as the shortcut does: what staff saw is always on record.
    await _record(services, result, user_id=user_id, channel_id=channel_id, source=source)
    fallback, blocks = triage_report(result, source=source)
    await respond(text=fallback, blocks=blocks, response_type="ephemeral", replace_original=False)
    _log_done(result, user_id, "command", started)


async def triage_message(services: Services, *, user_id: str, channel_id: str, message: dict[str, Any],
                         respond=None) -> None:
    """The shortcut's work after the ack: check, download, triage, report, record."""
    started = time.monotonic()
    client = services.client
    if not await services.triage.check(user_id, "shortcut"):
        await ephemeral(client, channel_id, user_id, REFUSAL, respond=respond)
        return
    text = clean_slack_text(str(message.get("text") or ""))
    files = [f for f in message.get("files") or [] if isinstance(f, dict)]
    complained_at = message_time(message)  # "stuck" is measured from the complaint, not from the log
    with tempfile.TemporaryDirectory(prefix="wanbot-triage-") as folder:
        paths, notes = await fetch_files(services, files, Path(folder))
        try:
            result = await triage(texts=[text] if text.strip() else [], paths=paths, now=complained_at,
                                  settings=services.settings, lookup=_lookup(services))
        except Exception:
            log.exception("triage failed", extra={"user_id": user_id, "triage_action": "shortcut"})
            await ephemeral(client, channel_id, user_id, "Sorry, triage failed on that message.", respond=respond)
            return
    result.notes += notes
    source = "a message" + (f" with {len(paths)} file(s)" if paths else "")
    record_id = await _record(services, result, user_id=user_id, channel_id=channel_id, source=source)
    ref = None
    message_ts = message.get("ts")
    if message_ts and channel_id:
        thread_ts = str(message.get("thread_ts") or message_ts)
        ref = json.dumps({"r": await services.triage.keep_reply(
            PendingReply(channel_id, thread_ts, result.reply, user_id, record_id, texts=dict(result.replies),
                         language=result.language))})
    fallback, blocks = triage_report(result, source=source, reply_ref=ref)
    await ephemeral(client, channel_id, user_id, fallback, blocks, respond=respond)
    _log_done(result, user_id, "shortcut", started)
