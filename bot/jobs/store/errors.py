"""What a store write can refuse, in a module of its own so that the store's parts share it."""

from __future__ import annotations


class StaleTransition(Exception):
    """The job was not in the expected state (someone else moved it first)."""


class LeaseLost(StaleTransition):
    """A write under a lease this replica no longer holds: another replica claimed the job (a newer
    fencing version), so this one's view is stale and it must stop driving the job."""


class NoUpstreamSlot(Exception):
    """WAN_MAX_IN_FLIGHT tasks are already in flight upstream (counted in the database, over every
    replica): the job stays pending."""


class RequestAnswered(Exception):
    """The incoming Slack request already started a job (another replica answered it first: one that
    took it over from a replica judged gone, or the one judged gone, still alive): no second job."""
