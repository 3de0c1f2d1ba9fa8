"""The video task API: submit, poll and cancel in the unified, openai and dashscope formats."""

from __future__ import annotations

import json
import time

from aiohttp import web

from bot.sim import validate
from bot.sim.middleware import SUBMIT_DASHSCOPE, SUBMIT_OPENAI, SUBMIT_UNIFIED, error
from bot.sim.state import RID, STATE, SimTask, SubmitRecord
from bot.sim.wire import task_body

PARSERS = {"unified": validate.parse_unified, "openai": validate.parse_openai,
           "dashscope": validate.parse_dashscope}


async def _submit(request: web.Request, wire: str | None) -> web.Response:
    state = request.app[STATE]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(request, "invalid", "body: not valid JSON", param="body")
    if not isinstance(body, dict):
        return error(request, "invalid", "body: must be a JSON object", param="body")
    if wire is None:  # the shared path: the unified shape nests fields under `input`
        wire = "unified" if isinstance(body.get("input"), dict) else "openai"
    if wire == "dashscope" and request.headers.get("X-DashScope-Async", "").lower() != "enable":
        return error(request, "invalid", "X-DashScope-Async: enable is required; synchronous calls are not supported")
    try:
        mode, fields_ = PARSERS[wire](body)
    except validate.Invalid as exc:
        return error(request, "invalid", str(exc), param=exc.field)
    key = request.headers.get("Idempotency-Key")
    task = state.tasks.get(state.stats.tasks_by_key.get(key, "")) if key else None
    if task is None:  # same key, same task: no second task and no second charge
        task = state.create_task(wire, mode, str(body.get("model")), fields_, key)
    state.stats.submits.append(SubmitRecord(request.path, key, body, task.id))
    return web.json_response(task_body(request, task, wire, poll=False))


async def submit_generations(request: web.Request) -> web.Response:
    return await _submit(request, None)


async def submit_openai(request: web.Request) -> web.Response:
    return await _submit(request, "openai")


async def submit_dashscope(request: web.Request) -> web.Response:
    return await _submit(request, "dashscope")


def _lookup(request: web.Request) -> SimTask | None:
    state = request.app[STATE]
    task_id = request.match_info["task_id"]
    state.stats.polls[task_id] += 1
    return state.tasks.get(task_id)


async def poll_generations(request: web.Request) -> web.Response:
    task = _lookup(request)
    if task is None:
        return error(request, "not_found", f"task {request.match_info['task_id']} not found")
    wire = "openai" if task.wire == "openai" else "unified"
    return _poll_answer(request, task, wire)


async def poll_openai(request: web.Request) -> web.Response:
    task = _lookup(request)
    if task is None:
        return error(request, "not_found", f"video {request.match_info['task_id']} not found")
    return _poll_answer(request, task, "openai")


async def poll_dashscope(request: web.Request) -> web.Response:
    task = _lookup(request)
    if task is None:  # DashScope answers unknown (or long expired) ids with UNKNOWN, not 404
        task_id = request.match_info["task_id"]
        return web.json_response({"request_id": request[RID],
                                  "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
    return _poll_answer(request, task, "dashscope")


def _poll_answer(request: web.Request, task: SimTask, wire: str) -> web.Response:
    state = request.app[STATE]
    status, _ = task.state(state.config, state.clock())
    if status == "expired" and wire == "openai":
        return error(request, "not_found", f"video {task.id} not found (expired)")
    return web.json_response(task_body(request, task, wire))


async def cancel(request: web.Request) -> web.Response:
    state = request.app[STATE]
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return error(request, "not_found", f"task {request.match_info['task_id']} not found")
    status, progress = task.state(state.config, state.clock())
    if status not in ("queued", "running"):
        return error(request, "conflict", f"task {task.id} is {status} and cannot be canceled")
    task.canceled_progress = progress
    task.ended_wall = time.time()
    if request.path.startswith("/api/"):
        return web.json_response({"request_id": request[RID]})
    wire = "openai" if request.path.startswith(SUBMIT_OPENAI) or task.wire == "openai" else "unified"
    return web.json_response(task_body(request, task, wire))


async def chat_misuse(request: web.Request) -> web.Response:
    # The classic misuse support triage looks for: a video model called through chat.
    return error(request, "invalid", "model: wan video models are not chat models; use the async "
                 "video task API (POST /v1/video/generations)", param="model")



_TID = "{task_id}"
ROUTES = [
    web.post(SUBMIT_UNIFIED, submit_generations),
    web.get(f"{SUBMIT_UNIFIED}/{_TID}", poll_generations),
    web.post(f"{SUBMIT_UNIFIED}/{_TID}/cancel", cancel),
    web.post(SUBMIT_OPENAI, submit_openai),
    web.get(f"{SUBMIT_OPENAI}/{_TID}", poll_openai),
    web.post(f"{SUBMIT_OPENAI}/{_TID}/cancel", cancel),
    web.post(SUBMIT_DASHSCOPE, submit_dashscope),
    web.get(f"/api/v1/tasks/{_TID}", poll_dashscope),
    web.post(f"/api/v1/tasks/{_TID}/cancel", cancel),
    web.post("/v1/chat/completions", chat_misuse),
]
