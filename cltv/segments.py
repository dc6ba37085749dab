"""The CLTV segments: platinum, gold and silver by predicted-spend rank.

Their own module (numpy only): what reads a scores file or reports segment
sizes (``tierflow simulate --cltv-scores``, ``tierflow allocate``) does not
load the model's scikit-learn and SciPy stack for three names.
"""

from __future__ import annotations

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
    share = higher / n
    out[share < platinum_share + gold_share] = SEGMENTS[1]
    out[share < platinum_share] = SEGMENTS[0]
    return out
