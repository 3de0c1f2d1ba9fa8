"""new-api's log and task admin APIs, served from the tasks this simulator ran (shared/spec/triage.md,
"Fetching rows from the gateway"), so triage's fetch is tested on loopback.

The shapes follow QuantumNous/new-api (read, not copied): router/api-router.go (`/api/log/`,
`/api/log/self`, `/api/task/`, `/api/task/self`), controller/log.go and controller/task.go (`p`,
`page_size` capped at 100, `{"success", "message", "data": {"page", "page_size", "total", "items"}}`),
middleware/auth.go (older builds: `New-Api-User` must name the token's user; too low a role is an
HTTP 200 with `success: false`), model/log.go (rows, id order, `formatUserLogs` for self), and
service/task_billing.go (the task's consumption row names no task; a refund is a type 6 row with
`other.task_id`; after it the task's own quota is 0). The gateway's own key (middleware) is also
the access token here: the simulator has one credential.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from aiohttp import web

from bot.sim.state import STATE, SimState, SimTask

PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 10, 100
_STATUS = {"queued": "QUEUED", "running": "IN_PROGRESS", "succeeded": "SUCCESS", "failed": "FAILURE",
           "canceled": "FAILURE", "expired": "UNKNOWN"}
_PATHS = {"unified": "/v1/video/generations", "openai": "/v1/videos",
          "dashscope": "/api/v1/services/aigc/video-generation/video-synthesis"}


@dataclass
class NewApiSim:
    """How the simulated new-api behaves; change it through `settings(sim.state)` in tests."""

    users: dict[int, tuple[str, bool]] = field(default_factory=lambda: {1: ("root", True), 2: ("acme", False)})
    owner: int = 2  # whose tasks the simulator's tasks are
    refunds: str = "row"  # row: a type 6 row (current builds) | text: a type 4 row (older) | none: missing
    quota_per_usd: int = 500_000
    require_user_header: bool = True  # older builds insist on New-Api-User


_SETTINGS: weakref.WeakKeyDictionary[SimState, NewApiSim] = weakref.WeakKeyDictionary()


def settings(state: SimState) -> NewApiSim:
    return _SETTINGS.setdefault(state, NewApiSim())


def _money(quota: int, sim: NewApiSim) -> str:
    return f"＄{quota / sim.quota_per_usd:.6f} 额度"  # logger.LogQuota with DisplayInCurrencyEnabled


def _task_quota(task: SimTask, sim: NewApiSim, usd_per_second: float) -> int:
    return round(usd_per_second * task.duration * sim.quota_per_usd)


def _rows(state: SimState) -> tuple[list[dict], list[dict]]:
    """(log rows, task records) for every task the simulator ran, as new-api would have stored them."""
    sim = settings(state)
    owner = sim.users.get(sim.owner, ("user", False))[0]
    logs: list[dict] = []
    tasks: list[dict] = []
    for n, task in enumerate(sorted(state.tasks.values(), key=lambda t: t.created_wall), start=1):
        status, progress = task.state(state.config, state.clock())
        quota = _task_quota(task, sim, state.config.price_per_second)
        submit = int(task.created_wall)
        action = "textGenerate" if task.mode in ("t2v", "text-to-video") else "generate"
        logs.append({
            "id": 0, "user_id": sim.owner, "created_at": submit, "type": 2, "request_id": f"req_{task.id}",
            "content": f"操作 {action}, 计算参数：seconds: {task.duration:.2f}", "username": owner,
            "token_name": "default", "model_name": task.model, "quota": quota, "prompt_tokens": 0,
            "completion_tokens": 0, "use_time": 0, "is_stream": False, "channel": 1, "group": "default",
            "other": json.dumps({"is_task": True, "request_path": _PATHS[task.wire],
                                 "model_price": state.config.price_per_second, "group_ratio": 1}, separators=(",", ":")),
        })
        refunded = status in ("failed", "canceled") and sim.refunds != "none"
        if refunded:
            ended = int(task.ended_wall or task.created_wall)
            reason = f"Video async task failed {task.id}, refund {_money(quota, sim)}"
            if sim.refunds == "text":
                logs.append({"id": 0, "user_id": sim.owner, "created_at": ended, "type": 4, "content": reason,
                             "username": owner, "token_name": "", "model_name": "", "quota": 0,
                             "prompt_tokens": 0, "completion_tokens": 0, "use_time": 0, "is_stream": False,
                             "channel": 0, "group": "", "other": ""})
            else:
                logs.append({"id": 0, "user_id": sim.owner, "created_at": ended, "type": 6, "content": "",
                             "username": owner, "token_name": "default", "model_name": task.model, "quota": quota,
                             "prompt_tokens": 0, "completion_tokens": 0, "use_time": 0, "is_stream": False,
                             "channel": 1, "group": "default",
                             "other": json.dumps({"task_id": task.id, "reason": reason, "group_ratio": 1,
                                                  "model_price": state.config.price_per_second}, ensure_ascii=False,
                                                 separators=(",", ":"))})
        started = submit + int(task.queue_seconds)
        tasks.append({
            "id": n, "created_at": submit, "updated_at": int(task.ended_wall or submit), "task_id": task.id,
            "platform": "wan", "user_id": sim.owner, "username": owner, "group": "default", "channel_id": 1,
            "quota": 0 if refunded else quota, "action": action, "status": _STATUS[status],
            "fail_reason": "upstream render failed (simulated)" if status == "failed" else "",
            "submit_time": submit, "start_time": started if status != "queued" else 0,
            "finish_time": int(task.ended_wall) if task.ended_wall else 0, "progress": f"{progress}%",
            "properties": {"origin_model_name": task.model, "upstream_model_name": task.model},
        })
    logs.sort(key=lambda r: r["created_at"])
    for i, row in enumerate(logs, start=1):
        row["id"] = i
    return logs, tasks


def _caller(request: web.Request, admin: bool) -> tuple[int | None, web.Response | None]:
    sim = settings(request.app[STATE])
    raw = request.headers.get("New-Api-User", "")
    if not raw:
        if sim.require_user_header:
            return None, _fail("无权进行此操作，未提供 New-Api-User", 401)
        raw = "1"
    if not raw.isdigit() or int(raw) not in sim.users:
        return None, _fail("无权进行此操作，New-Api-User 与登录用户不匹配", 401)
    uid = int(raw)
    if admin and not sim.users[uid][1]:
        return None, _fail("无权进行此操作，权限不足")  # HTTP 200: check `success`, not the status
    return uid, None


def _fail(message: str, status: int = 200) -> web.Response:
    return web.json_response({"success": False, "message": message}, status=status)


def _int(request: web.Request, name: str, default: int = 0) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        return default


def _page(request: web.Request, items: list[dict]) -> web.Response:
    page = max(1, _int(request, "p", 1))
    size = _int(request, "page_size", PAGE_SIZE_DEFAULT)
    size = PAGE_SIZE_DEFAULT if size <= 0 else min(size, PAGE_SIZE_MAX)
    chunk = items[(page - 1) * size: page * size]
    return web.json_response({"success": True, "message": "", "data": {
        "page": page, "page_size": size, "total": len(items), "items": chunk}})


def _like(pattern: str, value: str) -> bool:
    return fnmatchcase(value, pattern.replace("%", "*").replace("_", "?"))


def _filter_logs(request: web.Request, rows: list[dict], uid: int | None) -> list[dict]:
    q = request.query
    kind, start, end = _int(request, "type"), _int(request, "start_timestamp"), _int(request, "end_timestamp")
    keep = []
    for r in rows:
        if uid is not None and r["user_id"] != uid:
            continue
        if (kind and r["type"] != kind) or (start and r["created_at"] < start) or (end and r["created_at"] > end):
            continue
        if q.get("username") and uid is None and r["username"] != q["username"]:
            continue
        if q.get("token_name") and r["token_name"] != q["token_name"]:
            continue
        if q.get("model_name") and not _like(q["model_name"], r["model_name"]):
            continue
        if q.get("group") and r["group"] != q["group"]:
            continue
        if q.get("request_id") and r.get("request_id") != q["request_id"]:
            continue
        if q.get("channel") and uid is None and str(r["channel"]) != q["channel"]:
            continue
        keep.append(r)
    return sorted(keep, key=lambda r: r["id"], reverse=True)  # GetAllLogs: order by id desc


def _filter_tasks(request: web.Request, rows: list[dict], uid: int | None) -> list[dict]:
    q = request.query
    start, end = _int(request, "start_timestamp"), _int(request, "end_timestamp")
    keep = [r for r in rows if (uid is None or r["user_id"] == uid)
            and (not q.get("task_id") or r["task_id"] == q["task_id"])
            and (not q.get("status") or r["status"] == q["status"])
            and (not q.get("platform") or r["platform"] == q["platform"])
            and (not start or r["submit_time"] >= start) and (not end or r["submit_time"] <= end)]
    return sorted(keep, key=lambda r: r["id"], reverse=True)


async def all_logs(request: web.Request) -> web.Response:
    _, denied = _caller(request, admin=True)
    if denied:
        return denied
    return _page(request, _filter_logs(request, _rows(request.app[STATE])[0], None))


async def self_logs(request: web.Request) -> web.Response:
    uid, denied = _caller(request, admin=False)
    if denied:
        return denied
    rows = [{**r, "id": r["id"] % 1024} for r in _filter_logs(request, _rows(request.app[STATE])[0], uid)]
    return _page(request, rows)  # formatUserLogs: a user sees ids modulo 1024


async def all_tasks(request: web.Request) -> web.Response:
    _, denied = _caller(request, admin=True)
    if denied:
        return denied
    return _page(request, _filter_tasks(request, _rows(request.app[STATE])[1], None))


async def self_tasks(request: web.Request) -> web.Response:
    uid, denied = _caller(request, admin=False)
    if denied:
        return denied
    return _page(request, _filter_tasks(request, _rows(request.app[STATE])[1], uid))


ROUTES = [
    web.get("/api/log/", all_logs),
    web.get("/api/log/self", self_logs),
    web.get("/api/task/", all_tasks),
    web.get("/api/task/self", self_tasks),
]
