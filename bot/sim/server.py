"""The gateway simulator: one aiohttp app speaking the unified, openai and dashscope wire formats
of gateway-api.md at once, with fault injection for tests and `python -m bot dev`.

Tasks move queued -> running -> succeeded purely by time since creation, so there is no
background worker to manage; every poll computes the state it sees.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

from bot.sim import validate, video

SUBMIT_UNIFIED = "/v1/video/generations"
SUBMIT_OPENAI = "/v1/videos"
SUBMIT_DASHSCOPE = "/api/v1/services/aigc/video-generation/video-synthesis"
SUBMIT_PATHS = {SUBMIT_UNIFIED, SUBMIT_OPENAI, SUBMIT_DASHSCOPE}
VIDEO_MODES = ("ok", "404", "html", "oversize")


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class SimConfig:
    """Behaviour and faults. Every field is also a `simulate` flag and settable via POST /_sim/config."""

    api_key: str = _help("the only key accepted as Authorization: Bearer", "sk-sim-local")
    queue_seconds: float = _help("seconds a task stays queued", 0.5)
    run_seconds: float = _help("seconds a task runs after the queue", 2.0)
    seconds_per_video_second: float = _help("extra run seconds per requested video second", 0.0)
    run_jitter: float = _help("each task's run time is scaled by a random factor within 1 +/- this", 0.0)
    price_per_second: float = _help("USD billed per video second", 0.06)
    latency: float = _help("seconds added to every API call", 0.0)
    rate_429: float = _help("share of API calls answered 429", 0.0)
    retry_after: float = _help("Retry-After seconds on 429 answers", 1.0)
    rate_5xx: float = _help("share of API calls answered 500", 0.0)
    fail_rate: float = _help("share of tasks that end failed", 0.0)
    fail_prompt_word: str = _help("prompts containing this word end failed ('' to disable)", "forbidden")
    hang_rate: float = _help("share of API calls that hang before answering", 0.0)
    hang_seconds: float = _help("how long a hanging call hangs", 60.0)
    malformed_rate: float = _help("share of API calls answered 200 with broken JSON (after acting)", 0.0)
    unknown_status_rate: float = _help("share of polls answering status 'mystery'", 0.0)
    never_finish: bool = _help("tasks stay running forever", False)
    video_mode: str = _help("video downloads: ok, 404, html or oversize", "ok")
    oversize_bytes: int = _help("bytes after the MP4 header in oversize mode", 64 * 1024 * 1024)
    oversize_content_length: bool = _help("send Content-Length in oversize mode (else chunked)", True)
    expire_after: float = _help("seconds after which a task is expired (0: never)", 0.0)
    seed: int | None = _help("random seed for reproducible faults", None)
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._check()

    def _check(self) -> None:
        if self.video_mode not in VIDEO_MODES:
            raise ValueError(f"video_mode must be one of {', '.join(VIDEO_MODES)}")
        for name in ("rate_429", "rate_5xx", "fail_rate", "hang_rate", "malformed_rate", "unknown_status_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0.0 <= self.run_jitter < 1.0:
            raise ValueError("run_jitter must be at least 0 and below 1")

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes; raises ValueError naming a bad or unknown field."""
        known = {f.name: f for f in fields(self) if f.init}
        old = self.to_dict()
        try:
            for name, value in changes.items():
                if name not in known:
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self, name, _coerce(name, value, known[name].default))
            self._check()
        except (ValueError, TypeError):
            for name, value in old.items():
                setattr(self, name, value)
            raise
        if "seed" in changes:
            self.rng = random.Random(self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def chance(self, rate: float) -> bool:
        # Draw only when the fault is on, so enabling one fault does not shift the others' sequence.
        return rate > 0 and self.rng.random() < rate


def _coerce(name: str, value: Any, default: Any) -> Any:
    if name == "seed":
        return None if value is None else int(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a {type(default).__name__}")
    return type(default)(value)


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    time: float  # wall clock, epoch seconds
    idempotency_key: str | None
    fault: str | None = None  # which injected fault answered, if any


@dataclass
class SimStats:
    requests: list[RequestRecord] = field(default_factory=list)
    submits_by_key: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tasks_created: int = 0
    tasks_by_key: dict[str, str] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # task id -> polls
    faults: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def clear(self) -> None:
        # In place, so references held by tests stay valid.
        self.requests.clear()
        self.submits_by_key.clear()
        self.tasks_by_key.clear()
        self.polls.clear()
        self.faults.clear()
        self.tasks_created = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": [asdict(r) for r in self.requests],
            "submits_by_key": dict(self.submits_by_key),
            "tasks_created": self.tasks_created,
            "tasks_by_key": dict(self.tasks_by_key),
            "polls": dict(self.polls),
            "faults": dict(self.faults),
        }


@dataclass
class SimTask:
    id: str
    wire: str  # unified | openai | dashscope: decides the shape of openai-vs-unified polls
    mode: str
    model: str
    prompt: str
    duration: int
    ratio: str
    created: float  # monotonic
    created_wall: float
    queue_seconds: float  # timings frozen at creation so runtime config changes do not rewind tasks
    run_seconds: float
    will_fail: bool
    canceled_progress: int | None = None
    final: str | None = None  # once seen ended, stays ended
    ended_wall: float | None = None

    def state(self, config: SimConfig, now: float) -> tuple[str, int]:
        """(internal status, progress 0-100) at `now`."""
        age = now - self.created
        if config.expire_after and age > config.expire_after:
            return "expired", 0
        if self.canceled_progress is not None:
            return "canceled", self.canceled_progress
        if self.final:
            return self.final, 100
        if age < self.queue_seconds:
            return "queued", 0
        running_for = age - self.queue_seconds
        if config.never_finish or running_for < self.run_seconds:
            progress = int(100 * running_for / self.run_seconds) if self.run_seconds > 0 else 99
            return "running", max(1, min(99, progress))
        self.final = "failed" if self.will_fail else "succeeded"
        self.ended_wall = time.time()
        return self.final, 100


class SimState:
    """Everything one simulator app holds: config, stats and tasks."""

    def __init__(self, config: SimConfig):
        self.config = config
        self.stats = SimStats()
        self.tasks: dict[str, SimTask] = {}
        self.clock = time.monotonic  # swappable in tests

    def create_task(self, wire: str, mode: str, model: str, fields_: validate.Fields, key: str | None) -> SimTask:
        cfg = self.config
        prompt = str((fields_.get("prompt") or fields_.get("instruction") or ("", ""))[0])
        duration = int(fields_.get("duration", (5, ""))[0])
        word = cfg.fail_prompt_word.lower()
        will_fail = bool(word and word in prompt.lower()) or cfg.chance(cfg.fail_rate)
        prefix = {"unified": "vt_", "openai": "video_", "dashscope": ""}[wire]
        # Real render times vary for the same request; drawn only when asked, like the faults.
        jitter = 1.0 + cfg.rng.uniform(-cfg.run_jitter, cfg.run_jitter) if cfg.run_jitter else 1.0
        task = SimTask(
            id=prefix + uuid.uuid4().hex[:12] if prefix else str(uuid.uuid4()),
            wire=wire, mode=mode, model=model, prompt=prompt, duration=duration,
            ratio=_ratio(fields_), created=self.clock(), created_wall=time.time(),
            queue_seconds=cfg.queue_seconds,
            run_seconds=(cfg.run_seconds + cfg.seconds_per_video_second * duration) * jitter,
            will_fail=will_fail,
        )
        self.tasks[task.id] = task
        self.stats.tasks_created += 1
        if key:
            self.stats.tasks_by_key[key] = task.id
        return task

    def reset(self) -> None:
        self.tasks.clear()
        self.stats.clear()


def _ratio(fields_: validate.Fields) -> str:
    """Aspect ratio for the rendered clip: `ratio`, else the nearest to `size` (W*H), else 16:9."""
    if "ratio" in fields_:
        return str(fields_["ratio"][0])
    size = str(fields_.get("size", ("", ""))[0]).replace("x", "*")
    if "*" in size:
        w, h = (int(n) for n in size.split("*"))
        return min(video.SIZES, key=lambda r: abs(video.SIZES[r][0] / video.SIZES[r][1] - w / h))
    return "16:9"


STATE: web.AppKey[SimState] = web.AppKey("sim_state", SimState)
RID: web.RequestKey[str] = web.RequestKey("request_id", str)

# --- errors -------------------------------------------------------------------------------

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


# --- wire shapes ----------------------------------------------------------------------------

STATUS_WORDS = {  # internal -> (unified, openai, dashscope)
    "queued": ("queued", "queued", "PENDING"),
    "running": ("running", "in_progress", "RUNNING"),
    "succeeded": ("succeeded", "completed", "SUCCEEDED"),
    "failed": ("failed", "failed", "FAILED"),
    "canceled": ("canceled", "cancelled", "CANCELED"),
    "expired": ("expired", "expired", "UNKNOWN"),
}
WIRES = ("unified", "openai", "dashscope")
FAIL_CODES = {"unified": "content_policy_violation", "openai": "content_policy_violation",
              "dashscope": "DataInspectionFailed"}
FAIL_MESSAGE = "The prompt or the generated video was flagged by content moderation (simulated)."
NOMINAL_SIZE = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960), "4:3": (1088, 832),
                "3:4": (832, 1088)}


