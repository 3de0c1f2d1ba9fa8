"""The job card and the thread messages: pure functions of a Job (and the time), returning
`(text, blocks)`. `text` is the notification fallback; blocks stay within Slack's limits.

Action ids: `job_cancel` on the card; `review_approve`, `review_changes`, `review_rerun`,
`review_tweak`, `review_show_api` under the video. Every button's value is the job id.
"""

from __future__ import annotations

import re
from typing import Any

from bot.dollars import money
from bot.jobs import attachments
from bot.jobs.models import DeliveryState, Job, JobState
from bot.slack.blocks.mrkdwn import (
    CONTEXT_MAX,
    SECTION_MAX,
    button,
    clip,
    clip_escaped,
    confirm_dialog,
    context,
    elapsed,
    escape,
    fit_parts,
    mention,
    one_line,
    progress_bar,
    section,
)
from bot.wan.errors import BadRequest
from bot.wan.request import ALL_FIELDS, SHORT_NAMES, Mode

PROMPT_SHOWN = 2500

CANCEL_ACTION = "job_cancel"
APPROVE_ACTION = "review_approve"
CHANGES_ACTION = "review_changes"
RERUN_ACTION = "review_rerun"
TWEAK_ACTION = "review_tweak"
SHOW_API_ACTION = "review_show_api"
FINAL_ACTION = "review_final"  # under a --draft video: the same take at the final settings
REVIEW_ACTIONS = {
    APPROVE_ACTION: "✅ Approve",
    CHANGES_ACTION: "✏️ Request changes",
    RERUN_ACTION: "🔁 Re-run",
    TWEAK_ACTION: "🎛️ Tweak",
    SHOW_API_ACTION: "🧾 Show API request",
}
CANCELABLE = frozenset({JobState.PENDING, *JobState.IN_FLIGHT_UPSTREAM})  # the card shows Cancel
MODE_TITLES = {
    "text-to-video": "Text to video",
    "image-to-video": "Image to video",
    "r2v": "Reference to video",
    "video-edit": "Video edit",
}
CONTENT_FILTER = ("The gateway's content filter rejected this prompt. Rephrase it (or use other "
                  "input images) and try again; re-running it unchanged will be rejected again.")


def mode_title(mode: str) -> str:
    short = next((SHORT_NAMES[m] for m in Mode if m.value == mode), None)
    title = MODE_TITLES.get(mode, mode or "Video")
    return f"{title} ({short})" if short else title



# ---------------------------------------------------------------------------------------------
# Parameters


def _labels(mode: str) -> dict[str, str]:
    for m in Mode:
        if m.value == mode:
            return {spec.name: re.sub(r"\s*\(.*\)$", "", spec.label) for spec in ALL_FIELDS[m]}
    return {}


def image_label(value: Any) -> str | None:
    """A short label for an attached image sent inline (a data: URI), never the base64 itself."""
    text = str(value)
    stub = attachments.stub_info(text)  # as the job row keeps it (the data itself is stored beside)
    if stub:
        media, size = stub
    elif text[:5].lower() == "data:":
        media = text[5:].split(";", 1)[0].split(",", 1)[0].lower()
        size = len(text.split(",", 1)[-1]) // 4 * 3
    else:
        return None
    noun = "audio" if media.startswith("audio/") else "image"  # an attached sound file, for audio_url
    kind = media.split("/", 1)[-1][:10] or noun
    shown = f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"
    return f"attached {noun} ({escape(kind.upper())}, {shown})"


def hide_inline_images(body: Any) -> Any:
    """The request body as shown to people: an inline image's base64 replaced by its label."""
    if isinstance(body, dict):
        return {k: hide_inline_images(v) for k, v in body.items()}
    if isinstance(body, list):
        return [hide_inline_images(v) for v in body]
    if isinstance(body, str) and image_label(body):
        prefix = body.split(",", 1)[0] if body[:5].lower() == "data:" else "attachment"
        return f"{prefix},<{image_label(body)}, not shown>"
    return body


