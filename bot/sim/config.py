"""Simulator settings: behaviour and injected faults, each also a `simulate` flag and POST /_sim/config."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any

VIDEO_MODES = ("ok", "404", "html", "oversize")


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class SimConfig:
    """Behaviour and faults. Every field is also a `simulate` flag and settable via POST /_sim/config."""

    api_key: str = _help("the only key accepted as Authorization: Bearer", "sk-sim-local")
    queue_seconds: float = _help("seconds a task stays queued", 0.5)
    run_seconds: float = _help("seconds a task runs after the queue", 2.0)
    seconds_per_video_second: float = _help("extra run seconds per requested video second", 0.0)
    run_jitter: float = _help("each task's run time is scaled by a random factor within 1 +/- this", 0.0)
    price_per_second: float = _help("USD billed per video second", 0.06)
    prices: str = _help("price table (TOML/JSON, the WAN_PRICES format) to bill by instead ('' for none)", "")
    latency: float = _help("seconds added to every API call", 0.0)
    rate_429: float = _help("share of API calls answered 429", 0.0)
    retry_after: float = _help("Retry-After seconds on 429 answers", 1.0)
    rate_5xx: float = _help("share of API calls answered 500", 0.0)
    fail_rate: float = _help("share of tasks that end failed", 0.0)
    fail_prompt_word: str = _help("prompts containing this word end failed ('' to disable)", "forbidden")
    hang_rate: float = _help("share of API calls that hang before answering", 0.0)
    hang_seconds: float = _help("how long a hanging call hangs", 60.0)
    malformed_rate: float = _help("share of API calls answered 200 with broken JSON (after acting)", 0.0)
    unknown_status_rate: float = _help("share of polls answering status 'mystery'", 0.0)
    never_finish: bool = _help("tasks stay running forever", False)
    report_seed: bool = _help("task answers report the seed used (output.seed; top-level seed for openai)", True)
    video_mode: str = _help("video downloads: ok, 404, html or oversize", "ok")
    oversize_bytes: int = _help("bytes after the MP4 header in oversize mode", 64 * 1024 * 1024)
    oversize_content_length: bool = _help("send Content-Length in oversize mode (else chunked)", True)
    expire_after: float = _help("seconds after which a task is expired (0: never)", 0.0)
    seed: int | None = _help("random seed for reproducible faults", None)
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._check()

    def _check(self) -> None:
        if self.video_mode not in VIDEO_MODES:
            raise ValueError(f"video_mode must be one of {', '.join(VIDEO_MODES)}")
        for name in ("rate_429", "rate_5xx", "fail_rate", "hang_rate", "malformed_rate", "unknown_status_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0.0 <= self.run_jitter < 1.0:
            raise ValueError("run_jitter must be at least 0 and below 1")
        if self.prices:
            from bot.wan.pricing import load_price_table

            load_price_table(self.prices)  # a PriceTableError (a ValueError) names what is wrong

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes; raises ValueError naming a bad or unknown field."""
        known = {f.name: f for f in fields(self) if f.init}
        old = self.to_dict()
        try:
            for name, value in changes.items():
                if name not in known:
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self, name, _coerce(name, value, known[name].default))
            self._check()
        except (ValueError, TypeError):
            for name, value in old.items():
                setattr(self, name, value)
            raise
        if "seed" in changes:
            self.rng = random.Random(self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def chance(self, rate: float) -> bool:
        # Draw only when the fault is on, so enabling one fault does not shift the others' sequence.
        return rate > 0 and self.rng.random() < rate


def _coerce(name: str, value: Any, default: Any) -> Any:
    if name == "seed":
        return None if value is None else int(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a {type(default).__name__}")
    return type(default)(value)

