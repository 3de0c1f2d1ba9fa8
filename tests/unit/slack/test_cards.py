"""The job card and thread messages: what the channel sees in every state, within Slack's limits."""

import json

import pytest

from bot.jobs.models import DeliveryState, Job, JobState
from bot.slack.blocks.card import (
    CANCEL_ACTION,
    REVIEW_ACTIONS,
    job_card,
    link_fallback_message,
    status_message,
    video_message,
)
from bot.slack.blocks.messages import api_request_message, jobs_list, spend_message
from bot.slack.blocks.mrkdwn import clip_escaped, elapsed
from bot.wan.request import Mode, build_request
from tests.support.blockkit import check_blocks

NOW = 1_764_000_000.0
EVIL = "<&>" * 700  # a 2100-character prompt of the characters Slack makes us escape


def make_job(state=JobState.RUNNING, mode=Mode.TEXT_TO_VIDEO, prompt="a red fox in snow", **kw) -> Job:
    fields = {
        Mode.TEXT_TO_VIDEO: {"prompt": prompt[:2000], "duration": 8, "ratio": "9:16", "seed": 7,
                             "negative_prompt": "blur"},
        Mode.IMAGE_TO_VIDEO: {"prompt": prompt[:2000], "image_url": "https://example.com/a.png",
                              "camera_motion": "zoom_in", "strength": 0.6},
        Mode.R2V: {"prompt": prompt[:2000], "reference_url": [f"https://example.com/{i}.png" for i in range(5)]},
        Mode.VIDEO_EDIT: {"instruction": prompt[:2000], "video_url": "https://example.com/v.mp4",
                          "edit_region": "the sky", "output_quality": "high"},
    }[mode]
    defaults = dict(id="j_8f3a2c", request=build_request(mode, fields).body(), state=state, origin="slack",
                    user_id="U0ANA", channel_id="C0TEAM", created_at=NOW - 100, submitted_at=NOW - 90,
                    started_at=NOW - 72, estimated_cost_usd=0.48)
    defaults.update(kw)
    return Job(**defaults)


def all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks):
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("mode", list(Mode))
def test_every_state_and_mode_renders_valid_blocks(state, mode):
    job = make_job(state, mode, billed_cost_usd=0.48, billed_seconds=8, error_code="InternalError",
                   error_message="boom", request_id="req_1", progress=40)
    text, blocks = job_card(job, now=NOW)
    check_blocks(blocks)
    assert text and len(text) < 400
    assert "<@U0ANA>" in all_text(blocks)
    assert "$0.48" in all_text(blocks)


def test_card_shows_mode_prompt_parameters_and_cost():
    _, blocks = job_card(make_job(JobState.QUEUED), now=NOW)
    text = all_text(blocks)
    for needle in ("Text to video (t2v)", "a red fox in snow", "8 s", "9:16", "Seed", "7", "$0.48",
                   "j_8f3a2c", "Queued"):
        assert needle in text


@pytest.mark.parametrize("state, needle", [
    (JobState.SUBMITTED, "Submitting"),
    (JobState.QUEUED, "Queued"),
    (JobState.SUCCEEDED, "billed $0.48"),
    (JobState.DELIVERED, "the video is in the thread"),
    (JobState.CANCELED, "Canceled"),
    (JobState.EXPIRED, "the video link expired"),
    (JobState.UNKNOWN, "an admin should check the gateway before re-running, to avoid paying twice"),
])
def test_status_line_per_state(state, needle):
    _, blocks = job_card(make_job(state, billed_cost_usd=0.48), now=NOW)
    assert needle in all_text(blocks)


def test_pending_says_how_many_are_ahead():
    assert "3 ahead" in all_text(job_card(make_job(JobState.PENDING), now=NOW, waiting_position=3)[1])
    assert "next in line" in all_text(job_card(make_job(JobState.PENDING), now=NOW, waiting_position=0)[1])
    assert "Pending" in all_text(job_card(make_job(JobState.PENDING), now=NOW)[1])


def test_running_shows_elapsed_time_and_a_progress_bar():
    text, blocks = job_card(make_job(JobState.RUNNING, progress=40), now=NOW)
    assert "1m 12s" in all_text(blocks)
    assert "████░░░░░░" in all_text(blocks) and "40%" in all_text(blocks)
    assert "40%" in text
    _, blocks = job_card(make_job(JobState.RUNNING, progress=None), now=NOW)
    assert "progress not reported" in all_text(blocks)


