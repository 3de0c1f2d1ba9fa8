"""A request valid for the model but not for the configured gateway never leaves: the form says why."""

import json

from bot.wan.formats import DashScopeFormat
from bot.wan.request import Mode
from tests.support.world import ANA, CHANNEL


async def test_dashscope_r2v_over_ten_seconds_opens_the_form_with_the_reason(world, simulator):
    world.services.gateway.format = DashScopeFormat({mode: "wan2.6-r2v" for mode in Mode})
    await world.sender.slash_command("r2v a dancer --reference https://example.com/a.png --duration 12",
                                     user_id=ANA, channel_id=CHANNEL)
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    assert "DashScope" in json.dumps(view) and "duration" in json.dumps(view)
    assert await world.services.store.list_jobs() == []
    assert simulator.stats.requests == []
