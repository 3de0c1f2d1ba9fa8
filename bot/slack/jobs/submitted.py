"""After the generate form closed: the job (or its variations, or its draft) where the form was opened.
Apart from form.py so that the form does not import what starts drafts and variations (no cycle)."""

from __future__ import annotations

from bot.slack import grammar
from bot.slack.blocks.modals import run_options
from bot.slack.jobs.drafts import draft_command
from bot.slack.jobs.form import metadata_of, read_submission, submitted_count
from bot.slack.jobs.start import start_job
from bot.slack.jobs.variations import start_variations
from bot.slack.services import Services
from bot.slack.web.posting import tell_user
from bot.wan.request import VideoRequest


async def start_submission(services: Services, user_id: str, view: dict, request: VideoRequest, key: str) -> None:
    """After the ack closed the form: its job (or variations, or draft), where the form was opened.
    The submission stored before the ack (`form.receive_submission`) is answered with the job in one
    transaction, or marked answered when it could not start."""
    meta = metadata_of(view)
    channel_id = meta.get("channel_id")
    if not channel_id:
        channel_id = user_id  # opened without a channel: the job lives in a DM with the bot
    try:
        draft, _ = run_options(view)
        count = submitted_count(view)
        extra = None
        if draft:
            command, extra = draft_command(services, grammar.Generate(request), variations=count)
            request = command.request
        if count > 1:
            await start_variations(services, request, count, user_id=user_id, channel_id=channel_id, extra=extra)
            return
        await start_job(services, request, user_id=user_id, channel_id=channel_id, thread_ts=meta.get("thread_ts"),
                        extra=extra, request_key=key)
    finally:
        await services.store.request_done(key)


async def replay_submission(services: Services, payload: dict, key: str) -> None:
    """After a restart: a submission acknowledged but not started is checked again and started, or
    its submitter is told why not (the form is gone by now)."""
    user_id, view = str(payload.get("user_id") or ""), dict(payload.get("view") or {})
    errors, request = await read_submission(services, user_id, view)
    if request is None:
        problems = "; ".join((errors or {}).get("errors", {}).values()) or "the form could not be read"
        await tell_user(services.client, user_id=user_id, channel_id=None,
                        text=f"The form you sent before I restarted could not be started: {problems}")
        await services.store.request_done(key)
        return
    await start_submission(services, user_id, view, request, key)
