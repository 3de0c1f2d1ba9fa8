import pytest
from hypothesis import given, settings

from bot.config import Settings
from bot.wan.formats import (
    DashScopeFormat,
    OpenAIFormat,
    UnifiedFormat,
    find_video_url,
    get_format,
    map_status,
    parse_error_body,
    parse_progress,
)
from bot.wan.request import Mode, RequestInvalid, build_request
from bot.wan.task import TaskStatus

from .strategies import valid_requests, wav_data_uri

FORMATS = ["unified", "openai", "dashscope"]


def fmt_for(name, **extra):
    return get_format(Settings(wan_api_format=name, **extra))


# --- encoders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FORMATS)
@given(req=valid_requests())
@settings(max_examples=150, deadline=None)
def test_every_valid_request_round_trips_through_every_format(name, req):
    fmt = fmt_for(name)
    call = fmt.submit(req)
    assert call.method == "POST" and call.path.startswith("/")
    assert "Authorization" not in call.headers and "Idempotency-Key" not in call.headers
    problems = fmt.check(req)
    if problems:  # a field this format cannot carry: refused before sending, so never decoded
        assert {p.field for p in problems} <= {"shot_type", "reference_video_url", "prompt_extend",
                                               "duration", "reference_url"}
        return
    decoded = fmt.request_from_body(call.json)
    # Only spellings that send the very same body are merged (a 720P tier named or left implicit).
    assert decoded == fmt.canonical(req)
    assert fmt.submit(decoded).json == call.json
    pinned_size = name == "dashscope" and req.mode.value in ("text-to-video", "r2v") and "ratio" not in req.fields()
    if not req.fields().keys() & {"resolution", "variant"} and not pinned_size:
        assert decoded == req  # the page's own requests round-trip exactly, as they always did


def test_unified_submit_is_the_request_model_as_it_stands():
    req = build_request("t2v", {"prompt": "...", "duration": 5, "seed": 42})
    call = UnifiedFormat().submit(req)
    assert (call.method, call.path, call.headers) == ("POST", "/v1/video/generations", {})
    assert call.json == {"model": "wan2-6", "mode": "text-to-video",
                         "input": {"prompt": "...", "duration": 5, "seed": 42}}
    assert UnifiedFormat().poll("vt_8f3a2c").path == "/v1/video/generations/vt_8f3a2c"
    cancel = UnifiedFormat().cancel("vt_8f3a2c")
    assert (cancel.method, cancel.path) == ("POST", "/v1/video/generations/vt_8f3a2c/cancel")


def test_task_ids_are_escaped_in_paths():
    assert UnifiedFormat().poll("a/../b?x").path == "/v1/video/generations/a%2F..%2Fb%3Fx"


def test_openai_submit_is_flat_with_the_rest_in_metadata():
    req = build_request("t2v", {"prompt": "...", "negative_prompt": "...", "ratio": "16:9", "seed": 42})
    call = fmt_for("openai").submit(req)
    assert call.path == "/v1/video/generations"
    assert call.json == {"model": "wan2.6-t2v", "prompt": "...", "duration": 5, "size": "1280*720",
                         "metadata": {"input": {"negative_prompt": "..."}, "parameters": {"seed": 42}}}
    i2v = build_request("i2v", {"prompt": "p", "image_url": "https://example.com/a.png"})
    assert fmt_for("openai").submit(i2v).json["image"] == "https://example.com/a.png"


def test_openai_path_and_models_come_from_settings():
    fmt = fmt_for("openai", wan_openai_path="/v1/videos/", wan_model_r2v="my-r2v")
    assert isinstance(fmt, OpenAIFormat)
    req = build_request("r2v", {"prompt": "p", "reference_url": "https://example.com/r.png"})
    call = fmt.submit(req)
    assert call.path == "/v1/videos" and call.json["model"] == "my-r2v"
    assert fmt.poll("t1").path == "/v1/videos/t1"
    assert fmt.cancel("t1") is None


