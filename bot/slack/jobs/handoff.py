"""Hand-off that reproduces (issue 12 item 6): "Show API request" under a video and
`/wan preset NAME --api` give the exact submit for the configured wire format, as JSON, curl and
Python, key masked, with the seed that makes it render the same video again:

- the seed the request carried, when it had one;
- else the seed the gateway's task answer reported (stored on the job as `seed_used`), pinned into
  the shown request and said so;
- else the run was unseeded: the answer says the same request gives a different video, and offers
  **Pin a seed** (a re-run with a fixed seed, one job per click, whose own hand-off then reproduces).
"""

from __future__ import annotations

import random

from bot.jobs.models import Job
from bot.slack.blocks.messages import api_request_message, pin_seed_button
from bot.slack.jobs.clicks import first_click
from bot.slack.jobs.review import clicked_job, request_of
from bot.slack.jobs.start import start_job
from bot.slack.services import Services
from bot.wan.request import ALL_FIELDS, SEED_MAX, RequestInvalid, VideoRequest

REUSE_KEY = "Use a new Idempotency-Key for each job: a gateway answers a key it has seen with the first task."


def takes_seed(request: VideoRequest) -> bool:
    return any(spec.name == "seed" for spec in ALL_FIELDS[request.mode])


def reproducible(services: Services, request: VideoRequest, seed_used: int | None) -> tuple[VideoRequest, str, bool]:
    """(the request to hand off, what to say of its seed, whether to offer pinning one)."""
    if request.seed is not None:
        return request, f"🎲 Seed {request.seed}, as sent: this request renders the same video again.", False
    if not takes_seed(request):
        return request, "This mode takes no seed: the same request may render a slightly different video.", False
    if seed_used is not None:
        try:
            pinned = request.with_fields(seed=seed_used)
        except RequestInvalid:
            pinned = None
        if pinned is not None and not services.gateway.format.check(pinned):
            return pinned, (f"🎲 The run was sent without a seed; the gateway reported seed {seed_used}, "
                            "pinned here so this request renders the same video again."), False
    return request, ("⚠️ This run was unseeded and the gateway did not say which seed it used: the same "
                     "request renders a different video each time. *Pin a seed* re-runs it with a fixed "
                     "one; that video's request then reproduces."), True


async def show_api_request(services: Services, job_id: str, respond) -> None:
    """The submit this job made, as JSON, curl and Python, secrets masked; only the clicker sees it."""
    job = await clicked_job(services, job_id, respond)
    if job is None:
        return
    request = await request_of(services, job, respond)
    if request is None:
        return
    shown, note, offer_pin = reproducible(services, request, job.extra.get("seed_used"))
    actions = [pin_seed_button(job.id, services.settings.pricing().estimate(shown))] if offer_pin else None
    text, blocks = api_request_message(*services.gateway.describe_submit(shown, job.id), note=note,
                                       actions=actions)
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def pin_seed(services: Services, job_id: str, user_id: str, respond, *, click: str) -> None:
    """Pin a seed: the job's request again with a fixed random seed, in its thread; once per click."""
    job: Job | None = await clicked_job(services, job_id, respond)
    if job is None:
        return
    if not await first_click(services, click):
        await respond(text="You already clicked Pin a seed for this video: one job per click.",
                      response_type="ephemeral", replace_original=False)
        return
    request = await request_of(services, job, respond)
    if request is None:
        return
    pinned = request.with_fields(seed=random.randint(0, SEED_MAX))
    await start_job(services, pinned, user_id=user_id, channel_id=job.channel_id,
                    thread_ts=job.thread_ts or job.message_ts, respond=respond, request_key=click)


async def preset_api(services: Services, request: VideoRequest, name: str, say) -> None:
    """`/wan preset NAME --api`: the submit the preset starts (more prompt appended), key masked."""
    shown, note, _ = reproducible(services, request, None)
    if request.seed is None and takes_seed(request):
        note = ("⚠️ This preset has no seed (its video was unseeded): each run renders a different video. "
                "Pin one with `--seed N` in your integration.")
    method, url, headers, body = services.gateway.describe_submit(shown, f"preset-{name.lower()}-1")
    text, blocks = api_request_message(method, url, headers, body, note=f"{note} {REUSE_KEY}")
    await say(f"Preset `{name}`: {text}", blocks)
