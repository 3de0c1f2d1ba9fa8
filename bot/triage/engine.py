"""The entry points: read inputs, fold in the live task look-up, decide, build the result."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from bot.redact import redact
from bot.triage.fetch import Fetch
from bot.triage.readers import Filter, ReadResult, read_stream, read_text
from bot.triage.records import Record, make_quote
from bot.triage.report import TriageResult, build
from bot.triage.rules import Options, decide

log = logging.getLogger(__name__)

Lookup = Callable[[str], Awaitable[Any]]  # task id -> bot.wan.task.Task | None
MAX_LOOKUPS = 5


async def triage(
    *,
    texts: Iterable[str] = (),
    paths: Iterable[str | Path] = (),
    streams: Iterable[BinaryIO] = (),
    task_id: str | None = None,
    model: str | None = None,
    lookup: Lookup | None = None,
    settings: Any | None = None,
    now: float | None = None,
    lang: str | None = None,
    fetch: Fetch | None = None,
) -> TriageResult:
    """Triage pasted texts, files and binary streams together (rows are joined by task id).

    `now` is the complaint's time when the caller knows it (a Slack message's ts); without it the
    customer's own words, then the input's newest timestamp, then the wall clock measure "stuck".
    `lang` ("zh"/"en", from --lang or the modal) overrides the language of the customer's prose.
    `fetch` (bot.triage.fetch, when new-api's admin APIs are configured) brings the given task's
    record and log rows.
    """
    opts = Options.from_settings(settings)
    flt = Filter(task_id=task_id, model=model, media_models=opts.extra_media_models)
    records: list[Record] = []
    notes: list[str] = []
    for text in texts:
        _collect(read_text(text, flt), records, notes)
    for path in paths:
        # file reading is blocking I/O: keep the event loop free for Slack
        _collect(await asyncio.to_thread(_read_path, Path(path), flt), records, notes)
    for stream in streams:
        _collect(await asyncio.to_thread(read_stream, stream, flt), records, notes)
    if fetch is not None and task_id:
        fetched = await fetch(task_id)
        records += [r for r in fetched.records if flt.keep(r)]
        notes += fetched.notes
    language = lang or prose_language(records) or getattr(settings, "wanbot_triage_language", None) or "en"
    if lookup is not None:
        records += await _look_up(records, task_id, lookup, notes)
    decision = decide(records, opts, now=now, task_id=task_id)
    return build(decision, language, notes,
                 docs_url=getattr(settings, "wanbot_task_api_docs_url", None))


async def triage_text(text: str, **kwargs: Any) -> TriageResult:
    return await triage(texts=[text], **kwargs)


async def triage_file(path: str | Path, **kwargs: Any) -> TriageResult:
    return await triage(paths=[path], **kwargs)


def prose_language(records: list[Record]) -> str | None:
    """The customer's language: the majority of their prose lines (the gateway's own log lines, which
    new-api writes in Chinese, do not count); a tie goes to the first line."""
    langs = [r.lang for r in records if r.prose and r.lang]
    if not langs:
        return None
    zh, en = langs.count("zh"), langs.count("en")
    return "zh" if zh > en else "en" if en > zh else langs[0]


def _read_path(path: Path, flt: Filter) -> ReadResult:
    with path.open("rb") as stream:
        return read_stream(stream, flt)


def _collect(result: ReadResult, records: list[Record], notes: list[str]) -> None:
    records += result.records
    if result.truncated:
        notes.append(f"input too large: only the first {len(result.records)} rows were used; pass a task id or model")


async def _look_up(records: list[Record], task_id: str | None, lookup: Lookup, notes: list[str]) -> list[Record]:
    ids = [task_id] if task_id else list(dict.fromkeys(r.task_id for r in records if r.task_id))[:MAX_LOOKUPS]
    found = []
    for tid in ids:
        try:
            task = await lookup(tid)
        except Exception as exc:  # the look-up is a bonus: a broken gateway must not break triage
            log.warning("triage look-up of %s failed: %s", tid, redact(str(exc)))
            notes.append(redact(f"gateway look-up of task {tid} failed: {type(exc).__name__}"))
            continue
        if task is None:
            notes.append(redact(f"the gateway does not know task {tid}"))
            continue
        found.append(task_record(task))
    return found


def task_record(task: Any) -> Record:
    """A bot.wan.task.Task as a record (duck-typed so tests need no gateway client)."""
    status = getattr(task.status, "value", task.status)
    error = " ".join(t for t in (task.error_code, task.error_message) if t) or None
    parts = [f"gateway: task {task.id} status={task.raw_status or status}"]
    if task.billed_seconds is not None:
        parts.append(f"billed_seconds={task.billed_seconds}")
    if task.cost_usd is not None:
        parts.append(f"cost_usd={task.cost_usd}")
    if error:
        parts.append(f"error={error}")
    return Record(
        kind="lookup", task_id=task.id, status=None if status == "unrecognised" else status, error=error,
        billed_seconds=task.billed_seconds, usd=task.cost_usd, is_task=True, quote=make_quote(" ".join(parts)),
    )
