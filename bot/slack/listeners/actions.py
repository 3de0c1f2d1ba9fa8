"""Buttons and selects: mode switch in the modal, Cancel on the card, the review buttons."""

from __future__ import annotations

import json
import logging
import random
import time

from slack_sdk.errors import SlackApiError

from bot.slack.cards import CANCEL_ACTION, api_request_message, image_label, mention
from bot.slack.jobflow import start_job
from bot.slack.listeners.commands import cancel_job, modal_metadata
from bot.slack.posting import slack_error, tell_user
from bot.slack.services import Services
from bot.slack.views import (
    MODE_ACTION,
    mode_modal,
    parse_modal_submission,
    prefill_from_job,
    request_changes_modal,
    selected_mode,
)
from bot.wan.request import SEED_MAX, RequestInvalid, VideoRequest

log = logging.getLogger(__name__)


def _clicked(body: dict) -> tuple[str, str]:
    """(job id from the button's value, the user who clicked)."""
    return str(body["actions"][0].get("value") or ""), body["user"]["id"]


async def _clicked_job(services: Services, body: dict, respond):
    """The clicked button's job and the clicker, or (None, user) after telling the clicker it is gone."""
    job_id, user_id = _clicked(body)
    job = await services.store.get_job(job_id)
    if job is None:
        await _job_gone(job_id, respond)
    return job, user_id


async def _job_gone(job_id: str, respond) -> None:
    await respond(text=f"Job `{job_id}` is gone.", response_type="ephemeral", replace_original=False)


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
        job_id, user_id = _clicked(body)
        job = await record_review(services, job_id, user_id, "approved")
        if job is None:
            await _job_gone(job_id, respond)
            return
        await services.client.chat_postMessage(channel=job.channel_id, thread_ts=job.thread_ts or job.message_ts,
                                               text=f"✅ Approved by {mention(user_id)}")

    @app.action("review_changes")
    async def request_changes(ack, body):
        await ack()
        job_id, _ = _clicked(body)
        await open_view(services, body["trigger_id"], request_changes_modal(job_id))

    @app.action("review_rerun")
    async def rerun(ack, body, respond):
        await ack()
        job, user_id = await _clicked_job(services, body, respond)
        if job is None:
            return
        request = VideoRequest.model_validate(job.request).with_seed(random.randint(0, SEED_MAX))
        await start_job(services, request, user_id=user_id, channel_id=job.channel_id,
                        thread_ts=job.thread_ts or job.message_ts, respond=respond)

    @app.action("review_tweak")
    async def tweak(ack, body, respond):
        await ack()
        job, _ = await _clicked_job(services, body, respond)
        if job is None:
            return
        mode, prefill = prefill_from_job(job.request)
        meta = json.loads(modal_metadata(job.channel_id, job.thread_ts or job.message_ts))
        kept = image_label(job.request.get("input", {}).get("image_url"))
        if kept:
            meta["image_job"] = job.id  # an empty image field keeps this job's attached image
        view = mode_modal(mode, prefill, price_per_second=services.settings.wan_price_per_second,
                          private_metadata=json.dumps(meta), kept_image=kept)
        await open_view(services, body["trigger_id"], view)

    @app.action("review_show_api")
    async def show_api(ack, body, respond):
        await ack()
        job, _ = await _clicked_job(services, body, respond)
        if job is None:
            return
        request = VideoRequest.model_validate(job.request)
        text, blocks = api_request_message(*services.gateway.describe_submit(request, job.id))
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def open_view(services: Services, trigger_id: str, view: dict) -> None:
    try:
        await services.client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        services.metrics.slack_error("views.open", slack_error(exc))
        log.warning("views.open failed", extra={"error": slack_error(exc)})


async def switch_mode(services: Services, body: dict) -> None:
    """The mode selector changed: swap in that mode's fields, keeping what was typed."""
    view = body["view"]
    values = (view.get("state") or {}).get("values") or {}
    mode = selected_mode(values)
    try:
        _, prefill = parse_modal_submission(view)
    except (RequestInvalid, ValueError):
        prefill = {}
    kept = None
    if metadata_of(view).get("image_job"):
        job = await services.store.get_job(metadata_of(view)["image_job"])
        kept = image_label((job.request.get("input", {}) if job else {}).get("image_url"))
    new_view = mode_modal(mode, prefill, price_per_second=services.settings.wan_price_per_second,
                          private_metadata=view.get("private_metadata") or "", kept_image=kept)
    try:
        await services.client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)
    except SlackApiError as exc:
        # hash_conflict: the user changed the mode again meanwhile; the newer action wins.
        services.metrics.slack_error("views.update", slack_error(exc))
        log.info("views.update refused", extra={"error": slack_error(exc)})


async def record_review(services: Services, job_id: str, user_id: str, state: str, note: str | None = None):
    """Store who decided what and when, and show it on the card."""
    if await services.store.get_job(job_id) is None:
        return None
    job = await services.store.update(job_id, review_state=state, reviewed_by=user_id, reviewed_at=time.time(),
                                      review_note=note)
    services.refresh_card(job)
    return job


async def tell(services: Services, user_id: str, channel_id: str | None, text: str) -> None:
    await tell_user(services.client, user_id=user_id, channel_id=channel_id, text=text)


def metadata_of(view: dict) -> dict:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    return meta if isinstance(meta, dict) else {}