def _value(name: str, value: Any) -> str:
    label = image_label(value) if isinstance(value, str) else None
    if label:
        return label
    if isinstance(value, list | tuple):
        return ", ".join(clip_escaped(str(v), 300) for v in value)
    if name == "duration":
        return f"{escape(str(value))} s"
    if isinstance(value, bool):  # the model's on/off parameters, as the flags spell them
        return "on" if value else "off"
    return clip_escaped(one_line(str(value)), 300)


def parameter_parts(job: Job) -> list[str]:
    labels = _labels(job.mode)
    inputs = job.request.get("input") or {}
    parts = []
    for name, value in inputs.items():
        if name in ("prompt", "instruction") or value in (None, "", []):
            continue
        parts.append(f"*{escape(labels.get(name, name))}* {_value(name, value)}")
    return parts


# ---------------------------------------------------------------------------------------------
# Status lines


def _content_policy(job: Job) -> bool:
    return BadRequest(job.error_message or "", code=job.error_code).content_policy


def _since(job: Job, now: float) -> str:
    start = job.started_at or job.submitted_at or job.created_at
    return elapsed(now - start) if start else ""


def failure_text(job: Job) -> str:
    if _content_policy(job):
        reason = CONTENT_FILTER
        detail = clip_escaped(one_line(job.error_message or ""), 500)
        if detail:
            reason += f"\n>{detail}"
    else:
        code = f" (`{clip_escaped(job.error_code, 100)}`)" if job.error_code else ""
        reason = (clip_escaped(one_line(job.error_message or "no reason given"), 1000) + code)
    rid = f"\nRequest id: `{clip_escaped(job.request_id, 200)}`" if job.request_id else ""
    return f"❌ *Failed.* {reason}{rid}"


def status_line(job: Job, *, now: float, waiting_position: int | None = None) -> str:
    state = job.state
    if job.cancel_requested and state in JobState.IN_FLIGHT_UPSTREAM:
        by = (job.extra.get("cancel_requested") or {}).get("by")
        return ("🚫 *Cancel requested*" + (f" by {mention(by)}" if by else "") + ": the gateway cannot stop "
                "this task, so it renders on and will be billed; the video will not be posted.")
    if state == JobState.PENDING:
        if waiting_position is None:
            return "⏳ *Pending:* about to be sent to the gateway."
        ahead = "next in line" if waiting_position <= 0 else f"{waiting_position} ahead"
        return f"⏳ *Waiting for a free slot*, {ahead}."
    if state == JobState.SUBMITTED:
        return "📤 *Submitting* to the gateway…"
    if state == JobState.QUEUED:
        waited = _since(job, now)
        return "🕒 *Queued* at the gateway" + (f" · {waited}" if waited else "") + "."
    if state == JobState.RUNNING:
        return f"🎞️ *Rendering* · {_since(job, now) or '0s'} · {progress_bar(job.progress)}"
    if state == JobState.SUCCEEDED:
        return f"✅ *Done* · billed {billed_text(job)} · posting the video in the thread…"
    if state == JobState.DELIVERED:
        where = {
            DeliveryState.LINK: "a download link is in the thread",
            DeliveryState.GONE: "the video link expired before it could be posted",
        }.get(job.delivery_state, "the video is in the thread")
        took = ""
        if job.finished_at and job.created_at:
            took = f" · took {elapsed(job.finished_at - job.created_at)}"
        return f"✅ *Done* · billed {billed_text(job)}{took} · {where}."
    if state == JobState.FAILED:
        return failure_text(job)
    if state == JobState.CANCELED:
        by = job.extra.get("canceled_by") or (job.extra.get("cancel_requested") or {}).get("by")
        line = "🚫 *Canceled*" + (f" by {mention(by)}" if by else "")
        if job.cancel_requested:  # the task could not be stopped: it ran to its end upstream
            billed = f"was billed {money(job.billed_cost_usd)}" if job.billed_cost_usd else "was not billed"
            return line + f" · the task ran on upstream and {billed}; the video was not posted."
        return line + "."
    if state == JobState.EXPIRED:
        return "⌛ *Expired:* the video link expired (the gateway keeps tasks and links for about 24 h)."
    if state == JobState.UNKNOWN:
        ids = " ".join(f"{k} `{clip_escaped(v, 100)}`" for k, v in
                       (("task", job.task_id), ("request id", job.request_id)) if v)
        return ("⚠️ *Outcome unknown:* the submit outcome is unknown; an admin should check the gateway "
                "before re-running, to avoid paying twice." + (f" ({ids})" if ids else "")
                + f" An admin settles it with `/wan settle {job.id} TASK` (or `none`).")
    return f"State: {escape(str(state))}"


