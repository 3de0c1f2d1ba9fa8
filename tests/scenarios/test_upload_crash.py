"""Issue 14 item 19c: a crash while `files.completeUploadExternal` is on the wire, then a restart, posts
the video once. Slack shares an uploaded file into the thread some time after the call (the stand-in's
`share_delay`), so the restarted process cannot see the first share yet when it looks; it must know the
file it uploaded (stored before the share was asked for) instead of uploading a second one."""

from __future__ import annotations

import asyncio
import signal
import time

from bot.devslack import SlackSender, SlackStandIn
from tests.support.backends import store_location, wanbot_db  # noqa: F401  (on both backends)
from tests.support.processes import Bot, free_port, read_jobs, serve_env, shut

CHANNEL = "C0DEV"
SHARE_DELAY = 15.0  # longer than a restart takes on a loaded machine


async def test_a_crash_during_the_upload_completion_then_a_restart_posts_the_video_once(tmp_path, simulator,
                                                                                       wanbot_db):  # noqa: F811
    standin = await SlackStandIn(share_delay=SHARE_DELAY).start()
    standin.add_channel(CHANNEL, "general")
    standin.slow("files.completeUploadExternal", 2.0)  # the crash comes while the call is on the wire
    db = wanbot_db
    bot = Bot(serve_env(standin, simulator, db), free_port(), tmp_path)
    sender = SlackSender(f"http://127.0.0.1:{bot.port}", standin.signing_secret, standin=standin, timeout=5)
    try:
        await bot.start()
        assert (await sender.slash_command("t2v a paper boat --duration 2")).status == 200
        deadline = time.monotonic() + 30
        while not [c for c in standin.calls("upload") if c.response.get("ok")]:  # the bytes are in
            assert time.monotonic() < deadline, "the video was never uploaded"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # files.completeUploadExternal is now on the wire (answered after 2 s)
        bot.proc.send_signal(signal.SIGKILL)
        await bot.proc.wait()

        await bot.start()
        deadline = time.monotonic() + 60
        while [row["state"] for row in read_jobs(db)] != ["delivered"]:
            assert time.monotonic() < deadline, [dict(r) for r in read_jobs(db)]
            await asyncio.sleep(0.1)
        standin.land_shares()  # the restarted process has delivered: the first share may land now
        while standin._pending:  # every share asked for has landed
            assert time.monotonic() < deadline + SHARE_DELAY, "shares never landed"
            await asyncio.sleep(0.1)
    finally:
        await shut(bot, sender, standin)

    (row,) = read_jobs(db)
    card = next(m for m in standin.messages(CHANNEL) if row["id"] in m.get("text", ""))
    thread = standin.messages(CHANNEL, card["ts"])
    videos = [f for m in thread for f in m.get("files") or [] if f.get("name") == f"wanbot-{row['id']}.mp4"]
    assert len(videos) == 1, [m.get("subtype") for m in thread]
    reviews = [m for m in thread if (m.get("metadata") or {}).get("event_type") == "wanbot_video"]
    assert len(reviews) == 1
