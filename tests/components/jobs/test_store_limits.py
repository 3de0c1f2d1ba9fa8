"""A start's limit check and its insert are one transaction serialised per user, on both backends,
across separate connections to one database (what several replicas are): never more jobs than
the rule admits, however many starts race."""

from __future__ import annotations

import asyncio

from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore, Standing


def _job(n: int, user: str = "U1", cost: float = 0.3) -> Job:
    return Job(id=f"j{user}{n:02d}", request={"mode": "text-to-video"}, user_id=user, estimated_cost_usd=cost)


def _at_most(limit: int):
    def admit(standing: Standing) -> str | None:
        return None if standing.active < limit else f"limit {limit}"
    return admit


async def test_starts_racing_over_two_connections_store_exactly_what_the_limit_admits(store_location):
    replicas = [await JobStore.open(store_location) for _ in range(2)]  # two replicas' own connections
    try:
        outcomes = await asyncio.gather(*(
            replicas[n % 2].create_job_within_limits(_job(n), _at_most(3), day_start=0.0) for n in range(12)))
        assert sorted(o or "stored" for o in outcomes) == ["limit 3"] * 9 + ["stored"] * 3
        assert await replicas[0].count_active("U1") == 3
        assert len(await replicas[1].list_jobs(user_id="U1")) == 3
        # Another user is not held back by U1's limit.
        assert await replicas[1].create_job_within_limits(_job(0, user="U2"), _at_most(3), day_start=0.0) is None
    finally:
        for store in replicas:
            await store.close()


async def test_the_admit_rule_sees_the_users_standing_and_a_refusal_stores_nothing(store):
    await store.receive_request("cmd:1", {"text": "t2v a fox"})
    await store.create_job(_job(1))
    await store.transition("jU101", JobState.DELIVERED, billed_cost_usd=0.25)
    await store.create_job(_job(2))
    await store.create_job(Job(id="jold", request={}, user_id="U1", estimated_cost_usd=1.0, created_at=10.0))
    await store.transition("jold", JobState.DELIVERED, billed_cost_usd=1.0)
    seen = []

    def refuse(standing: Standing) -> str:
        seen.append(standing)
        return "over budget"

    day_start = 1000.0  # after jold's creation: its bill is yesterday's
    assert await store.create_job_within_limits(_job(3), refuse, day_start=day_start,
                                                request_key="cmd:1") == "over budget"
    assert seen == [Standing(active=1, committed_usd=0.3, billed_today_usd=0.25)]
    assert await store.standing("U1", day_start=day_start) == seen[0]
    assert await store.get_job("jU103") is None
    # The command is still unanswered: the refusal did not mark it answered by a job.
    assert [key for key, _ in await store.unanswered_requests(since=0)] == ["cmd:1"]