def test_dashscope_submit_bodies_per_mode():
    fmt = fmt_for("dashscope")
    assert isinstance(fmt, DashScopeFormat)
    t2v = fmt.submit(build_request("t2v", {"prompt": "p", "negative_prompt": "n", "ratio": "9:16", "seed": 1}))
    assert t2v.path == "/api/v1/services/aigc/video-generation/video-synthesis"
    assert t2v.headers == {"X-DashScope-Async": "enable"}
    assert t2v.json == {"model": "wan2.6-t2v", "input": {"prompt": "p", "negative_prompt": "n"},
                        "parameters": {"size": "720*1280", "duration": 5, "seed": 1}}
    i2v = fmt.submit(build_request("i2v", {"prompt": "p", "image_url": "https://example.com/a.png"})).json
    assert i2v["model"] == "wan2.6-i2v"
    assert i2v["input"] == {"prompt": "p", "img_url": "https://example.com/a.png"}
    assert i2v["parameters"] == {"resolution": "720P", "duration": 5}
    r2v = fmt.submit(build_request("r2v", {"prompt": "p", "reference_url": ["https://example.com/r.png"]})).json
    assert r2v["input"] == {"prompt": "p", "reference_urls": ["https://example.com/r.png"]}
    edit = fmt.submit(build_request("edit", {"instruction": "snow", "video_url": "https://example.com/v.mp4",
                                             "output_quality": "high"})).json
    assert edit["model"] == "wan2.1-vace-plus"
    assert edit["input"] == {"function": "video_edit", "prompt": "snow", "video_url": "https://example.com/v.mp4"}
    assert edit["parameters"] == {"duration": 5, "output_quality": "high"}
    assert fmt.poll("abc").path == "/api/v1/tasks/abc" and fmt.poll("abc").method == "GET"
    assert fmt.cancel("abc") is None


@pytest.mark.parametrize("ratio, size", [("16:9", "1280*720"), ("9:16", "720*1280"), ("1:1", "960*960"),
                                         ("4:3", "1088*832"), ("3:4", "832*1088")])
def test_dashscope_size_from_ratio(ratio, size):
    fmt = fmt_for("dashscope")
    call = fmt.submit(build_request("t2v", {"prompt": "p", "ratio": ratio}))
    assert call.json["parameters"]["size"] == size
    assert fmt.request_from_body(call.json).input.ratio == ratio


def test_decoders_reject_bad_bodies_naming_the_field():
    with pytest.raises(RequestInvalid, match="duration"):
        UnifiedFormat().request_from_body({"model": "wan2-6", "mode": "t2v", "input": {"prompt": "x", "duration": 99}})
    with pytest.raises(RequestInvalid, match="model"):
        UnifiedFormat().request_from_body({"model": "wan2.6-t2v", "mode": "t2v", "input": {"prompt": "x"}})
    with pytest.raises(RequestInvalid, match="mode"):
        UnifiedFormat().request_from_body({"mode": "v2v", "input": {"prompt": "x"}})
    with pytest.raises(RequestInvalid, match="size"):
        fmt_for("dashscope").request_from_body({"model": "wan2.6-t2v", "input": {"prompt": "x"},
                                                "parameters": {"size": "100*100"}})
    with pytest.raises(RequestInvalid, match="image_url"):
        fmt_for("openai").request_from_body({"model": "wan2.6-i2v", "prompt": "x", "image": "http://a.com/i.png"})
    with pytest.raises(RequestInvalid):
        fmt_for("openai").request_from_body(["not", "an", "object"])


def test_a_model_name_shared_by_modes_is_resolved_from_the_fields():
    fmt = fmt_for("dashscope", wan_model_t2v="wan", wan_model_i2v="wan", wan_model_r2v="wan", wan_model_edit="wan")
    for mode, fields in [("t2v", {"prompt": "p"}), ("i2v", {"prompt": "p", "image_url": "https://e.com/a.png"}),
                         ("r2v", {"prompt": "p", "reference_url": "https://e.com/a.png"}),
                         ("edit", {"instruction": "p", "video_url": "https://e.com/a.mp4"})]:
        req = build_request(mode, fields)
        # dashscope pins the 720P size, so a t2v/r2v without a ratio comes back as its 16:9.
        assert fmt.request_from_body(fmt.submit(req).json) == fmt.canonical(req)
        assert fmt.request_from_body(fmt.submit(req).json).mode == req.mode


def test_unknown_format_setting_is_refused():
    class Fake:
        wan_api_format = "chat"
    with pytest.raises(ValueError, match="WAN_API_FORMAT"):
        get_format(Fake())


# --- decoders: the spec's example answers, literally --------------------------------------------

