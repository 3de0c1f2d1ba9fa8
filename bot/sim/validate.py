"""Strict request validation, written independently of the bot's own validator.

The point is to catch encoder bugs: if the bot sends a field the simulator would refuse, a real
gateway would refuse it too. Each wire format is first mapped onto the model page's fields
(internal name -> value and the name it had on the wire), then one table of checks runs.

Ranges of the model's own parameters are Wan 2.6's (Alibaba Cloud Model Studio API references for
text-to-video, image-to-video and reference-to-video, 2026): 720P/1080P with the ten exact sizes,
audio_url an mp3/wav of 3-30 s (URLs only on DashScope), 1-3 reference clips, r2v at most 10 s on
DashScope, flash models for i2v and r2v only. The openai shape refuses what new-api's Ali adaptor
would silently drop (relay/channel/task/ali/adaptor.go): shot_type, reference videos, a false
prompt_extend.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

MAX_SEED = 2147483647
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
CAMERA_MOTIONS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "orbit")
DATA_IMAGE_MAX = 10 * 1024 * 1024
DATA_AUDIO_MAX = 15 * 1024 * 1024
RESOLUTIONS = ("720P", "1080P")
EXACT_SIZES = {  # size -> (ratio, tier)
    "1280*720": ("16:9", "720P"), "720*1280": ("9:16", "720P"), "960*960": ("1:1", "720P"),
    "1088*832": ("4:3", "720P"), "832*1088": ("3:4", "720P"), "1920*1080": ("16:9", "1080P"),
    "1080*1920": ("9:16", "1080P"), "1440*1440": ("1:1", "1080P"), "1632*1248": ("4:3", "1080P"),
    "1248*1632": ("3:4", "1080P"),
}


class Invalid(Exception):
    """A bad field; `field` is the name as the client sent it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


# --- checks: each returns an error message, or None when the value is fine -----------------


