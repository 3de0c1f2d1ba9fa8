"""The job store: one interface (`JobStore`), two backends chosen by `WANBOT_DB` (SQLite, PostgreSQL)."""

from bot.jobs.store.core import JobStore
from bot.jobs.store.errors import LeaseLost, NoUpstreamSlot, RequestAnswered, StaleTransition
from bot.jobs.store.leases import Fence, fenced
from bot.jobs.store.location import DatabaseUnusable
from bot.jobs.store.presets import Preset, PresetExists
from bot.jobs.store.schema import MIGRATIONS
from bot.jobs.store.standing import Standing

__all__ = ["MIGRATIONS", "DatabaseUnusable", "Fence", "JobStore", "LeaseLost", "NoUpstreamSlot", "Preset", "PresetExists", "RequestAnswered",
           "StaleTransition",
           "Standing", "fenced"]
