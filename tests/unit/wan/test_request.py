import pytest
from hypothesis import given, settings

from bot.wan.request import (
    ALL_FIELDS,
    MODE_FIELDS,
    SHORT_NAMES,
    EditInput,
    Mode,
    RequestInvalid,
    T2VInput,
    VideoRequest,
    build_request,
    estimate_cost_usd,
    parse_mode,
)

from .strategies import invalid_values, valid_requests, wav_data_uri

IMG = "https://example.com/frame.png"
VID = "https://example.com/clip.mp4"
REF = "https://example.com/ref.png"
BASE = {
    Mode.TEXT_TO_VIDEO: {"prompt": "a fox in snow"},
    Mode.IMAGE_TO_VIDEO: {"prompt": "a fox in snow", "image_url": IMG},
    Mode.R2V: {"prompt": "a fox in snow", "reference_url": REF},
    Mode.VIDEO_EDIT: {"instruction": "make it snow", "video_url": VID},
}


def problems_of(mode, fields):
    with pytest.raises(RequestInvalid) as info:
        build_request(mode, fields)
    return {p.field: p.message for p in info.value.problems}


# --- modes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, mode", [
    ("t2v", Mode.TEXT_TO_VIDEO), ("text-to-video", Mode.TEXT_TO_VIDEO), ("T2V", Mode.TEXT_TO_VIDEO),
    ("i2v", Mode.IMAGE_TO_VIDEO), ("Image-To-Video", Mode.IMAGE_TO_VIDEO), ("r2v", Mode.R2V),
    ("edit", Mode.VIDEO_EDIT), ("video-edit", Mode.VIDEO_EDIT), (" video_edit ", Mode.VIDEO_EDIT),
])
def test_modes_by_short_or_long_name(text, mode):
    assert parse_mode(text) is mode


def test_unknown_mode_lists_the_allowed_names():
    with pytest.raises(RequestInvalid) as info:
        parse_mode("v2v")
    assert info.value.problems[0].field == "mode"
    for mode, short in SHORT_NAMES.items():
        assert short in str(info.value) and mode.value in str(info.value)


# --- bounds, defaults, enums ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(Mode))
def test_duration_defaults_to_five_and_bounds_are_2_to_15(mode):
    assert build_request(mode, BASE[mode]).duration == 5
    assert build_request(mode, {**BASE[mode], "duration": 2}).duration == 2
    assert build_request(mode, {**BASE[mode], "duration": "15"}).duration == 15
    for bad in (1, 16, "0", "8.5", "eight", True):
        assert problems_of(mode, {**BASE[mode], "duration": bad}) == {
            "duration": "must be a whole number of seconds from 2 to 15 (default 5)"}


@pytest.mark.parametrize("mode", [Mode.TEXT_TO_VIDEO, Mode.R2V])
def test_seed_bounds(mode):
    assert build_request(mode, {**BASE[mode], "seed": 0}).seed == 0
    assert build_request(mode, {**BASE[mode], "seed": "2147483647"}).seed == 2147483647
    for bad in (-1, 2147483648, "1e3", 1.5):
        assert problems_of(mode, {**BASE[mode], "seed": bad}) == {
            "seed": "must be an integer from 0 to 2147483647"}


@pytest.mark.parametrize("mode", [Mode.IMAGE_TO_VIDEO, Mode.R2V])
def test_strength_bounds(mode):
    assert build_request(mode, {**BASE[mode], "strength": "0.6"}).input.strength == 0.6
    assert build_request(mode, {**BASE[mode], "strength": 0}).input.strength == 0.0
    assert build_request(mode, {**BASE[mode], "strength": 1}).input.strength == 1.0
    for bad in (-0.1, 1.01, "strong", "nan", "inf"):
        assert problems_of(mode, {**BASE[mode], "strength": bad}) == {
            "strength": "must be a number from 0.0 to 1.0"}


def test_ratio_enum():
    for ratio in ("16:9", "9:16", "1:1", "4:3", "3:4"):
        assert build_request("t2v", {"prompt": "x", "ratio": ratio}).input.ratio == ratio
    assert problems_of("t2v", {"prompt": "x", "ratio": "21:9"}) == {
        "ratio": "must be one of 16:9, 9:16, 1:1, 4:3, 3:4"}
    assert build_request("t2v", {"prompt": "x"}).input.ratio is None


def test_camera_motion_enum_is_forgiving_about_case_and_dashes():
    assert build_request("i2v", {**BASE[Mode.IMAGE_TO_VIDEO], "camera_motion": "Zoom-In"}).input.camera_motion \
        == "zoom_in"
    assert "camera_motion" in problems_of("i2v", {**BASE[Mode.IMAGE_TO_VIDEO], "camera_motion": "spin"})


