"""`--variations N` (2-6): N jobs of one request with distinct seeds, in one thread under one summary
card that shows each one's state and cost and the total estimate (checked against the limits before
any starts); Pick marks the chosen one (operations.md, "The Slack surface")."""

from __future__ import annotations

import random
import time
from typing import Any

from bot.jobs.models import Job
from bot.jobs.store import RequestAnswered
from bot.slack.blocks.card import picked_message
from bot.slack.blocks.mrkdwn import mention
from bot.slack.blocks.variations import PICKED, seed_of, summary_card
from bot.slack.jobs.clicks import first_click
from bot.slack.jobs.limits import check_limits
from bot.slack.jobs.review import clicked_job
from bot.slack.jobs.start import start_job
from bot.slack.jobs.summaries import group_of, render_summary
from bot.slack.services import Services
from bot.slack.web.posting import NotInChannel, Respond, post_message, tell_user
from bot.wan.request import ALL_FIELDS, SEED_MAX, VideoRequest

MIN_VARIATIONS, MAX_VARIATIONS = 2, 6


def variation_requests(request: VideoRequest, count: int, rng: random.Random | None = None) -> list[VideoRequest]:
    """`count` copies of the request with distinct seeds (a seed the user gave is the first)."""
    rng = rng or random.Random()
    seeds = [request.seed] if request.seed is not None else []
    while len(seeds) < count:
        seed = rng.randint(0, SEED_MAX)
        if seed not in seeds:
            seeds.append(seed)
    return [request.with_fields(seed=seed) for seed in seeds]


def can_vary(request: VideoRequest) -> bool:
    return any(spec.name == "seed" for spec in ALL_FIELDS[request.mode])


async def start_variations(services: Services, request: VideoRequest, count: int, *, user_id: str,
                           channel_id: str, respond: Respond | None = None, response_url: str | None = None,
                           request_key: str | None = None, extra: dict[str, Any] | None = None) -> list[Job]:
    """The summary card, then the jobs in its thread; the total is checked against the limits first."""
    if request_key is not None and await services.store.request_started(request_key):
        return []  # another replica answered this command first: its summary is the one
    refusal = await check_limits(services, user_id, request, count=count)
    if refusal and request_key is not None:
        try:  # kept as the command's answer: a replay after a crash says it again, never starts them
            refusal = await services.store.refuse_request(request_key, refusal)
        except RequestAnswered:
            return []
    if refusal:
        await tell_user(services.client, user_id=user_id, channel_id=channel_id, text=refusal, respond=respond)
        return []
    requests = variation_requests(request, count)
    pricing = services.settings.pricing()
    total = round(sum(pricing.estimate(r) for r in requests), 4)
    text, blocks = summary_card([], count=count, total_estimate=total)
    try:
        posted = await post_message(services.client, channel_id, text=text, blocks=blocks)
    except NotInChannel:
        await tell_user(services.client, user_id=user_id, channel_id=channel_id, respond=respond,
                        text="I'm not a member of this channel: invite me (`/invite @wanbot`) and try again.")
        return []
    group = {"summary_ts": posted["ts"], "channel": posted.get("channel") or channel_id, "count": count,
             "total": total, "ids": []}
    jobs: list[Job] = []
    for index, varied in enumerate(requests):
        # The command counts as answered with the first job: a replay after a crash never doubles paid jobs.
        key = request_key if index == 0 else None
        job = await start_job(services, varied, user_id=user_id, channel_id=group["channel"],
                              thread_ts=group["summary_ts"], respond=respond, response_url=response_url,
                              request_key=key, extra={**(extra or {}), "variation": {**group, "index": index}})
        if job is None:  # a limit met half-way (another command meanwhile): the summary says how many ran
            break
        jobs.append(job)
    if not jobs:  # none started (told why, or another replica answered at the same moment): no empty card
        await services.client.chat_delete(channel=group["channel"], ts=group["summary_ts"])
        return []
    group["ids"] = [job.id for job in jobs]
    group["count"] = len(jobs) or count
    for job in jobs:  # every job knows its siblings, so any change re-renders the whole summary
        fresh = await services.store.get_job(job.id) or job
        await services.store.update(job.id, extra={**fresh.extra, "variation": {**group, "index": jobs.index(job)}})
    text, blocks = await render_summary(services.store, group)
    await services.client.chat_update(channel=group["channel"], ts=group["summary_ts"], text=text, blocks=blocks)
    return jobs


async def pick(services: Services, job_id: str, user_id: str, respond, *, click: str) -> None:
    """Mark the chosen variation (once per click), say so in the thread, re-render the summary."""
    job = await clicked_job(services, job_id, respond)
    if job is None or not await first_click(services, click):
        return
    group = group_of(job)
    job = await services.store.update(job.id, review_state=PICKED, reviewed_by=user_id, reviewed_at=time.time())
    services.notifier.refresh(job)
    if group is not None:
        index = int(job.extra.get("variation", {}).get("index", 0)) + 1
        text = f"⭐ Variation {index} (seed {seed_of(job)}) picked by {mention(user_id)}"
        await services.client.chat_postMessage(channel=group["channel"], thread_ts=group["summary_ts"],
                                               text=text, blocks=picked_message(job, text))
        text, blocks = await render_summary(services.store, group)
        await services.client.chat_update(channel=group["channel"], ts=group["summary_ts"], text=text,
                                          blocks=blocks)
