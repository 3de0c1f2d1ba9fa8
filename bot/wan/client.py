"""HTTP client for the gateway, applying the error policy of gateway-api.md.

- 400/401/403/404 are never retried (the request or the key must change first).
- 429 backs off with full jitter, honouring Retry-After; it never fails a job by itself.
- 5xx on submit is retried twice more, then reported with the request id.
- A submit whose outcome is unknown (sent, then timeout/reset/garbled answer) is retried once with the
  same Idempotency-Key; if that resend brings no task back (any error, a 429 included),
  `SubmitOutcomeUnknown` is raised so that the job is parked for a human rather than paid twice.
- "Sent" means the request's body began to leave: before that the gateway holds no complete request
  and cannot have created a task. The caller hears of each send at that moment (`sending`), after the
  connection is up and the headers are out, so that it records the attempt just before it counts.
Polls are single attempts: the tracker decides when to come back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from bot.redact import without_credentials
from bot.wan.errors import (
    AuthError,
    BadRequest,
    GatewayError,
    NotFound,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TransportError,
)
from bot.wan.formats import HttpCall, WireFormat, get_format, parse_error_body
from bot.wan.request import VideoRequest
from bot.wan.retry import backoff_delay, parse_retry_after
from bot.wan.task import Task

log = logging.getLogger(__name__)

Sending = Callable[[int], Awaitable[None]]  # told as a submit's body is about to leave (see submit)

SUBMIT_5XX_ATTEMPTS = 3        # one try plus two retries
# A 429 is retried here only briefly: the tracker then keeps the job pending and schedules the next
# try itself, so no coroutine sleeps through a long Retry-After while holding an upstream slot.
SUBMIT_429_ATTEMPTS = 2
SUBMIT_429_MAX_WAIT = 2.0
SUBMIT_5XX_DELAYS = (0.5, 1.5)
# A task answer is a few hundred bytes and an error page a few KB: a body past this is not read on
# (a 150 MB answer read whole cost +768 MB of memory).
MAX_JSON_BYTES = 4 * 1024 * 1024


class GatewayClient:
    def __init__(self, settings, *, fmt: WireFormat | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Callable[[], float] = random.random,
                 transport: httpx.AsyncBaseTransport | None = None):
        settings.require("wan_api_base")
        # Credentials inside WAN_API_BASE (https://user:pass@host/) never go into a URL: httpx would
        # turn them into Basic auth in place of the Bearer key, and a URL gets shown and logged. The
        # gateway takes the key as Bearer only (gateway-api.md), so they are left out, with a warning.
        self.base = without_credentials(settings.wan_api_base).rstrip("/")
        if self.base != settings.wan_api_base.rstrip("/"):
            log.warning("WAN_API_BASE holds credentials (user:password@); they are not sent: the gateway "
                        "gets WAN_API_KEY as Authorization: Bearer", extra={"base": self.base})
        self.format = fmt or get_format(settings)
        self._key = settings.secret("wan_api_key") or ""
        self._sleep = sleep
        self._rng = rng
        timeout = settings.wan_timeout_seconds
        # httpx's timeout is per read: a gateway that drips a byte a second never trips it, so each
        # call also gets one deadline for connect, headers and body together.
        self._deadline = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base,
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=transport,
            headers={"User-Agent": "wanbot/0.1"},
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- public operations -------------------------------------------------------------------

    def describe_submit(self, req: VideoRequest, idempotency_key: str) -> tuple[str, str, dict, dict | None]:
        """The exact submit as it would cross the wire (for "Show API request"); key masked."""
        call = self.format.submit(req)
        headers = {"Authorization": "Bearer $WAN_API_KEY", "Content-Type": "application/json",
                   "Idempotency-Key": idempotency_key, **call.headers}
        return call.method, without_credentials(self.base) + call.path, headers, call.json

    async def submit(self, req: VideoRequest, idempotency_key: str, *, in_doubt: bool = False,
                     sending: Sending | None = None) -> Task:
        """Submit once, with the retries of the policy table. `in_doubt`: an earlier send with this key
        may have created the task (a restart found the job `submitted`), so this is the one resend.

        `sending(n)` is awaited as each send's body is about to leave, n counting the sends of this
        call whose outcome may be unknown, this one included (a 5xx retry replaces the send it
        follows: its answer was definite). Whatever it raises stops the send before the body."""
        call = self.format.submit(req)
        server_errors = 0
        rate_limits = 0
        doubtful = 0  # sends of this call that left and brought no readable answer
        while True:
            announce = None if sending is None else functools.partial(sending, doubtful + 1)
            try:
                body, request_id = await self._send(call, idempotency_key=idempotency_key, before_body=announce)
                try:
                    task = self.format.parse_submit(body)
                except (ValueError, KeyError, TypeError) as exc:
                    # 200 with an unreadable body: the task may exist upstream.
                    raise TransportError(f"unreadable submit answer: {exc}", request_id=request_id) from None
                task.request_id = task.request_id or request_id
                return task
            except TransportError as exc:
                if not exc.sent:
                    # Never reached the gateway (connect failed): safe to send again, doubt or not.
                    server_errors += 1
                    if server_errors >= SUBMIT_5XX_ATTEMPTS:
                        if in_doubt:
                            raise self._unknown(exc) from None
                        raise
                    await self._sleep(SUBMIT_5XX_DELAYS[server_errors - 1])
                    continue
                if in_doubt:
                    raise self._unknown(exc) from None
                in_doubt = True
                doubtful += 1
                log.warning("submit outcome unknown, retrying once with the same key",
                            extra={"idempotency_key": idempotency_key, "reason": exc.message})
            except GatewayError as exc:
                if in_doubt or exc.status == 409:  # 409: a send with this key is still in progress
                    # Only a task in the answer ends the doubt: a 5xx, 409 or 429 on the resend says
                    # nothing of the task the first send may have created (gateway-api.md), and
                    # sending again risks a second paid task on a gateway that ignores the key.
                    raise self._unknown(exc) from None
                if isinstance(exc, RateLimited):
                    rate_limits += 1
                    delay = backoff_delay(rate_limits - 1, retry_after=exc.retry_after, rng=self._rng)
                    if rate_limits >= SUBMIT_429_ATTEMPTS or delay > SUBMIT_429_MAX_WAIT:
                        raise
                    await self._sleep(delay)
                elif isinstance(exc, ServerError):
                    server_errors += 1
                    if server_errors >= SUBMIT_5XX_ATTEMPTS:
                        raise
                    await self._sleep(SUBMIT_5XX_DELAYS[server_errors - 1] * (0.5 + self._rng()))
                else:
                    raise

    @staticmethod
    def _unknown(exc: GatewayError) -> SubmitOutcomeUnknown:
        return SubmitOutcomeUnknown(
            f"submit outcome unknown after a retry with the same Idempotency-Key ({exc.message})",
            status=exc.status, code=exc.code, request_id=exc.request_id)

    async def get_task(self, task_id: str) -> Task:
        body, request_id = await self._send(self.format.poll(task_id))
        try:
            task = self.format.parse_poll(body, task_id)
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerError(f"unreadable task answer: {exc}", request_id=request_id) from None
        task.request_id = task.request_id or request_id
        return task

    async def cancel(self, task_id: str) -> bool:
        """Ask the gateway to cancel; False when the format has no cancel."""
        call = self.format.cancel(task_id)
        if call is None:
            return False
        await self._send(call)
        return True

    # -- one HTTP exchange, classified -------------------------------------------------------

    async def _send(self, call: HttpCall, *, idempotency_key: str | None = None,
                    before_body: Callable[[], Awaitable[None]] | None = None) -> tuple[Any, str | None]:
        headers = {"Authorization": f"Bearer {self._key}", **call.headers}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        wire = _Wire(before_body)
        try:
            async with asyncio.timeout(self._deadline):
                status, response_headers, raw = await self._exchange(call, headers, wire)
        except TimeoutError:
            raise TransportError(f"no complete answer from the gateway within {self._deadline:g} s",
                                 sent=wire.body_left) from None

        header_id = response_headers.get("x-request-id")
        body = None
        if raw is not None:
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
        code, message, body_id = parse_error_body(body) if status >= 400 else (None, None, None)
        request_id = body_id or (body.get("request_id") if isinstance(body, dict) else None) or header_id
        log.info("gateway call", extra={"method": call.method, "path": call.path,
                                        "status": status, "request_id": request_id})
        if status < 400:
            if body is None:
                message = ("the gateway answered with malformed JSON" if raw is not None else
                           f"the gateway's answer is larger than {MAX_JSON_BYTES >> 20} MB; not read")
                if idempotency_key is None:
                    raise ServerError(message, status=status, request_id=request_id)
                raise TransportError(message, request_id=request_id)
            return body, request_id
        message = message or f"HTTP {status} from the gateway"
        kwargs = dict(status=status, code=code, request_id=request_id)
        if status == 429:
            raise RateLimited(message, retry_after=parse_retry_after(response_headers.get("retry-after")), **kwargs)
        if status in (401, 403):
            raise AuthError(message, **kwargs)
        if status == 404:
            raise NotFound(message, **kwargs)
        if 400 <= status < 500:
            raise BadRequest(message, **kwargs)
        raise ServerError(message, **kwargs)

    async def _exchange(self, call: HttpCall, headers: dict[str, str],
                        wire: _Wire) -> tuple[int, httpx.Headers, bytes | None]:
        """Status, headers and body (None when over MAX_JSON_BYTES), streamed so the cap holds."""
        body = wire.request_body(call.json, headers)
        try:
            async with self._http.stream(call.method, call.path, headers=headers, **body) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
                    return response.status_code, response.headers, None
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_JSON_BYTES:
                        return response.status_code, response.headers, None
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportError(f"cannot reach the gateway: {type(exc).__name__}", sent=False) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"no answer from the gateway: {type(exc).__name__}", sent=wire.body_left) from None


class _Wire:
    """One exchange's request body, and whether it began to leave. With `before_body`, the body is
    handed to httpx as a stream that first awaits it: httpcore reads a request's body only once the
    connection is up and the headers are written, so it runs at the last moment before anything the
    gateway could act on leaves this process."""

    def __init__(self, before_body: Callable[[], Awaitable[None]] | None):
        self._before_body = before_body
        self.body_left = before_body is None  # without the hook nothing tells: assume it left

    def request_body(self, payload: Any, headers: dict[str, str]) -> dict[str, Any]:
        if self._before_body is None:
            return {"json": payload}
        # Encoded as httpx encodes json= (compact, UTF-8), with its Content-Length: not chunked.
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        headers.update({"Content-Type": "application/json", "Content-Length": str(len(data))})
        return {"content": self._stream(data)}

    async def _stream(self, data: bytes) -> AsyncIterator[bytes]:
        await self._before_body()
        self.body_left = True
        yield data
