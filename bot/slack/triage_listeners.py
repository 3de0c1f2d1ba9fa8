"""Support triage in Slack: `/wan triage ...`, the "Triage with wanbot" message shortcut, and the
"Post reply in thread" button with its small edit modal (shared/spec/triage.md, issue 4).

Entry points for the app wiring:
- `register(app, services)`: the shortcut (`triage_message`), the button (`triage_post_reply`) and
  the reply modal (`triage_reply_edit`).
- `handle_triage_command(services, text=, user_id=, channel_id=, respond=)`: `/wan triage`, after ack.

Only support staff may use any of it (`bot.slack.permissions.SupportStaff`). Reports are ephemeral;
every one is recorded with `store.add_triage_record`. Attached files are fetched with the bot token
only from Slack's own hosts (or the configured SLACK_API_URL's origin), streamed to a temporary
file with a size cap and a timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.redact import redact
from bot.slack.cards import clip
from bot.slack.commands import clean_slack_text
from bot.slack.files import DownloadError, bot_token, download, token_may_go_to  # noqa: F401 (re-exported)
from bot.slack.permissions import REFUSAL, SupportStaff
from bot.slack.triage_blocks import POST_REPLY_ACTION, posted_message, summary_line, triage_report
from bot.triage import TriageResult, triage

log = logging.getLogger(__name__)

SHORTCUT_ID = "triage_message"
REPLY_MODAL_ID = "triage_reply_edit"
REPLY_BLOCK = "reply"
REPLY_INPUT = "text"

MAX_FILE_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0
LOOKUP_TIMEOUT = 15.0
MAX_FILES = 5
MAX_PENDING_REPLIES = 1000
TEXT_FILETYPES = {"text", "txt", "log", "json", "jsonl", "ndjson", "csv", "tsv", "plain"}
TEXT_SUFFIXES = {".txt", ".log", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".out"}
TEXT_MIMETYPES = ("text/", "application/json", "application/x-ndjson", "application/jsonl", "application/csv")
TASK_ID_RE = re.compile(r"(?=[\w\-]*\d)[A-Za-z0-9][\w\-]{5,127}")  # vt_1a2b3c, task_9x, a uuid
USAGE = "Paste what to triage after the word: `/wan triage <error message, log lines or a task id>`."


@dataclass
class PendingReply:
    channel_id: str
    thread_ts: str
    text: str
    staff_user: str
    record_id: int | None


class TriageDesk:
    """Per-Services state: the permission check and the replies waiting for "Post reply"."""

    def __init__(self, services: Any):
        self.services = services
        self.staff = SupportStaff(services.settings, services.client)
        self.replies: OrderedDict[str, PendingReply] = OrderedDict()

    async def keep_reply(self, reply: PendingReply) -> str:
        """Remember a reply for its "Post reply" button; with a triage record, in the database too,
        so the button still works after a restart (ref `t<record id>`)."""
        ref = secrets.token_urlsafe(9)
        if reply.record_id is not None:
            try:
                await self.services.store.keep_triage_reply(
                    reply.record_id, channel_id=reply.channel_id, thread_ts=reply.thread_ts,
                    reply=redact(reply.text))
                ref = f"t{reply.record_id}"
            except Exception:
                log.exception("could not store the triage reply", extra={"record_id": reply.record_id})
        self.replies[ref] = reply
        while len(self.replies) > MAX_PENDING_REPLIES:
            self.replies.popitem(last=False)
        return ref

    async def find_reply(self, ref: str | None) -> PendingReply | None:
        if not ref:
            return None
        if ref in self.replies:
            return self.replies[ref]
        if ref.startswith("t") and ref[1:].isdigit():
            record = await self.services.store.triage_record(int(ref[1:]))
            if record and record.get("reply") and record.get("reply_channel"):
                return PendingReply(record["reply_channel"], record["reply_thread_ts"], record["reply"],
                                    record["staff_user"] or "", record["id"])
        return None

    async def check(self, user_id: str | None, action: str) -> bool:
        return await self.staff.check(user_id, action)


def desk(services: Any) -> TriageDesk:
    """The TriageDesk of these services, made on first use (kept in `services.extra` when it has one)."""
    extra = getattr(services, "extra", None)
    if not isinstance(extra, dict):
        extra = services.__dict__.setdefault("_triage_extra", {})
    if "triage_desk" not in extra:
        extra["triage_desk"] = TriageDesk(services)
    return extra["triage_desk"]


# ---------------------------------------------------------------------------------------------
# Shared steps


def _lookup(services: Any):
    """The live task look-up through the gateway, when one is configured."""
    gateway = getattr(services, "gateway", None)
    if gateway is None or not getattr(services.settings, "wan_api_base", None):
        return None

    async def get_task(task_id: str):
        return await asyncio.wait_for(gateway.get_task(task_id), LOOKUP_TIMEOUT)

    return get_task


async def _record(services: Any, result: TriageResult, *, user_id: str, channel_id: str | None,
                  source: str) -> int | None:
    summary = redact(clip(f"{summary_line(result)} — from {source}. Next step: {result.next_step}", 1000))
    try:
        return await services.store.add_triage_record(
            staff_user=user_id, channel_id=channel_id, verdict=result.verdict,
            amount_usd=result.amount_usd, task_ids=list(result.task_ids), summary=summary)
    except Exception:  # the report matters more than its record
        log.exception("could not store the triage record", extra={"user_id": user_id})
        return None


def _log_done(result: TriageResult, user_id: str, action: str, started: float) -> None:
    log.info("triage done", extra={"user_id": user_id, "triage_action": action, "verdict": result.verdict,
                                   "seconds": round(time.monotonic() - started, 3)})


def bare_task_id(text: str) -> str | None:
    text = text.strip().strip("`").strip()
    return text if TASK_ID_RE.fullmatch(text) else None


# ---------------------------------------------------------------------------------------------
# /wan triage


async def handle_triage_command(services: Any, *, text: str, user_id: str, channel_id: str, respond) -> None:
    """`/wan triage <text or task id>`, after the ack: an ephemeral report through `respond`."""
    started = time.monotonic()
    if not await desk(services).check(user_id, "command"):
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
    fallback, blocks = triage_report(result, source=source)
    await respond(text=fallback, blocks=blocks, response_type="ephemeral", replace_original=False)
    await _record(services, result, user_id=user_id, channel_id=channel_id, source=source)
    _log_done(result, user_id, "command", started)


# ---------------------------------------------------------------------------------------------
# Files attached to a message


def is_text_file(file: dict[str, Any]) -> bool:
    name = str(file.get("name") or "")
    return (str(file.get("filetype") or "").lower() in TEXT_FILETYPES
            or Path(name).suffix.lower() in TEXT_SUFFIXES
            or str(file.get("mimetype") or "").lower().startswith(TEXT_MIMETYPES))


async def fetch_files(services: Any, files: list[dict[str, Any]], folder: Path) -> tuple[list[Path], list[str]]:
    """Download the message's text-like files; returns the paths and notes on what was skipped."""
    paths: list[Path] = []
    notes: list[str] = []
    token = bot_token(services)
    api_url = getattr(services.settings, "slack_api_url", None)
    for index, file in enumerate(files):
        name = str(file.get("name") or file.get("title") or f"file {index + 1}")
        if index >= MAX_FILES:
            notes.append(f"only the first {MAX_FILES} files were read")
            break
        if not is_text_file(file):
            notes.append(f"{name}: skipped (not a text, log, JSON or CSV file)")
            continue
        if int(file.get("size") or 0) > MAX_FILE_BYTES:
            notes.append(f"{name}: skipped (larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; use the CLI)")
            continue
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            notes.append(f"{name}: skipped (no download link)")
            continue
        dest = folder / f"{index}.dat"
        try:
            await download(url, token, dest, api_url=api_url, max_bytes=MAX_FILE_BYTES,
                           timeout=DOWNLOAD_TIMEOUT)
        except (TimeoutError, DownloadError, aiohttp.ClientError, OSError) as exc:
            reason = str(exc) if isinstance(exc, DownloadError) else type(exc).__name__
            log.warning("triage file download failed", extra={"file_id": file.get("id"), "error": reason})
            notes.append(redact(f"{name}: could not be downloaded ({reason})"))
            continue
        paths.append(dest)
    return paths, notes


