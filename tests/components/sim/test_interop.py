"""The bot's own encoders/decoders (bot.wan.formats) against the simulator's independent validator:
every mode in every wire format must be accepted and its finished task parsed back."""

import types

import httpx
import pytest

from bot.sim import SimConfig, Simulator
from bot.wan.formats import get_format
from bot.wan.request import build_request
from bot.wan.task import TaskStatus

SETTINGS = dict(wan_openai_path="/v1/video/generations", wan_model_t2v="wan2.6-t2v", wan_model_i2v="wan2.6-i2v",
                wan_model_r2v="wan2.6-r2v", wan_model_edit="wan2.1-vace-plus")
REQUESTS = [
    ("text-to-video", {"prompt": "a cat", "negative_prompt": "blur", "duration": 5, "ratio": "9:16", "seed": 4}),
    ("image-to-video", {"prompt": "a cat", "image_url": "https://example.com/a.png", "camera_motion": "orbit",
                        "strength": 0.4, "duration": 3}),
    ("r2v", {"prompt": "a cat", "reference_url": ["https://example.com/a.png", "https://example.com/b.png"],
             "strength": 0.4, "duration": 3, "seed": 1}),
    ("video-edit", {"instruction": "snow", "video_url": "https://example.com/v.mp4", "edit_region": "0,0,5,5",
                    "output_quality": "high", "duration": 4}),
]


@pytest.mark.parametrize("fmt_name", ["unified", "openai", "dashscope"])
@pytest.mark.parametrize(("mode", "fields"), REQUESTS)
async def test_bot_encoders_are_accepted(fmt_name, mode, fields):
    fmt = get_format(types.SimpleNamespace(wan_api_format=fmt_name, **SETTINGS))
    async with Simulator(SimConfig(queue_seconds=0, run_seconds=0)) as sim:
        headers = {"Authorization": f"Bearer {sim.config.api_key}"}
        async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as client:
            call = fmt.submit(build_request(mode, fields))
            r = await client.request(call.method, call.path, json=call.json, headers=call.headers)
            assert r.status_code == 200, r.text
            task = fmt.parse_submit(r.json())
            poll = fmt.poll(task.id)
            done = fmt.parse_poll((await client.request(poll.method, poll.path)).json(), task.id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.video_url.endswith(f"/videos/{task.id}.mp4")
    assert done.billed_seconds == fields["duration"]
