"""The answers that are not a job card: `/wan jobs`, `/wan spend`, and "Show API request"
(the submit as JSON, as curl and as Python with httpx, secrets masked). Pure: data in, `(text, blocks)` out."""

from __future__ import annotations

import json
import pprint
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from bot.dollars import money
from bot.jobs.models import Job
from bot.slack.blocks.card import hide_inline_images, status_word
from bot.slack.blocks.mrkdwn import (
    MAX_BLOCKS,
    SECTION_MAX,
    button,
    clip_escaped,
    confirm_dialog,
    context,
    elapsed,
    escape,
    fit_parts,
    mention,
    one_line,
    section,
)
from bot.wan.request import SHORT_NAMES, Mode

PIN_SEED_ACTION = "api_pin_seed"
SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|cookie", re.I)


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            out[name] = "Bearer $WAN_API_KEY"
        elif SECRET_HEADER.search(name):
            out[name] = "$WAN_API_KEY"
        else:
            out[name] = str(value)
    return out


def curl_line(method: str, url: str, headers: Mapping[str, str], json_body: Any) -> str:
    parts = [f"curl -X {shlex.quote(method.upper())} {shlex.quote(url)}"]
    for name, value in masked_headers(headers).items():
        if "$WAN_API_KEY" in value:
            parts.append(f'-H "{name}: {value}"')  # double quotes: the shell expands the key
        else:
            parts.append(f"-H {shlex.quote(f'{name}: {value}')}")
    if not any(n.lower() == "content-type" for n in headers):
        parts.append("-H 'Content-Type: application/json'")
    if json_body is not None:
        parts.append(f"-d {shlex.quote(json.dumps(json_body, ensure_ascii=False))}")
    return " \\\n  ".join(parts)


def _code_chunks(text: str, limit: int = SECTION_MAX - 8) -> list[str]:
    """Escaped text cut into code-block sections, never inside an entity."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        piece = escape(ch)
        if size + len(piece) > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(piece)
        size += len(piece)
    chunks.append("".join(current))
    return [f"```{c}```" for c in chunks]


def inline_paths(body: Any, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, media type) of every inline attachment (a data: URI) in a request body."""
    if isinstance(body, dict):
        return [found for key, value in body.items() for found in inline_paths(value, (*path, key))]
    if isinstance(body, list):
        return [found for i, value in enumerate(body) for found in inline_paths(value, (*path, i))]
    if isinstance(body, str) and body[:5].lower() == "data:":
        return [(path, body[5:].split(";", 1)[0].split(",", 1)[0].lower() or "application/octet-stream")]
    return []


def _python_value(value: str) -> str:
    """A masked header value as Python: the key read from the environment, never written out."""
    if "$WAN_API_KEY" in value:
        before, _, after = value.partition("$WAN_API_KEY")
        return 'f"' + before.replace("{", "{{").replace("}", "}}").replace('"', '\\"') \
            + "{os.environ['WAN_API_KEY']}" + after.replace("{", "{{").replace("}", "}}").replace('"', '\\"') + '"'
    return repr(value)


def python_snippet(method: str, url: str, headers: Mapping[str, str], json_body: Any) -> str:
    """The same submit with httpx: the key from $WAN_API_KEY, inline attachments read from files."""
    inline = inline_paths(json_body)
    lines = ["import os", "", "import httpx"]
    if inline:
        lines[0:1] = ["import base64", "import os"]
        lines += ["", "", "def inline(path, media_type):",
                  '    """A file as the data: URI the request carries."""',
                  '    with open(path, "rb") as f:',
                  '        return f"data:{media_type};base64," + base64.b64encode(f.read()).decode("ascii")']
    shown = pprint.pformat(hide_inline_images(json_body), indent=1, width=96, sort_dicts=False)
    lines += ["", "", f"body = {shown}"]
    for path, media in inline:
        where = "".join(f"[{step!r}]" for step in path)
        name = ("audio." if media.startswith("audio/") else "image.") + (media.split("/", 1)[-1][:8] or "bin")
        lines.append(f"body{where} = inline({name!r}, {media!r})  # the attached file, saved beside this script")
    header_lines = [f"    {name!r}: {_python_value(value)}," for name, value in masked_headers(headers).items()]
    if not any(n.lower() == "content-type" for n in headers):
        header_lines.append("    'Content-Type': 'application/json',")
    lines += ["headers = {", *header_lines, "}",
              f"response = httpx.request({method.upper()!r}, {url!r}, headers=headers, json=body, timeout=60)",
              "response.raise_for_status()", "print(response.json())  # the task: poll it until it ends"]
    return "\n".join(lines)


def pin_seed_button(job_id: str, usd: float) -> dict:
    """Pin a seed: a paid re-run with a fixed seed, its cost asked first."""
    confirm = confirm_dialog("Re-run with a pinned seed?", "The same request with a fixed seed, so that its API "
                             f"request reproduces the video. Estimated cost: *{money(usd)}*.", f"Run for {money(usd)}")
    return button("📌 Pin a seed", PIN_SEED_ACTION, job_id, confirm=confirm)


