"""The job store: one interface (`JobStore`), two backends chosen by `WANBOT_DB` (SQLite, PostgreSQL)."""

from bot.jobs.store.core import JobStore, StaleTransition
from bot.jobs.store.location import DatabaseUnusable
from bot.jobs.store.presets import Preset, PresetExists
from bot.jobs.store.schema import MIGRATIONS
from bot.jobs.store.standing import Standing

__all__ = ["MIGRATIONS", "DatabaseUnusable", "JobStore", "Preset", "PresetExists", "StaleTransition", "Standing"]
