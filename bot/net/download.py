"""One downloader for every file the bot fetches itself: streamed, size-capped, every hop checked.

Each caller brings its own URL policy (a finished video: the gateway's origin trusted, else public
https; a Slack file: Slack's hosts only, since the bot token goes along). This module only enforces
it: the first URL and every redirect go through the policy, and a host name is resolved once, its
answers checked, and the connection made to the checked answers (aiohttp connects to what the
resolver returns, so a second lookup that could answer differently, DNS rebinding, never happens).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot.wan.urls import is_public_ip

CHUNK = 1 << 16
READ_TIMEOUT = 60.0      # one stalled read; the whole download has its own time limit
CONNECT_TIMEOUT = 30.0
REDIRECTS = (301, 302, 303, 307, 308)


class DownloadError(Exception):
    """The file cannot be fetched. `retryable` errors may succeed later (5xx, timeouts, resets)."""

    def __init__(self, reason: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status


class Refused(DownloadError):
    """The policy or the address check forbids this URL (never retryable)."""


class TooLarge(DownloadError):
    pass


class Reach(enum.Enum):
    """What a policy allows for one URL: any address (a trusted origin) or public addresses only."""
    TRUSTED = "trusted"
    PUBLIC = "public"


# A policy looks at one URL (the first, then each redirect) and answers Reach or raises Refused.
Policy = Callable[[str], Reach]
# Called with the final (non-redirect) response's status and headers before the body is read.
Accept = Callable[[int, Mapping[str, str]], None]


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in; port -1 when it is malformed."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(parts.scheme)


def _default_accept(status: int, headers: Mapping[str, str]) -> None:
    if status >= 400:
        raise DownloadError(f"the server answered HTTP {status}", retryable=status >= 500 or status == 429,
                            status=status)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # The same CA bundle as the gateway client; loading it costs ~25 ms, so once per process.
    return httpx.create_ssl_context()


class _CheckedResolver(AbstractResolver):
    """Resolves a name once and hands aiohttp only answers that passed the check."""

    def __init__(self, public_only: bool):
        self.public_only = public_only

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except OSError as exc:
            raise DownloadError(f"cannot resolve {host}: {exc}", retryable=True) from None
        answers = []
        for fam, _, proto, _, sockaddr in infos:
            address = sockaddr[0]
            if self.public_only and not is_public_ip(ipaddress.ip_address(address.split("%")[0])):
                raise Refused(f"refusing to download from a private address ({host})")
            answers.append({"hostname": host, "host": address, "port": sockaddr[1], "family": fam,
                            "proto": proto, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV})
        if not answers:
            raise DownloadError(f"cannot resolve {host}: no address", retryable=True)
        return answers

    async def close(self) -> None:
        pass


def check_literal(url: str, reach: Reach) -> None:
    """Refuse a URL whose host is an address literal that is not public (aiohttp connects to literals
    without asking the resolver). The host is read as aiohttp reads it, after yarl's normalising."""
    if reach is Reach.TRUSTED:
        return
    host = (URL(url).host or "").strip("[]").split("%")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not is_public_ip(address):
        raise Refused(f"refusing to download from a private address ({host})")


async def resolve_checked(url: str, policy: Policy) -> None:
    """The whole check of one URL without fetching it: the policy, then (for public-only) its addresses."""
    reach = policy(url)
    check_literal(url, reach)
    host = URL(url).host or ""
    if reach is Reach.PUBLIC:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            await _CheckedResolver(public_only=True).resolve(host, URL(url).port or 443, family=socket.AF_UNSPEC)


async def fetch(url: str, sink: Callable[[bytes], Any], *, policy: Policy, max_bytes: int, time_limit: float,
                headers: Mapping[str, str] | None = None, accept: Accept | None = None,
                max_redirects: int = 5, too_large: Callable[[int], str] | None = None) -> int:
    """Stream `url` into `sink` (called with each chunk) and return the size in bytes.

    Raises DownloadError (Refused, TooLarge, or one carrying the HTTP status) on any failure; the
    caller cleans up what its sink wrote."""
    try:
        async with asyncio.timeout(time_limit):
            return await _follow(url, sink, policy=policy, max_bytes=max_bytes, headers=dict(headers or {}),
                                 accept=accept or _default_accept, max_redirects=max_redirects,
                                 too_large=too_large or _too_large)
    except TimeoutError:
        raise DownloadError(f"the download took longer than {time_limit:.0f} s", retryable=True) from None


def _too_large(max_bytes: int) -> str:
    return f"the file is larger than {max_bytes / (1024 * 1024):g} MB"


async def _follow(url: str, sink: Callable[[bytes], Any], *, policy: Policy, max_bytes: int,
                  headers: dict[str, str], accept: Accept, max_redirects: int,
                  too_large: Callable[[int], str]) -> int:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    for _ in range(max_redirects + 1):
        reach = policy(url)
        try:
            check_literal(url, reach)
        except ValueError:  # yarl cannot parse it: nothing to connect to
            raise Refused("refusing a malformed URL") from None
        # One session per hop: the resolver's rule is this hop's, and no connection is reused across hops.
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(reach is Reach.PUBLIC), use_dns_cache=False,
                                         ssl=_tls_context(), force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                async with session.get(url, headers=headers, allow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status in REDIRECTS and location:
                        try:
                            url = str(response.url.join(URL(location)))
                        except ValueError:
                            raise Refused("refusing a redirect to a malformed URL") from None
                        continue
                    accept(response.status, response.headers)
                    if (response.content_length or 0) > max_bytes:
                        raise TooLarge(too_large(max_bytes))
                    size = 0
                    async for chunk in response.content.iter_chunked(CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise TooLarge(too_large(max_bytes))
                        sink(chunk)
                    return size
            except (aiohttp.ClientError, OSError) as exc:
                raise DownloadError(f"the download failed: {type(exc).__name__}", retryable=True) from None
    raise DownloadError(f"the URL redirected more than {max_redirects} times")
