"""The triage report's Block Kit: content, Slack's limits, and redaction."""

from __future__ import annotations

import json

from bot.slack.blocks.triage import (
    MAX_BLOCKS,
    POST_REPLY_ACTION,
    SECTION_MAX,
    triage_report,
    verdict_label,
)
from bot.triage.report import Evidence, TriageResult


def result(**changes) -> TriageResult:
    values = dict(
        verdict="refund_due", confidence=0.9,
        evidence=[Evidence("line 3", 3, None, "task_abc123 status=FAILURE"), Evidence("row 77", None, "77", "quota 1000000")],
        amount_usd=2.0, task_ids=["task_abc123"], model="wan2.6-t2v", stuck=False, conflicts=[],
        next_step="Refund $2.00 for task task_abc123.", reply="Thank you. We are refunding $2.00.", language="en",
    )
    values.update(changes)
    return TriageResult(**values)


def all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def check_limits(blocks) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_MAX
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert all(len(e["text"]) <= 2000 for e in block["elements"])
        if block["type"] == "actions":
            assert all(len(e["value"]) <= 2000 for e in block["elements"])


def test_report_content():
    text, blocks = triage_report(result(), source="pasted text", reply_ref='{"r": "abc"}')
    shown = all_text(blocks)
    assert "Refund due" in text and "refund_due" in text and "$2.00" in text
    for expected in ("Refund due", "`refund_due`", "0.90 (high)", "$2.00", "task_abc123", "wan2.6-t2v",
                     "[line 3] task_abc123 status=FAILURE", "[row 77]", "Next step", "We are refunding $2.00",
                     "pasted text"):
        assert expected in shown, expected
    button = blocks[-2]["elements"][0]
    assert button["action_id"] == POST_REPLY_ACTION and button["value"] == '{"r": "abc"}'
    check_limits(blocks)


def test_no_button_without_a_source_message():
    _, blocks = triage_report(result(), source="pasted text")
    assert POST_REPLY_ACTION not in all_text(blocks)


def test_stuck_conflicts_and_notes():
    _, blocks = triage_report(result(verdict="task_in_progress", stuck=True, conflicts=["refund row and FAILURE"],
                                     notes=["input too large"]), source="x")
    shown = all_text(blocks)
    assert "STUCK" in shown and "refund row and FAILURE" in shown and "input too large" in shown
    assert verdict_label("task_in_progress") in shown


def test_huge_evidence_and_reply_stay_within_limits():
    evidence = [Evidence(f"line {i}", i, None, "x" * 5000 + "<&>") for i in range(1, 2000)]
    reply = "\n".join("word " * 300 for _ in range(40))
    text, blocks = triage_report(result(evidence=evidence, reply=reply, conflicts=["c" * 4000] * 10,
                                        notes=["n" * 3000], next_step="s" * 5000, task_ids=["t" * 300] * 50),
                                 source="s" * 5000, reply_ref="r")
    check_limits(blocks)
    assert "and 1974 more" in all_text(blocks)
    assert len(text) < 4000


def test_mrkdwn_is_escaped_and_code_fences_cannot_break_out():
    _, blocks = triage_report(result(evidence=[Evidence("line 1", 1, None, "<!channel> ``` &")]), source="x")
    shown = all_text(blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert "``` &" not in shown


def test_everything_is_redacted():
    secret_key = "sk-abcdef1234567890ABCDEF"
    slack_token = "xoxb-1234567890-0987654321-AbCdEfGh"
    r = result(evidence=[Evidence("line 1", 1, None, f"Authorization: Bearer {secret_key}")],
               reply=f"key {secret_key}", next_step=f"token {slack_token}", model=secret_key,
               conflicts=[slack_token])
    text, blocks = triage_report(r, source=f"pasted {slack_token}")
    shown = all_text(blocks) + text
    assert "abcdef1234567890" not in shown and "0987654321" not in shown
    assert "****" in shown


def test_chinese_reply_labelled():
    _, blocks = triage_report(result(language="zh", reply="感谢您的反馈。"), source="x")
    assert "(Chinese)" in all_text(blocks) and "感谢您的反馈" in all_text(blocks)


def test_bare_task_id():
    from bot.slack.triage.run import bare_task_id

    assert bare_task_id(" vt_1a2b3c4d5e6f ") == "vt_1a2b3c4d5e6f"
    assert bare_task_id("`task_abc123`") == "task_abc123"
    assert bare_task_id("0f8fad5b-d9cb-469f-a165-70867728950e") == "0f8fad5b-d9cb-469f-a165-70867728950e"
    for text in ("wan2.6-t2v", "invalid_apitype:-1", "hello", "task failed 123", "abcdefgh"):
        assert bare_task_id(text) is None, text
