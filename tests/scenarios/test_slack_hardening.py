"""Issue 14's Slack paths, through the real app on loopback: each test failed on the code before
its fix."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from bot.slack.blocks.card import RERUN_ACTION
from bot.slack.jobs import submitted
from bot.slack.recovery import replay_unanswered
from tests.support.world import ADMIN, ANA, BOB, CHANNEL, TEAM, delivered_job, private_answer


async def test_a_huge_crafted_command_gets_a_clear_answer_and_never_holds_up_other_acks(world):
    # 40,000 characters of quotes that never close: the old tokenizer rescanned to the end from each.
    crafted = "t2v " + '"a ' * 13_332
    slow = asyncio.create_task(world.sender.slash_command(crafted, user_id=ANA, channel_id=CHANNEL))
    await asyncio.sleep(0.3)  # its ack is back; its answer is being worked out
    other = await world.sender.slash_command("help", user_id=BOB, channel_id=CHANNEL)
    assert other.status == 200 and other.elapsed < 1.0, other.elapsed
    reply = await slow
    assert reply.status == 200 and reply.elapsed < 3
    text = await private_answer(world, reply, timeout=60)
    assert f"{len(crafted.strip()):,} characters" in text and "at most" in text
    assert await world.store.list_jobs(limit=10) == []


async def test_a_non_numeric_request_timestamp_is_refused_with_401_not_500(world):
    body = "token=x&team_id=T0DEV&user_id=U0HUMAN&command=%2Fwan&text=help"
    for timestamp in ("soon", "", "1e9", "-"):
        reply = await world.sender.post(body, "application/x-www-form-urlencoded", timestamp=timestamp)
        assert reply.status == 401, (timestamp, reply.status, reply.text)
    assert await world.store.unanswered_requests(since=0) == []


async def test_events_api_retries_of_one_mention_get_one_reply(world):
    mention = {"type": "app_mention", "user": ANA, "channel": CHANNEL, "ts": "1700000000.000100",
               "text": "<@U0BOT> hello"}
    first = await world.sender.event(mention, event_id="Ev0MENTION1")
    for retry in (1, 2):  # Slack resends an event it thinks timed out, with the same event_id
        again = await world.sender.resend(first, retry_num=retry)
        assert again.status == 200
    await world.standin.wait_until(lambda: world.standin.calls("chat.postMessage"), timeout=5)
    await asyncio.sleep(0.5)  # time for any second or third reply to arrive
    replies = [c for c in world.standin.calls("chat.postMessage") if "/wan help" in c.params.get("text", "")]
    assert len(replies) == 1, replies


async def test_status_shows_a_job_only_to_its_requester_its_channel_members_and_admins(world):
    await world.sender.slash_command("t2v the secret product launch --duration 2", user_id=ANA, channel_id=TEAM)
    secret = await world.job_for_card(TEAM)
    await world.sender.slash_command("t2v a fox in the snow --duration 2", user_id=ANA, channel_id=CHANNEL)
    public = await world.job_for_card(CHANNEL)

    async def status(ref: str, user: str, channel: str = CHANNEL) -> str:
        return await private_answer(world, await world.sender.slash_command(f"status {ref}", user_id=user,
                                                                             channel_id=channel))

    # BOB is not in the private channel: a 5-character prefix tells him nothing, not even that it exists
    refused = await status(secret.id[:5], BOB)
    assert "secret product" not in refused and secret.id not in refused and "can't find" in refused
    assert "secret product" in await status(secret.id, ANA)      # the requester, from any channel
    assert "secret product" in await status(secret.id[:5], ADMIN)  # an admin
    world.standin.add_members(TEAM, BOB)                          # BOB is invited to the channel
    assert "secret product" in await status(secret.id[:5], BOB)
    assert "a fox in the snow" in await status(public.id, BOB)    # BOB is in the public channel


async def test_a_double_click_on_rerun_starts_one_job(world):
    job, review = await delivered_job(world)

    async def click(user: str = BOB):
        return await world.sender.block_action(RERUN_ACTION, job.id, user_id=user, channel_id=CHANNEL,
                                               message_ts=review["ts"])

    replies = await asyncio.gather(click(), click(), click())  # an impatient double (triple) click
    assert all(r.status == 200 for r in replies)
    rerun = await world.job_for_card(count=2)
    await asyncio.sleep(1.0)  # time for a second job to be stored, if one were started
    jobs = await world.store.list_jobs(limit=10)
    assert sorted(j.id for j in jobs) == sorted([job.id, rerun.id]), [j.id for j in jobs]
    told = await world.standin.wait_until(
        lambda: [r for r in world.standin.responses if "already" in r["body"].get("text", "")], timeout=5)
    assert "Re-run" in told[0]["body"]["text"]
    await click(ANA)  # another person's click is their own job
    await world.job_for_card(count=3)


@contextlib.contextmanager
def write_locked(world):
    """Another process holds the database's write lock (a long migration, a backup, a stuck peer)."""
    other = sqlite3.connect(world.services.settings.wanbot_db, timeout=1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_a_command_on_a_write_locked_database_is_acked_in_time_busy_and_nothing_starts(world):
    with write_locked(world):
        reply = await world.sender.slash_command("t2v a fox --duration 2", user_id=ANA, channel_id=CHANNEL)
        assert reply.status == 200 and reply.elapsed < 3, reply.elapsed
        assert "busy" in reply.text and "nothing was started" in reply.text
    await asyncio.sleep(1.0)  # the lock is gone: a write that was only late must not start it after all
    assert await world.store.list_jobs(limit=10) == []
    assert await world.store.unanswered_requests(since=0) == []  # nor will a restart replay it


@contextlib.asynccontextmanager
async def disk_full(world):
    """The database cannot grow (a full disk): SQLite's own limit on the store's connection, so
    every write that needs a new page fails with "database or disk is full"."""
    connection = world.store.db._db
    pages = (await connection.execute_fetchall("PRAGMA page_count"))[0][0]
    await connection.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        await connection.execute("PRAGMA max_page_count = 1073741823")


async def test_a_command_on_a_full_disk_is_answered_in_words_and_nothing_starts(world):
    long_prompt = "a red fox runs through fresh snow at dawn " * 200  # needs new pages to be stored
    async with disk_full(world):
        reply = await world.sender.slash_command(f"t2v {long_prompt} --duration 2", user_id=ANA, channel_id=CHANNEL)
        assert reply.status == 200 and reply.elapsed < 3, (reply.status, reply.text)
        assert "could not store" in reply.text and "nothing was started" in reply.text
    assert await world.store.list_jobs(limit=10) == []
    assert await world.store.unanswered_requests(since=0) == []
    # Space again: the same command is taken.
    await world.sender.slash_command("t2v a fox --duration 2", user_id=ANA, channel_id=CHANNEL)
    await world.job_for_card()


async def test_a_form_submitted_on_a_full_disk_stays_open_saying_nothing_started(world):
    await world.sender.slash_command("t2v", channel_id=CHANNEL)
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    prompt = "a calm lake under a violet sky, mist rising slowly " * 25
    async with disk_full(world):
        reply = await world.sender.view_submission(view, values={"prompt": prompt, "duration": "3"})
        assert reply.status == 200 and reply.elapsed < 3, (reply.status, reply.text)
        assert reply.json()["response_action"] == "errors" and "nothing was started" in str(reply.json()["errors"])
    assert await world.store.list_jobs(limit=10) == []


async def test_a_form_submitted_on_a_write_locked_database_stays_open_saying_busy(world):
    await world.sender.slash_command("t2v", channel_id=CHANNEL)  # the form, prefilled
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    with write_locked(world):
        reply = await world.sender.view_submission(view, values={"prompt": "a calm lake", "duration": "3"})
        assert reply.status == 200 and reply.elapsed < 3, reply.elapsed
        assert reply.json()["response_action"] == "errors" and "busy" in str(reply.json()["errors"])
    await asyncio.sleep(1.0)
    assert await world.store.list_jobs(limit=10) == []
    good = await world.sender.view_submission(view, values={"prompt": "a calm lake", "duration": "3"})
    assert good.status == 200 and good.elapsed < 3
    await world.job_for_card()  # submitted again once the database is free: it starts


async def test_a_form_submission_is_stored_before_it_is_acknowledged(world, monkeypatch):
    await world.sender.slash_command("t2v", channel_id=CHANNEL)
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    start_submission = submitted.start_submission

    async def stopped(*args, **kwargs):  # the process stops for good right after the ack
        await asyncio.Event().wait()

    monkeypatch.setattr(submitted, "start_submission", stopped)
    reply = await world.sender.view_submission(view, values={"prompt": "a calm lake", "duration": "3"})
    assert reply.status == 200 and reply.elapsed < 3
    assert await world.store.list_jobs(limit=10) == []
    monkeypatch.setattr(submitted, "start_submission", start_submission)
    # The restart answers what was acknowledged but not answered: the form's job starts, once.
    assert await replay_unanswered(world.services) == 1
    job = await world.job_for_card()
    assert job.request["input"]["prompt"] == "a calm lake"
    assert await replay_unanswered(world.services) == 0
