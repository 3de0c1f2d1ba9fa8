"""The whole-export prefilter: Hyperscan and the `re` fallback find the same lines, and a streamed
export with no task id keeps the rows that decide (issue 13, "whole exports at grep speed")."""

import io
import json

import pytest

from bot.triage import prefilter, readers
from bot.triage.prefilter import PatternMatcher, candidate_lines, whole_export_matcher
from bot.triage.readers import Filter, read_stream
from bot.triage.records import MEDIA_MODEL_PATTERNS
from bot.triage.rules import Options, decide

from .conftest import CORPUS

LINES = [
    b'{"id":1,"type":2,"model_name":"gpt-4o-mini","quota":12,"prompt_tokens":30,"completion_tokens":9,"other":""}',
    b'{"id":2,"type":2,"model_name":"Wan2.6-T2V","quota":6020,"prompt_tokens":1204,"completion_tokens":0}',
    b'{"id":3,"type":6,"model_name":"gpt-4o","quota":5,"other":"{\\"task_id\\":\\"x1\\"}"}',
    "[WARN] 2025/11/24 - 09:33:25 | SYSTEM | 退还资金来源失败 task abc12345: lock".encode(),
    b'{"id":4,"type":2,"model_name":"claude-3-5-haiku","quota":7,"prompt_tokens":3,"completion_tokens":1}',
    b"5,1764000000,5,upstream error,acme,,gpt-4o,0,0,0",
]
EXPECTED = [2, 3, 4, 6]  # line numbers: the video model (any case), the refund, the warning, the CSV error row


def _lines(matcher, data: bytes) -> list[int]:
    return [n for n, _ in candidate_lines(data, io.BytesIO(b""), matcher, 97, 400)]


def test_hyperscan_and_the_re_fallback_find_the_same_lines(monkeypatch):
    data = b"\n".join(LINES) + b"\n"
    fast = whole_export_matcher(MEDIA_MODEL_PATTERNS)
    monkeypatch.setattr(prefilter, "hyperscan", None)
    slow = PatternMatcher(fast.patterns)
    assert slow._re is not None
    assert _lines(slow, data) == EXPECTED
    if fast._hs is None:
        pytest.skip("hyperscan is not installed on this platform")
    assert _lines(fast, data) == EXPECTED


@pytest.mark.parametrize("hs", [True, False], ids=["hyperscan", "re"])
def test_a_streamed_chat_export_with_one_video_row_is_misrouted(monkeypatch, hs):
    if not hs:
        monkeypatch.setattr(prefilter, "hyperscan", None)
        prefilter._whole.cache_clear()
    monkeypatch.setattr(readers, "SMALL_BYTES", 4096)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(readers, "MAX_RECORDS", 50)  # a million chat rows must not fill the cap
    chat = [json.dumps({"id": i, "type": 2, "username": "wang", "model_name": "gpt-4o-mini", "quota": 900,
                        "prompt_tokens": 300, "completion_tokens": 60, "other": "{\"request_path\":\"/v1/chat/completions\"}"})
            for i in range(2000)]  # "wang" holds the literal "wan": every row is a candidate
    chat.insert(1000, json.dumps(json.loads((CORPUS / "misrouted_array.json").read_text())[0], ensure_ascii=False))
    data = "\n".join(chat).encode() + b"\n"
    result = read_stream(io.BytesIO(data), Filter())
    prefilter._whole.cache_clear()
    assert not result.truncated
    decision = decide(result.records, Options(), 1764003600)
    assert decision.verdict == "misrouted_chat_api" and decision.model == "wan2.6-t2v"