def review_line(job: Job) -> str | None:
    who = mention(job.reviewed_by)
    if job.review_state == "approved":
        return f"✅ Approved by {who}"
    if job.review_state == "changes_requested":
        note = clip_escaped(one_line(job.review_note or ""), 1500)
        return f"✏️ Changes requested by {who}" + (f": {note}" if note else "")
    return None


def status_word(job: Job) -> str:
    return {
        JobState.PENDING: "waiting", JobState.SUBMITTED: "submitting", JobState.QUEUED: "queued",
        JobState.RUNNING: f"rendering{f' {job.progress}%' if job.progress is not None else ''}",
        JobState.SUCCEEDED: "done", JobState.DELIVERED: "done", JobState.FAILED: "failed",
        JobState.CANCELED: "canceled", JobState.EXPIRED: "expired", JobState.UNKNOWN: "outcome unknown",
    }.get(job.state, str(job.state))


# ---------------------------------------------------------------------------------------------
# The job card


def cancel_button(job_id: str) -> dict:
    confirm = {
        "title": {"type": "plain_text", "text": "Cancel this job?"},
        "text": {"type": "plain_text", "text": "The gateway is asked to stop it. Seconds already "
                                                "rendered may still be billed."},
        "confirm": {"type": "plain_text", "text": "Cancel job"},
        "deny": {"type": "plain_text", "text": "Keep it"},
        "style": "danger",
    }
    return button("Cancel", CANCEL_ACTION, job_id, style="danger", confirm=confirm)


def prompt_quote(job: Job, limit: int = PROMPT_SHOWN) -> str:
    prompt = one_line(job.prompt)
    return f">{clip_escaped(prompt, limit)}" if prompt else ">_(no prompt)_"


def job_card(job: Job, *, now: float, waiting_position: int | None = None) -> tuple[str, list[dict]]:
    title = mode_title(job.mode)
    head = f"*{escape(title)}* · job `{clip_escaped(job.id, 100)}` · asked by {mention(job.user_id)}"
    blocks = [section(f"{head}\n{prompt_quote(job)}")]
    params = parameter_parts(job) + [f"*Estimated* {money(job.estimated_cost_usd)}"]
    blocks.append(context(fit_parts(params, " · ", CONTEXT_MAX)))
    blocks.append(section(status_line(job, now=now, waiting_position=waiting_position)))
    review = review_line(job)
    if review:
        blocks.append(context(review))
    if job.state in CANCELABLE and not job.cancel_requested:
        blocks.append({"type": "actions", "block_id": "job_actions", "elements": [cancel_button(job.id)]})
    text = f"{title} job {job.id}: {status_word(job)} · {clip(one_line(job.prompt), 150)}"
    return text, blocks


def status_message(job: Job, now: float) -> tuple[str, list[dict]]:
    """`/wan status JOB`: the card without its buttons, plus where the card lives."""
    text, blocks = job_card(job, now=now)
    blocks = [b for b in blocks if b.get("type") != "actions"]
    if job.channel_id and re.fullmatch(r"[CGD][A-Z0-9]+", job.channel_id):
        blocks.append(context(f"Card and thread in <#{job.channel_id}>."))
    return text, blocks


