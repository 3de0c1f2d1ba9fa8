"""The `/wan` grammar of operations.md: what a user types becomes one typed command."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack import grammar
from bot.slack.grammar import (
    Cancel,
    Generate,
    Help,
    Jobs,
    OpenModal,
    Spend,
    Status,
    Triage,
    Usage,
    parse_command,
    tokenize,
)
from bot.slack.help import HELP_TEXT
from bot.wan.request import MODE_FIELDS, Mode

IMG = "https://example.com/cat.png"
VID = "https://example.com/clip.mp4"


def gen(text: str):
    command = parse_command(text)
    assert isinstance(command, Generate), command
    return command.request


# --- subcommands ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_bare_wan_opens_the_modal_with_no_mode(text):
    assert parse_command(text) == OpenModal(None, {}, [])


@pytest.mark.parametrize("text", ["help", "HELP", "  help  ", "--help", "-h", "?"])
def test_help(text):
    assert parse_command(text) == Help()


def test_jobs():
    assert parse_command("jobs") == Jobs()


def test_status_and_cancel_take_a_job_id():
    assert parse_command("status j_8f3a2c") == Status("j_8f3a2c")
    assert parse_command("Cancel j_8f3a2c") == Cancel("j_8f3a2c")
    assert parse_command('status "j_1"') == Status("j_1")


def test_settle_takes_a_job_and_a_task_or_none():
    assert parse_command("settle j_8f3a2c task_abc123") == grammar.Settle("j_8f3a2c", "task_abc123")
    assert parse_command("settle j_8f3a2c NONE") == grammar.Settle("j_8f3a2c", None)
    for text in ("settle", "settle j_8f3a2c", "settle j_1 task_2 extra"):
        command = parse_command(text)
        assert isinstance(command, Usage) and "/wan settle JOB TASK" in command.message


@pytest.mark.parametrize("verb", ["status", "cancel"])
def test_status_or_cancel_without_a_job_id_explains(verb):
    command = parse_command(verb)
    assert isinstance(command, Usage)
    assert f"/wan {verb} JOB" in command.message


def test_spend_scopes():
    assert parse_command("spend") == Spend("me")
    assert parse_command("spend team") == Spend("team")
    assert isinstance(parse_command("spend yesterday"), Usage)


def test_triage_keeps_the_text_with_slack_escapes_undone():
    command = parse_command("triage 400 &lt;html&gt; from <https://gw.example.com/v1|gw> &amp; retry")
    assert command == Triage("400 <html> from https://gw.example.com/v1 & retry")
    assert isinstance(parse_command("triage"), Usage)


def test_unknown_word_gets_usage_with_an_example():
    command = parse_command("a fox in the snow")
    assert isinstance(command, Usage)
    assert "/wan t2v a fox in the snow" in command.message
    assert "`help`" in command.message


# --- modes and flags --------------------------------------------------------------------------

@pytest.mark.parametrize("word, mode", [
    ("t2v", Mode.TEXT_TO_VIDEO), ("text-to-video", Mode.TEXT_TO_VIDEO), ("T2V", Mode.TEXT_TO_VIDEO),
    ("Text-To-Video", Mode.TEXT_TO_VIDEO),
    ("i2v", Mode.IMAGE_TO_VIDEO), ("image-to-video", Mode.IMAGE_TO_VIDEO),
    ("r2v", Mode.R2V), ("R2V", Mode.R2V),
    ("edit", Mode.VIDEO_EDIT), ("video-edit", Mode.VIDEO_EDIT),
])
def test_modes_by_short_and_long_name(word, mode):
    command = parse_command(word)
    assert isinstance(command, OpenModal) and command.mode == mode


def test_t2v_with_every_flag():
    req = gen('t2v a red fox running through snow --duration 8 --seed 7 --ratio 9:16 '
              '--negative "blurry, text"')
    assert req.mode == Mode.TEXT_TO_VIDEO
    assert req.fields() == {"prompt": "a red fox running through snow", "duration": 8, "seed": 7,
                            "ratio": "9:16", "negative_prompt": "blurry, text"}


def test_i2v_with_every_flag():
    req = gen(f"i2v the cat waves --image {IMG} --camera zoom_in --strength 0.6 --duration 4")
    assert req.fields() == {"image_url": IMG, "prompt": "the cat waves", "camera_motion": "zoom_in",
                            "strength": 0.6, "duration": 4}


def test_r2v_reference_is_repeatable():
    refs = [f"https://example.com/{i}.png" for i in range(5)]
    text = "r2v two friends dancing " + " ".join(f"--reference {u}" for u in refs) + " --strength 0.3 --seed 1"
    req = gen(text)
    assert req.fields()["reference_url"] == refs
    assert req.fields()["strength"] == 0.3 and req.fields()["seed"] == 1


def test_r2v_more_than_five_references_is_a_problem_on_the_field():
    text = "r2v x " + " ".join(f"--reference https://example.com/{i}.png" for i in range(6))
    command = parse_command(text)
    assert isinstance(command, OpenModal)
    assert [p.field for p in command.problems] == ["reference_url"]
    assert len(command.prefill["reference_url"]) == 6


def test_edit_free_text_is_the_instruction():
    req = gen(f'edit make it night --video {VID} --region "the sky" --quality high')
    assert req.fields() == {"video_url": VID, "instruction": "make it night", "edit_region": "the sky",
                            "output_quality": "high", "duration": 5}


def test_flag_equals_value_form():
    req = gen('t2v a fox --duration=9 --negative="low light, noise" --ratio=1:1')
    assert req.fields()["duration"] == 9
    assert req.fields()["negative_prompt"] == "low light, noise"
    assert req.fields()["ratio"] == "1:1"


def test_field_name_flags_work_too():
    req = gen("t2v --prompt 'a fox' --negative-prompt noise")
    assert req.fields()["prompt"] == "a fox" and req.fields()["negative_prompt"] == "noise"


def test_flags_may_come_before_the_prompt():
    assert gen("t2v --seed 3 a fox at dawn").fields()["prompt"] == "a fox at dawn"


def test_every_flag_of_every_mode_is_read():
    for mode, specs in MODE_FIELDS.items():
        flags = grammar.flag_map(mode)
        for spec in specs:
            assert flags[spec.flag] is spec
            assert spec.flag in HELP_TEXT


# --- quoting and Slack formatting ---------------------------------------------------------------

def test_smart_quotes_group_words():
    req = gen("t2v “a fox, at dawn” --negative “blurry, text”")
    assert req.fields()["prompt"] == "a fox, at dawn"
    assert req.fields()["negative_prompt"] == "blurry, text"


def test_single_smart_quotes_and_apostrophes_inside_words():
    assert gen("t2v the fox’s den --negative ‘no text’").fields() == {
        "prompt": "the fox’s den", "negative_prompt": "no text", "duration": 5}
    assert gen("t2v it's the fox's den").fields()["prompt"] == "it's the fox's den"


def test_unbalanced_quote_is_just_a_character():
    assert gen('t2v "a fox at dawn').fields()["prompt"] == '"a fox at dawn'
    assert gen("t2v 'twas a night").fields()["prompt"] == "'twas a night"


def test_quoted_flag_lookalike_is_text():
    assert gen('t2v a fox --negative "--no"').fields()["negative_prompt"] == "--no"
    assert gen('t2v "--seed is a word"').fields()["prompt"] == "--seed is a word"


def test_slack_link_formatting_is_unwrapped():
    req = gen("i2v the cat waves --image <https://example.com/cat.png|cat.png>")
    assert req.fields()["image_url"] == IMG
    req = gen("i2v the cat waves --image <https://example.com/cat.png>")
    assert req.fields()["image_url"] == IMG


def test_slack_html_escapes_are_undone():
    req = gen("i2v a &lt;cat&gt; &amp; dog --image <https://example.com/a.png?x=1&amp;y=2>")
    assert req.fields()["prompt"] == "a <cat> & dog"
    assert req.fields()["image_url"] == "https://example.com/a.png?x=1&y=2"


def test_a_bare_url_fills_the_modes_url_field():
    assert gen(f"i2v <{IMG}> the cat waves").fields()["image_url"] == IMG
    assert gen(f"edit {VID} add snow").fields() == {"video_url": VID, "instruction": "add snow", "duration": 5}
    refs = gen("r2v https://example.com/a.png https://example.com/b.png dancing").fields()["reference_url"]
    assert refs == ["https://example.com/a.png", "https://example.com/b.png"]


def test_em_dash_flags_from_autocorrect_are_read():
    assert gen("t2v a fox —duration 8 –seed 2").fields()["duration"] == 8


def test_tokenizer_marks_quoted_tokens():
    tokens = tokenize('--a "b c" d')
    assert [(t.text, t.quoted) for t in tokens] == [("--a", False), ("b c", True), ("d", False)]


# --- missing or invalid -> the modal, prefilled ---------------------------------------------------

def test_missing_required_opens_the_modal_prefilled_without_nagging():
    command = parse_command("i2v the cat waves --duration 8")
    assert command == OpenModal(Mode.IMAGE_TO_VIDEO, {"prompt": "the cat waves", "duration": "8"}, [])


def test_mode_alone_opens_its_modal():
    assert parse_command("edit") == OpenModal(Mode.VIDEO_EDIT, {}, [])


@pytest.mark.parametrize("text, field", [
    ("t2v a fox --duration 99", "duration"),
    ("t2v a fox --duration soon", "duration"),
    ("t2v a fox --seed -1", "seed"),
    ("t2v a fox --ratio 2:1", "ratio"),
    ("i2v cat --image http://example.com/a.png", "image_url"),
    ("i2v cat --image https://localhost/a.png", "image_url"),
    ("i2v cat --image https://example.com/a.png --strength 2", "strength"),
    ("i2v cat --image https://example.com/a.png --camera spin", "camera_motion"),
    ("edit x --video https://example.com/v.mp4 --quality ultra", "output_quality"),
])
def test_invalid_values_open_the_modal_with_the_problem(text, field):
    command = parse_command(text)
    assert isinstance(command, OpenModal), command
    assert field in [p.field for p in command.problems]
    assert command.prefill[field]  # what was typed comes back for fixing


def test_flag_without_value_is_a_problem_on_its_field():
    command = parse_command("t2v a fox --duration")
    assert isinstance(command, OpenModal)
    assert command.problems[0].field == "duration"
    assert "needs a value" in command.problems[0].message
    command = parse_command("t2v a fox --negative --seed 4")
    assert isinstance(command, OpenModal) and command.problems[0].field == "negative_prompt"
    assert command.prefill == {"prompt": "a fox", "seed": "4"}


def test_unknown_flag_gets_usage_listing_the_modes_flags():
    command = parse_command("t2v a fox --colour red")
    assert isinstance(command, Usage)
    assert "--colour" in command.message and "--duration" in command.message


def test_flag_of_another_mode_is_explained():
    command = parse_command("t2v a fox --camera zoom_in")
    assert isinstance(command, Usage)
    assert "doesn't apply" in command.message and "t2v" in command.message


def test_help_text_names_every_subcommand():
    for word in ("help", "jobs", "status", "cancel", "spend", "triage", "t2v", "i2v", "r2v", "edit",
                 "text-to-video", "image-to-video", "video-edit"):
        assert word in HELP_TEXT


# --- never raises -----------------------------------------------------------------------------

ALPHABET = st.sampled_from(list("abc -=\"'“”‘’<>|&;:/\\.\n\t—–") + ["--", "<https://", "&amp;", "t2v", "i2v",
                                                                   "r2v", "edit", "--seed", "--reference",
                                                                   "--image", "--duration", "=", "https://"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(ALPHABET, max_size=30).map("".join)))
def test_arbitrary_text_never_raises(text):
    command = grammar._parse(text)  # unguarded: a crash here is a bug, not a Usage
    assert isinstance(command, Help | Jobs | Status | Cancel | Spend | Triage | OpenModal | Generate | Usage)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["t2v ", "i2v ", "r2v ", "edit "]), st.text())
def test_arbitrary_text_after_a_mode_never_raises(prefix, text):
    assert isinstance(grammar._parse(prefix + text), OpenModal | Generate | Usage)


def test_the_guard_turns_a_bug_into_usage(monkeypatch):
    def boom(_):
        raise RuntimeError("bug")

    monkeypatch.setattr(grammar, "_parse", boom)
    assert isinstance(parse_command("t2v x"), Usage)


def test_triage_with_the_log_pasted_on_the_next_line():
    command = parse_command("triage\n2026-11-20 10:00:01 invalid apitype: -1\nmodel=wan2.6-t2v")
    assert isinstance(command, Triage)
    assert command.text.startswith("2026-11-20 10:00:01 invalid apitype: -1")
    assert "model=wan2.6-t2v" in command.text
