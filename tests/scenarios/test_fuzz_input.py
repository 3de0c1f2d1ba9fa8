"""Bad input: whatever users type or submit, they get a job or a helpful message, never an error page."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.grammar import Generate, Usage, parse_command
from bot.wan.request import RequestInvalid, build_request
from tests.support.world import CHANNEL

FRAGMENTS = ["t2v", "i2v", "r2v", "edit", "text-to-video", "video-edit", "help", "jobs", "status", "cancel",
             "spend", "triage", "--duration", "--seed", "--ratio", "--negative", "--image", "--reference",
             "--video", "--camera", "--strength", "--region", "--quality", "--duration=", "16:9", "9:16",
             "-1", "0", "15", "16", "2147483648", "1e9", "NaN", "zoom_in", "high", '"', "“", "”", "'",
             "<https://example.com/a.png|a.png>", "https://10.0.0.1/x.png", "http://example.com/a.png",
             "https://example.com/a.png", "data:image/png;base64,AAAA", "file:///etc/passwd", "&amp;",
             "<!channel>", "a fox", "狐狸在雪地里奔跑", "🦊", "\n", "\t", "\u0000", "x" * 3000]
words = st.sampled_from(FRAGMENTS) | st.text(max_size=30)
command_texts = st.lists(words, max_size=12).map(" ".join) | st.text(max_size=400)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(command_texts)
def test_any_wan_text_parses_to_a_command_never_an_exception(text):
    command = parse_command(text)
    if isinstance(command, Generate):
        # only a request that passed every validation may start a (paid) job
        assert command.request.duration in range(2, 16)
    if isinstance(command, Usage):
        assert command.message.strip()


async def test_random_commands_through_signed_http_are_acked_in_time_and_never_500(world):
    rng = random.Random(2026)
    for _ in range(1000):
        text = " ".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 8)))
        reply = await world.sender.slash_command(text, user_id="U0HUMAN", channel_id=CHANNEL)
        assert reply.status == 200, (text, reply.status, reply.text[:300])
        assert reply.elapsed < 3.0, (text, reply.elapsed)
        assert "Traceback" not in reply.text


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["prompt", "duration", "seed", "ratio", "negative_prompt", "image_url",
                                        "camera_motion", "strength", "reference_url", "video_url",
                                        "instruction", "edit_region", "output_quality", "bogus"]),
                       st.one_of(st.text(max_size=50), st.integers(), st.floats(allow_nan=True), st.none(),
                                 st.lists(st.text(max_size=20), max_size=7))),
       st.sampled_from(["t2v", "i2v", "r2v", "edit"]))
def test_any_form_values_either_validate_or_name_the_field(fields, mode):
    try:
        request = build_request(mode, fields)
    except RequestInvalid as exc:
        assert exc.problems and all(p.field and p.message for p in exc.problems)
    else:
        assert request.body()["model"] == "wan2-6"
