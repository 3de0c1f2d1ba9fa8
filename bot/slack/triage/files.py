"""The files attached to a message sent to triage: text-like ones only, fetched with the bot token
from Slack's own hosts (or the configured SLACK_API_URL's origin), streamed to a temporary folder
with a size cap and a timeout; what is skipped is said in a note."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp

from bot.redact import redact
from bot.slack.services import Services
from bot.slack.web.files import DownloadError, bot_token, download

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0
MAX_FILES = 5
TEXT_FILETYPES = {"text", "txt", "log", "json", "jsonl", "ndjson", "csv", "tsv", "plain"}
TEXT_SUFFIXES = {".txt", ".log", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".out"}
TEXT_MIMETYPES = ("text/", "application/json", "application/x-ndjson", "application/jsonl", "application/csv")


def is_text_file(file: dict[str, Any]) -> bool:
    name = str(file.get("name") or "")
    return (str(file.get("filetype") or "").lower() in TEXT_FILETYPES
            or Path(name).suffix.lower() in TEXT_SUFFIXES
            or str(file.get("mimetype") or "").lower().startswith(TEXT_MIMETYPES))


async def fetch_files(services: Services, files: list[dict[str, Any]], folder: Path) -> tuple[list[Path], list[str]]:
    """Download the message's text-like files; returns the paths and notes on what was skipped."""
    paths: list[Path] = []
    notes: list[str] = []
    token = bot_token(services.settings)
    api_url = services.settings.slack_api_url
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
