"""Download a finished video safely: streamed to a temporary file, size-capped, every hop checked.

Which URLs may be fetched (gateway-api.md): the configured gateway's own origin is trusted like the
gateway; anything else must be https on a public address, and so must every redirect. The fetching
itself (one lookup per hop, connect to the checked address, caps) is bot/net/download.py.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from bot.net.download import (
    CHUNK,
    DownloadError,
    Policy,
    Reach,
    Refused,
    TooLarge,
    fetch,
    origin,
    resolve_checked,
)

__all__ = ["CHUNK", "DeliveryError", "VideoGone", "check_download_url", "download_video", "looks_like_mp4",
           "video_policy"]

MAX_REDIRECTS = 5
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


def video_policy(trusted_origin: str | None) -> Policy:
    """The gateway's own origin is trusted like the gateway (a simulator on loopback works); anything
    else must be https and resolve to public addresses."""
    trusted = origin(trusted_origin) if trusted_origin else None

    def policy(url: str) -> Reach:
        if trusted is not None and origin(url) == trusted:
            return Reach.TRUSTED
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise Refused(f"refusing to download the video from a non-https URL ({parts.scheme or 'no'} scheme)")
        return Reach.PUBLIC
    return policy


def _as_delivery_error(exc: DownloadError) -> DeliveryError:
    reason = exc.reason.replace("refusing to download from", "refusing to download the video from")
    return DeliveryError(reason, retryable=exc.retryable)


async def check_download_url(url: str, *, trusted_origin: str | None) -> None:
    """Raise DeliveryError unless the bot may fetch this URL (the policy, then its resolved addresses)."""
    try:
        await resolve_checked(url, video_policy(trusted_origin))
    except DownloadError as exc:
        raise _as_delivery_error(exc) from None


def looks_like_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _MP4_BOX_TYPES


def _accept(status: int, headers: Mapping[str, str]) -> None:
    if status in (403, 404, 410):
        raise VideoGone(f"the video link has expired or was removed (HTTP {status})")
    if status >= 500 or status == 429:
        raise DeliveryError(f"the video host answered HTTP {status}", retryable=True)
    if status >= 400:
        raise DeliveryError(f"the video host answered HTTP {status}")


async def download_video(url: str, *, max_bytes: int, time_limit: float, trusted_origin: str | None = None,
                         dest_dir: str | None = None, headers: dict[str, str] | None = None) -> Path:
    """Stream the video at `url` into a temporary file and return its path (the caller deletes it)."""
    fd, name = tempfile.mkstemp(prefix="wanbot-", suffix=".mp4", dir=dest_dir)
    head = bytearray()

    def sink(chunk: bytes) -> None:
        if len(head) < 16:
            head.extend(chunk[:16])
        out.write(chunk)

    try:
        with os.fdopen(fd, "wb") as out:
            await fetch(url, sink, policy=video_policy(trusted_origin), max_bytes=max_bytes, time_limit=time_limit,
                        headers=headers, accept=_accept, max_redirects=MAX_REDIRECTS,
                        too_large=lambda limit: f"the video is over the {limit:,}-byte limit")
        if not looks_like_mp4(bytes(head)):
            kind = "a web page" if bytes(head).lstrip().lower().startswith((b"<!doctype", b"<html")) \
                else "not an MP4 file"
            raise DeliveryError(f"the video URL served {kind}, not a video")
        return Path(name)
    except TooLarge as exc:
        os.unlink(name)
        raise DeliveryError(exc.reason) from None
    except DownloadError as exc:
        os.unlink(name)
        raise _as_delivery_error(exc) from None
    except BaseException:
        os.unlink(name)
        raise
