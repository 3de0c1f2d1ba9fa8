"""The "Refunds due" export: triage records -> CSV rows (task, user, model, amount, evidence row ids).

Pure: the records come from the store (`triage_records`, with the per-task `details` each triage
kept); records from before details were kept still give their task ids and amount.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from bot.redact import redact

COLUMNS = ("task_id", "user", "model", "amount_usd", "evidence_row_ids", "triaged_at", "triaged_by", "record_id")


def refund_rows(records: list[dict[str, Any]], *, since: float) -> list[dict[str, Any]]:
    """One row per task with a refund due, newest record first; a task triaged twice appears once."""
    rows, seen = [], set()
    for rec in records:
        if rec.get("verdict") != "refund_due" or (rec.get("at") or 0) < since:
            continue
        details = rec.get("details") or [
            {"task_id": t, "amount_usd": rec.get("amount_usd") if len(rec.get("task_ids") or []) == 1 else None}
            for t in rec.get("task_ids") or [None]]
        for d in details:
            key = d.get("task_id") or f"record {rec.get('id')}"
            if key in seen:
                continue
            seen.add(key)
            rows.append({
                "task_id": d.get("task_id") or "", "user": d.get("user") or "", "model": d.get("model") or "",
                "amount_usd": "" if d.get("amount_usd") is None else f"{float(d['amount_usd']):.6f}".rstrip("0").rstrip("."),
                "evidence_row_ids": " ".join(str(e) for e in d.get("evidence") or []),
                "triaged_at": datetime.fromtimestamp(rec.get("at") or 0, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "triaged_by": rec.get("staff_user") or "", "record_id": rec.get("id"),
            })
    return rows


def refunds_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return redact(out.getvalue())


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # a spreadsheet runs a cell starting with = + - @ as a formula: quote it as text
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
