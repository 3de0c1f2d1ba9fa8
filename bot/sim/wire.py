"""Task answers in each wire format's own shape (gateway-api.md): status words, output, usage."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from bot.sim import validate
from bot.sim.state import RID, STATE, SimTask

STATUS_WORDS = {  # internal -> (unified, openai, dashscope)
    "queued": ("queued", "queued", "PENDING"),
    "running": ("running", "in_progress", "RUNNING"),
    "succeeded": ("succeeded", "completed", "SUCCEEDED"),
    "failed": ("failed", "failed", "FAILED"),
    "canceled": ("canceled", "cancelled", "CANCELED"),
    "expired": ("expired", "expired", "UNKNOWN"),
}
WIRES = ("unified", "openai", "dashscope")
FAIL_CODES = {"unified": "content_policy_violation", "openai": "content_policy_violation",
              "dashscope": "DataInspectionFailed"}
FAIL_MESSAGE = "The prompt or the generated video was flagged by content moderation (simulated)."
# The seed a finished task used: Model Studio's task answers list none, so where a gateway reports it
# is the simulator's choice (output.seed; top-level `seed` in the flat openai shape); the bot reads
# any of these places (bot.wan.formats._seed). `report_seed` off plays a gateway that never says.
NOMINAL_SIZE = {  # (ratio, tier) -> the exact size Wan 2.6 renders (Model Studio's size list)
    (ratio, tier): tuple(int(n) for n in size.split("*")) for size, (ratio, tier) in validate.EXACT_SIZES.items()}


def _word(status: str, wire: str) -> str:
    return STATUS_WORDS[status][WIRES.index(wire)]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _ds_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}"


def task_body(request: web.Request, task: SimTask, wire: str, poll: bool = True) -> dict[str, Any]:
    state = request.app[STATE]
    cfg = state.config
    status, progress = task.state(cfg, state.clock())
    word = _word(status, wire)
    if poll and cfg.chance(cfg.unknown_status_rate):
        state.stats.faults["unknown_status"] += 1
        word = "mystery"
    rid = request[RID]
    url = f"{_base(request)}/videos/{task.id}.mp4"
    cost = state.bill(task)
    if wire == "dashscope":
        output: dict[str, Any] = {"task_id": task.id, "task_status": word}
        body: dict[str, Any] = {"request_id": rid, "output": output}
        if not poll:
            return body
        output["submit_time"] = _ds_time(task.created_wall)
        if status == "succeeded":
            output.update(video_url=url, end_time=_ds_time(task.ended_wall), orig_prompt=task.prompt)
            if cfg.report_seed:
                output["seed"] = task.seed
            w, h = NOMINAL_SIZE[task.ratio, task.tier]
            body["usage"] = {"video_duration": task.duration, "video_count": 1, "video_ratio": f"{w}*{h}"}
        elif status == "failed":
            output.update(code=FAIL_CODES[wire], message=FAIL_MESSAGE, end_time=_ds_time(task.ended_wall))
        return body
    if wire == "openai":
        body = {"id": task.id, "object": "video", "model": task.model, "status": word, "progress": progress,
                "created_at": int(task.created_wall), "seconds": str(task.duration), "request_id": rid}
        if status == "succeeded":
            body.update(url=url, video_url=url,
                        usage={"billed_seconds": task.duration, "cost_usd": cost})
            if cfg.report_seed:
                body["seed"] = task.seed
        elif status == "failed":
            body.update(fail_reason=FAIL_MESSAGE, error={"code": FAIL_CODES[wire], "message": FAIL_MESSAGE})
        return body
    body = {"id": task.id, "status": word, "progress": progress, "created_at": int(task.created_wall),
            "request_id": rid}
    if not poll:
        del body["progress"]
        return body
    if status == "succeeded":
        w, h = NOMINAL_SIZE[task.ratio, task.tier]
        body["output"] = {"video_url": url, "duration": task.duration, "width": w, "height": h}
        if cfg.report_seed:
            body["output"]["seed"] = task.seed
        body["usage"] = {"billed_seconds": task.duration, "cost_usd": cost}
    elif status == "failed":
        body["error"] = {"code": FAIL_CODES[wire], "message": FAIL_MESSAGE}
    return body

