"""`/wan` text -> a typed command (operations.md, "The Slack surface"). Pure: no Slack, no I/O.

`parse_command` never raises: anything it cannot read becomes `Usage` with a short example.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from bot.slack.blocks.mrkdwn import clip
from bot.wan.request import (
    ALL_FIELDS,
    EXTRA_FIELDS,
    MODE_FIELDS,
    SHORT_NAMES,
    FieldProblem,
    FieldSpec,
    Mode,
    RequestInvalid,
    VideoRequest,
    build_request,
)

# ---------------------------------------------------------------------------------------------
# Commands


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Jobs:
    pass


@dataclass(frozen=True)
class Status:
    job_id: str


@dataclass(frozen=True)
class Cancel:
    job_id: str


@dataclass(frozen=True)
class Settle:
    """An admin ends the doubt about an `unknown` job: its upstream task, or None (no task was made)."""
    job_id: str
    task_id: str | None


@dataclass(frozen=True)
class Spend:
    scope: str = "me"  # "me" or "team" (the team's spend is for admins; the listener checks)


@dataclass(frozen=True)
class Triage:
    text: str


@dataclass(frozen=True)
class OpenModal:
    """Open the generate modal: bare `/wan`, or a mode whose text lacks or botches required fields."""

    mode: Mode | None
    prefill: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)


@dataclass(frozen=True)
class Generate:
    request: VideoRequest
    draft: bool = False  # --draft: render with WANBOT_DRAFT's settings (applied by the caller)
    variations: int = 1  # --variations N: N jobs with distinct seeds under one summary card


@dataclass(frozen=True)
class Usage:
    message: str


@dataclass(frozen=True)
class PresetRun:
    name: str
    more: str = ""  # appended to the preset's prompt
    api: bool = False  # --api: show the request it would send (JSON, curl, Python), start nothing


@dataclass(frozen=True)
class Presets:
    pass


@dataclass(frozen=True)
class PresetDelete:
    name: str


Command = (Help | Jobs | Status | Cancel | Settle | Spend | Triage | OpenModal | Generate | Usage | PresetRun | Presets
           | PresetDelete)

EXAMPLE = '/wan t2v a red fox running through snow --duration 8 --ratio 9:16'
SPEND_SCOPES = {"": "me", "me": "me", "mine": "me", "team": "team", "all": "team"}

# ---------------------------------------------------------------------------------------------
# One mode's flags, as `/wan help` (bot.slack.help) and the usage answers list them


def mode_line(mode: Mode) -> str:
    flags = " ".join(f"`{spec.flag} {_flag_placeholder(spec)}`" for spec in MODE_FIELDS[mode] if spec.flag)
    names = f"`{SHORT_NAMES[mode]}`" + (f" / `{mode.value}`" if mode.value != SHORT_NAMES[mode] else "")
    return f"• {names}: {flags}"


def extra_line(mode: Mode) -> str:
    flags = " ".join(f"`{spec.flag} {_flag_placeholder(spec)}`" for spec in EXTRA_FIELDS[mode] if spec.flag)
    return f"• `{SHORT_NAMES[mode]}`: {flags}"


def _flag_placeholder(spec: FieldSpec) -> str:
    if spec.kind == "bool":
        return "on|off"
    if spec.kind == "enum" and spec.choices:
        return "|".join(str(c) for c in spec.choices)
    if spec.kind in ("url", "urls"):
        return "URL"
    if spec.kind in ("int", "float") and spec.min is not None and spec.max is not None:
        return f"{_num(spec.min)}-{_num(spec.max)}"
    return '"..."' if spec.kind == "text" else spec.name.upper()


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)



# ---------------------------------------------------------------------------------------------
# Text clean-up and tokenising

MAX_COMMAND_CHARS = 16_000  # a whole /wan job command: prompts, flags and several long signed URLs fit
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]*)(?:\|[^>]*)?>")
_DOUBLE_QUOTES = "\"“”„"
_SINGLE_QUOTES = "'‘’‚"


def clean_slack_text(text: str) -> str:
    """Unwrap Slack's link formatting (`<https://x|label>` -> the URL) and its `&amp; &lt; &gt;`."""
    text = _SLACK_LINK.sub(lambda m: m.group(1), text)
    return html.unescape(text) if "&" in text else text


