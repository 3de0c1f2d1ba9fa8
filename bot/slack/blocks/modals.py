"""Modals as pure functions: data in, Block Kit dicts out, and their submissions read back.

Block ids are the request's flat field names (`prompt`, `duration`, `reference_url`, ...), and each
input's action_id is the same name, so `response_action: errors` can point at the field.
The mode selector is block `mode`, action `mode_select` (dispatch_action: picking a mode sends a
block_actions payload; the listener answers with `views.update` and this module's `mode_modal`).

Reference images (r2v) use one multiline plain_text_input, one URL per line, rather than five
separate URL inputs: one block, one error target, and pasting a list just works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.jobs import attachments
from bot.slack.blocks.mrkdwn import clip, escape
from bot.slack.grammar import field_name
from bot.wan.request import (
    ALL_FIELDS,
    EXTRA_FIELDS,
    MODE_FIELDS,
    SHORT_NAMES,
    FieldProblem,
    FieldSpec,
    Mode,
    parse_mode,
)

GENERATE_CALLBACK = "wan_generate"
REQUEST_CHANGES_CALLBACK = "wan_request_changes"
MODE_BLOCK = "mode"
MODE_ACTION = "mode_select"
NOTE_BLOCK = "note"
NOTE_ACTION = "note"

LONG_TEXT_FIELDS = {"prompt", "negative_prompt", "instruction"}
PROMPT_MAX = 2000                # the request model's own cap when a spec has none
PLAIN_INPUT_MAX = 3000          # Slack's cap on plain_text_input max_length
OPTION_TEXT_MAX = 75
LABEL_MAX = 2000
HINT_MAX = 2000
ERROR_MAX = 500
MODE_LABELS = {
    Mode.TEXT_TO_VIDEO: "Text to video",
    Mode.IMAGE_TO_VIDEO: "Image to video",
    Mode.R2V: "Reference to video",
    Mode.VIDEO_EDIT: "Video edit",
}


# ---------------------------------------------------------------------------------------------
# Small builders


def plain(text: str, limit: int = 3000) -> dict:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def num_str(value: Any, decimal: bool) -> str:
    """A number as Slack's number_input wants it: a string, no `.0` on whole numbers."""
    number = float(value)
    if not decimal or number.is_integer():
        return str(int(number))
    return f"{number:g}"


def mode_label(mode: Mode) -> str:
    return f"{MODE_LABELS.get(mode, mode.value)} ({SHORT_NAMES[mode]})"


def _option(text: str, value: str) -> dict:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": clip(value, 150)}


def _mode_option(mode: Mode) -> dict:
    return _option(mode_label(mode), mode.value)


def _field_specs(mode: Mode, carries: Iterable[str] | None = None) -> tuple[FieldSpec, ...]:
    """The page's fields, then the model's own parameters the configured format carries (`carries`,
    from `WireFormat.carries`; None: the page's fields only)."""
    if not carries:
        return MODE_FIELDS[mode]
    carried = set(carries)
    return MODE_FIELDS[mode] + tuple(spec for spec in EXTRA_FIELDS[mode] if spec.name in carried)


# ---------------------------------------------------------------------------------------------
# Hints


def cost_line(duration: Any, price_per_second: float) -> str:
    try:
        seconds = float(duration)
    except (TypeError, ValueError):
        return ""
    return f"{num_str(seconds, True)} s × ${price_per_second:g}/s ≈ ${seconds * price_per_second:.2f}"


def field_hint(spec: FieldSpec, *, price_per_second: float, duration: Any = None) -> str:
    """The field's own help (its range and default), or its rule; for duration also the cost."""
    hint = (spec.help or f"Must be {spec.rule()}").rstrip(".") + "."
    if spec.name == "duration":
        cost = cost_line(duration if duration not in (None, "") else spec.default, price_per_second)
        if cost:
            hint += f" Estimated cost {cost}."
    return clip(hint, HINT_MAX)


# ---------------------------------------------------------------------------------------------
# Elements per field kind


def _initial_number(spec: FieldSpec, value: Any) -> str | None:
    """Only a value Slack will accept (a number within min/max) becomes initial_value."""
    if value is None or value == "":
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if spec.kind == "int" and not number.is_integer():
        return None
    if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
        return None
    return num_str(number, spec.kind == "float")


