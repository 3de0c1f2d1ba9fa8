"""Shared fixtures: real servers on 127.0.0.1 (the gateway simulator), real SQLite files."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from bot.config import load_settings
from bot.jobs.models import DeliveryState, Job
from bot.jobs.notifier import Notifier
from bot.sim.server import SimConfig, Simulator

# In CI, property tests draw the same examples every run: a landing must not hinge on luck.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


async def bounded(*closers, seconds: float = 15.0) -> None:
    """Fixture teardown that cannot hang the suite: each close gets `seconds`, failures are logged."""
    for close in closers:
        try:
            await asyncio.wait_for(close, seconds)
        except (Exception, TimeoutError) as exc:  # a test already failed or is about to: keep going
            logging.getLogger("tests").warning("teardown step failed: %r", exc)


@pytest.fixture
async def simulator():
    sim = Simulator(SimConfig(queue_seconds=0.2, run_seconds=0.6, seed=7))
    await sim.start()
    yield sim
    await bounded(sim.close())


@pytest.fixture
def wanbot_db(tmp_path) -> str:
    """The store of a test's settings: a SQLite file. A module that imports `wanbot_db` from
    tests/support/backends.py runs its tests on both backends instead."""
    return str(tmp_path / "wanbot.db")


@pytest.fixture
def make_settings(tmp_path, monkeypatch, wanbot_db):
    """Settings as the bot would read them from the environment, pointed at test servers."""
    for var in ("WAN_API_BASE", "WAN_API_KEY", "WAN_API_FORMAT", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN",
                "SLACK_SIGNING_SECRET", "SLACK_API_URL", "WANBOT_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read

    def make(**overrides):
        values = {"wanbot_db": wanbot_db, "wan_timeout_seconds": 5.0}
        values.update(overrides)
        return load_settings(**values)

    return make


class RecordingNotifier(Notifier):
    """Records what a user would see: every state shown and every video handed over."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.changes: list[tuple[str, str, int | None]] = []
        self.videos: dict[str, list[bytes]] = {}
        self.fail_posts = 0

    async def job_changed(self, job: Job, *, waiting_position: int | None = None) -> None:
        self.changes.append((job.id, job.state.value, waiting_position))

    async def post_video(self, job: Job, video: Path) -> DeliveryState:
        if self.fail_posts:
            self.fail_posts -= 1
            raise ConnectionError("surface down")
        self.videos.setdefault(job.id, []).append(video.read_bytes())
        return DeliveryState.POSTED

    def states(self, job_id: str) -> list[str]:
        return [state for jid, state, _ in self.changes if jid == job_id]


@pytest.fixture
def recorder(tmp_path):
    return RecordingNotifier(tmp_path)
