"""Where each field of the request model goes in DashScope's native shape (also the base of the openai
format's `metadata`), exact output sizes, and which fields each wire format can carry at all.

Sizes: Wan 2.6 renders a ratio at a tier as an exact `W*H` (Alibaba Cloud Model Studio, "Wan
text-to-video API reference", parameters.size, updated Feb 11, 2026; the same list for r2v in the
"reference-to-video API reference", Mar 30, 2026); i2v takes `resolution` instead and keeps the
image's aspect ("image-to-video: first frame", Mar 27, 2026). Flash models: wan2.6-i2v-flash and
wan2.6-r2v-flash (same pages). Reference videos go in `input.reference_video_urls` (the r2v
reference's video example) and images in `input.reference_urls`.

The openai format is what new-api-style gateways accept: QuantumNous/new-api's Ali task adaptor
(relay/channel/task/ali/adaptor.go, commit 075be92) copies `metadata` onto the DashScope request
through fixed Go structs, so fields those structs lack (shot_type, reference videos) are dropped,
and `prompt_extend: false` vanishes (`omitempty` on a bool): such requests are refused, not sent.
Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.wan.request import FieldProblem, Mode, VideoRequest

DEFAULT_RATIO = "16:9"
DEFAULT_TIER = "720P"  # what the bot pins when no resolution is set: the cheaper tier, as before
SIZES: dict[str, dict[str, str]] = {
    "720P": {"16:9": "1280*720", "9:16": "720*1280", "1:1": "960*960", "4:3": "1088*832", "3:4": "832*1088"},
    "1080P": {"16:9": "1920*1080", "9:16": "1080*1920", "1:1": "1440*1440", "4:3": "1632*1248",
              "3:4": "1248*1632"},
}
SIZE_PARTS: dict[str, tuple[str, str]] = {size: (ratio, tier) for tier, sizes in SIZES.items()
                                          for ratio, size in sizes.items()}
SIZED_MODES = (Mode.TEXT_TO_VIDEO, Mode.R2V)  # modes whose output size is W*H; i2v follows its image

# DashScope's names for our fields under `input`; everything else goes in `parameters`.
_DS_INPUT_NAMES = {"prompt": "prompt", "negative_prompt": "negative_prompt", "image_url": "img_url",
                   "reference_url": "reference_urls", "reference_video_url": "reference_video_urls",
                   "video_url": "video_url", "instruction": "prompt", "audio_url": "audio_url"}
_DS_FROM_WIRE = {"img_url": "image_url", "reference_urls": "reference_url",
                 "reference_video_urls": "reference_video_url"}
_DS_IGNORED = {"function"}  # wire fields the request model has no field for: accepted, not kept
_NOT_PARAMETERS = {"ratio", "resolution", "variant"}  # carried by size/resolution and the model name


def exact_size(ratio: str | None, resolution: str | None) -> str:
    return SIZES[resolution or DEFAULT_TIER][ratio or DEFAULT_RATIO]


def output_tier(req: VideoRequest) -> str:
    """The tier a format that pins it (dashscope) renders: the request's resolution, else 720P."""
    return req.get("resolution") or DEFAULT_TIER


