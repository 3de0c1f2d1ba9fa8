import pytest

from bot.wan.request import Mode, RequestInvalid, build_request, parse_mode


def test_cli_strings_are_coerced():
    req = build_request("t2v", {"prompt": "a fox", "duration": "8", "seed": "7"})
    assert req.duration == 8 and req.input.seed == 7


def test_every_problem_is_reported_at_once():
    with pytest.raises(RequestInvalid) as info:
        build_request("t2v", {"prompt": "", "duration": "1", "seed": "-1", "ratio": "2:1"})
    assert {p.field for p in info.value.problems} == {"prompt", "duration", "seed", "ratio"}
    assert "seed: must be an integer from 0 to 2147483647" in str(info.value)


def test_modes_by_short_or_long_name():
    assert parse_mode("I2V") is Mode.IMAGE_TO_VIDEO
    assert parse_mode("video-edit") is Mode.VIDEO_EDIT