def test_unified_submit_answer():
    task = UnifiedFormat().parse_submit(
        {"id": "vt_8f3a2c", "status": "queued", "created_at": 1764000000, "request_id": "req_1"})
    assert (task.id, task.status, task.raw_status, task.request_id) == ("vt_8f3a2c", TaskStatus.QUEUED, "queued",
                                                                        "req_1")


def test_unified_poll_succeeded():
    body = {"id": "vt_8f3a2c", "status": "succeeded", "progress": 100,
            "output": {"video_url": "https://cdn.example.com/v.mp4", "duration": 5, "width": 1280, "height": 720},
            "usage": {"billed_seconds": 5, "cost_usd": 0.30}, "request_id": "req_2"}
    task = UnifiedFormat().parse_poll(body, "vt_8f3a2c")
    assert task.status is TaskStatus.SUCCEEDED and task.progress == 100
    assert task.video_url == "https://cdn.example.com/v.mp4"
    assert (task.billed_seconds, task.cost_usd, task.request_id) == (5, 0.30, "req_2")
    assert task.error_code is None and task.raw == body


def test_unified_poll_failed():
    body = {"id": "vt_1", "status": "failed", "error": {"code": "content_policy_violation", "message": "nope"}}
    task = UnifiedFormat().parse_poll(body, "vt_1")
    assert task.status is TaskStatus.FAILED
    assert (task.error_code, task.error_message, task.video_url) == ("content_policy_violation", "nope", None)


@pytest.mark.parametrize("body, status, progress", [
    ({"id": "t1", "object": "video", "status": "queued", "progress": 0}, TaskStatus.QUEUED, 0),
    ({"task_id": "t1", "status": "submitted"}, TaskStatus.QUEUED, None),
    ({"code": 200, "data": [{"task_id": "t1", "status": "submitted"}]}, TaskStatus.QUEUED, None),
    ({"code": "success", "data": {"task_id": "t1", "status": "IN_PROGRESS", "progress": "30%",
                                  "result_url": "", "fail_reason": ""}}, TaskStatus.RUNNING, 30),
])
@pytest.mark.parametrize("name", FORMATS)
def test_openai_answer_shapes(body, status, progress, name):
    fmt = fmt_for(name)  # decoders are tolerant whatever the configured format
    for task in (fmt.parse_submit(body), fmt.parse_poll(body, "t1")):
        assert (task.id, task.status, task.progress) == ("t1", status, progress)
        assert task.video_url is None and task.error_message is None


def test_openai_success_with_result_url_and_failure_with_reason():
    fmt = fmt_for("openai")
    done = fmt.parse_poll({"code": "success", "data": {"task_id": "t1", "status": "SUCCESS", "progress": "100%",
                                                       "result_url": "https://cdn.example.com/v.mp4",
                                                       "fail_reason": ""}}, "t1")
    assert done.status is TaskStatus.SUCCEEDED and done.video_url == "https://cdn.example.com/v.mp4"
    failed = fmt.parse_poll({"code": "success", "data": {"task_id": "t1", "status": "FAILURE",
                                                         "fail_reason": "prompt rejected"}}, "t1")
    assert failed.status is TaskStatus.FAILED and failed.error_message == "prompt rejected"


def test_dashscope_answers():
    fmt = fmt_for("dashscope")
    sub = fmt.parse_submit({"request_id": "r1", "output": {"task_id": "ds1", "task_status": "PENDING"}})
    assert (sub.id, sub.status, sub.request_id) == ("ds1", TaskStatus.QUEUED, "r1")
    done = fmt.parse_poll({"output": {"task_status": "SUCCEEDED", "video_url": "https://oss.example.com/v.mp4?Expires=1",
                                      "submit_time": "2025-01-01 00:00:00", "end_time": "2025-01-01 00:01:00"},
                           "usage": {"video_duration": 5, "video_count": 1}, "request_id": "r2"}, "ds1")
    assert done.status is TaskStatus.SUCCEEDED and done.video_url == "https://oss.example.com/v.mp4?Expires=1"
    assert (done.billed_seconds, done.cost_usd, done.request_id) == (5, None, "r2")
    failed = fmt.parse_poll({"output": {"task_id": "ds1", "task_status": "FAILED", "code": "DataInspectionFailed",
                                        "message": "bad input"}, "request_id": "r3"}, "ds1")
    assert (failed.status, failed.error_code, failed.error_message) == (TaskStatus.FAILED, "DataInspectionFailed",
                                                                        "bad input")
    late = fmt.parse_poll({"output": {"task_id": "ds1", "task_status": "UNKNOWN"}, "request_id": "r4"}, "ds1")
    assert late.status is TaskStatus.EXPIRED


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("body", [{}, {"status": "queued"}, {"code": 200, "data": []}, {"output": {}}, [], "oops",
                                  None])
