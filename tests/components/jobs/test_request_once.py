"""One job per Slack request across replicas: a request two replicas answer at once (a slow replica
judged gone by its heartbeat, its request taken over by another) starts one job, on both backends."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs.models import Job
from bot.jobs.store import JobStore, RequestAnswered


def _job(job_id: str) -> Job:
    return Job(id=job_id, request={"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "a kite"}},
               user_id="U1", estimated_cost_usd=0.3)


async def test_a_request_that_already_started_a_job_starts_no_second(store):
    assert await store.receive_request("cmd:T1:trigger1", {"text": "t2v a kite"}, replica="a")
    await store.create_job(_job("j1"), request_key="cmd:T1:trigger1")
    with pytest.raises(RequestAnswered):
        await store.create_job_within_limits(_job("j2"), lambda standing: None, day_start=0,
                                             request_key="cmd:T1:trigger1")
    assert [j.id for j in await store.list_jobs(limit=10)] == ["j1"]


async def test_two_replicas_answering_one_request_at_once_store_one_job(store_location):
    a, b = await JobStore.open(store_location), await JobStore.open(store_location)
    try:
        await a.receive_request("cmd:T1:trigger2", {"text": "t2v a kite"}, replica="a")

        async def start(store: JobStore, job_id: str) -> str | None:
            try:
                await store.create_job_within_limits(_job(job_id), lambda standing: None, day_start=0,
                                                     request_key="cmd:T1:trigger2")
                return job_id
            except RequestAnswered:
                return None

        started = await asyncio.gather(start(a, "ja"), start(b, "jb"))
        assert started.count(None) == 1  # one of them stored its job, the other was told it was taken
        assert len(await a.list_jobs(limit=10)) == 1
    finally:
        await a.close()
        await b.close()


async def test_a_request_never_stored_still_starts_its_job(store):
    await store.create_job(_job("j1"), request_key="cmd:T1:not-in-the-inbox")  # e.g. pruned, or a test path
    assert len(await store.list_jobs(limit=10)) == 1
