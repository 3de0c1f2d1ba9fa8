"""The triage report as Block Kit: a pure function of a TriageResult, returning `(text, blocks)`.

`text` is the notification fallback. Blocks stay within Slack's limits (section text 3000,
header 150, button value 2000, 50 blocks a message), and every string passes through `redact`
(once more after clipping, so a cut never leaves half a secret readable).

Action id: `triage_post_reply` on the "Post reply in thread" button; its value is a short
reference chosen by the caller (the reply text itself is kept server-side).
"""

from __future__ import annotations

import json
from typing import Any

from bot.dollars import money
from bot.redact import redact
from bot.slack.blocks.mrkdwn import MAX_BLOCKS, SECTION_MAX, clip, context, escape, section
from bot.triage import TriageResult
from bot.triage.report import confidence_level, task_table

HEADER_MAX = 150
VALUE_MAX = 2000
EVIDENCE_SHOWN = 25  # lines; the rest is counted, not shown
EVIDENCE_LINE_MAX = 600
POST_REPLY_ACTION = "triage_post_reply"
SHORTCUT_ID = "triage_message"
REPLY_MODAL_ID = "triage_reply_edit"
REPLY_BLOCK = "reply"
REPLY_LANGUAGE_ACTION = "triage_reply_language"
EXPORT_ACTION = "triage_refunds_csv"
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
REPLY_INPUT = "text"

VERDICT_LABELS = {
    "misrouted_chat_api": "Misrouted through the chat API",
    "refund_due": "Refund due",
    "already_refunded": "Already refunded",
    "task_in_progress": "Task still in progress",
    "not_charged": "Not charged",
    "needs_more_info": "Needs more information",
}
VERDICT_ICONS = {
    "misrouted_chat_api": ":twisted_rightwards_arrows:",
    "refund_due": ":moneybag:",
    "already_refunded": ":white_check_mark:",
    "task_in_progress": ":hourglass_flowing_sand:",
    "not_charged": ":ok:",
    "needs_more_info": ":grey_question:",
}


def verdict_label(verdict: str) -> str:
    return VERDICT_LABELS.get(verdict, verdict.replace("_", " ").capitalize())


def _code(text: str) -> str:
    """Text safe inside a ``` block: mrkdwn-escaped, and no ``` of its own to close it early."""
    return escape(text).replace("```", "ˋˋˋ")


def _code_sections(title: str, lines: list[str], limit: int = SECTION_MAX) -> list[dict[str, Any]]:
    """`title` then the lines in ``` blocks, split over as many sections as the limit needs."""
    room = limit - len(title) - 8  # "\n```" + "```"
    sections: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = clip(line, room)
        if current and size + len(line) + 1 > room:
            sections.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        sections.append("\n".join(current))
    return [section(f"{title}\n```{body}```" if i == 0 else f"```{body}```") for i, body in enumerate(sections)]


def summary_line(result: TriageResult) -> str:
    """One line for the notification and the triage record."""
    parts = [f"{verdict_label(result.verdict)} ({result.verdict})"]
    if result.amount_usd is not None:
        parts.append(money(result.amount_usd, missing='-'))
    if result.task_ids:
        parts.append("task " + ", ".join(result.task_ids[:5]) + (" …" if len(result.task_ids) > 5 else ""))
    if result.stuck:
        parts.append("STUCK")
    return redact(" · ".join(parts))


def evidence_lines(result: TriageResult) -> list[str]:
    lines = []
    for item in result.evidence[:EVIDENCE_SHOWN]:
        where = item.source or (f"line {item.line}" if item.line else f"row {item.row_id}" if item.row_id else "")
        lines.append(_code(clip(f"[{where}] {item.text}" if where else item.text, EVIDENCE_LINE_MAX)))
    hidden = len(result.evidence) - EVIDENCE_SHOWN
    if hidden > 0:
        lines.append(f"… and {hidden} more")
    return lines or ["(no evidence lines)"]