def test_a_submit_answer_without_task_id_is_malformed(name, body):
    with pytest.raises(ValueError):
        fmt_for(name).parse_submit(body)


def test_a_submit_answer_without_status_means_queued_and_unknown_poll_status_is_unrecognised():
    assert UnifiedFormat().parse_submit({"id": "x"}).status is TaskStatus.QUEUED
    task = UnifiedFormat().parse_poll({"id": "x", "status": "DONE", "url": "https://e.com/v.mp4"}, "x")
    assert task.status is TaskStatus.UNRECOGNISED and task.raw_status == "DONE"
    assert UnifiedFormat().parse_poll({}, "x").status is TaskStatus.UNRECOGNISED
    with pytest.raises(ValueError):
        UnifiedFormat().parse_poll("<html>", "x")


# --- status table, URL order, progress, errors ------------------------------------------------

STATUS_TABLE = {
    TaskStatus.QUEUED: ["PENDING", "queued", "submitted", "SUBMITTED", "NOT_START", "QUEUED", "IN_QUEUE", "waiting",
                        "queuing"],
    TaskStatus.RUNNING: ["RUNNING", "running", "in_progress", "IN_PROGRESS", "processing", "generating"],
    TaskStatus.SUCCEEDED: ["SUCCEEDED", "succeeded", "completed", "COMPLETED", "success", "SUCCESS"],
    TaskStatus.FAILED: ["FAILED", "failed", "fail", "FAILURE", "error"],
    TaskStatus.CANCELED: ["CANCELED", "canceled", "cancelled"],
    TaskStatus.EXPIRED: ["UNKNOWN", "expired"],
}


@pytest.mark.parametrize("raw, status", [(raw, status) for status, raws in STATUS_TABLE.items() for raw in raws])
def test_status_table(raw, status):
    assert map_status(raw) is status


@pytest.mark.parametrize("raw", ["done", "Succeeded", "finished", "ok", "", None, 200, True, "SUCCEEDED ", {"s": 1}])
def test_unknown_status_is_unrecognised_never_success(raw):
    assert map_status(raw) is TaskStatus.UNRECOGNISED


URL_KEYS = [
    {"output": {"video_url": "https://e.com/1"}}, {"url": "https://e.com/2"}, {"video_url": "https://e.com/3"},
    {"metadata": {"url": "https://e.com/4"}}, {"result_url": "https://e.com/5"}, {"data": [{"url": "https://e.com/6"}]},
    {"video": {"url": "https://e.com/7"}},
]


@pytest.mark.parametrize("first", range(len(URL_KEYS)))
def test_video_url_first_found_wins_in_the_spec_order(first):
    body = {"fail_reason": "https://e.com/reason"}
    for part in URL_KEYS[first:]:
        body.update(part)
    assert find_video_url(body, TaskStatus.SUCCEEDED) == f"https://e.com/{first + 1}"


def test_fail_reason_url_only_for_a_succeeded_task_with_no_other_url():
    body = {"status": "SUCCESS", "fail_reason": "https://e.com/v.mp4"}
    assert find_video_url(body, TaskStatus.SUCCEEDED) == "https://e.com/v.mp4"
    assert find_video_url(body, TaskStatus.FAILED) is None
    assert find_video_url({"fail_reason": "quota exceeded"}, TaskStatus.SUCCEEDED) is None
    assert find_video_url({"data": {"fail_reason": "https://e.com/v.mp4"}}, TaskStatus.SUCCEEDED) == "https://e.com/v.mp4"
    task = fmt_for("openai").parse_poll({"task_id": "t", "status": "SUCCESS", "fail_reason": "https://e.com/v.mp4"}, "t")
    assert task.video_url == "https://e.com/v.mp4" and task.error_message is None


def test_video_url_ignores_empty_and_non_text_values():
    assert find_video_url({"url": "", "video_url": None, "result_url": 5}, TaskStatus.SUCCEEDED) is None
    assert find_video_url("garbage", TaskStatus.SUCCEEDED) is None


