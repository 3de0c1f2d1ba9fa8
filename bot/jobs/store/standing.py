"""What counts toward one user's limits, read by the store: the rule's facts, not the rule
(bot/slack/jobs/limits.py judges them). Read inside a start's transaction (`create_job_within_limits`)
or on their own for a quick check; `runner` is the database or a transaction (both `fetch`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.jobs.models import JobState


@dataclass(frozen=True)
class Standing:
    """What counts toward one user's limits at one moment (bot/slack/jobs/limits.py judges it)."""

    active: int               # jobs that count (see `commitments`)
    committed_usd: float      # their estimated cost, those not billed yet
    billed_today_usd: float   # billed spend of jobs created since the day's start


async def commitments(runner: Any, user_id: str | None) -> tuple[int, float]:
    """The one home of that rule: jobs still in flight (a cancel that could not stop the task
    upstream included) and `unknown` jobs, each at its estimate until its bill is known. `runner`
    is the database or a transaction (both `fetch`)."""
    counted = [s.value for s in JobState.COUNTED]
    rows = await runner.fetch(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN billed_cost_usd IS NULL THEN estimated_cost_usd"
        f" ELSE 0 END), 0) FROM jobs WHERE user_id = ? AND state IN ({', '.join('?' for _ in counted)})",
        [user_id, *counted])
    return rows[0][0], round(float(rows[0][1]), 4)


async def read_standing(runner: Any, user_id: str | None, day_start: float) -> Standing:
    active, committed = await commitments(runner, user_id)
    rows = await runner.fetch(
        "SELECT COALESCE(SUM(billed_cost_usd), 0) FROM jobs WHERE user_id = ? AND created_at >= ?",
        (user_id, day_start))
    return Standing(active, committed, round(float(rows[0][0]), 4))
