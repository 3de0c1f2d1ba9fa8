"""An `unknown` job (its task may be alive and billed) still counts toward its user's limits at its
estimate, until a human settles it (gateway-api.md, issue 14 item 1)."""

from __future__ import annotations

import json

from bot.jobs.models import JobState
from tests.support.world import ADMIN, ANA, CHANNEL


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


async def test_an_admin_settles_an_unknown_job_with_its_task_and_it_is_delivered_once_and_billed(world, simulator):
    simulator.config.update({"malformed_rate": 1.0})  # the task is made, but both answers are unreadable
    await world.sender.slash_command("t2v settle me --duration 2", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    assert job.state == JobState.UNKNOWN
    simulator.config.update({"malformed_rate": 0.0})
    task_id = simulator.stats.tasks_by_key[job.id]  # what an admin finds on the gateway's dashboard

    refused = await _answer(world, await world.sender.slash_command(f"settle {job.id} {task_id}", user_id=ANA))
    assert "Only an admin" in refused
    wrong = await _answer(world, await world.sender.slash_command(f"settle {job.id} task_nosuch1", user_id=ADMIN))
    assert "does not know task task_nosuch1" in wrong
    assert (await world.services.store.get_job(job.id)).state == JobState.UNKNOWN

    settled = await _answer(world, await world.sender.slash_command(f"settle {job.id} {task_id}", user_id=ADMIN))
    assert f"settled with task `{task_id}`" in settled
    done = await world.finished(job.id, timeout=30)
    assert done.state == JobState.DELIVERED and done.task_id == task_id and done.billed_cost_usd
    videos = [f for m in world.standin.messages(CHANNEL, done.message_ts) for f in m.get("files") or []
              if f.get("name") == f"wanbot-{job.id}.mp4"]
    assert len(videos) == 1 and simulator.stats.tasks_created == 1
    again = await _answer(world, await world.sender.slash_command(f"settle {job.id} {task_id}", user_id=ADMIN))
    assert "not unknown" in again


async def test_settled_with_no_task_the_job_is_unbilled_and_stops_counting(world, simulator):
    settings = world.services.settings
    simulator.config.update({"malformed_rate": 1.0})
    await world.sender.slash_command("t2v never made --duration 2", user_id=ANA)
    job = await world.finished((await world.job_for_card()).id)
    assert job.state == JobState.UNKNOWN
    simulator.config.update({"malformed_rate": 0.0})
    settings.wanbot_max_active_jobs_per_user = 1

    settled = await _answer(world, await world.sender.slash_command(f"settle {job.id} none", user_id=ADMIN))
    assert "not billed" in settled
    ended = await world.services.store.get_job(job.id)
    assert ended.state == JobState.FAILED and ended.error_code == "settled_no_task" and not ended.billed_cost_usd
    # the card says so (card updates go out after the answer, through the rate-limited updater)
    await world.standin.wait_until(lambda: "settled by" in json.dumps(world.standin.message(CHANNEL, ended.message_ts)))
    # no longer counted: the user may start a job again
    await world.sender.slash_command("t2v next one --duration 2", user_id=ANA)
    assert (await world.job_for_card(count=2)).prompt == "next one"
