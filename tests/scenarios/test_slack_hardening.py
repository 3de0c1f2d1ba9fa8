"""Issue 14's Slack paths, through the real app on loopback: each test failed on the code before
its fix."""

from __future__ import annotations

import asyncio

from tests.support.world import ANA, BOB, CHANNEL, private_answer


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
