import asyncio
import os
import stat
import time

import pytest

from bot.jobs.models import DeliveryState, Job, JobState
from bot.jobs.store import MIGRATIONS, JobStore, StaleTransition


def _job(job_id: str, **kw) -> Job:
    return Job(id=job_id, request={"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "a fox", "duration": 5}},
               estimated_cost_usd=0.3, **kw)


async def test_database_is_owner_only_and_migrated_once(tmp_path):
    path = tmp_path / "sub" / "wanbot.db"
    store = await JobStore.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.create_job(_job("j1"))
    await store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = await JobStore.open(path)  # re-running migrations would fail on existing tables
    assert (await again.get_job("j1")).prompt == "a fox"
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()


async def test_migrated_once_on_either_backend(store_location):
    store = await JobStore.open(store_location)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.create_job(_job("j1", created_at=100.5))
    await store.close()
    again = await JobStore.open(store_location)  # re-running migrations would fail on existing tables
    job = await again.get_job("j1")
    assert job.prompt == "a fox" and job.created_at == 100.5  # floats keep their precision (not float4)
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()


async def test_job_round_trips_every_field(store):
    job = _job("j1", user_id="U1", channel_id="C1", origin="slack", extra={"output": "x.mp4"})
    await store.create_job(job)
    loaded = await store.get_job("j1")
    assert loaded.request == job.request
    assert (loaded.user_id, loaded.channel_id, loaded.origin, loaded.extra) == ("U1", "C1", "slack", {"output": "x.mp4"})
    assert loaded.state == JobState.PENDING and loaded.delivery_state == DeliveryState.NONE
    assert loaded.duration == 5 and loaded.mode == "text-to-video"


async def test_transition_is_compare_and_set_and_leaves_an_event(store):
    await store.create_job(_job("j1"))
    job = await store.transition("j1", JobState.SUBMITTED, expect=[JobState.PENDING], submitted_at=10.0)
    assert job.state == JobState.SUBMITTED and job.submitted_at == 10.0
    with pytest.raises(StaleTransition):
        await store.transition("j1", JobState.SUBMITTED, expect=[JobState.PENDING])
    job = await store.transition("j1", JobState.FAILED, error_code="x")
    assert job.finished_at is not None
    events = await store.events("j1")
    assert [(e["from"], e["to"]) for e in events] == [(None, "pending"), ("pending", "submitted"), ("submitted", "failed")]


async def test_update_refuses_to_change_state(store):
    await store.create_job(_job("j1"))
    with pytest.raises(ValueError):
        await store.update("j1", state=JobState.DELIVERED)


async def test_unfinished_jobs_oldest_first_and_by_origin(store):
    for i, origin in enumerate(["cli", "slack", "cli"]):
        await store.create_job(_job(f"j{i}", origin=origin, created_at=100.0 + i))
    await store.transition("j2", JobState.FAILED)
    assert [j.id for j in await store.unfinished_jobs()] == ["j0", "j1"]
    assert [j.id for j in await store.unfinished_jobs("slack")] == ["j1"]


async def test_delivery_can_be_claimed_once(store):
    await store.create_job(_job("j1"))
    assert await store.claim_delivery("j1") is True
    assert await store.claim_delivery("j1") is False
    assert (await store.get_job("j1")).delivery_state == DeliveryState.POSTING


async def test_repeated_request_keys_are_recognised(store):
    assert await store.remember_request("T1:trigger-1") is True
    assert await store.remember_request("T1:trigger-1") is False


async def test_find_job_by_unambiguous_prefix(store):
    await store.create_job(_job("jabc123"))
    await store.create_job(_job("jabd456"))
    assert (await store.find_job("jabc1")).id == "jabc123"
    assert await store.find_job("jab") is None   # too short
    assert await store.find_job("jab1") is None


async def test_spend_sums_billed_costs_per_user(store):
    await store.create_job(_job("j1", user_id="U1", channel_id="C1"))
    await store.create_job(_job("j2", user_id="U2", channel_id="C1"))
    await store.transition("j1", JobState.DELIVERED, billed_cost_usd=0.3)
    await store.transition("j2", JobState.DELIVERED, billed_cost_usd=0.9)
    assert (await store.spend(since=0, user_id="U1"))["billed_usd"] == 0.3
    assert (await store.spend(since=0))["billed_usd"] == 1.2
    assert await store.spend_by("user_id", since=0) == [("U2", 0.9, 1), ("U1", 0.3, 1)]


async def test_refunds_due_counts_triage_verdicts(store):
    await store.add_triage_record(staff_user="U1", channel_id="C1", verdict="refund_due", amount_usd=3.2,
                                  task_ids=["t1"], summary="x")
    await store.add_triage_record(staff_user="U1", channel_id="C1", verdict="not_charged", amount_usd=None,
                                  task_ids=[], summary="y")
    assert await store.refunds_due(since=0) == (1, 3.2)


async def test_the_tracker_and_app_queries_answer_alike_on_both_backends(store):
    for i in range(3):
        await store.create_job(_job(f"j{i}", user_id="U1", created_at=100.0 + i))
    await store.transition("j0", JobState.SUBMITTED, submitted_at=200.0)
    await store.transition("j0", JobState.SUCCEEDED, finished_at=260.5)
    assert await store.recent_run_seconds("text-to-video", 5) == [60.5]
    assert await store.recent_run_seconds("text-to-video", 10) == []
    assert await store.count_active("U1") == 3  # succeeded is not over: the video is still to deliver
    assert [j.id for j in await store.list_jobs(user_id="U1", limit=2)] == ["j2", "j1"]
    assert [j.id for j in await store.list_jobs(states=[JobState.SUCCEEDED])] == ["j0"]
    await store.update("j1", message_ts="1.2", card_state="pending")
    await store.update("j2", message_ts="1.3", card_state="queued")
    assert [j.id for j in await store.stale_cards(since=0)] == ["j2"]  # its card shows another state
    assert await store.discard_job("j1") is False  # it has a card
    await store.create_job(_job("j9"))
    assert await store.discard_job("j9") is True and await store.get_job("j9") is None


async def test_the_request_inbox_and_triage_records_on_both_backends(store):
    assert await store.receive_request("T1:c1", {"text": "t2v a fox"}) is True
    assert await store.receive_request("T1:c1", {"text": "t2v a fox"}) is False
    assert await store.unanswered_requests(since=0) == [("T1:c1", {"text": "t2v a fox"})]
    await store.request_done("T1:c1")
    assert await store.unanswered_requests(since=0) == []
    first = await store.add_triage_record(staff_user="U1", channel_id="C1", verdict="refund_due", amount_usd=1.5,
                                          task_ids=["t1"], summary="x")
    second = await store.add_triage_record(staff_user="U1", channel_id="C1", verdict="not_charged",
                                           amount_usd=None, task_ids=[], summary="y")
    assert second > first
    await store.keep_triage_reply(first, channel_id="C1", thread_ts="1.1", reply="sorry")
    assert (await store.triage_record(first))["reply"] == "sorry"
    assert [r["id"] for r in await store.triage_records()] == [second, first]
    assert [r["id"] for r in await store.triage_records(verdict="refund_due")] == [first]


async def test_a_stored_request_is_committed_when_the_write_returns_on_both_backends(store, store_location):
    # What the ack relies on: once receive_request returns, another process (a restarted bot, another
    # replica) finds the request, so it can answer it.
    assert await store.receive_request("T1:acked", {"text": "t2v an acked fox"}) is True
    other = await JobStore.open(store_location)
    try:
        assert await other.unanswered_requests(since=0) == [("T1:acked", {"text": "t2v an acked fox"})]
        assert await other.receive_request("T1:acked", {"text": "t2v an acked fox"}) is False  # a retry
    finally:
        await other.close()


async def test_a_transaction_that_failed_leaves_nothing_behind_on_its_connection_on_both_backends(store):
    # Connections go back to the pool without asyncpg's reset query (bot/jobs/store/postgres.py): a
    # transaction that failed midway must still be rolled back, its user lock released.
    with pytest.raises(RuntimeError):
        async with store.db.transaction() as tx:
            await tx.lock_user("U1")
            await tx.execute("INSERT INTO seen_requests (key, at) VALUES (?, ?)", ("T1:failed", 1.0))
            raise RuntimeError("the work failed midway")

    async def next_one() -> list:
        async with store.db.transaction() as tx:
            await tx.lock_user("U1")  # free at once: not held by the failed transaction's connection
            return await tx.fetch("SELECT key FROM seen_requests WHERE key = ?", ("T1:failed",))

    assert await asyncio.wait_for(asyncio.gather(*(next_one() for _ in range(12))), 30) == [[]] * 12


async def _age_requests(store, seconds: float, *keys: str) -> None:
    async with store.db.transaction() as tx:
        for key in keys:
            await tx.execute("UPDATE seen_requests SET at = at - ? WHERE key = ?", (seconds, key))


async def _inbox_keys(store) -> set[str]:
    return {row[0] for row in await store.db.fetch("SELECT key FROM seen_requests")}


async def test_the_request_inbox_forgets_requests_after_a_day_on_both_backends(store, store_location):
    # Issue 14: the inbox grew by a row per command, event and click, forever. A day is far past Slack's
    # retries (minutes) and a response_url's life (30 minutes).
    day = 24 * 3600
    assert await store.remember_request("event:T1:Ev-old")
    assert await store.receive_request("T1:cmd-old", {"text": "t2v an old fox"})  # acknowledged, never answered
    assert await store.remember_request("event:T1:Ev-recent")
    assert await store.remember_request("click:rerun:C1:1.1:U1")
    await _age_requests(store, day + 60, "event:T1:Ev-old", "T1:cmd-old", "click:rerun:C1:1.1:U1")
    await _age_requests(store, day - 3600, "event:T1:Ev-recent")

    later = await JobStore.open(store_location)  # another process (or this one, some minutes on)
    try:
        assert await later.receive_request("T1:cmd-new", {"text": "t2v a new fox"})
        assert await _inbox_keys(later) == {"event:T1:Ev-recent", "click:rerun:C1:1.1:U1", "T1:cmd-new"}
        assert await later.unanswered_requests(since=0) == [("T1:cmd-new", {"text": "t2v a new fox"})]
        assert await later.remember_request("event:T1:Ev-recent") is False  # still within its day
        assert await later.remember_request("click:rerun:C1:1.1:U1") is False  # one click, one job, however late
        assert await later.prune_requests(now=time.time() + 2 * day) == 2  # the new command and the recent event
    finally:
        await later.close()
