"""Support triage: "the task failed, but I was charged" (shared/spec/triage.md). No Slack code here."""

from bot.triage.engine import triage, triage_file, triage_text
from bot.triage.report import TriageResult

__all__ = ["TriageResult", "triage", "triage_file", "triage_text"]