def _element(spec: FieldSpec, value: Any) -> dict:
    if spec.kind in ("int", "float"):
        element: dict[str, Any] = {"type": "number_input", "action_id": spec.name,
                                   "is_decimal_allowed": spec.kind == "float"}
        if spec.min is not None:
            element["min_value"] = num_str(spec.min, spec.kind == "float")
        if spec.max is not None:
            element["max_value"] = num_str(spec.max, spec.kind == "float")
        initial = _initial_number(spec, value) or _initial_number(spec, spec.default)
        if initial is not None:
            element["initial_value"] = initial
        return element
    if spec.kind == "enum":
        options = [_option(str(c), str(c)) for c in spec.choices][:100]
        element = {"type": "static_select", "action_id": spec.name, "options": options,
                   "placeholder": plain(f"Choose {spec.label.lower()}", 150)}
        initial = next((o for o in options if o["value"] == str(value)), None)
        initial = initial or next((o for o in options if o["value"] == str(spec.default)), None)
        if initial is not None:
            element["initial_option"] = initial
        return element
    if spec.kind == "bool":  # on/off, or unset (the upstream's default)
        options = [_option("on", "on"), _option("off", "off")]
        element = {"type": "static_select", "action_id": spec.name, "options": options,
                   "placeholder": plain("Upstream default", 150)}
        if isinstance(value, bool) or value in ("on", "off"):
            element["initial_option"] = options[0 if value in (True, "on") else 1]
        return element
    if spec.kind == "url":
        element = {"type": "url_text_input", "action_id": spec.name,
                   "placeholder": plain(spec.placeholder or "https://example.com/input", 150)}
        if value:
            element["initial_value"] = clip(str(value), PLAIN_INPUT_MAX)
        return element
    if spec.kind == "urls":
        urls = [value] if isinstance(value, str) else list(value or [])
        element = {"type": "plain_text_input", "action_id": spec.name, "multiline": True,
                   "placeholder": plain(spec.placeholder or "https://example.com/a.png", 150)}
        if urls:
            element["initial_value"] = clip("\n".join(str(u) for u in urls), PLAIN_INPUT_MAX)
        return element
    long_text = spec.name in LONG_TEXT_FIELDS
    limit = min(spec.max_length or PROMPT_MAX, PLAIN_INPUT_MAX)
    element = {"type": "plain_text_input", "action_id": spec.name, "multiline": long_text,
               "max_length": limit}
    if spec.placeholder:
        element["placeholder"] = plain(spec.placeholder, 150)
    if value not in (None, ""):
        element["initial_value"] = str(value)[:limit]
    return element


def field_block(spec: FieldSpec, value: Any, *, price_per_second: float, duration: Any = None) -> dict:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": spec.name,
        "label": plain(spec.label or spec.name, LABEL_MAX),
        "element": _element(spec, value),
        "optional": not spec.required,
    }
    hint = field_hint(spec, price_per_second=price_per_second, duration=duration)
    if hint:
        block["hint"] = plain(hint, HINT_MAX)
    return block


def _problem_block(block_id: str, messages: list[str]) -> dict:
    text = "\n".join(f"⚠️ {m}" for m in messages)
    return {"type": "context", "block_id": block_id,
            "elements": [{"type": "mrkdwn", "text": clip(escape(text), 2000)}]}


# ---------------------------------------------------------------------------------------------
# The generate modal


def mode_selector_block(mode: Mode | None) -> dict:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": MODE_ACTION,
        "placeholder": plain("Choose a mode", 150),
        "options": [_mode_option(m) for m in Mode],
    }
    if mode is not None:
        element["initial_option"] = _mode_option(mode)
    return {"type": "input", "block_id": MODE_BLOCK, "dispatch_action": True,
            "label": plain("Mode"), "element": element}


def _problems_by_field(errors: Iterable[FieldProblem] | Mapping[str, str] | None,
                       field_names: set[str], fallback: str) -> dict[str, list[str]]:
    items = errors.items() if isinstance(errors, Mapping) else ((p[0], p[1]) for p in errors or [])
    grouped: dict[str, list[str]] = {}
    for name, message in items:
        target = block_id_for(name, field_names, fallback)
        grouped.setdefault(target, []).append(_named(name, target, message))
    return grouped


_REQUEST_FIELDS = {spec.name for specs in EXTRA_FIELDS.values() for spec in specs}  # may have no input


def _named(name: str, target: str, message: object) -> str:
    """A problem about a request field the form shows no input for (one the gateway's format cannot
    carry) is shown under another field: it says which field it is about."""
    field = field_name(name)
    return f"{field}: {message}" if field in _REQUEST_FIELDS and field != target else str(message)


