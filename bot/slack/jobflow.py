"""Starting a job from Slack: limits, the card, then the job (used by /wan, the modal, Re-run, Tweak).

Order: the card is posted first (so a job never exists without its card), then the job is stored
with the card's ts under the id the card already shows. If storing fails, the card says so.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from bot.jobs.models import Job, JobState
from bot.jobs.tracker import new_job_id
from bot.slack.cards import job_card, money
from bot.slack.posting import INVITE_HINT, NotInChannel, Respond, post_message, slack_error, tell_user
from bot.slack.services import Services
from bot.wan.request import VideoRequest, estimate_cost_usd

log = logging.getLogger(__name__)


def utc_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def _resets_in(now: float) -> str:
    left = utc_midnight(now) + 86400 - now
    hours, minutes = int(left // 3600), int(left % 3600 // 60)
    return f"at 00:00 UTC (in {hours} h {minutes} min)"


async def check_limits(services: Services, user_id: str, request: VideoRequest) -> str | None:
    """Why this user may not start this job now, or None."""
    settings = services.settings
    active = await services.store.count_active(user_id)
    if active >= settings.wanbot_max_active_jobs_per_user:
        return (f"You already have {active} jobs in flight, the limit per person "
                f"(WANBOT_MAX_ACTIVE_JOBS_PER_USER = {settings.wanbot_max_active_jobs_per_user}). "
                "Wait for one to finish or cancel one (`/wan jobs`, `/wan cancel JOB`).")
    budget = settings.wanbot_user_daily_budget_usd
    if budget is None:
        return None
    now = time.time()
    today = await services.store.spend(since=utc_midnight(now), user_id=user_id)
    # Billed spend, plus what the jobs still in flight are expected to cost.
    in_flight = await services.store.list_jobs(user_id=user_id, limit=1000, states=[
        JobState.PENDING, JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING])
    committed = today["billed_usd"] + sum(j.estimated_cost_usd for j in in_flight)
    cost = estimate_cost_usd(request, settings.wan_price_per_second)
    if committed + cost > budget + 1e-9:
        return (f"This job ({money(cost)}) would take you over your daily budget of {money(budget)} "
                f"(WANBOT_USER_DAILY_BUDGET_USD): {money(committed)} spent or committed today. "
                f"It resets {_resets_in(now)}.")
    return None


async def start_job(services: Services, request: VideoRequest, *, user_id: str, channel_id: str,
                    thread_ts: str | None = None, respond: Respond | None = None,
                    response_url: str | None = None) -> Job | None:
    """Check limits, post the card (in `thread_ts` when given), store and enqueue the job.

    Returns the job, or None after telling the user why not (limit, channel membership)."""
    client = services.client
    refusal = await check_limits(services, user_id, request)
    if refusal:
        await tell_user(client, user_id=user_id, channel_id=channel_id, text=refusal, respond=respond)
        return None
    job_id = new_job_id()
    preview = Job(id=job_id, request=request.body(), origin="slack", user_id=user_id, channel_id=channel_id,
                  created_at=time.time(),
                  estimated_cost_usd=estimate_cost_usd(request, services.settings.wan_price_per_second))
    text, blocks = job_card(preview, now=time.time())
    try:
        answer = await post_message(client, channel_id, text=text, blocks=blocks, thread_ts=thread_ts)
    except NotInChannel:
        await tell_user(client, user_id=user_id, channel_id=channel_id, text=INVITE_HINT, respond=respond)
        return None
    except SlackApiError as exc:
        services.metrics.slack_error("chat.postMessage", slack_error(exc))
        await tell_user(client, user_id=user_id, channel_id=channel_id, respond=respond,
                        text=f"I couldn't post the job card here (Slack said `{slack_error(exc)}`); "
                             "nothing was started. Try again in a minute.")
        return None
    card_ts = answer["ts"]
    try:
        job = await services.tracker.enqueue(
            request, origin="slack", user_id=user_id, channel_id=answer.get("channel") or channel_id,
            message_ts=card_ts, thread_ts=thread_ts or card_ts, response_url=response_url, job_id=job_id)
    except Exception as exc:
        log.exception("could not store the job", extra={"job_id": job_id})
        why = "the bot is restarting" if isinstance(exc, RuntimeError) else "an internal error"
        note = f"⚠️ Not started: {why}. Nothing was charged; please try again."
        try:
            await client.chat_update(channel=channel_id, ts=card_ts, text=note,
                                     blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": note}}])
        except SlackApiError:
            await tell_user(client, user_id=user_id, channel_id=channel_id, text=note, respond=respond)
        return None
    log.info("job started from slack", extra={"job_id": job.id, "user": user_id, "channel": channel_id})
    return job

