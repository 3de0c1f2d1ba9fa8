"""Real, small, playable MP4 files for the simulator.

Colours come from a hash of the prompt so the same prompt always gives the same clip, and tests
(and people trying the bot offline) can tell two videos apart. Bytes are cached per hash. A task's
clip lasts the seconds it asked for, at a low frame rate, in its aspect, with an AAC soundtrack
when sound was asked for (Wan 2.6 adds one unless `audio` is off).
"""

from __future__ import annotations

import array
import hashlib
import io
import math
from collections import OrderedDict
from fractions import Fraction

import av

FPS = 8
FRAMES = 12  # the default clip (no duration asked): 1.5 s
TASK_FPS = 4  # clips of a requested length: seconds x 4 frames keeps a 15 s clip small and quick
AUDIO_RATE = 16000
# Small frame sizes per ratio; both sides even because H.264 with yuv420p needs that.
SIZES = {"16:9": (160, 90), "9:16": (90, 160), "1:1": (96, 96), "4:3": (128, 96), "3:4": (96, 128)}
_CACHE_SIZE = 32
_cache: OrderedDict[tuple[str, int, int, int | None, bool], bytes] = OrderedDict()


def pick_codec() -> str:
    """H.264 when this PyAV build can encode it (plays everywhere), else MPEG-4 part 2."""
    for name in ("libx264", "libopenh264"):
        if name in av.codecs_available:
            try:
                av.codec.Codec(name, "w")
                return name
            except Exception:  # listed but not usable as an encoder in this build
                continue
    return "mpeg4"


CODEC = pick_codec()


def _colours(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return (digest[0], digest[1], digest[2]), (255 - digest[0], 255 - digest[1], 255 - digest[2])


def _frame(width: int, height: int, index: int, frames: int, bg, bar) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    # A bar sweeping left to right so the clip visibly moves.
    bar_x = (index * width) // frames
    bar_w = max(2, width // 8)
    row = bytearray()
    for x in range(width):
        row += bytes(bar if bar_x <= x < bar_x + bar_w else bg)
    row += bytes(plane.line_size - len(row))  # rows may be padded
    plane.update(bytes(row) * height)
    return frame


def _add_tone(container, stream, seconds: float, pitch: float) -> None:
    """A quiet sine tone lasting the clip: a real audio stream a player (and PyAV) can read."""
    samples = int(seconds * AUDIO_RATE)
    chunk = stream.codec_context.frame_size or 1024
    pts = 0
    while pts < samples:
        n = min(chunk, samples - pts)
        values = [0.2 * math.sin(2 * math.pi * pitch * (pts + i) / AUDIO_RATE) for i in range(n)]
        frame = av.AudioFrame(format="flt", layout="mono", samples=n)
        frame.planes[0].update(array.array("f", values).tobytes())
        frame.sample_rate, frame.pts = AUDIO_RATE, pts
        for packet in stream.encode(frame):
            container.mux(packet)
        pts += n
    for packet in stream.encode():
        container.mux(packet)


def render(prompt: str, width: int, height: int, seconds: int | None = None, audio: bool = False) -> bytes:
    out = io.BytesIO()
    bg, bar = _colours(prompt)
    fps, frames = (FPS, FRAMES) if seconds is None else (TASK_FPS, seconds * TASK_FPS)
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream(CODEC, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        sound = None
        if audio:  # every stream exists before the first packet is written
            sound = container.add_stream("aac", rate=AUDIO_RATE)
            sound.layout = "mono"
        for i in range(frames):
            frame = _frame(width, height, i, frames, bg, bar).reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _add_tone(container, sound, frames / fps, 220 + bg[0])
    return out.getvalue()


def video_bytes(prompt: str, ratio: str = "16:9", seconds: int | None = None, audio: bool = False) -> bytes:
    """The MP4 for this prompt, from a small LRU cache (rendering takes tens of milliseconds)."""
    width, height = SIZES.get(ratio, SIZES["16:9"])
    key = (hashlib.sha256(prompt.encode()).hexdigest(), width, height, seconds, audio)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    data = render(prompt, width, height, seconds, audio)
    _cache[key] = data
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return data
