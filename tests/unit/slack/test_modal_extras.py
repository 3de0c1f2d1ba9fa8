"""The form offers Wan 2.6's own parameters only where the configured wire format carries them."""

from bot.config import Settings
from bot.slack.blocks.modals import modal_errors, mode_modal, parse_modal_submission
from bot.wan.formats import get_format
from bot.wan.request import FieldProblem, Mode, build_request


def block_ids(view) -> list[str]:
    return [b.get("block_id") for b in view["blocks"]]


def carries(fmt: str, mode: Mode):
    return get_format(Settings(wan_api_format=fmt)).carries(mode)


def test_each_format_gets_the_fields_it_carries():
    dashscope = block_ids(mode_modal(Mode.TEXT_TO_VIDEO, price_per_second=0.06,
                                     carries=carries("dashscope", Mode.TEXT_TO_VIDEO)))
    assert {"resolution", "audio", "audio_url", "shot_type", "prompt_extend", "watermark"} <= set(dashscope)
    assert dashscope.index("model_own") < dashscope.index("resolution")
    openai = block_ids(mode_modal(Mode.TEXT_TO_VIDEO, price_per_second=0.06,
                                  carries=carries("openai", Mode.TEXT_TO_VIDEO)))
    assert "resolution" in openai and "shot_type" not in openai
    r2v = block_ids(mode_modal(Mode.R2V, price_per_second=0.06, carries=carries("openai", Mode.R2V)))
    assert "reference_video_url" not in r2v and "variant" in r2v
    page_only = block_ids(mode_modal(Mode.TEXT_TO_VIDEO, price_per_second=0.06))
    assert "resolution" not in page_only and "model_own" not in page_only


def test_switches_read_back_as_the_request_wants_them():
    view = {"state": {"values": {
        "mode": {"mode_select": {"selected_option": {"value": "image-to-video"}}},
        "prompt": {"prompt": {"value": "waves"}},
        "image_url": {"image_url": {"value": "https://example.com/a.png"}},
        "audio": {"audio": {"selected_option": {"value": "off"}}},
        "variant": {"variant": {"selected_option": {"value": "flash"}}},
        "resolution": {"resolution": {"selected_option": None}},
    }}}
    mode, fields = parse_modal_submission(view)
    req = build_request(mode, fields)
    assert (req.get("audio"), req.get("variant"), req.get("resolution")) == (False, "flash", None)
    prefilled = mode_modal(mode, req.fields(), price_per_second=0.06, carries=carries("unified", mode))
    audio = next(b for b in prefilled["blocks"] if b.get("block_id") == "audio")
    assert audio["element"]["initial_option"]["value"] == "off"


def test_a_problem_about_a_field_the_form_lacks_names_the_field():
    out = modal_errors([FieldProblem("shot_type", "cannot be sent through the openai wire format")],
                       mode=Mode.TEXT_TO_VIDEO, carries=carries("openai", Mode.TEXT_TO_VIDEO))
    assert out["errors"] == {"prompt": "shot_type: cannot be sent through the openai wire format"}
