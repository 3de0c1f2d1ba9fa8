"""The one request model: Wan 2.6's own schema (gateway-api.md, "The request model").

`build_request(mode, fields)` turns flat, possibly string-typed input (CLI flags, Slack modal values,
a decoded wire body) into a validated, frozen `VideoRequest`, or raises `RequestInvalid` listing
every problem at once, each naming the field and saying what is allowed. `MODE_FIELDS` describes
each mode's fields of the model page in form order for the Slack modal and the CLI flags;
`EXTRA_FIELDS` the model's own parameters beyond the page (gateway-api.md, "Beyond the page"),
optional and never set unless the user set them; `ALL_FIELDS` both. Pure logic, no I/O.

Wan 2.6's ranges for the extra fields, from Alibaba Cloud Model Studio's API references (Singapore):
text-to-video (updated Feb 11, 2026), image-to-video first frame (Mar 27, 2026) and
reference-to-video (Mar 30, 2026): resolution 720P or 1080P, `audio` on by default, `audio_url` an
mp3/wav of 3-30 s (not with reference videos), `shot_type` single/multi taking effect only with
`prompt_extend` (on by default), reference videos 1-3 clips of 2-30 s, flash variants for i2v and r2v.

Video-edit: the spec lists `instruction` ("required; the edit's prompt") and no `prompt` for that
mode, so an edit request carries `instruction` only; a flat `prompt` given for video-edit is
accepted as the instruction (the CLI's `--prompt` and the wire formats' prompt field map onto it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, model_validator

from bot.wan.fields import FieldSpec, clean_field, given, required_message

MODEL_NAME = "wan2-6"
MAX_PROMPT = 2000
MAX_REGION = 200
MAX_REFERENCES = 5
SEED_MAX = 2_147_483_647
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
CAMERA_MOTIONS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "orbit")
QUALITIES = ("standard", "high")
RESOLUTIONS = ("720P", "1080P")
SHOT_TYPES = ("single", "multi")
VARIANTS = ("standard", "flash")
MAX_REFERENCE_VIDEOS = 3

__all__ = ["FieldSpec"]  # re-exported: callers describe fields through the request module


class Mode(StrEnum):
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    R2V = "r2v"
    VIDEO_EDIT = "video-edit"


SHORT_NAMES = {Mode.TEXT_TO_VIDEO: "t2v", Mode.IMAGE_TO_VIDEO: "i2v", Mode.R2V: "r2v", Mode.VIDEO_EDIT: "edit"}


class FieldProblem(NamedTuple):
    field: str
    message: str


class RequestInvalid(ValueError):
    """A request the bot will not send; `problems` names every bad field and what it allows."""

    def __init__(self, problems: Iterable[FieldProblem]):
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems)


def parse_mode(text: str | Mode) -> Mode:
    """A mode from its short (`t2v`) or long (`text-to-video`) name, any case."""
    if isinstance(text, Mode):
        return text
    key = str(text).strip().lower().replace("_", "-")
    for mode, short in SHORT_NAMES.items():
        if key in (mode.value, short):
            return mode
    allowed = ", ".join(f"{short} ({mode.value})" for mode, short in SHORT_NAMES.items())
    raise RequestInvalid([FieldProblem("mode", f"must be one of {allowed}")])


def _prompt(required: bool = True) -> FieldSpec:
    need = "required" if required else "optional"
    return FieldSpec("prompt", "Prompt", "text", required=required, max_length=MAX_PROMPT, flag="--prompt",
                     help=f"What the video shows; {need}, at most {MAX_PROMPT} characters",
                     placeholder="A red fox runs through fresh snow at dawn")


_DURATION = FieldSpec("duration", "Duration (seconds)", "int", default=5, min=2, max=15, flag="--duration",
                      help="2-15 seconds, default 5")
_SEED = FieldSpec("seed", "Seed", "int", min=0, max=SEED_MAX, flag="--seed",
                  help=f"0-{SEED_MAX}; same seed and prompt give a similar video; random if empty")
_RATIO = FieldSpec("ratio", "Aspect ratio", "enum", choices=RATIOS, flag="--ratio",
                   help="16:9, 9:16, 1:1, 4:3 or 3:4; model default if empty")
_STRENGTH = FieldSpec("strength", "Strength", "float", min=0.0, max=1.0, flag="--strength",
                      help="0.0-1.0, how closely to follow the input; model default if empty")

MODE_FIELDS: dict[Mode, tuple[FieldSpec, ...]] = {
    Mode.TEXT_TO_VIDEO: (
        _prompt(),
        FieldSpec("negative_prompt", "Negative prompt", "text", max_length=MAX_PROMPT, flag="--negative",
                  help=f"What to avoid; optional, at most {MAX_PROMPT} characters",
                  placeholder="blurry, text, watermark"),
        _DURATION,
        _RATIO,
        _SEED,
    ),
    Mode.IMAGE_TO_VIDEO: (
        FieldSpec("image_url", "Image URL", "url", required=True, flag="--image",
                  help="https:// link to the first frame (or an attached image, at most 10 MB); required",
                  placeholder="https://example.com/frame.png"),
        _prompt(),
        _DURATION,
        FieldSpec("camera_motion", "Camera motion", "enum", choices=CAMERA_MOTIONS, flag="--camera",
                  help=", ".join(CAMERA_MOTIONS) + "; none if empty"),
        _STRENGTH,
    ),
    Mode.R2V: (
        FieldSpec("reference_url", "Reference URLs", "urls", required=True, max_items=MAX_REFERENCES,
                  flag="--reference", help=f"1-{MAX_REFERENCES} https:// links, one per line; required",
                  placeholder="https://example.com/character.png"),
        _prompt(),
        _STRENGTH,
        _DURATION,
        _SEED,
    ),
    Mode.VIDEO_EDIT: (
        FieldSpec("video_url", "Video URL", "url", required=True, flag="--video",
                  help="https:// link to the video to edit; required",
                  placeholder="https://example.com/clip.mp4"),
        FieldSpec("instruction", "Edit instruction", "text", required=True, max_length=MAX_PROMPT,
                  flag="--instruction", help=f"What to change; required, at most {MAX_PROMPT} characters",
                  placeholder="Make it snow"),
        _DURATION,
        FieldSpec("edit_region", "Edit region", "text", max_length=MAX_REGION, flag="--region",
                  help='Free text ("the sky") or x,y,w,h in pixels; whole frame if empty'),
        FieldSpec("output_quality", "Output quality", "enum", choices=QUALITIES, flag="--quality",
                  help="standard or high; model default if empty"),
    ),
}

_RESOLUTION = FieldSpec("resolution", "Resolution", "enum", choices=RESOLUTIONS, flag="--resolution",
                        help="720P or 1080P (1080P costs more); the format's default tier if empty")
_AUDIO = FieldSpec("audio", "Sound", "bool", flag="--audio",
                   help="on: the model adds a synchronized soundtrack; off: silent; upstream default on")
_AUDIO_URL = FieldSpec("audio_url", "Audio URL", "url", flag="--audio-url",
                       help="https:// link to an mp3 or wav of 3-30 s for the video to follow",
                       placeholder="https://example.com/voice.mp3")
_SHOT = FieldSpec("shot_type", "Shots", "enum", choices=SHOT_TYPES, flag="--shot",
                  help="single or multi (a multi-shot story; needs prompt extension on)")
_EXTEND = FieldSpec("prompt_extend", "Prompt extension", "bool", flag="--prompt-extend",
                    help="on: the upstream rewrites and extends the prompt; upstream default on")
_WATERMARK = FieldSpec("watermark", "Watermark", "bool", flag="--watermark",
                       help="on: an 'AI generated' mark on the video; upstream default off")
_VARIANT = FieldSpec("variant", "Variant", "enum", choices=VARIANTS, flag="--variant",
                     help="flash: a faster, cheaper model for drafts; standard if empty")

EXTRA_FIELDS: dict[Mode, tuple[FieldSpec, ...]] = {
    Mode.TEXT_TO_VIDEO: (_RESOLUTION, _AUDIO, _AUDIO_URL, _SHOT, _EXTEND, _WATERMARK),
    # i2v's seed: the page lists none, but Wan 2.6 takes one (and Final re-renders the same take)
    Mode.IMAGE_TO_VIDEO: (_SEED, _RESOLUTION, _AUDIO, _AUDIO_URL, _SHOT, _EXTEND, _WATERMARK, _VARIANT),
    # r2v takes no audio_url: its voices come from the reference videos (Model Studio r2v reference).
    Mode.R2V: (
        FieldSpec("reference_video_url", "Reference videos", "urls", max_items=MAX_REFERENCE_VIDEOS,
                  flag="--reference-video",
                  help="1-3 https:// links to clips of 2-30 s; name them character1, character2... in the prompt",
                  placeholder="https://example.com/character1.mp4"),
        _RATIO,  # the page has none for r2v, but its output is sized W*H like t2v's
        _RESOLUTION, _AUDIO, _SHOT, _EXTEND, _WATERMARK, _VARIANT,
    ),
    Mode.VIDEO_EDIT: (),
}
ALL_FIELDS: dict[Mode, tuple[FieldSpec, ...]] = {mode: MODE_FIELDS[mode] + EXTRA_FIELDS[mode] for mode in Mode}

# Accepted flat names that stand for another field (see the module docstring for video-edit).
_ALIASES = {"reference_urls": "reference_url", "reference_video_urls": "reference_video_url"}
_EDIT_ALIASES = {"prompt": "instruction"}


def field_spec(mode: Mode, name: str) -> FieldSpec | None:
    return next((spec for spec in ALL_FIELDS[mode] if spec.name == name), None)


def _combination_problems(clean: Mapping[str, Any]) -> list[FieldProblem]:
    """Rules between fields: a request the upstream would refuse or silently ignore."""
    problems = []
    if clean.get("audio_url") and clean.get("audio") is False:
        problems.append(FieldProblem("audio", "cannot be off when audio_url is given (the video follows that audio)"))
    if clean.get("shot_type") == "multi" and clean.get("prompt_extend") is False:
        problems.append(FieldProblem("shot_type", "multi takes effect only with prompt_extend on"))
    return problems


def validate_fields(mode: str | Mode, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Clean flat fields for a mode: (clean values with defaults, every problem found)."""
    mode = parse_mode(mode)
    specs = ALL_FIELDS[mode]
    names = [spec.name for spec in specs]
    aliases = {**_ALIASES, **(_EDIT_ALIASES if mode is Mode.VIDEO_EDIT else {})}
    problems: list[FieldProblem] = []
    raw: dict[str, Any] = {}
    for key, value in fields.items():
        name = aliases.get(key, key)
        if name not in names:
            if given(value):
                problems.append(FieldProblem(key, f"is not a field of {mode.value}; its fields are "
                                                  + ", ".join(names)))
            continue
        if name in raw and given(raw[name]) and given(value) and raw[name] != value:
            problems.append(FieldProblem(name, f"was given twice (as {name} and {key}); give it once"))
            continue
        if given(value) or name not in raw:
            raw[name] = value
    clean: dict[str, Any] = {}
    for spec in specs:
        try:
            value = clean_field(spec, raw.get(spec.name))
        except ValueError as exc:
            problems.append(FieldProblem(spec.name, str(exc)))
            continue
        if value is None and spec.required and not _required_elsewhere(spec, raw):
            problems.append(FieldProblem(spec.name, required_message(spec)))
        clean[spec.name] = spec.default if value is None else value
    return clean, problems + _combination_problems(clean)


