"""After the generate form closed: the job (or its variations, or its draft) where the form was opened.
Apart from form.py so that the form does not import what starts drafts and variations (no cycle)."""

from __future__ import annotations

from bot.slack import grammar
from bot.slack.blocks.modals import run_options
from bot.slack.jobs.drafts import draft_command
from bot.slack.jobs.form import metadata_of, submitted_count
from bot.slack.jobs.start import start_job
from bot.slack.jobs.variations import start_variations
from bot.slack.services import Services
from bot.wan.request import VideoRequest


async def start_submission(services: Services, user_id: str, view: dict, request: VideoRequest) -> None:
    """After the ack closed the form: one job per submitted view, where the form was opened."""
    meta = metadata_of(view)
    channel_id = meta.get("channel_id")
    if not channel_id:
        channel_id = user_id  # opened without a channel: the job lives in a DM with the bot
    if not await services.store.remember_request(f"view:{view['id']}:{view.get('hash')}"):
        return
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
                    extra=extra)