def test_failure_shows_reason_code_and_request_id():
    job = make_job(JobState.FAILED, error_code="InvalidParameter", error_message="duration out of range",
                   request_id="req_77")
    body = all_text(job_card(job, now=NOW)[1])
    assert "duration out of range" in body and "InvalidParameter" in body and "req_77" in body


@pytest.mark.parametrize("code, message", [
    ("DataInspectionFailed", "Input data may contain inappropriate content."),
    ("content_policy_violation", "rejected"),
    (None, "The prompt was flagged by the content policy"),
])
def test_content_policy_failures_are_said_plainly(code, message):
    job = make_job(JobState.FAILED, error_code=code, error_message=message, request_id="req_9")
    body = all_text(job_card(job, now=NOW)[1])
    assert "The gateway's content filter rejected this prompt" in body
    assert "req_9" in body


def test_cancel_button_only_while_in_flight():
    for state in JobState:
        _, blocks = job_card(make_job(state), now=NOW)
        cancel = [b for b in buttons(blocks) if b["action_id"] == CANCEL_ACTION]
        in_flight = state in (JobState.PENDING, JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING)
        assert bool(cancel) is in_flight, state
        if cancel:
            assert cancel[0]["value"] == "j_8f3a2c"
            assert cancel[0]["confirm"]["confirm"]["text"]


def test_review_state_is_shown_on_the_card():
    approved = make_job(JobState.DELIVERED, review_state="approved", reviewed_by="U0BOB")
    assert "✅ Approved by <@U0BOB>" in all_text(job_card(approved, now=NOW)[1])
    changes = make_job(JobState.DELIVERED, review_state="changes_requested", reviewed_by="U0BOB",
                       review_note="slower <camera>")
    assert "✏️ Changes requested by <@U0BOB>: slower &lt;camera&gt;" in all_text(job_card(changes, now=NOW)[1])


def test_prompt_is_escaped():
    _, blocks = job_card(make_job(prompt="a <b> & c"), now=NOW)
    assert "a &lt;b&gt; &amp; c" in blocks[0]["text"]["text"]


@pytest.mark.parametrize("mode", list(Mode))
def test_huge_prompt_of_special_characters_stays_within_limits(mode):
    job = make_job(JobState.FAILED, mode, prompt=EVIL, error_message=EVIL, error_code=EVIL[:300],
                   request_id=EVIL[:300], review_state="changes_requested", reviewed_by="U1", review_note=EVIL)
    for _, blocks in (job_card(job, now=NOW), video_message(job), status_message(job, NOW),
                         link_fallback_message(job, EVIL, EVIL), jobs_list([job] * 30, NOW)):
        check_blocks(blocks)
        body = all_text(blocks)
        assert "<&>" not in body  # never raw
        assert "&am…" not in body and "&l…" not in body  # never a split entity


def test_clip_escaped_never_splits_an_entity():
    for limit in range(1, 30):
        out = clip_escaped("&<>" * 10, limit)
        assert len(out) <= limit
        stripped = out.removesuffix("…")
        assert stripped.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "") == ""
    assert clip_escaped("abc", 3) == "abc"


def test_elapsed_is_human():
    assert elapsed(5) == "5s" and elapsed(72) == "1m 12s" and elapsed(120) == "2m" and elapsed(3725) == "1h 2m"


def test_video_message_has_the_review_buttons_and_billed_cost():
    text, blocks = video_message(make_job(JobState.DELIVERED, billed_cost_usd=0.48, billed_seconds=8))
    check_blocks(blocks)
    assert "$0.48" in text and "8 s" in all_text(blocks)
    found = {b["action_id"]: b for b in buttons(blocks)}
    assert set(found) == set(REVIEW_ACTIONS) == {"review_approve", "review_changes", "review_rerun",
                                                 "review_tweak", "review_show_api"}
    assert all(b["value"] == "j_8f3a2c" for b in found.values())


