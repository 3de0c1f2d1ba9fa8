"""An audio file attached in Slack as the soundtrack to follow (issue 12: `audio_url`, "or an audio
file attached in Slack the way images are for i2v, where the format accepts inline data").

`--audio-url` given a Slack file link (its permalink or `url_private`) is fetched the way an i2v image
is (`attachments`): only for a requester who may see the file, with the bot token on Slack's hosts
only, capped while streaming at 15 MB (Wan 2.6's limit for audio_url), its first bytes must say MP3
or WAV, and it goes to the gateway inline as `data:audio/mpeg|wav;base64,...` where the configured
wire format takes inline data (unified). Elsewhere the link is refused before anything is downloaded
or sent, naming the field and the format; a 3-30 s length is checked by the request model.
"""

from __future__ import annotations

import base64
import logging

import aiohttp

from bot.slack import grammar
from bot.slack.blocks.mrkdwn import clip, escape
from bot.slack.jobs.attachments import (
    DOWNLOAD_TIMEOUT,
    AttachmentProblem,
    Resolved,
    file_info,
    may_see_file,
    size_text,
    slack_file_id,
)
from bot.slack.services import Services
from bot.slack.web.files import DownloadError, bot_token, download_bytes, token_may_go_to
from bot.wan.media import MAX_AUDIO_BYTES
from bot.wan.request import RequestInvalid

log = logging.getLogger(__name__)

AUDIO_MIMETYPES = {"audio/mpeg": "mpeg", "audio/mp3": "mpeg", "audio/wav": "wav", "audio/x-wav": "wav",
                   "audio/wave": "wav", "audio/vnd.wave": "wav"}
KINDS = "MP3 or WAV"


def sniff_audio(data: bytes) -> str | None:
    """`mpeg` or `wav` from the file's first bytes, or None."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"ID3") or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mpeg"
    return None


def _limit() -> str:
    return f"{MAX_AUDIO_BYTES / (1024 * 1024):g} MB"


async def fetch_audio(services: Services, file: dict) -> tuple[str, str, int]:
    """(name, data URI, size) of a Slack audio file, downloaded with the bot token."""
    name = str(file.get("name") or file.get("title") or file.get("id") or "the file")
    shown = "`" + clip(name.replace("`", "'"), 80) + "`"
    mimetype = str(file.get("mimetype") or "").lower()
    if mimetype and mimetype not in AUDIO_MIMETYPES:
        raise AttachmentProblem(f"`--audio-url` (audio_url): {shown} is not audio ({escape(mimetype)}). "
                                f"Attach an {KINDS} file.")
    too_big = (f"is too large: an attached audio file can be at most {_limit()} (Wan 2.6's limit). "
               "Trim it, or give a public https link with `--audio-url`.")
    size = int(file.get("size") or 0)
    if size > MAX_AUDIO_BYTES:
        raise AttachmentProblem(f"`--audio-url` (audio_url): {shown} ({size_text(size)}) {too_big}")
    url = file.get("url_private_download") or file.get("url_private")
    api_url = services.settings.slack_api_url
    if not url or not token_may_go_to(str(url), api_url):
        raise AttachmentProblem(f"`--audio-url` (audio_url): {shown} is not stored on Slack, so I won't fetch "
                                "it with the bot's token. Give a public https link instead.")
    try:
        data = await download_bytes(str(url), bot_token(services.settings), api_url=api_url,
                                    max_bytes=MAX_AUDIO_BYTES, timeout=DOWNLOAD_TIMEOUT)
    except DownloadError as exc:
        log.warning("audio attachment download failed", extra={"file_id": file.get("id"), "error": str(exc)})
        if "larger than" in str(exc):
            raise AttachmentProblem(f"`--audio-url` (audio_url): {shown} {too_big}") from None
        raise AttachmentProblem(f"I couldn't download {shown}: {escape(str(exc))}.") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise AttachmentProblem(f"I couldn't download {shown} ({type(exc).__name__}). Try again.") from None
    kind = sniff_audio(data)
    if kind is None:
        raise AttachmentProblem(f"`--audio-url` (audio_url): {shown} is not an {KINDS} file (its contents are "
                                "not one).")
    log.info("audio attachment fetched", extra={"file_id": file.get("id"), "bytes": len(data), "kind": kind})
    return name, f"data:audio/{kind};base64,{base64.b64encode(data).decode('ascii')}", len(data)


async def resolve_audio(services: Services, parsed: grammar.Command, *, channel_id: str,
                        user_id: str | None) -> Resolved:
    """A command whose `audio_url` is a Slack file link, made a Generate carrying the file inline;
    anything else comes back unchanged. None (with the reason) when it cannot be used."""
    if not isinstance(parsed, grammar.Generate):
        return Resolved(parsed)
    url = parsed.request.get("audio_url")
    file_id = slack_file_id(url, services.settings.slack_api_url)
    if file_id is None:
        return Resolved(parsed)
    fmt = services.gateway.format
    if not fmt.inline_audio:
        return Resolved(None, message=(
            f"`--audio-url` (audio_url): an audio file attached in Slack is sent inline, and the {fmt.name} "
            f"wire format (WAN_API_FORMAT={fmt.name}) takes no inline audio. Give a public https link to "
            "the mp3 or wav instead. Nothing was sent."))
    try:
        file = await file_info(services.client, file_id)
        if not await may_see_file(services.client, file, channel_id=channel_id, user_id=user_id):
            raise AttachmentProblem("`--audio-url` (audio_url): that Slack file is not shared in this channel or "
                                    "in a channel you are in, so I won't fetch it.")
        name, data_uri, size = await fetch_audio(services, file)
    except AttachmentProblem as exc:
        return Resolved(None, message=f"{exc} Nothing was sent.")
    try:
        request = parsed.request.with_fields(audio_url=data_uri)
    except RequestInvalid as exc:
        problem = next((p for p in exc.problems if grammar.field_name(p.field) == "audio_url"), exc.problems[0])
        return Resolved(None, message=f"`--audio-url` (audio_url): the video service would not take "
                                      f"`{escape(name)}` ({size_text(size)}): {escape(problem.message)}. "
                                      "Nothing was sent.")
    return Resolved(grammar.Generate(request, draft=parsed.draft, variations=parsed.variations))