def mode_modal(mode: Mode | None, prefill: Mapping[str, Any] | None = None, *, price_per_second: float,
               private_metadata: str = "",
               errors: Iterable[FieldProblem] | Mapping[str, str] | None = None,
               kept_image: str | None = None, carries: Iterable[str] | None = None) -> dict:
    """The generate modal. Bare (mode None): the selector and a hint. With a mode: its fields,
    prefilled, and any problems shown under the field they concern. `kept_image` (Tweak of a job
    whose image was attached in Slack): the image field may stay empty to keep that image."""
    prefill = dict(prefill or {})
    blocks: list[dict] = [mode_selector_block(mode)]
    if mode is None:
        blocks.append({"type": "context", "block_id": "mode_hint", "elements": [{
            "type": "mrkdwn",
            "text": "Pick a mode and its fields appear. Tip: `/wan t2v a fox in the snow` skips the form.",
        }]})
    else:
        specs = _field_specs(mode, carries)
        names = {s.name for s in specs}
        grouped = _problems_by_field(errors, names, main_text_field(mode))
        duration = prefill.get("duration")
        cost = cost_line(_initial_number_or_default(specs, duration), price_per_second)
        blocks.append({"type": "context", "block_id": "cost", "elements": [{
            "type": "mrkdwn", "text": f"*{escape(mode_label(mode))}* · estimated cost {cost or 'unknown'}",
        }]})
        for spec in specs:
            if spec is next((e for e in EXTRA_FIELDS[mode] if e in specs), None):
                blocks.append({"type": "header", "block_id": "model_own",
                               "text": plain("Wan 2.6's own parameters (optional)", 150)})
            block = field_block(spec, prefill.get(spec.name), price_per_second=price_per_second,
                                duration=duration)
            if kept_image and spec.name == "image_url":
                block["optional"] = True
                block["hint"] = plain(f"Leave empty to keep the {kept_image}, or paste an https:// URL.", HINT_MAX)
            blocks.append(block)
            if spec.name in grouped:
                blocks.append(_problem_block(f"{spec.name}__problem", grouped[spec.name]))
        if carries and mode is not Mode.VIDEO_EDIT:
            blocks.extend(run_option_blocks(prefill))
            if VARIATIONS_BLOCK in grouped:
                blocks.append(_problem_block(f"{VARIATIONS_BLOCK}__problem", grouped[VARIATIONS_BLOCK]))
    view = {
        "type": "modal",
        "callback_id": GENERATE_CALLBACK,
        "title": plain("Wan video", 24),
        "submit": plain("Generate", 24),
        "close": plain("Cancel", 24),
        "private_metadata": clip(private_metadata, 3000),
        "blocks": blocks,
    }
    return view


DRAFT_BLOCK = DRAFT_ACTION = "run_draft"
VARIATIONS_BLOCK = VARIATIONS_ACTION = "run_variations"


def run_option_blocks(prefill: Mapping[str, Any]) -> list[dict]:
    """How to run it: as a draft (WANBOT_DRAFT, with a Final button after), and how many variations."""
    draft = {"text": plain("Draft: cheap settings first (WANBOT_DRAFT), then a Final button", 75),
             "value": "draft"}
    element: dict[str, Any] = {"type": "checkboxes", "action_id": DRAFT_ACTION, "options": [draft]}
    if prefill.get(DRAFT_BLOCK):
        element["initial_options"] = [draft]
    variations: dict[str, Any] = {"type": "number_input", "action_id": VARIATIONS_ACTION,
                                  "is_decimal_allowed": False, "min_value": "1", "max_value": "6"}
    if prefill.get(VARIATIONS_BLOCK):
        variations["initial_value"] = str(prefill[VARIATIONS_BLOCK])
    return [
        {"type": "header", "block_id": "run_options", "text": plain("How to run it", 150)},
        {"type": "input", "block_id": DRAFT_BLOCK, "optional": True, "label": plain("Draft"), "element": element},
        {"type": "input", "block_id": VARIATIONS_BLOCK, "optional": True, "label": plain("Variations"),
         "element": variations,
         "hint": plain("2-6 jobs with different seeds under one summary card; empty or 1: one job", HINT_MAX)},
    ]


def run_options(view: Mapping[str, Any]) -> tuple[bool, str]:
    """(draft ticked, the variations text as typed) from a generate submission."""
    values = (view.get("state") or {}).get("values") or {}
    ticked = ((values.get(DRAFT_BLOCK) or {}).get(DRAFT_ACTION) or {}).get("selected_options") or []
    count = ((values.get(VARIATIONS_BLOCK) or {}).get(VARIATIONS_ACTION) or {}).get("value") or ""
    return bool(ticked), str(count).strip()


def _initial_number_or_default(specs: tuple[FieldSpec, ...], duration: Any) -> Any:
    spec = next((s for s in specs if s.name == "duration"), None)
    if spec is None:
        return duration
    return _initial_number(spec, duration) or spec.default


