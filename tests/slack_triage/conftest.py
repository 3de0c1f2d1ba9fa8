"""A Slack stand-in, a small Bolt app with the triage listeners, and a Services-like object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack import SlackSender, SlackStandIn
from bot.jobs.store import JobStore
from bot.slack.app import build_app
from bot.slack.triage.desk import TriageDesk
from bot.slack.triage.staff import SupportStaff
from bot.wan.client import GatewayClient
from tests.conftest import bounded

SECRET = "dev-signing-secret"
GROUP = "S0SUPPORT"
CHANNEL = "C0SUP"
SUPPORT = "U0SUP"      # in the support user group
LISTED = "U0LIST"      # in WANBOT_SUPPORT_USERS
ADMIN = "U0ADMIN"      # in WANBOT_ADMIN_USERS
OUTSIDER = "U0OUT"     # none of them
CUSTOMER = "U0CUST"


@dataclass
class FakeServices:
    """The attribute names of bot.slack.services.Services that the triage listeners use."""

    settings: Any
    store: JobStore
    gateway: Any
    client: AsyncWebClient
    triage: TriageDesk

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.wanbot_admin_users


@dataclass
class World:
    standin: SlackStandIn
    sender: SlackSender
    services: FakeServices
    store: JobStore

    def everything_sent(self) -> str:
        """Every Web API call, response_url message and view the bot produced, as one string."""
        calls = [{"method": c.method, "params": c.params} for c in self.standin.calls()]
        return json.dumps([calls, self.standin.responses, list(self.standin.views.values())],
                          ensure_ascii=False, default=str)


async def start_world(make_settings, tmp_path, **overrides) -> tuple[World, web.AppRunner]:
    standin = await SlackStandIn(bot_token="xoxb-dev-local-token", signing_secret=SECRET).start()
    standin.add_channel(CHANNEL, "support")
    for user in (SUPPORT, LISTED, ADMIN, OUTSIDER, CUSTOMER):
        standin.add_user(user, user.lower())
    standin.add_usergroup(GROUP, [SUPPORT])
    values = dict(
        slack_bot_token=standin.bot_token, slack_signing_secret=SECRET, slack_api_url=standin.api_url,
        wanbot_support_usergroup=GROUP, wanbot_support_users=[LISTED], wanbot_admin_users=[ADMIN],
    )
    values.update(overrides)
    settings = make_settings(**values)
    gateway = GatewayClient(settings) if settings.wan_api_base else None
    client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
    store = await JobStore.open(tmp_path / "triage.db")
    services = FakeServices(settings=settings, store=store, gateway=gateway, client=client,
                            triage=TriageDesk(store, SupportStaff(settings, client)))
    app = build_app(services)  # the real wiring: /wan, the shortcut, the button and the modal
    runner = web.AppRunner(app.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sender = SlackSender(f"http://127.0.0.1:{port}", SECRET, standin=standin)
    return World(standin, sender, services, store), runner


@pytest.fixture
async def make_world(make_settings, tmp_path):
    started: list[tuple[World, web.AppRunner]] = []

    async def make(**kwargs) -> World:
        started.append(await start_world(make_settings, tmp_path, **kwargs))
        return started[-1][0]

    yield make
    for world, runner in started:
        gateway = world.services.gateway
        await bounded(world.sender.close(), runner.cleanup(), world.store.close(),
                      *([gateway.aclose()] if gateway is not None else []), world.standin.close())


@pytest.fixture
async def world(make_world):
    return await make_world()
