"""What one simulator app holds: its config, the request log and counters, and the tasks.

Tasks move queued -> running -> succeeded purely by time since creation, so there is no
background worker to manage; every poll computes the state it sees.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from bot.sim import validate, video
from bot.sim.config import SimConfig


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    time: float  # wall clock, epoch seconds
    idempotency_key: str | None
    fault: str | None = None  # which injected fault answered, if any


@dataclass
class SubmitRecord:
    """A submit body exactly as the simulator received it (tests compare it with what the bot shows)."""

    path: str
    idempotency_key: str | None
    body: dict[str, Any]
    task_id: str


SUBMITS_KEPT = 200  # the newest submit bodies (an inline image makes one 13 MB): a long dev run stays small


@dataclass
class SimStats:
    requests: list[RequestRecord] = field(default_factory=list)
    submits_by_key: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tasks_created: int = 0
    tasks_by_key: dict[str, str] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # task id -> polls
    faults: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    submits: deque[SubmitRecord] = field(default_factory=lambda: deque(maxlen=SUBMITS_KEPT))

    def submitted_bodies(self, idempotency_key: str) -> list[dict[str, Any]]:
        """Every body received with this Idempotency-Key (a job id), oldest first."""
        return [r.body for r in self.submits if r.idempotency_key == idempotency_key]

    def clear(self) -> None:
        # In place, so references held by tests stay valid.
        self.requests.clear()
        self.submits.clear()
        self.submits_by_key.clear()
        self.tasks_by_key.clear()
        self.polls.clear()
        self.faults.clear()
        self.tasks_created = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": [asdict(r) for r in self.requests],
            "submits_by_key": dict(self.submits_by_key),
            "tasks_created": self.tasks_created,
            "tasks_by_key": dict(self.tasks_by_key),
            "polls": dict(self.polls),
            "faults": dict(self.faults),
        }


@dataclass
class SimTask:
    id: str
    wire: str  # unified | openai | dashscope: decides the shape of openai-vs-unified polls
    mode: str
    model: str
    prompt: str
    duration: int
    ratio: str
    created: float  # monotonic
    created_wall: float
    queue_seconds: float  # timings frozen at creation so runtime config changes do not rewind tasks
    run_seconds: float
    will_fail: bool
    tier: str = "720P"  # 720P | 1080P: the exact size reported and the price billed
    sound: bool = True  # a soundtrack in the MP4 (Wan 2.6 adds one unless audio is off)
    flash: bool = False
    reference_videos: int = 0
    canceled_progress: int | None = None
    final: str | None = None  # once seen ended, stays ended
    image_sha256: str | None = None  # of the image (URL or data: URI) as received, for tests
    ended_wall: float | None = None
    seed: int = 0  # the request's seed, else one drawn for it (reported when report_seed is on)

    def state(self, config: SimConfig, now: float) -> tuple[str, int]:
        """(internal status, progress 0-100) at `now`."""
        age = now - self.created
        if config.expire_after and age > config.expire_after:
            return "expired", 0
        if self.canceled_progress is not None:
            return "canceled", self.canceled_progress
        if self.final:
            return self.final, 100
        if age < self.queue_seconds:
            return "queued", 0
        running_for = age - self.queue_seconds
        if config.never_finish or running_for < self.run_seconds:
            progress = int(100 * running_for / self.run_seconds) if self.run_seconds > 0 else 99
            return "running", max(1, min(99, progress))
        self.final = "failed" if self.will_fail else "succeeded"
        self.ended_wall = time.time()
        return self.final, 100


class SimState:
    """Everything one simulator app holds: config, stats and tasks."""

    def __init__(self, config: SimConfig):
        self.config = config
        self.stats = SimStats()
        self.tasks: dict[str, SimTask] = {}
        self.clock = time.monotonic  # swappable in tests
        # Seeds for unseeded tasks come from their own generator: drawing them never shifts the
        # sequence of injected faults (a fixed `seed` keeps both reproducible).
        self.seeds = random.Random(config.seed)

    def create_task(self, wire: str, mode: str, model: str, fields_: validate.Fields, key: str | None) -> SimTask:
        cfg = self.config
        prompt = str((fields_.get("prompt") or fields_.get("instruction") or ("", ""))[0])
        duration = int(fields_.get("duration", (5, ""))[0])
        word = cfg.fail_prompt_word.lower()
        will_fail = bool(word and word in prompt.lower()) or cfg.chance(cfg.fail_rate)
        prefix = {"unified": "vt_", "openai": "video_", "dashscope": ""}[wire]
        # Real render times vary for the same request; drawn only when asked, like the faults.
        jitter = 1.0 + cfg.rng.uniform(-cfg.run_jitter, cfg.run_jitter) if cfg.run_jitter else 1.0
        task = SimTask(
            id=prefix + uuid.uuid4().hex[:12] if prefix else str(uuid.uuid4()),
            wire=wire, mode=mode, model=model, prompt=prompt, duration=duration,
            ratio=_ratio(fields_), created=self.clock(), created_wall=time.time(),
            queue_seconds=cfg.queue_seconds,
            run_seconds=(cfg.run_seconds + cfg.seconds_per_video_second * duration) * jitter,
            will_fail=will_fail, tier=_tier(wire, mode, fields_), sound=_sound(mode, fields_),
            flash=fields_.get("variant", ("",))[0] == "flash",
            reference_videos=_count(fields_.get("reference_video_url", (None,))[0]),
            image_sha256=_sha256(fields_.get("image_url", (None,))[0]),
            seed=_seed(fields_, self.seeds),
        )
        self.tasks[task.id] = task
        self.stats.tasks_created += 1
        if key:
            self.stats.tasks_by_key[key] = task.id
        return task

    def bill(self, task: SimTask) -> float:
        """USD for a finished task: by the configured price table, else the flat price per second."""
        cfg = self.config
        if not cfg.prices:
            return round(task.duration * cfg.price_per_second, 4)
        from bot.wan.pricing import load_price_table
        from bot.wan.request import parse_mode

        table = load_price_table(cfg.prices)
        traits = {"model": task.model, "mode": parse_mode(task.mode), "sound": task.sound,
                  "resolution": None if task.mode == "video-edit" else task.tier,
                  "variant": "flash" if task.flash else "standard"}
        row = table.best(table.output, traits)
        rate = row.usd_per_second if row else (cfg.price_per_second if table.default is None else table.default)
        usd = task.duration * rate
        if task.reference_videos and (inrow := table.best(table.input_video, traits)):
            usd += (inrow.max_seconds if inrow.max_seconds is not None else 5.0) * inrow.usd_per_second
        return round(usd, 4)

    def reset(self) -> None:
        self.tasks.clear()
        self.stats.clear()


def _tier(wire: str, mode: str, fields_: validate.Fields) -> str:
    """The resolution tier rendered: asked for by `resolution` or an exact size; when neither is given
    DashScope's own default is 1080P (Model Studio API references), the page's gateways 720P."""
    if "resolution" in fields_:
        return str(fields_["resolution"][0])
    size = str(fields_.get("size", ("", ""))[0]).replace("x", "*")
    if size in validate.EXACT_SIZES:
        return validate.EXACT_SIZES[size][1]
    return "1080P" if wire == "dashscope" and mode != "video-edit" else "720P"


def _seed(fields_: validate.Fields, seeds: random.Random) -> int:
    value = fields_.get("seed", (None,))[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else seeds.randint(0, validate.MAX_SEED)


def _count(urls: object) -> int:
    return len(urls) if isinstance(urls, list) else int(bool(urls))


def _sound(mode: str, fields_: validate.Fields) -> bool:
    if mode == "video-edit":
        return False
    return "audio_url" in fields_ or fields_.get("audio", (True,))[0] is not False


def _ratio(fields_: validate.Fields) -> str:
    """Aspect ratio for the rendered clip: `ratio`, else the nearest to `size` (W*H), else 16:9."""
    if "ratio" in fields_:
        return str(fields_["ratio"][0])
    size = str(fields_.get("size", ("", ""))[0]).replace("x", "*")
    if "*" in size:
        w, h = (int(n) for n in size.split("*"))
        return min(video.SIZES, key=lambda r: abs(video.SIZES[r][0] / video.SIZES[r][1] - w / h))
    return "16:9"


STATE: web.AppKey[SimState] = web.AppKey("sim_state", SimState)
RID: web.RequestKey[str] = web.RequestKey("request_id", str)


def _sha256(value: Any) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if isinstance(value, str) else None
