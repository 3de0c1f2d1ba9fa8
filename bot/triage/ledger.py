"""One task's charge history: what was taken (pre-charge plus later settlements), what was returned,
and what is still due. Pure: records in, numbers out.

new-api (service/task_billing.go): the pre-charge is the consumption row; RecalculateTaskQuota adds a
type 2 row for a top-up charge or a type 6 row for a partial return, both with `other.task_id` and
the pre-consumed / actual quota; RefundTaskQuota writes one type 6 row for the task's whole quota, or,
when returning the money fails, only a warning and no row. A second refund row for one task is a
double refund: reported, and counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.triage.records import CONSUME, ERROR, REFUND, Record

EPS = 1e-6


@dataclass
class Ledger:
    charged_usd: float | None = None
    refunded_usd: float = 0.0
    charges: list[Record] = field(default_factory=list)
    refunds: list[Record] = field(default_factory=list)
    free: list[Record] = field(default_factory=list)  # rows showing nothing was taken
    refund_failed: list[Record] = field(default_factory=list)
    extra_refunds_usd: float = 0.0  # refunded beyond the first refund row (double refund)

    @property
    def paid(self) -> bool:
        return bool(self.charged_usd)

    @property
    def due_usd(self) -> float:
        return round(max(0.0, (self.charged_usd or 0.0) - self.refunded_usd), 6)

    @property
    def double(self) -> bool:
        return len(self.refunds) > 1


def usd(quota: float, quota_per_usd: float) -> float:
    return round(quota / quota_per_usd, 6)


def _distinct(rows: list[Record]) -> list[Record]:
    return list({(r.row_id or r.quote or id(r)): r for r in rows}.values())


def build_ledger(records: list[Record], quota_per_usd: float) -> Ledger:
    led = Ledger()
    log_rows = _distinct([r for r in records if r.kind == "log" and not r.refund])
    for r in log_rows:
        if r.log_type in (CONSUME, None) and r.quota:
            led.charges.append(r)  # the pre-charge, or a settlement (quota_delta may be negative)
        elif r.log_type == REFUND and r.adjustment and r.quota:
            led.charges.append(r)  # a partial return at settlement lowers the charge
        elif r.log_type == ERROR or r.quota == 0:
            led.free.append(r)
    if led.charges:
        total = sum(-(r.quota or 0) if r.log_type == REFUND else (r.quota or 0) for r in led.charges)
        led.charged_usd = usd(total, quota_per_usd)
    else:
        led.charged_usd = _other_charge(records, led, quota_per_usd)
    _add_logged_settlements(records, led, quota_per_usd)
    led.free += [r for r in records if r.kind == "litellm" and r.usd == 0]
    led.refunds = _distinct([r for r in records if r.refund])
    led.refund_failed = [r for r in records if r.refund_failed]
    amounts = [a for a in (_refund_usd(r, quota_per_usd) for r in led.refunds) if a is not None]
    if led.refunds:
        # a refund in yuan (unknown rate) or with no amount returned the task's charge
        first = max(amounts) if amounts else (led.charged_usd or 0.0)
        led.refunded_usd = round(first, 6)
        led.extra_refunds_usd = round(sum(amounts) - first, 6) if len(amounts) > 1 else 0.0
        if led.charged_usd is None:
            led.charged_usd = led.refunded_usd  # the refund names what was taken
    return led


def _add_logged_settlements(records: list[Record], led: Ledger, quota_per_usd: float) -> None:
    """A settlement known only from the server log line adds its delta; when its log row is in view
    too, the row has already counted it."""
    if any(r.kind == "log" and r.adjustment for r in records):
        return
    settled = _distinct([r for r in records if r.kind == "text" and r.adjustment and (r.quota or r.usd)])
    if not settled:
        return
    led.charges += settled
    delta = sum((r.usd or 0) + usd(r.quota or 0, quota_per_usd) for r in settled)
    led.charged_usd = round((led.charged_usd or 0) + delta, 6)


def _other_charge(records: list[Record], led: Ledger, quota_per_usd: float) -> float | None:
    """No consumption row: the task export's quota, else a charge stated in text, else USD amounts."""
    tasks = _distinct([r for r in records if r.kind == "task" and r.quota])
    if tasks:
        led.charges += tasks
        return usd(max(r.quota or 0 for r in tasks), quota_per_usd)
    text = [r for r in records if r.kind == "text" and not r.refund and not r.adjustment and (r.quota or r.usd)]
    if text:
        led.charges += text[:1]
        r = text[0]
        return usd(r.quota, quota_per_usd) if r.quota else r.usd
    money = [r for r in records if r.kind in ("litellm", "query", "lookup") and r.usd]
    if money:
        led.charges += money
        return round(max(r.usd or 0 for r in money), 6)
    return None


def _refund_usd(r: Record, quota_per_usd: float) -> float | None:
    if r.refund_usd is not None:
        return r.refund_usd
    if r.refund_quota:
        return usd(r.refund_quota, quota_per_usd)
    return None
