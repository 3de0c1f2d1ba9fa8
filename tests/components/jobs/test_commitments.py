"""What counts toward a user's limits, the same on SQLite and PostgreSQL: jobs not ended and
`unknown` jobs, each at its estimate until billed."""

from __future__ import annotations

from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore


async def test_unknown_and_unfinished_jobs_count_at_their_estimate_until_billed(store_location):
    store = await JobStore.open(store_location)
    try:
        ends = {"p": None, "r": JobState.RUNNING, "s": JobState.SUCCEEDED, "u": JobState.UNKNOWN,
                "d": JobState.DELIVERED, "f": JobState.FAILED, "c": JobState.CANCELED}
        for name, state in ends.items():
            await store.create_job(Job(id=f"j{name}", request={"mode": "text-to-video"}, user_id="U1",
                                       estimated_cost_usd=0.3))
            if state is not None:
                billed = 0.25 if state in (JobState.SUCCEEDED, JobState.DELIVERED) else None
                await store.transition(f"j{name}", state, billed_cost_usd=billed)
        await store.create_job(Job(id="jother", request={}, user_id="U2", estimated_cost_usd=9.0))
        # pending, running, succeeded (billed: its estimate no longer counts), unknown
        assert await store.commitments("U1") == (4, 0.9)
        assert await store.count_active("U1") == 4
    finally:
        await store.close()
