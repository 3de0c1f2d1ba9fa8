"""Rows from JSON objects and CSV lines -> records: new-api log rows, task records, gateway query
results, DashScope answers, chat usage, LiteLLM spend rows.

new-api's log row (model/log.go): a task's consumption row has `other.is_task` and no task id; a
settlement after the task (service/task_billing.go RecalculateTaskQuota) is a type 2 (top-up charge)
or type 6 (partial return) row whose `other` has `task_id`, `pre_consumed_quota` and `actual_quota`
(older builds: a type 2 row with `quota_delta`, which may be negative); a refund is a type 6 row
with `other.task_id` and `other.reason`, or a type 4 system row with the refund as text.
"""

from __future__ import annotations

import json
from typing import Any

from bot.triage.records import CONSUME, ERROR, REFUND, SYSTEM, Record, make_quote, status_of
from bot.triage.textfacts import API_TYPE_RE, refund_in_text, task_in
from bot.triage.times import parse_time

_ADJUSTMENT_KEYS = ("pre_consumed_quota", "actual_quota", "pre_consumed", "quota_delta")

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
    return parse_time(value)  # unix s or ms, ISO, local time strings


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
        username=_str(d.get("username")),
    )
    if rec.log_type is None and rec.quota:
        rec.log_type = CONSUME  # `record consume log: ... params={...}` lines carry no type
    content = _str(d.get("content")) or ""
    reason = _str(other.get("reason")) or ""
    if rec.log_type == ERROR:
        rec.error = content or reason
    rec.adjustment = rec.task_id is not None and any(k in other for k in _ADJUSTMENT_KEYS)
    if rec.log_type == REFUND and not rec.adjustment:
        rec.refund = True
        rec.refund_quota = rec.quota
        rec.task_id = rec.task_id or task_in(content) or task_in(reason)
    elif rec.log_type in (SYSTEM, None) and (refund := refund_in_text(content)):
        rec.refund = True
        rec.task_id, amount = refund
        rec.refund_quota, rec.refund_usd, rec.refund_cny = amount.quota, amount.usd, amount.cny
    return rec


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
        created_at=_seconds(d.get("startTime")),
        is_task=("video" in call_type or "image" in call_type) or None,
    )
