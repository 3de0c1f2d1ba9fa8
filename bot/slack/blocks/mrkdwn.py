"""mrkdwn helpers for every Block Kit builder: the one `escape` and `clip` (amounts:
`bot.dollars.money`), and the small section/context/button builders that keep text within Slack's
limits (section text 3000, context 2000, button text 75, 50 blocks a message)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SECTION_MAX = 3000
CONTEXT_MAX = 2000
BUTTON_MAX = 75
MAX_BLOCKS = 50

# ---------------------------------------------------------------------------------------------
# Text helpers


def escape(text: str) -> str:
    """mrkdwn-escape the three characters Slack reserves."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip_escaped(text: str, limit: int) -> str:
    """Escape `text` and cut it so the escaped result is at most `limit` characters, never
    splitting an entity."""
    out: list[str] = []
    size = 0
    text = str(text)
    for i, ch in enumerate(text):
        piece = escape(ch)
        room = limit - 1 if i < len(text) - 1 else limit  # keep room for "…" unless this is the last
        if size + len(piece) > room:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when anything was cut."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(user_id: str | None) -> str:
    if user_id and re.fullmatch(r"[UW][A-Z0-9]+", user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def elapsed(seconds: float) -> str:
    """`72` -> `1m 12s`."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"


def progress_bar(percent: int | None, width: int = 10) -> str:
    if percent is None:
        return "progress not reported yet"
    percent = min(100, max(0, int(percent)))
    filled = round(percent * width / 100)
    return f"`{'█' * filled}{'░' * (width - filled)}` {percent}%"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, CONTEXT_MAX)}]}


def button(text: str, action_id: str, value: str, *, style: str | None = None,
           confirm: dict | None = None) -> dict:
    element: dict[str, Any] = {"type": "button", "action_id": action_id,
                               "text": {"type": "plain_text", "text": clip(text, BUTTON_MAX), "emoji": True},
                               "value": clip(value, 2000)}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def confirm_dialog(title: str, text: str, confirm: str, deny: str = "Not now") -> dict:
    """A button's "are you sure?" dialog: the mrkdwn `text` says what the click costs."""
    def plain(words: str, limit: int) -> dict:
        return {"type": "plain_text", "text": clip(words, limit), "emoji": True}

    return {"title": plain(title, 100), "text": {"type": "mrkdwn", "text": text},
            "confirm": plain(confirm, 30), "deny": plain(deny, 30)}


def fit_parts(parts: Iterable[str], sep: str, limit: int) -> str:
    """Join whole parts while they fit in `limit` characters."""
    out = ""
    for part in parts:
        candidate = part if not out else out + sep + part
        if len(candidate) > limit:
            break
        out = candidate
    return out