# ---------------------------------------------------------------------------------------------
# Thread messages


def billed_text(job: Job, *, seconds: float | None = None) -> str:
    """The billed amount, and the estimate beside it when the gateway's bill was more than 1 % off
    (bot/wan/pricing.py keeps that on the job as extra["bill_differs"])."""
    text = money(job.billed_cost_usd) + (f" for {seconds:g} s" if seconds is not None else "")
    differs = job.extra.get("bill_differs")
    if isinstance(differs, dict) and differs.get("estimated_usd") is not None:
        percent = differs.get("percent")
        gap = f", {percent:+g} %" if isinstance(percent, (int, float)) else ""
        text += f" (estimated {money(differs['estimated_usd'])}{gap})"
    return text


def review_actions(job_id: str, *, final_usd: float | None = None) -> dict:
    elements = [button(label, action_id, job_id, style="primary" if action_id == APPROVE_ACTION else None)
                for action_id, label in REVIEW_ACTIONS.items()]
    if final_usd is not None:  # a draft: its Final, the cost asked before anything is paid
        confirm = confirm_dialog("Render the final version?", "The same request and seed at the final settings "
                                 f"(WANBOT_FINAL). Estimated cost: *{money(final_usd)}*.",
                                 f"Render for {money(final_usd)}")
        elements.insert(1, button("🎬 Final", FINAL_ACTION, job_id, confirm=confirm))
    return {"type": "actions", "block_id": "review_actions", "elements": elements}


def _final_usd(job: Job) -> float | None:
    draft = job.extra.get("draft")
    value = draft.get("final_usd") if isinstance(draft, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def picked_message(job: Job, text: str) -> list[dict]:
    """The "variation picked" note with that video's own review buttons (its Final, for a draft)
    right under it: the next step is on the picked take, not whichever video landed last."""
    return [section(text), review_actions(job.id, final_usd=_final_usd(job))]


def video_message(job: Job) -> tuple[str, list[dict]]:
    seconds = job.billed_seconds
    billed = billed_text(job, seconds=seconds)
    head = f"🎬 *{escape(mode_title(job.mode))}* · job `{clip_escaped(job.id, 100)}` · billed {billed}"
    seed = (job.request.get("input") or {}).get("seed")
    if isinstance(seed, int):  # with its seed, so a take can be reproduced (variations, Final)
        head += f" · seed `{seed}`"
    blocks = [section(f"{head}\n{prompt_quote(job, 1000)}")]
    review = review_line(job)
    if review:
        blocks.append(context(review))
    blocks.append(review_actions(job.id, final_usd=_final_usd(job)))
    return f"Video for job {job.id} · billed {billed}", blocks


def link_fallback_message(job: Job, reason: str, expires_hint: str | None) -> tuple[str, list[dict]]:
    url = job.video_url or ""
    link = f"<{escape(url)}|Download the video>" if url.startswith(("https://", "http://")) else "(no link)"
    expiry = f" The link {clip_escaped(expires_hint, 300)}." if expires_hint else ""
    why = clip_escaped(one_line(reason or "unknown reason"), 1000)
    text = (f"🎬 Job `{clip_escaped(job.id, 100)}` is ready, but I couldn't upload it here: {why}.\n"
            f"{link} · billed {money(job.billed_cost_usd)}.{expiry}")
    if len(text) > SECTION_MAX:  # a huge URL: keep the message valid, say so
        text = f"🎬 Job `{clip_escaped(job.id, 100)}` is ready, but its link is too long to post."
    blocks = [section(text), review_actions(job.id, final_usd=_final_usd(job))]
    return f"Video for job {job.id}: download link (upload impossible)", blocks
