"""Control endpoints under /_sim/ for tests, benchmarks and `python -m bot dev`."""

from __future__ import annotations

from aiohttp import web

from bot.sim.state import STATE


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].config.to_dict())


async def post_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        state.config.update(changes)
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(state.config.to_dict())


async def get_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = state.stats.to_dict()
    body["tasks"] = {t.id: t.state(state.config, state.clock())[0] for t in state.tasks.values()}
    return web.json_response(body)


async def get_tasks(request: web.Request) -> web.Response:
    """Each task's timings (wall clock) and poll count: benchmarks measure detection delay with it."""
    state = request.app[STATE]
    return web.json_response({t.id: {
        "status": t.state(state.config, state.clock())[0], "duration": t.duration,
        "created": t.created_wall, "finishes_at": t.created_wall + t.queue_seconds + t.run_seconds,
        "polls": state.stats.polls.get(t.id, 0),
    } for t in state.tasks.values()})


async def post_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})



ROUTES = [
    web.get("/_sim/config", get_config),
    web.post("/_sim/config", post_config),
    web.get("/_sim/stats", get_stats),
    web.get("/_sim/tasks", get_tasks),
    web.post("/_sim/reset", post_reset),
]
