"""A tracker process for the crash tests: resumes every job in the database and runs until none is left.

Delivery "posts" by appending the job id to a ledger file (fsync'd), the way Slack would show one
message per video; `video_already_posted` reads the ledger, as the Slack notifier reads the thread.
Run: python -m tests.components.jobs.worker DB BASE_URL API_KEY LEDGER
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.config import load_settings
from bot.jobs.models import DeliveryState, Job
from bot.jobs.notifier import Notifier
from bot.jobs.store import JobStore
from bot.jobs.tracker import Tracker, TrackerOptions
from bot.wan.client import GatewayClient


class LedgerNotifier(Notifier):
    def __init__(self, ledger: Path):
        self.ledger = ledger

    async def post_video(self, job: Job, video: Path) -> DeliveryState:
        await asyncio.sleep(0.05)  # an upload takes a moment: a window for the kill to land in
        with open(self.ledger, "a") as fh:
            fh.write(f"{job.id} {video.stat().st_size}\n")
            fh.flush()
            os.fsync(fh.fileno())
        return DeliveryState.POSTED

    async def video_already_posted(self, job: Job) -> bool:
        return self.ledger.exists() and any(line.split()[0] == job.id for line in self.ledger.read_text().splitlines())


async def main(db: str, base: str, key: str, ledger: str) -> None:
    settings = load_settings(wan_api_base=base, wan_api_key=key, wanbot_db=db)
    store = await JobStore.open(db)
    client = GatewayClient(settings)
    tracker = Tracker(store, client, LedgerNotifier(Path(ledger)),
                      TrackerOptions.from_settings(settings, poll_min_interval=0.2, first_guess_seconds=1.0,
                                                   max_in_flight=10))
    await tracker.start()
    print("started", flush=True)  # the test kills it at a random moment from here, not from its spawn
    while await store.unfinished_jobs():
        await asyncio.sleep(0.2)
    await tracker.stop()
    await client.aclose()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
