"""The request inbox in the store (`seen_requests`): each incoming Slack request stored before its ack
(a crash after the ack is answered on restart), de-duplicated by key (Slack's retries), claimed by
the first job it starts or the refusal it gets, and forgotten after a day. Mixed into `JobStore`, so
both backends get the same queries."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.jobs.store.errors import RequestAnswered

# The request inbox keeps a request a day, then forgets it (see `prune_requests`).
REQUESTS_KEPT_SECONDS = 24 * 3600
REQUESTS_PRUNE_EVERY = 600.0
ANSWERED_WITH = "answered_with"  # the refusal already given: replayed as it is, never judged anew


def unanswered(row: Any) -> dict[str, Any]:
    """The stored request, with the words it was answered with when a crash came before its `done`."""
    payload = json.loads(row["payload"] or "{}")
    if row["answer"] is not None:
        payload[ANSWERED_WITH] = row["answer"]
    return payload


async def record_refusal(tx: Any, key: str, refusal: str) -> str:
    """A refusal is the request's answer, kept with it until it is marked done: a replay after a
    crash sends these words again instead of judging the request anew, and a job can no longer
    claim it. The first answer wins: a job already started for it raises RequestAnswered (say
    nothing); an earlier refusal's words are the ones returned."""
    if await tx.execute("UPDATE seen_requests SET answer = ? WHERE key = ? AND job_id IS NULL AND answer IS NULL",
                        (refusal, key)):
        return refusal
    rows = await tx.fetch("SELECT job_id, answer FROM seen_requests WHERE key = ?", (key,))
    if not rows:  # not in the inbox (pruned, or a start that stored none): nothing to keep
        return refusal
    if rows[0]["job_id"] is not None:
        raise RequestAnswered(key)
    return rows[0]["answer"]


class InboxQueries:
    db: Any
    _requests_pruned_at: float  # set by JobStore.__init__

    async def remember_request(self, key: str, job_id: str | None = None) -> bool:
        """True the first time a key is seen; False for a repeat (e.g. Slack's X-Slack-Retry-Num).
        Mostly before an ack (events, clicks): one statement on the connections kept for those."""
        added = await self.db.execute("INSERT INTO seen_requests (key, at, job_id) VALUES (?, ?, ?)"
                                      " ON CONFLICT DO NOTHING", (key, time.time(), job_id), before_ack=True)
        await self._prune_requests_now_and_then()
        return added == 1

    async def request_started(self, key: str) -> bool:
        """True when the incoming request already started a job (on this replica or another)."""
        rows = await self.db.fetch("SELECT job_id FROM seen_requests WHERE key = ?", (key,))
        return bool(rows) and rows[0]["job_id"] is not None

    async def receive_request(self, key: str, payload: dict[str, Any], *, replica: str | None = None) -> bool:
        """Store an incoming request before it is acknowledged, with the replica answering it.
        False for a repeat of a stored one."""
        # One statement on the connections kept for writes before an ack: on PostgreSQL one round trip,
        # committed and synced when it returns, never queued behind the work after other acks.
        added = await self.db.execute("INSERT INTO seen_requests (key, at, payload, done, replica) VALUES (?, ?, ?, 0, ?)"
                                      " ON CONFLICT DO NOTHING",
                                      (key, time.time(), json.dumps(payload, ensure_ascii=False), replica),
                                      before_ack=True)
        await self._prune_requests_now_and_then()
        return added == 1

    async def prune_requests(self, *, now: float | None = None, before_ack: bool = False) -> int:
        """Forget incoming requests older than REQUESTS_KEPT_SECONDS: by then Slack has long stopped
        retrying (minutes) and a response_url is dead (30 minutes), so no repeat can come and nothing
        is left to replay. Clicks are kept: "one click, one job" holds however late the repeat."""
        before = (now if now is not None else time.time()) - REQUESTS_KEPT_SECONDS
        return await self.db.execute("DELETE FROM seen_requests WHERE at < ? AND key NOT LIKE ?",
                                     (before, "click:%"), before_ack=before_ack)

    async def _prune_requests_now_and_then(self) -> None:
        """The inbox grows only on an incoming request, so pruning here bounds it; at most every
        REQUESTS_PRUNE_EVERY seconds per process (the delete reads the whole table). It comes before
        that request's ack, so it takes a connection kept for writes before an ack too."""
        now = time.time()
        if now - self._requests_pruned_at < REQUESTS_PRUNE_EVERY:
            return
        self._requests_pruned_at = now
        await self.prune_requests(now=now, before_ack=True)

    async def request_done(self, key: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE seen_requests SET done = 1, payload = NULL WHERE key = ?", (key,))

    async def unanswered_requests(self, *, since: float, before: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Requests received (and acknowledged) but not answered, oldest first: a crash came between.
        `before`: only those received before then (not the ones this process is answering now)."""
        rows = await self.db.fetch(
            "SELECT key, payload, answer FROM seen_requests WHERE done = 0 AND at >= ? AND at < ? ORDER BY at",
            (since, float("inf") if before is None else before))
        return [(r["key"], unanswered(r)) for r in rows]

    async def refuse_request(self, key: str, refusal: str) -> str:
        """Record `refusal` as the answer of an incoming request, before it is sent (see
        `record_refusal`); the words to send. RequestAnswered when a job answered it already."""
        async with self.db.transaction() as tx:
            return await record_refusal(tx, key, refusal)