def main_text_field(mode: Mode | None) -> str:
    """Where a problem with no field of its own is shown: the prompt (the instruction for edits)."""
    if mode is None:
        return "prompt"
    names = [s.name for s in _field_specs(mode)]
    for name in ("prompt", "instruction"):
        if name in names:
            return name
    return names[0] if names else MODE_BLOCK


# ---------------------------------------------------------------------------------------------
# Reading a submission back


def _element_value(state: Mapping[str, Any]) -> Any:
    if "selected_option" in state:
        option = state.get("selected_option") or {}
        return option.get("value")
    return state.get("value")


def parse_modal_submission(view: Mapping[str, Any]) -> tuple[Mode, dict[str, Any]]:
    """`view.state.values` -> (mode, flat fields). Empty inputs are left out. A missing mode
    raises RequestInvalid (Slack itself requires the selector, so only forged payloads lack it)."""
    values = (view.get("state") or {}).get("values") or {}
    mode_state = (values.get(MODE_BLOCK) or {}).get(MODE_ACTION) or {}
    mode = parse_mode(_element_value(mode_state) or "")
    fields: dict[str, Any] = {}
    for spec in ALL_FIELDS[mode]:  # a block the form did not show has no value: reading all is safe
        block = values.get(spec.name) or {}
        state = block.get(spec.name) or next(iter(block.values()), None) or {}
        raw = _element_value(state)
        if raw is None:
            continue
        if spec.kind == "urls":
            urls = str(raw).split()  # one per line; URLs hold no whitespace
            if urls:
                fields[spec.name] = urls
            continue
        text = str(raw).strip()
        if text:
            fields[spec.name] = text
    return mode, fields


def prefill_from_job(request_body: Mapping[str, Any]) -> tuple[Mode, dict[str, Any]]:
    """Tweak: a job's stored request body (`Job.request`) -> the mode and the modal's prefill."""
    mode = parse_mode(request_body.get("mode") or "")
    inputs = request_body.get("input") or {}
    # An image attached in Slack travels as a data: URI (stored as a stub): never put it in a form field.
    return mode, {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in inputs.items()
                  if v is not None and not attachments.is_inline(v)}


def selected_mode(values: Mapping[str, Any]) -> Mode | None:
    """The mode picked in a block_actions payload's `view.state.values` (for views.update)."""
    state = ((values or {}).get(MODE_BLOCK) or {}).get(MODE_ACTION) or {}
    try:
        return parse_mode(_element_value(state) or "")
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Errors


def block_id_for(field: str, field_names: set[str] | None = None, fallback: str = "prompt") -> str:
    """The block showing a problem about `field` (`input.duration` -> `duration`)."""
    name = field_name(field)
    if name == MODE_BLOCK:
        return MODE_BLOCK
    if field_names is None:
        field_names = {s.name for specs in MODE_FIELDS.values() for s in specs}
    return name if name in field_names else fallback


def modal_errors(problems: Iterable[FieldProblem], *, mode: Mode | None = None,
                 carries: Iterable[str] | None = None) -> dict:
    """`response_action: errors` for a view_submission: each message on its field's block."""
    names = {s.name for s in _field_specs(mode, carries)} if mode is not None else None
    errors: dict[str, str] = {}
    for problem in problems:
        block_id = (VARIATIONS_BLOCK if problem[0] == VARIATIONS_BLOCK
                    else block_id_for(problem[0], names, main_text_field(mode)))
        message = _named(problem[0], block_id, problem[1])
        errors[block_id] = clip(f"{errors[block_id]}; {message}" if block_id in errors else message, ERROR_MAX)
    return {"response_action": "errors", "errors": errors}


# ---------------------------------------------------------------------------------------------
# Request changes


def request_changes_modal(job_id: str) -> dict:
    return {
        "type": "modal",
        "callback_id": REQUEST_CHANGES_CALLBACK,
        "title": plain("Request changes", 24),
        "submit": plain("Send", 24),
        "close": plain("Cancel", 24),
        "private_metadata": clip(job_id, 3000),
        "blocks": [{
            "type": "input",
            "block_id": NOTE_BLOCK,
            "label": plain("What should change?"),
            "element": {"type": "plain_text_input", "action_id": NOTE_ACTION, "multiline": True,
                        "max_length": 1000,
                        "placeholder": plain("e.g. slower camera, warmer light, no text on screen", 150)},
            "hint": plain("Posted in the video's thread and shown on the job card."),
        }],
    }


def parse_request_changes(view: Mapping[str, Any]) -> tuple[str, str]:
    """(job id, note) from a `wan_request_changes` submission."""
    values = (view.get("state") or {}).get("values") or {}
    note = ((values.get(NOTE_BLOCK) or {}).get(NOTE_ACTION) or {}).get("value") or ""
    return str(view.get("private_metadata") or ""), note.strip()