def triage_report(result: TriageResult, *, source: str, reply_ref: str | None = None) -> tuple[str, list[dict]]:
    """The ephemeral report for staff. With `reply_ref`, a "Post reply in thread" button carries it."""
    label = verdict_label(result.verdict)
    icon = VERDICT_ICONS.get(result.verdict, ":mag:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"Triage: {label}", HEADER_MAX)}},
    ]
    facts = [
        f"{icon} *{escape(label)}* (`{result.verdict}`)" + ("  :rotating_light: *STUCK*" if result.stuck else ""),
        f"*Confidence:* {result.confidence:.2f} ({confidence_level(result.confidence)})",
        f"*Amount:* {money(result.amount_usd, missing='-')}",
        f"*Task ids:* {escape(', '.join(result.task_ids)) or '-'}",
        f"*Model:* {escape(result.model or '-')}",
    ]
    blocks.append(section("\n".join(facts)))
    if result.conflicts:
        text = ":warning: *Evidence conflicts, check by hand:*\n" + "\n".join(f"• {escape(c)}" for c in result.conflicts)
        blocks.append(section(text))
    blocks += _code_sections("*Evidence*", evidence_lines(result))[:20]
    if len(result.tasks) > 1:  # several tasks: a verdict each and the total due
        blocks += _code_sections("*Per task*", [_code(line) for line in task_table(result.tasks)[1:]])[:3]
    if result.notes:
        blocks.append(context("\n".join(f"Note: {escape(n)}" for n in result.notes)))
    blocks.append(section(f"*Next step:* {escape(result.next_step)}"))
    language = "Chinese" if result.language == "zh" else "English"
    reply_lines = [_code(line) for line in result.reply.splitlines()] or [""]
    blocks += _code_sections(f"*Reply to the customer* ({language}):", reply_lines)[:5]
    if reply_ref:
        blocks.append({"type": "actions", "block_id": "triage_actions", "elements": [{
            "type": "button", "action_id": POST_REPLY_ACTION, "style": "primary",
            "text": {"type": "plain_text", "text": "Post reply in thread"},
            "value": clip(reply_ref, VALUE_MAX),
        }]})
    blocks.append(context(f"Triaged from {escape(source)} · only you can see this"))
    if len(blocks) > MAX_BLOCKS:  # cannot happen with the caps above; keep the head and the tail
        blocks = blocks[: MAX_BLOCKS - 3] + blocks[-3:]
    return summary_line(result), redact_blocks(blocks)


def redact_blocks(value: Any) -> Any:
    """Every string in a block structure through `redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_blocks(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_blocks(v) for k, v in value.items()}
    return value


def refusal_message(text: str) -> tuple[str, list[dict]]:
    return text, [section(escape(text))]


def posted_message(channel_id: str, thread_ts: str, permalink: str | None = None) -> tuple[str, list[dict]]:
    where = f"<{permalink}|the thread>" if permalink else "the thread"
    text = f":white_check_mark: Reply posted in {where}."
    return f"Reply posted in the thread (channel {channel_id}).", [section(text)]


def reply_modal(ref: str, reply_text: str, *, language: str | None = None, languages: tuple[str, ...] = (),
                switched: bool = False) -> dict[str, Any]:
    """The small modal to edit a triage reply before it is posted in the customer's thread. With
    `languages`, a choice of the reply's language; after a switch the input gets a new block id,
    as Slack keeps what was typed in an input whose block id stays the same."""
    block_id = f"{REPLY_BLOCK}_{language}" if switched and language else REPLY_BLOCK
    blocks: list[dict[str, Any]] = [{
        "type": "input", "block_id": block_id,
        "label": {"type": "plain_text", "text": "Reply (edit before posting if you like)"},
        "element": {"type": "plain_text_input", "action_id": REPLY_INPUT, "multiline": True,
                    "max_length": 3000, "initial_value": clip(redact(reply_text), 3000)},
    }]
    if len(languages) > 1:
        options = [{"text": {"type": "plain_text", "text": LANGUAGE_NAMES.get(lang, lang)}, "value": lang}
                   for lang in languages]
        select: dict[str, Any] = {"type": "static_select", "action_id": REPLY_LANGUAGE_ACTION, "options": options,
                                  "placeholder": {"type": "plain_text", "text": "Reply language"}}
        chosen = next((o for o in options if o["value"] == language), None)
        if chosen:
            select["initial_option"] = chosen
        blocks.append({"type": "actions", "block_id": "reply_language", "elements": [select]})
    return {
        "type": "modal",
        "callback_id": REPLY_MODAL_ID,
        "private_metadata": json.dumps({"r": ref}),
        "title": {"type": "plain_text", "text": "Reply to the customer"},
        "submit": {"type": "plain_text", "text": "Post in thread"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def export_button() -> dict[str, Any]:
    """Under "Refunds due" in the admins' `/wan spend team`: post the CSV in a thread of this channel."""
    return {"type": "actions", "block_id": "refunds_due_export", "elements": [{
        "type": "button", "action_id": EXPORT_ACTION, "value": "30d",
        "text": {"type": "plain_text", "text": "Post refunds due as CSV"}}]}


def reply_ref(raw: str | None) -> str | None:
    """The pending reply's ref kept in a button value or a modal's private_metadata."""
    try:
        return str(json.loads(raw or "")["r"])
    except (ValueError, KeyError, TypeError):
        return None


def reply_text(view: dict[str, Any]) -> str:
    """The reply as typed in the modal."""
    values = view.get("state", {}).get("values", {})
    block = next((v for k, v in values.items() if k == REPLY_BLOCK or k.startswith(REPLY_BLOCK + "_")), None)
    return ((block or {}).get(REPLY_INPUT) or {}).get("value") or ""
