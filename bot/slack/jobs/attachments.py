"""i2v from an image attached in Slack (operations.md: "An image attached in the channel can be used
as the i2v image").

`/wan i2v <prompt>` with no `--image` uses the newest image file shared in the channel in the last
30 minutes (found with `conversations.history`); `--image` may also be a Slack file link (its
permalink or `url_private`). The file is downloaded with the bot token (`bot.slack.web.files`: Slack's
hosts only, redirects checked, streamed with a cap of 10 MB, the gateway's limit for a `data:`
image), its first bytes must say PNG, JPEG, WEBP or GIF, and it goes to the gateway inline as
`data:image/<type>;base64,...`. The data URI is never logged or shown: cards show a short label.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import grammar
from bot.slack.blocks.mrkdwn import clip, escape
from bot.slack.services import Services
from bot.slack.web.files import DownloadError, bot_token, download_bytes, token_may_go_to
from bot.slack.web.members import is_member
from bot.wan.request import FieldProblem, Mode, RequestInvalid, build_request
from bot.wan.urls import DEFAULT_MAX_DATA_BYTES

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = DEFAULT_MAX_DATA_BYTES  # the gateway's cap on a data:image URI
RECENT_SECONDS = 30 * 60
HISTORY_LIMIT = 50
DOWNLOAD_TIMEOUT = 60.0
IMAGE_MIMETYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "webp",
                   "image/gif": "gif"}
KINDS = "PNG, JPEG, WEBP or GIF"
MAX_SHARES_CHECKED = 20  # conversations a file link's sharing is checked in (a member lookup each)
_FILE_ID = re.compile(r"(?:^|[/-])(F[A-Z0-9]{6,})(?=/|$)")

NO_IMAGE_HINT = (f"No image was shared in this channel in the last {RECENT_SECONDS // 60} minutes. "
                 "Paste an https URL here, or attach an image in the channel and run `/wan i2v <prompt>` again.")


class AttachmentProblem(Exception):
    """Why an attached image cannot be used, in words for the user (mrkdwn)."""


@dataclass
class Attachment:
    name: str
    kind: str          # png, jpeg, webp, gif
    size: int
    data_uri: str
    shared_by: str | None = None
    shared_ts: float | None = None

    def note(self, now: float | None = None) -> str:
        """What the user is told after the job starts: which image was used."""
        text = f"Using the image *{clip(escape(self.name), 100)}*"
        if self.shared_by:
            text += f" shared by <@{self.shared_by}>"
        if self.shared_ts:
            minutes = max(0, int(((now or time.time()) - self.shared_ts) // 60))
            text += " just now" if minutes < 1 else f" {minutes} min ago"
        return text + f" ({self.kind.upper()}, {size_text(self.size)})."


@dataclass
class Resolved:
    """The command to run after looking for an attachment, or None with `message` saying why not."""

    command: grammar.Command | None
    attachment: Attachment | None = None
    message: str | None = None


def size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"


def sniff_image(data: bytes) -> str | None:
    """The image type its magic bytes say, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def slack_file_id(url: Any, api_url: str | None) -> str | None:
    """The file id in a Slack file link (permalink or url_private), or None for any other URL."""
    if not isinstance(url, str) or not token_may_go_to(url, api_url):
        return None
    path = url.split("?", 1)[0].split("#", 1)[0]
    path = path.split("://", 1)[-1].partition("/")[2]
    match = _FILE_ID.search("/" + path)
    return match.group(1) if match else None


def _name(file: dict[str, Any]) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "the file")


async def file_info(client: AsyncWebClient, file_id: str) -> dict[str, Any]:
    try:
        answer = await client.files_info(file=file_id)
    except SlackApiError as exc:
        error = (exc.response or {}).get("error", "error") if exc.response is not None else "error"
        raise AttachmentProblem(f"I couldn't read that Slack file (Slack said `{escape(error)}`). "
                                "Is it shared in a channel I'm in?") from None
    return dict(answer.get("file") or {})


