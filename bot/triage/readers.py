"""Readers: any input (pasted text, JSON, JSONL, CSV, plain logs, big files) -> records.

Small inputs are read whole and scanned for every JSON value wherever it nests, so pretty-printed
exports, `{"data": {"items": [...]}}` wrappers and JSON inside log lines all yield their rows with
the line they start on. Big inputs are streamed: a byte-level prefilter (bot.triage.prefilter) picks the few lines that
can matter (they name the task id, the model, a video/image model or a triage fact) and only those
are parsed.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import BinaryIO

from bot.triage.prefilter import Matcher, NeedleMatcher, candidate_lines, whole_export_matcher
from bot.triage.records import ERROR, MEDIA_MODEL_PATTERNS, Record, is_media_model
from bot.triage.rows import from_mapping
from bot.triage.textfacts import from_text

SMALL_BYTES = 8 << 20  # read whole below this; stream above
CHUNK_BYTES = 1 << 20  # fits in cache: the find and the newline count touch it while hot
MAX_LINE_BYTES = 8 << 20  # a longer "line" (a one-line JSON export) is split between rows
MAX_RECORDS = 20_000  # flat memory when a huge file is read with no filter
MAX_PROSE = 50  # lines of the customer's words kept for the language and the complaint's time

_decoder = json.JSONDecoder()
_OPEN_RE = re.compile(r"[{\[]")
_CSV_HEADER_KEYS = ("model_name", "task_id", "request_id", "quota", "prompt_tokens", "created_at", "spend")


@dataclass
class Filter:
    task_id: str | None = None
    model: str | None = None  # fnmatch pattern, case-insensitive
    media_models: tuple[str, ...] = ()  # extra video/image model patterns (WANBOT_TRIAGE_MEDIA_MODELS)

    def keep(self, rec: Record) -> bool:
        if self.task_id and rec.task_id and rec.task_id != self.task_id:
            return False
        if self.model and rec.model and not fnmatchcase(rec.model.lower(), self.model.lower()):
            return False
        return True

    def matcher(self) -> Matcher:
        needles = self.needles()
        if needles:
            return NeedleMatcher(needles)
        return whole_export_matcher(MEDIA_MODEL_PATTERNS + self.media_models)

    def needles(self) -> list[bytes] | None:
        """Byte strings one of which every relevant line contains; None means "parse all"."""
        if self.task_id:
            return [self.task_id.encode()]
        if self.model:
            literal = max(re.split(r"[*?\[\]]", self.model), key=len)
            if literal:
                # a refund text row names the task, not the model: keep refund lines too
                return [literal.lower().encode(), b"refund", "退款".encode(), "补偿".encode()]
        return None


@dataclass
class ReadResult:
    records: list[Record] = field(default_factory=list)
    lines: int = 0
    truncated: bool = False
    prose: int = 0

    def add(self, rec: Record, flt: Filter, streamed: bool = False) -> None:
        if not flt.keep(rec):
            return
        if streamed and _ordinary_chat(rec, flt):
            return  # a chat model billed by tokens decides nothing: do not let a million fill the cap
        if rec.kind == "prose":
            self.prose += 1
            if self.prose > MAX_PROSE:
                return
        if len(self.records) >= MAX_RECORDS:
            self.truncated = True
            return
        self.records.append(rec)


# --- whole-text reading ---------------------------------------------------------------------------


def read_text(text: str, flt: Filter | None = None) -> ReadResult:
    flt = flt or Filter()
    result = ReadResult(lines=text.count("\n") + 1)
    header = _csv_header(text)
    if header:
        try:
            rows = list(_csv_rows(text))
        except csv.Error:
            rows = list(scan(text))  # not CSV after all (stray CR, broken quoting): read as text
        for rec in rows:
            result.add(rec, flt)
        return result
    for rec in scan(text):
        result.add(rec, flt)
    return result


def scan(text: str, first_line: int = 1) -> Iterator[Record]:
    """Every JSON row wherever it nests, then the facts in the prose around them."""
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return first_line + bisect.bisect_left(newlines, pos)

    consumed: list[tuple[int, int]] = []
    pos = 0
    while m := _OPEN_RE.search(text, pos):
        start = m.start()
        try:
            value, end = _decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            pos = start + 1
            continue
        rec = from_mapping(value, line_of(start), text[start:end]) if isinstance(value, dict) else None
        if rec is None:
            if isinstance(value, list | dict) and end - start > 2:
                consumed.append((start, start + 1))  # a wrapper: step inside and find its rows
            pos = start + 1
            continue
        consumed.append((start, end))
        yield rec
        pos = end
    yield from _prose(text, consumed, first_line)


def _prose(text: str, consumed: list[tuple[int, int]], first_line: int) -> Iterator[Record]:
    """Facts in the text outside the parsed JSON (blanked out so they are not counted twice)."""
    if consumed:
        parts, last = [], 0
        for start, end in consumed:
            if start < last:
                continue
            parts.append(text[last:start])
            parts.append(" " + "\n" * text.count("\n", start, end))  # keep the line count
            last = end
        parts.append(text[last:])
        text = "".join(parts)
    for offset, line in enumerate(text.split("\n")):
        if line.strip(" \t\r[]{},") and (rec := from_text(line, first_line + offset)):
            yield rec


def _csv_header(text: str) -> list[str] | None:
    first = text.lstrip("\ufeff").lstrip().split("\n", 1)[0]
    if first.startswith(("{", "[")) or "," not in first:
        return None
    cells = [c.strip().strip('"').lower() for c in first.split(",")]
    return cells if sum(key in cells for key in _CSV_HEADER_KEYS) >= 2 else None


def _csv_rows(text: str) -> Iterator[Record]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff").lstrip()))
    for row in reader:
        row = {(k or "").strip().lower(): v for k, v in row.items() if k}
        quote = ",".join(v or "" for v in row.values())
        rec = from_mapping(row, reader.line_num, quote)
        if rec is None:
            rec = from_text(quote, reader.line_num)
        if rec is not None:
            yield rec


def _csv_line(header: list[str], line: str, lineno: int) -> Record | None:
    try:
        cells = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return from_text(line, lineno)
    row = dict(zip(header, cells, strict=False))
    return from_mapping(row, lineno, line) or from_text(line, lineno)


# --- streaming ------------------------------------------------------------------------------------


def read_stream(stream: BinaryIO, flt: Filter | None = None) -> ReadResult:
    """Read a binary stream: whole when small, else line by line through the prefilter."""
    flt = flt or Filter()
    head = stream.read(SMALL_BYTES)
    if len(head) < SMALL_BYTES:
        return read_text(head.decode("utf-8", errors="replace"), flt)
    result = ReadResult()
    while head.find(b"\n") < 0 and len(head) < MAX_LINE_BYTES and (more := stream.read(CHUNK_BYTES)):
        head += more  # the first line (a CSV header?) must be whole
    first = head[: head.find(b"\n")].decode("utf-8", errors="replace")  # no copy of the whole head
    header = _csv_header(first + "\n")
    lines = candidate_lines(head, stream, flt.matcher(), CHUNK_BYTES, MAX_LINE_BYTES)
    del head  # the chunk generator holds the only reference; it lets go once past it
    for lineno, raw in lines:
        line = raw.decode("utf-8", errors="replace")
        if header:
            if lineno == 1:
                continue
            rec = _csv_line(header, line, lineno)
            if rec is not None:
                result.add(rec, flt, streamed=True)
        else:
            for rec in scan(line, lineno):
                result.add(rec, flt, streamed=True)
    return result


def _ordinary_chat(rec: Record, flt: Filter) -> bool:
    return (rec.kind in ("log", "litellm", "usage") and rec.tokens > 0 and not rec.task_id and not rec.is_task
            and not rec.refund and not rec.api_type_error and rec.log_type != ERROR
            and not is_media_model(rec.model, flt.media_models))
