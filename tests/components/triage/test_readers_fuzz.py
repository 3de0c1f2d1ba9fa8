"""Readers and rules never crash, whatever they are fed."""

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.triage.readers import Filter, read_stream, read_text
from bot.triage.rules import Options, decide

_fragments = st.sampled_from([
    '{"task_id":"t1","status":"FAILURE"', '"quota":', "invalid api type", "[{", "}]", '{"data":{"items":[',
    "prompt_tokens=12", "输入 tokens: 5", "Video async task failed t1, refund ", "\n", ",", '"other":"{\\"is_task',
    "model_name,quota,task_id\n", "1600000", '{"output":{"task_status":"FAILED"}}', "null", "{}", "[]",
])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    result = read_stream(io.BytesIO(data), Filter())
    decide(result.records, Options())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_fragments, st.text(max_size=20)), max_size=40))
def test_log_like_text(parts):
    text = "".join(parts)
    for flt in (Filter(), Filter(task_id="t1"), Filter(model="wan*")):
        decide(read_text(text, flt).records, Options(), task_id=flt.task_id)
