"""Inline audio for `audio_url` (a `data:audio/...;base64,` URI): type, size and length checked in memory.

Wan 2.6 follows an mp3 or wav file of 3 to 30 seconds and at most 15 MB (Alibaba Cloud Model Studio,
"Wan text-to-video API reference" and "image-to-video: first frame API reference", audio_url,
pages updated Feb 11 and Mar 27, 2026). A URL the gateway fetches cannot be measured here; inline
data can, so a clip the upstream would refuse never leaves the bot.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from functools import lru_cache

AUDIO_TYPES = {"mpeg": "mp3", "mp3": "mp3", "wav": "wav", "x-wav": "wav", "wave": "wav", "vnd.wave": "wav"}
MAX_AUDIO_BYTES = 15 * 1024 * 1024
MIN_AUDIO_SECONDS = 3.0
MAX_AUDIO_SECONDS = 30.0
_DATA_AUDIO = re.compile(r"^data:audio/([a-z.-]+);base64,(.*)$", re.IGNORECASE | re.DOTALL)


def check_data_audio(url: str) -> str:
    """The URI when it holds an mp3 or wav of 3-30 s and at most 15 MB; else ValueError("must ...")."""
    problem = _problem(url)
    if problem:
        raise ValueError(problem)
    return url


@lru_cache(maxsize=8)  # a request is re-validated whenever it is rebuilt; probe each clip once
def _problem(url: str) -> str | None:
    match = _DATA_AUDIO.match(url)
    if not match or match.group(1).lower() not in AUDIO_TYPES:
        return "must be an https:// URL or a data:audio/mpeg (mp3) or data:audio/wav URI, base64-encoded"
    payload = match.group(2)
    if len(payload) // 4 * 3 > MAX_AUDIO_BYTES + 3:  # never decode a payload already too big
        return "must be an audio file of at most 15 MB"
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return "must be a data:audio URI with valid base64 content"
    if len(data) > MAX_AUDIO_BYTES:
        return "must be an audio file of at most 15 MB"
    seconds = audio_seconds(data)
    if seconds is None:
        return "must be a playable mp3 or wav file (this one cannot be read)"
    if not MIN_AUDIO_SECONDS <= seconds <= MAX_AUDIO_SECONDS:
        return f"must be 3 to 30 seconds of audio (this one is {seconds:.1f} s)"
    return None


def audio_seconds(data: bytes) -> float | None:
    """Length of the first audio stream in seconds, or None when the bytes are not readable audio."""
    import av  # deferred: only inline audio needs the decoder library

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.audio
            if not streams:
                return None
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
            # No header duration (some raw mp3s): count decoded samples.
            samples = sum(frame.samples for frame in container.decode(stream))
            rate = stream.rate or stream.codec_context.sample_rate
            return samples / rate if rate else None
    except (av.FFmpegError, OSError, ValueError):
        return None
