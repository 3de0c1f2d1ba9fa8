"""The shared downloader: a name is resolved once and the connection goes to the checked answer."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bot.jobs.delivery import DeliveryError, download_video
from bot.slack.web.files import DownloadError, download

PUBLIC = "1.1.1.1"  # a global address; nothing here is reachable, so a connection to it just fails


@pytest.fixture
async def loopback_listener():
    """A TCP listener on 127.0.0.1 that only counts the connections it accepts (the rebinding target)."""
    accepted: list[int] = []

    async def on_connect(reader, writer):
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, accepted
    server.close()
    await server.wait_closed()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A resolver for `name` that answers a public address the first time and loopback afterwards,
    as an attacker's DNS server with a zero TTL does. Returns the list of lookups seen."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def install(name: str):
        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            if (host.decode() if isinstance(host, bytes) else host) != name:  # anyio passes bytes
                return real(host, port, family, type, proto, flags)
            lookups.append(host)
            address = PUBLIC if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 443)))]
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return lookups
    return install


async def test_a_video_host_that_rebinds_to_loopback_is_never_connected_to(loopback_listener, rebinding_dns,
                                                                          tmp_path: Path):
    port, accepted = loopback_listener
    lookups = rebinding_dns("videos.rebind.example")
    with pytest.raises(DeliveryError):
        await download_video(f"https://videos.rebind.example:{port}/v.mp4", max_bytes=10_000, time_limit=3,
                             trusted_origin="https://gateway.example.com", dest_dir=str(tmp_path))
    assert accepted == [], "the download connected to loopback after the check passed a public answer"
    assert len(lookups) == 1
    assert list(tmp_path.iterdir()) == []


async def test_a_slack_host_that_resolves_to_a_private_address_is_refused(monkeypatch, tmp_path: Path):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if (host.decode() if isinstance(host, bytes) else host) == "files.slack.com":  # a poisoned resolver
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port or 443)))]
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(DownloadError, match="private address"):
        await download("https://files.slack.com/files-pri/T1-F1/a.log", "xoxb-test-token", tmp_path / "a.log",
                       api_url=None, timeout=3)


@pytest.mark.parametrize("host", ["１２７.０.０.１", "①②⑦.⓪.⓪.①", "ｌｏｃａｌｈｏｓｔ"])
async def test_unicode_spellings_of_loopback_are_refused_for_the_bots_own_downloads(host, loopback_listener,
                                                                                   tmp_path: Path):
    port, accepted = loopback_listener
    with pytest.raises(DeliveryError, match="private address") as info:
        await download_video(f"https://{host}:{port}/v.mp4", max_bytes=10_000, time_limit=3,
                             trusted_origin="https://gateway.example.com", dest_dir=str(tmp_path))
    assert not info.value.retryable and accepted == []


async def test_a_redirect_to_a_malformed_url_is_refused_not_a_crash(tmp_path: Path):
    from aiohttp import web

    async def bad(request):
        return web.Response(status=302, headers={"Location": "http://[not-an-address/x.mp4"})

    app = web.Application()
    app.router.add_get("/v.mp4", bad)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(DeliveryError, match="malformed"):
            await download_video(base + "/v.mp4", max_bytes=10_000, time_limit=3, trusted_origin=base,
                                 dest_dir=str(tmp_path))
    finally:
        await runner.cleanup()
    assert list(tmp_path.iterdir()) == []
