"""The three wire formats of gateway-api.md as adapters between `VideoRequest` / `Task` and JSON.

Encoders are lossless (`fmt.request_from_body(fmt.submit(req).json) == req`), so the simulator and
the round-trip tests can decode what the bot sends. Decoders are tolerant: every answer shape the
spec lists is read by one parser, whichever format is configured, because gateways mix them.
Pure logic, no I/O: the client adds the base URL, the key and the Idempotency-Key.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bot.wan.numbers import MAX_BILLED_SECONDS, MAX_COST_USD, parse_amount, parse_progress
from bot.wan.request import (
    ALL_FIELDS,
    MODEL_NAME,
    SEED_MAX,
    FieldProblem,
    Mode,
    RequestInvalid,
    VideoRequest,
    build_request,
    parse_mode,
)
from bot.wan.shapes import (
    NEWAPI_DROPS,
    canonical,
    carry_problems,
    dashscope_parts,
    flat_from_dashscope,
    guess_mode,
)
from bot.wan.task import Task, TaskStatus

# --- status, progress, URLs, errors ----------------------------------------------------------------

_STATUS_TABLE: dict[TaskStatus, tuple[str, ...]] = {
    TaskStatus.QUEUED: ("PENDING", "queued", "submitted", "SUBMITTED", "NOT_START", "QUEUED", "IN_QUEUE",
                        "waiting", "queuing"),
    TaskStatus.RUNNING: ("RUNNING", "running", "in_progress", "IN_PROGRESS", "processing", "generating"),
    TaskStatus.SUCCEEDED: ("SUCCEEDED", "succeeded", "completed", "COMPLETED", "success", "SUCCESS"),
    TaskStatus.FAILED: ("FAILED", "failed", "fail", "FAILURE", "error"),
    TaskStatus.CANCELED: ("CANCELED", "canceled", "cancelled"),
    TaskStatus.EXPIRED: ("UNKNOWN", "expired"),
}
STATUS_MAP: dict[str, TaskStatus] = {raw: status for status, raws in _STATUS_TABLE.items() for raw in raws}


def map_status(raw: Any) -> TaskStatus:
    """The spec's table, exact spellings only; anything else is UNRECOGNISED (never success)."""
    return STATUS_MAP.get(raw, TaskStatus.UNRECOGNISED) if isinstance(raw, str) else TaskStatus.UNRECOGNISED


def _get(obj: Any, *path: str | int) -> Any:
    """obj[path[0]][path[1]]..., or None when any step is missing or of the wrong type."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or len(obj) <= key:
                return None
        elif not isinstance(obj, Mapping):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
    return obj


def _envelope(body: Any) -> Any:
    """The task object inside `{"code": ..., "data": {...}}` or `{"data": [{...}]}`, else the body."""
    data = _get(body, "data")
    if isinstance(data, Mapping):
        return data
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return data[0]
    return body


_VIDEO_URL_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("output", "video_url"), ("url",), ("video_url",), ("metadata", "url"), ("result_url",),
    ("data", 0, "url"), ("video", "url"),
)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def find_video_url(body: Any, status: TaskStatus) -> str | None:
    """The spec's order, first found wins, in the body then inside a `data` envelope; for a
    succeeded task with none, a `fail_reason` that starts with http (older new-api builds)."""
    places = [body] + ([_envelope(body)] if _envelope(body) is not body else [])
    for place in places:
        for path in _VIDEO_URL_PATHS:
            url = _text(_get(place, *path))
            if url:
                return url
    if status is TaskStatus.SUCCEEDED:
        for place in places:
            reason = _text(_get(place, "fail_reason"))
            if reason and reason.startswith("http"):
                return reason
    return None


def _str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """(code, message, request_id) from `{"error": {...}}`, DashScope's flat form, `{"message"}`,
    a JSON string, or None for all three when the body is garbage."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.strip()
            # A short plain-text answer is worth showing; an HTML error page is not.
            return (None, text, None) if text and len(text) <= 200 and "<" not in text else (None, None, None)
    if not isinstance(body, Mapping):
        return None, None, None
    error = body.get("error")
    request_id = _str_or_none(body.get("request_id"))
    if isinstance(error, Mapping):
        code = _str_or_none(error.get("code")) or _str_or_none(error.get("type"))
        return code, _str_or_none(error.get("message")), _str_or_none(error.get("request_id")) or request_id
    message = _str_or_none(body.get("message")) or _str_or_none(body.get("msg")) or _str_or_none(error)
    return _str_or_none(body.get("code")), message, request_id


