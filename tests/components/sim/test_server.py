"""The simulator over a real socket, driven with httpx as the bot would drive a gateway."""

import asyncio
import io
import json

import av
import httpx
import pytest

from bot.sim import SimConfig, Simulator, create_app
from bot.sim.video import CODEC, video_bytes

DS_SUBMIT = "/api/v1/services/aigc/video-generation/video-synthesis"
DS_ASYNC = {"X-DashScope-Async": "enable"}


def unified(mode="text-to-video", **fields):
    return {"model": "wan2-6", "mode": mode, "input": {"prompt": "a red fox", "duration": 3, **fields}}


async def poll_until_ended(client, path, status_of, ended, tries=100):
    for _ in range(tries):
        body = (await client.get(path)).json()
        if status_of(body) in ended:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"never ended: {body}")


async def assert_playable(client, url):
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    with av.open(io.BytesIO(response.content)) as container:
        assert next(container.decode(video=0)).width > 0


async def test_unified_happy_path(client):
    r = await client.post("/v1/video/generations", json=unified(seed=42, ratio="9:16"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "queued" and body["id"].startswith("vt_")
    assert body["request_id"] == r.headers["X-Request-Id"]
    seen = set()
    for _ in range(100):
        polled = (await client.get(f"/v1/video/generations/{body['id']}")).json()
        seen.add(polled["status"])
        if polled["status"] == "succeeded":
            break
        await asyncio.sleep(0.02)
    assert {"running", "succeeded"} <= seen
    assert polled["progress"] == 100
    assert polled["usage"] == {"billed_seconds": 3, "cost_usd": 0.18}
    assert polled["output"]["duration"] == 3 and polled["output"]["height"] > polled["output"]["width"]
    await assert_playable(client, polled["output"]["video_url"])


async def test_unified_cancel(client):
    task_id = (await client.post("/v1/video/generations", json=unified())).json()["id"]
    r = await client.post(f"/v1/video/generations/{task_id}/cancel")
    assert r.json()["status"] == "canceled"
    assert (await client.get(f"/v1/video/generations/{task_id}")).json()["status"] == "canceled"
    again = await client.post(f"/v1/video/generations/{task_id}/cancel")
    assert again.status_code == 409


@pytest.mark.parametrize("path", ["/v1/videos", "/v1/video/generations"])
async def test_openai_happy_path(client, path):
    body = {"model": "wan2.6-t2v", "prompt": "a blue whale", "duration": 4, "size": "1280*720",
            "metadata": {"input": {"negative_prompt": "blur"}, "parameters": {"seed": 7}}}
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    submitted = r.json()
    assert submitted["object"] == "video" and submitted["status"] == "queued" and submitted["progress"] == 0
    polled = await poll_until_ended(client, f"/v1/videos/{submitted['id']}", lambda b: b["status"], {"completed"})
    assert polled["url"] == polled["video_url"]
    # The generations path answers openai-submitted tasks in the openai shape too.
    assert (await client.get(f"/v1/video/generations/{submitted['id']}")).json()["status"] == "completed"
    await assert_playable(client, polled["url"])


async def test_openai_i2v_and_cancel(client):
    body = {"model": "wan2.6-i2v", "prompt": "zoom", "image": "https://example.com/cat.png"}
    task_id = (await client.post("/v1/videos", json=body)).json()["id"]
    assert (await client.post(f"/v1/videos/{task_id}/cancel")).json()["status"] == "cancelled"


async def test_dashscope_happy_path(client):
    body = {"model": "wan2.6-t2v", "input": {"prompt": "a green hill"},
            "parameters": {"size": "1280*720", "duration": 5, "seed": 3, "prompt_extend": True}}
    r = await client.post(DS_SUBMIT, json=body, headers=DS_ASYNC)
    assert r.status_code == 200, r.text
    submitted = r.json()
    assert submitted["output"]["task_status"] == "PENDING" and submitted["request_id"]
    task_id = submitted["output"]["task_id"]
    polled = await poll_until_ended(client, f"/api/v1/tasks/{task_id}", lambda b: b["output"]["task_status"],
                                    {"SUCCEEDED"})
    assert polled["usage"]["video_duration"] == 5 and polled["usage"]["video_count"] == 1
    await assert_playable(client, polled["output"]["video_url"])


async def test_dashscope_cancel_and_unknown(client):
    body = {"model": "wan2.6-r2v", "input": {"prompt": "p", "reference_urls": ["https://example.com/a.png"]},
            "parameters": {"duration": 4}}
    task_id = (await client.post(DS_SUBMIT, json=body, headers=DS_ASYNC)).json()["output"]["task_id"]
    assert (await client.post(f"/api/v1/tasks/{task_id}/cancel")).status_code == 200
    assert (await client.get(f"/api/v1/tasks/{task_id}")).json()["output"]["task_status"] == "CANCELED"
    unknown = (await client.get("/api/v1/tasks/nope")).json()
    assert unknown["output"]["task_status"] == "UNKNOWN"


async def test_dashscope_requires_async_header(client):
    body = {"model": "wan2.6-t2v", "input": {"prompt": "x"}}
    r = await client.post(DS_SUBMIT, json=body)
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidParameter" and "X-DashScope-Async" in r.json()["message"]
    assert r.json()["request_id"] == r.headers["X-Request-Id"]


async def test_wrong_key(sim):
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": "Bearer nope"}) as c:
        r = await c.post("/v1/video/generations", json=unified())
        assert r.status_code == 401
        err = r.json()["error"]
        assert err["type"] == "authentication_error" and err["code"] == "invalid_api_key"
        assert err["request_id"] == r.headers["X-Request-Id"]
        ds = await c.get("/api/v1/tasks/x")
        assert ds.status_code == 401 and ds.json()["code"] == "InvalidApiKey"
    assert sim.stats.tasks_created == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**unified(), "model": "wan2.6"}, "model"),
        ({**unified(), "mode": "text2video"}, "mode"),
        (unified(prompt=""), "input.prompt"),
        (unified(prompt="x" * 2001), "input.prompt"),
        (unified(duration=16), "input.duration"),
        (unified(duration=5.0), "input.duration"),
        (unified(seed=2147483648), "input.seed"),
        (unified(ratio="2:1"), "input.ratio"),
        (unified("image-to-video"), "input.image_url"),
        (unified("image-to-video", image_url="http://example.com/a.png"), "input.image_url"),
        (unified("image-to-video", image_url="https://127.0.0.1/a.png"), "input.image_url"),
        (unified("image-to-video", image_url="https://example.com/a.png", strength=1.5), "input.strength"),
        (unified("r2v"), "input.reference_url"),
        (unified("text-to-video", camera_motion="orbit"), "input.camera_motion"),
        ({"model": "wan2-6", "mode": "video-edit", "input": {"video_url": "https://e.com/v.mp4"}},
         "input.instruction"),
        ({"model": "wan2.6-t2v", "prompt": "  "}, "prompt"),
        ({"model": "wan2.6-i2v", "prompt": "p", "image": "ftp://e.com/a.png"}, "image"),
        ({"model": "sora-2", "prompt": "p"}, "model"),
    ],
)
async def test_validation_names_the_field(client, body, field):
    r = await client.post("/v1/video/generations", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == field
    assert err["message"].startswith(field)


async def test_dashscope_validation(client):
    body = {"model": "wan2.6-r2v", "input": {"prompt": "p", "reference_urls": ["https://e.com/a.png"]},
            "parameters": {"duration": 12}}
    r = await client.post(DS_SUBMIT, json=body, headers=DS_ASYNC)
    assert r.status_code == 400 and r.json()["message"].startswith("parameters.duration")
    edit = {"model": "wan2.1-vace-plus", "input": {"prompt": "p", "video_url": "https://e.com/v.mp4"}}
    r = await client.post(DS_SUBMIT, json=edit, headers=DS_ASYNC)
    assert r.status_code == 400 and r.json()["message"].startswith("input.function")


async def test_valid_edit_and_r2v_are_accepted(client):
    edit = {"model": "wan2-6", "mode": "video-edit", "input": {
        "video_url": "https://e.com/v.mp4", "instruction": "make it snow", "edit_region": "0,0,10,10",
        "output_quality": "high"}}
    assert (await client.post("/v1/video/generations", json=edit)).status_code == 200
    r2v = unified("r2v", reference_url=["https://e.com/a.png", "https://e.com/b.png"], strength=0.5)
    assert (await client.post("/v1/video/generations", json=r2v)).status_code == 200
    i2v = {"model": "wan2-6", "mode": "image-to-video", "input": {
        "prompt": "p", "image_url": "data:image/png;base64,iVBORw0KGgo=", "camera_motion": "orbit"}}
    assert (await client.post("/v1/video/generations", json=i2v)).status_code == 200


async def test_idempotency_key_returns_same_task(sim, client):
    headers = {"Idempotency-Key": "job-1"}
    first = (await client.post("/v1/video/generations", json=unified(), headers=headers)).json()
    second = (await client.post("/v1/video/generations", json=unified(), headers=headers)).json()
    assert first["id"] == second["id"]
    assert sim.stats.tasks_created == 1
    assert sim.stats.submits_by_key["job-1"] == 2
    assert sim.stats.tasks_by_key["job-1"] == first["id"]
    await client.get(f"/v1/video/generations/{first['id']}")
    assert sim.stats.polls[first["id"]] == 1
    assert [r.idempotency_key for r in sim.stats.requests[:2]] == ["job-1", "job-1"]


async def test_rate_429_share_and_retry_after(sim, client):
    sim.config.update({"rate_429": 0.5, "retry_after": 2, "seed": 5})
    statuses = []
    for _ in range(60):
        r = await client.get("/v1/video/generations/none")
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "2"
            assert r.json()["error"]["code"] == "rate_limit_exceeded"
    share = statuses.count(429) / len(statuses)
    assert 0.3 < share < 0.7
    assert sim.stats.faults["429"] == statuses.count(429)


async def test_dashscope_throttling(sim, client):
    sim.config.update({"rate_429": 1.0})
    r = await client.get("/api/v1/tasks/x")
    assert r.status_code == 429 and r.json()["code"] == "Throttling" and "Retry-After" in r.headers


async def test_5xx(sim, client):
    sim.config.update({"rate_5xx": 1.0})
    r = await client.post("/v1/video/generations", json=unified())
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert r.json()["error"]["request_id"] == r.headers["X-Request-Id"]
    assert sim.stats.tasks_created == 0


async def test_malformed_json_after_the_task_was_created(sim, client):
    sim.config.update({"malformed_rate": 1.0})
    r = await client.post("/v1/video/generations", json=unified(), headers={"Idempotency-Key": "k"})
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert sim.stats.tasks_created == 1  # the outcome is unknown to the client, not to the gateway


async def test_failed_task_shapes(client):
    t = (await client.post("/v1/video/generations", json=unified(prompt="a forbidden thing"))).json()["id"]
    body = await poll_until_ended(client, f"/v1/video/generations/{t}", lambda b: b["status"], {"failed"})
    assert body["error"]["code"] == "content_policy_violation" and body["error"]["message"]
    assert "usage" not in body

    o = (await client.post("/v1/videos", json={"model": "wan2.6-t2v", "prompt": "forbidden"})).json()["id"]
    body = await poll_until_ended(client, f"/v1/videos/{o}", lambda b: b["status"], {"failed"})
    assert body["fail_reason"] and "url" not in body

    ds = {"model": "wan2.6-t2v", "input": {"prompt": "forbidden"}}
    d = (await client.post(DS_SUBMIT, json=ds, headers=DS_ASYNC)).json()["output"]["task_id"]
    body = await poll_until_ended(client, f"/api/v1/tasks/{d}", lambda b: b["output"]["task_status"], {"FAILED"})
    assert body["output"]["code"] == "DataInspectionFailed" and body["output"]["message"]


async def test_unknown_status_never_finish_and_expiry(sim, client):
    sim.config.update({"never_finish": True})
    t = (await client.post("/v1/video/generations", json=unified())).json()["id"]
    await asyncio.sleep(0.4)
    assert (await client.get(f"/v1/video/generations/{t}")).json()["status"] == "running"
    sim.config.update({"unknown_status_rate": 1.0})
    assert (await client.get(f"/v1/video/generations/{t}")).json()["status"] == "mystery"
    sim.config.update({"unknown_status_rate": 0.0, "expire_after": 0.1})
    assert (await client.get(f"/v1/video/generations/{t}")).json()["status"] == "expired"


async def test_openai_expired_is_404(sim, client):
    sim.config.update({"expire_after": 0.05})
    t = (await client.post("/v1/videos", json={"model": "wan2.6-t2v", "prompt": "p"})).json()["id"]
    await asyncio.sleep(0.1)
    assert (await client.get(f"/v1/videos/{t}")).status_code == 404


async def test_video_modes(sim, client):
    sim.config.update({"queue_seconds": 0, "run_seconds": 0})
    t = (await client.post("/v1/video/generations", json=unified())).json()["id"]
    url = (await client.get(f"/v1/video/generations/{t}")).json()["output"]["video_url"]
    sim.config.update({"video_mode": "404"})
    assert (await client.get(url)).status_code == 404
    sim.config.update({"video_mode": "html"})
    assert (await client.get(url)).headers["content-type"].startswith("text/html")
    sim.config.update({"video_mode": "oversize", "oversize_bytes": 300_000})
    async with client.stream("GET", url) as r:
        assert int(r.headers["content-length"]) > 300_000
        first = await r.aiter_bytes().__anext__()
        assert first[4:8] == b"ftyp"
    sim.config.update({"oversize_content_length": False})
    r = await client.get(url)
    assert "content-length" not in r.headers and len(r.content) > 300_000


async def test_latency_and_hang(sim, client):
    sim.config.update({"hang_rate": 1.0, "hang_seconds": 5})
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1/video/generations/x", timeout=0.3)
    sim.config.update({"hang_rate": 0.0, "latency": 0.2})
    loop = asyncio.get_running_loop()
    start = loop.time()
    await client.get("/v1/video/generations/x")
    assert loop.time() - start >= 0.2


async def test_control_endpoints(sim, client):
    r = await client.post("/_sim/config", json={"fail_rate": 0.25, "never_finish": "true"})
    assert r.json()["fail_rate"] == 0.25 and sim.config.never_finish is True
    assert (await client.post("/_sim/config", json={"rate_429": 2})).status_code == 400
    assert (await client.post("/_sim/config", json={"nope": 1})).status_code == 400
    assert sim.config.rate_429 == 0.0
    await client.post("/v1/video/generations", json=unified())
    stats = (await client.get("/_sim/stats")).json()
    assert stats["tasks_created"] == 1 and len(stats["tasks"]) == 1
    assert stats["requests"][0]["path"] == "/v1/video/generations"
    await client.post("/_sim/reset")
    assert sim.stats.tasks_created == 0 and not sim.tasks


async def test_unknown_api_path_is_json_404(client):
    r = await client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["request_id"]
    chat = await client.post("/v1/chat/completions", json={"model": "wan2.6-t2v", "messages": []})
    assert chat.status_code == 400 and chat.json()["error"]["param"] == "model"


async def test_simulator_context_manager_and_create_app():
    assert create_app(SimConfig()) is not None
    async with Simulator() as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")


def test_video_is_real_mp4_and_cached():
    data = video_bytes("a cat")
    assert data is video_bytes("a cat")
    assert data != video_bytes("a dog")
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 12 and (frames[0].width, frames[0].height) == (160, 90)
    assert CODEC in ("libx264", "libopenh264", "mpeg4")


async def test_run_jitter_spreads_run_times_and_tasks_report_their_finish(sim, client):
    await client.post("/_sim/config", json={"run_seconds": 100.0, "run_jitter": 0.5})
    ids = [(await client.post("/v1/video/generations", json=unified(prompt=f"p{i}"))).json()["id"]
           for i in range(20)]
    await client.get(f"/v1/video/generations/{ids[0]}")
    tasks = (await client.get("/_sim/tasks")).json()
    runs = [tasks[i]["finishes_at"] - tasks[i]["created"] - sim.config.queue_seconds for i in ids]
    assert all(50 <= r <= 150 for r in runs)
    assert max(runs) - min(runs) > 20  # really spread, not one value
    assert tasks[ids[0]]["polls"] == 1 and tasks[ids[1]]["polls"] == 0
    assert tasks[ids[0]]["status"] in ("queued", "running")  # 100 s tasks have not ended
    bad = await client.post("/_sim/config", json={"run_jitter": 1.0})
    assert bad.status_code == 400 and "run_jitter" in bad.json()["error"]