def dashscope_parts(req: VideoRequest, *, pin: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(input, parameters) in DashScope's names. `pin` always states the size or resolution (the native
    API's own default is 1080P, which would cost 1.5x the estimate); else only what the user set."""
    inp: dict[str, Any] = {}
    params: dict[str, Any] = {}
    if req.mode is Mode.VIDEO_EDIT:
        inp["function"] = "video_edit"
    fields = req.fields()
    for name, value in fields.items():
        if name in _DS_INPUT_NAMES:
            inp[_DS_INPUT_NAMES[name]] = value
        elif name not in _NOT_PARAMETERS:
            params[name] = value
    ratio, resolution = fields.get("ratio"), fields.get("resolution")
    if req.mode in SIZED_MODES and (pin or ratio or resolution):
        params["size"] = exact_size(ratio, resolution)
    elif req.mode is Mode.IMAGE_TO_VIDEO and (pin or resolution):
        params["resolution"] = resolution or DEFAULT_TIER
    return inp, params


def flat_from_dashscope(parts: list[Any], problems: list[FieldProblem], *, pinned: bool) -> dict[str, Any]:
    """Flat request fields from DashScope-named objects (the inverse of `dashscope_parts`). A 720P
    size or resolution maps to no resolution, since that is what the encoder sends for none."""
    flat: dict[str, Any] = {}
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, Mapping):
            problems.append(FieldProblem("input", "input and parameters must be JSON objects"))
            continue
        for key, value in part.items():
            if key in _DS_IGNORED:
                continue
            if key == "size":
                if value not in SIZE_PARTS:
                    problems.append(FieldProblem("size", "must be one of " + ", ".join(SIZE_PARTS)))
                    continue
                flat["ratio"], tier = SIZE_PARTS[value]
                if tier != DEFAULT_TIER:
                    flat["resolution"] = tier
                continue
            if key == "resolution" and pinned and value == DEFAULT_TIER:
                continue
            flat[_DS_FROM_WIRE.get(key, key)] = value
    return flat


def guess_mode(model: Any, names: Mapping[Mode, str], flat: Mapping[str, Any], function: Any) -> Mode:
    """The mode from the model name; from the fields when the name is unknown or shared by modes."""
    matches = [mode for mode, name in names.items() if name == model]
    if len(matches) == 1:
        return matches[0]
    if function == "video_edit" or "video_url" in flat:
        return Mode.VIDEO_EDIT
    if "reference_url" in flat or "reference_video_url" in flat:
        return Mode.R2V
    if "image_url" in flat:
        return Mode.IMAGE_TO_VIDEO
    return Mode.TEXT_TO_VIDEO


def canonical(req: VideoRequest, *, pinned: bool) -> VideoRequest:
    """The request as a DashScope-shaped body describes it: what `request_from_body` gives back.
    Same output, same bill: only spellings that send identical bytes are merged."""
    changes: dict[str, Any] = {}
    fields = req.fields()
    if fields.get("variant") == "standard":
        changes["variant"] = None  # the standard model name
    if req.mode in SIZED_MODES:
        if fields.get("ratio") is None and (pinned or fields.get("resolution")):
            changes["ratio"] = DEFAULT_RATIO
        if fields.get("resolution") == DEFAULT_TIER:
            changes["resolution"] = None
    elif req.mode is Mode.IMAGE_TO_VIDEO and pinned and fields.get("resolution") == DEFAULT_TIER:
        changes["resolution"] = None
    return req.with_fields(**changes) if changes else req


# --- what each format can carry ------------------------------------------------------------------

NEWAPI_DROPS = ("shot_type", "reference_video_url")


def carry_problems(req: VideoRequest, fmt_name: str, *, inline_audio: bool,
                   drops: tuple[str, ...] = ()) -> list[FieldProblem]:
    """Fields of `req` this format cannot deliver, each naming the field and the format."""
    problems = []
    where = f"the {fmt_name} wire format (WAN_API_FORMAT={fmt_name})"
    for name in drops:
        if req.get(name) is not None:
            problems.append(FieldProblem(name, f"cannot be sent through {where}; it would be dropped"))
    if fmt_name == "openai" and req.get("prompt_extend") is False:
        problems.append(FieldProblem("prompt_extend", f"cannot be off through {where}: new-api gateways "
                                                      "drop a false value, so the upstream default (on) applies"))
    audio_url = req.get("audio_url")
    if audio_url and audio_url[:5].lower() == "data:" and not inline_audio:
        problems.append(FieldProblem("audio_url", f"must be an https:// URL with {where}; it takes no inline "
                                                  "audio data"))
    return problems
