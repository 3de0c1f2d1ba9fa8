"""Buttons and selects: the mode switch in the form, Cancel on the card, the review buttons under
a video, and triage's "Post reply in thread"."""

from __future__ import annotations

from bot.slack.blocks.card import CANCEL_ACTION
from bot.slack.blocks.modals import MODE_ACTION
from bot.slack.blocks.triage import POST_REPLY_ACTION, reply_ref
from bot.slack.jobs import review
from bot.slack.jobs.answers import cancel_job
from bot.slack.jobs.form import switch_mode
from bot.slack.services import Services
from bot.slack.triage.reply import open_reply


def _clicked(body: dict) -> tuple[str, str]:
    """(job id from the button's value, the user who clicked)."""
    return str(body["actions"][0].get("value") or ""), body["user"]["id"]


def register(app, services: Services) -> None:
    @app.action(MODE_ACTION)
    async def mode_selected(ack, body):
        await ack()
        await switch_mode(services, body)

    @app.action(CANCEL_ACTION)
    async def cancel_clicked(ack, body, respond):
        await ack()
        job_id, user_id = _clicked(body)
        await respond(text=await cancel_job(services, job_id, user_id), response_type="ephemeral",
                      replace_original=False)

    @app.action("review_approve")
    async def approve(ack, body, respond):
        await ack()
        await review.approve(services, *_clicked(body), respond)

    @app.action("review_changes")
    async def request_changes(ack, body):
        await ack()
        await review.ask_for_changes(services, _clicked(body)[0], body["trigger_id"])

    @app.action("review_rerun")
    async def rerun(ack, body, respond):
        await ack()
        await review.rerun(services, *_clicked(body), respond)

    @app.action("review_tweak")
    async def tweak(ack, body, respond):
        await ack()
        await review.tweak(services, _clicked(body)[0], body["trigger_id"], respond)

    @app.action("review_show_api")
    async def show_api(ack, body, respond):
        await ack()
        await review.show_api_request(services, _clicked(body)[0], respond)

    @app.action(POST_REPLY_ACTION)
    async def post_reply_clicked(ack, body, action, respond):
        await ack()
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        await open_reply(services, ref=reply_ref(action.get("value")), user_id=body["user"]["id"],
                         channel_id=channel_id, trigger_id=body["trigger_id"], respond=respond)
