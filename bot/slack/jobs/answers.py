"""The `/wan` answers about jobs: your recent jobs, one job's status, cancel, and spend (yours, or
the team's for admins). Each returns what to say; the caller says it."""

from __future__ import annotations

import time

from bot.dollars import money
from bot.jobs.models import Job, JobState
from bot.jobs.tracker import CannotCancel, CannotSettle
from bot.slack.blocks.card import status_message
from bot.slack.blocks.messages import jobs_list, spend_message
from bot.slack.blocks.triage import export_button
from bot.slack.jobs.limits import month_start, utc_midnight
from bot.slack.services import Services
from bot.slack.web.members import is_member


async def jobs_answer(services: Services, user_id: str) -> tuple[str, list[dict]]:
    jobs = await services.store.list_jobs(user_id=user_id, limit=21)
    return jobs_list(jobs, time.time())


async def may_see(services: Services, job: Job, user_id: str) -> bool:
    """A job's prompt and card are for its requester, the members of its channel, and admins."""
    return (job.user_id == user_id or services.is_admin(user_id)
            or await is_member(services.client, job.channel_id, user_id))


async def status_answer(services: Services, job_ref: str, user_id: str) -> tuple[str, list[dict] | None]:
    job = await services.store.find_job(job_ref)
    if job is None or not await may_see(services, job, user_id):
        # The same words either way: a short id prefix must not tell an outsider a job exists.
        return f"I can't find a job `{job_ref}` that you can see. `/wan jobs` lists yours.", None
    return status_message(job, time.time())


async def cancel_job(services: Services, job_ref: str, user_id: str) -> str:
    """Cancel for the requester or an admin; a polite refusal for anyone else."""
    job = await services.store.find_job(job_ref)
    if job is None:
        return f"I can't find a job `{job_ref}`. `/wan jobs` lists yours."
    if job.user_id != user_id and not services.is_admin(user_id):
        return f"Only <@{job.user_id}> (who started job `{job.id}`) or an admin can cancel it."
    try:
        job = await services.tracker.cancel(job.id, by=user_id)
    except CannotCancel as exc:
        return f"Can't cancel: {exc}."
    if job.cancel_requested and job.state == JobState.CANCELED:
        billed = f"was billed {money(job.billed_cost_usd)}" if job.billed_cost_usd else "was not billed"
        return (f"Job `{job.id}` is canceled: its task had already ended upstream and {billed}; "
                "the video will not be posted.")
    if job.cancel_requested:
        return (f"Job `{job.id}` is canceled: its video will not be posted, but the gateway cannot stop "
                "the task, so it renders on, is billed, and counts toward your limits until it ends.")
    return f"Job `{job.id}` is canceled."


async def settle_job(services: Services, job_ref: str, task_id: str | None, user_id: str) -> str:
    """`/wan settle`: admins only, since it decides what a job cost."""
    if not services.is_admin(user_id):
        return "Only an admin can settle a job (`WANBOT_ADMIN_USERS`)."
    job = await services.store.find_job(job_ref)
    if job is None:
        return f"I can't find a job `{job_ref}`."
    try:
        job = await services.tracker.settle(job.id, task_id=task_id, by=user_id)
    except CannotSettle as exc:
        return f"Can't settle: {exc}."
    if task_id is None:
        return (f"Job `{job.id}` is settled: no task was made upstream, so it was not billed and no longer "
                f"counts toward <@{job.user_id}>'s limits.")
    return (f"Job `{job.id}` is settled with task `{job.task_id}`: it is now {job.state}, and I follow it to "
            "its end (its bill, its video in the card's thread).")


async def spend_answer(services: Services, user_id: str, scope: str) -> tuple[str, list[dict]]:
    now = time.time()
    store = services.store
    today = await store.spend(since=utc_midnight(now), user_id=user_id)
    month = await store.spend(since=month_start(now), user_id=user_id)
    budget = services.settings.wanbot_user_daily_budget_usd
    mine = dict(daily_budget_usd=budget, estimated_today_usd=today["estimated_usd"],
                estimated_month_usd=month["estimated_usd"])
    if scope == "team" and services.is_admin(user_id):
        team_today = await store.spend(since=utc_midnight(now))
        team_month = await store.spend(since=month_start(now))
        by_user = await store.spend_by("user_id", since=month_start(now))
        by_channel = await store.spend_by("channel_id", since=month_start(now))
        refunds_due = await store.refunds_due(since=now - 30 * 86400)
        text, blocks = spend_message(today["billed_usd"], month["billed_usd"], **mine,
                                     team={u: usd for u, usd, _ in by_user}, team_today_usd=team_today["billed_usd"],
                                     team_month_usd=team_month["billed_usd"],
                                     channels={c: usd for c, usd, _ in by_channel}, refunds_due=refunds_due)
        if refunds_due[0]:
            blocks.append(export_button())  # the CSV goes in a thread of this channel, on the admin's click
        return text, blocks
    text, blocks = spend_message(today["billed_usd"], month["billed_usd"], **mine)
    if scope == "team":
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "The team's spend is for admins (WANBOT_ADMIN_USERS)."}]})
    return text, blocks
