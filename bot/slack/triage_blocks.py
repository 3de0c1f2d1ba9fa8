"""The triage report as Block Kit: a pure function of a TriageResult, returning `(text, blocks)`.

`text` is the notification fallback. Blocks stay within Slack's limits (section text 3000,
header 150, button value 2000, 50 blocks a message), and every string passes through `redact`
(once more after clipping, so a cut never leaves half a secret readable).

Action id: `triage_post_reply` on the "Post reply in thread" button; its value is a short
reference chosen by the caller (the reply text itself is kept server-side).
"""

from __future__ import annotations

from typing import Any

from bot.redact import redact
from bot.slack.cards import clip, escape
from bot.triage import TriageResult
from bot.triage.report import confidence_level

SECTION_MAX = 3000
HEADER_MAX = 150
CONTEXT_MAX = 2000
VALUE_MAX = 2000
MAX_BLOCKS = 50
EVIDENCE_SHOWN = 25  # lines; the rest is counted, not shown
EVIDENCE_LINE_MAX = 600
POST_REPLY_ACTION = "triage_post_reply"

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


def money(usd: float | None) -> str:
    if usd is None:
        return "-"
    return f"${usd:.2f}" if round(usd, 2) == usd else f"${usd:.6f}".rstrip("0")


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
    return [_section(f"{title}\n```{body}```" if i == 0 else f"```{body}```") for i, body in enumerate(sections)]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, CONTEXT_MAX)}]}


def summary_line(result: TriageResult) -> str:
    """One line for the notification and the triage record."""
    parts = [f"{verdict_label(result.verdict)} ({result.verdict})"]
    if result.amount_usd is not None:
        parts.append(money(result.amount_usd))
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
        f"*Amount:* {money(result.amount_usd)}",
        f"*Task ids:* {escape(', '.join(result.task_ids)) or '-'}",
        f"*Model:* {escape(result.model or '-')}",
    ]
    blocks.append(_section("\n".join(facts)))
    if result.conflicts:
        text = ":warning: *Evidence conflicts, check by hand:*\n" + "\n".join(f"• {escape(c)}" for c in result.conflicts)
        blocks.append(_section(text))
    blocks += _code_sections("*Evidence*", evidence_lines(result))[:20]
    if result.notes:
        blocks.append(_context("\n".join(f"Note: {escape(n)}" for n in result.notes)))
    blocks.append(_section(f"*Next step:* {escape(result.next_step)}"))
    language = "Chinese" if result.language == "zh" else "English"
    reply_lines = [_code(line) for line in result.reply.splitlines()] or [""]
    blocks += _code_sections(f"*Reply to the customer* ({language}):", reply_lines)[:5]
    if reply_ref:
        blocks.append({"type": "actions", "block_id": "triage_actions", "elements": [{
            "type": "button", "action_id": POST_REPLY_ACTION, "style": "primary",
            "text": {"type": "plain_text", "text": "Post reply in thread"},
            "value": clip(reply_ref, VALUE_MAX),
        }]})
    blocks.append(_context(f"Triaged from {escape(source)} · only you can see this"))
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
    return text, [_section(escape(text))]


def posted_message(channel_id: str, thread_ts: str, permalink: str | None = None) -> tuple[str, list[dict]]:
    where = f"<{permalink}|the thread>" if permalink else "the thread"
    text = f":white_check_mark: Reply posted in {where}."
    return f"Reply posted in the thread (channel {channel_id}).", [_section(text)]
