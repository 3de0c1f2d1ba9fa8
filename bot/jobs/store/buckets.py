"""Token buckets kept in the store: one row per bucket (`rate_buckets`, migration 9), so every
replica on one database spends one budget. Slack's rate limits are per workspace and method, not per
process: with three replicas each keeping its own bucket of 40 `chat.update` calls a minute, the
workspace would see 120 and Slack would answer 429s.

Why a row and not one replica elected to own the card updates: a take is one short transaction on
a row (a few a second at most: the budget is ~50 a minute), with nothing to elect, no hand-over when
the owner dies and no forwarding of every render to it; any replica that holds a job's latest state
updates its card itself. The row is locked for the read-compute-write (`lock_row`), so two replicas'
takes are serialised and the budget is never overspent. Mixed into `JobStore` (both backends).

`refill` is the rule alone, also used by the in-memory bucket of a single SQLite process.
"""

from __future__ import annotations

import time


def refill(tokens: float, stamp: float, now: float, *, rate: float, capacity: float) -> float:
    """Tokens after refilling from `stamp` to `now` at `rate` a second, capped at `capacity`. A
    clock that went back (another replica's ran ahead) refills nothing rather than draining."""
    return min(capacity, tokens + max(0.0, now - stamp) * rate)


def take(tokens: float, *, rate: float) -> tuple[float, float]:
    """(tokens left, 0) when a token can be taken; (tokens unchanged, seconds until one) otherwise."""
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) / rate


class BucketQueries:
    """The bucket half of the store's interface (needs `self.db`, as JobStore has)."""

    async def take_token(self, key: str, *, per_minute: float, burst: int, now: float | None = None) -> float:
        """Take one token from bucket `key` (created full on first use): 0.0 when taken, else the
        seconds until one will be there (nothing taken)."""
        rate, capacity = per_minute / 60.0, float(burst)
        now = time.time() if now is None else now
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO rate_buckets (key, tokens, stamp) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                             (key, capacity, now))
            rows = await tx.fetch("SELECT tokens, stamp FROM rate_buckets WHERE key = ?" + tx.for_update, (key,))
            tokens = refill(rows[0]["tokens"], rows[0]["stamp"], now, rate=rate, capacity=capacity)
            tokens, wait = take(tokens, rate=rate)
            # The stamp never goes back: a replica whose clock lags cannot refill the bucket twice.
            await tx.execute("UPDATE rate_buckets SET tokens = ?, stamp = ? WHERE key = ?",
                             (tokens, max(now, rows[0]["stamp"]), key))
        return wait
