"""The limits a Slack user meets before a job starts: jobs in flight per person, and the daily
budget (billed spend plus what the jobs in flight are expected to cost), with the UTC day and
month boundaries that the spend answers use too."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.slack.blocks.mrkdwn import money
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


async def check_limits(services: Services, user_id: str, request: VideoRequest, count: int = 1) -> str | None:
    """Why this user may not start this job (or `count` of them, e.g. variations) now, or None."""
    settings = services.settings
    active, committed_usd = await services.store.commitments(user_id)
    if count > 1 and active + count > settings.wanbot_max_active_jobs_per_user:
        return (f"{count} jobs would take you past the limit of {settings.wanbot_max_active_jobs_per_user} "
                f"in flight per person (WANBOT_MAX_ACTIVE_JOBS_PER_USER; you have {active}). "
                "Ask for fewer variations, or wait for some to finish.")
    if active >= settings.wanbot_max_active_jobs_per_user:
        return (f"You already have {active} jobs in flight, the limit per person "
                f"(WANBOT_MAX_ACTIVE_JOBS_PER_USER = {settings.wanbot_max_active_jobs_per_user}). "
                "Wait for one to finish or cancel one (`/wan jobs`, `/wan cancel JOB`).")
    budget = settings.wanbot_user_daily_budget_usd
    if budget is None:
        return None
    now = time.time()
    today = await services.store.spend(since=utc_midnight(now), user_id=user_id)
    # Billed spend, plus what the jobs not billed yet (in flight, or unknown) are expected to cost.
    committed = today["billed_usd"] + committed_usd
    cost = estimate_cost_usd(request, settings.pricing()) * count
    if committed + cost > budget + 1e-9:
        what = "This job" if count == 1 else f"These {count} jobs"
        return (f"{what} ({money(cost)}) would take you over your daily budget of {money(budget)} "
                f"(WANBOT_USER_DAILY_BUDGET_USD): {money(committed)} spent or committed today. "
                f"It resets {_resets_in(now)}.")
    return None
