"""How the tracker tells the outside world what happens to a job.

The CLI implements it with a progress bar, Slack with the job card and the thread upload, tests with
a recorder. Nothing here knows about Slack.
"""

from __future__ import annotations

from pathlib import Path

from bot.jobs.models import DeliveryState, Job


class Notifier:
    """Base with harmless defaults; implement what your surface shows.

    `job_changed` is called after every visible change, with the job as stored: waiting for a slot
    (`state == pending` and `waiting_position` set), queued, running (progress), succeeded, failed
    (error code, message and request id on the job), canceled, expired, unknown.
    """

    async def job_changed(self, job: Job, *, waiting_position: int | None = None) -> None:
        return None

    def refresh(self, job: Job) -> None:
        """Show the job again as stored (e.g. after a review decision changed it outside the tracker)."""
        return None

    async def post_video(self, job: Job, video: Path) -> DeliveryState:
        """Hand the finished video over (post, copy, upload). Return POSTED, or LINK if only a link
        could be given. Raise to have the tracker retry the delivery later (nothing must be half-posted)."""
        raise NotImplementedError

    async def post_link(self, job: Job, reason: str) -> DeliveryState:
        """The upload keeps failing: give the video's link (and when it expires) instead. Return LINK.
        Raise (NotImplementedError by default) to have the tracker keep trying the upload."""
        raise NotImplementedError

    async def taken_over(self, job: Job) -> Job | None:
        """A job this replica took over from one that is gone (several replicas): give it what the
        surface needs before it goes on (e.g. the card its creator died before posting). The job to
        drive, or None when it must not start (it was removed)."""
        return job

    async def video_already_posted(self, job: Job) -> bool:
        """After a crash mid-delivery: did the previous process finish posting? (exactly-once)."""
        return False