async def recent_image(client: AsyncWebClient, channel_id: str, *, now: float | None = None,
                       within: float = RECENT_SECONDS) -> dict[str, Any] | None:
    """The newest image file shared at the top level of the channel within `within` seconds.

    Raises AttachmentProblem when the history cannot be read."""
    now = time.time() if now is None else now
    try:
        answer = await client.conversations_history(channel=channel_id, oldest=f"{now - within:.6f}",
                                                    limit=HISTORY_LIMIT)
    except SlackApiError as exc:
        error = (exc.response or {}).get("error", "error") if exc.response is not None else "error"
        log.info("conversations.history failed", extra={"channel": channel_id, "error": error})
        hint = " Invite me with `/invite @wanbot`, or" if error == "not_in_channel" else ""
        raise AttachmentProblem(f"I couldn't look for an image in this channel (Slack said `{escape(error)}`)."
                                f"{hint} paste an https URL in the form.") from None
    messages = sorted(answer.get("messages") or [], key=lambda m: float(m.get("ts") or 0), reverse=True)
    for message in messages:
        ts = float(message.get("ts") or 0)
        if ts < now - within:
            continue
        for file in message.get("files") or []:
            if not isinstance(file, dict) or file.get("mode") in ("tombstone", "external") or file.get("is_external"):
                continue
            if str(file.get("mimetype") or "").lower() in IMAGE_MIMETYPES:
                return {**file, "_shared_by": message.get("user") or file.get("user"), "_shared_ts": ts}
    return None


async def fetch_image(services: Services, file: dict[str, Any]) -> Attachment:
    """Download a Slack image file with the bot token and make its data URI."""
    name = _name(file)
    shown = "`" + clip(name.replace("`", "'"), 80) + "`"
    mimetype = str(file.get("mimetype") or "").lower()
    if mimetype and mimetype not in IMAGE_MIMETYPES:
        raise AttachmentProblem(f"{shown} is not an image ({escape(mimetype)}). Attach a {KINDS} image.")
    limit = f"{MAX_IMAGE_BYTES / (1024 * 1024):g} MB"
    too_big = (f"is too large: an attached image can be at most {limit} (it is sent to the video "
               "service inline). Attach a smaller image, or give a public https link with `--image`.")
    size = int(file.get("size") or 0)
    if size > MAX_IMAGE_BYTES:
        raise AttachmentProblem(f"{shown} ({size_text(size)}) {too_big}")
    url = file.get("url_private_download") or file.get("url_private")
    api_url = services.settings.slack_api_url
    if not url:
        raise AttachmentProblem(f"Slack gave me no download link for {shown}.")
    if not token_may_go_to(str(url), api_url):
        log.warning("attachment not on a Slack host; not fetched", extra={"file_id": file.get("id")})
        raise AttachmentProblem(f"{shown} is not stored on Slack, so I won't fetch it with the bot's token. "
                                "Give a public https link with `--image` instead.")
    try:
        data = await download_bytes(str(url), bot_token(services.settings), api_url=api_url, max_bytes=MAX_IMAGE_BYTES,
                                    timeout=DOWNLOAD_TIMEOUT)
    except DownloadError as exc:
        log.warning("attachment download failed", extra={"file_id": file.get("id"), "error": str(exc)})
        if "larger than" in str(exc):
            raise AttachmentProblem(f"{shown} {too_big}") from None
        raise AttachmentProblem(f"I couldn't download {shown}: {escape(str(exc))}.") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        log.warning("attachment download failed", extra={"file_id": file.get("id"), "error": type(exc).__name__})
        raise AttachmentProblem(f"I couldn't download {shown} ({type(exc).__name__}). Try again.") from None
    kind = sniff_image(data)
    if kind is None:
        raise AttachmentProblem(f"{shown} is not a {KINDS} image (its contents are not one). "
                                f"Attach a {KINDS} image.")
    log.info("attachment fetched", extra={"file_id": file.get("id"), "bytes": len(data), "kind": kind})
    return Attachment(name=name, kind=kind, size=len(data),
                      data_uri=f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}",
                      shared_by=file.get("_shared_by"), shared_ts=file.get("_shared_ts"))


