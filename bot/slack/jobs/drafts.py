"""Draft, then final: `--draft` renders with the cheap settings (WANBOT_DRAFT) and a pinned seed;
the draft video's Final button renders the same request and seed at WANBOT_FINAL's settings, in the
same thread, its cost shown on the button's confirm dialog (operations.md, "The Slack surface")."""

from __future__ import annotations

from typing import Any

from bot.jobs.models import Job
from bot.slack import grammar
from bot.slack.jobs.clicks import first_click
from bot.slack.jobs.review import clicked_job
from bot.slack.jobs.start import start_job
from bot.slack.services import Services
from bot.wan.profiles import draft_request, final_request
from bot.wan.request import VideoRequest


def _carries(services: Services, req: VideoRequest) -> tuple[str, ...]:
    return services.gateway.format.carries(req.mode)


def final_of(services: Services, request: VideoRequest) -> VideoRequest:
    settings = services.settings
    return final_request(request, settings.draft_profile(), settings.final_profile(),
                         carries=_carries(services, request))


def draft_command(services: Services, parsed: grammar.Generate, *,
                  variations: int = 1) -> tuple[grammar.Generate, dict[str, Any]]:
    """The drafted command, and what its job keeps for the Final button (the final's estimate)."""
    request = draft_request(parsed.request, services.settings.draft_profile(),
                            carries=_carries(services, parsed.request))
    final_usd = services.settings.pricing().estimate(final_of(services, request))
    return grammar.Generate(request, variations=variations), {"draft": {"final_usd": final_usd}}


async def final(services: Services, job_id: str, user_id: str, respond, *, click: str) -> Job | None:
    """Start the final render of a draft, once per click, in the draft's thread."""
    job = await clicked_job(services, job_id, respond)
    if job is None:
        return None
    if not await first_click(services, click):
        await respond(text="You already clicked Final on this video: one job per click.",
                      response_type="ephemeral", replace_original=False)
        return None
    request = final_of(services, VideoRequest.model_validate(job.request))
    if problems := services.gateway.format.check(request):
        why = "; ".join(f"{p.field}: {p.message}" for p in problems)
        await respond(text=f"The final settings cannot be sent to this gateway: {why}",
                      response_type="ephemeral", replace_original=False)
        return None
    return await start_job(services, request, user_id=user_id, channel_id=job.channel_id,
                           thread_ts=job.thread_ts or job.message_ts, respond=respond, request_key=click,
                           extra={"final_of": job.id})