def _required_elsewhere(spec: FieldSpec, raw: Mapping[str, Any]) -> bool:
    # r2v needs references: images (the page's reference_url), videos, or both.
    return spec.name == "reference_url" and given(raw.get("reference_video_url"))


# --- the models ----------------------------------------------------------------------------------

class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    MODE: ClassVar[Mode]

    @model_validator(mode="after")
    def _check(self) -> _Input:
        # The same checks as build_request, so a model built directly cannot hold a bad value.
        _, problems = validate_fields(self.MODE, self.model_dump(exclude_none=True))
        if problems:
            raise ValueError(str(RequestInvalid(problems)))
        return self


class T2VInput(_Input):
    MODE: ClassVar[Mode] = Mode.TEXT_TO_VIDEO
    prompt: str
    negative_prompt: str | None = None
    duration: int = 5
    ratio: str | None = None
    seed: int | None = None
    resolution: str | None = None  # the model's own parameters from here on: unset = not sent
    audio: bool | None = None
    audio_url: str | None = None
    shot_type: str | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None


class I2VInput(_Input):
    MODE: ClassVar[Mode] = Mode.IMAGE_TO_VIDEO
    image_url: str
    prompt: str
    duration: int = 5
    camera_motion: str | None = None
    strength: float | None = None
    seed: int | None = None  # the model's own parameters from here on: unset = not sent
    resolution: str | None = None
    audio: bool | None = None
    audio_url: str | None = None
    shot_type: str | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None
    variant: str | None = None