def shared_channels(file: dict[str, Any]) -> list[str]:
    """Every conversation files.info says the file is shared in (channels, groups, ims and shares)."""
    found: list[str] = []
    shares = file.get("shares") or {}
    for ids in (file.get("channels"), file.get("groups"), file.get("ims"),
                shares.get("public") if isinstance(shares, dict) else None,
                shares.get("private") if isinstance(shares, dict) else None):
        for channel in ids or []:
            if isinstance(channel, str) and channel not in found:
                found.append(channel)
    return found


async def may_see_file(client: AsyncWebClient, file: dict[str, Any], *, channel_id: str,
                       user_id: str | None) -> bool:
    """May the requester have this file fetched with the bot token? Only a file shared where the
    command runs, or in a conversation the requester is a member of (or their own upload): the bot
    sees files in private channels that the requester may not. Unknown membership answers no."""
    if user_id and file.get("user") == user_id:
        return True
    channels = shared_channels(file)
    if channel_id in channels:
        return True
    for channel in channels[:MAX_SHARES_CHECKED]:
        if await is_member(client, channel, user_id):
            return True
    return False


async def resolve_image(services: Services, parsed: grammar.Command, *, channel_id: str,
                        user_id: str | None) -> Resolved:
    """An i2v command whose image is a Slack file or missing: fetch the file and make it a Generate.

    Anything else comes back unchanged. With no image to be found, the modal opens with a hint.
    A file link is fetched only when the requester may see the file (`may_see_file`)."""
    api_url = services.settings.slack_api_url
    if isinstance(parsed, grammar.Generate) and parsed.request.mode == Mode.IMAGE_TO_VIDEO:
        fields = parsed.request.fields()
        problems: list[FieldProblem] = []
    elif isinstance(parsed, grammar.OpenModal) and parsed.mode == Mode.IMAGE_TO_VIDEO:
        fields = dict(parsed.prefill)
        problems = [p for p in parsed.problems if grammar.field_name(p.field) != "image_url"]
    else:
        return Resolved(parsed)
    image = fields.get("image_url")
    try:
        if image:
            file_id = slack_file_id(image, api_url)
            if file_id is None:
                return Resolved(parsed)
            if problems:  # the form cannot carry the file: fix the rest first
                return Resolved(grammar.OpenModal(Mode.IMAGE_TO_VIDEO, fields, [*problems, FieldProblem(
                    "image_url", "A Slack file link works in the command only: fix the other fields and "
                    "run the command again, or paste a public https URL here.")]))
            file = await file_info(services.client, file_id)
            if not await may_see_file(services.client, file, channel_id=channel_id, user_id=user_id):
                log.info("slack file link refused: not shared where the requester is",
                         extra={"file_id": file_id, "user": user_id, "channel": channel_id})
                raise AttachmentProblem(
                    "`--image` (image_url): that Slack file is not shared in this channel or in a channel "
                    "you are in, so I won't fetch it. Share it here first, or give a public https link.")
        else:
            if problems or not fields.get("prompt"):  # bare `/wan i2v`: the form, as always
                return Resolved(parsed)
            file = await recent_image(services.client, channel_id)
            if file is None:
                return Resolved(grammar.OpenModal(Mode.IMAGE_TO_VIDEO, fields,
                                                  [FieldProblem("image_url", NO_IMAGE_HINT)]))
            if not file.get("url_private_download") and not file.get("url_private") and file.get("id"):
                file = {**await file_info(services.client, str(file["id"])),
                        "_shared_by": file.get("_shared_by"), "_shared_ts": file.get("_shared_ts")}
        attachment = await fetch_image(services, file)
    except AttachmentProblem as exc:
        return Resolved(None, message=str(exc))
    try:
        request = build_request(Mode.IMAGE_TO_VIDEO, {**fields, "image_url": attachment.data_uri})
    except RequestInvalid as exc:
        others = [p for p in exc.problems if grammar.field_name(p.field) != "image_url"]
        if not others:
            return Resolved(None, message=f"The video service would not take `{escape(attachment.name)}`: "
                                          f"{escape(exc.problems[0].message)}")
        prefill = {k: v for k, v in fields.items() if k != "image_url"}
        return Resolved(grammar.OpenModal(Mode.IMAGE_TO_VIDEO, prefill, others))
    return Resolved(grammar.Generate(request), attachment=attachment)
