"""How long the bot keeps trying to post a finished video: until its link expires."""

from __future__ import annotations

from bot.jobs.models import Job
from bot.jobs.steps.deliver import video_expires_at

DAY = 24 * 3600


def _job(url: str, finished_at: float = 1_000_000.0) -> Job:
    return Job(id="j1", request={}, video_url=url, finished_at=finished_at)


def test_the_links_own_expires_wins_when_it_is_a_sane_time():
    oss = "https://bucket.oss-ap-southeast-1.aliyuncs.com/v.mp4?Expires=1003600&OSSAccessKeyId=x&Signature=y"
    assert video_expires_at(_job(oss), DAY, now=1_000_100.0) == 1_003_600.0


def test_without_a_stated_expiry_the_link_lasts_a_day_after_the_task_ended():
    assert video_expires_at(_job("https://gw.example/v.mp4"), DAY, now=1_000_100.0) == 1_000_000.0 + DAY
    # A duration (not an epoch) or garbage in Expires= is not taken for a time.
    for odd in ("?Expires=3600", "?Expires=soon", "?Expires=99999999999"):
        assert video_expires_at(_job("https://gw.example/v.mp4" + odd), DAY, now=0.0) == 1_000_000.0 + DAY
