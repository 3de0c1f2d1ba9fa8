"""Readers: any input (pasted text, JSON, JSONL, CSV, plain logs, big files) -> records.

Small inputs are read whole and scanned for every JSON value wherever it nests, so pretty-printed
exports, `{"data": {"items": [...]}}` wrappers and JSON inside log lines all yield their rows with
the line they start on. Big inputs are streamed: a byte-level prefilter picks the few lines that can
matter (they name the task id, the model or a triage keyword) and only those are parsed.
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

from bot.triage.records import Record
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
# Lines worth parsing when no task/model filter is given (lower-case bytes; the line is lowered first).
_KEYWORDS = (
    b"task", b"token", b"api type", b"apitype", b"api_type", b"refund", b"/chat/", b"quota", b"status",
    b"fail", b"spend", b"model", "失败".encode(), "退款".encode(), "扣费".encode(), "任务".encode(),
    "补偿".encode(), "输入".encode(), "输出".encode(), "消耗".encode(),
)


@dataclass
class Filter:
    task_id: str | None = None
    model: str | None = None  # fnmatch pattern, case-insensitive

    def keep(self, rec: Record) -> bool:
        if self.task_id and rec.task_id and rec.task_id != self.task_id:
            return False
        if self.model and rec.model and not fnmatchcase(rec.model.lower(), self.model.lower()):
            return False
        return True

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

    def add(self, rec: Record, flt: Filter) -> None:
        if not flt.keep(rec):
            return
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
    lines = candidate_lines(head, stream, flt.needles())
    del head  # the chunk generator holds the only reference; it lets go once past it
    for lineno, raw in lines:
        line = raw.decode("utf-8", errors="replace")
        if header:
            if lineno == 1:
                continue
            rec = _csv_line(header, line, lineno)
            if rec is not None:
                result.add(rec, flt)
        else:
            for rec in scan(line, lineno):
                result.add(rec, flt)
    return result


def _chunks(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """The already-read head in 1 MB slices, then the rest of the stream: never a 16 MB copy."""
    view = memoryview(head)
    for start in range(0, len(head), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])
    view.release()
    while data := stream.read(CHUNK_BYTES):
        yield data


def candidate_lines(head: bytes, stream: BinaryIO, needles: list[bytes] | None) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for every line holding a needle (or a keyword when there are none).

    Works on 1 MB blocks: `bytes.find` locates hits, newlines are counted once per block, and only
    hit lines are cut out, so memory stays flat whatever the file's size. A block is searched in
    place (find/count with bounds): only the line straddling two blocks is joined, never the block,
    as copying every block twice cost a third of the time on a 1 GB log.
    """
    lineno = 1  # number of the next line to be numbered
    carry = b""  # the unfinished line at the end of the previous block
    giant = False  # inside one enormous line (a one-line JSON export)
    for data in _chunks(head, stream):
        first = data.find(b"\n")
        if first < 0:  # no line ends in this block: the carried line grows (rare)
            block = carry + data
            if len(block) > MAX_LINE_BYTES and (split := block.rfind(b"},{") + 2) > 1:
                # split the enormous line between rows; every piece keeps the line's number
                giant, carry = True, block[split:]
                yield from _giant_hits(block[:split], needles, lineno)
            else:
                carry = block
            continue
        line = carry + data[:first] if carry else data[:first]  # the line ending in this block
        if giant:
            giant = False
            yield from _giant_hits(line, needles, lineno)
        elif _hit(line, needles):
            yield lineno, line
        lineno += 1
        end = data.rfind(b"\n") + 1
        yield from _hits_in(data, needles, lineno, first + 1, end)
        lineno += data.count(b"\n", first + 1, end)
        carry = data[end:]
    if giant:
        yield from _giant_hits(carry, needles, lineno)
    elif carry and _hit(carry, needles):
        yield lineno, carry


def _giant_hits(piece: bytes, needles: list[bytes] | None, lineno: int) -> Iterator[tuple[int, bytes]]:
    for _, line in _hits_in(piece.replace(b"},{", b"}\n{") + b"\n", needles, 0):
        yield lineno, line


def _hits_in(data: bytes, needles: list[bytes] | None, lineno: int, lo: int = 0,
             hi: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Hit lines in data[lo:hi], whole lines ending in a newline; `lineno` is the first one's number."""
    hi = len(data) if hi is None else hi
    if needles is None:
        for i, line in enumerate(data[lo:hi].split(b"\n")[:-1]):
            if _hit(line, None):
                yield lineno + i, line
        return
    low = data.lower() if len(needles) > 1 else data  # model filters are case-insensitive
    positions = sorted({p for n in needles for p in _find_all(low, n, lo, hi)})
    counted, line_at = lo, lineno
    next_free = -1
    for pos in positions:
        if pos < next_free:
            continue  # same line as the previous hit
        start = data.rfind(b"\n", lo, pos) + 1 or lo
        end = data.find(b"\n", pos, hi)
        end = hi if end < 0 else end
        line_at += data.count(b"\n", counted, start)
        counted = start
        next_free = end
        yield line_at, data[start:end]


def _find_all(body: bytes, needle: bytes, lo: int = 0, hi: int | None = None) -> Iterator[int]:
    hi = len(body) if hi is None else hi
    pos = body.find(needle, lo, hi)
    while pos >= 0:
        yield pos
        pos = body.find(needle, pos + len(needle), hi)


def _hit(line: bytes, needles: list[bytes] | None) -> bool:
    if needles is None:
        low = line.lower()
        return any(k in low for k in _KEYWORDS)
    hay = line.lower() if len(needles) > 1 else line  # a task id is matched exactly
    return any(n in hay for n in needles)
