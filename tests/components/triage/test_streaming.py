"""The streaming path (used above 8 MB) decides like the whole-text path on line-oriented inputs."""

import io
import json

import pytest

from bot.triage import readers
from bot.triage.readers import Filter, read_stream, read_text
from bot.triage.rules import Options, decide

from .conftest import CASES, CORPUS, NOW

LINE_ORIENTED = [c for c in CASES if c["file"].endswith((".jsonl", ".log", ".csv")) and "lookup" not in c]


@pytest.fixture
def tiny_buffers(monkeypatch):
    monkeypatch.setattr(readers, "SMALL_BYTES", 64)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 97)  # odd size: lines straddle every block boundary
    # above any one corpus row (a new-api row with its `other` JSON runs past 500 bytes), below a one-line export
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1024)


@pytest.mark.parametrize("case", LINE_ORIENTED, ids=[c["file"] for c in LINE_ORIENTED])
@pytest.mark.usefixtures("tiny_buffers")
def test_streamed_corpus_case_same_verdict(case):
    data = (CORPUS / case["file"]).read_bytes()
    flt = Filter(task_id=case.get("task"))
    streamed = decide(read_stream(io.BytesIO(data), flt).records, Options(), NOW, flt.task_id)
    whole = decide(read_text(data.decode(), flt).records, Options(), NOW, flt.task_id)
    assert streamed.verdict == whole.verdict == case["verdict"]
    assert streamed.amount_usd == whole.amount_usd
    assert [r.line for r in streamed.evidence] == [r.line for r in whole.evidence]


@pytest.mark.usefixtures("tiny_buffers")
def test_one_line_json_export_is_split_between_rows():
    rows = [{"id": i, "type": 2, "model_name": "gpt-4o", "quota": 10, "prompt_tokens": 5, "completion_tokens": 5,
             "other": "{}"} for i in range(40)]
    rows.insert(20, {"id": 99, "type": 2, "model_name": "wan2.6-t2v", "quota": 500000, "prompt_tokens": 0,
                     "completion_tokens": 0, "other": json.dumps({"is_task": True, "task_id": "task_oneline1"})})
    rows.append({"task_id": "task_oneline1", "platform": "wan", "status": "FAILURE", "quota": 500000})
    data = json.dumps(rows, separators=(",", ":")).encode()
    flt = Filter(task_id="task_oneline1")
    d = decide(read_stream(io.BytesIO(data), flt).records, Options(), NOW, flt.task_id)
    assert (d.verdict, d.amount_usd) == ("refund_due", 1.0)


@pytest.mark.usefixtures("tiny_buffers")
def test_model_filter_prefilter_keeps_refund_lines():
    lines = [
        json.dumps({"id": 1, "type": 2, "model_name": "Wan2.6-T2V", "quota": 500000, "prompt_tokens": 0,
                    "completion_tokens": 0, "other": json.dumps({"is_task": True, "task_id": "task_m1aaaa"})}),
        json.dumps({"id": 2, "type": 2, "model_name": "gpt-4o", "quota": 10, "prompt_tokens": 5,
                    "completion_tokens": 5, "other": "{}"}),
        "2025/11/24 [SYS] Video async task failed task_m1aaaa, refund 500000",
    ]
    data = ("\n".join(lines * 3) + "\n").encode()
    records = read_stream(io.BytesIO(data), Filter(model="wan*")).records
    assert {r.model for r in records if r.model} == {"Wan2.6-T2V"}
    assert decide(records, Options(), NOW).verdict == "already_refunded"
