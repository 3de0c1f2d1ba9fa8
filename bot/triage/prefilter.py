"""The byte-level prefilter for big inputs: which lines can matter, found in one pass over large blocks.

With a task id (or a model) the needles are literals located with `bytes.find`. With none (a whole
export handed over as it is) one multi-pattern matcher finds the lines naming a video/image model, a
task id, a refund, a failure or a status: Hyperscan when it is installed (a compiled automaton that
scans at several GB/s: about 0.25 s for 300 MB, against 6-7 s for the same alternation in `re`),
else the `re` module. Only the hit lines are cut out and parsed, so memory stays flat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import BinaryIO, Protocol

try:  # optional: x86-64 wheels bundle the library (pyproject.toml)
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None

# Row boundaries inside a one-line JSON export: `},{`, `}, {` (Python's default) or pretty `},\n  {`.
_ROW_SPLIT_RE = re.compile(rb"\}\s*,\s*\{")
_TAIL = 1 << 16  # where the last row boundary of a block is looked for first

# What a line must hold to matter when no task or model is given (case-insensitive). Media model
# names come from the model patterns; the rest are the facts the rules read.
FACT_PATTERNS = (
    r"task_id", r"task_[a-z0-9]{8}", r"is_task\W{0,3}true", r"refund", "退款|退还|退费|补偿|返还",
    r"api\W?type", r"fail", "失败|错误", r"error|\[err", r"status|状态", r"\"type\"\W{0,2}[456]\b",
    r"\n\d+,\d+,[456],", r"扣费|扣款|charged|billed", r"/v1/(?:video|image|task)",
)


class Matcher(Protocol):
    def positions(self, data: bytes, lo: int, hi: int) -> list[int]: ...

    def hit(self, line: bytes) -> bool: ...


class NeedleMatcher:
    """Literal needles; case-insensitive when there are several (a model filter), exact for a task id."""

    def __init__(self, needles: list[bytes]):
        self.needles = needles
        self.fold = len(needles) > 1

    def positions(self, data: bytes, lo: int, hi: int) -> list[int]:
        body = data.lower() if self.fold else data
        found = set()
        for needle in self.needles:
            pos = body.find(needle, lo, hi)
            while pos >= 0:
                found.add(pos)
                pos = body.find(needle, pos + len(needle), hi)
        return sorted(found)

    def hit(self, line: bytes) -> bool:
        hay = line.lower() if self.fold else line
        return any(n in hay for n in self.needles)


class PatternMatcher:
    """Many regexes at once: Hyperscan when available, else one `re` alternation."""

    def __init__(self, patterns: tuple[str, ...]):
        self.patterns = patterns
        self._hs = _hyperscan_db(patterns) if hyperscan is not None else None
        self._re = None if self._hs is not None else re.compile(
            "|".join(f"(?:{p})" for p in patterns).encode(), re.I)

    def positions(self, data: bytes, lo: int, hi: int) -> list[int]:
        if self._re is not None:
            return [m.end() - 1 for m in self._re.finditer(data, lo, hi)]
        found: list[int] = []

        def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            found.append(lo + end - 1)  # the match's last byte: on the hit line

        self._hs.scan(data[lo:hi] if (lo or hi != len(data)) else data, match_event_handler=on_match)
        return sorted(set(found))

    def hit(self, line: bytes) -> bool:
        return bool(self.positions(line, 0, len(line)))


@lru_cache(maxsize=8)
def _hyperscan_db(patterns: tuple[str, ...]):
    db = hyperscan.Database()
    flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_ALLOWEMPTY
    db.compile(expressions=[p.encode() for p in patterns], ids=list(range(len(patterns))),
               elements=len(patterns), flags=[flags] * len(patterns))
    return db


def media_literals(model_patterns: tuple[str, ...]) -> list[str]:
    """The longest literal of each fnmatch pattern (`wan*` -> `wan`, `*-t2v*` -> `-t2v`), as regexes."""
    cores = {max(re.split(r"[*?\[\]]", p.lower()), key=len) for p in model_patterns}
    cores = {c for c in cores if len(c) >= 2}
    cores = {c for c in cores if not any(o != c and o in c for o in cores)}  # `t2v` covers `-t2v`
    return sorted(re.escape(c) for c in cores)


def whole_export_matcher(model_patterns: tuple[str, ...]) -> PatternMatcher:
    return _whole(tuple(model_patterns))


@lru_cache(maxsize=8)
def _whole(model_patterns: tuple[str, ...]) -> PatternMatcher:
    return PatternMatcher(tuple(media_literals(model_patterns)) + FACT_PATTERNS)


def chunks(head: bytes, stream: BinaryIO, size: int) -> Iterator[bytes]:
    """The already-read head in slices, then the rest of the stream: never a copy of the whole head."""
    view = memoryview(head)
    for start in range(0, len(head), size):
        yield bytes(view[start : start + size])
    view.release()
    while data := stream.read(size):
        yield data


def candidate_lines(head: bytes, stream: BinaryIO, matcher: Matcher, chunk: int,
                    max_line: int) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for every line with a hit, block by block.

    Newlines are counted once per block and only hit lines are cut out, so memory stays flat
    whatever the file's size. A block is searched in place: only the line straddling two blocks is
    joined. A line longer than `max_line` (a one-line JSON export) is cut between rows and each
    piece keeps the line's number; with no row boundary at all it is cut where it is.
    """
    lineno = 1  # number of the next line to be numbered
    carry = b""  # the unfinished line at the end of the previous block
    giant = False  # inside one enormous line
    for data in chunks(head, stream, chunk):
        first = data.find(b"\n")
        if first < 0:  # no line ends in this block: the carried line grows
            block = carry + data
            if len(block) > max_line:
                split = _last_row_split(block)
                giant, carry = True, block[split:]
                yield from _giant_hits(block[:split], matcher, lineno)
            else:
                carry = block
            continue
        line = carry + data[:first] if carry else data[:first]  # the line ending in this block
        if giant:
            giant = False
            yield from _giant_hits(line, matcher, lineno)
        elif matcher.hit(line):
            yield lineno, line
        lineno += 1
        end = data.rfind(b"\n") + 1
        yield from _hits_in(data, matcher, lineno, first + 1, end)
        lineno += data.count(b"\n", first + 1, end)
        carry = data[end:]
    if giant:
        yield from _giant_hits(carry, matcher, lineno)
    elif carry and matcher.hit(carry):
        yield lineno, carry