@pytest.mark.parametrize("value, percent", [
    (30, 30), ("30%", 30), ("30", 30), (" 45.6 % ", 46), (0.3, 30), ("0.5", 50), ("0.5%", 0), (0, 0), (1, 1),
    (100, 100), (150, 100), (-5, 0), ("100%", 100), (None, None), ("soon", None), (True, None), ([], None),
    (float("nan"), None),
])
def test_progress(value, percent):
    assert parse_progress(value) == percent


@pytest.mark.parametrize("body, expected", [
    ({"error": {"type": "invalid_request_error", "code": "invalid_duration", "message": "bad", "request_id": "r1"}},
     ("invalid_duration", "bad", "r1")),
    ({"error": {"type": "rate_limit_exceeded", "message": "slow down"}}, ("rate_limit_exceeded", "slow down", None)),
    ({"request_id": "r2", "code": "Throttling.RateQuota", "message": "too many"}, ("Throttling.RateQuota", "too many", "r2")),
    ({"message": "plain"}, (None, "plain", None)),
    ('{"code": "InvalidApiKey", "message": "no"}', ("InvalidApiKey", "no", None)),
    (b'{"error": {"code": "x", "message": "y"}}', ("x", "y", None)),
    ("upstream timed out", (None, "upstream timed out", None)),
    ("<html><body>502 Bad Gateway</body></html>", (None, None, None)),
    (None, (None, None, None)),
    ([1, 2], (None, None, None)),
    ({"error": "boom"}, (None, "boom", None)),
])
def test_parse_error_body(body, expected):
    assert parse_error_body(body) == expected


def test_mode_names_are_in_unified_bodies():
    req = build_request("edit", {"instruction": "x", "video_url": "https://e.com/v.mp4"})
    assert UnifiedFormat().submit(req).json["mode"] == Mode.VIDEO_EDIT.value


def test_only_dashscope_limits_r2v_to_ten_seconds():
    from bot.wan.formats import DashScopeFormat, OpenAIFormat, UnifiedFormat

    long_r2v = build_request("r2v", {"reference_url": "https://example.com/a.png", "prompt": "x", "duration": 12})
    short_r2v = build_request("r2v", {"reference_url": "https://example.com/a.png", "prompt": "x", "duration": 10})
    dashscope = DashScopeFormat({mode: "m" for mode in Mode})
    assert [p.field for p in dashscope.check(long_r2v)] == ["duration"]
    assert dashscope.check(short_r2v) == []
    assert UnifiedFormat().check(long_r2v) == []
    assert OpenAIFormat("/v1/videos", {mode: "m" for mode in Mode}).check(long_r2v) == []


# --- the model's own parameters, per format ---------------------------------------------------------

HD = {"resolution": "1080P", "audio": True, "shot_type": "multi", "prompt_extend": True, "watermark": False}
SIZES_1080 = [("16:9", "1920*1080"), ("9:16", "1080*1920"), ("1:1", "1440*1440"), ("4:3", "1632*1248"),
              ("3:4", "1248*1632")]


@pytest.mark.parametrize("ratio, size", SIZES_1080)
def test_dashscope_sends_the_exact_size_of_ratio_and_tier(ratio, size):
    fmt = fmt_for("dashscope")
    for mode, base in (("t2v", {"prompt": "p"}), ("r2v", {"prompt": "p", "reference_url": "https://e.com/r.png"})):
        call = fmt.submit(build_request(mode, {**base, "ratio": ratio, "resolution": "1080P"}))
        assert call.json["parameters"]["size"] == size
        assert "resolution" not in call.json["parameters"]


