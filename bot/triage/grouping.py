"""Which records belong to which task, which are chat-API misuse, and which are only context.

A new-api consumption row does not name its task (service/task_billing.go LogTaskConsumption writes
`is_task`, `request_path` and prices, no id): it joins the task of the same model whose submit time
is nearest. A row that names neither the task nor its model (an error row of another call, a charge
for another model) is context: it never joins a task and never decides its verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.triage.records import ERROR, Record, is_chat_path, is_media_model

JOIN_WINDOW_SECONDS = 15 * 60  # a consumption row is written when the task is submitted


@dataclass
class Group:
    task_id: str | None
    records: list[Record] = field(default_factory=list)


def misrouted(r: Record, main_model: str | None, extra: tuple[str, ...] = ()) -> bool:
    if r.kind == "prose":
        return False
    if r.api_type_error:
        return True
    if r.is_task or r.refund or r.refund_failed:
        return False
    model = r.model or (main_model if r.kind == "text" else None)
    media = is_media_model(model, extra)
    if r.tokens > 0 and media:
        return True
    if is_chat_path(r.request_path):
        # a chat row for a chat model is ordinary traffic; for a video model, or unnamed in a complaint, it is not
        return media or (r.model is None and r.kind in ("text", "request", "usage"))
    return False


def named_task(records: list[Record], task_id: str | None) -> str | None:
    """The task the complaint is about: given, or the one task the customer's own words name."""
    if task_id:
        return task_id
    named = list(dict.fromkeys(r.task_id for r in records if r.prose and r.task_id))
    return named[0] if len(named) == 1 else None


def group_records(records: list[Record], task_id: str | None) -> tuple[list[Group], str | None]:
    ids = list(dict.fromkeys(r.task_id for r in records if r.task_id))
    if task_id and task_id not in ids:
        ids.insert(0, task_id)
    groups = {i: Group(i) for i in ids}
    orphans = Group(None)
    loose = []
    for r in records:
        if r.kind == "prose" or not _relevant(r) or _chat_call(r):
            continue
        if r.task_id:
            groups[r.task_id].records.append(r)
        else:
            loose.append(r)
    models = {i: _model_of(g) for i, g in groups.items()}
    starts = {i: _start_of(g) for i, g in groups.items()}
    for r in loose:
        if _is_error(r):
            if not ids:
                orphans.records.append(r)  # only error rows in view: they say nothing was charged
            continue  # an error row with no task id is not pinned on a task
        target = _join(r, ids, models, starts)
        if target:
            groups[target].records.append(r)
        elif not ids:
            orphans.records.append(r)
    result = list(groups.values())
    if orphans.records:
        result.append(orphans)
    return result, named_task(records, task_id)


def _join(r: Record, ids: list[str], models: dict, starts: dict) -> str | None:
    def same_model(i: str) -> bool:
        return not r.model or not models[i] or r.model.lower() == models[i].lower()

    candidates = [i for i in ids if same_model(i)]
    if len(ids) == 1:
        return candidates[0] if candidates else None
    if r.kind != "log" or not candidates:
        return None  # prose or text without a task id among several tasks: context
    if r.created_at is None:
        return candidates[0] if len(candidates) == 1 else None
    timed = [(abs(r.created_at - starts[i]), i) for i in candidates if starts[i] is not None]
    timed = sorted(t for t in timed if t[0] <= JOIN_WINDOW_SECONDS)
    if not timed or (len(timed) > 1 and timed[0][0] == timed[1][0]):
        return None
    return timed[0][1]


def _model_of(g: Group) -> str | None:
    return next((r.model for r in g.records if r.model and r.kind in ("task", "log", "lookup", "query")), None)


def _start_of(g: Group) -> float | None:
    times = [r.created_at for r in g.records if r.created_at and r.kind in ("task", "lookup", "query", "log")]
    return min(times) if times else None


def _is_error(r: Record) -> bool:
    return (r.kind == "log" and r.log_type == ERROR) or r.kind == "error"


def _chat_call(r: Record) -> bool:
    """An ordinary chat call (a chat model, billed by tokens): not part of any task."""
    return r.task_id is None and not r.is_task and r.log_type != ERROR and (r.is_task is False or r.tokens > 0)


def _relevant(r: Record) -> bool:
    return bool(r.task_id or r.status or r.refund or r.refund_failed or r.quota is not None
                or r.usd is not None or r.log_type)
