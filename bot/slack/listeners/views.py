"""Modal submissions: the generate form (inline errors, or close and start the job), the
request-changes note, and the triage reply edit."""

from __future__ import annotations

from bot.slack.blocks.modals import (
    GENERATE_CALLBACK,
    NOTE_BLOCK,
    REQUEST_CHANGES_CALLBACK,
    parse_request_changes,
)
from bot.slack.blocks.presets import NAME_BLOCK, SAVE_PRESET_CALLBACK, submitted_name
from bot.slack.blocks.triage import REPLY_BLOCK, REPLY_MODAL_ID, reply_ref, reply_text
from bot.slack.jobs import form, presets, review, submitted
from bot.slack.services import services_of
from bot.slack.triage.reply import submit_reply


async def on_generate_submitted(ack, body, view, context):
    services = services_of(context)
    user_id = body["user"]["id"]
    errors, request, key = await form.receive_submission(services, user_id, view)  # stored before the ack
    if errors is not None:
        await ack(**errors)  # the form stays open with its problems (or "busy")
        return
    await ack()  # closes the modal
    if key is not None:
        await submitted.start_submission(services, user_id, view, request, key)


async def on_changes_submitted(ack, body, view, context):
    job_id, note = parse_request_changes(view)
    if not note:
        await ack(response_action="errors", errors={NOTE_BLOCK: "Say what should change."})
        return
    await ack()
    await review.changes_requested(services_of(context), job_id, body["user"]["id"], note)


async def on_preset_submitted(ack, body, view, context):
    job_id, name = submitted_name(view)
    error = await presets.save(services_of(context), job_id, name, body["user"]["id"])
    if error:
        await ack(response_action="errors", errors={NAME_BLOCK: error})
        return
    await ack()


async def on_triage_reply_submitted(ack, body, view, context):
    text = reply_text(view)
    if not text.strip():
        await ack(response_action="errors", errors={REPLY_BLOCK: "Write the reply to post."})
        return
    await ack()
    await submit_reply(services_of(context), ref=reply_ref(view.get("private_metadata")), text=text,
                       user_id=body["user"]["id"])


HANDLERS = {
    GENERATE_CALLBACK: on_generate_submitted,
    REQUEST_CHANGES_CALLBACK: on_changes_submitted,
    REPLY_MODAL_ID: on_triage_reply_submitted,
    SAVE_PRESET_CALLBACK: on_preset_submitted,
}


def register(app) -> None:
    for callback_id, handler in HANDLERS.items():
        app.view(callback_id)(handler)
