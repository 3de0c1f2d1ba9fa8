"""The tracker's steps, one module each: submit, poll (and when to poll next), deliver, cancel.

Each is a mixin of `bot.jobs.tracker.Tracker` on top of `base.Steps` (the shared state and how a
job ends); none imports another step or the tracker.
"""
