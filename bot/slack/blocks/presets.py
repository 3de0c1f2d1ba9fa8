"""Presets in Slack: the Save-as-preset button and modal, and the `/wan presets` list. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.jobs.store.presets import Preset
from bot.slack.blocks.mrkdwn import button, clip, clip_escaped, escape, mention, money, one_line

SAVE_PRESET_ACTION = "preset_save"
SAVE_PRESET_CALLBACK = "wan_save_preset"
NAME_BLOCK = NAME_ACTION = "preset_name"
NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
NAME_HELP = "1-40 letters, digits, - or _ (starting with a letter or digit); unique in the workspace, any case"


def check_name(name: str) -> str | None:
    """Why `name` cannot be a preset name, or None."""
    if not NAME_RULE.match(name or ""):
        return f"A preset name is {NAME_HELP}."
    return None


def save_button(job_id: str) -> dict:
    return {"type": "actions", "block_id": "preset_actions",
            "elements": [button("💾 Save as preset", SAVE_PRESET_ACTION, job_id)]}


def save_preset_modal(job_id: str, *, prompt: str, error: str | None = None) -> dict:
    def plain(text: str, limit: int = 150) -> dict:
        return {"type": "plain_text", "text": clip(text, limit), "emoji": True}

    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"> {clip_escaped(one_line(prompt), 500)}"}},
        {"type": "input", "block_id": NAME_BLOCK, "label": plain("Preset name"),
         "element": {"type": "plain_text_input", "action_id": NAME_ACTION, "max_length": 40,
                     "placeholder": plain("e.g. fox-snow-teaser")},
         "hint": plain(f"{NAME_HELP}. Run it with /wan preset NAME [more prompt].", 300)},
    ]
    return {"type": "modal", "callback_id": SAVE_PRESET_CALLBACK, "title": plain("Save as preset", 24),
            "submit": plain("Save", 24), "close": plain("Cancel", 24), "private_metadata": clip(job_id, 3000),
            "blocks": blocks}


def submitted_name(view: Mapping[str, Any]) -> tuple[str, str]:
    """(job id, name) from a `wan_save_preset` submission."""
    values = (view.get("state") or {}).get("values") or {}
    name = ((values.get(NAME_BLOCK) or {}).get(NAME_ACTION) or {}).get("value") or ""
    return str(view.get("private_metadata") or ""), name.strip()


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC") if epoch else "never"


def presets_list(presets: Sequence[Preset], costs: Mapping[str, float]) -> str:
    if not presets:
        return "No presets yet. Approve a video, then *💾 Save as preset* under it."
    lines = ["*Presets* (run one with `/wan preset NAME [more prompt]`)"]
    for p in presets:
        prompt = clip_escaped(one_line(str((p.request.get("input") or {}).get("prompt")
                                           or (p.request.get("input") or {}).get("instruction") or "")), 80)
        lines.append(f"• `{escape(p.name)}` · {escape(p.request.get('mode', ''))} · saved by {mention(p.created_by)} "
                     f"{_when(p.created_at)} · last used {_when(p.last_used_at)} ({p.uses}×) · "
                     f"{money(costs.get(p.key))} a run\n    > {prompt}")
    return "\n".join(lines)
