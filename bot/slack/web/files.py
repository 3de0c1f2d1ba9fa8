"""Downloading a Slack file with the bot token, safely (used by triage and by i2v attachments).

The token goes only to Slack's own hosts over https, or to the configured SLACK_API_URL's origin
(the local stand-in). Redirects are followed by hand, each one checked the same way; the body is
streamed with a size cap and a timeout, so a wrong `size` in Slack's metadata cannot fill a disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

DOWNLOAD_TIMEOUT = 120.0
MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 200 * 1024 * 1024


class DownloadError(Exception):
    pass


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme, (parts.hostname or "").lower(), port


def is_slack_host(url: str) -> bool:
    scheme, host, port = _origin(url)
    return scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")) and port in (None, 443)


def token_may_go_to(url: str, api_url: str | None) -> bool:
    """True only for Slack's own hosts over https, or the configured Web API's origin."""
    if is_slack_host(url):
        return True
    return bool(api_url) and _origin(url) == _origin(api_url)


def bot_token(services: Any) -> str:
    return getattr(services.client, "token", None) or services.settings.secret("slack_bot_token") or ""


def _too_big(max_bytes: int) -> DownloadError:
    return DownloadError(f"the file is larger than {max_bytes / (1024 * 1024):g} MB")


async def _stream(url: str, token: str, sink: Callable[[bytes], None], *, api_url: str | None,
                  max_bytes: int, timeout: float) -> int:
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_read=min(timeout, 60.0))
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        for _ in range(MAX_REDIRECTS + 1):
            if not token_may_go_to(url, api_url):
                raise DownloadError("the file is not on a Slack host, so it was not fetched")
            async with session.get(url, headers={"Authorization": f"Bearer {token}"},
                                   allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise DownloadError(f"Slack answered HTTP {response.status}")
                if response.content_type == "text/html":
                    raise DownloadError("Slack answered a sign-in page (the bot may lack files:read)")
                if (response.content_length or 0) > max_bytes:
                    raise _too_big(max_bytes)
                size = 0
                async for chunk in response.content.iter_chunked(1024 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_big(max_bytes)
                    sink(chunk)
                return size
    raise DownloadError("too many redirects")


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
