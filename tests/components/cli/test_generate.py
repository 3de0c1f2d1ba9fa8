"""`python -m bot generate` end to end against a running simulator, as a user runs it."""

import asyncio
import os
import sys
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[3]


async def _generate(args: list[str], env_extra: dict, cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "SLACK_", "WANBOT_"))}
    env.update({"PYTHONPATH": str(ROOT), **env_extra})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "generate", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_generate_saves_a_playable_mp4_and_prints_the_billed_cost(simulator, tmp_path):
    env = {"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key}
    code, out, err = await _generate(["--mode", "t2v", "--prompt", "a fox in snow", "--duration", "3",
                                      "--ratio", "9:16", "-o", "fox.mp4"], env, tmp_path)
    assert code == 0, err
    assert "billed $0.18" in out
    with av.open(str(tmp_path / "fox.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) >= 2
    assert frames[0].height > frames[0].width  # 9:16 was honoured


async def test_generate_rejects_bad_fields_before_any_request(simulator, tmp_path):
    env = {"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key}
    code, out, err = await _generate(["--mode", "i2v", "--prompt", "x", "--image", "http://10.0.0.1/a.png",
                                      "--duration", "20"], env, tmp_path)
    assert code == 2
    assert "image_url" in err and "duration" in err and "Traceback" not in err
    assert simulator.stats.requests == []


async def test_generate_reports_a_failed_task_in_one_line(simulator, tmp_path):
    env = {"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key}
    code, out, err = await _generate(["--prompt", "something forbidden"], env, tmp_path)
    assert code == 1
    assert "failed" in err.strip().splitlines()[-1]


async def test_generate_without_a_gateway_says_which_setting_is_missing(tmp_path):
    code, out, err = await _generate(["--prompt", "a fox"], {}, tmp_path)
    assert code == 2 and "WAN_API_BASE is not set" in err


async def test_a_gateway_limit_is_checked_before_anything_is_sent(simulator, tmp_path):
    # DashScope's r2v takes at most 10 s although the model page allows 15
    env = {"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key,
           "WAN_API_FORMAT": "dashscope"}
    code, out, err = await _generate(["--mode", "r2v", "--prompt", "a dancer", "--reference",
                                      "https://example.com/a.png", "--duration", "12"], env, tmp_path)
    assert code == 2 and "duration" in err and "DashScope" in err
    assert simulator.stats.requests == []


async def test_a_unicode_spelling_of_loopback_never_reaches_the_gateway(simulator, tmp_path):
    # Issue 14 item 8: fullwidth digits normalise (NFKC, as resolvers do) to 127.0.0.1
    env = {"WAN_API_BASE": simulator.base_url, "WAN_API_KEY": simulator.config.api_key}
    code, out, err = await _generate(["--mode", "i2v", "--prompt", "x", "--image", "https://１２７.０.０.１/a.png"],
                                     env, tmp_path)
    assert code == 2 and "image_url" in err and "Traceback" not in err
    assert simulator.stats.requests == []


async def test_generate_prints_the_gateways_error_text_redacted(tmp_path):
    # issue 14 item 13: a task that fails with a message echoing the key must not make `generate` print it
    from aiohttp import web

    async def submit(request):
        return web.json_response({"id": "vt_echo", "status": "queued"})

    async def poll(request):
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.json_response({"id": "vt_echo", "status": "failed",
                                  "error": {"code": "bad_key", "message": f"upstream refused key {key}"}})

    app = web.Application()
    app.router.add_post("/v1/video/generations", submit)
    app.router.add_get("/v1/video/generations/{id}", poll)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        code, out, err = await _generate(["--prompt", "a fox", "--duration", "2"],
                                         {"WAN_API_BASE": f"http://127.0.0.1:{port}",
                                          "WAN_API_KEY": "gw-planted-key-777777"}, tmp_path)
    finally:
        await runner.cleanup()
    assert code == 1 and "failed" in err
    assert "gw-planted-key-777777" not in out + err


async def test_credentials_inside_wan_api_base_neither_break_the_key_nor_get_printed(simulator, tmp_path):
    # Issue 14 item 13: the userinfo is left out of every URL; the key still goes as Bearer
    base = simulator.base_url.replace("http://", "http://wanuser:planted-base-pass-6666666@")
    env = {"WAN_API_BASE": base, "WAN_API_KEY": simulator.config.api_key, "LOG_LEVEL": "DEBUG"}
    code, out, err = await _generate(["--prompt", "a fox", "--duration", "2", "-o", "fox.mp4"], env, tmp_path)
    assert code == 0, err
    assert "planted-base-pass-6666666" not in out + err
    assert (tmp_path / "fox.mp4").stat().st_size > 0