def api_request_message(method: str, url: str, headers: Mapping[str, str], json_body: Any, *,
                        note: str | None = None, actions: list[dict] | None = None) -> tuple[str, list[dict]]:
    """Show API request: the exact JSON body, a curl line and a Python (httpx) snippet, the key masked
    (and inline attachments, which the Python reads from a file). `note` (the seed's story) and
    `actions` (e.g. pin a seed) come last."""
    shown_body = hide_inline_images(json_body)
    body = json.dumps(shown_body, indent=2, ensure_ascii=False)
    blocks = [section(f"*{escape(method.upper())}* `{clip_escaped(url, 500)}` with this JSON body:")]
    body_chunks = _code_chunks(body)
    curl_chunks = _code_chunks(curl_line(method, url, headers, shown_body))
    python_chunks = _code_chunks(python_snippet(method, url, headers, json_body))
    tail = int(bool(note)) + int(bool(actions))
    room = MAX_BLOCKS - 3 - tail
    if len(body_chunks) + len(curl_chunks) + len(python_chunks) > room:
        body_chunks = body_chunks[: room // 3]
        curl_chunks, python_chunks = curl_chunks[: room // 3], python_chunks[: room // 3]
    blocks += [section(c) for c in body_chunks]
    attached = " The attached file is left out here (too large for Slack): the Python below reads it " \
               "from a file." if inline_paths(json_body) else ""
    blocks.append(section(f"As a curl command (set `WAN_API_KEY` in your shell first):{attached}"))
    blocks += [section(c) for c in curl_chunks]
    blocks.append(section("In Python with httpx (`pip install httpx`; `WAN_API_KEY` from the environment):"))
    blocks += [section(c) for c in python_chunks]
    if note:
        blocks.append(context(note))
    if actions:
        blocks.append({"type": "actions", "block_id": "api_request_actions", "elements": actions})
    return f"API request: {method.upper()} {url}", blocks


# ---------------------------------------------------------------------------------------------
# Lists and totals


def job_line(job: Job, now: float) -> str:
    age = elapsed(now - job.created_at) + " ago" if job.created_at else ""
    prompt = clip_escaped(one_line(job.prompt), 60)
    mode = next((SHORT_NAMES[m] for m in Mode if m.value == job.mode), job.mode)
    bits = [f"`{clip_escaped(job.id, 60)}`", escape(mode), f"*{status_word(job)}*", prompt, age]
    return " · ".join(b for b in bits if b)


def jobs_list(jobs: Iterable[Job], now: float, *, limit: int = 20) -> tuple[str, list[dict]]:
    jobs = list(jobs)
    if not jobs:
        return "No jobs yet", [section("You have no jobs yet. Try `/wan t2v a red fox running through snow`.")]
    lines = [job_line(job, now) for job in jobs[:limit]]
    blocks = [section(f"*Your recent jobs* ({len(jobs)})")]
    chunk: list[str] = []
    for line in lines:
        if len("\n".join([*chunk, line])) > SECTION_MAX:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if len(jobs) > limit:
        blocks.append(context(f"Showing the latest {limit}. `/wan status JOB` for one job."))
    return f"Your recent jobs ({len(jobs)})", blocks[:MAX_BLOCKS]


def spend_message(today_usd: float, month_usd: float, *, daily_budget_usd: float | None = None,
                  team: Mapping[str, float] | None = None, team_today_usd: float | None = None,
                  team_month_usd: float | None = None, estimated_today_usd: float | None = None,
                  estimated_month_usd: float | None = None, channels: Mapping[str, float] | None = None,
                  refunds_due: tuple[int, float] | None = None) -> tuple[str, list[dict]]:
    """Your spend today and this month (billed, and estimated where jobs are still running); for admins
    also the team's: top users (`team`: user id -> month), top channels, refunds due from triage."""
    lines = [f"*Your spend:* {money(today_usd)} today · {money(month_usd)} this month (billed)"]
    if estimated_today_usd is not None and estimated_month_usd is not None:
        lines.append(f"Estimated at submit: {money(estimated_today_usd)} today · "
                     f"{money(estimated_month_usd)} this month")
    if daily_budget_usd is not None:
        left = max(0.0, daily_budget_usd - today_usd)
        lines.append(f"Daily budget {money(daily_budget_usd)} · {money(left)} left today (resets 00:00 UTC)")
    blocks = [section("\n".join(lines))]
    if team_today_usd is not None or team_month_usd is not None or team:
        team_lines = [f"*Team:* {money(team_today_usd)} today · {money(team_month_usd)} this month"]
        top = sorted((team or {}).items(), key=lambda item: -item[1])
        team_lines += [f"• {mention(user)}: {money(usd)} this month" for user, usd in top]
        if channels:
            team_lines.append("*By channel:*")
            team_lines += [f"• <#{channel}>: {money(usd)} this month"
                           for channel, usd in sorted(channels.items(), key=lambda item: -item[1])]
        if refunds_due is not None:
            count, usd = refunds_due
            team_lines.append(f"*Refunds due* (support triage, last 30 days): {count} · {money(usd)}")
        blocks.append(section(fit_parts(team_lines, "\n", SECTION_MAX)))
    return f"Your spend: {money(today_usd)} today, {money(month_usd)} this month", blocks