# ---------------------------------------------------------------------------------------------
# The message shortcut and the reply button


async def _ephemeral(client: Any, channel_id: str, user_id: str, text: str, blocks: list | None = None,
                     respond=None) -> None:
    """An ephemeral message to one person; through the response_url when the bot is not in the channel."""
    try:
        await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)
        return
    except Exception as exc:
        log.warning("chat.postEphemeral failed", extra={"user_id": user_id, "error": redact(str(exc))[:200]})
    if respond is not None:
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def triage_message(services: Any, *, user_id: str, channel_id: str, message: dict[str, Any],
                         respond=None) -> None:
    """The shortcut's work after the ack: check, download, triage, report, record."""
    started = time.monotonic()
    client = services.client
    if not await desk(services).check(user_id, "shortcut"):
        await _ephemeral(client, channel_id, user_id, REFUSAL, respond=respond)
        return
    text = clean_slack_text(str(message.get("text") or ""))
    files = [f for f in message.get("files") or [] if isinstance(f, dict)]
    with tempfile.TemporaryDirectory(prefix="wanbot-triage-") as folder:
        paths, notes = await fetch_files(services, files, Path(folder))
        try:
            result = await triage(texts=[text] if text.strip() else [], paths=paths,
                                  settings=services.settings, lookup=_lookup(services))
        except Exception:
            log.exception("triage failed", extra={"user_id": user_id, "triage_action": "shortcut"})
            await _ephemeral(client, channel_id, user_id, "Sorry, triage failed on that message.", respond=respond)
            return
    result.notes += notes
    source = "a message" + (f" with {len(paths)} file(s)" if paths else "")
    record_id = await _record(services, result, user_id=user_id, channel_id=channel_id, source=source)
    ref = None
    message_ts = message.get("ts")
    if message_ts and channel_id:
        thread_ts = str(message.get("thread_ts") or message_ts)
        ref = json.dumps({"r": await desk(services).keep_reply(
            PendingReply(channel_id, thread_ts, result.reply, user_id, record_id))})
    fallback, blocks = triage_report(result, source=source, reply_ref=ref)
    await _ephemeral(client, channel_id, user_id, fallback, blocks, respond=respond)
    _log_done(result, user_id, "shortcut", started)


