"""The answers that are not a job card: `/wan jobs`, `/wan spend`, and "Show API request"
(the submit as JSON and as curl, secrets masked). Pure: data in, `(text, blocks)` out."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from bot.jobs.models import Job
from bot.slack.blocks.card import hide_inline_images, status_word
from bot.slack.blocks.mrkdwn import (
    MAX_BLOCKS,
    SECTION_MAX,
    clip_escaped,
    context,
    elapsed,
    escape,
    fit_parts,
    mention,
    money,
    one_line,
    section,
)
from bot.wan.request import SHORT_NAMES, Mode

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


def api_request_message(method: str, url: str, headers: Mapping[str, str],
                        json_body: Any) -> tuple[str, list[dict]]:
    """Show API request: the exact JSON body and a curl line, the key masked (and inline images)."""
    json_body = hide_inline_images(json_body)
    body = json.dumps(json_body, indent=2, ensure_ascii=False)
    blocks = [section(f"*{escape(method.upper())}* `{clip_escaped(url, 500)}` with this JSON body:")]
    body_chunks = _code_chunks(body)
    curl_chunks = _code_chunks(curl_line(method, url, headers, json_body))
    if 2 + len(body_chunks) + len(curl_chunks) > MAX_BLOCKS:
        body_chunks, curl_chunks = body_chunks[: MAX_BLOCKS // 2 - 2], curl_chunks[: MAX_BLOCKS // 2 - 2]
    blocks += [section(c) for c in body_chunks]
    blocks.append(section("As a curl command (set `WAN_API_KEY` in your shell first):"))
    blocks += [section(c) for c in curl_chunks]
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
