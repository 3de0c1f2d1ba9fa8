"""An attached image (a data: URI of up to 13 MB) is kept beside the job row, on both backends: lists
never read it, the submit gets it back whole, and it is pruned a day after the job ends."""

from __future__ import annotations

import base64
import json
import os
import time

from bot.jobs.attachments import KEEP_AFTER_END_SECONDS
from bot.jobs.models import Job, JobState

IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(3 * 1024 * 1024)).decode()


def _i2v(job_id: str, image: str = IMAGE, **kw) -> Job:
    return Job(id=job_id, request={"model": "wan2-6", "mode": "image-to-video",
                                   "input": {"prompt": "the cat waves", "duration": 5, "image_url": image}},
               estimated_cost_usd=0.5, **kw)


async def test_the_job_row_and_every_list_hold_a_stub_and_the_submit_gets_the_image(store):
    await store.create_job(_i2v("j1", user_id="U1"))
    longest = (await store.db.fetch("SELECT MAX(LENGTH(request)) FROM jobs"))[0][0]
    assert longest < 500
    for job in [await store.get_job("j1"), *(await store.list_jobs(user_id="U1")),
                *(await store.unfinished_jobs()),
                await store.transition("j1", JobState.SUBMITTED, expect=[JobState.PENDING])]:
        shown = job.request["input"]["image_url"]
        assert shown == "attachment:image/png;bytes=3145736" and len(json.dumps(job.request)) < 500
        assert (await store.full_request(job))["input"]["image_url"] == IMAGE


async def test_a_small_data_uri_and_an_https_image_stay_in_the_row(store):
    tiny = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    await store.create_job(_i2v("j1", image=tiny))
    await store.create_job(_i2v("j2", image="https://example.com/cat.png"))
    assert (await store.get_job("j1")).request["input"]["image_url"] == tiny
    assert (await store.get_job("j2")).request["input"]["image_url"] == "https://example.com/cat.png"
    assert (await store.db.fetch("SELECT COUNT(*) FROM job_attachments"))[0][0] == 0


async def test_pruned_a_day_after_the_end_and_never_while_the_job_lives(store):
    await store.create_job(_i2v("ended"))
    await store.create_job(_i2v("alive"))
    await store.create_job(_i2v("discarded"))
    await store.transition("ended", JobState.FAILED, finished_at=time.time() - 10)
    assert await store.discard_job("discarded")  # its attachment goes with it
    assert (await store.db.fetch("SELECT COUNT(*) FROM job_attachments"))[0][0] == 2

    assert await store.prune_attachments() == 0  # ended 10 s ago: Re-run and Tweak still work
    later = time.time() + KEEP_AFTER_END_SECONDS
    assert await store.prune_attachments(now=later) == 1
    assert await store.full_request(await store.get_job("ended")) is None  # gone: callers say so
    assert (await store.full_request(await store.get_job("alive")))["input"]["image_url"] == IMAGE
    # A new attachment prunes what is due (the table only grows there).
    await store.transition("alive", JobState.DELIVERED, finished_at=time.time() - KEEP_AFTER_END_SECONDS - 1)
    await store.create_job(_i2v("next"))
    assert [r[0] for r in await store.db.fetch("SELECT job_id FROM job_attachments")] == ["next"]
