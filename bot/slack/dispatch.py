"""`/wan` after its ack: the typed command (`grammar`) goes to the flow that answers it, the job
flows (`bot.slack.jobs`) or the triage desk (`bot.slack.triage`).

Every command is stored in the request inbox before its ack (`receive`), so a crash after the ack
is answered on restart (`bot.slack.recovery`) rather than dropped, and a Slack retry
(X-Slack-Retry-Num) of a stored command is only acknowledged.
"""

from __future__ import annotations

import logging

from bot.slack import grammar, inbox
from bot.slack.help import HELP_TEXT
from bot.slack.jobs import answers, presets
from bot.slack.jobs.attachments import resolve_image
from bot.slack.jobs.audio import resolve_audio
from bot.slack.jobs.drafts import draft_command
from bot.slack.jobs.form import open_form
from bot.slack.jobs.start import start_job
from bot.slack.jobs.variations import start_variations
from bot.slack.services import Services
from bot.slack.triage.run import handle_triage_command

log = logging.getLogger(__name__)

BUSY = "busy"  # what `receive` returns when nothing could be stored in time


def command_key(command: dict) -> str:
    """One key per slash command: its trigger id (a Slack retry carries the same one)."""
    return (f"cmd:{command.get('team_id')}:"
            f"{command.get('trigger_id') or (command.get('user_id', '') + command.get('text', ''))}")


async def receive(services: Services, command: dict) -> str | None:
    """Store the command before it is acknowledged (bounded: `inbox`). Its key; None for a retry
    already stored; BUSY when the store did not answer in time (ack with `inbox.BUSY_TEXT`)."""
    key = command_key(command)
    # Slack's legacy verification `token` is a credential: it is never written to the database.
    fresh, key = await inbox.receive(services, key, {k: v for k, v in command.items() if k != "token"})
    if fresh is None:
        return BUSY
    if not fresh:
        log.info("duplicate slash command ignored", extra={"user": command.get("user_id")})
        return None
    return key


async def answer(services: Services, command: dict, *, respond, request_key: str) -> None:
    """Answer a stored command, then mark it answered (also when answering failed)."""
    try:
        await handle_command(services, command, respond=respond, request_key=request_key)
    finally:
        await services.store.request_done(request_key)


async def handle_command(services: Services, command: dict, *, respond, request_key: str | None = None) -> None:
    text = command.get("text") or ""
    user_id = command.get("user_id") or ""
    channel_id = command.get("channel_id") or ""
    parsed = grammar.parse_command(text)

    async def say(text: str, blocks: list[dict] | None = None) -> None:
        await respond(text=text, blocks=blocks, response_type="ephemeral")

    # i2v with an image attached in the channel (or a Slack file link): fetched into a data: URI.
    resolved = await resolve_image(services, parsed, channel_id=channel_id, user_id=user_id)
    if resolved.command is None:
        await say(resolved.message or "I couldn't use that image.")
        return
    parsed = resolved.command
    # --audio-url with a Slack file link: fetched into a data:audio URI where the format takes one.
    audio = await resolve_audio(services, parsed, channel_id=channel_id, user_id=user_id)
    if audio.command is None:
        await say(audio.message or "I couldn't use that audio file.")
        return
    parsed = audio.command
    extra = None
    if isinstance(parsed, grammar.Generate) and parsed.draft:
        parsed, extra = draft_command(services, parsed, variations=parsed.variations)
    if isinstance(parsed, grammar.Generate) and (problems := services.gateway.format.check(parsed.request)):
        # valid for the model, not for this gateway: the form shows why, prefilled
        parsed = grammar.OpenModal(parsed.request.mode, parsed.request.fields(), problems)

    if isinstance(parsed, grammar.Generate):
        # Slack resends a request it thinks timed out (X-Slack-Retry-Num): one job per trigger.
        key = request_key or command_key(command)
        if request_key is None and not await services.store.remember_request(key):
            log.info("duplicate slash command ignored", extra={"user": user_id})
            return
        if parsed.variations > 1:
            jobs = await start_variations(services, parsed.request, parsed.variations, user_id=user_id,
                                          channel_id=channel_id, respond=respond,
                                          response_url=command.get("response_url"), request_key=key, extra=extra)
            job = jobs[0] if jobs else None
        else:
            job = await start_job(services, parsed.request, user_id=user_id, channel_id=channel_id,
                                  respond=respond, response_url=command.get("response_url"), request_key=key,
                                  extra=extra)
        if job is not None and resolved.attachment is not None:
            await say(resolved.attachment.note())
    elif isinstance(parsed, grammar.OpenModal):
        await open_form(services, command["trigger_id"], parsed, channel_id=channel_id, say=say)
    elif isinstance(parsed, grammar.Help):
        await say(HELP_TEXT)
    elif isinstance(parsed, grammar.Usage):
        await say(parsed.message)
    elif isinstance(parsed, grammar.Jobs):
        await say(*await answers.jobs_answer(services, user_id))
    elif isinstance(parsed, grammar.Status):
        await say(*await answers.status_answer(services, parsed.job_id, user_id))
    elif isinstance(parsed, grammar.Cancel):
        await say(await answers.cancel_job(services, parsed.job_id, user_id))
    elif isinstance(parsed, grammar.Settle):
        await say(await answers.settle_job(services, parsed.job_id, parsed.task_id, user_id))
    elif isinstance(parsed, grammar.PresetRun):
        key = request_key or command_key(command)
        if request_key is None and not await services.store.remember_request(key):
            return
        await presets.run(services, parsed.name, parsed.more, user_id=user_id, channel_id=channel_id,
                          respond=respond, request_key=key, say=say, api=parsed.api)
    elif isinstance(parsed, grammar.Presets):
        await say(*await presets.list_answer(services))
    elif isinstance(parsed, grammar.PresetDelete):
        await say(await presets.delete(services, parsed.name, user_id))
    elif isinstance(parsed, grammar.Spend):
        await say(*await answers.spend_answer(services, user_id, parsed.scope))
    elif isinstance(parsed, grammar.Triage):
        await handle_triage_command(services, text=parsed.text, user_id=user_id, channel_id=channel_id,
                                    respond=respond)
