"""Two starts at once by one user (a double-click on Re-run, two commands) cannot both pass the budget."""

import asyncio

from bot.slack.jobs.start import start_job
from bot.wan.request import build_request
from tests.support.world import ANA, CHANNEL


async def test_concurrent_starts_cannot_overspend_the_daily_budget(world):
    world.services.settings.wanbot_user_daily_budget_usd = 0.35   # room for one 5 s job ($0.30)
    request = build_request("t2v", {"prompt": "a fox", "duration": 5})
    started = await asyncio.gather(*(start_job(world.services, request, user_id=ANA, channel_id=CHANNEL)
                                     for _ in range(3)))
    assert sum(job is not None for job in started) == 1
    assert len(await world.services.store.list_jobs(user_id=ANA)) == 1