def test_link_fallback_gives_the_link_expiry_and_reason():
    job = make_job(JobState.DELIVERED, video_url="https://cdn.example.com/v.mp4?Expires=1&sig=a",
                   delivery_state=DeliveryState.LINK, billed_cost_usd=0.48)
    text, blocks = link_fallback_message(job, "the file is over 1 GB", "expires in about 24 h")
    check_blocks(blocks)
    body = blocks[0]["text"]["text"]
    assert "<https://cdn.example.com/v.mp4?Expires=1&amp;sig=a|Download the video>" in body
    assert "over 1 GB" in body and "expires in about 24 h" in body
    assert {b["action_id"] for b in buttons(blocks)} == set(REVIEW_ACTIONS)


def test_api_request_shows_exact_json_and_a_masked_curl():
    body = build_request(Mode.TEXT_TO_VIDEO, {"prompt": "a 'fox' & <hare>", "seed": 3}).body()
    headers = {"Authorization": "Bearer sk-live-SECRET", "Idempotency-Key": "j_1", "X-Api-Key": "SECRET2"}
    text, blocks = api_request_message("post", "https://gw.example.com/v1/video/generations", headers, body)
    check_blocks(blocks)
    dumped = all_text(blocks)
    assert "SECRET" not in dumped and "SECRET" not in text
    assert 'Authorization: Bearer $WAN_API_KEY' in dumped
    code = "".join(b["text"]["text"] for b in blocks[1:2])
    unescaped = code.strip("`").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert json.loads(unescaped) == body  # the exact body, recoverable
    assert "curl -X POST" in dumped and "Idempotency-Key: j_1" in dumped


def test_api_request_with_a_huge_body_is_split_not_cut():
    body = {"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": EVIL[:2000]}}
    _, blocks = api_request_message("POST", "https://gw.example.com/v1/video/generations", {}, body)
    check_blocks(blocks)
    json_blocks = []
    for block in blocks[1:]:
        if not block["text"]["text"].startswith("```"):
            break
        json_blocks.append(block["text"]["text"][3:-3])
    text = "".join(json_blocks).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert json.loads(text) == body


def test_jobs_list_and_empty_list():
    jobs = [make_job(state, id=f"j_{i}") for i, state in enumerate(JobState)]
    text, blocks = jobs_list(jobs, NOW)
    check_blocks(blocks)
    assert all(f"j_{i}" in all_text(blocks) for i in range(len(jobs)))
    _, blocks = jobs_list([], NOW)
    assert "no jobs yet" in all_text(blocks)


def test_status_message_has_no_buttons_and_points_at_the_card():
    _, blocks = status_message(make_job(JobState.RUNNING), NOW)
    check_blocks(blocks)
    assert not buttons(blocks)
    assert "<#C0TEAM>" in all_text(blocks)


def test_spend_message():
    text, blocks = spend_message(1.2, 10.5, daily_budget_usd=5)
    check_blocks(blocks)
    assert "$1.20" in text and "$10.50" in text and "$3.80 left" in all_text(blocks)
    _, blocks = spend_message(1, 2, team={"U1": 30.0, "U2": 50.0}, team_today_usd=3, team_month_usd=80)
    body = all_text(blocks)
    assert body.index("<@U2>") < body.index("<@U1>") and "$80.00" in body


def test_spend_message_shows_estimates_channels_and_refunds_due_for_admins():
    _, blocks = spend_message(0.3, 0.9, estimated_today_usd=0.6, estimated_month_usd=1.2,
                              team={"U1": 0.9}, team_today_usd=0.3, team_month_usd=0.9,
                              channels={"C1": 0.6, "C2": 0.3}, refunds_due=(2, 6.4))
    text = " ".join(b["text"]["text"] for b in blocks)
    assert "Estimated at submit: $0.60 today" in text
    assert text.index("<#C1>") < text.index("<#C2>")
    assert "Refunds due" in text and "2 · $6.40" in text


def test_a_cancel_the_gateway_cannot_carry_out_says_the_task_renders_on_and_is_billed():
    asked = {"cancel_requested": {"by": "U0ANA", "why": "the gateway has no cancel for this format"}}
    _, blocks = job_card(make_job(JobState.RUNNING, progress=40, extra=asked), now=NOW)
    text = all_text(blocks)
    assert "Cancel requested" in text and "will be billed" in text and "not be posted" in text
    assert "<@U0ANA>" in text
    assert not any(b["type"] == "actions" for b in blocks)  # no second Cancel button
    _, blocks = job_card(make_job(JobState.CANCELED, billed_cost_usd=0.18, extra=asked), now=NOW)
    assert "was billed $0.18" in all_text(blocks) and "not posted" in all_text(blocks)
