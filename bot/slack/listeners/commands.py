"""`/wan`: ack at once, then answer (ephemeral), open the modal, or start a job."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from bot.jobs.tracker import CannotCancel
from bot.slack import commands as grammar
from bot.slack.attachments import resolve_image
from bot.slack.cards import jobs_list, spend_message, status_message
from bot.slack.jobflow import start_job, utc_midnight
from bot.slack.notifier import respond_via
from bot.slack.posting import slack_error
from bot.slack.safe_client import scrub
from bot.slack.services import Services
from bot.slack.views import mode_modal

log = logging.getLogger(__name__)


def month_start(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def modal_metadata(channel_id: str | None, thread_ts: str | None = None) -> str:
    """Where a job started from the modal goes: kept in the view's private_metadata."""
    return json.dumps({"channel_id": channel_id, "thread_ts": thread_ts})


def register(app, services: Services) -> None:
    @app.command("/wan")
    async def wan_command(ack, command, respond, client):
        # Stored before the ack, so a crash after it is replayed on restart (`replay_unanswered`) rather
        # than dropped; a Slack retry (X-Slack-Retry-Num) of a stored command is only acknowledged.
        key = request_key(command)
        # Slack's legacy verification `token` is a credential: it is never written to the database.
        fresh = await services.store.receive_request(key, {k: v for k, v in command.items() if k != "token"})
        await ack()  # within 3 s, always: everything else happens after
        if not fresh:
            log.info("duplicate slash command ignored", extra={"user": command.get("user_id")})
            return
        try:
            await handle_command(services, command, respond=respond, request_key=key)
        finally:
            await services.store.request_done(key)


def request_key(command: dict) -> str:
    return f"cmd:{command.get('team_id')}:{command.get('trigger_id') or (command.get('user_id', '') + command.get('text', ''))}"


async def replay_unanswered(services: Services, max_age: float = 1800.0) -> int:
    """Answer the commands a crash cut off after their ack (a response_url lasts 30 minutes)."""
    requests = await services.store.unanswered_requests(since=time.time() - max_age)
    for key, command in requests:
        log.info("answering a command acknowledged before a restart", extra={"user": command.get("user_id")})
        reply = respond_via(command.get("response_url"))

        async def respond(*args, reply=reply, **kwargs) -> None:
            if reply is not None:
                await reply(*scrub(list(args)), **scrub(kwargs))

        try:
            await handle_command(services, command, respond=respond, request_key=key)
        except Exception:
            log.exception("replaying a command failed")
        finally:
            await services.store.request_done(key)
    return len(requests)


async def handle_command(services: Services, command: dict, *, respond, request_key: str | None = None) -> None:
    text = command.get("text") or ""
    user_id = command.get("user_id") or ""
    channel_id = command.get("channel_id") or ""
    parsed = grammar.parse_command(text)

    async def say(text: str, blocks: list[dict] | None = None) -> None:
        await respond(text=text, blocks=blocks, response_type="ephemeral")

    # i2v with an image attached in the channel (or a Slack file link): fetched into a data: URI.
    resolved = await resolve_image(services, parsed, channel_id=channel_id)
    if resolved.command is None:
        await say(resolved.message or "I couldn't use that image.")
        return
    parsed = resolved.command
    if isinstance(parsed, grammar.Generate) and (problems := services.gateway.format.check(parsed.request)):
        # valid for the model, not for this gateway: the form shows why, prefilled
        parsed = grammar.OpenModal(parsed.request.mode, parsed.request.fields(), problems)

    if isinstance(parsed, grammar.Generate):
        # Slack resends a request it thinks timed out (X-Slack-Retry-Num): one job per trigger.
        key = request_key or f"cmd:{command.get('team_id')}:{command.get('trigger_id') or (user_id + text)}"
        if request_key is None and not await services.store.remember_request(key):
            log.info("duplicate slash command ignored", extra={"user": user_id})
            return
        job = await start_job(services, parsed.request, user_id=user_id, channel_id=channel_id,
                              respond=respond, response_url=command.get("response_url"), request_key=key)
        if job is not None and resolved.attachment is not None:
            await say(resolved.attachment.note())
    elif isinstance(parsed, grammar.OpenModal):
        view = mode_modal(parsed.mode, parsed.prefill, price_per_second=services.settings.wan_price_per_second,
                          private_metadata=modal_metadata(channel_id), errors=parsed.problems)
        try:
            await services.client.views_open(trigger_id=command["trigger_id"], view=view)
        except SlackApiError as exc:
            services.metrics.slack_error("views.open", slack_error(exc))
            await say(f"I couldn't open the form (Slack said `{slack_error(exc)}`). "
                      f"Type it instead, e.g. `{grammar.EXAMPLE}`.")
    elif isinstance(parsed, grammar.Help):
        await say(grammar.HELP_TEXT)
    elif isinstance(parsed, grammar.Usage):
        await say(parsed.message)
    elif isinstance(parsed, grammar.Jobs):
        jobs = await services.store.list_jobs(user_id=user_id, limit=21)
        await say(*jobs_list(jobs, time.time()))
    elif isinstance(parsed, grammar.Status):
        job = await services.store.find_job(parsed.job_id)
        if job is None:
            await say(f"I can't find a job `{parsed.job_id}`. `/wan jobs` lists yours.")
        else:
            await say(*status_message(job, time.time()))
    elif isinstance(parsed, grammar.Cancel):
        await say(await cancel_job(services, parsed.job_id, user_id))
    elif isinstance(parsed, grammar.Spend):
        await say(*await spend_answer(services, user_id, parsed.scope))
    elif isinstance(parsed, grammar.Triage):
        await triage(services, parsed.text, user_id, channel_id, respond)


async def cancel_job(services: Services, job_ref: str, user_id: str) -> str:
    """Cancel for the requester or an admin; a polite refusal for anyone else."""
    job = await services.store.find_job(job_ref)
    if job is None:
        return f"I can't find a job `{job_ref}`. `/wan jobs` lists yours."
    if job.user_id != user_id and not services.is_admin(user_id):
        return f"Only <@{job.user_id}> (who started job `{job.id}`) or an admin can cancel it."
    try:
        await services.tracker.cancel(job.id, by=user_id)
    except CannotCancel as exc:
        return f"Can't cancel: {exc}."
    return f"Job `{job.id}` is canceled."


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
        return spend_message(today["billed_usd"], month["billed_usd"], **mine,
                             team={u: usd for u, usd, _ in by_user}, team_today_usd=team_today["billed_usd"],
                             team_month_usd=team_month["billed_usd"],
                             channels={c: usd for c, usd, _ in by_channel},
                             refunds_due=await store.refunds_due(since=now - 30 * 86400))
    text, blocks = spend_message(today["billed_usd"], month["billed_usd"], **mine)
    if scope == "team":
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "The team's spend is for admins (WANBOT_ADMIN_USERS)."}]})
    return text, blocks


async def triage(services: Services, text: str, user_id: str, channel_id: str, respond) -> None:
    """Hand off to the triage listeners when they exist."""
    if importlib.util.find_spec("bot.slack.triage_listeners") is None:
        await respond(text="Triage is not available yet in this version of wanbot. "
                           "From a terminal: `python -m bot triage FILE`.", response_type="ephemeral")
        return
    from bot.slack.triage_listeners import handle_triage_command

    await handle_triage_command(services, text=text, user_id=user_id, channel_id=channel_id, respond=respond)
