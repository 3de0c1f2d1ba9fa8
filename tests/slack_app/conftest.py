"""The real bot over HTTP on loopback: the gateway simulator behind it, the Slack stand-in in front."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bot.devslack import SlackSender, SlackStandIn
from bot.jobs.models import Job
from bot.slack.app import start_http
from bot.slack.recovery import resume
from bot.slack.services import Services, create_services
from tests.conftest import bounded

CHANNEL = "C0DEV"          # public, the bot is a member
OUTSIDE = "C0OUT"          # public, the bot is not a member (it may join)
PRIVATE = "G0PRIV"         # private, the bot is not a member (it cannot join)
ANA, BOB, ADMIN = "U0HUMAN", "U0BOB", "U0ADMIN"


@dataclass
class World:
    standin: SlackStandIn
    sender: SlackSender
    services: Services
    base_url: str

    async def job_for_card(self, channel: str = CHANNEL, count: int = 1, timeout: float = 5.0) -> Job:
        """The `count`-th job (oldest first) started in `channel`, waiting for it if need be."""
        for _ in range(int(timeout / 0.05)):
            jobs = [j for j in await self.services.store.list_jobs(limit=100)
                    if j.channel_id == channel and j.message_ts]  # stored, and its card posted
            if len(jobs) >= count:
                return sorted(jobs, key=lambda j: j.created_at)[count - 1]
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no job #{count} in {channel}")

    async def finished(self, job_id: str, timeout: float = 15.0) -> Job:
        return await self.services.tracker.wait_for(job_id, timeout)


@pytest.fixture
async def world(simulator, make_settings, tmp_path):
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    standin.add_channel(OUTSIDE, "random", member=False)
    standin.add_channel(PRIVATE, "secret", member=False, is_private=True)
    standin.add_user(ANA, "ana")
    standin.add_user(BOB, "bob")
    standin.add_user(ADMIN, "boss")
    settings = make_settings(
        wan_api_base=simulator.base_url, wan_api_key=simulator.config.api_key,
        slack_bot_token=standin.bot_token, slack_signing_secret=standin.signing_secret,
        slack_api_url=standin.api_url, wanbot_admin_users=ADMIN)
    services = await create_services(
        settings,
        tracker_options={"poll_min_interval": 0.1, "first_guess_seconds": 0.5, "download_dir": str(tmp_path)},
        notifier_options={"card_min_interval": 0.2, "card_tick_interval": 0},
    )
    await resume(services)
    runner = await start_http(services, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    sender = SlackSender(f"http://127.0.0.1:{port}", standin.signing_secret, standin=standin)
    yield World(standin, sender, services, f"http://127.0.0.1:{port}")
    await bounded(sender.close(), runner.cleanup(), services.stop(0.5), standin.close())
