"""The one request model: Wan 2.6's own schema (gateway-api.md, "The request model").

`build_request(mode, fields)` turns flat, possibly string-typed input (CLI flags, Slack modal values,
a decoded wire body) into a validated, frozen `VideoRequest`, or raises `RequestInvalid` listing
every problem at once, each naming the field and saying what is allowed. `MODE_FIELDS` describes
each mode's fields in form order for the Slack modal and the CLI flags. Pure logic, no I/O.

Video-edit: the spec lists `instruction` ("required; the edit's prompt") and no `prompt` for that
mode, so an edit request carries `instruction` only; a flat `prompt` given for video-edit is
accepted as the instruction (the CLI's `--prompt` and the wire formats' prompt field map onto it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, model_validator

from bot.wan.urls import check_input_url

MODEL_NAME = "wan2-6"
MAX_PROMPT = 2000
MAX_REGION = 200
MAX_REFERENCES = 5
SEED_MAX = 2_147_483_647
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
CAMERA_MOTIONS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "orbit")
QUALITIES = ("standard", "high")


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


@dataclass(frozen=True)
class FieldSpec:
    """One input field: how to ask for it (label, help, flag) and what it accepts."""

    name: str                    # flat input name, as in the request body's `input`
    label: str                   # form label
    kind: str                    # "text" | "int" | "float" | "enum" | "url" | "urls"
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""               # one short line: range and default
    flag: str = ""               # CLI / Slack flag
    max_items: int | None = None  # for "urls"
    max_length: int | None = None  # for "text"
    placeholder: str = ""

    def rule(self) -> str:
        """What the field accepts, phrased to follow "must be"."""
        if self.kind == "int" and self.name == "duration":
            text = f"a whole number of seconds from {int(self.min)} to {int(self.max)}"
        elif self.kind == "int":
            text = f"an integer from {int(self.min)} to {int(self.max)}"
        elif self.kind == "float":
            text = f"a number from {self.min:.1f} to {self.max:.1f}"
        elif self.kind == "enum":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "url":
            text = "an https:// URL on a public host"
        elif self.kind == "urls":
            text = f"1 to {self.max_items} https:// URLs on public hosts"
        else:
            text = f"text of at most {self.max_length} characters"
        if self.default is not None:
            text += f" (default {self.default})"
        return text


def _prompt(required: bool = True) -> FieldSpec:
    need = "required" if required else "optional"
    return FieldSpec("prompt", "Prompt", "text", required=required, max_length=MAX_PROMPT, flag="--prompt",
                     help=f"What the video shows; {need}, at most {MAX_PROMPT} characters",
                     placeholder="A red fox runs through fresh snow at dawn")


_DURATION = FieldSpec("duration", "Duration (seconds)", "int", default=5, min=2, max=15, flag="--duration",
                      help="2-15 seconds, default 5")
_SEED = FieldSpec("seed", "Seed", "int", min=0, max=SEED_MAX, flag="--seed",
                  help=f"0-{SEED_MAX}; same seed and prompt give a similar video; random if empty")
_STRENGTH = FieldSpec("strength", "Strength", "float", min=0.0, max=1.0, flag="--strength",
                      help="0.0-1.0, how closely to follow the input; model default if empty")

MODE_FIELDS: dict[Mode, tuple[FieldSpec, ...]] = {
    Mode.TEXT_TO_VIDEO: (
        _prompt(),
        FieldSpec("negative_prompt", "Negative prompt", "text", max_length=MAX_PROMPT, flag="--negative",
                  help=f"What to avoid; optional, at most {MAX_PROMPT} characters",
                  placeholder="blurry, text, watermark"),
        _DURATION,
        FieldSpec("ratio", "Aspect ratio", "enum", choices=RATIOS, flag="--ratio",
                  help="16:9, 9:16, 1:1, 4:3 or 3:4; model default if empty"),
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

# Accepted flat names that stand for another field (see the module docstring for video-edit).
_ALIASES = {"reference_urls": "reference_url"}
_EDIT_ALIASES = {"prompt": "instruction"}


def field_spec(mode: Mode, name: str) -> FieldSpec | None:
    return next((spec for spec in MODE_FIELDS[mode] if spec.name == name), None)


# --- value checks: each returns the clean value or raises ValueError("must ...") -----------------

class _Missing(Exception):
    """The field was not given (None, empty string or empty list)."""


def _given(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return any(_given(v) for v in value)
    return True


def _clean_text(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be {spec.rule()}")
    text = value.strip()
    if spec.max_length is not None and len(text) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters (got {len(text)})")
    if spec.name == "edit_region":
        return _clean_region(text)
    return text


_REGION_NUMBERS = re.compile(r"^[\d\s,.+-]+$")


def _clean_region(text: str) -> str:
    """Free text, or `x,y,w,h` pixels when it is made of numbers (normalised without spaces)."""
    if not _REGION_NUMBERS.match(text):
        return text
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError("must be free text or x,y,w,h as four whole numbers of pixels, like 0,0,640,360")
    x, y, w, h = (int(p) for p in parts)
    if w == 0 or h == 0:
        raise ValueError("must be x,y,w,h with a width and height above 0")
    return f"{x},{y},{w},{h}"


def _clean_int(spec: FieldSpec, value: Any) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        number = int(value.strip())
    if number is None or not spec.min <= number <= spec.max:
        raise ValueError(f"must be {spec.rule()}")
    return number


def _clean_float(spec: FieldSpec, value: Any) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not spec.min <= number <= spec.max:
        raise ValueError(f"must be {spec.rule()}")
    return number


def _clean_enum(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        for choice in spec.choices:
            if key == choice:
                return choice
    raise ValueError(f"must be {spec.rule()}")


def _clean_url(spec: FieldSpec, value: Any) -> str:
    return check_input_url(value, field=spec.name, allow_data_image=spec.name == "image_url")


def _clean_urls(spec: FieldSpec, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split()  # URLs hold no whitespace: one per line or space-separated
    elif isinstance(value, (list, tuple)):
        items = [v for v in value if _given(v)]
    else:
        raise ValueError(f"must be {spec.rule()}")
    if not items:
        raise _Missing
    if len(items) > spec.max_items:
        raise ValueError(f"must be at most {spec.max_items} URLs (got {len(items)})")
    urls = []
    for i, item in enumerate(items, 1):
        try:
            urls.append(check_input_url(item, field=spec.name))
        except ValueError as exc:
            label = f"URL {i} " if len(items) > 1 else ""
            raise ValueError(f"{label}{exc}") from None
    return tuple(urls)


_CLEANERS = {"text": _clean_text, "int": _clean_int, "float": _clean_float, "enum": _clean_enum,
             "url": _clean_url, "urls": _clean_urls}


def _clean_field(spec: FieldSpec, value: Any) -> Any:
    """The clean value, None when not given; raises ValueError naming what is allowed."""
    if not _given(value):
        return None
    try:
        cleaned = _CLEANERS[spec.kind](spec, value)
    except _Missing:
        return None
    return cleaned if _given(cleaned) else None


def _required_message(spec: FieldSpec) -> str:
    if spec.kind == "text":
        return f"is required (at most {spec.max_length} characters)"
    return f"is required ({spec.rule()})"


def validate_fields(mode: str | Mode, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Clean flat fields for a mode: (clean values with defaults, every problem found)."""
    mode = parse_mode(mode)
    specs = MODE_FIELDS[mode]
    names = [spec.name for spec in specs]
    aliases = {**_ALIASES, **(_EDIT_ALIASES if mode is Mode.VIDEO_EDIT else {})}
    problems: list[FieldProblem] = []
    raw: dict[str, Any] = {}
    for key, value in fields.items():
        name = aliases.get(key, key)
        if name not in names:
            if _given(value):
                problems.append(FieldProblem(key, f"is not a field of {mode.value}; its fields are "
                                                  + ", ".join(names)))
            continue
        if name in raw and _given(raw[name]) and _given(value) and raw[name] != value:
            problems.append(FieldProblem(name, f"was given twice (as {name} and {key}); give it once"))
            continue
        if _given(value) or name not in raw:
            raw[name] = value
    clean: dict[str, Any] = {}
    for spec in specs:
        try:
            value = _clean_field(spec, raw.get(spec.name))
        except ValueError as exc:
            problems.append(FieldProblem(spec.name, str(exc)))
            continue
        if value is None and spec.required:
            problems.append(FieldProblem(spec.name, _required_message(spec)))
        clean[spec.name] = spec.default if value is None else value
    return clean, problems


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


class I2VInput(_Input):
    MODE: ClassVar[Mode] = Mode.IMAGE_TO_VIDEO
    image_url: str
    prompt: str
    duration: int = 5
    camera_motion: str | None = None
    strength: float | None = None


class R2VInput(_Input):
    MODE: ClassVar[Mode] = Mode.R2V
    reference_url: tuple[str, ...]
    prompt: str
    strength: float | None = None
    duration: int = 5
    seed: int | None = None


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

    def fields(self) -> dict[str, Any]:
        """Flat input fields, None omitted: `build_request(req.mode, req.fields()) == req`."""
        return self.input.model_dump(mode="json", exclude_none=True)

    def body(self) -> dict[str, Any]:
        """The unified wire body: {"model", "mode", "input": {...}} with unset fields omitted."""
        return {"model": self.model, "mode": self.mode.value, "input": self.fields()}

    def with_seed(self, seed: int) -> VideoRequest:
        """The same request with a new seed (a re-run); unchanged for modes without a seed field."""
        if field_spec(self.mode, "seed") is None:
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


def estimate_cost_usd(req: VideoRequest, price_per_second: float) -> float:
    """What the request will cost: duration x price, in USD to 4 decimal places."""
    return round(req.duration * price_per_second, 4)
