"""Every corpus case through the engine: the verdict, amount and details it must get."""

import math

import pytest

from bot.triage import triage, triage_file
from bot.wan.task import Task, TaskStatus

from .conftest import CASES, CORPUS, NOW, SECRET_RE

_results: dict[str, bool] = {}


def _lookup_for(case):
    spec = case.get("lookup")
    if not spec:
        return None
    task = Task(**{**spec, "status": TaskStatus(spec["status"])})

    async def lookup(task_id):
        return task if task_id == task.id else None

    return lookup


async def _run(case):
    # "now": the complaint's time; null in a case means none is known (the input's own times decide)
    # "message": the Slack message the file was attached to (the shortcut triages both together)
    message = case.get("message")
    return await triage(texts=[message] if message else [], paths=[CORPUS / case["file"]], task_id=case.get("task"),
                        lookup=_lookup_for(case), now=case.get("now", NOW))


def _check(case, result):
    assert result.verdict == case["verdict"], result.next_step
    expected = case.get("amount_usd")
    if expected is None:
        assert result.amount_usd is None
    else:
        assert result.amount_usd is not None and math.isclose(result.amount_usd, expected, abs_tol=1e-6)
    if "task_ids" in case:
        assert result.task_ids == case["task_ids"]
    if "language" in case:
        assert result.language == case["language"]
    if "stuck" in case:
        assert result.stuck is case["stuck"]
    if "model" in case:
        assert result.model == case["model"]
    assert bool(result.conflicts) is case.get("conflicts", False), result.conflicts
    if "max_confidence" in case:
        assert result.confidence <= case["max_confidence"]
    assert result.reply and result.next_step
    for text in case.get("reply_has", []):
        assert text in result.reply, result.reply
    for text in case.get("reply_lacks", []):
        assert text not in result.reply, result.reply
    for text in case.get("evidence_lacks", []):
        assert not any(text in e.text for e in result.evidence), result.evidence
    if "tasks" in case:
        got = {t["task_id"]: [t["verdict"], t["due_usd"]] for t in result.tasks}
        assert got == case["tasks"], result.tasks
    if result.verdict != "needs_more_info":
        assert result.evidence, "a verdict must show what decided it"


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
async def test_corpus_case(case):
    result = await _run(case)
    _results[case["file"]] = False
    _check(case, result)
    _results[case["file"]] = True
    output = result.to_json()
    assert not SECRET_RE.search(output), SECRET_RE.search(output)
    for secret in case.get("secrets", []):
        assert secret not in output


def test_corpus_covers_every_verdict_and_format():
    verdicts = {c["verdict"] for c in CASES}
    assert verdicts == {"misrouted_chat_api", "refund_due", "already_refunded", "task_in_progress", "not_charged",
                        "needs_more_info", "task_succeeded"}
    suffixes = {c["file"].rsplit(".", 1)[1] for c in CASES}
    assert {"json", "jsonl", "csv", "txt", "log"} <= suffixes
    assert len(CASES) >= 30


def test_report_accuracy():
    """Printed with -s: the accuracy figure quoted in the closing note."""
    if _results:
        right = sum(_results.values())
        print(f"\ntriage corpus accuracy: {right}/{len(_results)} = {right / len(_results):.0%}")


async def test_a_broken_lookup_never_breaks_triage():
    async def lookup(task_id):
        raise ConnectionError("gateway down, key sk-shouldnotleak123")

    result = await triage_file(CORPUS / "needs_info_charge_no_status.json", lookup=lookup, now=NOW)
    assert result.verdict == "needs_more_info" and result.amount_usd == 3.2
    assert any("look-up" in n for n in result.notes)
    assert "sk-shouldnotleak123" not in result.to_json()


async def test_replies_link_the_task_api_docs_only_when_configured(make_settings):
    from bot.triage import triage_text

    text = "POST /v1/chat/completions model=wan2.6-t2v -> invalid apitype: -1, prompt_tokens: 1204"
    plain = await triage_text(text, settings=make_settings())
    assert plain.verdict == "misrouted_chat_api" and "http" not in plain.reply
    linked = await triage_text(text, settings=make_settings(wanbot_task_api_docs_url="https://docs.acme.test/tasks"))
    assert "https://docs.acme.test/tasks" in linked.reply


async def test_extra_media_model_patterns_come_from_settings(make_settings):
    from bot.triage import triage_text

    text = "model=acme-moviemaker-pro prompt_tokens: 900 completion_tokens: 20"
    assert (await triage_text(text, settings=make_settings())).verdict == "needs_more_info"
    result = await triage_text(text, settings=make_settings(wanbot_triage_media_models="acme-movie*"))
    assert result.verdict == "misrouted_chat_api"


async def test_refunds_due_rows_are_per_task():
    """The rows behind `/wan spend team`'s refunds-due CSV: each failed task with its own amount, not the total."""
    case = next(c for c in CASES if c["file"] == "c8_en_three_unnamed.jsonl")
    result = await _run(case)
    assert {r["task_id"]: r["amount_usd"] for r in result.refunds} == {
        t: due for t, (verdict, due) in case["tasks"].items() if verdict == "refund_due"}
    assert "total due $4.70" in result.next_step


async def test_settlement_log_line_returns_and_is_counted_once():
    """RecalculateTaskQuota's log line: a negative delta returns money; with its log row in view too, once."""
    from bot.triage import triage_text

    tid = "task_" + "SettleNeg" + "0" * 23
    consume = ('{"id": 1, "created_at": 1764000000, "type": 2, "model_name": "doubao-seedance-2-0-260128", '
               '"quota": 1000000, "prompt_tokens": 0, "completion_tokens": 0, "other": "{\\"is_task\\":true}"}')
    done = f"[INFO] 2025/11/24 - 16:06:50 | SYSTEM | task {tid} update status: IN_PROGRESS -> SUCCESS"
    line = (f"[INFO] 2025/11/24 - 16:06:50 | SYSTEM | 任务 {tid} 差额结算：delta=＄-0.400000 额度"
            "（实际：＄1.600000 额度，预扣：＄2.000000 额度，adaptor计费调整）")
    row = ('{"id": 2, "created_at": 1764000410, "type": 6, "content": "adaptor计费调整", '
           '"model_name": "doubao-seedance-2-0-260128", "quota": 200000, "prompt_tokens": 0, "completion_tokens": 0, '
           f'"other": "{{\\"task_id\\":\\"{tid}\\",\\"pre_consumed_quota\\":1000000,\\"actual_quota\\":800000}}"}}')
    alone = await triage_text("\n".join([consume, done, line]), now=NOW)
    assert (alone.verdict, alone.amount_usd) == ("task_succeeded", 1.6)
    both = await triage_text("\n".join([consume, done, line, row]), now=NOW)
    assert (both.verdict, both.amount_usd) == ("task_succeeded", 1.6)