@dataclass(frozen=True)
class Token:
    text: str
    quoted: bool = False  # a quoted token is never a flag


def _quote_class(ch: str) -> str | None:
    if ch in _DOUBLE_QUOTES:
        return _DOUBLE_QUOTES
    if ch in _SINGLE_QUOTES:
        return _SINGLE_QUOTES
    return None


def _closing_quotes(text: str, quotes: str) -> list[int | None]:
    """For each index, the first quote of `quotes` at or after it that is followed by whitespace or
    the end: one pass from the right, so tokenizing stays linear however many quotes never close."""
    found: list[int | None] = [None] * (len(text) + 1)
    for i in range(len(text) - 1, -1, -1):
        closes = text[i] in quotes and (i + 1 == len(text) or text[i + 1].isspace())
        found[i] = i if closes else found[i + 1]
    return found


def tokenize(text: str) -> list[Token]:
    """shlex-like, but tolerant: smart quotes count, apostrophes inside words are literal, and a
    quote that never closes is just a character. Linear in the length of `text`."""
    closers = {quotes: _closing_quotes(text, quotes) for quotes in (_DOUBLE_QUOTES, _SINGLE_QUOTES)}
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        buf: list[str] = []
        size = 0            # characters in buf, without joining it
        flag = False        # buf starts with "--"
        last = ""           # buf's last character
        quoted = False
        while i < n and not text[i].isspace():
            ch = text[i]
            at_value_start = not size or (flag and last == "=")
            quotes = _quote_class(ch) if at_value_start else None
            close = closers[quotes][i + 1] if quotes else None
            if close is not None:
                buf.append(text[i + 1:close])
                quoted = quoted or not size  # `--neg="x"` stays a flag token
                i = close + 1
                break
            buf.append(ch)
            size += 1
            flag = flag or (size == 2 and buf[0] == "-" and ch == "-")
            last = ch
            i += 1
        tokens.append(Token("".join(buf), quoted))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_command(text: str) -> Command:
    """Read the text of a `/wan` command. Never raises."""
    try:
        return _parse(text)
    except Exception:  # a bug here must not turn into a Slack error screen
        return Usage(f"Sorry, I could not read that. Try `{EXAMPLE}`, or `/wan help`.")


def _parse(text: str) -> Command:
    text = clean_slack_text(str(text or "")).strip()
    if not text:
        return OpenModal(None)
    # Split on any whitespace: a log pasted on the line after `/wan triage` is the usual case.
    word, *remainder = text.split(None, 1)
    first = word.lower()
    rest = remainder[0].strip() if remainder else ""
    if first in ("help", "-h", "--help", "?"):
        return Help()
    if first == "jobs":
        return Jobs()
    if first in ("status", "cancel"):
        return _job_command(first, rest)
    if first == "settle":
        return _settle_command(rest)
    if first == "presets":
        return Presets()
    if first == "preset":
        return _preset_command(rest)
    if first == "spend":
        scope = SPEND_SCOPES.get(rest.lower())
        return Spend(scope) if scope else Usage("`/wan spend` shows your spend; admins: `/wan spend team`.")
    if first != "triage" and len(text) > MAX_COMMAND_CHARS:
        # Triage reads pasted logs, so only it may be longer (up to what Slack sends at all).
        return Usage(f"That command is {len(text):,} characters long; `/wan` reads at most "
                     f"{MAX_COMMAND_CHARS:,} (a prompt is at most 2,000). Shorten it, or use the form: `/wan`.")
    if first == "triage":
        if not rest:
            return Usage("Paste what to triage after the word: `/wan triage <error message or log lines>`.")
        return Triage(rest)
    mode = mode_from_word(first)
    if mode is None:
        return _unknown_start(text)
    return parse_generate(mode, rest)


def mode_from_word(word: str) -> Mode | None:
    word = word.strip().lower()
    for mode in Mode:
        if word in (mode.value, SHORT_NAMES[mode].lower()):
            return mode
    return None


def _job_command(verb: str, rest: str) -> Command:
    tokens = tokenize(rest)
    if not tokens or not tokens[0].text:
        return Usage(f"`/wan {verb} JOB` needs a job id, e.g. `/wan {verb} j_8f3a2c` (`/wan jobs` lists yours).")
    job_id = tokens[0].text
    return Status(job_id) if verb == "status" else Cancel(job_id)