def test_output_quality_enum():
    assert build_request("edit", {**BASE[Mode.VIDEO_EDIT], "output_quality": "HIGH"}).input.output_quality == "high"
    assert problems_of("edit", {**BASE[Mode.VIDEO_EDIT], "output_quality": "ultra"}) == {
        "output_quality": "must be one of standard, high"}


@pytest.mark.parametrize("mode", [Mode.TEXT_TO_VIDEO, Mode.IMAGE_TO_VIDEO, Mode.R2V])
def test_prompt_required_nonempty_and_at_most_2000(mode):
    without = {k: v for k, v in BASE[mode].items() if k != "prompt"}
    assert problems_of(mode, without) == {"prompt": "is required (at most 2000 characters)"}
    assert problems_of(mode, {**without, "prompt": "   "}) == {"prompt": "is required (at most 2000 characters)"}
    assert build_request(mode, {**without, "prompt": " " + "x" * 2000 + " "}).prompt_text == "x" * 2000
    assert "2000" in problems_of(mode, {**without, "prompt": "x" * 2001})["prompt"]


def test_required_urls_per_mode():
    assert "image_url" in problems_of("i2v", {"prompt": "x"})
    assert "reference_url" in problems_of("r2v", {"prompt": "x"})
    assert set(problems_of("edit", {})) == {"video_url", "instruction"}


def test_references_one_to_five_given_as_list_or_text():
    five = [f"https://example.com/{i}.png" for i in range(5)]
    req = build_request("r2v", {"prompt": "x", "reference_urls": five})
    assert req.input.reference_url == tuple(five)
    assert req.body()["input"]["reference_url"] == five
    assert build_request("r2v", {"prompt": "x", "reference_url": " ".join(five[:2])}).input.reference_url \
        == tuple(five[:2])
    assert "at most 5" in problems_of("r2v", {"prompt": "x", "reference_url": [*five, REF]})["reference_url"]
    assert "reference_url" in problems_of("r2v", {"prompt": "x", "reference_url": []})
    message = problems_of("r2v", {"prompt": "x", "reference_url": [REF, "http://example.com/b.png"]})
    assert message["reference_url"].startswith("URL 2 must be an https:// URL")


def test_edit_region_free_text_or_four_numbers():
    base = BASE[Mode.VIDEO_EDIT]
    assert build_request("edit", {**base, "edit_region": "the sky"}).input.edit_region == "the sky"
    assert build_request("edit", {**base, "edit_region": " 0, 10,640 ,360"}).input.edit_region == "0,10,640,360"
    for bad in ("1,2,3", "-1,0,10,10", "0,0,0,10", "1.5,0,10,10", "x" * 201):
        assert "edit_region" in problems_of("edit", {**base, "edit_region": bad})


def test_edit_takes_prompt_as_the_instruction():
    req = build_request("edit", {"video_url": VID, "prompt": "make it snow"})
    assert req.input.instruction == "make it snow" and req.prompt_text == "make it snow"
    assert "prompt" not in req.body()["input"]
    assert "instruction" in problems_of("edit", {"video_url": VID, "prompt": "a", "instruction": "b"})


def test_image_url_may_be_a_data_uri_but_other_urls_may_not():
    uri = "data:image/png;base64,iVBORw0KGgo="
    assert build_request("i2v", {"prompt": "x", "image_url": uri}).input.image_url == uri
    assert "video_url" in problems_of("edit", {"instruction": "x", "video_url": "data:video/mp4;base64,AAAA"})
    assert "reference_url" in problems_of("r2v", {"prompt": "x", "reference_url": uri})


@pytest.mark.parametrize("url", ["http://example.com/a.png", "file:///etc/passwd", "https://localhost/a.png",
                                 "https://10.0.0.1/a.png", "https://192.168.0.10/a.png",
                                 "https://169.254.169.254/", "https://[::1]/a.png",
                                 "https://[::ffff:127.0.0.1]/a.png", "https://2130706433/a.png"])
def test_bad_image_url_names_the_field_and_what_is_allowed(url):
    with pytest.raises(RequestInvalid) as info:
        build_request("i2v", {"prompt": "x", "image_url": url})
    assert str(info.value).startswith("image_url: must be an https:// URL")


# --- problems are all reported, named, and readable ----------------------------------------------

