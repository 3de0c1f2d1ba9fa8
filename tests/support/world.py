"""The one test world: the real bot (build_app + Services) over HTTP on loopback, the gateway
simulator behind it, the Slack stand-in in front, with the people and channels every scenario uses."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from bot.devslack import SlackSender
from bot.jobs.models import Job
from bot.jobs.store import JobStore
from bot.slack.app import start_http
from bot.slack.recovery import resume
from bot.slack.services import Services, create_services
from tests.conftest import bounded
from tests.support.standin import PeopleStandIn

CHANNEL = "C0DEV"          # public, the bot is a member
OUTSIDE = "C0OUT"          # public, the bot is not a member (it may join)
PRIVATE = "G0PRIV"         # private, the bot is not a member (it cannot join)
TEAM = "G0TEAM"            # private, the bot and ANA are members (BOB is not)
SUPPORT_CHANNEL = "C0SUP"  # where support staff triage customers' messages
ANA, BOB, ADMIN = "U0HUMAN", "U0BOB", "U0ADMIN"  # ADMIN is in WANBOT_ADMIN_USERS
GROUP = "S0SUPPORT"        # the support user group (WANBOT_SUPPORT_USERGROUP)
SUPPORT = "U0SUP"          # in the support user group
LISTED = "U0LIST"          # in WANBOT_SUPPORT_USERS
OUTSIDER = "U0OUT"         # neither staff nor admin
CUSTOMER = "U0CUST"


@dataclass
class World:
    standin: PeopleStandIn
    sender: SlackSender
    services: Services
    base_url: str

    @property
    def store(self) -> JobStore:
        return self.services.store

    async def with_attachments(self, job: Job | None) -> Job | None:
        """The job with its request as submitted: an attached image (kept beside the row) read back."""
        if job is not None:
            job.request = await self.services.store.full_request(job) or job.request
        return job

    async def job_for_card(self, channel: str = CHANNEL, count: int = 1, timeout: float = 15.0) -> Job:
        """The `count`-th job (oldest first) started in `channel`, waiting for it if need be (its
        attachments read back)."""
        for _ in range(int(timeout / 0.05)):
            jobs = [j for j in await self.services.store.list_jobs(limit=100)
                    if j.channel_id == channel and j.message_ts]  # stored, and its card posted
            if len(jobs) >= count:
                return await self.with_attachments(sorted(jobs, key=lambda j: j.created_at)[count - 1])
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no job #{count} in {channel}")

    async def finished(self, job_id: str, timeout: float = 15.0) -> Job:
        return await self.with_attachments(await self.services.tracker.wait_for(job_id, timeout))

    def everything_sent(self) -> str:
        """Every Web API call, response_url message and view the bot produced, as one string."""
        calls = [{"method": c.method, "params": c.params} for c in self.standin.calls()]
        return json.dumps([calls, self.standin.responses, list(self.standin.views.values())],
                          ensure_ascii=False, default=str)


async def start_world(simulator, make_settings, tmp_path, **overrides) -> tuple[World, object]:
    """The world, and what closes it (`await close()`). `overrides` are Settings fields."""
    standin = await PeopleStandIn().start()
    standin.add_channel(CHANNEL, "general")
    standin.add_channel(OUTSIDE, "random", member=False)
    standin.add_channel(PRIVATE, "secret", member=False, is_private=True)
    standin.add_channel(TEAM, "team-secret", is_private=True)
    standin.add_channel(SUPPORT_CHANNEL, "support")
    standin.add_members(CHANNEL, ANA, BOB, ADMIN)
    standin.add_members(OUTSIDE, ANA, BOB)
    standin.add_members(PRIVATE, ANA)
    standin.add_members(TEAM, ANA)
    standin.add_members(SUPPORT_CHANNEL, SUPPORT, LISTED, CUSTOMER)
    for user, name in ((ANA, "ana"), (BOB, "bob"), (ADMIN, "boss"), (SUPPORT, "sup"), (LISTED, "list"),
                       (OUTSIDER, "out"), (CUSTOMER, "cust")):
        standin.add_user(user, name)
    standin.add_usergroup(GROUP, [SUPPORT])
    values = dict(
        wan_api_base=simulator.base_url, wan_api_key=simulator.config.api_key,
        slack_bot_token=standin.bot_token, slack_signing_secret=standin.signing_secret,
        slack_api_url=standin.api_url, wanbot_admin_users=[ADMIN],
        wanbot_support_usergroup=GROUP, wanbot_support_users=[LISTED])
    values.update(overrides)
    services = await create_services(
        make_settings(**values),
        tracker_options={"poll_min_interval": 0.1, "first_guess_seconds": 0.5, "download_dir": str(tmp_path)},
        notifier_options={"card_min_interval": 0.2, "card_tick_interval": 0},
    )
    await resume(services)
    runner = await start_http(services, "127.0.0.1", 0)
    base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    sender = SlackSender(base_url, standin.signing_secret, standin=standin)

    async def close() -> None:
        await bounded(sender.close(), runner.cleanup(), services.stop(0.5), standin.close())

    return World(standin, sender, services, base_url), close


async def private_answer(world: World, reply, timeout: float = 15.0) -> str:
    """The text of the private answer sent to a command's response_url."""
    url = reply.sent["response_url"]
    entry = await world.standin.wait_until(
        lambda: next((r for r in world.standin.responses if url.endswith(r["id"])), None), timeout)
    body = entry["body"]
    assert body.get("response_type", "ephemeral") == "ephemeral"
    return body.get("text", "") + str(body.get("blocks", ""))


async def delivered_job(world: World, text: str = "t2v a fox in the snow --duration 2 --seed 7"):
    """A job started by `/wan`, finished, and the review message posted under its video."""
    await world.sender.slash_command(text)
    job = await world.job_for_card()
    await world.finished(job.id)
    review = await world.standin.wait_for_message(CHANNEL, job.message_ts, lambda m: m.get("metadata"))
    return job, review
