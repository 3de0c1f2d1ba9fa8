"""Everything the Slack listeners need, built once: settings, store, tracker, gateway, Web API client,
metrics. `create_services` opens them; `bot.slack.recovery.resume` starts them, picking up after a
crash; `stop(grace)` closes it all cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions
from bot.slack.jobs.notifier import SlackNotifier
from bot.slack.metrics import InstrumentedGateway, Metrics
from bot.slack.triage.desk import TriageDesk
from bot.slack.triage.staff import SupportStaff
from bot.slack.web.client import make_web_client
from bot.wan.client import GatewayClient

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: JobStore
    tracker: Tracker
    gateway: GatewayClient
    client: AsyncWebClient        # the bot's Web API client (SLACK_API_URL, retry handlers)
    metrics: Metrics
    notifier: SlackNotifier       # job cards and the thread upload; the tracker reports to it
    triage: TriageDesk            # support triage: who may, and the replies waiting to be posted
    background: list[asyncio.Task] = field(default_factory=list)  # loops started by recovery.resume

    def is_admin(self, user_id: str | None) -> bool:
        return bool(user_id) and user_id in self.settings.wanbot_admin_users

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking jobs, let running steps finish within `grace`, flush cards, close everything."""
        for task in self.background:
            task.cancel()
        if self.background:
            await asyncio.wait(self.background, timeout=2)
        with contextlib.suppress(Exception):
            await self.tracker.stop(grace)
        with contextlib.suppress(Exception):
            await self.notifier.stop(min(grace, 3.0))  # final card states, briefly
        with contextlib.suppress(Exception):
            await self.gateway.aclose()
        if self.client.session is not None:  # only when a caller gave the client its own session
            with contextlib.suppress(Exception):
                await self.client.session.close()
        await self.store.close()


async def create_services(settings: Settings, *,
                          notifier_options: dict[str, Any] | None = None,
                          tracker_options: dict[str, Any] | None = None,
                          client: AsyncWebClient | None = None) -> Services:
    """Open the store, the gateway client, the Web API client, the Slack notifier and a tracker
    (origin "slack") that reports to it. `bot.slack.recovery.resume(services)` starts them.

    `tracker_options` override TrackerOptions (tests: a small poll_min_interval);
    `notifier_options` reach SlackNotifier (card_min_interval, card_tick_interval, upload_cap, ...).
    """
    settings.require("slack_bot_token", "wan_api_base")
    metrics = Metrics()
    store = await JobStore.open(settings.wanbot_db)
    gateway = GatewayClient(settings)
    # One HTTP session for every Web API call: without it slack_sdk opens a new connection (a TCP and
    # TLS handshake with slack.com) per call. Closed in stop().
    client = client or make_web_client(settings, session=aiohttp.ClientSession())
    options = {"card_per_minute": settings.wanbot_card_updates_per_minute, **(notifier_options or {})}
    notifier = SlackNotifier(client, store, metrics, **options)
    tracker = Tracker(store, InstrumentedGateway(gateway, metrics), notifier,
                      TrackerOptions.from_settings(settings, origin="slack", **(tracker_options or {})))
    return Services(settings=settings, store=store, tracker=tracker, gateway=gateway, client=client,
                    metrics=metrics, notifier=notifier, triage=TriageDesk(store, SupportStaff(settings, client)))


def services_of(context) -> Services:
    """The services a listener is handed in Bolt's context (put there by the app's middleware)."""
    return context["services"]
