"""Hypothesis strategies: valid requests for every mode, and single invalid field values."""

from __future__ import annotations

import base64
import re

from hypothesis import strategies as st

from bot.wan.request import ALL_FIELDS, FieldSpec, Mode, build_request

_label = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
https_urls = st.builds("https://{}.example.com/{}.png?v={}".format, _label, _label, st.integers(0, 999))
data_images = st.binary(min_size=1, max_size=64).map(
    lambda b: "data:image/png;base64," + base64.b64encode(b).decode())
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80).filter(str.strip)
regions = st.one_of(
    # free text: anything that does not look like numbers (those must be exactly x,y,w,h)
    texts.map(lambda s: s[:200]).filter(lambda s: not re.fullmatch(r"[\d\s,.+-]+", s)),
    st.tuples(st.integers(0, 4000), st.integers(0, 4000), st.integers(1, 4000), st.integers(1, 4000))
    .map(lambda t: ",".join(map(str, t))),
)


def _value(spec: FieldSpec) -> st.SearchStrategy:
    if spec.name == "edit_region":
        return regions
    if spec.kind == "text":
        return texts
    if spec.kind == "int":
        ints = st.integers(int(spec.min), int(spec.max))
        return st.one_of(ints, ints.map(str))  # CLI strings too
    if spec.kind == "float":
        return st.floats(spec.min, spec.max, allow_nan=False)
    if spec.kind == "enum":
        return st.sampled_from(spec.choices)
    if spec.kind == "bool":
        return st.one_of(st.booleans(), st.sampled_from(["on", "off", "true", "false", "yes", "no"]))
    if spec.kind == "url":
        return st.one_of(https_urls, data_images) if spec.name == "image_url" else https_urls
    return st.lists(https_urls, min_size=1, max_size=spec.max_items)


@st.composite
def valid_fields(draw, mode: Mode | None = None):
    mode = mode or draw(st.sampled_from(list(Mode)))
    fields = {}
    for spec in ALL_FIELDS[mode]:
        if spec.required or draw(st.booleans()):
            fields[spec.name] = draw(_value(spec))
    # Combinations the request model refuses on purpose (tested on their own): keep the valid side.
    if "audio_url" in fields and fields.get("audio") in (False, "off", "false", "no"):
        del fields["audio"]
    if fields.get("shot_type") == "multi" and fields.get("prompt_extend") in (False, "off", "false", "no"):
        del fields["prompt_extend"]
    return mode, fields


def valid_requests():
    return valid_fields().map(lambda case: build_request(*case))


def _bad_value(spec: FieldSpec) -> st.SearchStrategy:
    if spec.name == "edit_region":
        return st.one_of(st.just("1,2,3"), st.just("0,0,0,5"), st.just("-1,0,5,5"), st.just("x" * 201))
    if spec.kind == "text":
        return st.text(min_size=spec.max_length + 1, max_size=spec.max_length + 20).filter(
            lambda s: len(s.strip()) > spec.max_length)
    if spec.kind == "int":
        return st.one_of(st.integers(max_value=int(spec.min) - 1), st.integers(min_value=int(spec.max) + 1),
                         st.integers(max_value=int(spec.min) - 1).map(str), st.just("ten"), st.just(True),
                         st.floats(spec.min, spec.max).filter(lambda f: not f.is_integer()))
    if spec.kind == "float":
        return st.one_of(st.floats(max_value=spec.min, exclude_max=True),
                         st.floats(min_value=spec.max, exclude_min=True), st.just("nan"), st.just("high"))
    if spec.kind == "enum":
        return st.text(min_size=1, max_size=12).filter(
            lambda s: s.strip() and s.strip().lower().replace("-", "_") not in spec.choices)
    if spec.kind == "bool":
        return st.one_of(st.just("maybe"), st.just(2), st.just("onn"), st.just(0.5))
    bad_urls = st.one_of(
        https_urls.map(lambda u: "http" + u[5:]),
        st.sampled_from(["https://localhost/a", "https://10.0.0.1/a", "https://[::1]/a", "ftp://example.com/a",
                         "https://127.1/a", "https://user@example.com/a", "not a url", "https://x.internal/a"]),
    )
    if spec.kind == "url":
        return bad_urls
    return st.one_of(st.lists(https_urls, min_size=spec.max_items + 1, max_size=spec.max_items + 3),
                     st.tuples(https_urls, bad_urls).map(list))


@st.composite
def invalid_values(draw):
    """(mode, fields, bad_field): a valid request with one field made bad or a required one removed."""
    mode, fields = draw(valid_fields())
    spec = draw(st.sampled_from(ALL_FIELDS[mode]))
    if spec.required and draw(st.booleans()):
        fields.pop(spec.name)
        fields.pop("reference_video_url", None)  # r2v's references may be videos instead of images
    else:
        fields[spec.name] = draw(_bad_value(spec))
    return mode, fields, spec.name


def wav_data_uri(seconds: float, rate: int = 8000) -> str:
    """A silent mono WAV of `seconds` as a data:audio URI (inline audio for audio_url)."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()
