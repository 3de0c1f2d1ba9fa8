"""Fixtures of the job tests: a running tracker against the simulator, with a real SQLite file; and
`store`, a store opened on each backend in turn (SQLite, then PostgreSQL) for the store's own tests."""

from __future__ import annotations

import pytest

from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions
from bot.wan.client import GatewayClient
from bot.wan.request import build_request
from tests.conftest import bounded
from tests.support.backends import store_location  # noqa: F401  (every store test on both backends)


def t2v(prompt="a red fox in snow", **fields):
    return build_request("t2v", {"prompt": prompt, **fields})


@pytest.fixture
async def run_tracker(simulator, make_settings, recorder, tmp_path):
    """Start a tracker (store + client + recorder) with options; stopped at teardown."""
    started = []

    async def start(fmt: str = "unified", api_key: str | None = None, **options):
        settings = make_settings(wan_api_base=simulator.base_url, wan_api_key=api_key or simulator.config.api_key,
                                 wan_api_format=fmt)
        store = await JobStore.open(settings.wanbot_db)
        client = GatewayClient(settings)
        opts = TrackerOptions.from_settings(settings, poll_min_interval=0.2, first_guess_seconds=1.0,
                                            download_dir=str(tmp_path), **options)
        tracker = Tracker(store, client, recorder, opts)
        await tracker.start()
        started.append((tracker, client, store))
        return tracker

    yield start
    for tracker, client, store in started:
        await bounded(tracker.stop(grace=1), client.aclose(), store.close())


@pytest.fixture
async def store(store_location):  # noqa: F811
    s = await JobStore.open(store_location)
    yield s
    await s.close()