def _word(status: str, wire: str) -> str:
    return STATUS_WORDS[status][WIRES.index(wire)]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _ds_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}"


def task_body(request: web.Request, task: SimTask, wire: str, poll: bool = True) -> dict[str, Any]:
    state = request.app[STATE]
    cfg = state.config
    status, progress = task.state(cfg, state.clock())
    word = _word(status, wire)
    if poll and cfg.chance(cfg.unknown_status_rate):
        state.stats.faults["unknown_status"] += 1
        word = "mystery"
    rid = request[RID]
    url = f"{_base(request)}/videos/{task.id}.mp4"
    cost = round(task.duration * cfg.price_per_second, 4)
    if wire == "dashscope":
        output: dict[str, Any] = {"task_id": task.id, "task_status": word}
        body: dict[str, Any] = {"request_id": rid, "output": output}
        if not poll:
            return body
        output["submit_time"] = _ds_time(task.created_wall)
        if status == "succeeded":
            output.update(video_url=url, end_time=_ds_time(task.ended_wall), orig_prompt=task.prompt)
            w, h = NOMINAL_SIZE[task.ratio]
            body["usage"] = {"video_duration": task.duration, "video_count": 1, "video_ratio": f"{w}*{h}"}
        elif status == "failed":
            output.update(code=FAIL_CODES[wire], message=FAIL_MESSAGE, end_time=_ds_time(task.ended_wall))
        return body
    if wire == "openai":
        body = {"id": task.id, "object": "video", "model": task.model, "status": word, "progress": progress,
                "created_at": int(task.created_wall), "seconds": str(task.duration), "request_id": rid}
        if status == "succeeded":
            body.update(url=url, video_url=url,
                        usage={"billed_seconds": task.duration, "cost_usd": cost})
        elif status == "failed":
            body.update(fail_reason=FAIL_MESSAGE, error={"code": FAIL_CODES[wire], "message": FAIL_MESSAGE})
        return body
    body = {"id": task.id, "status": word, "progress": progress, "created_at": int(task.created_wall),
            "request_id": rid}
    if not poll:
        del body["progress"]
        return body
    if status == "succeeded":
        w, h = NOMINAL_SIZE[task.ratio]
        body["output"] = {"video_url": url, "duration": task.duration, "width": w, "height": h}
        body["usage"] = {"billed_seconds": task.duration, "cost_usd": cost}
    elif status == "failed":
        body["error"] = {"code": FAIL_CODES[wire], "message": FAIL_MESSAGE}
    return body


