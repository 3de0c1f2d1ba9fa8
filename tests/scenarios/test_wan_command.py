"""/wan subcommands answered privately, limits, and who may cancel what."""

from __future__ import annotations

from bot.jobs.models import JobState
from tests.support.world import ADMIN, ANA, BOB, CHANNEL


async def answer(world, reply, timeout: float = 5.0) -> str:
    """The text of the private answer sent to the command's response_url."""
    url = reply.sent["response_url"]
    entry = await world.standin.wait_until(
        lambda: next((r for r in world.standin.responses if url.endswith(r["id"])), None), timeout)
    body = entry["body"]
    assert body.get("response_type", "ephemeral") == "ephemeral"
    return body.get("text", "") + str(body.get("blocks", ""))


async def test_help_usage_jobs_status_and_spend_answer_privately(world):
    assert "Modes and their flags" in await answer(world, await world.sender.slash_command("help"))
    assert "I don't know" in await answer(world, await world.sender.slash_command("frobnicate the fox"))
    assert "You have no jobs yet" in await answer(world, await world.sender.slash_command("jobs"))

    await world.sender.slash_command("t2v a fox --duration 2")
    job = await world.job_for_card()
    await world.finished(job.id)
    assert job.id in await answer(world, await world.sender.slash_command("jobs"))
    status = await answer(world, await world.sender.slash_command(f"status {job.id}"))
    assert job.id in status and "done" in status.lower()
    assert "can't find" in await answer(world, await world.sender.slash_command("status jnope1234"))
    spend = await answer(world, await world.sender.slash_command("spend"))
    assert "$0.12" in spend and "today" in spend
    assert "for admins" in await answer(world, await world.sender.slash_command("spend team"))
    team = await answer(world, await world.sender.slash_command("spend team", user_id=ADMIN))
    assert "Team" in team and ANA in team
    # triage is handed to the triage listeners when they exist; either way the user gets an answer
    assert await answer(world, await world.sender.slash_command("triage task failed"))


async def test_someone_else_cannot_cancel_your_job_but_an_admin_can(world):
    await world.sender.slash_command("t2v a slow fox --duration 2", user_id=ANA)
    job = await world.job_for_card()

    refused = await answer(world, await world.sender.slash_command(f"cancel {job.id}", user_id=BOB))
    assert "Only" in refused and ANA in refused
    clicked = await world.sender.block_action("job_cancel", job.id, user_id=BOB, channel_id=CHANNEL,
                                              message_ts=job.message_ts)
    assert clicked.status == 200
    assert (await world.services.store.get_job(job.id)).state != JobState.CANCELED

    done = await answer(world, await world.sender.slash_command(f"cancel {job.id}", user_id=ADMIN))
    assert "canceled" in done
    assert (await world.services.store.get_job(job.id)).state == JobState.CANCELED
    await world.services.notifier.cards.idle()
    card = world.standin.message(CHANNEL, job.message_ts)
    assert "job_cancel" not in str(card["blocks"]) and "anceled" in str(card["blocks"])


async def test_the_requester_cancels_with_the_card_button(world):
    await world.sender.slash_command("t2v a fox --duration 2", user_id=ANA)
    job = await world.job_for_card()
    await world.sender.block_action("job_cancel", job.id, user_id=ANA, channel_id=CHANNEL, message_ts=job.message_ts)
    # A cancel that lands while the submit is on the wire waits for its answer (up to 15 s) so that the
    # task it made is canceled too: on a loaded machine that is more than a few seconds.
    await world.standin.wait_until(lambda: any("canceled" in str(r["body"]) for r in world.standin.responses),
                                   timeout=30)
    assert (await world.services.store.get_job(job.id)).state == JobState.CANCELED


async def test_per_user_active_job_limit_and_daily_budget_are_named_in_the_refusal(world):
    settings = world.services.settings
    settings.wanbot_max_active_jobs_per_user = 1
    await world.sender.slash_command("t2v one --duration 2")
    await world.job_for_card()
    refused = await answer(world, await world.sender.slash_command("t2v two --duration 2"))
    assert "WANBOT_MAX_ACTIVE_JOBS_PER_USER" in refused
    assert len(await world.services.store.list_jobs()) == 1

    settings.wanbot_max_active_jobs_per_user = 5
    settings.wanbot_user_daily_budget_usd = 0.2   # the first job committed $0.12; another $0.12 is over
    refused = await answer(world, await world.sender.slash_command("t2v three --duration 2"))
    assert "WANBOT_USER_DAILY_BUDGET_USD" in refused and "00:00 UTC" in refused
    assert len(await world.services.store.list_jobs()) == 1
