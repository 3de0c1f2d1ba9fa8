"""Presets in Slack: the Save-as-preset button and modal, and the `/wan presets` list with a Run
button per preset. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.dollars import money
from bot.jobs.store.presets import Preset
from bot.slack.blocks.mrkdwn import (
    MAX_BLOCKS,
    button,
    clip,
    clip_escaped,
    confirm_dialog,
    context,
    escape,
    mention,
    one_line,
)

SAVE_PRESET_ACTION = "preset_save"
RUN_PRESET_ACTION = "preset_run"
SAVE_PRESET_CALLBACK = "wan_save_preset"
NAME_BLOCK = NAME_ACTION = "preset_name"
NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
NAME_HELP = "1-40 letters, digits, - or _ (starting with a letter or digit); unique in the workspace, any case"
# Words `/wan preset WORD` reads as a command, so a preset of that name could never be run.
RESERVED_NAMES = frozenset({"delete", "list", "help"})


def check_name(name: str) -> str | None:
    """Why `name` cannot be a preset name, or None."""
    if not NAME_RULE.match(name or ""):
        return f"A preset name is {NAME_HELP}."
    if name.lower() in RESERVED_NAMES:
        return (f"`{name}` is a word of the `/wan preset` command ({', '.join(sorted(RESERVED_NAMES))}); "
                "pick another name.")
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


def preset_line(p: Preset, cost: float | None) -> str:
    inputs = p.request.get("input") or {}
    prompt = clip_escaped(one_line(str(inputs.get("prompt") or inputs.get("instruction") or "")), 80)
    return (f"`{escape(p.name)}` · {escape(p.request.get('mode', ''))} · saved by {mention(p.created_by)} "
            f"{_when(p.created_at)} · last used {_when(p.last_used_at)} ({p.uses}×) · "
            f"{money(cost)} a run\n> {prompt}")


def run_button(p: Preset, cost: float | None) -> dict:
    """Run: one job per click (the clicks are de-duplicated), its cost asked first."""
    confirm = confirm_dialog(f"Run {p.name}?", f"Starts a job from preset `{escape(p.name)}` in this channel. "
                             f"Estimated cost: *{money(cost)}*.", "Run")
    return button("▶️ Run", RUN_PRESET_ACTION, p.name, confirm=confirm)


def presets_list(presets: Sequence[Preset], costs: Mapping[str, float]) -> tuple[str, list[dict]]:
    """`/wan presets`: one section per preset (who saved it, when, last used, cost per run) with Run."""
    if not presets:
        text = "No presets yet. Approve a video, then *💾 Save as preset* under it."
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    header = "*Presets* (run one with `/wan preset NAME [more prompt]`, or ▶️ Run)"
    shown = list(presets[: MAX_BLOCKS - 2])
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": header}}]
    for p in shown:
        blocks.append({"type": "section", "block_id": f"preset:{clip(p.key, 200)}",
                       "text": {"type": "mrkdwn", "text": clip(preset_line(p, costs.get(p.key)), 3000)},
                       "accessory": run_button(p, costs.get(p.key))})
    if len(presets) > len(shown):
        blocks.append(context(f"Showing {len(shown)} of {len(presets)}."))
    text = "\n".join([header, *("• " + preset_line(p, costs.get(p.key)) for p in shown)])
    return text, blocks
