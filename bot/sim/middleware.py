"""The simulator's middleware and error answers: request ids, auth, injected faults, the request log."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from bot.sim import script
from bot.sim.state import RID, STATE, RequestRecord

SUBMIT_UNIFIED = "/v1/video/generations"
SUBMIT_OPENAI = "/v1/videos"
SUBMIT_DASHSCOPE = "/api/v1/services/aigc/video-generation/video-synthesis"
SUBMIT_PATHS = {SUBMIT_UNIFIED, SUBMIT_OPENAI, SUBMIT_DASHSCOPE}

# kind -> (HTTP status, type, code, DashScope code)
ERRORS = {
    "invalid": (400, "invalid_request_error", "invalid_parameter", "InvalidParameter"),
    "auth": (401, "authentication_error", "invalid_api_key", "InvalidApiKey"),
    "not_found": (404, "not_found_error", "not_found", "NotFound"),
    "method": (405, "invalid_request_error", "method_not_allowed", "InvalidParameter"),
    "conflict": (409, "invalid_request_error", "task_not_cancelable", "UnsupportedOperation"),
    "rate": (429, "rate_limit_error", "rate_limit_exceeded", "Throttling"),
    "internal": (500, "api_error", "internal_error", "InternalError"),
}


def error(request: web.Request, kind: str, message: str, param: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    status, type_, code, ds_code = ERRORS[kind]
    rid = request[RID]
    if request.path.startswith("/api/"):
        body: dict[str, Any] = {"request_id": rid, "code": ds_code, "message": message}
    else:
        body = {"error": {"type": type_, "code": code, "message": message, "request_id": rid}}
        if param:
            body["error"]["param"] = param
    return web.json_response(body, status=status, headers=headers)


# --- middleware: request ids, auth, faults, the request log --------------------------------


def _is_api(path: str) -> bool:
    return path.startswith(("/v1/", "/api/"))


async def _faulted(request: web.Request, handler) -> tuple[web.StreamResponse, str | None]:
    state = request.app[STATE]
    cfg = state.config
    if cfg.latency > 0:
        await asyncio.sleep(cfg.latency)
    if cfg.chance(cfg.hang_rate):
        state.stats.faults["hang"] += 1
        await asyncio.sleep(cfg.hang_seconds)  # the client should have given up by now
    if request.headers.get("Authorization", "") != f"Bearer {cfg.api_key}":
        return error(request, "auth", "Invalid API key provided."), None
    scripted = await script.intercept(request, handler, error=error, submit_paths=SUBMIT_PATHS)
    if scripted is not None:
        return scripted, "script"
    if cfg.chance(cfg.rate_429):
        state.stats.faults["429"] += 1
        headers = {"Retry-After": f"{cfg.retry_after:g}"}
        return error(request, "rate", "Rate limit exceeded, retry later.", headers=headers), "429"
    if cfg.chance(cfg.rate_5xx):
        state.stats.faults["5xx"] += 1
        return error(request, "internal", "Internal error (simulated)."), "5xx"
    response = await handler(request)
    if cfg.chance(cfg.malformed_rate) and isinstance(response, web.Response):
        # The request took effect (a submit created its task) but the answer is unreadable:
        # exactly the "outcome unknown" case idempotency keys exist for.
        state.stats.faults["malformed"] += 1
        good = response.body if isinstance(response.body, bytes) else b"{}"
        broken = web.Response(body=good[: max(1, len(good) // 2)], status=200, content_type="application/json")
        return broken, "malformed"
    return response, None


@web.middleware
async def middleware(request: web.Request, handler) -> web.StreamResponse:
    state = request.app[STATE]
    request[RID] = "req_" + uuid.uuid4().hex[:16]
    key = request.headers.get("Idempotency-Key")
    api = _is_api(request.path)
    if api and request.method == "POST" and request.path in SUBMIT_PATHS and key:
        state.stats.submits_by_key[key] += 1
    fault = None
    try:
        if api:
            response, fault = await _faulted(request, handler)
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        if not api:
            raise
        kind = {404: "not_found", 405: "method"}.get(exc.status, "invalid")
        response = error(request, kind, f"{request.method} {request.path}: {exc.reason}")
    if not response.prepared:
        response.headers["X-Request-Id"] = request[RID]
    if not request.path.startswith("/_sim/"):  # control calls would only clutter the log
        state.stats.requests.append(
            RequestRecord(request.method, request.path, response.status, time.time(), key, fault)
        )
    return response

