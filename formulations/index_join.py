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


def matches_by_then(
    keys: NDArray[np.integer],
    times: NDArray[np.integer],
    queries: NDArray[np.integer],
    query_times: NDArray[np.integer],
) -> tuple[IntArray, IntArray]:
    """Every ``(p, q)`` with ``keys[p] == queries[q]`` and ``times[p] <=
    query_times[q]``, grouped by ``q`` (by time, then ``p``, within a group):
    :func:`matches` filtered by time, without making the pairs it drops
    (each query's pairs are a prefix of its key's, sorted by time)."""
    order = np.lexsort((times, keys))
    k, t = keys[order], times[order]
    lo = np.searchsorted(k, queries, side="left")
    hi = np.searchsorted(k, queries, side="right")
    counts = _count_le(t, lo, hi, query_times)
    q = np.repeat(np.arange(queries.size, dtype=np.int64), counts)
    return order[ranges(lo, counts)].astype(np.int64, copy=False), q


def running_totals(
    keys: NDArray[np.integer],
    times: NDArray[np.integer],
    amounts: NDArray[np.floating],
    query_keys: NDArray[np.integer],
    query_times: NDArray[np.integer],
) -> NDArray[np.float64]:
    """Per query ``q``: the sum of ``amounts[p]`` with ``keys[p] ==
    query_keys[q]`` and ``times[p] <= query_times[q]`` (one sort, no loop)."""
    order = np.lexsort((times, keys))
    k, t = keys[order], times[order]
    total = np.concatenate([[0.0], np.cumsum(np.asarray(amounts, float)[order])])
    # first entry of the query's key, and one past its last entry <= the time
    lo = np.searchsorted(k, query_keys, side="left")
    hi = np.searchsorted(k, query_keys, side="right")
    upto = lo + _count_le(t, lo, hi, query_times)
    return np.asarray(total[upto] - total[lo], dtype=np.float64)


def _count_le(
    t: NDArray[np.integer],
    lo: NDArray[np.integer],
    hi: NDArray[np.integer],
    query_times: NDArray[np.integer],
) -> IntArray:
    """Per query, how many of ``t[lo:hi]`` (sorted) are ``<=`` its time: a
    binary search over every query's range at once."""
    a = np.asarray(lo, dtype=np.int64).copy()
    b = np.asarray(hi, dtype=np.int64).copy()
    while True:
        open_ = a < b
        if not open_.any():
            break
        mid = (a + b) // 2
        ok = open_ & (t[np.minimum(mid, t.size - 1)] <= query_times)
        a = np.where(ok, mid + 1, a)
        b = np.where(open_ & ~ok, mid, b)
    return np.asarray(a - lo, dtype=np.int64)
