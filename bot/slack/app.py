"""The Slack app: builds the Bolt AsyncApp, registers every listener module, serves HTTP.

`build_app(services)` is all the wiring; `start_http(services, host, port)` runs the HTTP mode
endpoints: POST /slack/events (signature verified by Bolt), GET /healthz, GET /metrics.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.slack import listeners
from bot.slack.metrics import CONTENT_TYPE
from bot.slack.services import Services
from bot.slack.web.client import scrub

log = logging.getLogger(__name__)

_SECONDS = re.compile(r"[0-9]{1,12}")


def build_app(services: Services) -> AsyncApp:
    settings = services.settings
    app = AsyncApp(
        signing_secret=settings.secret("slack_signing_secret") or "",
        client=services.client,  # carries the bot token, SLACK_API_URL and the retry handlers
        request_verification_enabled=True,
        process_before_response=False,  # ack first, work after (Slack waits 3 s at most)
        logger=logging.getLogger("bot.slack.bolt"),
    )
    app.use(provide_services(services))
    app.use(mask_secrets_in_replies)
    app.use(drop_event_retries)
    listeners.register(app)
    app.error(on_error)
    return app


def provide_services(services: Services):
    """A global middleware: every listener finds the services in its context (`services_of`)."""
    async def put_services(context, next):
        context["services"] = services
        await next()

    return put_services


async def drop_event_retries(body, ack, context, next):
    """Slack resends an event it thinks timed out (X-Slack-Retry-Num) with the same event_id: the
    first delivery is remembered in the store's request inbox, a repeat is acknowledged and dropped
    (one mention, one reply). https://api.slack.com/apis/events-api#retries"""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    if event_id and not await context["services"].store.remember_request(f"event:{body.get('team_id')}:{event_id}"):
        log.info("repeated event ignored", extra={"event_id": event_id})
        return await ack()  # Bolt answers with what the ack returns (200)
    return await next()


async def on_error(error, body):
    log.error("listener failed", extra={"error": repr(error), "type": (body or {}).get("type")})


async def mask_secrets_in_replies(context, next):
    """Replies that skip the Web API client (ack bodies, response_url) are masked here, so every
    word the bot says in Slack passes through `redact` (the client masks the rest)."""
    if isinstance(context.get("ack"), AsyncAck):
        context["ack"] = MaskingAck()  # Bolt reads `.response` from it after the listener
    respond = context.get("respond")
    if respond is not None:
        async def masked_respond(*args, **kwargs):
            return await respond(*scrub(list(args)), **scrub(kwargs))

        context["respond"] = masked_respond
    await next()


class MaskingAck(AsyncAck):
    async def __call__(self, *args, **kwargs):
        return await super().__call__(*scrub(list(args)), **scrub(kwargs))


async def start_http(services: Services, host: str = "0.0.0.0", port: int = 3000,
                     app: AsyncApp | None = None, *, slack_events: bool = True) -> web.AppRunner:
    """Serve the app over HTTP; returns the runner (`runner.addresses` has the bound port;
    `await runner.cleanup()` stops it). With `slack_events=False` (Socket Mode) only /healthz and
    /metrics are served: without a signing secret, /slack/events must not exist at all."""
    bolt = (app or build_app(services)) if slack_events else None

    async def events(request: web.Request) -> web.Response:
        # Slack sends whole seconds; anything else cannot be verified (the verifier would raise: 500).
        if not _SECONDS.fullmatch(request.headers.get("X-Slack-Request-Timestamp", "0")):
            return web.Response(status=401, text="invalid request timestamp")
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        try:
            await services.store.schema_version()
            db_ok = True
        except Exception:
            db_ok = False
        running = services.tracker.running
        ok = db_ok and running
        return web.json_response({"ok": ok, "db": db_ok, "tracker": running, "replica": services.tracker.replica_id,
                                  "leases": services.tracker.leases_held}, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        await services.metrics.refresh_jobs(services.store)
        services.metrics.refresh_leases(services.tracker)
        return web.Response(body=services.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    web_app = web.Application()
    if bolt is not None:
        web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("listening", extra={"host": host, "port": runner.addresses[0][1] if runner.addresses else port})
    return runner
