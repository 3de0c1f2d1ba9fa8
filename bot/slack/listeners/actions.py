"""Buttons and selects: the mode switch in the form, Cancel on the card, the review buttons under
a video, and triage's "Post reply in thread". Each acks, then makes one call down."""

from __future__ import annotations

from bot.slack.blocks.card import (
    APPROVE_ACTION,
    CANCEL_ACTION,
    CHANGES_ACTION,
    FINAL_ACTION,
    RERUN_ACTION,
    SHOW_API_ACTION,
    TWEAK_ACTION,
)
from bot.slack.blocks.messages import PIN_SEED_ACTION
from bot.slack.blocks.modals import MODE_ACTION
from bot.slack.blocks.presets import RUN_PRESET_ACTION, SAVE_PRESET_ACTION
from bot.slack.blocks.triage import EXPORT_ACTION, POST_REPLY_ACTION, REPLY_LANGUAGE_ACTION, reply_ref
from bot.slack.blocks.variations import PICK_ACTION
from bot.slack.jobs import drafts, handoff, presets, review, variations
from bot.slack.jobs.answers import cancel_job
from bot.slack.jobs.clicks import click_key
from bot.slack.jobs.form import switch_mode
from bot.slack.services import services_of
from bot.slack.triage.export import post_refunds_csv
from bot.slack.triage.reply import open_reply, switch_language


def _clicked(body: dict) -> tuple[str, str]:
    """(job id from the button's value, the user who clicked)."""
    return str(body["actions"][0].get("value") or ""), body["user"]["id"]


async def on_mode_selected(ack, body, context):
    await ack()
    await switch_mode(services_of(context), body)


async def on_cancel(ack, body, respond, context):
    await ack()
    job_id, user_id = _clicked(body)
    await respond(text=await cancel_job(services_of(context), job_id, user_id), response_type="ephemeral",
                  replace_original=False)


async def on_review_approve(ack, body, respond, context):
    await ack()
    await review.approve(services_of(context), *_clicked(body), respond)


async def on_review_changes(ack, body, context):
    await ack()
    await review.ask_for_changes(services_of(context), _clicked(body)[0], body["trigger_id"])


async def on_review_rerun(ack, body, respond, context):
    await ack()
    await review.rerun(services_of(context), *_clicked(body), respond, click=click_key(RERUN_ACTION, body))


async def on_review_final(ack, body, respond, context):
    await ack()
    await drafts.final(services_of(context), *_clicked(body), respond, click=click_key(FINAL_ACTION, body))


async def on_variation_pick(ack, body, respond, context):
    await ack()
    await variations.pick(services_of(context), *_clicked(body), respond, click=click_key(PICK_ACTION, body))


async def on_save_preset(ack, body, respond, context):
    await ack()
    await presets.open_save(services_of(context), _clicked(body)[0], body["trigger_id"], respond)


async def on_preset_run(ack, body, respond, context):
    await ack()
    name, user_id = _clicked(body)
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    # The list is a private answer (no message ts of its own): the preset's name keeps its buttons apart.
    await presets.run_clicked(services_of(context), name, user_id=user_id, channel_id=channel_id, respond=respond,
                              click=f"{click_key(RUN_PRESET_ACTION, body)}:{name.lower()}")


async def on_review_tweak(ack, body, respond, context):
    await ack()
    await review.tweak(services_of(context), _clicked(body)[0], body["trigger_id"], respond)


async def on_review_show_api(ack, body, respond, context):
    await ack()
    await handoff.show_api_request(services_of(context), _clicked(body)[0], respond)


async def on_pin_seed(ack, body, respond, context):
    await ack()
    job_id, user_id = _clicked(body)
    # The button sits on a private answer (no message ts of its own): the job's id keeps two answers apart.
    await handoff.pin_seed(services_of(context), job_id, user_id, respond,
                           click=f"{click_key(PIN_SEED_ACTION, body)}:{job_id}")


async def on_triage_post_reply(ack, body, action, respond, context):
    await ack()
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    await open_reply(services_of(context), ref=reply_ref(action.get("value")), user_id=body["user"]["id"],
                     channel_id=channel_id, trigger_id=body["trigger_id"], respond=respond)


async def on_triage_reply_language(ack, body, action, context):
    await ack()
    view = body.get("view") or {}
    language = str((action.get("selected_option") or {}).get("value") or "")
    await switch_language(services_of(context), ref=reply_ref(view.get("private_metadata")), language=language,
                          view_id=view.get("id", ""), view_hash=view.get("hash"), user_id=body["user"]["id"])


async def on_triage_refunds_csv(ack, body, respond, context):
    await ack()
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    await post_refunds_csv(services_of(context), user_id=body["user"]["id"], channel_id=channel_id, respond=respond)


HANDLERS = {
    MODE_ACTION: on_mode_selected,
    CANCEL_ACTION: on_cancel,
    APPROVE_ACTION: on_review_approve,
    CHANGES_ACTION: on_review_changes,
    RERUN_ACTION: on_review_rerun,
    FINAL_ACTION: on_review_final,
    PICK_ACTION: on_variation_pick,
    SAVE_PRESET_ACTION: on_save_preset,
    RUN_PRESET_ACTION: on_preset_run,
    TWEAK_ACTION: on_review_tweak,
    SHOW_API_ACTION: on_review_show_api,
    PIN_SEED_ACTION: on_pin_seed,
    POST_REPLY_ACTION: on_triage_post_reply,
    REPLY_LANGUAGE_ACTION: on_triage_reply_language,
    EXPORT_ACTION: on_triage_refunds_csv,
}


def register(app) -> None:
    for action_id, handler in HANDLERS.items():
        app.action(action_id)(handler)