def _seed(body: Any, inner: Any) -> int | None:
    """The seed a task answer reports (`output.seed`, `seed`, `metadata.seed` or `parameters.seed`, in
    the body or its `data` envelope), when it is one the request model could send back."""
    for place in (body, inner):
        for path in (("output", "seed"), ("seed",), ("metadata", "seed"), ("parameters", "seed")):
            value = _get(place, *path)
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= SEED_MAX:
                return value
    return None


# --- one tolerant task parser ---------------------------------------------------------------------

def _task_id(body: Any) -> str | None:
    inner = _envelope(body)
    for place, key in ((inner, "task_id"), (inner, "id"), (_get(inner, "output"), "task_id"),
                       (_get(body, "output"), "task_id"), (body, "task_id"), (body, "id")):
        value = _get(place, key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _error(body: Any, inner: Any) -> tuple[str | None, str | None]:
    for place in (body, inner):
        error = _get(place, "error")
        if isinstance(error, Mapping) and (error.get("code") or error.get("message")):
            return _str_or_none(error.get("code") or error.get("type")), _str_or_none(error.get("message"))
    output = _first(_get(body, "output"), _get(inner, "output"))
    if isinstance(output, Mapping) and (output.get("code") or output.get("message")):
        return _str_or_none(output.get("code")), _str_or_none(output.get("message"))
    reason = _text(_first(_get(inner, "fail_reason"), _get(body, "fail_reason")))
    if reason and not reason.startswith("http"):
        return None, reason
    return None, None


def parse_task(body: Any, task_id: str | None = None, *, default_status: TaskStatus | None = None) -> Task:
    """A Task from any answer shape of the spec; raises ValueError when no task id can be found."""
    if isinstance(body, Mapping):
        body = dict(body)
    inner = _envelope(body)
    found_id = task_id or _task_id(body)
    if not found_id:
        raise ValueError("the gateway's answer holds no task id")
    output = _first(_get(body, "output"), _get(inner, "output"))
    raw_status = _first(_get(inner, "status"), _get(output, "task_status"), _get(body, "status"),
                        _get(inner, "task_status"))
    raw_status = _str_or_none(raw_status)
    if raw_status is None and default_status is not None:
        status = default_status
    else:
        status = map_status(raw_status)
    usage = _first(_get(body, "usage"), _get(inner, "usage"))
    code, message = _error(body, inner)
    return Task(
        id=found_id,
        status=status,
        raw_status=raw_status,
        progress=parse_progress(_first(_get(inner, "progress"), _get(body, "progress"))),
        video_url=find_video_url(body, status),
        billed_seconds=parse_amount(_first(_get(usage, "billed_seconds"), _get(usage, "video_duration")),
                                     "billed_seconds", MAX_BILLED_SECONDS),
        cost_usd=parse_amount(_get(usage, "cost_usd"), "cost_usd", MAX_COST_USD),
        error_code=code,
        error_message=message,
        request_id=_str_or_none(_first(_get(body, "request_id"), _get(inner, "request_id"),
                                       _get(body, "error", "request_id"))),
        seed=_seed(body, inner),
        raw=body if isinstance(body, dict) else {"body": body},
    )


# --- the formats ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpCall:
    """One request to the gateway. The client adds the base URL, Authorization and Idempotency-Key."""

    method: str
    path: str  # relative to WAN_API_BASE, starts with "/"
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _quote(task_id: str) -> str:
    return quote(str(task_id), safe="")


class WireFormat(ABC):
    name: str
    inline_audio = True  # takes `audio_url` as a data:audio URI (an audio file attached in Slack)

    @abstractmethod
    def submit(self, req: VideoRequest) -> HttpCall: ...

    @abstractmethod
    def poll(self, task_id: str) -> HttpCall: ...

    def cancel(self, task_id: str) -> HttpCall | None:
        return None

    def check(self, req: VideoRequest) -> list[FieldProblem]:
        """Limits of this gateway beyond the model page's, and fields it cannot carry (checked before
        anything is sent)."""
        return carry_problems(req, self.name, inline_audio=self.inline_audio)

    def carries(self, mode: Mode) -> tuple[str, ...]:
        """The fields of `mode` this format can send (the modal offers only these)."""
        return tuple(spec.name for spec in ALL_FIELDS[mode])

    def canonical(self, req: VideoRequest) -> VideoRequest:
        """`req` as this format's body describes it: `request_from_body(submit(req).json)`."""
        return req

    def parse_submit(self, body: Any) -> Task:
        """The created task; a submit answer without a status means it is queued."""
        return parse_task(body, default_status=TaskStatus.QUEUED)

    def parse_poll(self, body: Any, task_id: str) -> Task:
        if not isinstance(body, Mapping):
            raise ValueError("the gateway's poll answer is not a JSON object")
        return parse_task(body, task_id)

    @abstractmethod
    def request_from_body(self, body: dict[str, Any]) -> VideoRequest:
        """Decode a submit body (the simulator's side); raises RequestInvalid."""


def _require_object(body: Any, what: str = "body") -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RequestInvalid([FieldProblem(what, "must be a JSON object")])
    return body


class UnifiedFormat(WireFormat):
    name = "unified"
    path = "/v1/video/generations"

    def submit(self, req: VideoRequest) -> HttpCall:
        return HttpCall("POST", self.path, json=req.body())

    def poll(self, task_id: str) -> HttpCall:
        return HttpCall("GET", f"{self.path}/{_quote(task_id)}")

    def cancel(self, task_id: str) -> HttpCall | None:
        return HttpCall("POST", f"{self.path}/{_quote(task_id)}/cancel")

    def request_from_body(self, body: dict[str, Any]) -> VideoRequest:
        body = _require_object(body)
        problems = [FieldProblem(key, "is not a field of the request; use model, mode and input")
                    for key in body if key not in ("model", "mode", "input")]
        if body.get("model", MODEL_NAME) != MODEL_NAME:
            problems.append(FieldProblem("model", f"must be {MODEL_NAME}"))
        inp = body.get("input")
        if not isinstance(inp, Mapping):
            problems.append(FieldProblem("input", "must be an object holding the mode's fields"))
        try:
            mode = parse_mode(body.get("mode", Mode.TEXT_TO_VIDEO))
        except RequestInvalid as exc:
            problems += exc.problems
            mode = None
        if problems:
            raise RequestInvalid(problems)
        return build_request(mode, inp)


def _model_names(settings: Any) -> dict[Mode, str]:
    return {Mode.TEXT_TO_VIDEO: settings.wan_model_t2v, Mode.IMAGE_TO_VIDEO: settings.wan_model_i2v,
            Mode.R2V: settings.wan_model_r2v, Mode.VIDEO_EDIT: settings.wan_model_edit}


DEFAULT_FLASH_MODELS = {Mode.IMAGE_TO_VIDEO: "wan2.6-i2v-flash", Mode.R2V: "wan2.6-r2v-flash"}


def _flash_names(settings: Any) -> dict[Mode, str]:
    # getattr: settings-like objects from before the flash variants keep working with the defaults
    return {Mode.IMAGE_TO_VIDEO: getattr(settings, "wan_model_i2v_flash", DEFAULT_FLASH_MODELS[Mode.IMAGE_TO_VIDEO]),
            Mode.R2V: getattr(settings, "wan_model_r2v_flash", DEFAULT_FLASH_MODELS[Mode.R2V])}


class _NamedModels:
    """Model names per mode, with the flash variant's own names (DashScope and new-api pick by name)."""

    def __init__(self, models: dict[Mode, str], flash_models: dict[Mode, str] | None = None):
        self.models = models
        self.flash_models = dict(DEFAULT_FLASH_MODELS if flash_models is None else flash_models)

    def model_for(self, req: VideoRequest) -> str:
        return self.flash_models[req.mode] if req.flash else self.models[req.mode]

    def mode_of(self, model: Any, flat: dict[str, Any], function: Any) -> Mode:
        """The mode, marking `flat` as the flash variant when the model name is a flash model's."""
        flash = [mode for mode, name in self.flash_models.items() if name == model]
        if len(flash) == 1 and model not in self.models.values():
            flat["variant"] = "flash"
            return flash[0]
        return guess_mode(model, self.models, flat, function)


class OpenAIFormat(_NamedModels, WireFormat):
    """Flat new-api-style task shape: model, prompt, duration, size, image; the rest in metadata."""

    name = "openai"
    inline_audio = False

    def __init__(self, path: str, models: dict[Mode, str], flash_models: dict[Mode, str] | None = None):
        super().__init__(models, flash_models)
        self.path = "/" + path.strip().strip("/")

    def carries(self, mode: Mode) -> tuple[str, ...]:
        return tuple(spec.name for spec in ALL_FIELDS[mode] if spec.name not in NEWAPI_DROPS)

    def check(self, req: VideoRequest) -> list[FieldProblem]:
        return carry_problems(req, self.name, inline_audio=self.inline_audio, drops=NEWAPI_DROPS)

    def canonical(self, req: VideoRequest) -> VideoRequest:
        return canonical(req, pinned=False)

    def submit(self, req: VideoRequest) -> HttpCall:
        fields = req.fields()
        body: dict[str, Any] = {"model": self.model_for(req), "prompt": req.prompt_text,
                                "duration": req.duration}
        inp, params = dashscope_parts(req, pin=False)
        if "size" in params:
            body["size"] = params.pop("size")
        if "image_url" in fields:
            body["image"] = fields["image_url"]
        inp = {k: v for k, v in inp.items() if k not in ("prompt", "img_url", "function")}
        params.pop("duration", None)
        metadata = {k: v for k, v in (("input", inp), ("parameters", params)) if v}
        if metadata:
            body["metadata"] = metadata
        return HttpCall("POST", self.path, json=body)

    def poll(self, task_id: str) -> HttpCall:
        return HttpCall("GET", f"{self.path}/{_quote(task_id)}")

    def request_from_body(self, body: dict[str, Any]) -> VideoRequest:
        body = _require_object(body)
        problems: list[FieldProblem] = []
        top = {("image_url" if k == "image" else k): v for k, v in body.items() if k not in ("model", "metadata")}
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            problems.append(FieldProblem("metadata", "must be a JSON object"))
            metadata = {}
        flat = flat_from_dashscope([top, metadata.get("input"), metadata.get("parameters")], problems,
                                   pinned=False)
        mode = self.mode_of(body.get("model"), flat, _get(metadata, "input", "function"))
        return _build(mode, flat, problems)


DASHSCOPE_R2V_MAX_SECONDS = 10
DASHSCOPE_R2V_MAX_REFERENCES = 5  # characters per r2v request (Model Studio reference-to-video guide)


class DashScopeFormat(_NamedModels, WireFormat):
    """Alibaba Cloud Model Studio's native async API."""

    name = "dashscope"
    inline_audio = False
    path = "/api/v1/services/aigc/video-generation/video-synthesis"

    def check(self, req: VideoRequest) -> list[FieldProblem]:
        where = "on DashScope (WAN_API_FORMAT=dashscope)"
        problems = carry_problems(req, self.name, inline_audio=self.inline_audio)
        if req.mode == Mode.R2V and req.duration > DASHSCOPE_R2V_MAX_SECONDS:
            problems.append(FieldProblem("duration", f"must be 2 to {DASHSCOPE_R2V_MAX_SECONDS} seconds for r2v "
                                                     + where))
        references = len(req.get("reference_url") or ()) + len(req.get("reference_video_url") or ())
        if req.mode == Mode.R2V and references > DASHSCOPE_R2V_MAX_REFERENCES:
            problems.append(FieldProblem("reference_url", f"must be at most {DASHSCOPE_R2V_MAX_REFERENCES} "
                                                          f"references (images and videos together) {where}"))
        return problems

    def canonical(self, req: VideoRequest) -> VideoRequest:
        return canonical(req, pinned=True)

    def submit(self, req: VideoRequest) -> HttpCall:
        inp, params = dashscope_parts(req, pin=True)
        body = {"model": self.model_for(req), "input": inp, "parameters": params}
        return HttpCall("POST", self.path, json=body, headers={"X-DashScope-Async": "enable"})

    def poll(self, task_id: str) -> HttpCall:
        return HttpCall("GET", f"/api/v1/tasks/{_quote(task_id)}")

    def request_from_body(self, body: dict[str, Any]) -> VideoRequest:
        body = _require_object(body)
        problems = [FieldProblem(key, "is not a field of the request; use model, input and parameters")
                    for key in body if key not in ("model", "input", "parameters")]
        flat = flat_from_dashscope([body.get("input"), body.get("parameters")], problems, pinned=True)
        mode = self.mode_of(body.get("model"), flat, _get(body, "input", "function"))
        return _build(mode, flat, problems)


def _build(mode: Mode, flat: dict[str, Any], problems: list[FieldProblem]) -> VideoRequest:
    """build_request, with the wire-level problems found so far reported together."""
    try:
        req = build_request(mode, flat)
    except RequestInvalid as exc:
        raise RequestInvalid(problems + exc.problems) from None
    if problems:
        raise RequestInvalid(problems)
    return req


def get_format(settings: Any) -> WireFormat:
    """The adapter for `settings.wan_api_format`."""
    kind = settings.wan_api_format
    if kind == "unified":
        return UnifiedFormat()
    if kind == "openai":
        return OpenAIFormat(settings.wan_openai_path, _model_names(settings), _flash_names(settings))
    if kind == "dashscope":
        return DashScopeFormat(_model_names(settings), _flash_names(settings))
    raise ValueError(f"WAN_API_FORMAT must be unified, openai or dashscope (got {kind!r})")

