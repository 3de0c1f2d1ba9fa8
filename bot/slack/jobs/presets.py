"""Presets (issue 12 item 5): save an approved job's request under a name, shared by the workspace;
`/wan preset NAME [more prompt]` starts it again (the text is appended to its prompt), `/wan presets`
lists them, `/wan preset delete NAME` removes one (its author or an admin)."""

from __future__ import annotations

from bot.jobs import attachments
from bot.jobs.store.presets import Preset, PresetExists
from bot.slack.blocks.presets import check_name, presets_list, save_preset_modal
from bot.slack.jobs.clicks import first_click
from bot.slack.jobs.form import open_view
from bot.slack.jobs.handoff import preset_api
from bot.slack.jobs.review import clicked_job
from bot.slack.jobs.start import start_job
from bot.slack.services import Services
from bot.wan.profiles import with_more_prompt
from bot.wan.request import RequestInvalid, VideoRequest


def preset_request(preset: Preset, more: str = "") -> VideoRequest:
    """The preset's request, with `more` appended to its prompt."""
    return with_more_prompt(VideoRequest.model_validate(preset.request), more)


async def open_save(services: Services, job_id: str, trigger_id: str, respond) -> None:
    job = await clicked_job(services, job_id, respond)
    if job is None:
        return
    if job.review_state != "approved":
        await respond(text="Approve the video first: presets are made from approved videos.",
                      response_type="ephemeral", replace_original=False)
        return
    await open_view(services, trigger_id, save_preset_modal(job.id, prompt=job.prompt))


async def save(services: Services, job_id: str, name: str, user_id: str) -> str | None:
    """Save; the error to show on the form's name field, or None when saved."""
    if problem := check_name(name):
        return problem
    job = await services.store.get_job(job_id)
    if job is None:
        return f"Job {job_id} is gone."
    request = await services.store.full_request(job)  # an attached image read back, not its stub
    if request is None:
        return ("The image attached to this job is no longer kept (attachments last a day after a job "
                "ends): this video cannot become a preset.")
    try:
        await services.store.save_preset(name, request, created_by=user_id, source_job_id=job.id)
    except PresetExists:
        taken = await services.store.get_preset(name)
        return f"`{taken.name if taken else name}` already exists; pick another name."
    await services.client.chat_postMessage(
        channel=job.channel_id, thread_ts=job.thread_ts or job.message_ts,
        text=f"💾 Saved as preset `{name}` by <@{user_id}>. Run it with `/wan preset {name} [more prompt]`.")
    return None


async def run(services: Services, name: str, more: str, *, user_id: str, channel_id: str, respond,
              request_key: str | None, say, api: bool = False) -> None:
    """Start a job from the preset (more prompt appended); with `api`, show its request instead."""
    preset = await services.store.get_preset(name)
    if preset is None:
        await say(f"There is no preset `{name}`. `/wan presets` lists them.")
        return
    try:
        request = preset_request(preset, more)
    except RequestInvalid as exc:
        await say(f"Preset `{preset.name}` with that text is not a valid request: {exc}")
        return
    if problems := services.gateway.format.check(request):
        await say(f"Preset `{preset.name}` cannot be sent to this gateway: "
                  + "; ".join(f"{p.field}: {p.message}" for p in problems))
        return
    if api:
        await preset_api(services, request, preset.name, say)
        return
    job = await start_job(services, request, user_id=user_id, channel_id=channel_id, respond=respond,
                          request_key=request_key, extra={"preset": preset.name})
    if job is not None:
        await services.store.preset_used(preset.name)


async def list_answer(services: Services) -> tuple[str, list[dict]]:
    presets = await services.store.list_presets()
    pricing = services.settings.pricing()
    costs = {}
    for preset in presets:
        try:
            costs[preset.key] = pricing.estimate(VideoRequest.model_validate(attachments.for_pricing(preset.request)))
        except ValueError:
            continue
    return presets_list(presets, costs)


async def run_clicked(services: Services, name: str, *, user_id: str, channel_id: str, respond,
                      click: str) -> None:
    """▶️ Run under `/wan presets`: one job per click, however often it is clicked."""
    async def say(text: str, blocks: list[dict] | None = None) -> None:
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    if not await first_click(services, click):
        await say(f"You already clicked Run on `{name}` in this list: one job per click. "
                  f"`/wan preset {name}` runs it again.")
        return
    await run(services, name, "", user_id=user_id, channel_id=channel_id, respond=respond,
              request_key=click, say=say)


async def delete(services: Services, name: str, user_id: str) -> str:
    preset = await services.store.get_preset(name)
    if preset is None:
        return f"There is no preset `{name}`."
    if user_id != preset.created_by and user_id not in services.settings.wanbot_admin_users:
        return f"Only <@{preset.created_by}> (who saved it) or an admin can delete `{preset.name}`."
    await services.store.delete_preset(preset.name)
    return f"Deleted preset `{preset.name}`."
