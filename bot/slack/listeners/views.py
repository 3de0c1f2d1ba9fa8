"""Modal submissions: the generate form (inline errors, or close and start the job) and the
request-changes note."""

from __future__ import annotations

import logging

from bot.slack.cards import clip_escaped, mention
from bot.slack.jobflow import check_limits, start_job
from bot.slack.listeners.actions import metadata_of, record_review, tell
from bot.slack.services import Services
from bot.slack.views import (
    GENERATE_CALLBACK,
    NOTE_BLOCK,
    REQUEST_CHANGES_CALLBACK,
    main_text_field,
    modal_errors,
    parse_modal_submission,
    parse_request_changes,
)
from bot.wan.request import FieldProblem, RequestInvalid, build_request

log = logging.getLogger(__name__)


async def _keep_attached_image(services: Services, view: dict, fields: dict) -> None:
    """Tweak of a job whose image was attached in Slack: an empty image field keeps that image."""
    job_id = metadata_of(view).get("image_job")
    if not job_id or fields.get("image_url"):
        return
    job = await services.store.get_job(job_id)
    image = (job.request.get("input", {}) if job else {}).get("image_url")
    if isinstance(image, str) and image.startswith("data:"):
        fields["image_url"] = image


def register(app, services: Services) -> None:
    @app.view(GENERATE_CALLBACK)
    async def generate_submitted(ack, body, view):
        user_id = body["user"]["id"]
        mode = None
        try:
            mode, fields = parse_modal_submission(view)
            await _keep_attached_image(services, view, fields)
            request = build_request(mode, fields)
            if problems := services.gateway.format.check(request):
                raise RequestInvalid(problems)
        except RequestInvalid as exc:
            await ack(**modal_errors(exc.problems, mode=mode))
            return
        except ValueError as exc:  # a forged payload without a mode
            await ack(**modal_errors([FieldProblem("mode", str(exc))]))
            return
        # Limits are quick to check and best shown on the form itself.
        refusal = await check_limits(services, user_id, request)
        if refusal:
            await ack(**modal_errors([FieldProblem(main_text_field(mode), refusal)], mode=mode))
            return
        await ack()  # closes the modal
        meta = metadata_of(view)
        channel_id = meta.get("channel_id")
        if not channel_id:
            channel_id = user_id  # opened without a channel: the job lives in a DM with the bot
        if not await services.store.remember_request(f"view:{view['id']}:{view.get('hash')}"):
            return
        await start_job(services, request, user_id=user_id, channel_id=channel_id,
                        thread_ts=meta.get("thread_ts"))

    @app.view(REQUEST_CHANGES_CALLBACK)
    async def changes_submitted(ack, body, view):
        job_id, note = parse_request_changes(view)
        if not note:
            await ack(response_action="errors", errors={NOTE_BLOCK: "Say what should change."})
            return
        await ack()
        user_id = body["user"]["id"]
        job = await record_review(services, job_id, user_id, "changes_requested", note)
        if job is None:
            await tell(services, user_id, None, f"Job `{job_id}` is gone.")
            return
        await services.client.chat_postMessage(
            channel=job.channel_id, thread_ts=job.thread_ts or job.message_ts,
            text=f"✏️ Changes requested by {mention(user_id)}: {clip_escaped(note, 2500)}")
