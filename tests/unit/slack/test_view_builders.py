"""Modal builders and submission parsers: Block Kit in the right shape, and values that round-trip."""

import pytest

from bot.slack.blocks.modals import (
    GENERATE_CALLBACK,
    MODE_ACTION,
    MODE_BLOCK,
    REQUEST_CHANGES_CALLBACK,
    modal_errors,
    mode_modal,
    parse_modal_submission,
    parse_request_changes,
    prefill_from_job,
    request_changes_modal,
    selected_mode,
)
from bot.wan.request import MODE_FIELDS, FieldProblem, Mode, RequestInvalid, build_request
from tests.support.blockkit import check_modal

PRICE = 0.06


def blocks_by_id(view):
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def state_value(element: dict, value):
    """What Slack sends back in view.state.values for an element holding `value`."""
    kind = element["type"]
    if kind == "static_select":
        option = next((o for o in element["options"] if o["value"] == value), None)
        return {"type": kind, "selected_option": option}
    return {"type": kind, "value": value}


def submitted(view: dict, values: dict) -> dict:
    """A view_submission's view: every input block's state; `values` overrides initial values."""
    state = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        initial = element.get("initial_value")
        if "initial_option" in element:
            initial = element["initial_option"]["value"]
        value = values.get(block["block_id"], initial)
        state[block["block_id"]] = {element["action_id"]: state_value(element, value)}
    return {**view, "state": {"values": state}}


FULL = {
    Mode.TEXT_TO_VIDEO: {"prompt": "a fox & a <hare>", "negative_prompt": "blur", "duration": "8",
                         "ratio": "9:16", "seed": "7"},
    Mode.IMAGE_TO_VIDEO: {"image_url": "https://example.com/a.png", "prompt": "wave", "duration": "4",
                          "camera_motion": "orbit", "strength": "0.6"},
    Mode.R2V: {"reference_url": ["https://example.com/1.png", "https://example.com/2.png"], "prompt": "dance",
               "strength": "0.25", "duration": "10", "seed": "0"},
    Mode.VIDEO_EDIT: {"video_url": "https://example.com/v.mp4", "instruction": "make it snow", "duration": "6",
                      "edit_region": "0,0,640,360", "output_quality": "high"},
}


def test_bare_modal_has_only_the_dispatching_mode_selector_and_a_hint():
    view = mode_modal(None, {}, price_per_second=PRICE)
    check_modal(view)
    assert view["callback_id"] == GENERATE_CALLBACK
    selector = view["blocks"][0]
    assert selector["block_id"] == MODE_BLOCK and selector["dispatch_action"] is True
    assert selector["element"]["type"] == "static_select"
    assert selector["element"]["action_id"] == MODE_ACTION
    assert {o["value"] for o in selector["element"]["options"]} == {m.value for m in Mode}
    assert "initial_option" not in selector["element"]
    assert [b["type"] for b in view["blocks"]] == ["input", "context"]


@pytest.mark.parametrize("mode", list(Mode))
def test_each_modes_modal_is_valid_block_kit_with_a_block_per_field(mode):
    view = mode_modal(mode, {}, price_per_second=PRICE, private_metadata='{"channel": "C1"}')
    check_modal(view)
    assert view["private_metadata"] == '{"channel": "C1"}'
    by_id = blocks_by_id(view)
    assert by_id[MODE_BLOCK]["element"]["initial_option"]["value"] == mode.value
    for spec in MODE_FIELDS[mode]:
        block = by_id[spec.name]
        assert block["element"]["action_id"] == spec.name
        assert block["optional"] is (not spec.required)
        element = block["element"]
        expected = {"int": "number_input", "float": "number_input", "enum": "static_select",
                    "url": "url_text_input", "urls": "plain_text_input", "text": "plain_text_input"}[spec.kind]
        assert element["type"] == expected
        if spec.kind in ("int", "float"):
            assert element["is_decimal_allowed"] is (spec.kind == "float")
            assert float(element["min_value"]) == spec.min and float(element["max_value"]) == spec.max
        if spec.kind == "enum":
            assert [o["value"] for o in element["options"]] == list(spec.choices)
        if spec.name in ("prompt", "instruction"):
            assert element["multiline"] is True and element["max_length"] == 2000


def test_hints_show_ranges_defaults_and_the_cost():
    by_id = blocks_by_id(mode_modal(Mode.TEXT_TO_VIDEO, {}, price_per_second=PRICE))
    duration_hint = by_id["duration"]["hint"]["text"]
    assert "2-15" in duration_hint and "default 5" in duration_hint
    assert "$0.30" in duration_hint
    assert "2147483647" in by_id["seed"]["hint"]["text"]
    assert "$0.30" in by_id["cost"]["elements"][0]["text"]
    assert by_id["duration"]["element"]["initial_value"] == "5"


def test_cost_follows_the_prefilled_duration():
    by_id = blocks_by_id(mode_modal(Mode.TEXT_TO_VIDEO, {"duration": "10"}, price_per_second=PRICE))
    assert "$0.60" in by_id["duration"]["hint"]["text"]
    assert "$0.60" in by_id["cost"]["elements"][0]["text"]


