"""The one record model every reader produces, and the normalisers that fill it.

A record is one row or one line of evidence, whatever its origin (a new-api log row, a task
export row, a gateway query result, a LiteLLM spend row, a line of prose). Fields the source does
not carry stay None, so the rules can tell "zero" from "unknown".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bot.redact import redact

QUOTE_CHARS = 240

# new-api log types
TOPUP, CONSUME, MANAGE, SYSTEM, ERROR, REFUND = 1, 2, 3, 4, 5, 6

# Upstream status words -> the task model's statuses (gateway-api.md, "status mapping").
_STATUS = {
    "queued": ("pending", "queued", "submitted", "not_start", "in_queue", "waiting", "queuing"),
    "running": ("running", "in_progress", "processing", "generating"),
    "succeeded": ("succeeded", "completed", "success", "succeed"),
    "failed": ("failed", "fail", "failure", "error"),
    "canceled": ("canceled", "cancelled"),
    "expired": ("unknown", "expired"),
}
_STATUS_OF = {raw: status for status, raws in _STATUS.items() for raw in raws}

# Video and image model names (fnmatch patterns, matched lower-case).
MEDIA_MODEL_PATTERNS = (
    "wan*", "*-t2v*", "*-i2v*", "*-r2v*", "*t2v*", "*i2v*", "*video*", "*image*", "kling*", "sora*",
    "veo*", "*vace*", "*seedance*", "*hailuo*", "*runway*", "*luma*", "*pika*", "*vidu*",
    "*dall-e*", "*flux*", "*midjourney*", "mj_*", "*imagen*", "*seedream*", "*jimeng*",
)
CHAT_PATHS = ("/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages")


@dataclass(slots=True)
class Record:
    kind: str  # log | task | query | litellm | usage | request | error | text | lookup
    line: int | None = None
    row_id: str | None = None
    quote: str = ""
    log_type: int | None = None
    model: str | None = None
    quota: float | None = None  # new-api quota units
    usd: float | None = None  # a charge already in USD (LiteLLM spend, usage.cost_usd)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    is_task: bool | None = None
    request_path: str | None = None
    task_id: str | None = None
    status: str | None = None  # one of the task model's statuses
    error: str | None = None
    refund: bool = False
    refund_quota: float | None = None
    created_at: float | None = None  # unix seconds
    api_type_error: bool = False
    billed_seconds: float | None = None
    chinese: bool = False  # prose in Chinese: the complaint's language

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @property
    def source(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row_id:
            parts.append(f"row {self.row_id}")
        return ", ".join(parts) or self.kind


def is_media_model(name: str | None, extra: tuple[str, ...] = ()) -> bool:
    if not name:
        return False
    low = name.lower().strip()
    return any(fnmatchcase(low, pattern) for pattern in MEDIA_MODEL_PATTERNS + extra)


def is_chat_path(path: str | None) -> bool:
    return bool(path) and any(p in path.lower() for p in CHAT_PATHS)


def status_of(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    return _STATUS_OF.get(raw.strip().lower().replace(" ", "_"))


def make_quote(text: str) -> str:
    """Redact first (so a cut can never expose part of a key), then squeeze and truncate."""
    text = " ".join(redact(text).split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


# --- facts found by pattern, in prose and in error messages -------------------------------------

API_TYPE_RE = re.compile(r"invalid[\s_\-]*api[\s_\-]*type|api[\s_\-]*type[\s_\-]*invalid|无效的?\s*api\s*类型", re.I)
_REFUND_TEXT_RE = re.compile(
    r"task\s+failed[:\s]+(?P<id>[\w\-.:]+?)\s*[,，]\s*refund(?:ed)?\s*(?P<quota>\d+(?:\.\d+)?)"
    r"|任务失败[:：\s]*(?P<zid>[\w\-.:]+?)\s*[,，]\s*(?:补偿|退款|退还)\s*(?P<zquota>\d+(?:\.\d+)?)",
    re.I,
)
_TASK_ID_RE = re.compile(
    r"(?:task[_\s-]?id|任务\s*(?:id|ID|编号|号))[\"'\s]*[:=：]\s*[\"']?(?P<a>[A-Za-z0-9][\w\-.]{5,})"
    r"|/(?:video/generations|videos|tasks|task|fetch)/(?P<b>[A-Za-z0-9][\w\-]{5,})"
    r"|\btask\s+(?P<c>(?=[\w\-]*\d)[A-Za-z0-9][\w\-]{7,})",
    re.I,
)
_PROMPT_TOKENS_RE = re.compile(
    r"(?:prompt[_\s]tokens|input[_\s]tokens|输入\s*(?:tokens?|令牌|token数))[\"'\s]*[:=：]\s*(\d+)", re.I
)
_COMPLETION_TOKENS_RE = re.compile(
    r"(?:completion[_\s]tokens|output[_\s]tokens|输出\s*(?:tokens?|令牌|token数))[\"'\s]*[:=：]\s*(\d+)", re.I
)
_STATUS_RE = re.compile(
    r"(?:task_status|status|状态)[\"'\s]*[:=：]\s*[\"']?([A-Za-z_]+)", re.I
)
_MODEL_RE = re.compile(
    r"(?:model(?:_name)?)[\"'\s]*[:=：]\s*[\"']?([\w.\-/:]+)"
    r"|\b((?:wan|kling|sora|veo|vidu|hailuo|seedance)[\w.\-]*\d[\w.\-]*|[\w.\-]+-(?:t2v|i2v|r2v)[\w.\-]*)",
    re.I,
)
_PATH_RE = re.compile(r"(/v1/[\w\-/]+)")
_QUOTA_RE = re.compile(r"\bquota[\"'\s]*[:=：]\s*(\d+(?:\.\d+)?)", re.I)
# A charge said in USD in prose: "扣费 0.0024", "charged $0.30", "billed: 0.30 USD"
_CHARGE_RE = re.compile(
    r"(?:扣费|扣款|消费|charged|billed)[\s:=：]*(?:US)?\$?\s*(\d+(?:\.\d+)?)\s*(?:美元|USD|usd|\$)?", re.I)
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


def refund_in_text(text: str) -> tuple[str, float] | None:
    """Older new-api builds log refunds as text: `Video async task failed <id>, refund <quota>`."""
    m = _REFUND_TEXT_RE.search(text)
    if not m:
        return None
    task_id = m.group("id") or m.group("zid")
    return task_id.rstrip(".,"), float(m.group("quota") or m.group("zquota"))


def from_text(text: str, line: int | None) -> Record | None:
    """Facts stated in a line of prose, a log line or a broken JSON fragment; None when none."""
    rec = Record(kind="text", line=line)
    found = False
    if API_TYPE_RE.search(text):
        rec.api_type_error = found = True
    refund = refund_in_text(text)
    if refund:
        rec.task_id, rec.refund_quota = refund
        rec.refund = found = True
    elif m := _TASK_ID_RE.search(text):
        rec.task_id = (m.group("a") or m.group("b") or m.group("c")).rstrip(".,")
        found = True
    if m := _PROMPT_TOKENS_RE.search(text):
        rec.prompt_tokens = int(m.group(1))
        found = True
    if m := _COMPLETION_TOKENS_RE.search(text):
        rec.completion_tokens = int(m.group(1))
        found = True
    if m := _STATUS_RE.search(text):
        rec.status = status_of(m.group(1))
        found = found or rec.status is not None
    for m in _MODEL_RE.finditer(text):
        name = (m.group(1) or m.group(2)).strip("\"',")
        if name and not name.isdigit():
            rec.model = name
            found = True
            break
    for m in _PATH_RE.finditer(text):
        rec.request_path = m.group(1)
        found = True
        if is_chat_path(rec.request_path):
            break
    if rec.kind == "text" and (m := _QUOTA_RE.search(text)):
        rec.quota = float(m.group(1))
    elif rec.kind == "text" and found and (m := _CHARGE_RE.search(text)):
        rec.usd = float(m.group(1))
    rec.chinese = len(_CJK_RE.findall(text)) >= 2
    if not found and not rec.chinese:
        return None
    rec.quote = make_quote(text)
    return rec


# --- rows from JSON / CSV ------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    n = _num(value)
    return int(n) if n is not None else None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _truthy(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _seconds(value: Any) -> float | None:
    n = _num(value)
    if n is None or n <= 0:
        return None
    return n / 1000 if n > 1e12 else n  # some exports use milliseconds


def _other(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _error_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return _str(value.get("message")) or _str(value.get("code"))
    return _str(value)


def from_mapping(d: dict, line: int | None = None, quote: str = "") -> Record | None:
    """Classify one JSON object or CSV row; None when it is a wrapper, not a row."""
    rec = _classify(d)
    if rec is None:
        return None
    rec.line = line
    rec.quote = make_quote(quote or json.dumps(d, ensure_ascii=False, default=str))
    text = " ".join(t for t in (rec.error, _str(d.get("content")), _str(d.get("message"))) if t)
    if text and API_TYPE_RE.search(text):
        rec.api_type_error = True
    return rec


def _classify(d: dict) -> Record | None:
    keys = set(d)
    if "spend" in keys and keys & {"call_type", "request_id", "api_key", "startTime"}:
        return _litellm(d)
    if "model_name" in keys or ("quota" in keys and keys & {"type", "content", "prompt_tokens", "other"}):
        if "task_id" in keys and keys & {"platform", "action", "fail_reason", "submit_time"}:
            return _task_row(d)
        return _log_row(d)
    if "task_id" in keys and keys & {"platform", "action", "fail_reason", "submit_time", "properties"}:
        return _task_row(d)
    output = d.get("output")
    if isinstance(output, dict) and ("task_status" in output or "task_id" in output):
        return _dashscope(d, output)
    if keys & {"task_id", "id"} and "status" in keys and not isinstance(d.get("status"), dict | list):
        return _query(d)
    usage = d.get("usage")
    if isinstance(usage, dict) and keys & {"model", "object", "choices"}:
        return _usage(d, usage)
    if "model" in keys and keys & {"messages", "prompt", "input"}:
        rec = Record(kind="request", model=_str(d.get("model")))
        if "messages" in keys:
            rec.request_path = "/v1/chat/completions"  # a chat request body
        return rec
    error = d.get("error")
    if isinstance(error, dict | str) and error:
        return Record(kind="error", error=_error_text(error))
    if "message" in keys and "code" in keys and "data" not in keys and _str(d.get("message")):
        return Record(kind="error", error=f"{d.get('code')}: {d.get('message')}")
    return None


def _log_row(d: dict) -> Record:
    other = _other(d.get("other"))
    rec = Record(
        kind="log",
        row_id=_str(d.get("id")),
        log_type=_int(d.get("type")),
        model=_str(d.get("model_name")) or _str(d.get("model")),
        quota=_num(d.get("quota")),
        prompt_tokens=_int(d.get("prompt_tokens")),
        completion_tokens=_int(d.get("completion_tokens")),
        is_task=_truthy(other.get("is_task")) if "is_task" in other else _truthy(d.get("is_task")),
        request_path=_str(other.get("request_path")) or _str(d.get("request_path")),
        task_id=_str(other.get("task_id")) or _str(d.get("task_id")),
        created_at=_seconds(d.get("created_at")),
    )
    if rec.log_type is None and rec.quota:
        rec.log_type = CONSUME  # `record consume log: ... params={...}` lines carry no type
    content = _str(d.get("content")) or ""
    if rec.log_type == ERROR:
        rec.error = content or _str(other.get("reason"))
    if rec.log_type == REFUND:
        rec.refund = True
        rec.refund_quota = rec.quota
        rec.task_id = rec.task_id or _task_in(content)
    elif rec.log_type in (SYSTEM, None) and (refund := refund_in_text(content)):
        rec.refund = True
        rec.task_id, rec.refund_quota = refund
    return rec


def _task_in(text: str) -> str | None:
    if refund := refund_in_text(text):
        return refund[0]
    m = _TASK_ID_RE.search(text)
    return (m.group("a") or m.group("b") or m.group("c")) if m else None


def _task_row(d: dict) -> Record:
    props = _other(d.get("properties"))
    status = status_of(d.get("status"))
    fail_reason = _str(d.get("fail_reason"))
    if fail_reason and fail_reason.startswith("http"):
        fail_reason = None  # older builds put the video link there
    return Record(
        kind="task",
        row_id=_str(d.get("id")),
        task_id=_str(d.get("task_id")),
        status=status,
        error=fail_reason,
        quota=_num(d.get("quota")),
        model=_str(props.get("origin_model_name")) or _str(props.get("upstream_model_name")) or _str(d.get("model")),
        created_at=_seconds(d.get("submit_time")) or _seconds(d.get("created_at")),
        is_task=True,
    )


def _dashscope(d: dict, output: dict) -> Record:
    usage = d.get("usage") if isinstance(d.get("usage"), dict) else {}
    return Record(
        kind="query",
        row_id=_str(d.get("request_id")),
        task_id=_str(output.get("task_id")),
        status=status_of(output.get("task_status")),
        error=" ".join(t for t in (_str(output.get("code")), _str(output.get("message"))) if t) or None,
        billed_seconds=_num(usage.get("video_duration")) or _num(usage.get("duration")),
        model=_str(d.get("model")),
    )


def _query(d: dict) -> Record:
    usage = d.get("usage") if isinstance(d.get("usage"), dict) else {}
    fail_reason = _str(d.get("fail_reason"))
    if fail_reason and fail_reason.startswith("http"):
        fail_reason = None
    return Record(
        kind="query",
        row_id=_str(d.get("request_id")),
        task_id=_str(d.get("task_id")) or _str(d.get("id")),
        status=status_of(d.get("status")),
        error=_error_text(d.get("error")) or fail_reason,
        billed_seconds=_num(usage.get("billed_seconds")),
        usd=_num(usage.get("cost_usd")),
        model=_str(d.get("model")),
        is_task=True,
    )


def _usage(d: dict, usage: dict) -> Record:
    return Record(
        kind="usage",
        row_id=_str(d.get("id")),
        model=_str(d.get("model")),
        prompt_tokens=_int(usage.get("prompt_tokens", usage.get("input_tokens"))),
        completion_tokens=_int(usage.get("completion_tokens", usage.get("output_tokens"))),
        request_path="/v1/chat/completions" if d.get("object") == "chat.completion" or "choices" in d else None,
    )


def _litellm(d: dict) -> Record:
    raw_status = _str(d.get("status"))
    status = {"success": "succeeded", "failure": "failed"}.get((raw_status or "").lower())
    call_type = (_str(d.get("call_type")) or "").lower()
    meta = _other(d.get("metadata"))
    return Record(
        kind="litellm",
        row_id=_str(d.get("request_id")),
        model=_str(d.get("model")),
        usd=_num(d.get("spend")),
        prompt_tokens=_int(d.get("prompt_tokens")),
        completion_tokens=_int(d.get("completion_tokens")),
        request_path="/v1/chat/completions" if "completion" in call_type else None,
        status=status,
        task_id=_str(d.get("task_id")) or _str(meta.get("task_id")),
        created_at=_seconds(d.get("startTime")) if not isinstance(d.get("startTime"), str) else None,
        is_task=("video" in call_type or "image" in call_type) or None,
    )
