"""Draft and final settings (`WANBOT_DRAFT`, `WANBOT_FINAL`): a few of the model's own parameters
applied over a request, e.g. `variant=flash,resolution=720P,audio=off` for a cheap draft and
`resolution=1080P,audio=on` for the final render of the same request and seed.

A setting only touches what the request's mode has and what the configured wire format carries
(t2v has no flash variant; a draft there is 720P and silent). Pure logic, no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from bot.wan.request import (
    ALL_FIELDS,
    EXTRA_FIELDS,
    SEED_MAX,
    Mode,
    RequestInvalid,
    VideoRequest,
    validate_fields,
)

DEFAULT_DRAFT = "variant=flash,resolution=720P,audio=off"
DEFAULT_FINAL = "resolution=1080P,audio=on"
_ALLOWED = sorted({spec.name for specs in EXTRA_FIELDS.values() for spec in specs
                   if spec.kind in ("enum", "bool")})


def parse_profile(text: str) -> dict[str, Any]:
    """`name=value,...` -> clean values; ValueError naming the part that is wrong."""
    profile: dict[str, Any] = {}
    for part in (p.strip() for p in str(text or "").split(",")):
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not eq or name not in _ALLOWED:
            raise ValueError(f"{part!r}: use name=value with a name among {', '.join(_ALLOWED)}")
        spec = next(s for specs in EXTRA_FIELDS.values() for s in specs if s.name == name)
        mode = next(m for m, specs in EXTRA_FIELDS.items() if spec in specs)
        clean, problems = validate_fields(mode, {**_minimal(mode), name: value.strip()})
        if problems:
            raise ValueError(f"{part!r}: {name} " + problems[0].message)
        profile[name] = clean[name]
    return profile


def _minimal(mode: Mode) -> dict[str, Any]:
    """Just enough of a request of `mode` for one field to be validated on its own."""
    return {Mode.TEXT_TO_VIDEO: {"prompt": "x"},
            Mode.IMAGE_TO_VIDEO: {"prompt": "x", "image_url": "https://example.com/a.png"},
            Mode.R2V: {"prompt": "x", "reference_url": "https://example.com/a.png"},
            Mode.VIDEO_EDIT: {"instruction": "x", "video_url": "https://example.com/a.mp4"}}[mode]


def _usable(req: VideoRequest, profile: Mapping[str, Any], carries: Iterable[str] | None) -> dict[str, Any]:
    names = {spec.name for spec in ALL_FIELDS[req.mode]}
    if carries is not None:
        names &= set(carries)
    return {name: value for name, value in profile.items() if name in names}


def with_seed_pinned(req: VideoRequest, rng: random.Random | None = None) -> VideoRequest:
    """The request with a seed (a random one when it has none), so a later Final renders the same
    take; unchanged for a mode without a seed."""
    if req.seed is not None or not any(spec.name == "seed" for spec in ALL_FIELDS[req.mode]):
        return req
    return req.with_fields(seed=(rng or random).randint(0, SEED_MAX))


def draft_request(req: VideoRequest, draft: Mapping[str, Any], *, carries: Iterable[str] | None = None,
                  rng: random.Random | None = None) -> VideoRequest:
    """The cheap version: the draft settings the mode and format allow, and a pinned seed."""
    changes = _usable(req, draft, carries)
    try:
        drafted = req.with_fields(**changes) if changes else req
    except RequestInvalid:
        # e.g. audio=off against a given audio_url: the user's explicit choice wins over the draft's
        changes.pop("audio", None)
        drafted = req.with_fields(**changes) if changes else req
    return with_seed_pinned(drafted, rng)


def final_request(req: VideoRequest, draft: Mapping[str, Any], final: Mapping[str, Any], *,
                  carries: Iterable[str] | None = None) -> VideoRequest:
    """The same request and seed at the final settings: what the draft set and the final does not
    name goes back to unset (a flash draft becomes the standard model)."""
    changes: dict[str, Any] = {name: None for name in _usable(req, draft, carries) if name not in final}
    changes.update(_usable(req, final, carries))
    if req.get("audio_url") and changes.get("audio") is False:
        changes.pop("audio")
    return req.with_fields(**changes) if changes else req


def with_more_prompt(req: VideoRequest, more: str) -> VideoRequest:
    """A preset's request with `more` appended to its prompt (the instruction, for an edit)."""
    more = " ".join(str(more or "").split())
    if not more:
        return req
    name = "instruction" if req.mode is Mode.VIDEO_EDIT else "prompt"
    return req.with_fields(**{name: f"{req.prompt_text} {more}"})
