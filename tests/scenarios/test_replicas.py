"""Several `bot serve` replicas on one PostgreSQL database behind a round-robin proxy (issue 11):
the limits are global, and a Slack retry landing on another replica starts nothing twice.

What is counted comes from outside the bot: the jobs table read straight from PostgreSQL, the
simulator's tasks, and the answers the Slack stand-in showed the user."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.devslack import SlackStandIn
from tests.support.replicas import Replicas

CHANNEL = "C0DEV"
USER = "U0HUMAN"
REFUSAL = "WANBOT_MAX_ACTIVE_JOBS_PER_USER = 3"


async def _until(condition, what, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (result := await condition()):
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.1)
    return result


def _said_to_user(standin: SlackStandIn, needle: str) -> list[dict]:
    """What the user was shown, by response_url or as an ephemeral message, that contains `needle`."""
    shown = [r["body"].get("text") or "" for r in standin.responses if r.get("user") == USER]
    shown += [c.params.get("text") or "" for c in standin.calls("chat.postEphemeral")
              if c.params.get("user") == USER]
    return [text for text in shown if needle in text]


# Two budgets that admit 3 of these jobs: 3 in flight per person; or $0.40 a day, with each 2 s job
# estimated at $0.12 (WAN_PRICE_PER_SECOND's default $0.06), so a 4th would make $0.48.
LIMITS = {
    "jobs in flight": ({"WANBOT_MAX_ACTIVE_JOBS_PER_USER": "3"}, "You already have 3 jobs in flight",
                       REFUSAL),
    "daily budget": ({"WANBOT_USER_DAILY_BUDGET_USD": "0.40"}, "would take you over your daily budget of $0.40",
                     "WANBOT_USER_DAILY_BUDGET_USD"),
}


@pytest.mark.parametrize("limit", list(LIMITS))
async def test_budget_race_20_commands_over_3_replicas_start_exactly_3_jobs_and_refuse_17(tmp_path, simulator,
                                                                                         limit):
    settings, refusal_text, names = LIMITS[limit]
    # The jobs stay in flight for the whole race: every one counts toward the limit.
    simulator.config.update({"queue_seconds": 30.0, "run_seconds": 30.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=3,
                                    WANBOT_CARD_UPDATES_PER_MINUTE="3000", **settings)
    try:
        sender = replicas.sender()
        replies = await asyncio.gather(*(sender.slash_command(f"t2v race {n} --duration 2", user_id=USER,
                                                              channel_id=CHANNEL) for n in range(20)))
        assert [r.status for r in replies] == [200] * 20
        assert replicas.proxy.served == [7, 7, 6]  # spread over all three

        async def all_answered():
            cards = [m for m in standin.messages(CHANNEL) if " race " in (m.get("text") or "")]
            refused = _said_to_user(standin, names)
            return (cards, refused) if len(cards) + len(refused) >= 20 else None

        cards, refused = await _until(all_answered, lambda: (
            f"cards {len(standin.messages(CHANNEL))}, refusals {len(_said_to_user(standin, names))}\n"
            + replicas.logs()))
        await asyncio.sleep(2.0)  # anything late (a 4th job, a 21st answer) would show by now

        jobs = await replicas.jobs()
        assert len(jobs) == 3, [(j["id"], j["state"]) for j in jobs]
        await _until(lambda: _ready(simulator.stats.tasks_created == 3),
                     lambda: f"{simulator.stats.tasks_created} tasks upstream")
        assert set(simulator.stats.tasks_by_key) == {j["id"] for j in jobs}
        cards = [m for m in standin.messages(CHANNEL) if " race " in (m.get("text") or "")]
        assert len(cards) == 3
        refused = _said_to_user(standin, names)
        assert len(refused) == 17
        assert all(refusal_text in text for text in refused)
    finally:
        await replicas.close()
        await standin.close()


async def test_slack_retry_delivered_to_another_replica_starts_one_job(tmp_path, simulator):
    simulator.config.update({"queue_seconds": 30.0, "run_seconds": 30.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=2)
    try:
        first = await replicas.sender(0).slash_command("t2v a retried fox --duration 2", user_id=USER,
                                                        channel_id=CHANNEL)
        assert first.status == 200
        # Slack did not see the ack in time and retries; its load balancer picks the other replica.
        retried = await asyncio.gather(*(replicas.sender(1).resend(first, retry_num=n) for n in (1, 2)))
        assert [r.status for r in retried] == [200, 200]

        async def one_card():
            return [m for m in standin.messages(CHANNEL) if "retried fox" in (m.get("text") or "")]

        await _until(one_card, replicas.logs)
        await _until(lambda: _ready(simulator.stats.tasks_created >= 1), replicas.logs)
        await asyncio.sleep(2.0)  # a second job, card or task would show by now
        assert len(await replicas.jobs()) == 1
        assert len(await one_card()) == 1
        assert simulator.stats.tasks_created == 1
    finally:
        await replicas.close()
        await standin.close()


async def test_a_form_submission_retried_on_another_replica_starts_one_job(tmp_path, simulator):
    simulator.config.update({"queue_seconds": 30.0, "run_seconds": 30.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=2)
    try:
        await replicas.sender(0).slash_command("t2v", user_id=USER, channel_id=CHANNEL)  # opens the form
        await standin.wait_for_call("views.open", timeout=30)
        view = standin.last_view()
        first = await replicas.sender(0).view_submission(view, user_id=USER,
                                                         values={"prompt": "a retried lake", "duration": "2"})
        assert first.status == 200
        again = await replicas.sender(1).resend(first, retry_num=1)
        assert again.status == 200

        async def cards():
            return [m for m in standin.messages(CHANNEL) if "retried lake" in (m.get("text") or "")]

        await _until(cards, replicas.logs)
        await asyncio.sleep(2.0)  # a second job or card would show by now
        assert len(await replicas.jobs()) == 1 and len(await cards()) == 1
    finally:
        await replicas.close()
        await standin.close()


async def test_replicas_started_together_on_a_fresh_database_all_serve(tmp_path, simulator):
    # What `docker compose up` does: both replicas start once PostgreSQL is healthy, at the same moment.
    simulator.config.update({"queue_seconds": 30.0, "run_seconds": 30.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=3, together=True)
    try:
        sender = replicas.sender()
        replies = [await sender.slash_command(f"t2v together {n} --duration 2", user_id=USER, channel_id=CHANNEL)
                   for n in range(3)]
        assert [r.status for r in replies] == [200] * 3 and replicas.proxy.served == [1, 1, 1]

        async def cards():
            found = [m for m in standin.messages(CHANNEL) if " together " in (m.get("text") or "")]
            return found if len(found) == 3 else None

        await _until(cards, replicas.logs)
        assert len(await replicas.jobs()) == 3
    finally:
        await replicas.close()
        await standin.close()


async def _ready(value):
    return value


async def test_replicas_share_one_chat_update_budget_for_the_workspace(tmp_path, simulator):
    # Busy cards on three replicas: running jobs whose progress moves all the time, far more renders
    # than the budget (12 a minute, a burst of 5) lets through. Slack's limit is the workspace's.
    simulator.config.update({"queue_seconds": 1.0, "run_seconds": 60.0})
    standin = await SlackStandIn().start()
    standin.add_channel(CHANNEL, "general")
    replicas = await Replicas.start(tmp_path, simulator, standin, count=3, WANBOT_CARD_UPDATES_PER_MINUTE="12")
    try:
        sender = replicas.sender()
        started = time.time()
        users = ("U0ANA", "U0BEN", "U0CAT")
        replies = await asyncio.gather(*(sender.slash_command(f"t2v busy card {n} --duration 2", user_id=users[n % 3],
                                                              channel_id=CHANNEL) for n in range(9)))
        assert [r.status for r in replies] == [200] * 9
        assert replicas.proxy.served == [3, 3, 3]
        await _until(lambda: _ready(len(standin.calls("chat.update")) >= 5), replicas.logs)  # the burst
        await asyncio.sleep(8.0)  # a window in which the renders far exceed what the budget refills
        updates = standin.calls("chat.update")
        elapsed = time.time() - started
        # One bucket: the burst plus what refilled meanwhile (0.2 a second), and one for rounding.
        # Three buckets of their own would have sent about three times that.
        assert len(updates) <= 5 + 0.2 * elapsed + 1, (len(updates), elapsed)
    finally:
        await replicas.close()
        await standin.close()
