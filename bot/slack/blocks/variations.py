"""The summary card of `--variations N`: one line per variation (seed, state, cost), the total, and a
Pick button under each finished one. Pure: jobs in, Block Kit out."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dollars import money
from bot.jobs.models import Job, JobState
from bot.slack.blocks.card import status_word
from bot.slack.blocks.mrkdwn import button, clip_escaped, context, mention, one_line, section

PICK_ACTION = "variation_pick"
PICKED = "picked"  # the review state a Pick records on the chosen variation


def seed_of(job: Job) -> int | None:
    seed = (job.request.get("input") or {}).get("seed")
    return seed if isinstance(seed, int) else None


def summary_card(jobs: Sequence[Job], *, count: int, total_estimate: float) -> tuple[str, list[dict]]:
    """`jobs` in variation order (fewer than `count` while they are still being started)."""
    first = jobs[0] if jobs else None
    prompt = clip_escaped(one_line(first.prompt), 300) if first else ""
    head = f"🎲 *{count} variations* · estimated {money(total_estimate)} in all"
    blocks: list[dict] = [section(f"{head}\n> {prompt}" if prompt else head)]
    billed = sum(j.billed_cost_usd or 0.0 for j in jobs)
    for index, job in enumerate(jobs, 1):
        seed = seed_of(job)
        cost = money(job.billed_cost_usd) if job.billed_cost_usd is not None else f"~{money(job.estimated_cost_usd)}"
        line = f"*{index}.* seed `{seed}` · {status_word(job)} · {cost}"
        if job.review_state == PICKED:
            line += f" · ⭐ picked by {mention(job.reviewed_by)}"
        blocks.append(section(line))
    # One row of Pick buttons (an actions block, so every client, `python -m bot dev` too, can click them).
    picks = [button(f"⭐ Pick {index}", PICK_ACTION, job.id) for index, job in enumerate(jobs, 1)
             if job.state in (JobState.SUCCEEDED, JobState.DELIVERED) and job.review_state != PICKED]
    if picks:
        blocks.append({"type": "actions", "block_id": "variation_picks", "elements": picks[:25]})
    if len(jobs) < count:
        blocks.append(context(f"Starting {count - len(jobs)} more…"))
    done = sum(j.state.terminal or j.state == JobState.SUCCEEDED for j in jobs)  # rendered (or ended)
    blocks.append(context(f"{done} of {count} finished · billed so far {money(billed)} · each video lands in "
                          "this thread with its seed"))
    text = f"{count} variations: {done} finished, billed {money(billed)} of about {money(total_estimate)}"
    return text, blocks
