"""Prometheus metrics for the Slack bot: one registry per Services (tests stay isolated).

- wanbot_jobs{state}: unfinished jobs by state, read from the store at scrape time
- wanbot_job_changes_total{state}: every visible job change the notifier saw
- wanbot_upstream_errors_total{error_class}: gateway errors by class (submit, poll, cancel)
- wanbot_poll_seconds / wanbot_delivery_seconds: poll round-trip and succeeded-to-posted latency
- wanbot_slack_api_errors_total{method,error}: Web API calls that failed after the client's retries
- wanbot_replica_info{replica} (always 1) and wanbot_leases_held{replica}: which replica answered the
  scrape, and how many job leases it holds (several replicas on PostgreSQL; bot/jobs/leases.py)
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.jobs.models import TERMINAL_STATES, JobState
from bot.wan.errors import GatewayError

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Gauge("wanbot_jobs", "Unfinished jobs by state", ["state"], registry=r)
        self.job_changes = Counter("wanbot_job_changes_total", "Visible job changes by new state", ["state"],
                                   registry=r)
        self.upstream_errors = Counter("wanbot_upstream_errors_total", "Gateway errors by class",
                                       ["error_class"], registry=r)
        self.poll_seconds = Histogram("wanbot_poll_seconds", "Gateway task look-up latency", registry=r,
                                      buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.delivery_seconds = Histogram("wanbot_delivery_seconds", "From video ready to posted in Slack",
                                          registry=r, buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))
        self.slack_errors = Counter("wanbot_slack_api_errors_total", "Slack Web API errors", ["method", "error"],
                                    registry=r)
        self.card_updates = Counter("wanbot_card_updates_total", "chat.update calls for job cards", registry=r)
        self.replica = Gauge("wanbot_replica_info", "The replica that answered (always 1)", ["replica"], registry=r)
        self.leases = Gauge("wanbot_leases_held", "Job leases this replica holds", ["replica"], registry=r)

    def slack_error(self, method: str, error: Any) -> None:
        self.slack_errors.labels(method=method, error=str(error or "unknown")[:60]).inc()

    async def refresh_jobs(self, store) -> None:
        """Set the jobs-by-state gauge from the store (only unfinished jobs: a bounded set)."""
        counts = {state.value: 0 for state in JobState if state not in TERMINAL_STATES}
        for job in await store.unfinished_jobs():
            counts[job.state.value] = counts.get(job.state.value, 0) + 1
        for state, count in counts.items():
            self.jobs.labels(state=state).set(count)

    def refresh_leases(self, tracker) -> None:
        self.replica.labels(replica=tracker.replica_id).set(1)
        self.leases.labels(replica=tracker.replica_id).set(tracker.leases_held)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class InstrumentedGateway:
    """The GatewayClient with its errors counted and its polls timed; everything else passes through."""

    def __init__(self, client, metrics: Metrics):
        self._client = client
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def _counted(self, call, *args, **kwargs):
        try:
            return await call(*args, **kwargs)
        except GatewayError as exc:
            self._metrics.upstream_errors.labels(error_class=type(exc).__name__).inc()
            raise

    async def submit(self, *args, **kwargs):
        return await self._counted(self._client.submit, *args, **kwargs)

    async def cancel(self, *args, **kwargs):
        return await self._counted(self._client.cancel, *args, **kwargs)

    async def get_task(self, *args, **kwargs):
        started = time.monotonic()
        try:
            return await self._counted(self._client.get_task, *args, **kwargs)
        finally:
            self._metrics.poll_seconds.observe(time.monotonic() - started)
