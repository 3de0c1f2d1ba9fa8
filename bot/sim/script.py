"""Scripted faults: the next calls of one kind (submit, poll, cancel) get a chosen answer.

Rate-based faults (`rate_5xx`, ...) answer any call at random; a script says exactly which call
misbehaves, so a test can stage "the submit lands but answers late, then the resend gets a 409".
Set from Python (`script.add(sim.app, Scripted(...))`) or with POST /_sim/script (a JSON list).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, fields

from aiohttp import web

# The middleware calls in with its submit paths and error builder (so this module imports neither).
ErrorBuilder = Callable[..., web.Response]

KINDS = ("submit", "poll", "cancel")
# late: the call takes effect (a submit creates its task), then the answer waits `seconds`;
# hang: nothing happens for `seconds`, then a 500; 404_html: a proxy's page, not the gateway's JSON.
ANSWERS = ("late", "hang", "404_html", "404", "409", "429", "500")


@dataclass
class Scripted:
    on: str
    answer: str
    times: int = 1          # how many matching calls get this answer
    skip: int = 0           # let this many matching calls through first
    seconds: float = 30.0   # late / hang: how long; 429: Retry-After

    def __post_init__(self) -> None:
        if self.on not in KINDS or self.answer not in ANSWERS:
            raise ValueError(f"on must be one of {KINDS}, answer one of {ANSWERS}")


SCRIPT: web.AppKey[list[Scripted]] = web.AppKey("sim_script", list)


def kind_of(request: web.Request, submit_paths: Collection[str]) -> str | None:
    if request.method == "POST" and request.path in submit_paths:
        return "submit"
    if request.method == "POST" and request.path.endswith("/cancel"):
        return "cancel"
    if request.method == "GET" and request.path.startswith(("/v1/video/generations/", "/v1/videos/",
                                                            "/api/v1/tasks/")):
        return "poll"
    return None


def add(app: web.Application, *rules: Scripted) -> None:
    app[SCRIPT].extend(rules)


def _take(app: web.Application, kind: str) -> Scripted | None:
    for rule in app[SCRIPT]:
        if rule.on != kind:
            continue
        if rule.skip:
            rule.skip -= 1
            return None
        rule.times -= 1
        if rule.times <= 0:
            app[SCRIPT].remove(rule)
        return rule
    return None


async def intercept(request: web.Request, handler, *, error: ErrorBuilder,
                    submit_paths: Collection[str]) -> web.StreamResponse | None:
    """The scripted answer for this call, or None to answer it normally."""
    if not request.app[SCRIPT]:
        return None
    kind = kind_of(request, submit_paths)
    rule = _take(request.app, kind) if kind else None
    if rule is None:
        return None
    if rule.answer == "late":
        response = await handler(request)
        await asyncio.sleep(rule.seconds)
        return response
    if rule.answer == "hang":
        await asyncio.sleep(rule.seconds)
        return error(request, "internal", "Internal error after a hang (scripted).")
    if rule.answer == "404_html":
        return web.Response(status=404, text="<html><body><h1>404 Not Found</h1>nginx</body></html>",
                            content_type="text/html")
    if rule.answer == "404":
        return error(request, "not_found", "task not found (scripted)")
    if rule.answer == "409":
        return web.json_response({"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use",
                                             "message": "a request with this Idempotency-Key is in progress"}},
                                 status=409)
    if rule.answer == "429":
        return error(request, "rate", "Rate limit exceeded (scripted).", headers={"Retry-After": f"{rule.seconds:g}"})
    return error(request, "internal", "Internal error (scripted).")


async def post_script(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        names = {f.name for f in fields(Scripted)}
        rules = [Scripted(**{k: v for k, v in item.items() if k in names}) for item in body]
    except (ValueError, TypeError, AttributeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    add(request.app, *rules)
    return web.json_response([asdict(r) for r in request.app[SCRIPT]])


def install(app: web.Application) -> None:
    app[SCRIPT] = []
    app.add_routes([web.post("/_sim/script", post_script)])
