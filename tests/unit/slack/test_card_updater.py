"""The card updater under load: renders that arrive while the rate limit is closed cost nothing."""

from __future__ import annotations

import asyncio

from bot.jobs.models import Job, JobState
from bot.slack.jobs.card_updates import CardUpdater


class CountingUpdater(CardUpdater):
    scans = 0

    def _due(self, now):
        self.scans += 1
        return super()._due(now)


async def test_renders_while_the_bucket_is_empty_do_not_rescan_every_waiting_card():
    sent = []

    async def send(job, position):
        sent.append(job.id)

    updater = CountingUpdater(send, per_minute=40, burst=5, min_interval=3.0, tick_interval=0)
    updater.start()
    jobs = [Job(id=f"j{i}", request={"mode": "t2v", "prompt": "x", "duration": 5}, state=JobState.RUNNING)
            for i in range(2000)]
    for _ in range(3):
        for job in jobs:
            updater.submit(job)
            await asyncio.sleep(0)  # the event loop runs the updater between renders, as in the bot
    await updater.stop(0)
    # The burst went out at once; the rest wait for tokens (40 a minute) and each card keeps only
    # its newest render. Scanning 2,000 waiting cards on each of the 6,000 renders was quadratic.
    assert len(sent) == 5
    assert updater.backlog == 2000  # one newest render per card, none twice
    assert updater.scans < 50


async def test_stop_returns_even_when_a_render_arrives_as_it_is_called():
    # Python 3.11's wait_for swallowed a cancel that came as the loop's wake-up event was set: the
    # updater then never stopped (and neither did the bot's shutdown).
    async def send(job, position):
        return None

    for _ in range(50):
        updater = CardUpdater(send, per_minute=6000, burst=100, min_interval=0.0, tick_interval=0)
        updater.start()
        await asyncio.sleep(0)
        updater.submit(Job(id="j1", request={"mode": "t2v", "prompt": "x", "duration": 5}, state=JobState.RUNNING))
        await asyncio.wait_for(updater.stop(0), 5)


async def test_stop_waits_for_a_final_card_already_being_sent():
    # A job's final render was taken off the queue and its chat.update was on the wire when SIGTERM
    # came: stop() saw nothing pending and cancelled the send, so the card stayed "rendering 25%".
    sent = []

    async def slow_send(job, position):
        await asyncio.sleep(0.3)  # a slow Slack
        sent.append(job.state)

    updater = CardUpdater(slow_send, per_minute=6000, burst=100, min_interval=0.0, tick_interval=0)
    updater.start()
    updater.submit(Job(id="j1", request={"mode": "t2v", "prompt": "x", "duration": 5}, state=JobState.DELIVERED))
    await asyncio.sleep(0.05)  # the updater has taken it and is sending
    assert updater.backlog == 0
    await asyncio.wait_for(updater.stop(3.0), 5)
    assert sent == [JobState.DELIVERED]
