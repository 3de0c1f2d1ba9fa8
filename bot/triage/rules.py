"""Rules: records -> one verdict with its evidence, amount, conflicts and what is missing.

Records are grouped by task id (rows with no id join the only task the input names); each task gets
its own verdict, chat-API misuse forms a group of its own, and the most actionable group decides the
overall verdict. Evidence that disagrees is listed in `conflicts` and lowers the confidence.

Confidence is a number from 0 to 1: about 0.9 when decisive rows decide it, 0.6-0.7 when only prose
or indirect evidence does, 0.5 for `needs_more_info`, minus 0.2 for every conflict (never below 0.1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.triage.records import CONSUME, ERROR, Record, is_chat_path, is_media_model

VERDICTS = ("refund_due", "misrouted_chat_api", "task_in_progress", "already_refunded", "not_charged",
            "needs_more_info")  # most actionable first
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
    tasks: list[dict] = field(default_factory=list)  # one verdict per task when there are several
    succeeded: bool = False


@dataclass
class _Group:
    task_id: str | None
    records: list[Record] = field(default_factory=list)


def decide(records: list[Record], opts: Options, now: float | None = None, task_id: str | None = None) -> Decision:
    now = time.time() if now is None else now
    main_model = _main_model(records, opts)
    misroute = [r for r in records if _misrouted(r, main_model, opts)]
    rest = [r for r in records if not any(r is m for m in misroute)]
    groups = _groups(rest, task_id)

    decisions = [_decide_task(g, opts, now) for g in groups]
    if misroute:
        decisions.append(_decide_misroute(misroute, opts))
    if not decisions:
        return _nothing(records)

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
    if len(decisions) > 1:
        result.tasks = [
            {"task_id": d.task_ids[0] if d.task_ids else None, "verdict": d.verdict, "amount_usd": d.amount_usd}
            for d in decisions
        ]
    result.model = result.model or main_model
    result.confidence = round(max(0.1, min(result.confidence, 1.0)), 2)
    unique = list({id(r): r for r in result.evidence}.values())
    result.evidence = sorted(unique, key=lambda r: (r.line or 0))[:MAX_EVIDENCE]
    return result


def _main_model(records: list[Record], opts: Options) -> str | None:
    models = [r.model for r in records if r.model]
    media = [m for m in models if is_media_model(m, opts.extra_media_models)]
    return (media or models or [None])[0]


def _misrouted(r: Record, main_model: str | None, opts: Options) -> bool:
    if r.api_type_error:
        return True
    if r.is_task or r.refund:
        return False
    model = r.model or (main_model if r.kind == "text" else None)
    media = is_media_model(model, opts.extra_media_models)
    if r.tokens > 0 and media:
        return True
    if is_chat_path(r.request_path):
        # a chat row for a chat model is ordinary traffic; for a video model, or unnamed in a complaint, it is not
        return media or (r.model is None and r.kind in ("text", "request", "usage"))
    return False


def _groups(records: list[Record], task_id: str | None) -> list[_Group]:
    ids = list(dict.fromkeys(r.task_id for r in records if r.task_id))
    if task_id and task_id not in ids:
        ids.insert(0, task_id)
    only = ids[0] if len(ids) == 1 else None
    groups = {i: _Group(i) for i in ids}
    orphans = _Group(None)
    for r in records:
        if not _relevant(r) or _chat_call(r):
            continue
        key = r.task_id or only
        (groups[key] if key else orphans).records.append(r)
    result = list(groups.values())
    if orphans.records:
        result.append(orphans)
    return result


def _chat_call(r: Record) -> bool:
    """An ordinary chat call (a chat model, billed by tokens): not part of any task."""
    return r.task_id is None and not r.is_task and r.log_type != ERROR and (r.is_task is False or r.tokens > 0)


def _relevant(r: Record) -> bool:
    return bool(r.task_id or r.status or r.refund or r.quota is not None or r.usd is not None or r.log_type)


def _usd(quota: float, opts: Options) -> float:
    return round(quota / opts.quota_per_usd, 6)


def _charges(g: _Group) -> tuple[list[Record], list[Record]]:
    """(records showing money taken, records showing nothing was taken)."""
    paid, free = [], []
    for r in g.records:
        if r.refund:
            continue
        if r.kind == "log" and r.log_type in (CONSUME, None) and r.quota:
            paid.append(r)
        elif r.kind == "task" and r.quota:
            paid.append(r)
        elif r.kind in ("litellm", "query", "lookup") and r.usd:
            paid.append(r)
        elif (r.kind == "log" and (r.log_type == ERROR or r.quota == 0)) or (r.kind == "litellm" and r.usd == 0):
            free.append(r)
    return paid, free


def _charge_usd(paid: list[Record], opts: Options) -> float | None:
    """The consumption rows' amount; else the task export's; else amounts already in USD."""
    for kind in ("log", "task"):
        rows = {(r.row_id or id(r)): r for r in paid if r.kind == kind}
        if rows:
            return _usd(sum(r.quota or 0 for r in rows.values()), opts)
    usd = [r.usd for r in paid if r.usd]
    return round(max(usd), 6) if usd else None


def _status(g: _Group) -> tuple[Record | None, list[str]]:
    """The most trusted status (an ended one beats a running one) and any disagreement."""
    with_status = [r for r in g.records if r.status and r.status != "unrecognised"]
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


def _decide_task(g: _Group, opts: Options, now: float) -> Decision:
    paid, free = _charges(g)
    refunds = [r for r in g.records if r.refund]
    status_rec, conflicts = _status(g)
    status = status_rec.status if status_rec else None
    amount = _charge_usd(paid, opts)
    models = [r.model for r in g.records if r.model]
    d = Decision(
        verdict="needs_more_info", confidence=0.5, task_ids=[g.task_id] if g.task_id else [],
        model=models[0] if models else None, conflicts=conflicts, status=status,
        error=next((r.error for r in g.records if r.error), None),
    )
    strong = status_rec is not None and status_rec.kind != "text"
    status_ev = [status_rec] if status_rec else []

    if refunds:
        d.verdict, d.confidence = "already_refunded", 0.9
        rows = {(r.row_id or r.quote): r for r in refunds}
        d.amount_usd = _usd(sum(r.refund_quota or 0 for r in rows.values()), opts) or amount
        d.refunded_at = max((r.created_at for r in rows.values() if r.created_at), default=None)
        d.evidence = paid + list(rows.values()) + status_ev
        if len(rows) > 1:
            d.conflicts.append(f"task {g.task_id}: {len(rows)} refund records: refunded more than once?")
        if amount is not None and d.amount_usd is not None and abs(amount - d.amount_usd) > 1e-6:
            d.conflicts.append(f"task {g.task_id}: refunded {d.amount_usd} USD but charged {amount} USD")
        if status == "succeeded":
            d.conflicts.append(f"task {g.task_id}: a refund is recorded although the task succeeded")
    elif status in ENDED_BAD:
        if paid:
            d.verdict, d.confidence, d.amount_usd = "refund_due", (0.9 if strong else 0.7), amount
            d.evidence = paid + status_ev
        elif free:
            d.verdict, d.confidence, d.amount_usd = "not_charged", 0.8, 0.0
            d.evidence = free + status_ev
        else:
            d.evidence = status_ev
            d.missing = [f"the consumption log row for task {g.task_id or '(id unknown)'}, to confirm the charge"]
    elif status in ("queued", "running"):
        d.verdict, d.confidence, d.amount_usd = "task_in_progress", (0.85 if strong else 0.6), amount
        d.evidence = paid + status_ev
        started = min((r.created_at for r in g.records if r.created_at), default=None)
        if started:
            d.age_minutes = round((now - started) / 60, 1)
            d.stuck = d.age_minutes > opts.stuck_minutes
    elif status == "succeeded":
        d.succeeded = True
        d.amount_usd = amount
        d.evidence = paid + status_ev
        d.missing = ["the id of the task that failed: this task succeeded, so its charge stands"]
    elif paid:
        d.amount_usd = amount
        d.evidence = paid + status_ev
        what = "expired or unknown at the gateway" if status == "expired" else "not in the input"
        d.missing = [f"the final status of task {g.task_id or '(id unknown)'} ({what}): a task query result or a live look-up"]
    elif free:
        d.verdict, d.confidence, d.amount_usd = "not_charged", 0.8, 0.0
        d.evidence = free
    else:
        d.evidence = [r for r in g.records if r.task_id][:3]
        d.missing = [f"a log export (or the admin log rows) for task {g.task_id}" if g.task_id
                     else "the task id and the time of the request"]
    d.confidence -= 0.2 * len(d.conflicts)
    return d


def _decide_misroute(records: list[Record], opts: Options) -> Decision:
    charged = [r for r in records if (r.kind == "log" and r.quota) or (r.kind == "litellm" and r.usd)]
    quota = sum(r.quota or 0 for r in {(r.row_id or id(r)): r for r in charged if r.kind == "log"}.values())
    usd = sum(r.usd or 0 for r in charged if r.kind == "litellm")
    amount = round(_usd(quota, opts) + usd, 6) if charged else (0.0 if _only_free(records) else None)
    prose = [r for r in records if r.kind == "text" and (r.usd or r.quota)]
    if amount is None and prose:
        # no log row: the charge as pasted ("扣费 0.0024", "quota: 1200")
        amount = round(sum(_usd(r.quota or 0, opts) + (r.usd or 0) for r in prose), 6)
    strong = any(r.api_type_error or (r.kind != "text" and r.tokens > 0) for r in records)
    return Decision(
        verdict="misrouted_chat_api", confidence=0.9 if strong else 0.7, evidence=list(records),
        amount_usd=amount, model=next((r.model for r in records if r.model), None),
    )


def _only_free(records: list[Record]) -> bool:
    return any(r.kind == "log" for r in records) and all(not r.quota for r in records if r.kind == "log")


def _merge(chosen: list[Decision]) -> Decision:
    first = chosen[0]
    if len(chosen) == 1:
        return first
    amounts = [d.amount_usd for d in chosen if d.amount_usd is not None]
    first.amount_usd = round(sum(amounts), 6) if amounts else None
    first.task_ids = list(dict.fromkeys(t for d in chosen for t in d.task_ids))
    first.evidence = [r for d in chosen for r in d.evidence]
    first.conflicts = [c for d in chosen for c in d.conflicts]
    first.missing = list(dict.fromkeys(m for d in chosen for m in d.missing))
    first.stuck = any(d.stuck for d in chosen)
    first.confidence = min(d.confidence for d in chosen)
    return first


def _nothing(records: list[Record]) -> Decision:
    return Decision(
        verdict="needs_more_info", confidence=0.5,
        missing=["the task id", "the time of the request (with time zone)", "the log export for that time range"],
        evidence=[r for r in records if r.kind == "text" and r.quote][:3],
    )
