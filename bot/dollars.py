"""How wanbot writes an amount of dollars, everywhere it shows one (cards, answers, triage reports)."""

from __future__ import annotations


def money(usd: float | None, *, missing: str = "unknown") -> str:
    """Dollars to the cent; a sub-cent amount (a per-second price, a small refund) keeps its
    digits, up to six, rather than round to a misleading $0.00."""
    if usd is None:
        return missing
    if abs(usd - round(usd, 2)) < 5e-7:
        return f"${usd:.2f}"
    return f"${usd:.6f}".rstrip("0")
