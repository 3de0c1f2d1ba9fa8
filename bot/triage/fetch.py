"""Fetch a task's record and log rows from new-api's admin APIs, so a task id alone is enough.

What new-api's own code makes this live with (router/api-router.go, middleware/auth.go,
controller/log.go, controller/task.go; shared/spec/triage.md "Fetching rows from the gateway"):
- `/api/task/` and `/api/log/` need an admin token, `/api/task/self` and `/api/log/self` a user one;
  too low a role (or a bad token on older builds) is an HTTP 200 with `success: false`, so the
  flag is checked, not only the status, and the self endpoints are tried next;
- the token goes in `Authorization` (`Bearer <t>`), and `New-Api-User` is always sent;
- pages are `p` (from 1) with `page_size` at most 100; there is no user-id log filter, so the
  task record's `username` is used, with the task's time window.
Bounded: at most MAX_ROWS rows and DEADLINE_SECONDS in all. A failure is a note, never an error,
and the token is masked in every note.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.redact import redact
from bot.triage.records import Record
from bot.triage.rows import from_mapping

PAGE_SIZE = 100  # new-api caps page_size at 100
MAX_ROWS = 10_000
DEADLINE_SECONDS = 30.0
BEFORE_SUBMIT = 10 * 60  # the consumption row is written at submission; clocks drift a little
AFTER_END = 60 * 60  # refund rows follow the failure once the poller sees it

Fetch = Callable[[str], Awaitable["Fetched"]]


@dataclass
class Fetched:
    records: list[Record] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Refused(Exception):
    """The API answered, but not with data (success false, 401/403): try the next endpoint."""


class NewApiFetcher:
    def __init__(self, base_url: str, token: str, user: str | None, *, timeout: float = 10.0,
                 deadline: float = DEADLINE_SECONDS, max_rows: int = MAX_ROWS,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}", "New-Api-User": str(user or ""),
                         "Accept": "application/json"}
        self.timeout, self.deadline, self.max_rows = timeout, deadline, max_rows
        self._transport = transport

    async def __call__(self, task_id: str) -> Fetched:
        out = Fetched()
        try:
            async with asyncio.timeout(self.deadline), httpx.AsyncClient(
                    base_url=self.base_url, headers=self._headers, timeout=self.timeout,
                    transport=self._transport) as http:
                await self._fetch(http, task_id, out)
        except TimeoutError:
            out.notes.append(f"new-api fetch for {task_id} stopped after {self.deadline:g} s; only what had "
                             "arrived by then is used")
        except (httpx.HTTPError, ValueError) as exc:
            out.notes.append(self._mask(f"new-api fetch for {task_id} failed: {type(exc).__name__}: {exc}"))
        return out

    async def _fetch(self, http: httpx.AsyncClient, task_id: str, out: Fetched) -> None:
        tasks = await self._pages(http, ("/api/task/", "/api/task/self"), {"task_id": task_id}, out, limit=5)
        task = next((t for t in tasks if t.get("task_id") == task_id), None)
        if task is None:
            out.notes.append(f"new-api has no task {task_id}; looking it up as a request id")
            rows = await self._pages(http, ("/api/log/", "/api/log/self"), {"request_id": task_id}, out)
            out.records += [r for r in map(_record, rows) if r]
            return
        out.records += [r for r in [_record(task)] if r]
        submit = _unix(task.get("submit_time")) or _unix(task.get("created_at")) or time.time()
        end = _unix(task.get("finish_time")) or max(time.time(), submit)
        params: dict[str, Any] = {"type": 0, "start_timestamp": int(submit - BEFORE_SUBMIT),
                                  "end_timestamp": int(end + AFTER_END)}
        if task.get("username"):
            params["username"] = task["username"]
        rows = await self._pages(http, ("/api/log/", "/api/log/self"), params, out)
        about = rows_about(task, rows)
        out.records += [r for r in map(_record, about) if r]
        out.notes.append(f"fetched task {task_id} and {len(rows)} log row(s) from new-api, "
                         f"{len(about)} about this task")

    async def _pages(self, http: httpx.AsyncClient, paths: tuple[str, ...], params: dict, out: Fetched,
                     limit: int | None = None) -> list[dict]:
        """Every page of the first endpoint that answers with data; [] when none does."""
        cap = min(limit or self.max_rows, self.max_rows)
        refusals = []
        for path in paths:
            items: list[dict] = []
            try:
                page = 1
                while len(items) < cap:
                    data = await self._get(http, path, {**params, "p": page, "page_size": PAGE_SIZE})
                    got = [i for i in data.get("items") or [] if isinstance(i, dict)]
                    items += got
                    total = data.get("total")
                    if not got or len(got) < PAGE_SIZE or (isinstance(total, int) and len(items) >= total):
                        break
                    page += 1
            except _Refused as exc:
                refusals.append(f"{path}: {exc}")
                out.notes.append(self._mask(f"new-api refused {path}: {exc}"))
                continue
            if len(items) >= cap and cap == self.max_rows:
                out.notes.append(f"new-api {path}: stopped at {self.max_rows} rows")
            return items[:cap]
        return []

    async def _get(self, http: httpx.AsyncClient, path: str, params: dict) -> dict:
        resp = await http.get(path, params=params)
        try:
            body = resp.json()
        except ValueError:
            raise _Refused(f"HTTP {resp.status_code}, not JSON") from None
        if resp.status_code >= 400 or not isinstance(body, dict) or body.get("success") is not True:
            message = body.get("message") if isinstance(body, dict) else None
            raise _Refused(f"HTTP {resp.status_code}, success false: {str(message or '')[:120]}")
        data = body.get("data")
        if isinstance(data, list):  # some builds answer a bare list
            return {"items": data, "total": len(data)}
        return data if isinstance(data, dict) else {}

    def _mask(self, text: str) -> str:
        return redact(text.replace(self._token, "***") if self._token else text)


def rows_about(task: dict, rows: list[dict]) -> list[dict]:
    """The log rows about this task: those naming it (refunds, settlements), and its consumption row,
    which names no task (service/task_billing.go): the same model's task charge nearest the submit
    time (ties: the later row). Other users' and other tasks' rows stay out."""
    tid = str(task.get("task_id"))
    props = task.get("properties") if isinstance(task.get("properties"), dict) else {}
    model = props.get("origin_model_name") or props.get("upstream_model_name")
    submit = _unix(task.get("submit_time")) or 0.0
    named, charges = [], []
    for row in rows:
        other = _other(row.get("other"))
        if str(other.get("task_id") or "") == tid or tid in str(row.get("content") or ""):
            named.append(row)
        elif (row.get("type") == 2 and not other.get("task_id") and other.get("is_task")
              and (not model or row.get("model_name") == model)):
            charges.append(row)
    if charges:
        named.append(min(charges, key=lambda r: (abs((_unix(r.get("created_at")) or 0) - submit),
                                                 -(_unix(r.get("id")) or 0))))
    return named


def _other(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str) and value.startswith("{") else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _record(item: dict) -> Record | None:
    return from_mapping(item, None, json.dumps(item, ensure_ascii=False))


def _unix(value: Any) -> float | None:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def fetcher_from_settings(settings: Any) -> NewApiFetcher | None:
    """The fetch when WANBOT_NEWAPI_URL and WANBOT_NEWAPI_TOKEN are set; else None."""
    url = getattr(settings, "wanbot_newapi_url", None)
    token = settings.secret("wanbot_newapi_token") if url else None
    if not url or not token:
        return None
    return NewApiFetcher(url, token, getattr(settings, "wanbot_newapi_user", None))