def _last_row_split(block: bytes) -> int:
    """Where the last row of `block` starts (after `},`), or the block's end when it has no rows."""
    for lo in (max(0, len(block) - _TAIL), 0):
        ends = [m.end() for m in _ROW_SPLIT_RE.finditer(block, lo)]
        if ends:
            return ends[-1] - 1  # keep the `{`
    return len(block)


def _giant_hits(piece: bytes, matcher: Matcher, lineno: int) -> Iterator[tuple[int, bytes]]:
    rows = _ROW_SPLIT_RE.sub(b"}\n{", piece) + b"\n"
    for _, line in _hits_in(rows, matcher, 0, 0, len(rows)):
        yield lineno, line


def _hits_in(data: bytes, matcher: Matcher, lineno: int, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
    """Hit lines in data[lo:hi], whole lines ending in a newline; `lineno` is the first one's number."""
    counted, line_at = lo, lineno
    next_free = -1
    for pos in matcher.positions(data, lo, hi):
        if pos < next_free:
            continue  # same line as the previous hit
        start = data.rfind(b"\n", lo, pos) + 1 or lo
        end = data.find(b"\n", pos, hi)
        end = hi if end < 0 else end
        line_at += data.count(b"\n", counted, start)
        counted = start
        next_free = end
        yield line_at, data[start:end]