class R2VInput(_Input):
    MODE: ClassVar[Mode] = Mode.R2V
    reference_url: tuple[str, ...] | None = None  # images; reference_video_url may stand in (checked)
    prompt: str
    strength: float | None = None
    duration: int = 5
    seed: int | None = None
    reference_video_url: tuple[str, ...] | None = None
    ratio: str | None = None
    resolution: str | None = None  # the model's own parameters from here on: unset = not sent
    audio: bool | None = None
    shot_type: str | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None
    variant: str | None = None


class EditInput(_Input):
    MODE: ClassVar[Mode] = Mode.VIDEO_EDIT
    video_url: str
    instruction: str
    duration: int = 5
    edit_region: str | None = None
    output_quality: str | None = None


INPUT_MODELS: dict[Mode, type[_Input]] = {
    Mode.TEXT_TO_VIDEO: T2VInput, Mode.IMAGE_TO_VIDEO: I2VInput, Mode.R2V: R2VInput, Mode.VIDEO_EDIT: EditInput,
}
AnyInput = T2VInput | I2VInput | R2VInput | EditInput


class VideoRequest(BaseModel):
    """A validated request in the model page's shape; `body()` is the unified wire body."""

    model_config = ConfigDict(frozen=True)
    model: Literal["wan2-6"] = MODEL_NAME
    mode: Mode
    input: AnyInput

    @model_validator(mode="before")
    @classmethod
    def _input_for_mode(cls, data: Any) -> Any:
        # Pick the input model from the mode rather than letting pydantic guess from the fields.
        if isinstance(data, dict) and isinstance(data.get("input"), Mapping):
            mode = parse_mode(data.get("mode", Mode.TEXT_TO_VIDEO))
            data = {**data, "mode": mode, "input": INPUT_MODELS[mode].model_validate(dict(data["input"]))}
        return data

    @model_validator(mode="after")
    def _input_matches_mode(self) -> VideoRequest:
        if not isinstance(self.input, INPUT_MODELS[self.mode]):
            raise ValueError(f"input does not match mode {self.mode.value}")
        return self

    @property
    def duration(self) -> int:
        return self.input.duration

    @property
    def prompt_text(self) -> str:
        """The prompt, or the instruction for a video edit."""
        if isinstance(self.input, EditInput):
            return self.input.instruction
        return self.input.prompt

    @property
    def seed(self) -> int | None:
        return getattr(self.input, "seed", None)

    def get(self, name: str) -> Any:
        """An input field's value, None when unset or not a field of this mode."""
        return getattr(self.input, name, None)

    @property
    def flash(self) -> bool:
        return self.get("variant") == "flash"

    @property
    def sound(self) -> bool:
        """Whether the video comes with sound: upstream adds it unless `audio` is off (Model Studio)."""
        if self.mode is Mode.VIDEO_EDIT:
            return False
        return self.get("audio") is not False

    def with_fields(self, **changes: Any) -> VideoRequest:
        """The same request with some fields changed (None unsets one), validated again."""
        return build_request(self.mode, {**self.fields(), **changes})

    def fields(self) -> dict[str, Any]:
        """Flat input fields, None omitted: `build_request(req.mode, req.fields()) == req`."""
        return self.input.model_dump(mode="json", exclude_none=True)

    def body(self) -> dict[str, Any]:
        """The unified wire body: {"model", "mode", "input": {...}} with unset fields omitted."""
        return {"model": self.model, "mode": self.mode.value, "input": self.fields()}

    def with_seed(self, seed: int) -> VideoRequest:
        """The same request with a new seed (a re-run); unchanged for modes whose page fields have no
        seed (i2v takes one only as the model's own parameter: never added unasked)."""
        if not any(spec.name == "seed" for spec in MODE_FIELDS[self.mode]) and self.seed is None:
            return self
        return build_request(self.mode, {**self.fields(), "seed": seed})


def build_request(mode: str | Mode, fields: Mapping[str, Any]) -> VideoRequest:
    """Validate flat fields for a mode; raises RequestInvalid listing every problem."""
    mode = parse_mode(mode)
    clean, problems = validate_fields(mode, fields)
    if problems:
        raise RequestInvalid(problems)
    values = {k: v for k, v in clean.items() if v is not None}
    return VideoRequest(mode=mode, input=INPUT_MODELS[mode](**values))


def estimate_cost_usd(req: VideoRequest, price: Any) -> float:
    """What the request will cost in USD to 4 decimal places: duration x a flat price per second, or
    the estimate of a `bot.wan.pricing.Pricing` (the price table; duck-typed to keep imports one-way)."""
    if hasattr(price, "estimate"):
        return price.estimate(req)
    return round(req.duration * price, 4)
