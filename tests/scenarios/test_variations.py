"""`--variations N` through the real app on loopback: N upstream tasks with distinct seeds in one thread
under one summary card, Pick, and the limits checked for all of them before any starts."""

from __future__ import annotations

from bot.slack.dispatch import command_key, handle_command
from tests.support.world import BOB, CHANNEL, private_answer


def summary_of(world) -> dict:
    top = [m for m in world.standin.messages(CHANNEL) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
    return next(m for m in top if "variations" in m.get("text", ""))


async def test_four_variations_four_tasks_four_seeds_one_thread_one_summary(world, simulator):
    await world.sender.slash_command("t2v a fox in the snow --duration 2 --variations 4")
    await world.standin.wait_until(lambda: len(simulator.tasks) == 4, timeout=10)
    summary = summary_of(world)
    jobs = [j for j in await world.services.store.list_jobs(limit=10)]
    assert len(jobs) == 4
    assert {j.thread_ts for j in jobs} == {summary["ts"]}
    seeds = {j.request["input"]["seed"] for j in jobs}
    assert len(seeds) == 4
    assert {t.prompt for t in simulator.tasks.values()} == {"a fox in the snow"}
    for job in jobs:
        await world.finished(job.id)
    await world.standin.wait_until(lambda: "4 of 4 finished" in str(world.standin.message(CHANNEL, summary["ts"])),
                                   timeout=10)
    card = world.standin.message(CHANNEL, summary["ts"])
    assert "estimated $0.48 in all" in str(card["blocks"])  # 4 x 2 s x $0.06
    picks = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
             if e["action_id"] == "variation_pick"]
    assert len(picks) == 4
    # Each video is in the summary's thread, with its seed.
    def four_videos():
        found = [m for m in world.standin.messages(CHANNEL, summary["ts"]) if m.get("metadata")]
        return found if len(found) == 4 else None

    videos = await world.standin.wait_until(four_videos, timeout=10)
    assert {int(str(v["blocks"]).split("seed `")[1].split("`")[0]) for v in videos} == seeds

    chosen = picks[1]["value"]
    await world.sender.block_action("variation_pick", chosen, user_id=BOB, channel_id=CHANNEL,
                                    message_ts=summary["ts"])
    await world.standin.wait_until(lambda: any("picked by" in m.get("text", "")
                                               for m in world.standin.messages(CHANNEL, summary["ts"])))
    assert (await world.services.store.get_job(chosen)).review_state == "picked"
    await world.standin.wait_until(lambda: "⭐ picked by" in str(world.standin.message(CHANNEL, summary["ts"])))


async def test_variations_out_of_range_are_refused_and_nothing_is_sent(world, simulator):
    for count in ("0", "40", "two"):
        reply = await world.sender.slash_command(f"t2v a fox --variations {count}")
        text = await private_answer(world, reply)
        assert "--variations" in text and "2 to 6" in text
    assert simulator.stats.requests == [] and not await world.services.store.list_jobs(limit=5)


async def test_the_budget_counts_every_variation_before_any_starts(make_world, simulator):
    world = await make_world(wanbot_user_daily_budget_usd=0.40)
    reply = await world.sender.slash_command("t2v a fox --duration 2 --variations 4")  # 4 x $0.12 = $0.48
    text = await private_answer(world, reply)
    assert "These 4 jobs ($0.48)" in text and "daily budget" in text
    assert simulator.stats.requests == [] and not await world.services.store.list_jobs(limit=5)


async def test_the_form_offers_draft_and_variations(world, simulator):
    await world.sender.slash_command("t2v")
    await world.standin.wait_for_call("views.open")
    view = world.standin.last_view()
    bad = await world.sender.view_submission(view, values={"prompt": "a fox", "run_variations": "9"})
    assert "2 to 6" in bad.json()["errors"]["run_variations"]
    await world.sender.view_submission(view, values={"prompt": "a fox", "duration": "2", "run_variations": "2",
                                                     "run_draft": ["draft"]})
    await world.standin.wait_until(lambda: len(simulator.tasks) == 2, timeout=10)
    jobs = await world.services.store.list_jobs(limit=5)
    assert len({j.request["input"]["seed"] for j in jobs}) == 2
    assert all(j.request["input"]["audio"] is False and j.extra.get("draft") for j in jobs)


async def test_a_variations_command_answered_again_by_another_replica_posts_no_second_summary(world, simulator):
    reply = await world.sender.slash_command("t2v a kite over dunes --duration 2 --variations 2")
    await world.standin.wait_until(lambda: len(simulator.tasks) == 2, timeout=15)
    command, key = dict(reply.sent), command_key(reply.sent)

    async def respond(*args, **kwargs) -> None:
        raise AssertionError("the second answer says nothing: the first one answered")

    # What a replica that took the request over (its first replica judged gone) does with it.
    await handle_command(world.services, command, respond=respond, request_key=key)
    top = [m for m in world.standin.messages(CHANNEL) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
    assert len(top) == 1 and "variations" in top[0].get("text", "")       # one summary card
    assert len(await world.store.list_jobs(limit=10)) == 2 and len(simulator.tasks) == 2
