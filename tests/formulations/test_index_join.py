"""The vectorised joins of :mod:`tierflow.formulations.index_join` against
their definitions, written as plain loops."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow.formulations.index_join import matches, matches_by_then

_small = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(entries=_small, queries=_small)
def test_matches_by_then_is_matches_filtered_by_time(
    entries: list[tuple[int, int]], queries: list[tuple[int, int]]
) -> None:
    """Every ``(p, q)`` of equal keys with ``times[p] <= query_times[q]``,
    grouped by ``q``, by time then ``p`` within a group; the same pairs as
    :func:`matches` keeps after filtering by time."""
    keys = np.array([k for k, _ in entries], dtype=np.int64)
    times = np.array([t for _, t in entries], dtype=np.int64)
    query_keys = np.array([k for k, _ in queries], dtype=np.int64)
    query_times = np.array([t for _, t in queries], dtype=np.int64)
    p, q = matches_by_then(keys, times, query_keys, query_times)
    expected = [
        (pp, qq)
        for qq in range(len(queries))
        for pp in sorted(range(len(entries)), key=lambda i: (times[i], i))
        if keys[pp] == query_keys[qq] and times[pp] <= query_times[qq]
    ]
    assert list(zip(p.tolist(), q.tolist(), strict=True)) == expected
    mp, mq = matches(keys, query_keys)
    early = times[mp] <= query_times[mq]
    assert sorted(zip(mp[early].tolist(), mq[early].tolist(), strict=True)) == sorted(
        expected
    )
