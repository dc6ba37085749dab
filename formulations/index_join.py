"""Vectorised joins on integer keys: the positions of ranges, and every pair
of equal keys between two arrays, without a Python loop per key."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


def ranges(starts: NDArray[np.integer], counts: NDArray[np.integer]) -> IntArray:
    """``starts[k], starts[k] + 1, ..., starts[k] + counts[k] - 1`` for every
    ``k``, concatenated."""
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return np.asarray(np.arange(int(counts.sum())) + offsets, dtype=np.int64)


def matches(
    keys: NDArray[np.integer], queries: NDArray[np.integer]
) -> tuple[IntArray, IntArray]:
    """Every ``(p, q)`` with ``keys[p] == queries[q]``, grouped by ``q`` (and
    by ``p`` within a group)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    lo = np.searchsorted(sorted_keys, queries, side="left")
    counts = np.searchsorted(sorted_keys, queries, side="right") - lo
    q = np.repeat(np.arange(queries.size, dtype=np.int64), counts)
    return order[ranges(lo, counts)].astype(np.int64), q
