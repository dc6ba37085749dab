"""The backlog changes a node's absolute backlog must be rebased on.

A feed may deliver an absolute ``backlog`` ("600 units waiting as of 14:00")
after ``backlog_delta`` events dated later (a confirmed order's work at
14:30) were applied. Replacing the backlog by the absolute value would drop
those later changes; the backlog as of 14:00 plus every change dated at or
after 14:00 is what the node has. So each node keeps the deltas applied since
its newest absolute backlog, for a bounded time: those dated more than
:data:`BACKLOG_CHANGES_KEPT_S` before the newest event heard are dropped,
and an absolute backlog dated at or before a dropped change is stale (it
cannot be rebased exactly, so it changes nothing, as any event older than
what is known of its kind).

A late delta is placed the same way: the node's backlog is its base (the
newest absolute, with the dropped deltas folded in) and the kept deltas
applied on it in time order, floored at 0 after each instant (the deltas of
one instant are one change, their sum, whatever order they came in).
Added at the end as it came, a late one moved the floor: 10, then +500 at
13:00 and -50 at 12:30 in that order gave 460, in time order 500.

Dropping happens only when an event of the node's backlog is applied, with
the feed's clock of that moment, so every replica replaying the same log
(and a restart from a snapshot) keeps the same changes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np

#: How long (seconds of the feed's clock) the deltas after a node's newest
#: absolute backlog are kept for rebasing a late absolute backlog on them.
BACKLOG_CHANGES_KEPT_S = 6 * 3600.0


class BacklogChanges:
    """Per node: the ``(ts, value)`` deltas applied since its newest absolute
    backlog (and kept), in time order; the backlog they apply on (``base``:
    that absolute with the dropped deltas folded in); and the newest ``ts``
    of those dropped (``floor``)."""

    def __init__(self, n_nodes: int) -> None:
        self._deltas: list[deque[tuple[float, float]]] = [
            deque() for _ in range(n_nodes)
        ]
        self._base = np.zeros(n_nodes)
        self._floor = np.full(n_nodes, -np.inf)
        #: Per node, beside each kept delta: the backlog before its instant
        #: and the sum of its instant's deltas up to it (the backlog after
        #: the instant is their sum floored at 0); None until a delta is
        #: placed before the newest (built then from the base and the deltas).
        self._sums: list[list[tuple[float, float]] | None] = [None] * n_nodes

    def add(
        self, node: int, ts: float, value: float, heard: float, backlog: float
    ) -> float:
        """The node's backlog (now ``backlog``) after a delta dated ``ts``;
        ``heard`` is the feed's clock (the newest event time, capped at its
        receipt). One dated before a kept delta is placed in time order;
        one dated before a dropped delta is counted in the base."""
        self._drop_old(node, heard)
        kept = self._deltas[node]
        sums = self._sums[node]
        if not kept or ts > kept[-1][0]:
            kept.append((ts, value))
            if sums is not None:
                sums.append((backlog, value))
            return max(0.0, backlog + value)
        if ts <= self._floor[node]:
            self._base[node] = max(0.0, self._base[node] + value)
            self._sums[node] = None  # every backlog after the base moved
            return _applied(float(self._base[node]), kept)
        # placed in time order, and the backlog after each instant from
        # there on worked out again (every delta kept was summed again:
        # quadratic, 20,000 deltas of which every other one came 0.3 s late
        # took 49 s, as did 40,000 at 5 a second sharing their instants)
        if sums is None:
            sums = self._sums[node] = _running_sums(float(self._base[node]), kept)
        k = bisect_right(kept, ts, key=itemgetter(0))
        kept.insert(k, (ts, value))
        if k and kept[k - 1][0] == ts:  # one more of an instant kept
            before, total = sums[k - 1]
            sums.insert(k, (before, total + value))
        else:
            before = _after(sums[k - 1]) if k else float(self._base[node])
            sums.insert(k, (before, value))
        now = _after(sums[k])  # the newest of its instant (bisect_right)
        at = ts
        for j in range(k + 1, len(kept)):  # a late one: the few after it
            t, v = kept[j]
            if t != at:
                before, total, at = now, v, t
            else:
                before, total = sums[j - 1][0], sums[j - 1][1] + v
            sums[j] = (before, total)
            now = max(0.0, before + total)
        return _after(sums[-1])

    def rebase(self, node: int, ts: float, value: float, heard: float) -> float | None:
        """The backlog of an absolute ``value`` as of ``ts`` with the kept
        deltas dated at or after ``ts`` applied on it in time order
        (floored at 0 after each instant); None when a dropped
        delta was dated at or after ``ts`` (it cannot be rebased exactly).
        The deltas before ``ts`` are then counted in it and forgotten."""
        self._drop_old(node, heard)
        if ts <= self._floor[node]:
            return None
        later = deque(d for d in self._deltas[node] if d[0] >= ts)
        self._deltas[node] = later
        self._sums[node] = None
        self._base[node] = value
        return _applied(value, later)

    def _drop_old(self, node: int, heard: float) -> None:
        kept = self._deltas[node]
        cutoff = heard - BACKLOG_CHANGES_KEPT_S
        dropped: list[tuple[float, float]] = []
        while kept and kept[0][0] < cutoff:
            dropped.append(kept.popleft())
        sums = self._sums[node]
        if dropped and sums is not None:
            # whole instants go (by time): the backlog before each kept
            # one stays what it was, the base becoming the first's
            del sums[: len(dropped)]
        if dropped:
            self._floor[node] = max(self._floor[node], dropped[-1][0])
            self._base[node] = _applied(float(self._base[node]), dropped)

    def node_state(self, node: int) -> dict[str, Any]:
        """JSON-able state of one node (for the monitor's snapshot)."""
        kept = self._deltas[node]
        floor = self._floor[node]
        return {
            "ts": [t for t, _ in kept],
            "value": [v for _, v in kept],
            "floor": None if np.isinf(floor) else float(floor),
            "base": float(self._base[node]),
        }

    def load_node(
        self, node: int, state: dict[str, Any] | None, known: float, backlog: float
    ) -> None:
        """Restore one node from :meth:`node_state`; without one (a snapshot
        taken before the changes were kept), or without its base (before
        late deltas were placed), no delta applied up to ``known`` (the
        snapshot's newest event time) can be rebased on, and the node's
        ``backlog`` is the base of the deltas to come."""
        self._sums[node] = None
        if state is None or state.get("base") is None:
            self._deltas[node] = deque()
            self._floor[node] = known
            self._base[node] = backlog
            return
        self._deltas[node] = deque(  # in time order, as kept
            zip(map(float, state["ts"]), map(float, state["value"]), strict=True)
        )
        floor = state["floor"]
        self._floor[node] = -np.inf if floor is None else float(floor)
        self._base[node] = float(state["base"])


def _after(sums: tuple[float, float]) -> float:
    """The backlog after an instant: the backlog before it and its sum."""
    return max(0.0, sums[0] + sums[1])


def _running_sums(
    base: float, deltas: Iterable[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Beside each delta (in time order) on ``base``: the backlog before its
    instant and its instant's sum up to it, as :func:`_applied` adds them."""
    out: list[tuple[float, float]] = []
    backlog = base
    for _, group in groupby(deltas, key=itemgetter(0)):
        total = 0.0
        for _, change in group:
            total += change
            out.append((backlog, total))
        backlog = max(0.0, backlog + total)
    return out


def _applied(base: float, deltas: Iterable[tuple[float, float]]) -> float:
    """``base`` with ``deltas`` (in time order) applied, floored at 0 after
    each instant: the deltas of one instant count as one change, their sum,
    so the order they came in does not matter (+500 and -600 at 11:00 on 10
    gave 0 or 500 by their arrival)."""
    backlog = base
    for _, group in groupby(deltas, key=itemgetter(0)):
        backlog = max(0.0, backlog + sum(change for _, change in group))
    return backlog
