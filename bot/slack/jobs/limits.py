"""The limits a Slack user meets before a job starts: jobs in flight per person, and the daily
budget (billed spend plus what the jobs in flight are expected to cost), with the UTC day and
month boundaries that the spend answers use too."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.dollars import money
from bot.jobs.models import Job
from bot.jobs.store import Standing
from bot.slack.services import Services
from bot.wan.request import VideoRequest, estimate_cost_usd


def utc_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def month_start(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def _resets_in(now: float) -> str:
    left = utc_midnight(now) + 86400 - now
    hours, minutes = int(left // 3600), int(left % 3600 // 60)
    return f"at 00:00 UTC (in {hours} h {minutes} min)"


def refusal(settings, standing: Standing, *, cost_usd: float, now: float, count: int = 1) -> str | None:
    """Why this user may not start this job (or `count` of them, e.g. variations, estimated at
    `cost_usd` together), or None: the rule alone, judged on a standing read by the store (inside
    the insert's transaction for a start, which is why nothing here reads a file or the network)."""
    limit = settings.wanbot_max_active_jobs_per_user
    active = standing.active
    if count > 1 and active + count > limit:
        return (f"{count} jobs would take you past the limit of {limit} "
                f"in flight per person (WANBOT_MAX_ACTIVE_JOBS_PER_USER; you have {active}). "
                "Ask for fewer variations, or wait for some to finish.")
    if active >= limit:
        return (f"You already have {active} jobs in flight, the limit per person "
                f"(WANBOT_MAX_ACTIVE_JOBS_PER_USER = {limit}). "
                "Wait for one to finish or cancel one (`/wan jobs`, `/wan cancel JOB`).")
    budget = settings.wanbot_user_daily_budget_usd
    if budget is None:
        return None
    # Billed spend, plus what the jobs not billed yet (in flight, or unknown) are expected to cost.
    committed = round(standing.billed_today_usd + standing.committed_usd, 4)
    if committed + cost_usd > budget + 1e-9:
        what = "This job" if count == 1 else f"These {count} jobs"
        return (f"{what} ({money(cost_usd)}) would take you over your daily budget of {money(budget)} "
                f"(WANBOT_USER_DAILY_BUDGET_USD): {money(committed)} spent or committed today. "
                f"It resets {_resets_in(now)}.")
    return None


async def check_limits(services: Services, user_id: str, request: VideoRequest, count: int = 1) -> str | None:
    """A quick check before the work of a start (a form's inline error, a variations' summary card).
    Not a guarantee: `start_job` checks again, atomically with the insert (`admit_and_store`)."""
    now = time.time()
    cost = estimate_cost_usd(request, services.settings.pricing()) * count
    standing = await services.store.standing(user_id, day_start=utc_midnight(now))
    return refusal(services.settings, standing, cost_usd=cost, now=now, count=count)


async def admit_and_store(services: Services, job: Job, *, request_key: str | None = None) -> str | None:
    """Store the job (its estimate set) unless a limit refuses it: check and insert in one transaction
    serialised per user across every replica on the database. The refusal, or None when stored."""
    now = time.time()
    return await services.store.create_job_within_limits(
        job, lambda standing: refusal(services.settings, standing, cost_usd=job.estimated_cost_usd, now=now),
        day_start=utc_midnight(now), request_key=request_key)
