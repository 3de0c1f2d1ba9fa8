"""Video downloads (outside /v1: no auth, like a signed storage URL), with the broken-download modes."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.sim import video
from bot.sim.state import RID, STATE

MP4_HEADER_FAKE = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
CHUNK = 64 * 1024


async def serve_video(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    cfg = state.config
    name = request.match_info["name"]
    task = state.tasks.get(name.removesuffix(".mp4")) if name.endswith(".mp4") else None
    ready = task is not None and task.state(cfg, state.clock())[0] == "succeeded"
    headers = {"X-Request-Id": request[RID]}
    if not ready or cfg.video_mode == "404":
        return web.Response(status=404, text="Not Found", headers=headers)
    assert task is not None
    if cfg.video_mode == "html":
        page = "<!doctype html><html><body><h1>Sign in to continue</h1></body></html>"
        return web.Response(text=page, content_type="text/html", headers=headers)
    if cfg.video_mode == "oversize":
        # A plausible MP4 start, then zeros, streamed so the simulator never holds it in memory.
        response = web.StreamResponse(headers=headers)
        response.content_type = "video/mp4"
        if cfg.oversize_content_length:
            response.content_length = len(MP4_HEADER_FAKE) + cfg.oversize_bytes
        await response.prepare(request)
        await response.write(MP4_HEADER_FAKE)
        remaining = cfg.oversize_bytes
        zeros = bytes(CHUNK)
        while remaining > 0:
            await response.write(zeros[: min(CHUNK, remaining)])
            remaining -= CHUNK
        await response.write_eof()
        return response
    data = await asyncio.to_thread(video.video_bytes, task.prompt, task.ratio, task.duration, task.sound)
    return web.Response(body=data, content_type="video/mp4", headers=headers)



ROUTES = [web.get("/videos/{name}", serve_video)]
