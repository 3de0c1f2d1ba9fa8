"""Inline attachments (an image attached in Slack, sent as a `data:` URI) kept out of the job row.

A 10 MB image is a 13 MB data URI; kept in `jobs.request` it was read back by every list of jobs
(one `/wan jobs`: +546 MB RSS, the database thread held 2.4 s). The store keeps such values in the
`job_attachments` table, read only by the few paths that need the bytes (the submit, a Re-run, a
Tweak, "Show API request"), and the row keeps a short stub saying what it was: its media type and
size, enough for the card's label. Pure functions: the store does the I/O.
"""

from __future__ import annotations

import re
from typing import Any

STUB_PREFIX = "attachment:"
# Kept this long after a job ends (then pruned), so Re-run and Tweak on a finished video keep working
# for a day; after that the user attaches the image again.
KEEP_AFTER_END_SECONDS = 24 * 3600
# Values shorter than this stay inline: a tiny data URI costs less in the row than a second table.
_MIN_MOVED_CHARS = 1024

_STUB = re.compile(r"^attachment:([a-z0-9.+-]+/[a-z0-9.+-]+);bytes=(\d+)$", re.IGNORECASE)
# What pricing sees instead of a stub: a valid one-byte image (pricing never looks at the image).
_PRICING_PLACEHOLDER = "data:image/png;base64,AA=="
_PRICING_AUDIO = "https://example.com/attached-audio.wav"  # never sent: pricing only validates it


def _is_data_uri(value: Any) -> bool:
    return isinstance(value, str) and value[:5].lower() == "data:"


def stub_info(value: Any) -> tuple[str, int] | None:
    """(media type, size in bytes) of an attachment stub, None for anything else."""
    match = _STUB.match(value) if isinstance(value, str) and value.startswith(STUB_PREFIX) else None
    return (match.group(1).lower(), int(match.group(2))) if match else None


def is_inline(value: Any) -> bool:
    """An attached value (a data: URI or its stub): never shown in a form field or a card as text."""
    return _is_data_uri(value) or stub_info(value) is not None


def _stub(data_uri: str) -> str:
    media_type = data_uri[5:].split(";", 1)[0].split(",", 1)[0] or "application/octet-stream"
    payload = data_uri.split(",", 1)[-1]
    size = len(payload) // 4 * 3 - payload[-2:].count("=")
    return f"{STUB_PREFIX}{media_type};bytes={max(size, 0)}"


def split(request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The request as the job row keeps it (large data: URIs replaced by stubs) and the moved values."""
    inputs = request.get("input")
    if not isinstance(inputs, dict):
        return request, {}
    moved = {name: value for name, value in inputs.items()
             if _is_data_uri(value) and len(value) >= _MIN_MOVED_CHARS}
    if not moved:
        return request, {}
    return {**request, "input": {**inputs, **{name: _stub(v) for name, v in moved.items()}}}, moved


def stub_fields(request: dict[str, Any]) -> list[str]:
    inputs = request.get("input")
    return [n for n, v in inputs.items() if stub_info(v)] if isinstance(inputs, dict) else []


def restore(request: dict[str, Any], moved: dict[str, str]) -> dict[str, Any] | None:
    """The full request; None when an attachment it names is gone (pruned after the job ended)."""
    fields = stub_fields(request)
    if not fields:
        return request
    if any(name not in moved for name in fields):
        return None
    return {**request, "input": {**request["input"], **{name: moved[name] for name in fields}}}


def for_pricing(request: dict[str, Any]) -> dict[str, Any]:
    """The request with stubs replaced by a tiny valid stand-in (an image; an https URL for attached
    audio, whose inline form must be a 3-30 s clip): enough to validate and price it."""
    fields = stub_fields(request)
    if not fields:
        return request
    inputs = request["input"]

    def stand_in(name: str) -> str:
        info = stub_info(inputs.get(name))
        return _PRICING_AUDIO if info and info[0].startswith("audio/") else _PRICING_PLACEHOLDER

    return {**request, "input": {**inputs, **{name: stand_in(name) for name in fields}}}

