"""The CLTV segments: platinum, gold and silver by predicted-spend rank.

Their own module (numpy only): what reads a scores file or reports segment
sizes (``tierflow simulate --cltv-scores``, ``tierflow allocate``) does not
load the model's scikit-learn and SciPy stack for three names.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

#: Segment names, best first.
SEGMENTS = ("platinum", "gold", "silver")


def assign_segments(
    predicted: NDArray[np.float64],
    platinum_share: float = 0.10,
    gold_share: float = 0.30,
) -> NDArray[np.object_]:
    """Platinum/gold/silver by predicted-spend rank (ties share a segment).

    A customer is platinum when fewer than ``platinum_share`` of all customers
    predict strictly more, gold when fewer than ``platinum_share + gold_share``
    do, silver otherwise.
    """
    n = len(predicted)
    out = np.full(n, SEGMENTS[2], dtype=object)
    if n == 0:
        return out
    higher = n - np.searchsorted(np.sort(predicted), predicted, side="right")
    platinum = _shares_of(n, platinum_share)
    # an integer count of customers above: higher < x iff higher < ceil(x)
    out[higher < math.ceil(platinum + _shares_of(n, gold_share))] = SEGMENTS[1]
    out[higher < math.ceil(platinum)] = SEGMENTS[0]
    return out


def _shares_of(n: int, share: float) -> Fraction:
    """``share`` of ``n`` customers, exactly as the share is written: in
    binary floating point 0.2 + 0.1 is 0.30000000000000004, and the gold
    cut of ``--platinum-share 0.2 --gold-share 0.1`` took one customer in
    ten too many (81 gold of 800)."""
    if not math.isfinite(share):
        raise ValueError(f"segment share must be finite, not {share!r}")
    return Fraction(str(float(share))) * n