def reply_modal(ref: str, reply: PendingReply) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REPLY_MODAL_ID,
        "private_metadata": json.dumps({"r": ref}),
        "title": {"type": "plain_text", "text": "Reply to the customer"},
        "submit": {"type": "plain_text", "text": "Post in thread"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{
            "type": "input", "block_id": REPLY_BLOCK,
            "label": {"type": "plain_text", "text": "Reply (edit before posting if you like)"},
            "element": {"type": "plain_text_input", "action_id": REPLY_INPUT, "multiline": True,
                        "max_length": 3000, "initial_value": clip(redact(reply.text), 3000)},
        }],
    }


def _ref(raw: str | None) -> str | None:
    try:
        return str(json.loads(raw or "")["r"])
    except (ValueError, KeyError, TypeError):
        return None


def register(app: Any, services: Any) -> None:
    """The message shortcut, the "Post reply in thread" button and its edit modal."""
    triage_desk = desk(services)

    @app.shortcut(SHORTCUT_ID)
    async def on_shortcut(ack, shortcut, respond):
        await ack()
        await triage_message(services, user_id=shortcut["user"]["id"],
                             channel_id=(shortcut.get("channel") or {}).get("id"),
                             message=shortcut.get("message") or {}, respond=respond)

    @app.action(POST_REPLY_ACTION)
    async def on_post_reply(ack, body, action, respond):
        await ack()
        user_id = body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if not await triage_desk.check(user_id, "post_reply"):
            await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
            return
        ref = _ref(action.get("value"))
        reply = await triage_desk.find_reply(ref)
        if reply is None:
            await respond(text="This reply is no longer available (the bot restarted). Run triage again.",
                          response_type="ephemeral", replace_original=False)
            return
        try:
            await services.client.views_open(trigger_id=body["trigger_id"], view=reply_modal(ref, reply))
        except Exception as exc:  # no modal (expired trigger): post the reply as it stands
            log.warning("reply modal did not open; posting directly",
                        extra={"user_id": user_id, "error": redact(str(exc))[:200]})
            await _post_reply(services, reply, reply.text, user_id, channel_id or reply.channel_id, respond)

    @app.view(REPLY_MODAL_ID)
    async def on_reply_submit(ack, body, view):
        user_id = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        text = ((values.get(REPLY_BLOCK) or {}).get(REPLY_INPUT) or {}).get("value") or ""
        if not text.strip():
            await ack(response_action="errors", errors={REPLY_BLOCK: "Write the reply to post."})
            return
        await ack()
        if not await triage_desk.check(user_id, "post_reply"):
            return
        reply = await triage_desk.find_reply(_ref(view.get("private_metadata")))
        if reply is None:
            return
        await _post_reply(services, reply, text, user_id, reply.channel_id, None)


async def _post_reply(services: Any, reply: PendingReply, text: str, user_id: str, channel_id: str,
                      respond) -> None:
    client = services.client
    try:
        await client.chat_postMessage(channel=reply.channel_id, thread_ts=reply.thread_ts, text=redact(text))
    except Exception as exc:
        log.warning("posting the triage reply failed", extra={"user_id": user_id, "error": redact(str(exc))[:200]})
        await _ephemeral(client, channel_id, user_id, "Sorry, I could not post the reply in that thread "
                         "(is the bot in the channel?).", respond=respond)
        return
    permalink = None
    try:
        permalink = (await client.chat_getPermalink(channel=reply.channel_id, message_ts=reply.thread_ts))["permalink"]
    except Exception as exc:  # the link is a nicety
        log.info("no permalink for the triage thread", extra={"error": redact(str(exc))[:200]})
    log.info("triage reply posted", extra={"user_id": user_id, "record_id": reply.record_id})
    fallback, blocks = posted_message(reply.channel_id, reply.thread_ts, permalink)
    await _ephemeral(client, channel_id, user_id, fallback, blocks, respond=respond)
