"""`python -m bot serve`: the Slack bot.

Socket Mode when SLACK_APP_TOKEN is set (with a watchdog: Socket Mode connections can go silent
after an idle reconnect, so every minute `auth.test` and the socket are checked and the socket is
reconnected when either fails). Otherwise HTTP mode on 0.0.0.0:$PORT, the mode to use in production.
SIGTERM/SIGINT: stop taking requests, let running job steps finish, close, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from bot.aio import wait_event
from bot.config import Settings, load_settings
from bot.jobs.store.exclusive import serving
from bot.logs import setup_logging

log = logging.getLogger(__name__)

WATCHDOG_SECONDS = 60.0
SHUTDOWN_GRACE = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="HTTP mode: address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="HTTP mode: port (default $PORT, 3000)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.require("slack_bot_token", "wan_api_base")
    if not settings.slack_app_token:
        settings.require("slack_signing_secret")
    setup_logging(settings.log_level)
    asyncio.run(serve(settings, host=args.host, port=args.port or settings.port))
    return 0


async def serve(settings: Settings, *, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    # One process per SQLite file: a second one refuses to start (bot/jobs/store/exclusive.py).
    with serving(settings.wanbot_db):
        await _serve(settings, host=host, port=port, stop=stop)


async def _serve(settings: Settings, *, host: str, port: int, stop: asyncio.Event | None) -> None:
    from bot.slack.app import build_app, start_http
    from bot.slack.recovery import resume
    from bot.slack.services import create_services

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    services = await create_services(settings)
    await resume(services)
    app = build_app(services)
    try:
        if settings.slack_app_token:
            # /healthz and /metrics on $PORT in Socket Mode too (the Docker HEALTHCHECK uses it)
            runner = await start_http(services, host, port, slack_events=False)
            try:
                await _socket_mode(services, app, stop)
            finally:
                await runner.cleanup()
        else:
            runner = await start_http(services, host, port, app=app)
            log.info("HTTP mode", extra={"host": host, "port": port})
            try:
                await stop.wait()
            finally:
                await runner.cleanup()  # stop accepting requests first
    finally:
        log.info("shutting down")
        await services.stop(SHUTDOWN_GRACE)


async def _socket_mode(services, app, stop: asyncio.Event) -> None:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app, services.settings.secret("slack_app_token"), web_client=services.client)
    await handler.connect_async()
    log.info("Socket Mode connected")
    watchdog = asyncio.create_task(_watchdog(services, handler, stop))
    try:
        await stop.wait()
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        await handler.close_async()


async def _watchdog(services, handler, stop: asyncio.Event, interval: float = WATCHDOG_SECONDS) -> None:
    while not stop.is_set():
        if await wait_event(stop, interval):
            return
        try:
            await services.client.auth_test()
            healthy = await handler.client.is_connected()
        except Exception as exc:
            log.warning("Slack check failed", extra={"error": repr(exc)})
            healthy = False
        if not healthy:
            log.warning("Socket Mode connection looks dead; reconnecting")
            with contextlib.suppress(Exception):
                await handler.client.connect_to_new_endpoint(force=True)