SETTLE_USAGE = ("`/wan settle JOB TASK` attaches the gateway's task to an `unknown` job (find it on the "
                "gateway's dashboard: its Idempotency-Key is the job id); `/wan settle JOB none` records "
                "that no task was made. Admins only.")


def _settle_command(rest: str) -> Command:
    tokens = tokenize(rest)
    if len(tokens) != 2 or not tokens[0].text or not tokens[1].text:
        return Usage(SETTLE_USAGE)
    task = tokens[1].text
    return Settle(tokens[0].text, None if task.lower() in ("none", "-") else task)


def _preset_command(rest: str) -> Command:
    tokens = tokenize(rest)
    if not tokens:
        return Usage("`/wan preset NAME [more prompt]` runs a preset; `/wan presets` lists them; "
                     "`/wan preset delete NAME` removes one.")
    if tokens[0].text.lower() == "delete" and not tokens[0].quoted:
        if len(tokens) < 2:
            return Usage("`/wan preset delete NAME` needs the preset's name (`/wan presets` lists them).")
        return PresetDelete(tokens[1].text)
    api = any(t.text.lower() == "--api" and not t.quoted for t in tokens)
    if api:  # `--api` anywhere: the hand-off, not a run; the rest is still the appended prompt
        rest = " ".join(w for w in rest.split(" ") if w.lower() != "--api")
        tokens = [t for t in tokens if t.quoted or t.text.lower() != "--api"]
        if not tokens:
            return Usage("`/wan preset NAME --api` needs the preset's name (`/wan presets` lists them).")
    name, _, more = rest.strip().partition(" ")
    return PresetRun(tokens[0].text if tokens[0].quoted else name, more.strip() if not tokens[0].quoted else
                     " ".join(t.text for t in tokens[1:]), api=api)


def _unknown_start(text: str) -> Usage:
    modes = ", ".join(f"`{SHORT_NAMES[m]}`" for m in Mode)
    guess = _clip(text, 80)
    return Usage(
        f"I don't know `{_clip(text.split()[0], 30)}`. Start with a mode ({modes}) or a command "
        f"(`help`, `jobs`, `status`, `cancel`, `settle`, `spend`, `triage`, `preset`, `presets`).\n"
        f"For example: `/wan t2v {guess}`, or `/wan` alone for a form."
    )


def _clip(text: str, limit: int) -> str:
    """`text` on one line, without backticks (it goes inside a code span), clipped."""
    return clip(" ".join(text.replace("`", "'").split()), limit)


def flag_map(mode: Mode) -> dict[str, FieldSpec]:
    """Every spelling of every flag this mode takes: the spec's own flag and `--field-name`."""
    flags: dict[str, FieldSpec] = {}
    for spec in ALL_FIELDS[mode]:
        flags["--" + spec.name.replace("_", "-")] = spec
        flags["--" + spec.name] = spec
        if spec.flag:
            flags[spec.flag.lower()] = spec
    return flags


def _all_flags() -> set[str]:
    return {name for mode in Mode for name in flag_map(mode)} | {DRAFT_FLAG, VARIATIONS_FLAG}


DRAFT_FLAG = "--draft"  # takes no value
VARIATIONS_FLAG = "--variations"
VARIATIONS_RANGE = (2, 6)


def _looks_like_url(text: str) -> bool:
    return text.lower().startswith(("https://", "http://", "data:"))


def _text_field(mode: Mode) -> FieldSpec | None:
    """The field the free text fills: the prompt, or for an edit the instruction."""
    specs = MODE_FIELDS[mode]
    for name in ("instruction", "prompt") if mode == Mode.VIDEO_EDIT else ("prompt", "instruction"):
        for spec in specs:
            if spec.name == name:
                return spec
    return next((s for s in specs if s.kind == "text"), None)


def _url_field(mode: Mode) -> FieldSpec | None:
    """The mode's main URL input, which a bare URL in the text fills when no flag did."""
    return next((s for s in MODE_FIELDS[mode] if s.kind in ("url", "urls") and s.required), None)


def _mode_usage(mode: Mode, message: str) -> Usage:
    extra = f"\n{extra_line(mode)}" if EXTRA_FIELDS[mode] else ""
    return Usage(f"{message}\n{mode_line(mode)}{extra}\nFor example: `{_example(mode)}`")


