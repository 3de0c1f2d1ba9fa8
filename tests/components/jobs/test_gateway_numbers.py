"""Numbers from the gateway are parsed defensively (issue 14 item 16): a 400-digit progress, a cost
of "-25", "inf" or NaN never fail a live paid job and never become negative or infinite spend.

A tiny gateway on loopback answers with the numbers under test; the real tracker, store and client run
against it and the job must end delivered with the cost the price table gives.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions
from bot.wan.client import GatewayClient
from bot.wan.formats import parse_task
from bot.wan.request import build_request
from tests.conftest import bounded

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 2048
HUGE = "9" * 400


def _gateway(running: str, usage: str):
    """Submit answers a task; polls answer `running` (raw JSON) twice, then succeeded with `usage`."""
    polls = {"n": 0}

    async def submit(request):
        return web.json_response({"id": "vt_n1", "status": "queued"})

    async def poll(request):
        polls["n"] += 1
        if polls["n"] <= 2:
            text = '{"id": "vt_n1", "status": "running", "progress": ' + running + "}"
        else:
            video = f"{request.scheme}://{request.host}/videos/vt_n1.mp4"
            text = ('{"id": "vt_n1", "status": "succeeded", "progress": 100, "output": {"video_url": "'
                    + video + '"}, "usage": ' + usage + "}")
        return web.Response(text=text, content_type="application/json")

    async def video(request):
        return web.Response(body=MP4, content_type="video/mp4")

    app = web.Application()
    app.router.add_post("/v1/video/generations", submit)
    app.router.add_get("/v1/video/generations/{id}", poll)
    app.router.add_get("/videos/{name}", video)
    return app, polls


@pytest.fixture
async def number_gateway(make_settings, recorder, tmp_path):
    started = []

    async def start(running: str, usage: str):
        app, polls = _gateway(running, usage)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        settings = make_settings(wan_api_base=base, wan_api_key="sk-numbers-123456")
        store = await JobStore.open(settings.wanbot_db)
        client = GatewayClient(settings)
        options = TrackerOptions.from_settings(settings, poll_min_interval=0.05, first_guess_seconds=0.1,
                                               download_dir=str(tmp_path))
        tracker = Tracker(store, client, recorder, options)
        await tracker.start()
        started.append((tracker, client, store, runner))
        return tracker, polls

    yield start
    for tracker, client, store, runner in started:
        await bounded(tracker.stop(grace=1), client.aclose(), store.close(), runner.cleanup())


@pytest.mark.parametrize("running, usage", [
    (HUGE, '{"billed_seconds": 5, "cost_usd": 0.3}'),            # OverflowError on float(int)
    ("-" + HUGE, '{"billed_seconds": 5, "cost_usd": 0.3}'),
    (f'"{HUGE}"', '{"billed_seconds": 5, "cost_usd": 0.3}'),
    ("1e999", '{"billed_seconds": 5, "cost_usd": 0.3}'),          # JSON's inf
    ("40", f'{{"billed_seconds": {HUGE}, "cost_usd": {HUGE}}}'),
])
async def test_absurd_numbers_never_fail_a_live_paid_job(number_gateway, recorder, running, usage):
    tracker, polls = await number_gateway(running, usage)
    job = await tracker.enqueue(build_request("t2v", {"prompt": "a fox", "duration": 5}))
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state is JobState.DELIVERED, (job.state, job.error_code, job.error_message)
    assert len(recorder.videos[job.id]) == 1
    assert job.billed_cost_usd is not None and 0 <= job.billed_cost_usd < 10


@pytest.mark.parametrize("cost", ['"-25"', "-25", '"inf"', '"-inf"', '"NaN"', "NaN", "Infinity", '"1e400"',
                                  HUGE, f'"{HUGE}"'])
async def test_a_negative_or_infinite_cost_is_ignored_and_the_price_table_used(number_gateway, cost):
    tracker, _ = await number_gateway("50", '{"billed_seconds": 5, "cost_usd": ' + cost + "}")
    job = await tracker.enqueue(build_request("t2v", {"prompt": "a fox", "duration": 5}))
    job = await asyncio.wait_for(tracker.wait_for(job.id), 20)
    assert job.state is JobState.DELIVERED
    # 5 billed seconds at the default $0.06: never negative spend (free budget) nor infinite
    assert job.billed_cost_usd == pytest.approx(0.30)


@pytest.mark.parametrize("field, value", [("progress", HUGE), ("progress", "1e999"),
                                          ("cost_usd", '"-25"'), ("billed_seconds", '"-3"')])
def test_out_of_range_numbers_are_logged(caplog, field, value):
    import json
    where = f'"usage": {{"{field}": {value}}}' if field != "progress" else f'"progress": {value}'
    body = json.loads('{"id": "t", "status": "running", ' + where + "}")
    with caplog.at_level("WARNING"):
        task = parse_task(body)
    assert getattr(task, field) is None
    assert any("out of range" in r.getMessage() for r in caplog.records)