# --- API handlers -----------------------------------------------------------------------------

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


# --- video downloads (outside /v1: no auth, like a signed storage URL) ---------------------

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
    data = await asyncio.to_thread(video.video_bytes, task.prompt, task.ratio)
    return web.Response(body=data, content_type="video/mp4", headers=headers)


# --- control endpoints for tests and `dev` ---------------------------------------------------


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


def create_app(config: SimConfig | None = None) -> web.Application:
    app = web.Application(middlewares=[middleware])
    app[STATE] = SimState(config or SimConfig())
    tid = "{task_id}"
    app.add_routes([
        web.post(SUBMIT_UNIFIED, submit_generations),
        web.get(f"{SUBMIT_UNIFIED}/{tid}", poll_generations),
        web.post(f"{SUBMIT_UNIFIED}/{tid}/cancel", cancel),
        web.post(SUBMIT_OPENAI, submit_openai),
        web.get(f"{SUBMIT_OPENAI}/{tid}", poll_openai),
        web.post(f"{SUBMIT_OPENAI}/{tid}/cancel", cancel),
        web.post(SUBMIT_DASHSCOPE, submit_dashscope),
        web.get(f"/api/v1/tasks/{tid}", poll_dashscope),
        web.post(f"/api/v1/tasks/{tid}/cancel", cancel),
        web.post("/v1/chat/completions", chat_misuse),
        web.get("/videos/{name}", serve_video),
        web.get("/_sim/config", get_config),
        web.post("/_sim/config", post_config),
        web.get("/_sim/stats", get_stats),
        web.get("/_sim/tasks", get_tasks),
        web.post("/_sim/reset", post_reset),
    ])
    return app


class Simulator:
    """A running simulator on a real socket: `await sim.start()`, use `sim.base_url`, `await sim.close()`."""

    def __init__(self, config: SimConfig | None = None):
        self.app = create_app(config)
        self.state = self.app[STATE]
        self.config = self.state.config
        self.stats = self.state.stats
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    @property
    def tasks(self) -> dict[str, SimTask]:
        return self.state.tasks

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Short shutdown timeout: hanging requests (hang_rate) must not hold up close().
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
