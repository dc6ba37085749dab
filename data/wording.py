"""Counts in words, as a user reads them: ``1 job``, ``2 jobs``.

One helper for every message and report (``simulate``'s report had its
own), so that none says "1 jobs" or hedges with "job(s)".
"""

from __future__ import annotations

from collections.abc import Sequence


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 order``, ``2 orders``: a count with its noun (``plural`` where
    an ``s`` does not make it: ``batch``, ``batches``), thousands separated."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def listed(names: Sequence[str], show: int) -> str:
    """The first ``show`` of ``names``, comma-separated, and ``and N more``
    for the rest (a warning's list of ids)."""
    more = len(names) - show
    return ", ".join(names[:show]) + (f" and {more} more" if more > 0 else "")


def percent(share: float) -> str:
    """A share in [0, 1] as the percent it was configured as: ``0.9`` is
    ``90%``, ``0.999`` ``99.9%`` (``:.0%`` wrote ``100%``, a percentile no
    score is above, beside a threshold under the best score)."""
    return f"{round(share * 100.0, 4):g}%"


def money_apart(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` in dollars, to the cent unless the cents hide that
    they differ: a predicted spend of $89.996 under a threshold of $90.001
    read "$90.00 is below ... $90.00"; to as many places as tell them apart
    (at most 6)."""
    places = 2
    while places < 6 and f"{a:,.{places}f}" == f"{b:,.{places}f}" and a != b:
        places += 1
    return f"${a:,.{places}f}", f"${b:,.{places}f}"
