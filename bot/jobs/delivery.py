"""Download a finished video safely: streamed to a temporary file, size-capped, every hop checked.

Which URLs may be fetched (gateway-api.md): the configured gateway's own origin is trusted like the
gateway; anything else must be https on a public address, and so must every redirect.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from bot.wan.urls import is_public_ip

MAX_REDIRECTS = 5
CHUNK = 1 << 16
# ISO base media files (MP4, MOV) start with a box whose type sits at bytes 4-8.
_MP4_BOX_TYPES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"}


class DeliveryError(Exception):
    """The video cannot be delivered. `retryable` errors may succeed later (5xx, timeouts)."""

    def __init__(self, reason: str, *, retryable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class VideoGone(DeliveryError):
    """The video URL expired or was removed (DashScope links last 24 h)."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


async def check_download_url(url: str, *, trusted_origin: str | None) -> None:
    """Raise DeliveryError unless the bot may fetch this URL."""
    if trusted_origin and _origin(url) == _origin(trusted_origin):
        return
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise DeliveryError(f"refusing to download the video from a non-https URL ({parts.scheme or 'no'} scheme)")
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise DeliveryError(f"cannot resolve the video host {host}: {exc}", retryable=True) from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if not is_public_ip(address):
            raise DeliveryError(f"refusing to download the video from a private address ({host})")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~25 ms of CPU: once per process, not once per video.
    return httpx.create_ssl_context()


def looks_like_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _MP4_BOX_TYPES


async def download_video(url: str, *, max_bytes: int, time_limit: float, trusted_origin: str | None = None,
                         dest_dir: str | None = None, headers: dict[str, str] | None = None) -> Path:
    """Stream the video at `url` into a temporary file and return its path (the caller deletes it)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False, verify=_tls_context()) as http:
        try:
            return await asyncio.wait_for(
                _fetch(http, url, max_bytes=max_bytes, trusted_origin=trusted_origin,
                       dest_dir=dest_dir, headers=headers or {}),
                time_limit)
        except TimeoutError:
            raise DeliveryError(f"the video download took longer than {time_limit:.0f} s", retryable=True) from None


async def _fetch(http: httpx.AsyncClient, url: str, *, max_bytes: int, trusted_origin: str | None,
                 dest_dir: str | None, headers: dict[str, str]) -> Path:
    for _ in range(MAX_REDIRECTS + 1):
        await check_download_url(url, trusted_origin=trusted_origin)
        try:
            async with http.stream("GET", url, headers=headers) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                _raise_for_status(response.status_code)
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise DeliveryError(f"the video is {declared:,} bytes, over the {max_bytes:,}-byte limit")
                return await _save(response, max_bytes=max_bytes, dest_dir=dest_dir)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"the video download failed: {type(exc).__name__}", retryable=True) from None
    raise DeliveryError(f"the video URL redirected more than {MAX_REDIRECTS} times")


def _raise_for_status(status: int) -> None:
    if status in (403, 404, 410):
        raise VideoGone(f"the video link has expired or was removed (HTTP {status})")
    if status >= 500 or status == 429:
        raise DeliveryError(f"the video host answered HTTP {status}", retryable=True)
    if status >= 400:
        raise DeliveryError(f"the video host answered HTTP {status}")


async def _save(response: httpx.Response, *, max_bytes: int, dest_dir: str | None) -> Path:
    fd, name = tempfile.mkstemp(prefix="wanbot-", suffix=".mp4", dir=dest_dir)
    path = Path(name)
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in response.aiter_bytes(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise DeliveryError(f"the video is over the {max_bytes:,}-byte limit")
                if len(head) < 16:
                    head += chunk[:16]
                out.write(chunk)
        if not looks_like_mp4(head):
            kind = "a web page" if head.lstrip().lower().startswith((b"<!doctype", b"<html")) else "not an MP4 file"
            raise DeliveryError(f"the video URL served {kind}, not a video")
        return path
    except BaseException:
        os.unlink(name)
        raise
