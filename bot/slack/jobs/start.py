"""Starting a job from Slack: limits, the card, then the job (used by /wan, the modal, Re-run, Tweak).

Order: the job is stored first (pending, no card yet, and with the incoming request's key in the same
transaction), then its card is posted and its ts stored, then the tracker takes it. A crash in between
leaves a stored job without a card: `bot.slack.recovery` posts it on restart, before anything is
submitted; a card is never posted for a job that was not stored.
"""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError

from bot.jobs.models import Job
from bot.jobs.store import RequestAnswered
from bot.jobs.tracker import new_job_id
from bot.slack.blocks.card import job_card
from bot.slack.jobs.limits import admit_and_store
from bot.slack.services import Services
from bot.slack.web.posting import (
    INVITE_HINT,
    NotInChannel,
    Respond,
    post_message,
    respond_via,
    slack_error,
    tell_user,
)
from bot.wan.request import VideoRequest, estimate_cost_usd

log = logging.getLogger(__name__)


async def start_job(services: Services, request: VideoRequest, *, user_id: str, channel_id: str,
                    thread_ts: str | None = None, respond: Respond | None = None,
                    response_url: str | None = None, request_key: str | None = None,
                    extra: dict | None = None) -> Job | None:
    """Check limits, store the job, post its card (in `thread_ts` when given), hand it to the tracker.

    Returns the job, or None after telling the user why not (limit, channel membership)."""
    # One user's check and insert never interleave with another start of theirs (a double-click on
    # Re-run, two commands at once, on one replica or on two): the store runs both in one
    # transaction serialised per user, otherwise both would pass the budget check and both be billed.
    job = Job(id=new_job_id(), request=request.body(), origin="slack", user_id=user_id,
              channel_id=channel_id, thread_ts=thread_ts, response_url=response_url, created_at=time.time(),
              estimated_cost_usd=estimate_cost_usd(request, services.settings.pricing()), extra=extra or {})
    try:
        refusal = await admit_and_store(services, job, request_key=request_key)
    except RequestAnswered:  # another replica answered this request first: its job is the one
        log.info("request already started a job; nothing more to do", extra={"request": (request_key or "")[:80]})
        return None
    if refusal:
        await tell_user(services.client, user_id=user_id, channel_id=channel_id, text=refusal, respond=respond)
        return None
    job = await post_card(services, job, respond=respond)
    if job is None:
        return None
    try:
        await services.tracker.admit(job)
    except RuntimeError:  # shutting down: the job is stored with its card; the restart resumes it
        log.info("job stored while shutting down; it starts after the restart", extra={"job_id": job.id})
        return job
    log.info("job started from slack", extra={"job_id": job.id, "user": user_id, "channel": channel_id})
    return job


async def post_card(services: Services, job: Job, *, respond: Respond | None = None) -> Job | None:
    """Post a stored pending job's card and store its ts. If it cannot be posted the job ends failed
    (nothing was sent to the gateway) and the user is told; returns None then."""
    client = services.client
    text, blocks = job_card(job, now=time.time())
    respond = respond or respond_via(job.response_url)
    try:
        answer = await post_message(client, job.channel_id, text=text, blocks=blocks, thread_ts=job.thread_ts)
    except NotInChannel:
        await _not_started(services, job, "the bot is not in the channel")
        await tell_user(client, user_id=job.user_id, channel_id=job.channel_id, text=INVITE_HINT, respond=respond)
        return None
    except Exception as exc:
        error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        if isinstance(exc, SlackApiError):
            services.metrics.slack_error("chat.postMessage", error)
        await _not_started(services, job, f"the job card could not be posted ({error})")
        await tell_user(client, user_id=job.user_id, channel_id=job.channel_id, respond=respond,
                        text=f"I couldn't post the job card here (Slack said `{error}`); "
                             "nothing was started. Try again in a minute.")
        return None
    card_ts = answer["ts"]
    return await services.store.update(job.id, channel_id=answer.get("channel") or job.channel_id,
                                       message_ts=card_ts, thread_ts=job.thread_ts or card_ts,
                                       card_state=job.state.value)


async def _not_started(services: Services, job: Job, why: str) -> None:
    """The card could not be posted: nothing was sent to the gateway, so the job is removed."""
    await services.store.discard_job(job.id)
    log.info("job not started: no card", extra={"job_id": job.id, "why": why})
