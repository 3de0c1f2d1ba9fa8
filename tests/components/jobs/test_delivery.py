"""The bot's own video downloads: which URLs it may fetch (SSRF), redirects, size caps, memory."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from aiohttp import web

from bot.jobs.delivery import DeliveryError, check_download_url, download_video


@pytest.fixture
async def redirector():
    """A tiny web server on loopback whose /go?to=URL answers 302 to any URL."""
    async def go(request):
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/go", go)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("url", [
    "http://example.com/video.mp4",                # not https
    "https://127.0.0.1/video.mp4",                 # loopback
    "https://10.1.2.3/video.mp4",                  # private
    "https://169.254.169.254/latest/meta-data",   # link-local (cloud metadata)
    "https://[::1]/video.mp4",                     # IPv6 loopback
    "https://[::ffff:192.168.0.1]/video.mp4",      # IPv4-mapped private
    "https://localhost/video.mp4",                 # a DNS name resolving to loopback
    "file:///etc/passwd",
])
async def test_the_bot_never_downloads_from_private_or_plain_http_urls(url):
    with pytest.raises(DeliveryError) as info:
        await check_download_url(url, trusted_origin="https://gateway.example.com")
    assert not info.value.retryable


async def test_the_gateways_own_origin_is_trusted_even_on_loopback(simulator):
    await check_download_url(simulator.base_url + "/videos/x.mp4", trusted_origin=simulator.base_url)
    # ... but not another port on the same host
    other = simulator.base_url.rsplit(":", 1)[0] + ":1/videos/x.mp4"
    with pytest.raises(DeliveryError):
        await check_download_url(other, trusted_origin=simulator.base_url)


async def test_every_redirect_is_checked(redirector, tmp_path):
    # the redirector plays a trusted gateway that sends the bot to a private address
    for target in ("http://127.0.0.1:9/secret.mp4", "https://localhost/secret.mp4", "https://10.0.0.5/x.mp4"):
        with pytest.raises(DeliveryError, match="non-https|private"):
            await download_video(f"{redirector}/go?to={target}", max_bytes=10_000, time_limit=5,
                                 trusted_origin=redirector, dest_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []   # nothing half-downloaded left behind


async def _finished_video_url(simulator) -> str:
    """Submit a task to the simulator, wait until it succeeds, return its video URL."""
    import httpx

    async with httpx.AsyncClient(base_url=simulator.base_url,
                                 headers={"Authorization": f"Bearer {simulator.config.api_key}"}) as http:
        task = (await http.post("/v1/video/generations", json={
            "model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "x"}})).json()
        for _ in range(100):
            body = (await http.get(f"/v1/video/generations/{task['id']}")).json()
            if body["status"] == "succeeded":
                return body["output"]["video_url"]
            await asyncio.sleep(0.05)
    raise AssertionError("the simulator task did not finish")


async def test_a_real_video_from_the_gateway_is_saved_and_checked(simulator, tmp_path):
    from bot.jobs.delivery import looks_like_mp4

    url = await _finished_video_url(simulator)
    path = await download_video(url, max_bytes=10_000_000, time_limit=10,
                                trusted_origin=simulator.base_url, dest_dir=str(tmp_path))
    assert looks_like_mp4(path.read_bytes()[:16]) and path.stat().st_size > 1000


DOWNLOAD_SCRIPT = """
import asyncio, sys
from bot.jobs.delivery import download_video
async def main():
    path = await download_video(sys.argv[1], max_bytes=10**9, time_limit=120, trusted_origin=sys.argv[2],
                                dest_dir=sys.argv[3])
    size = path.stat().st_size
    path.unlink()
    # VmHWM: this process image's own peak (ru_maxrss would include the forked parent's pages)
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
    print(size, int(hwm) // 1024)
asyncio.run(main())
"""


@pytest.mark.slow
async def test_memory_does_not_grow_with_the_videos_size(simulator, tmp_path):
    url = await _finished_video_url(simulator)
    simulator.config.update({"video_mode": "oversize", "oversize_bytes": 300 * 1024 * 1024})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DOWNLOAD_SCRIPT, url, simulator.base_url, str(tmp_path),
        cwd=Path(__file__).resolve().parents[3], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    size, peak_mb = map(int, out.split())
    assert size > 300 * 1024 * 1024
    assert peak_mb < 120, f"peak RSS {peak_mb} MB for a {size >> 20} MB video"
