"""Rows drawn by what they hold, not by where they sit.

The model's random draws (cross-fitting folds, the members' subsamples, the
fixed-seed samples of customers above a size) are taken over the rows in an
order of their contents, so renaming the customers, reordering the log or
giving amounts in cents is not another draw: ``docs/cltv.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Odd 64-bit constants of the row keys' mixing (splitmix64's).
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
#: Steps per mean magnitude of a column in the row keys (:func:`row_keys`).
_GRID = float(2**24)


def mix(key: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finalizer, elementwise (uint64 arithmetic wraps)."""
    key = (key ^ (key >> np.uint64(30))) * _MIX1
    key = (key ^ (key >> np.uint64(27))) * _MIX2
    return key ^ (key >> np.uint64(31))


def mean_magnitude(column: NDArray[np.float64]) -> float:
    """Mean absolute value of the finite entries (0 when none): exact
    (``math.fsum``), so the same whatever the rows' order."""
    finite = np.abs(column[np.isfinite(column)])
    return math.fsum(finite) / len(finite) if len(finite) else 0.0


def row_keys(columns: Sequence[NDArray[np.float64]]) -> NDArray[np.uint64]:
    """A 64-bit key of each row, from the rank of its value in every column.

    Rows equal in every column get one key, and the keys do not depend on the
    rows' order, on their labels or on the unit of a column: each column is
    taken relative to its mean magnitude on a grid of 2**-24, so an amount in
    cents and its sum, rounded otherwise than in dollars, rank alike.
    """
    n = len(columns[0]) if columns else 0
    key = np.zeros(n, dtype=np.uint64)
    for j, column in enumerate(columns):
        scale = mean_magnitude(column)
        relative = column / scale if scale > 0.0 else column
        grid = np.round(relative * _GRID)
        # np.unique ranks NaN last, as one value, and -0.0 as 0.0
        rank = np.unique(grid, return_inverse=True)[1].reshape(-1)
        salt = np.uint64(_GOLDEN * (j + 1) % 2**64)  # one per column
        key = mix(key ^ (rank.astype(np.uint64) + salt))
    return key


def content_sample(
    columns: Sequence[ArrayLike],
    size: int,
    rng: np.random.Generator | None = None,
    tiebreak: Sequence[ArrayLike] = (),
) -> NDArray[np.int64]:
    """``size`` of the rows (all of them when there are no more), sorted: a
    uniform sample without replacement (fixed seed 0 unless ``rng`` is
    given) over the rows in the order of their :func:`row_keys`, so the
    same rows' contents are drawn whatever the rows' order or labels.

    Rows equal in ``columns`` are ordered by the keys of ``tiebreak``: the
    rest of what the caller does with a row. Without it, rows alike in
    ``columns`` but not in the rest stood in their given order, which is
    the customers' ids: a calibration window's customers with one order
    and nothing since were drawn by id, and renamed customers got another
    shape (QA, 2026-12-07). Rows already apart in ``columns`` keep their
    order, so the sample only changes where such ties were.
    """
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    n = len(arrays[0]) if arrays else 0
    if n <= size:
        return np.arange(n, dtype=np.int64)
    keys = row_keys(arrays)
    if tiebreak:
        ties = row_keys([np.asarray(c, dtype=np.float64) for c in tiebreak])
        order = np.lexsort((ties, keys))  # stable: by keys, then ties, then place
    else:
        order = np.argsort(keys, kind="stable")
    draw = (rng or np.random.default_rng(0)).choice(n, size, replace=False)
    return np.sort(order[draw]).astype(np.int64)
