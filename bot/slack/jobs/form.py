"""The generate form (a modal): opened from `/wan` or Tweak, its mode switch, and its submission
read back into a request (inline errors on the form) and started as a job.

Where the job goes (channel, thread) and a Tweak's attached image ride in the view's
private_metadata."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from slack_sdk.errors import SlackApiError

from bot.jobs import attachments
from bot.jobs.models import Job
from bot.slack import grammar, inbox
from bot.slack.blocks.card import image_label
from bot.slack.blocks.modals import (
    VARIATIONS_BLOCK,
    main_text_field,
    modal_errors,
    mode_modal,
    parse_modal_submission,
    prefill_from_job,
    run_options,
    selected_mode,
)
from bot.slack.jobs.limits import check_limits
from bot.slack.services import Services
from bot.slack.web.posting import slack_error
from bot.wan.request import FieldProblem, Mode, RequestInvalid, VideoRequest, build_request

log = logging.getLogger(__name__)


def modal_metadata(channel_id: str | None, thread_ts: str | None = None) -> str:
    """Where a job started from the modal goes: kept in the view's private_metadata."""
    return json.dumps({"channel_id": channel_id, "thread_ts": thread_ts})


def metadata_of(view: dict) -> dict:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    return meta if isinstance(meta, dict) else {}


async def open_view(services: Services, trigger_id: str, view: dict) -> None:
    try:
        await services.client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        services.metrics.slack_error("views.open", slack_error(exc))
        log.warning("views.open failed", extra={"error": slack_error(exc)})


def carried(services: Services, mode: Mode | None) -> tuple[str, ...] | None:
    """The fields the configured wire format carries for `mode`: the form offers only those."""
    return services.gateway.format.carries(mode) if mode is not None else None


async def open_form(services: Services, trigger_id: str, command: grammar.OpenModal, *, channel_id: str,
                    say) -> None:
    """`/wan` without enough to start a job: the form, prefilled, with the problems shown."""
    view = mode_modal(command.mode, command.prefill, price_per_second=services.settings.wan_price_per_second,
                      private_metadata=modal_metadata(channel_id), errors=command.problems,
                      carries=carried(services, command.mode))
    try:
        await services.client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        services.metrics.slack_error("views.open", slack_error(exc))
        await say(f"I couldn't open the form (Slack said `{slack_error(exc)}`). "
                  f"Type it instead, e.g. `{grammar.EXAMPLE}`.")


async def open_tweak(services: Services, trigger_id: str, job: Job) -> None:
    """Tweak: the form prefilled from a job, its result going to the job's thread."""
    mode, prefill = prefill_from_job(job.request)
    meta = json.loads(modal_metadata(job.channel_id, job.thread_ts or job.message_ts))
    kept = image_label(job.request.get("input", {}).get("image_url"))
    if kept:
        meta["image_job"] = job.id  # an empty image field keeps this job's attached image
    if attachments.is_inline(job.request.get("input", {}).get("audio_url")):
        meta["audio_job"] = job.id  # and an empty audio URL field its attached soundtrack
    view = mode_modal(mode, prefill, price_per_second=services.settings.wan_price_per_second,
                      private_metadata=json.dumps(meta), kept_image=kept, carries=carried(services, mode))
    await open_view(services, trigger_id, view)


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
                          private_metadata=view.get("private_metadata") or "", kept_image=kept,
                          carries=carried(services, mode))
    try:
        await services.client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)
    except SlackApiError as exc:
        # hash_conflict: the user changed the mode again meanwhile; the newer action wins.
        services.metrics.slack_error("views.update", slack_error(exc))
        log.info("views.update refused", extra={"error": slack_error(exc)})


async def _keep_attached_image(services: Services, view: dict, fields: dict) -> None:
    """Tweak of a job whose image (or soundtrack) was attached in Slack: an empty image (audio URL)
    field keeps that file."""
    for field_name, key in (("image_url", "image_job"), ("audio_url", "audio_job")):
        job_id = metadata_of(view).get(key)
        if not job_id or fields.get(field_name):
            continue
        job = await services.store.get_job(job_id)
        body = await services.store.full_request(job) if job else None  # the file is kept beside the job
        value = (body or {}).get("input", {}).get(field_name)
        if isinstance(value, str) and value.startswith("data:"):
            fields[field_name] = value


def submitted_count(view: dict) -> int:
    """How many variations the form asked for (1: one job); ValueError when out of 2-6."""
    _, count = run_options(view)
    if count in ("", "1"):
        return 1
    if not count.isdigit() or not 2 <= int(count) <= 6:
        raise ValueError(f"must be 2 to 6 (or empty for one job); got {count}")
    return int(count)


async def read_submission(services: Services, user_id: str, view: dict) -> tuple[dict | None, VideoRequest | None]:
    """The submitted form as a request to start, or the ack body that shows its problems on the form
    (invalid fields, a gateway that cannot take it, a limit: quick to check, best shown there)."""
    mode = None
    try:
        mode, fields = parse_modal_submission(view)
        await _keep_attached_image(services, view, fields)
        request = build_request(mode, fields)
        if problems := services.gateway.format.check(request):
            raise RequestInvalid(problems)
    except RequestInvalid as exc:
        return modal_errors(exc.problems, mode=mode, carries=carried(services, mode)), None
    except ValueError as exc:  # a forged payload without a mode
        return modal_errors([FieldProblem("mode", str(exc))]), None
    try:
        count = submitted_count(view)
    except ValueError as exc:
        return modal_errors([FieldProblem(VARIATIONS_BLOCK, str(exc))], mode=mode), None
    refusal = await check_limits(services, user_id, request, count=count)
    if refusal:
        return modal_errors([FieldProblem(main_text_field(mode), refusal)], mode=mode), None
    return None, request


def submission_key(view: dict) -> str:
    return f"view:{view['id']}:{view.get('hash')}"


def _busy(view: dict) -> dict:
    try:
        mode = parse_modal_submission(view)[0]
    except (RequestInvalid, ValueError):
        mode = None
    return modal_errors([FieldProblem(main_text_field(mode), inbox.BUSY_TEXT)], mode=mode)


async def receive_submission(services: Services, user_id: str, view: dict
                             ) -> tuple[dict | None, VideoRequest | None, str | None]:
    """Before the ack, within Slack's 3 s: (the ack body that keeps the form open with its
    problems, or "busy", None, None), or (None, the request, the key of the stored submission) to
    start after the ack; the key is None for a repeat of a stored submission."""
    started = time.monotonic()
    try:
        errors, request = await asyncio.wait_for(read_submission(services, user_id, view), inbox.PRE_ACK_SECONDS)
    except TimeoutError:
        return _busy(view), None, None
    if errors is not None:
        return errors, None, None
    key = submission_key(view)
    payload = {"kind": "view", "user_id": user_id, "view": view}
    stored, key = await inbox.receive(services, key, payload,
                                      within=inbox.PRE_ACK_SECONDS - (time.monotonic() - started))
    if stored is None:
        return _busy(view), None, None
    return None, request, key if stored else None
