"""Start, and resume after a crash: post the cards of jobs stored without one (before anything is
submitted), resume every unfinished job, answer commands acknowledged but not answered, and
re-render cards that a crash left stale."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.jobs.leases import tick_seconds
from bot.jobs.models import JobState
from bot.jobs.store.inbox import ANSWERED_WITH
from bot.slack.dispatch import handle_command
from bot.slack.jobs.start import post_card
from bot.slack.jobs.submitted import replay_submission
from bot.slack.services import Services
from bot.slack.web.client import scrub
from bot.slack.web.posting import respond_via, tell_user

log = logging.getLogger(__name__)

CARD_REFRESH_DAYS = 7  # on start, cards of jobs changed this recently are re-rendered if a crash left them stale
REPLAY_MAX_AGE = 1800.0  # a response_url lasts 30 minutes


async def resume(services: Services) -> None:
    """Start the notifier and the tracker, picking up where a crash left everything."""
    services.notifier.start()
    # Several replicas: a card another replica died before posting is posted by the one that takes
    # its job over (after the lease time its creator had; notifier.taken_over), never by one that
    # merely starts while the creator is posting it.
    services.notifier.post_card = lambda job: post_card(services, job)
    started = time.time()  # requests from now on are this process's live handlers', not the replay's
    cards = 0 if services.tracker.leases.enabled else await post_missing_cards(services)
    resumed = await services.tracker.start()
    # Answered beside new requests, not before the port opens: each answer may take seconds (a card,
    # an image to fetch), and a backlog must not keep the process from taking what Slack sends now.
    services.background.append(asyncio.create_task(keep_replaying(services, started), name="replay-unanswered"))
    for job in await services.store.stale_cards(since=time.time() - CARD_REFRESH_DAYS * 86400):
        services.notifier.refresh(job)  # a crash came between a job's change and its card update
    log.info("tracker started", extra={"resumed": resumed, "cards_posted": cards})


async def keep_replaying(services: Services, started: float) -> None:
    """Answer what a crash left acknowledged but unanswered (received before `started`), once after
    the start; then, with several replicas, now and then what a replica that died since had
    acknowledged (its heartbeat stops; bot/jobs/leases.py)."""
    every = tick_seconds(services.tracker.options.lease_seconds)
    while True:  # the start's pass, until the store lets it through
        try:
            replayed = await replay_unanswered(services, before=started)
            log.info("commands left by a restart answered", extra={"commands_replayed": replayed})
            break
        except Exception:
            log.exception("answering the requests a restart left failed; retrying")
            await asyncio.sleep(every)
    if not services.tracker.leases.enabled:
        return  # one process: nothing else is left unanswered while it runs
    while True:
        await asyncio.sleep(every)
        try:
            await replay_unanswered(services, starting=False)
        except Exception:
            log.exception("replaying requests failed; retrying")


async def post_missing_cards(services: Services) -> int:
    """After a crash: post the card of every stored Slack job that has none (before any is submitted)."""
    posted = 0
    for job in await services.store.unfinished_jobs("slack"):
        if job.message_ts is None and job.channel_id and job.state == JobState.PENDING:
            if await post_card(services, job) is not None:
                posted += 1
    return posted


async def replay_unanswered(services: Services, max_age: float = REPLAY_MAX_AGE, *, starting: bool = True,
                            before: float | None = None) -> int:
    """Answer the commands and form submissions a crash cut off after their ack. Several replicas on
    PostgreSQL: only those of replicas that are gone (a live one is answering its own), each taken by
    one replica."""
    since = time.time() - max_age
    if services.tracker.leases.enabled:
        tracker = services.tracker
        # Started with no other replica alive (a restart after a crash): whoever took them, every
        # request left unanswered is this one's now; no heartbeat counts as live (live_within 0).
        live_within = 0.0 if starting and tracker.leases.alone else tracker.options.lease_seconds
        requests = await services.store.take_unanswered(tracker.replica_id, since=since, live_within=live_within,
                                                        reclaim_own=starting, before=before)
    else:
        requests = await services.store.unanswered_requests(since=since, before=before)
    for key, command in requests:
        log.info("answering a command acknowledged before a restart", extra={"user": command.get("user_id")})
        reply = respond_via(command.get("response_url"))

        async def respond(*args, reply=reply, **kwargs) -> None:
            if reply is not None:
                await reply(*scrub(list(args)), **scrub(kwargs))

        try:
            if refusal := command.get(ANSWERED_WITH):  # refused before the crash: told again, not judged anew
                await tell_user(services.client, user_id=command.get("user_id"), channel_id=command.get("channel_id"),
                                text=refusal, respond=respond if reply is not None else None)
            elif command.get("kind") == "view":  # a form submission (bot.slack.jobs.form)
                await replay_submission(services, command, key)
            else:
                await handle_command(services, command, respond=respond, request_key=key)
        except Exception:
            log.exception("replaying a request failed")
        finally:
            await services.store.request_done(key)
    return len(requests)