def _example(mode: Mode) -> str:
    return {
        Mode.TEXT_TO_VIDEO: EXAMPLE,
        Mode.IMAGE_TO_VIDEO: "/wan i2v the cat waves --image https://example.com/cat.png",
        Mode.R2V: "/wan r2v two friends dancing --reference https://example.com/a.png",
        Mode.VIDEO_EDIT: "/wan edit make it night --video https://example.com/clip.mp4",
    }[mode]


def _undash(token: Token) -> Token:
    """Slack and phones turn `--` into an em or en dash: read `—seed 7` as `--seed 7`."""
    if not token.quoted and token.text[:1] in ("—", "–") and token.text[1:2].isalpha():
        return Token("--" + token.text[1:])
    return token


def parse_generate(mode: Mode, rest: str) -> Command:
    """The part after the mode: free text and flags -> Generate, or OpenModal with what was given."""
    flags = flag_map(mode)
    fields: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    words: list[str] = []
    bare_urls: list[str] = []
    draft = False
    variations = 1
    tokens = tokenize(rest)
    i = 0
    while i < len(tokens):
        token = _undash(tokens[i])
        i += 1
        if token.quoted or not token.text.startswith("--") or token.text == "--":
            (bare_urls if _looks_like_url(token.text) and not token.quoted else words).append(token.text)
            continue
        name, eq, value = token.text.partition("=")
        if name.lower() == DRAFT_FLAG and not eq:
            draft = True
            continue
        if name.lower() == VARIATIONS_FLAG:
            if not eq and i < len(tokens) and not _undash(tokens[i]).text.startswith("--"):
                value, i = tokens[i].text, i + 1
            low, high = VARIATIONS_RANGE
            if not value.strip().isdigit() or not low <= int(value) <= high:
                return _mode_usage(mode, f"`--variations` must be a whole number from {low} to {high} "
                                         f"(got `{_clip(value, 20) or 'nothing'}`); nothing was started.")
            variations = int(value)
            if mode == Mode.VIDEO_EDIT:
                return _mode_usage(mode, "`--variations` needs a seed to vary, and video edits have none.")
            continue
        spec = flags.get(name.lower())
        if spec is None:
            what = "doesn't apply to" if name.lower() in _all_flags() else "is not a flag of"
            return _mode_usage(mode, f"`{_clip(name, 30)}` {what} `{SHORT_NAMES[mode]}`. Its flags:")
        if not eq:
            if i < len(tokens) and (tokens[i].quoted or not _undash(tokens[i]).text.startswith("--")):
                value = tokens[i].text
                i += 1
            else:
                problems.append(FieldProblem(spec.name, f"`{name}` needs a value"))
                continue
        if spec.kind == "urls":
            fields.setdefault(spec.name, []).append(value)
        else:
            fields[spec.name] = value

    url_spec = _url_field(mode)
    if bare_urls and url_spec is not None and url_spec.name not in fields:
        fields[url_spec.name] = bare_urls if url_spec.kind == "urls" else bare_urls[0]
        bare_urls = [] if url_spec.kind == "urls" else bare_urls[1:]
    words = words + bare_urls  # any other URL is part of the prompt
    text_spec = _text_field(mode)
    if words and text_spec is not None:
        fields.setdefault(text_spec.name, " ".join(words))

    if problems:
        return OpenModal(mode, fields, problems)
    try:
        return Generate(build_request(mode, fields), draft=draft, variations=variations)
    except RequestInvalid as exc:
        return OpenModal(mode, fields, _typed_problems(exc.problems, fields))


def field_name(problem_field: str) -> str:
    """`input.reference_url[2]` -> `reference_url`: the flat field a problem is about."""
    name = str(problem_field or "")
    name = name.removeprefix("input.")
    match = re.match(r"[A-Za-z_]+", name)
    return match.group(0) if match else ""


def _typed_problems(problems: list[FieldProblem], given: dict[str, Any]) -> list[FieldProblem]:
    """Keep the problems with what the user typed. A known field that was simply not given is no
    error yet: the modal marks it required."""
    known = {spec.name for specs in ALL_FIELDS.values() for spec in specs}
    return [p for p in problems if field_name(p.field) in given or field_name(p.field) not in known]
