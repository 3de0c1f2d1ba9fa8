"""One job per Slack request across replicas: a request two replicas answer at once (a slow replica
judged gone by its heartbeat, its request taken over by another) starts one job, on both backends."""

from __future__ import annotations

import asyncio
import time

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


async def test_a_refused_request_is_replayed_with_its_refusal_and_never_starts_a_job(store):
    """The refusal is the request's answer: kept with it until it is done, and no job claims it later
    (the user's jobs may have ended by the replay; the user was told this one did not start)."""
    key = "cmd:T1:trigger3"
    assert await store.receive_request(key, {"text": "t2v a kite", "user_id": "U1"}, replica="a")
    said = await store.create_job_within_limits(_job("j1"), lambda standing: "You already have 3 jobs in flight",
                                                day_start=0, request_key=key)
    assert said == "You already have 3 jobs in flight"
    (replayed,) = await store.unanswered_requests(since=0)  # a crash before the request's done
    assert replayed == (key, {"text": "t2v a kite", "user_id": "U1", "answered_with": said})
    with pytest.raises(RequestAnswered):  # judged anew with room now: still no job
        await store.create_job_within_limits(_job("j2"), lambda standing: None, day_start=0, request_key=key)
    assert await store.list_jobs(limit=10) == []
    # a second refusal (two replicas at once) says the first one's words
    assert await store.refuse_request(key, "over your daily budget") == said
    await store.request_done(key)
    assert await store.unanswered_requests(since=0) == []


async def test_a_request_that_started_a_job_is_not_refused_afterwards(store):
    key = "cmd:T1:trigger4"
    assert await store.receive_request(key, {"text": "t2v a kite"}, replica="a")
    await store.create_job(_job("j1"), request_key=key)
    with pytest.raises(RequestAnswered):  # another replica judged it too, once the job counted
        await store.create_job_within_limits(_job("j2"), lambda standing: "You already have 1 job in flight",
                                             day_start=0, request_key=key)
    with pytest.raises(RequestAnswered):
        await store.refuse_request(key, "You already have 1 job in flight")


async def test_a_refusal_taken_over_by_another_replica_carries_its_words(store):
    key = "cmd:T1:trigger5"
    assert await store.receive_request(key, {"text": "t2v a kite"}, replica="gone")
    await store.refuse_request(key, "over your daily budget")
    (taken,) = await store.take_unanswered("b", since=0, live_within=30)
    assert taken == (key, {"text": "t2v a kite", "answered_with": "over your daily budget"})


async def test_the_replay_at_start_leaves_the_requests_this_process_received_since(store):
    """The start's replay runs beside new requests: those received after the start are being answered
    by their own handlers, and answering them from the replay as well would answer them twice."""
    assert await store.receive_request("cmd:T1:before-the-crash", {"text": "t2v a kite"}, replica="r1")
    started = time.time()
    assert await store.receive_request("cmd:T1:after-the-start", {"text": "t2v a boat"}, replica="r1")
    assert [key for key, _ in await store.unanswered_requests(since=0, before=started)] == ["cmd:T1:before-the-crash"]
    taken = await store.take_unanswered("r1", since=0, live_within=0, reclaim_own=True, before=started)
    assert [key for key, _ in taken] == ["cmd:T1:before-the-crash"]