def test_dashscope_carries_every_field_natively_and_pins_the_tier():
    fmt = fmt_for("dashscope")
    t2v = fmt.submit(build_request("t2v", {"prompt": "p", **HD, "audio_url": "https://e.com/a.mp3"})).json
    assert t2v == {"model": "wan2.6-t2v", "input": {"prompt": "p", "audio_url": "https://e.com/a.mp3"},
                   "parameters": {"duration": 5, "audio": True, "shot_type": "multi", "prompt_extend": True,
                                  "watermark": False, "size": "1920*1080"}}
    # No ratio and no resolution: still the 720P size, never the upstream's 1080P default.
    assert fmt.submit(build_request("t2v", {"prompt": "p"})).json["parameters"]["size"] == "1280*720"
    i2v = fmt.submit(build_request("i2v", {"prompt": "p", "image_url": "https://e.com/i.png",
                                           "resolution": "1080P", "variant": "flash", "audio": False})).json
    assert i2v["model"] == "wan2.6-i2v-flash"
    assert i2v["parameters"] == {"duration": 5, "audio": False, "resolution": "1080P"}
    r2v = fmt.submit(build_request("r2v", {"prompt": "character1 waves", "variant": "flash",
                                           "reference_video_url": ["https://e.com/c1.mp4"]})).json
    assert r2v["model"] == "wan2.6-r2v-flash"
    assert r2v["input"] == {"prompt": "character1 waves", "reference_video_urls": ["https://e.com/c1.mp4"]}
    assert fmt.check(build_request("r2v", {"prompt": "x", "reference_video_url": ["https://e.com/c1.mp4"]})) == []


def test_openai_puts_the_tier_in_size_and_the_rest_in_metadata():
    fmt = fmt_for("openai")
    body = fmt.submit(build_request("t2v", {"prompt": "p", "ratio": "9:16", "resolution": "1080P", "audio": True,
                                            "watermark": True, "audio_url": "https://e.com/a.mp3"})).json
    assert body == {"model": "wan2.6-t2v", "prompt": "p", "duration": 5, "size": "1080*1920",
                    "metadata": {"input": {"audio_url": "https://e.com/a.mp3"},
                                 "parameters": {"audio": True, "watermark": True}}}
    i2v = fmt.submit(build_request("i2v", {"prompt": "p", "image_url": "https://e.com/i.png", "variant": "flash",
                                           "resolution": "720P"})).json
    assert i2v["model"] == "wan2.6-i2v-flash" and i2v["metadata"] == {"parameters": {"resolution": "720P"}}
    # The page's fields alone: nothing new on the wire.
    assert fmt.submit(build_request("t2v", {"prompt": "p"})).json == {"model": "wan2.6-t2v", "prompt": "p",
                                                                      "duration": 5}


def test_unified_carries_them_under_input_only_when_set():
    body = UnifiedFormat().submit(build_request("t2v", {"prompt": "p", **HD})).json
    assert body == {"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "p", "duration": 5, **HD}}


def test_a_field_the_format_cannot_carry_is_refused_naming_field_and_format():
    openai = fmt_for("openai")
    for fields, field in ((("shot_type", "multi"),), "shot_type"), ((("prompt_extend", False),), "prompt_extend"):
        req = build_request("t2v", {"prompt": "p", **dict(fields)})
        problems = openai.check(req)
        assert [p.field for p in problems] == [field]
        assert "openai" in problems[0].message and "WAN_API_FORMAT=openai" in problems[0].message
    r2v = build_request("r2v", {"prompt": "p", "reference_video_url": ["https://e.com/c.mp4"]})
    assert [p.field for p in openai.check(r2v)] == ["reference_video_url"]
    assert "shot_type" not in openai.carries(Mode.TEXT_TO_VIDEO) and "audio" in openai.carries(Mode.TEXT_TO_VIDEO)
    assert "shot_type" in fmt_for("dashscope").carries(Mode.TEXT_TO_VIDEO)


def test_inline_audio_only_where_the_format_takes_inline_data():
    req = build_request("t2v", {"prompt": "p", "audio_url": wav_data_uri(3.5)})
    assert UnifiedFormat().check(req) == []
    for name in ("openai", "dashscope"):
        problems = fmt_for(name).check(req)
        assert [p.field for p in problems] == ["audio_url"] and name in problems[0].message


def test_dashscope_limits_references_to_five_in_all():
    imgs = [f"https://e.com/{i}.png" for i in range(4)]
    vids = [f"https://e.com/{i}.mp4" for i in range(2)]
    req = build_request("r2v", {"prompt": "p", "reference_url": imgs, "reference_video_url": vids})
    assert [p.field for p in fmt_for("dashscope").check(req)] == ["reference_url"]
    assert UnifiedFormat().check(req) == []


def test_flash_model_names_come_from_settings():
    fmt = fmt_for("dashscope", wan_model_i2v_flash="my-flash")
    req = build_request("i2v", {"prompt": "p", "image_url": "https://e.com/i.png", "variant": "flash"})
    assert fmt.submit(req).json["model"] == "my-flash"
    assert fmt.request_from_body(fmt.submit(req).json) == req