@pytest.mark.parametrize("mode", list(Mode))
def test_prefill_round_trips_through_a_submission(mode):
    view = mode_modal(mode, FULL[mode], price_per_second=PRICE)
    check_modal(view)
    parsed_mode, fields = parse_modal_submission(submitted(view, {}))
    assert parsed_mode == mode
    assert fields == FULL[mode]
    assert build_request(parsed_mode, fields).fields()  # and the request model accepts it


@pytest.mark.parametrize("mode", list(Mode))
def test_a_valid_request_round_trips_through_the_modal(mode):
    req = build_request(mode, FULL[mode])
    view = mode_modal(mode, req.fields(), price_per_second=PRICE)
    assert build_request(*parse_modal_submission(submitted(view, {}))) == req


def test_empty_inputs_are_absent():
    view = mode_modal(Mode.TEXT_TO_VIDEO, {}, price_per_second=PRICE)
    state = submitted(view, {"prompt": "a fox", "negative_prompt": "", "seed": None, "ratio": None})
    assert parse_modal_submission(state) == (Mode.TEXT_TO_VIDEO, {"prompt": "a fox", "duration": "5"})


def test_reference_urls_are_one_per_line():
    view = mode_modal(Mode.R2V, {}, price_per_second=PRICE)
    state = submitted(view, {"reference_url": "https://e.com/1.png\n\n  https://e.com/2.png \n",
                             "prompt": "x"})
    assert parse_modal_submission(state)[1]["reference_url"] == ["https://e.com/1.png", "https://e.com/2.png"]


def test_invalid_prefill_is_not_put_where_slack_would_refuse_the_view():
    view = mode_modal(Mode.IMAGE_TO_VIDEO, {"duration": "99", "strength": "lots", "camera_motion": "spin",
                                            "prompt": "x"}, price_per_second=PRICE)
    check_modal(view)
    by_id = blocks_by_id(view)
    assert by_id["duration"]["element"]["initial_value"] == "5"  # back to the default
    assert "initial_value" not in by_id["strength"]["element"]
    assert "initial_option" not in by_id["camera_motion"]["element"]


def test_problems_show_inline_under_their_field():
    problems = [FieldProblem("duration", "must be 2-15"), FieldProblem("model", "odd")]
    view = mode_modal(Mode.TEXT_TO_VIDEO, {"duration": "99"}, price_per_second=PRICE, errors=problems)
    check_modal(view)
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids[ids.index("duration") + 1] == "duration__problem"
    assert ids[ids.index("prompt") + 1] == "prompt__problem"  # no block of its own: on the prompt
    assert "must be 2-15" in blocks_by_id(view)["duration__problem"]["elements"][0]["text"]


def test_a_very_long_prefill_stays_within_limits():
    long = "<&>" * 700
    view = mode_modal(Mode.TEXT_TO_VIDEO, {"prompt": long, "negative_prompt": long}, price_per_second=PRICE,
                      private_metadata="m" * 5000)
    check_modal(view)


def test_modal_errors_map_problems_to_block_ids():
    problems = [FieldProblem("duration", "must be 2-15"), FieldProblem("input.seed", "too big"),
                FieldProblem("reference_url", "URL 2 must be https"), FieldProblem("model", "odd"),
                FieldProblem("duration", "twice")]
    out = modal_errors(problems, mode=Mode.R2V)
    assert out["response_action"] == "errors"
    assert out["errors"] == {"duration": "must be 2-15; twice", "seed": "too big",
                             "reference_url": "URL 2 must be https", "prompt": "odd"}


def test_modal_errors_for_an_edit_fall_back_to_the_instruction():
    out = modal_errors([FieldProblem("prompt", "odd")], mode=Mode.VIDEO_EDIT)
    assert out["errors"] == {"instruction": "odd"}


def test_a_real_validation_failure_maps_onto_the_modal():
    view = mode_modal(Mode.IMAGE_TO_VIDEO, {}, price_per_second=PRICE)
    mode, fields = parse_modal_submission(submitted(view, {"image_url": "http://10.0.0.1/a.png",
                                                           "prompt": "x", "strength": "3"}))
    with pytest.raises(RequestInvalid) as exc:
        build_request(mode, fields)
    errors = modal_errors(exc.value.problems, mode=mode)["errors"]
    assert set(errors) == {"image_url", "strength"}
    assert set(errors) <= set(blocks_by_id(view))


def test_selected_mode_reads_a_block_actions_state():
    view = mode_modal(None, {}, price_per_second=PRICE)
    values = submitted(view, {MODE_BLOCK: "r2v"})["state"]["values"]
    assert selected_mode(values) == Mode.R2V
    assert selected_mode({}) is None


def test_submission_without_a_mode_is_refused():
    with pytest.raises(RequestInvalid):
        parse_modal_submission({"state": {"values": {}}})


def test_request_changes_modal_round_trip():
    view = request_changes_modal("j_42")
    check_modal(view)
    assert view["callback_id"] == REQUEST_CHANGES_CALLBACK
    view["state"] = {"values": {"note": {"note": {"type": "plain_text_input", "value": "  slower camera "}}}}
    assert parse_request_changes(view) == ("j_42", "slower camera")


@pytest.mark.parametrize("mode", list(Mode))
def test_tweak_prefills_the_modal_from_a_stored_request(mode):
    req = build_request(mode, FULL[mode])
    got_mode, prefill = prefill_from_job(req.body())
    view = mode_modal(got_mode, prefill, price_per_second=PRICE)
    assert build_request(*parse_modal_submission(submitted(view, {}))) == req
