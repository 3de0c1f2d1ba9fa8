"""An `unknown` job (its task may be alive and billed) still counts toward its user's limits at its
estimate, until a human settles it (gateway-api.md, issue 14 item 1)."""

from __future__ import annotations

from bot.jobs.models import JobState
from tests.support.world import ANA


async def _answer(world, reply, timeout: float = 5.0) -> str:
    url = reply.sent["response_url"]
    entry = await world.standin.wait_until(
        lambda: next((r for r in world.standin.responses if url.endswith(r["id"])), None), timeout)
    return entry["body"].get("text", "") + str(entry["body"].get("blocks", ""))


async def test_an_unknown_job_counts_toward_the_active_job_limit_and_the_budget(world, simulator):
    settings = world.services.settings
    simulator.config.update({"malformed_rate": 1.0})  # both submit answers unreadable: outcome unknown
    await world.sender.slash_command("t2v one --duration 2", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    assert job.state == JobState.UNKNOWN and simulator.stats.tasks_created == 1
    simulator.config.update({"malformed_rate": 0.0})

    settings.wanbot_max_active_jobs_per_user = 1
    refused = await _answer(world, await world.sender.slash_command("t2v two --duration 2", user_id=ANA))
    assert "WANBOT_MAX_ACTIVE_JOBS_PER_USER" in refused

    settings.wanbot_max_active_jobs_per_user = 5
    settings.wanbot_user_daily_budget_usd = 0.2   # the unknown job may cost $0.12; another $0.12 is over
    refused = await _answer(world, await world.sender.slash_command("t2v three --duration 2", user_id=ANA))
    assert "WANBOT_USER_DAILY_BUDGET_USD" in refused and "$0.12" in refused
    assert len(await world.services.store.list_jobs()) == 1