def test_every_problem_is_reported_at_once_in_one_line():
    with pytest.raises(RequestInvalid) as info:
        build_request("t2v", {"prompt": "", "duration": "1", "seed": "-1", "ratio": "2:1", "camera_motion": "orbit"})
    fields = {p.field for p in info.value.problems}
    assert fields == {"prompt", "duration", "seed", "ratio", "camera_motion"}
    text = str(info.value)
    assert "seed: must be an integer from 0 to 2147483647" in text
    assert "camera_motion: is not a field of text-to-video; its fields are prompt, negative_prompt" in text
    assert "pydantic" not in text and "Traceback" not in text


def test_empty_strings_mean_not_given():
    req = build_request("t2v", {"prompt": "x", "duration": "", "seed": "", "ratio": "", "negative_prompt": " "})
    assert req.body() == {"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "x", "duration": 5}}


def test_numbers_from_a_cli_are_coerced():
    req = build_request("r2v", {"prompt": "x", "reference_url": REF, "duration": " 8 ", "seed": "7",
                                "strength": "0.25"})
    assert (req.duration, req.seed, req.input.strength) == (8, 7, 0.25)


def test_request_is_invalid_is_a_value_error():
    assert issubclass(RequestInvalid, ValueError)


# --- the model -------------------------------------------------------------------------------------

def test_body_is_exactly_the_unified_shape():
    req = build_request("t2v", {"prompt": "a fox", "seed": 42})
    assert req.body() == {"model": "wan2-6", "mode": "text-to-video",
                          "input": {"prompt": "a fox", "duration": 5, "seed": 42}}


def test_with_seed_keeps_everything_else():
    req = build_request("t2v", {"prompt": "a fox", "seed": 42, "ratio": "1:1"})
    again = req.with_seed(7)
    assert again.seed == 7 and again.fields() == {**req.fields(), "seed": 7}
    i2v = build_request("i2v", BASE[Mode.IMAGE_TO_VIDEO])
    assert i2v.with_seed(7) == i2v  # no seed field in image-to-video
    with pytest.raises(RequestInvalid):
        req.with_seed(-5)


def test_input_must_match_mode():
    with pytest.raises(ValueError):
        VideoRequest(mode=Mode.VIDEO_EDIT, input=T2VInput(prompt="x"))
    with pytest.raises(ValueError):
        VideoRequest(mode=Mode.TEXT_TO_VIDEO, input={"prompt": "x", "duration": 99})
    with pytest.raises(ValueError):
        EditInput(video_url="http://example.com/v.mp4", instruction="x")
    assert VideoRequest.model_validate(build_request("t2v", {"prompt": "x"}).body()).mode is Mode.TEXT_TO_VIDEO


def test_requests_are_immutable():
    req = build_request("t2v", {"prompt": "x"})
    with pytest.raises(ValueError):
        req.mode = Mode.R2V
    with pytest.raises(ValueError):
        req.input.prompt = "y"


def test_cost_estimate_is_duration_times_price():
    assert estimate_cost_usd(build_request("t2v", {"prompt": "x", "duration": 8}), 0.06) == 0.48
    assert estimate_cost_usd(build_request("t2v", {"prompt": "x"}), 0.123456) == 0.6173


def test_mode_fields_describe_forms_and_flags():
    flags = {spec.flag for specs in MODE_FIELDS.values() for spec in specs}
    assert {"--duration", "--negative", "--image", "--reference", "--video", "--camera", "--strength",
            "--region", "--quality", "--ratio", "--seed"} <= flags
    for mode, specs in MODE_FIELDS.items():
        names = [spec.name for spec in specs]
        assert len(names) == len(set(names))
        assert all(spec.label and spec.help for spec in specs)
        assert set(names) <= set(type(build_request(mode, BASE[mode]).input).model_fields)
        everything = [spec.name for spec in ALL_FIELDS[mode]]
        assert set(everything) == set(type(build_request(mode, BASE[mode]).input).model_fields)
    assert [s.name for s in MODE_FIELDS[Mode.TEXT_TO_VIDEO]] == ["prompt", "negative_prompt", "duration", "ratio",
                                                                  "seed"]


# --- properties ------------------------------------------------------------------------------------

@given(valid_requests())
@settings(max_examples=200, deadline=None)
def test_fields_are_the_inverse_of_build_request(req):
    assert build_request(req.mode, req.fields()) == req
    assert VideoRequest.model_validate(req.body()) == req
    assert 2 <= req.duration <= 15


@given(invalid_values())
@settings(max_examples=300, deadline=None)
def test_an_invalid_value_never_builds_and_is_named(case):
    mode, fields, bad_field = case
    with pytest.raises(RequestInvalid) as info:
        build_request(mode, fields)
    assert bad_field in {p.field for p in info.value.problems}


# --- the model's own parameters (gateway-api.md, "Beyond the page") ---------------------------------

def test_extra_fields_are_optional_and_unset_means_not_sent():
    for mode in Mode:
        assert set(build_request(mode, BASE[mode]).body()["input"]) == set(BASE[mode]) | {"duration"}


def test_resolution_audio_shot_extend_watermark_parse_like_flags():
    req = build_request("t2v", {**BASE[Mode.TEXT_TO_VIDEO], "resolution": "1080p", "audio": "on",
                                "shot_type": "Multi", "prompt_extend": "yes", "watermark": "off"})
    assert req.fields() == {"prompt": "a fox in snow", "duration": 5, "resolution": "1080P", "audio": True,
                                 "shot_type": "multi", "prompt_extend": True, "watermark": False}
    assert req.sound and not req.flash
    assert not build_request("t2v", {**BASE[Mode.TEXT_TO_VIDEO], "audio": False}).sound
    assert build_request("t2v", BASE[Mode.TEXT_TO_VIDEO]).sound  # upstream adds sound unless told not to


@pytest.mark.parametrize("field, value, words", [
    ("resolution", "4K", "one of 720P, 1080P"), ("resolution", "480P", "one of 720P, 1080P"),
    ("audio", "loud", "on or off"), ("shot_type", "triple", "single, multi"), ("watermark", "2", "on or off"),
    ("audio_url", "http://example.com/a.mp3", "https"),
])
def test_bad_extra_values_are_named(field, value, words):
    assert words in problems_of("t2v", {**BASE[Mode.TEXT_TO_VIDEO], field: value})[field]


def test_variant_flash_only_where_the_mode_has_one():
    assert build_request("i2v", {**BASE[Mode.IMAGE_TO_VIDEO], "variant": "flash"}).flash
    assert build_request("r2v", {**BASE[Mode.R2V], "variant": "FLASH"}).flash
    assert "is not a field of text-to-video" in problems_of("t2v", {**BASE[Mode.TEXT_TO_VIDEO], "variant": "flash"})[
        "variant"]
    assert "is not a field of video-edit" in problems_of("edit", {**BASE[Mode.VIDEO_EDIT], "resolution": "1080P"})[
        "resolution"]


def test_r2v_reference_videos_one_to_three_and_no_audio_url():
    vids = [f"https://example.com/c{i}.mp4" for i in range(4)]
    req = build_request("r2v", {"prompt": "character1 waves", "reference_video_url": vids[:3]})
    assert req.input.reference_video_url == tuple(vids[:3]) and req.input.reference_url is None
    assert "at most 3" in problems_of("r2v", {"prompt": "x", "reference_video_url": vids})["reference_video_url"]
    assert "reference_url" in problems_of("r2v", {"prompt": "x"})  # images or videos: one is required
    assert "is not a field of r2v" in problems_of("r2v", {**BASE[Mode.R2V], "audio_url": "https://e.com/a.mp3"})[
        "audio_url"]


def test_conflicting_combinations_are_refused():
    base = BASE[Mode.TEXT_TO_VIDEO]
    assert "audio_url" in problems_of("t2v", {**base, "audio": "off", "audio_url": "https://e.com/a.mp3"})["audio"]
    assert "prompt_extend" in problems_of("t2v", {**base, "shot_type": "multi", "prompt_extend": "off"})["shot_type"]
    assert build_request("t2v", {**base, "shot_type": "multi"}).input.shot_type == "multi"


def test_inline_audio_is_an_mp3_or_wav_of_3_to_30_seconds_and_at_most_15_mb():
    base = BASE[Mode.IMAGE_TO_VIDEO]
    assert build_request("i2v", {**base, "audio_url": wav_data_uri(4)}).input.audio_url.startswith("data:audio/wav")
    assert "3 to 30 seconds" in problems_of("i2v", {**base, "audio_url": wav_data_uri(1.5)})["audio_url"]
    assert "3 to 30 seconds" in problems_of("i2v", {**base, "audio_url": wav_data_uri(31)})["audio_url"]
    assert "mp3" in problems_of("i2v", {**base, "audio_url": "data:audio/ogg;base64,AAAA"})["audio_url"]
    assert "cannot be read" in problems_of("i2v", {**base, "audio_url": "data:audio/wav;base64,AAAAAAAA"})[
        "audio_url"]
    huge = "data:audio/wav;base64," + "A" * (16 * 1024 * 1024 * 4 // 3)
    assert "15 MB" in problems_of("i2v", {**base, "audio_url": huge})["audio_url"]
