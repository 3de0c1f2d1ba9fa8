"""Downloading a Slack file with the bot token, safely (used by triage and by i2v attachments).

The token goes only to Slack's own hosts over https, or to the configured SLACK_API_URL's origin
(the local stand-in). Redirects are followed by hand, each one checked the same way; the body is
streamed with a size cap and a timeout, so a wrong `size` in Slack's metadata cannot fill a disk.
The fetching itself is bot/net/download.py; this module holds only the Slack file policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.net.download import DownloadError as _NetError
from bot.net.download import Reach, Refused, fetch, origin

DOWNLOAD_TIMEOUT = 120.0
MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 200 * 1024 * 1024


class DownloadError(Exception):
    pass


def is_slack_host(url: str) -> bool:
    scheme, host, port = origin(url)
    return scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")) and port == 443


def token_may_go_to(url: str, api_url: str | None) -> bool:
    """True only for Slack's own hosts over https, or the configured Web API's origin."""
    if is_slack_host(url):
        return True
    return bool(api_url) and origin(url) == origin(api_url)


def slack_policy(api_url: str | None) -> Callable[[str], Reach]:
    """The configured Web API's origin (the local stand-in) is trusted; Slack's own hosts must also
    resolve to public addresses; nothing else gets the token."""
    def policy(url: str) -> Reach:
        if api_url and origin(url) == origin(api_url):
            return Reach.TRUSTED
        if is_slack_host(url):
            return Reach.PUBLIC
        raise Refused("the file is not on a Slack host, so it was not fetched")
    return policy


def bot_token(settings: Settings) -> str:
    return settings.secret("slack_bot_token") or ""


def _accept(status: int, headers: Mapping[str, str]) -> None:
    if status != 200:
        raise DownloadError(f"Slack answered HTTP {status}")
    if headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html":
        raise DownloadError("Slack answered a sign-in page (the bot may lack files:read)")


async def _stream(url: str, token: str, sink: Callable[[bytes], Any], *, api_url: str | None,
                  max_bytes: int, timeout: float) -> int:
    try:
        return await fetch(url, sink, policy=slack_policy(api_url), max_bytes=max_bytes, time_limit=timeout,
                           headers={"Authorization": f"Bearer {token}"}, accept=_accept,
                           max_redirects=MAX_REDIRECTS,
                           too_large=lambda limit: f"the file is larger than {limit / (1024 * 1024):g} MB")
    except _NetError as exc:
        raise DownloadError(exc.reason) from None


async def download(url: str, token: str, dest: Path, *, api_url: str | None, max_bytes: int = DEFAULT_MAX_BYTES,
                   timeout: float = DOWNLOAD_TIMEOUT) -> int:
    """Stream `url` into the file `dest` with the bot token; returns the size."""
    with dest.open("wb") as out:
        return await _stream(url, token, out.write, api_url=api_url, max_bytes=max_bytes, timeout=timeout)


async def download_bytes(url: str, token: str, *, api_url: str | None, max_bytes: int,
                         timeout: float = DOWNLOAD_TIMEOUT) -> bytes:
    """The same, into memory (for small files such as an i2v image)."""
    parts: list[bytes] = []
    await _stream(url, token, parts.append, api_url=api_url, max_bytes=max_bytes, timeout=timeout)
    return b"".join(parts)
