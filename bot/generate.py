"""`python -m bot generate`: one video from the terminal through the real tracker and store."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.config import load_settings
from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.notifier import Notifier
from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions, new_job_id
from bot.logs import setup_logging
from bot.redact import redact
from bot.wan.client import GatewayClient
from bot.wan.formats import get_format
from bot.wan.profiles import with_more_prompt
from bot.wan.request import ALL_FIELDS, RequestInvalid, VideoRequest, build_request, parse_mode

DEFAULT_OUT_DIR = "wanbot-out"


def _flags() -> dict[str, tuple[str, str, str]]:
    """Every field flag of every mode, the model's own parameters included: flag -> (name, kind, help)."""
    flags: dict[str, tuple[str, str, str]] = {}
    for specs in ALL_FIELDS.values():
        for spec in specs:
            flags.setdefault(spec.flag, (spec.name, spec.kind, spec.help))
    return flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", default="text-to-video",
                        help="t2v | i2v | r2v | edit (or text-to-video, image-to-video, video-edit)")
    for flag, (name, kind, help_text) in _flags().items():
        dest = "field_" + name
        if kind == "urls":
            parser.add_argument(flag, dest=dest, action="append", metavar="URL", help=f"{help_text} (repeatable)")
        elif kind == "bool":
            parser.add_argument(flag, dest=dest, metavar="on|off", help=help_text)
        else:
            parser.add_argument(flag, dest=dest, metavar=name.upper(), help=help_text.replace("%", "%%"))
    parser.add_argument("--preset", metavar="NAME",
                        help="start from a preset saved in Slack (same WANBOT_DB); --prompt is appended to its "
                             "prompt, other field flags override it")
    parser.add_argument("--resume", metavar="JOB",
                        help="finish a job an earlier generate left unfinished (it was killed or interrupted): "
                             "resubmitted only with the same Idempotency-Key, polled, saved once")
    parser.add_argument("-o", "--output", help="where to save the MP4 (default: ./wanbot-out/<job id>.mp4)")
    parser.add_argument("--sim", action="store_true",
                        help="use an embedded gateway simulator instead of WAN_API_BASE (offline rehearsal)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class TerminalNotifier(Notifier):
    """Shows a progress bar and saves videos to the job's output path."""

    def __init__(self, console: Console, progress: Progress | None):
        self.console = console
        self.progress = progress
        self._bars: dict[str, int] = {}

    async def job_changed(self, job: Job, *, waiting_position: int | None = None) -> None:
        label = _status_label(job, waiting_position)
        if self.progress is None:
            self.console.print(f"[{job.id}] {label}", highlight=False)
            return
        if job.id not in self._bars:
            self._bars[job.id] = self.progress.add_task(label, total=100)
        self.progress.update(self._bars[job.id], description=label, completed=job.progress or 0)

    async def post_video(self, job: Job, video: Path) -> DeliveryState:
        target = Path(job.extra.get("output") or Path(DEFAULT_OUT_DIR) / f"{job.id}.mp4")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy next to the target, then rename: a crash never leaves a half-written video behind.
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        os.close(fd)
        shutil.copyfile(video, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the user's video is an ordinary file
        os.replace(tmp, target)
        return DeliveryState.POSTED


def _status_label(job: Job, waiting_position: int | None) -> str:
    if job.state == JobState.PENDING:
        return f"waiting for a free slot ({waiting_position} ahead)" if waiting_position else "submitting"
    if job.state == JobState.RUNNING and job.progress is not None:
        return f"rendering {job.progress}%"
    return job.state.value


async def generate(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    fields = {name.removeprefix("field_"): value for name, value in vars(args).items()
              if name.startswith("field_") and value is not None}
    if getattr(args, "resume", None):
        return await resume(args, console)
    try:
        if getattr(args, "preset", None):
            request = await _from_preset(args.preset, fields)
            if request is None:
                console.print(f"wanbot: preset: there is no preset {args.preset!r} (WANBOT_DB)", highlight=False)
                return 2
            mode = request.mode
        else:
            mode = parse_mode(args.mode)
            request = build_request(mode, fields)
    except RequestInvalid as exc:
        for problem in exc.problems:
            console.print(f"wanbot: {problem.field}: {problem.message}", highlight=False)
        return 2

    overrides = {}
    simulator = None
    if args.sim:
        from bot.sim.server import SimConfig, Simulator

        simulator = Simulator(SimConfig())
        await simulator.start()
        overrides = {"wan_api_base": simulator.base_url, "wan_api_key": simulator.config.api_key}
    settings = load_settings(**overrides)
    setup_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    settings.require("wan_api_base")
    if problems := get_format(settings).check(request):  # this gateway's own limits
        for problem in problems:
            console.print(f"wanbot: {problem.field}: {problem.message}", highlight=False)
        if simulator:
            await simulator.close()
        return 2

    output = Path(args.output) if args.output else None
    progress = None if args.quiet or not console.is_terminal else Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=console, transient=True)
    store = await JobStore.open(settings.wanbot_db)
    client = GatewayClient(settings)
    # Only ever this job: other `generate` processes on the same WANBOT_DB drive their own.
    job_id = args.job_id = new_job_id()
    tracker = Tracker(store, client, TerminalNotifier(console, progress),
                      TrackerOptions.from_settings(settings, origin="cli", only_jobs=frozenset({job_id}),
                                                   first_guess_seconds=3.0 if simulator else None))
    try:
        await tracker.start()
        quote = settings.pricing().quote(request)
        console.print(f"job {job_id}: {mode.value}, {request.duration} s, estimated ${quote.usd:.2f} "
                      f"({quote.line()})", highlight=False, soft_wrap=True)  # one line, also in a pipe
        with progress or contextlib.nullcontext():
            job = await tracker.enqueue(request, origin="cli", job_id=job_id,
                                        extra={"output": str(output)} if output else None)
            job = await tracker.wait_for(job.id)
    finally:
        await tracker.stop()
        await client.aclose()
        await store.close()
        if simulator:
            await simulator.close()
    return _report(console, job, output)


async def resume(args: argparse.Namespace, console: Console) -> int:
    """`--resume JOB`: drive one stored, unfinished job to its end, as its own generate would have."""
    settings = load_settings()
    setup_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    settings.require("wan_api_base")
    store = await JobStore.open(settings.wanbot_db)
    client = GatewayClient(settings)
    try:
        job = await store.find_job(args.resume)
        if job is None or job.origin != "cli":
            console.print(f"wanbot: --resume: no job {args.resume!r} from generate in this WANBOT_DB",
                          highlight=False)
            return 2
        if not job.state.terminal:
            tracker = Tracker(store, client, TerminalNotifier(console, None),
                              TrackerOptions.from_settings(settings, origin="cli", only_jobs=frozenset({job.id})))
            try:
                await tracker.start()
                console.print(f"resuming job {job.id} ({job.state.value})", highlight=False)
                job = await tracker.wait_for(job.id)
            finally:
                await tracker.stop()
    finally:
        await client.aclose()
        await store.close()
    output = job.extra.get("output")
    return _report(console, job, Path(output) if output else None)


async def _from_preset(name: str, fields: dict) -> VideoRequest | None:
    """The preset's request: --prompt appended to its prompt, any other field flag overriding it."""
    settings = load_settings()
    store = await JobStore.open(settings.wanbot_db)
    try:
        preset = await store.get_preset(name)
        if preset is None:
            return None
        request = with_more_prompt(VideoRequest.model_validate(preset.request), fields.pop("prompt", ""))
        request = request.with_fields(**fields) if fields else request
        await store.preset_used(preset.name)
        return request
    finally:
        await store.close()


def _report(console: Console, job: Job, output: Path | None) -> int:
    if job.state == JobState.DELIVERED:
        path = output or Path(DEFAULT_OUT_DIR) / f"{job.id}.mp4"
        billed = f"${job.billed_cost_usd:.2f}" if job.billed_cost_usd is not None else "unknown"
        print(f"saved {path} (job {job.id}, billed {billed} for {job.billed_seconds:g} s)")
        return 0
    reason = job.error_message or job.state.value
    extra = f" (request id {job.request_id})" if job.request_id else ""
    # The reason is the gateway's own text, which may echo the key.
    print(redact(f"wanbot: job {job.id} {job.state.value}: {reason}{extra}"), file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(generate(args))
    except KeyboardInterrupt:
        # The job is stored (its submit, if sent, carried the job id as Idempotency-Key): say how to finish it.
        job_id = getattr(args, "resume", None) or getattr(args, "job_id", None)
        if job_id:
            print(f"wanbot: interrupted; job {job_id} stays in WANBOT_DB, unfinished: "
                  f"`python -m bot generate --resume {job_id}` finishes it", file=sys.stderr)
        return 130
