"""The card and the video message show the estimate beside a bill more than 1 % off it."""

from bot.jobs.models import DeliveryState, Job, JobState
from bot.slack.blocks.card import job_card, video_message
from bot.wan.request import build_request


def done_job(**extra) -> Job:
    request = build_request("t2v", {"prompt": "a fox", "duration": 4, "resolution": "1080P"}).body()
    return Job(id="j1", request=request, state=JobState.DELIVERED, origin="slack", user_id="U1", channel_id="C1",
               created_at=1.0, finished_at=9.0, estimated_cost_usd=0.6, billed_cost_usd=0.24, billed_seconds=4,
               delivery_state=DeliveryState.POSTED, extra=extra)


def text_of(blocks) -> str:
    return str(blocks)


def test_a_bill_off_the_estimate_shows_both_on_the_card_and_the_video_message():
    job = done_job(bill_differs={"estimated_usd": 0.6, "billed_usd": 0.24, "percent": -60.0})
    text, blocks = video_message(job)
    assert "billed $0.24 for 4 s (estimated $0.60, -60 %)" in text_of(blocks)
    assert "(estimated $0.60, -60 %)" in text_of(job_card(job, now=10.0))


def test_a_bill_that_matches_the_estimate_shows_the_bill_alone():
    text, blocks = video_message(done_job())
    assert "billed $0.24 for 4 s" in text_of(blocks) and "estimated $0.60," not in text_of(blocks)
