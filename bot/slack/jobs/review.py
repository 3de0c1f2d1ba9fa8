"""The buttons under a finished video: Approve, Request changes (with its note), Re-run (same
request, new seed) and Tweak (the form, prefilled); Show API request is `handoff`. Each decision is stored with
who made it and when, and shown on the card and in the thread."""

from __future__ import annotations

import random
import time

from bot.jobs.models import Job
from bot.slack.blocks.modals import request_changes_modal
from bot.slack.blocks.mrkdwn import clip_escaped, mention, section
from bot.slack.blocks.presets import save_button
from bot.slack.jobs.clicks import first_click
from bot.slack.jobs.form import open_tweak, open_view
from bot.slack.jobs.start import start_job
from bot.slack.services import Services
from bot.slack.web.posting import tell_user
from bot.wan.request import SEED_MAX, VideoRequest


async def job_gone(job_id: str, respond) -> None:
    await respond(text=f"Job `{job_id}` is gone.", response_type="ephemeral", replace_original=False)


async def clicked_job(services: Services, job_id: str, respond) -> Job | None:
    """The clicked button's job, or None after telling the clicker it is gone."""
    job = await services.store.get_job(job_id)
    if job is None:
        await job_gone(job_id, respond)
    return job


async def request_of(services: Services, job: Job, respond) -> VideoRequest | None:
    """The job's full request (its attached image read back), or None after saying the image is gone."""
    body = await services.store.full_request(job)
    if body is None:
        await respond(text="The image attached to this job is no longer kept (attachments are kept for a day "
                           "after a job ends). Attach it again and use `/wan i2v`.",
                      response_type="ephemeral", replace_original=False)
        return None
    return VideoRequest.model_validate(body)


async def record_review(services: Services, job_id: str, user_id: str, state: str, note: str | None = None):
    """Store who decided what and when, and show it on the card."""
    if await services.store.get_job(job_id) is None:
        return None
    job = await services.store.update(job_id, review_state=state, reviewed_by=user_id, reviewed_at=time.time(),
                                      review_note=note)
    services.notifier.refresh(job)
    return job


async def approve(services: Services, job_id: str, user_id: str, respond) -> None:
    job = await record_review(services, job_id, user_id, "approved")
    if job is None:
        await job_gone(job_id, respond)
        return
    text = f"✅ Approved by {mention(user_id)}"
    await services.client.chat_postMessage(channel=job.channel_id, thread_ts=job.thread_ts or job.message_ts,
                                           text=text, blocks=[section(text), save_button(job.id)])


async def ask_for_changes(services: Services, job_id: str, trigger_id: str) -> None:
    """Request changes: a small modal for the note."""
    await open_view(services, trigger_id, request_changes_modal(job_id))


async def changes_requested(services: Services, job_id: str, user_id: str, note: str) -> None:
    """The note was submitted: stored on the job, said in its thread."""
    job = await record_review(services, job_id, user_id, "changes_requested", note)
    if job is None:
        await tell_user(services.client, user_id=user_id, channel_id=None, text=f"Job `{job_id}` is gone.")
        return
    await services.client.chat_postMessage(
        channel=job.channel_id, thread_ts=job.thread_ts or job.message_ts,
        text=f"✏️ Changes requested by {mention(user_id)}: {clip_escaped(note, 2500)}")


async def rerun(services: Services, job_id: str, user_id: str, respond, *, click: str) -> None:
    """The same request with a new seed, in the job's thread, for (and billed to) the clicker; once
    per click (`click_key`), so a double-click is one paid job."""
    job = await clicked_job(services, job_id, respond)
    if job is None:
        return
    if not await first_click(services, click):
        await respond(text="You already clicked Re-run on this video: one job per click. To run it again, "
                           "use 🎛️ Tweak (or Re-run under the new video).",
                      response_type="ephemeral", replace_original=False)
        return
    request = await request_of(services, job, respond)
    if request is None:
        return
    request = request.with_seed(random.randint(0, SEED_MAX))
    await start_job(services, request, user_id=user_id, channel_id=job.channel_id,
                    thread_ts=job.thread_ts or job.message_ts, respond=respond, request_key=click)


async def tweak(services: Services, job_id: str, trigger_id: str, respond) -> None:
    job = await clicked_job(services, job_id, respond)
    if job is not None:
        await open_tweak(services, trigger_id, job)
