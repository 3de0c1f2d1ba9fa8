"""A replica's store in a process of its own, racing for the in-flight cap (test_store_in_flight.py).

Run: python -m tests.components.jobs.in_flight_racer DB LIMIT ORIGIN JOB_ID...
Opens the store, prints "ready", waits for a line on stdin, then moves every job to `submitted` at
once under the cap (one coroutine each, as a tracker's submits) and prints {"admitted": [...],
"refused": n} as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot.jobs.models import JobState
from bot.jobs.store import JobStore, NoUpstreamSlot


async def main(db: str, limit: int, origin: str, job_ids: list[str]) -> None:
    store = await JobStore.open(db)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def submit(job_id: str) -> str | None:
        try:
            await store.transition(job_id, JobState.SUBMITTED, expect=[JobState.PENDING],
                                   in_flight_cap=(limit, origin))
            return job_id
        except NoUpstreamSlot:
            return None

    outcomes = await asyncio.gather(*(submit(job_id) for job_id in job_ids))
    await store.close()
    admitted = [job_id for job_id in outcomes if job_id is not None]
    print(json.dumps({"admitted": admitted, "refused": len(outcomes) - len(admitted)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