def _int_range(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"must be an integer from {lo} to {hi}"
        return None

    return check


def _number_range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            return f"must be a number from {lo} to {hi}"
        return None

    return check


def _enum(*values: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in values else f"must be one of {', '.join(values)}"


def _text(max_len: int, allow_empty: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return "must be a string"
        if not allow_empty and not v.strip():
            return "must not be empty"
        if len(v) > max_len:
            return f"must be at most {max_len} characters (got {len(v)})"
        return None

    return check


def _url_problem(v: Any, allow_data_image: bool = False) -> str | None:
    if not isinstance(v, str) or not v:
        return "must be a URL string"
    if allow_data_image and v.startswith("data:image/"):
        if ";base64," not in v:
            return "data URI must be base64 (data:image/...;base64,...)"
        return "data URI is larger than 10 MB" if len(v) > DATA_IMAGE_MAX * 4 // 3 + 100 else None
    parts = urlsplit(v)
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// URL"
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return "must not point at localhost"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: the gateway would resolve it; no DNS here
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return "must not point at a private, loopback or link-local address"
    return None


def _url(allow_data_image: bool = False) -> Callable[[Any], str | None]:
    return lambda v: _url_problem(v, allow_data_image)


def _url_list(max_items: int, images: bool = True) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items:
            return "must be a URL or a non-empty list of URLs"
        if len(items) > max_items:
            return f"at most {max_items} references"
        for item in items:
            if problem := _url_problem(item, allow_data_image=images):
                return problem
        return None

    return check


def _size(v: Any) -> str | None:
    if isinstance(v, str) and v.replace("x", "*") in EXACT_SIZES:
        return None
    return "must be one of " + ", ".join(EXACT_SIZES)


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _audio_seconds(data: bytes) -> float | None:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            if stream.duration is not None:
                return float(stream.duration * stream.time_base)
            return container.duration / 1_000_000 if container.duration else None
    except (av.FFmpegError, IndexError, OSError, ValueError):
        return None


def _audio_url(v: Any) -> str | None:
    if isinstance(v, str) and v.startswith("data:"):
        head, _, payload = v.partition(";base64,")
        if head not in ("data:audio/mpeg", "data:audio/mp3", "data:audio/wav", "data:audio/x-wav",
                        "data:audio/wave") or not payload:
            return "data URI must be data:audio/mpeg or data:audio/wav, base64"
        if len(payload) > DATA_AUDIO_MAX * 4 // 3 + 4:
            return "audio is larger than 15 MB"
        try:
            seconds = _audio_seconds(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            return "data URI is not valid base64"
        if seconds is None:
            return "is not a readable mp3 or wav file"
        return None if 3 <= seconds <= 30 else f"audio must last 3 to 30 seconds (got {seconds:.1f})"
    return _url_problem(v)


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "prompt": _text(2000),
    "instruction": _text(2000),
    "negative_prompt": _text(2000, allow_empty=True),
    "duration": _int_range(2, 15),
    "seed": _int_range(0, MAX_SEED),
    "strength": _number_range(0.0, 1.0),
    "ratio": _enum(*RATIOS),
    "camera_motion": _enum(*CAMERA_MOTIONS),
    "output_quality": _enum("standard", "high"),
    "edit_region": _text(500, allow_empty=True),
    "image_url": _url(allow_data_image=True),
    "reference_url": _url_list(5),
    "video_url": _url(),
    # the model's own parameters (gateway-api.md, "Beyond the page")
    "resolution": _enum(*RESOLUTIONS),
    "audio": _bool,
    "audio_url": _audio_url,
    "shot_type": _enum("single", "multi"),
    "prompt_extend": _bool,
    "watermark": _bool,
    "variant": _enum("standard", "flash"),
    "reference_video_url": _url_list(3, images=False),
    # wire-format extras
    "size": _size,
    "function": _enum("video_edit"),
}

_MODEL_OWN = ("resolution", "audio", "audio_url", "shot_type", "prompt_extend", "watermark")

# mode -> (required fields, optional fields) in the model page's terms
MODES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text-to-video": (("prompt",), ("negative_prompt", "duration", "ratio", "seed", *_MODEL_OWN)),
    "image-to-video": (("image_url", "prompt"), ("duration", "camera_motion", "strength", "seed", *_MODEL_OWN,
                                                 "variant")),
    # r2v needs reference images or videos (either); no audio_url: voices come from the clips
    "r2v": (("prompt",), ("reference_url", "reference_video_url", "strength", "duration", "seed", "ratio",
                          *(f for f in _MODEL_OWN if f != "audio_url"), "variant")),
    "video-edit": (("video_url", "instruction"), ("duration", "edit_region", "output_quality")),
}

Fields = dict[str, tuple[Any, str]]  # internal name -> (value, name on the wire)


def check_fields(mode: str, fields: Fields, strict: bool, wire_name: Callable[[str], str],
                 extra_optional: tuple[str, ...] = ()) -> None:
    """Raise Invalid for the first bad field. `strict` also refuses fields the mode does not take;
    `wire_name` names a missing field the way this wire format would carry it."""
    required, optional = MODES[mode]
    for name in required:
        if name not in fields or fields[name][0] is None:
            raise Invalid(wire_name(name), f"is required for mode {mode}")
    if mode == "r2v" and all(fields.get(n, (None,))[0] is None for n in ("reference_url", "reference_video_url")):
        raise Invalid(wire_name("reference_url"), "is required for mode r2v (reference images, videos or both)")
    allowed = set(required) | set(optional) | set(extra_optional)
    for name, (value, wire) in fields.items():
        if name not in allowed:
            if strict:
                raise Invalid(wire, f"is not a field of mode {mode}")
            continue
        if value is None and name not in required:
            continue
        if problem := CHECKS[name](value):
            raise Invalid(wire, problem)


# --- the three wire formats ---------------------------------------------------------------


def _dig(body: dict, path: str) -> Any:
    value: Any = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _collect(body: dict, sources: dict[str, tuple[str, ...]]) -> Fields:
    """First present candidate path per internal field."""
    fields: Fields = {}
    for name, paths in sources.items():
        for path in paths:
            value = _dig(body, path)
            if value is not None:
                fields[name] = (value, path)
                break
    return fields


def parse_unified(body: dict) -> tuple[str, Fields]:
    if body.get("model") != "wan2-6":
        raise Invalid("model", "must be wan2-6")
    mode = body.get("mode")
    if mode not in MODES:
        raise Invalid("mode", f"must be one of {', '.join(MODES)}")
    data = body.get("input")
    if not isinstance(data, dict):
        raise Invalid("input", "must be an object")
    fields = {name: (value, f"input.{name}") for name, value in data.items()}
    check_fields(mode, fields, strict=True, wire_name=lambda name: f"input.{name}")
    return mode, fields


def _mode_from_model(model: Any) -> str | None:
    if not isinstance(model, str):
        return None
    for marker, mode in (("t2v", "text-to-video"), ("i2v", "image-to-video"), ("r2v", "r2v"),
                         ("vace", "video-edit"), ("edit", "video-edit")):
        if marker in model:
            return mode
    return None


OPENAI_SOURCES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "instruction": ("instruction",),
    "negative_prompt": ("negative_prompt", "metadata.input.negative_prompt"),
    "duration": ("duration", "metadata.parameters.duration"),
    "seed": ("seed", "metadata.parameters.seed"),
    "size": ("size", "metadata.parameters.size"),
    "strength": ("strength", "metadata.parameters.strength"),
    "camera_motion": ("camera_motion", "metadata.parameters.camera_motion"),
    "image_url": ("image", "image_url", "metadata.input.img_url"),
    "reference_url": ("images", "reference_urls", "metadata.input.reference_urls"),
    "video_url": ("video", "video_url", "metadata.input.video_url"),
    "edit_region": ("edit_region", "metadata.parameters.edit_region"),
    "output_quality": ("output_quality", "metadata.parameters.output_quality"),
    "resolution": ("metadata.parameters.resolution",),
    "audio": ("metadata.parameters.audio",),
    "audio_url": ("metadata.input.audio_url",),
    "prompt_extend": ("metadata.parameters.prompt_extend",),
    "watermark": ("metadata.parameters.watermark",),
}
# Fields new-api's Ali adaptor has no place for: a gateway of that kind would drop them silently.
OPENAI_DROPPED = ("metadata.parameters.shot_type", "metadata.input.reference_video_urls", "shot_type")

DASHSCOPE_SOURCES: dict[str, tuple[str, ...]] = {
    "prompt": ("input.prompt",),
    "negative_prompt": ("input.negative_prompt",),
    "image_url": ("input.img_url",),
    "reference_url": ("input.reference_urls",),
    "video_url": ("input.video_url",),
    "function": ("input.function",),
    "duration": ("parameters.duration",),
    "seed": ("parameters.seed",),
    "size": ("parameters.size",),
    "resolution": ("parameters.resolution",),
    "prompt_extend": ("parameters.prompt_extend",),
    "strength": ("parameters.strength",),
    "camera_motion": ("parameters.camera_motion",),
    "audio": ("parameters.audio",),
    "audio_url": ("input.audio_url",),
    "shot_type": ("parameters.shot_type",),
    "watermark": ("parameters.watermark",),
    "reference_video_url": ("input.reference_video_urls",),
}


def _flat(body: dict, sources: dict[str, tuple[str, ...]], model_field: str) -> tuple[str, Fields]:
    mode = _mode_from_model(body.get("model"))
    if mode is None:
        raise Invalid(model_field, "unknown model (expected e.g. wan2.6-t2v, wan2.6-i2v, wan2.6-r2v)")
    fields = _collect(body, sources)
    if mode == "video-edit" and "instruction" not in fields:
        sources = {**sources, "instruction": ("prompt",)}  # flat formats carry the edit's prompt as prompt
        if "prompt" in fields:
            fields["instruction"] = fields.pop("prompt")
    if "flash" in str(body.get("model")):
        if mode not in ("image-to-video", "r2v"):
            raise Invalid(model_field, f"has no flash variant for {mode} (wan2.6-i2v-flash, wan2.6-r2v-flash)")
        fields["variant"] = ("flash", model_field)
    extras = ("size", "negative_prompt", "seed", "resolution", "prompt_extend", "function")
    check_fields(mode, fields, strict=False, extra_optional=extras,
                 wire_name=lambda name: sources.get(name, (name,))[0])
    audio_url = fields.get("audio_url", (None, ""))
    if isinstance(audio_url[0], str) and audio_url[0].startswith("data:"):
        raise Invalid(audio_url[1], "must be an https URL; this API takes no inline audio data")
    return mode, fields


def parse_openai(body: dict) -> tuple[str, Fields]:
    for path in OPENAI_DROPPED:
        if _dig(body, path) is not None:
            raise Invalid(path, "is not a field a new-api gateway forwards (it would be dropped)")
    if _dig(body, "metadata.parameters.prompt_extend") is False:
        raise Invalid("metadata.parameters.prompt_extend", "false is dropped by new-api gateways (omitempty)")
    return _flat(body, OPENAI_SOURCES, "model")


def parse_dashscope(body: dict) -> tuple[str, Fields]:
    if not isinstance(body.get("input"), dict):
        raise Invalid("input", "must be an object")
    mode, fields = _flat(body, DASHSCOPE_SOURCES, "model")
    if mode == "video-edit" and "function" not in fields:
        raise Invalid("input.function", "is required (video_edit) for video editing")
    if mode == "r2v" and "duration" in fields and fields["duration"][0] > 10:
        raise Invalid("parameters.duration", "must be an integer from 2 to 10 for r2v")
    if mode == "r2v":
        refs = sum(len(v) if isinstance(v, list) else 1 for n in ("reference_url", "reference_video_url")
                   if (v := fields.get(n, (None,))[0]) is not None)
        if refs > 5:
            raise Invalid("input.reference_urls", "at most 5 references (images and videos together)")
    if mode == "image-to-video" and "size" in fields:
        raise Invalid("parameters.size", "is not a parameter of image-to-video (use resolution)")
    return mode, fields
