"""One input field: its description (`FieldSpec`) and the checks that clean a raw value for it.

Each cleaner returns the clean value or raises ValueError("must ...") saying what is allowed, so a
caller can prefix the field name. Pure logic, no I/O (inline audio is probed in memory).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot.wan.media import check_data_audio
from bot.wan.urls import check_input_url


@dataclass(frozen=True)
class FieldSpec:
    """One input field: how to ask for it (label, help, flag) and what it accepts."""

    name: str                    # flat input name, as in the request body's `input`
    label: str                   # form label
    kind: str                    # "text" | "int" | "float" | "enum" | "bool" | "url" | "urls"
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
        elif self.kind == "bool":
            text = "on or off"
        else:
            text = f"text of at most {self.max_length} characters"
        if self.name == "audio_url":
            text = "an https:// URL of an mp3 or wav file, 3-30 s (or an inline data:audio/... where the format takes one)"
        if self.default is not None:
            text += f" (default {self.default})"
        return text


class Missing(Exception):
    """The field was not given (None, empty string or empty list)."""


def given(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return any(given(v) for v in value)
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
            if key == choice.lower():  # canonical spelling out, any case in (720p -> 720P)
                return choice
    raise ValueError(f"must be {spec.rule()}")


_TRUE = ("on", "true", "yes", "1")
_FALSE = ("off", "false", "no", "0")


def _clean_bool(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"must be {spec.rule()}")


def _clean_url(spec: FieldSpec, value: Any) -> str:
    if spec.name == "audio_url" and isinstance(value, str) and value.strip()[:11].lower() == "data:audio/":
        return check_data_audio(value.strip())
    return check_input_url(value, field=spec.name, allow_data_image=spec.name == "image_url")


def _clean_urls(spec: FieldSpec, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split()  # URLs hold no whitespace: one per line or space-separated
    elif isinstance(value, (list, tuple)):
        items = [v for v in value if given(v)]
    else:
        raise ValueError(f"must be {spec.rule()}")
    if not items:
        raise Missing
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
             "bool": _clean_bool, "url": _clean_url, "urls": _clean_urls}


def clean_field(spec: FieldSpec, value: Any) -> Any:
    """The clean value, None when not given; raises ValueError naming what is allowed."""
    if not given(value):
        return None
    try:
        cleaned = _CLEANERS[spec.kind](spec, value)
    except Missing:
        return None
    return cleaned if given(cleaned) else None


def required_message(spec: FieldSpec) -> str:
    if spec.kind == "text":
        return f"is required (at most {spec.max_length} characters)"
    return f"is required ({spec.rule()})"
