"""Rules: records -> one verdict with its evidence, amount, conflicts and what is missing.

Records are grouped per task (bot.triage.grouping); each task gets its own verdict from its charge
history (bot.triage.ledger) and its last known state; chat-API misuse forms a group of its own. The
complaint's task (given, or named in the customer's words) decides; else the most urgent verdict
does, and `tasks` lists every task. Evidence that disagrees is listed in `conflicts`.

Confidence is a number from 0 to 1: about 0.9 when decisive rows decide it, 0.6-0.7 when only prose
or indirect evidence does, 0.5 for `needs_more_info`, minus 0.2 for every conflict (never below 0.1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from bot.triage.grouping import Group, group_records, misrouted
from bot.triage.ledger import EPS, build_ledger
from bot.triage.records import Record, is_media_model

# Most urgent first (shared/spec/triage.md, "Per task").
VERDICTS = ("refund_due", "task_in_progress", "misrouted_chat_api", "already_refunded", "task_succeeded",
            "not_charged", "needs_more_info")
ENDED_BAD = ("failed", "canceled")
# How much a status source is trusted when two disagree.
_TRUST = {"lookup": 5, "task": 4, "query": 4, "log": 3, "litellm": 2, "error": 2, "text": 1}
MAX_EVIDENCE = 12


@dataclass
class Options:
    quota_per_usd: float = 500_000
    stuck_minutes: float = 30
    extra_media_models: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any | None) -> Options:
        if settings is None:
            return cls()
        extra = getattr(settings, "wanbot_triage_media_models", None) or ()
        return cls(
            quota_per_usd=settings.wanbot_quota_per_usd,
            stuck_minutes=settings.wanbot_triage_stuck_minutes,
            extra_media_models=tuple(p.lower() for p in extra),
        )


@dataclass
class Decision:
    verdict: str
    confidence: float
    evidence: list[Record] = field(default_factory=list)
    amount_usd: float | None = None
    task_ids: list[str] = field(default_factory=list)
    model: str | None = None
    stuck: bool = False
    conflicts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what to ask for (needs_more_info)
    status: str | None = None  # the deciding task status, if any
    error: str | None = None  # the task's failure reason, if known
    refunded_at: float | None = None
    age_minutes: float | None = None
    tasks: list[dict] = field(default_factory=list)  # one row per task: the table and `tasks` in --json
    charged_usd: float | None = None
    refunded_usd: float | None = None
    due_usd: float = 0.0
    total_grew: bool = False  # the customer saw the #4211 "total grew after a refund" display
    others: list[Decision] = field(default_factory=list)  # the other tasks' decisions, for the reply
    user: str | None = None  # the gateway user the task belongs to (new-api `username`), when known
    refunds: list[dict] = field(default_factory=list)  # every task with a refund due: the CSV export
    refund_failed: bool = False  # the gateway logged that returning the money failed


def reference_time(records: list[Record], now: float | None) -> float:
    """"Stuck" is measured from the complaint's time: given, else in the customer's words, else the
    newest time in the input, else the wall clock."""
    if now is not None:
        return now
    prose = [r.created_at for r in records if r.prose and r.created_at]
    if prose:
        return max(prose)
    stamps = [r.created_at for r in records if r.created_at]
    return max(stamps) if stamps else time.time()


def decide(records: list[Record], opts: Options, now: float | None = None, task_id: str | None = None) -> Decision:
    ref = reference_time(records, now)
    main_model = _main_model(records, opts)
    misroute = [r for r in records if misrouted(r, main_model, opts.extra_media_models)]
    rest = [r for r in records if not any(r is m for m in misroute)]
    groups, named = group_records(rest, task_id)

    task_decisions = [_decide_task(g, opts, ref) for g in groups]
    decisions = list(task_decisions)
    if misroute:
        decisions.append(_decide_misroute(misroute, opts))
    if not decisions:
        return _nothing(records)

    by_id = {d.task_ids[0]: d for d in task_decisions if d.task_ids}
    if named and named in by_id:
        chosen = [by_id[named]]
    else:
        best = min(decisions, key=lambda d: VERDICTS.index(d.verdict))
        chosen = [d for d in decisions if d.verdict == best.verdict]
    result = _merge(chosen)
    verdicts = {d.verdict for d in decisions}
    if "misrouted_chat_api" in verdicts and verdicts & {"refund_due", "already_refunded", "task_in_progress"}:
        result.conflicts.append(
            "the input shows both a chat-API call on a video/image model and a properly submitted task; "
            "they may be two different calls: check which one the customer means"
        )
        result.confidence -= 0.2
        result.evidence += [r for d in decisions if d.verdict != result.verdict for r in d.evidence]
    charged = [d for d in task_decisions if d.task_ids]
    result.tasks = [_task_row(d) for d in charged]  # `tasks` in --json: every task, even a lone one
    if len(charged) > 1:
        result.others = [d for d in charged if d not in chosen]
    result.refunds = [_refund_row(d) for d in task_decisions if d.verdict == "refund_due" and d.due_usd > 0]
    result.total_grew = any(r.total_grew for r in records)
    result.model = result.model or main_model
    result.confidence = round(max(0.1, min(result.confidence, 1.0)), 2)
    unique = list({id(r): r for r in result.evidence}.values())
    result.evidence = sorted(unique, key=lambda r: (r.line or 0))[:MAX_EVIDENCE]
    return result


def _task_row(d: Decision) -> dict:
    return {"task_id": d.task_ids[0], "model": d.model, "charged_usd": d.charged_usd, "state": d.status,
            "refunded_usd": d.refunded_usd, "due_usd": d.due_usd if d.verdict == "refund_due" else 0.0,
            "verdict": d.verdict}


def _refund_row(d: Decision) -> dict:
    """task, user, model, amount and the evidence it rests on (row ids, else line numbers)."""
    evidence = [r.row_id or (f"line {r.line}" if r.line else r.kind) for r in d.evidence]
    return {"task_id": d.task_ids[0] if d.task_ids else None, "user": d.user, "model": d.model,
            "amount_usd": d.due_usd, "evidence": list(dict.fromkeys(evidence))}


def _main_model(records: list[Record], opts: Options) -> str | None:
    models = [r.model for r in records if r.model]
    media = [m for m in models if is_media_model(m, opts.extra_media_models)]
    return (media or models or [None])[0]


def _status(g: Group) -> tuple[Record | None, list[str]]:
    """The most trusted status (an ended one beats a running one; the later line wins a tie)."""
    with_status = [r for r in g.records if r.status and r.status != "unrecognised"]
    # "unknown" (read as expired) is also what new-api's video API says for a state it cannot map, such as
    # NOT_START (new-api #5045): it ends nothing while a source at least as trusted knows the real state
    known = max((_TRUST.get(r.kind, 1) for r in with_status if r.status != "expired"), default=0)
    with_status = [r for r in with_status if r.status != "expired" or _TRUST.get(r.kind, 1) > known]
    if not with_status:
        return None, []
    ended = [r for r in with_status if r.status not in ("queued", "running")]
    pool = ended or with_status
    best = max(pool, key=lambda r: (_TRUST.get(r.kind, 1), r.line or 0))
    conflicts = []
    outcomes = {"failed" if r.status in ENDED_BAD else r.status for r in ended}
    if "failed" in outcomes and "succeeded" in outcomes:
        where = "; ".join(f"{r.status} ({r.source})" for r in ended)
        conflicts.append(f"task {g.task_id or '?'}: the sources disagree on its status: {where}")
    return best, conflicts


def _decide_task(g: Group, opts: Options, ref: float) -> Decision:
    led = build_ledger(g.records, opts.quota_per_usd)
    status_rec, conflicts = _status(g)
    status = status_rec.status if status_rec else None
    models = [r.model for r in g.records if r.model]
    tid = g.task_id
    d = Decision(
        verdict="needs_more_info", confidence=0.5, task_ids=[tid] if tid else [],
        model=models[0] if models else None, conflicts=conflicts, status=status,
        error=next((r.error for r in g.records if r.error and r.kind != "prose"), None),
        charged_usd=led.charged_usd, refunded_usd=led.refunded_usd if led.refunds else 0.0,
        user=next((r.username for r in g.records if r.username), None),
    )
    strong = status_rec is not None and status_rec.kind != "text"
    status_ev = [status_rec] if status_rec else []
    refunded = bool(led.refunds)
    if led.double:
        extra = f" (${led.extra_refunds_usd:.2f} more than once)" if led.extra_refunds_usd else ""
        d.conflicts.append(f"task {tid}: double refund: {len(led.refunds)} refund records{extra}; counted once")
    if led.refund_failed and refunded:
        d.conflicts.append(f"task {tid}: a refund row exists, but the gateway also logged the refund failing")
    if led.refund_failed and not refunded:
        d.missing = []  # the warning itself says the money was not returned

    if status in ENDED_BAD or (refunded and status is None):
        if refunded and led.due_usd > EPS and led.paid and status in ENDED_BAD:
            d.verdict, d.confidence, d.amount_usd = "refund_due", 0.85, led.due_usd
            d.evidence = led.charges + led.refunds + status_ev
        elif refunded:
            d.verdict, d.confidence, d.amount_usd = "already_refunded", 0.9, led.refunded_usd
            d.refunded_at = max((r.created_at for r in led.refunds if r.created_at), default=None)
            d.evidence = led.charges + led.refunds + status_ev
            if led.charged_usd is not None and abs(led.charged_usd - led.refunded_usd) > EPS:
                d.conflicts.append(f"task {tid}: refunded {led.refunded_usd} USD but charged {led.charged_usd} USD")
        elif led.paid:
            d.verdict, d.confidence, d.amount_usd = "refund_due", (0.9 if strong else 0.7), led.due_usd
            d.evidence = led.charges + led.refund_failed + status_ev
            d.refund_failed = bool(led.refund_failed)
        elif led.free:
            d.verdict, d.confidence, d.amount_usd = "not_charged", 0.8, 0.0
            d.evidence = led.free + status_ev
        else:
            d.evidence = status_ev
            d.missing = [f"the consumption log row for task {tid or '(id unknown)'}, to confirm the charge"]
    elif refunded:  # refunded although not failed: the refund stands, the state is suspicious
        d.verdict, d.confidence, d.amount_usd = "already_refunded", 0.9, led.refunded_usd
        d.evidence = led.charges + led.refunds + status_ev
        if status == "succeeded":
            d.conflicts.append(f"task {tid}: a refund is recorded although the task succeeded")
    elif status in ("queued", "running"):
        d.verdict, d.confidence, d.amount_usd = "task_in_progress", (0.85 if strong else 0.6), led.charged_usd
        d.evidence = led.charges + status_ev
        started = min((r.created_at for r in g.records if r.created_at and not r.prose), default=None)
        if started:
            d.age_minutes = round(max(0.0, ref - started) / 60, 1)
            d.stuck = d.age_minutes > opts.stuck_minutes
    elif status == "succeeded":
        d.verdict, d.confidence, d.amount_usd = "task_succeeded", (0.85 if strong else 0.6), led.charged_usd
        d.evidence = led.charges + status_ev
    elif led.paid:
        d.amount_usd = led.charged_usd
        d.evidence = led.charges + status_ev
        what = "expired or unknown at the gateway" if status == "expired" else "not in the input"
        d.missing = [f"the final status of task {tid or '(id unknown)'} ({what}): a task query result or a live look-up"]
    elif led.free:
        d.verdict, d.confidence, d.amount_usd = "not_charged", 0.8, 0.0
        d.evidence = led.free
    else:
        d.evidence = [r for r in g.records if r.task_id][:3]
        d.missing = [f"a log export (or the admin log rows) for task {tid}" if tid
                     else "the task id and the time of the request"]
    d.due_usd = led.due_usd if d.verdict == "refund_due" else 0.0
    d.confidence -= 0.2 * len(d.conflicts)
    return d


def _decide_misroute(records: list[Record], opts: Options) -> Decision:
    charged = [r for r in records if (r.kind == "log" and r.quota) or (r.kind == "litellm" and r.usd)]
    quota = sum(r.quota or 0 for r in {(r.row_id or id(r)): r for r in charged if r.kind == "log"}.values())
    usd = sum(r.usd or 0 for r in charged if r.kind == "litellm")
    amount = round(quota / opts.quota_per_usd + usd, 6) if charged else (0.0 if _only_free(records) else None)
    prose = [r for r in records if r.kind == "text" and (r.usd or r.quota)]
    if amount is None and prose:
        # no log row: the charge as pasted ("扣费 0.0024", "quota: 1200")
        amount = round(sum((r.quota or 0) / opts.quota_per_usd + (r.usd or 0) for r in prose), 6)
    strong = any(r.api_type_error or (r.kind != "text" and r.tokens > 0) for r in records)
    return Decision(
        verdict="misrouted_chat_api", confidence=0.9 if strong else 0.7, evidence=list(records),
        amount_usd=amount, model=next((r.model for r in records if r.model), None),
    )


def _only_free(records: list[Record]) -> bool:
    return any(r.kind == "log" for r in records) and all(not r.quota for r in records if r.kind == "log")


def _merge(chosen: list[Decision]) -> Decision:
    if len(chosen) == 1:
        return chosen[0]
    # a copy: each task keeps its own decision for the per-task table and the refunds-due rows
    first = replace(chosen[0])
    amounts = [d.amount_usd for d in chosen if d.amount_usd is not None]
    first.amount_usd = round(sum(amounts), 6) if amounts else None  # the total due when refunds are due
    first.task_ids = list(dict.fromkeys(t for d in chosen for t in d.task_ids))
    first.evidence = [r for d in chosen for r in d.evidence]
    first.conflicts = [c for d in chosen for c in d.conflicts]
    first.missing = list(dict.fromkeys(m for d in chosen for m in d.missing))
    first.stuck = any(d.stuck for d in chosen)
    first.confidence = min(d.confidence for d in chosen)
    first.due_usd = round(sum(d.due_usd for d in chosen), 6)
    errors = {d.error for d in chosen}
    first.error = first.error if len(errors) == 1 else None  # one task's reason is not every task's
    return first


def _nothing(records: list[Record]) -> Decision:
    return Decision(
        verdict="needs_more_info", confidence=0.5,
        missing=["the task id", "the time of the request (with time zone)", "the log export for that time range"],
        evidence=[r for r in records if r.kind in ("text", "prose") and r.quote][:3],
    )
