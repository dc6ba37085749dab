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

Dropping happens only when an event of the node's backlog is applied, with
the feed's clock of that moment, so every replica replaying the same log
(and a restart from a snapshot) keeps the same changes.
"""

from __future__ import annotations

from collections import deque
from operator import itemgetter
from typing import Any

import numpy as np

#: How long (seconds of the feed's clock) the deltas after a node's newest
#: absolute backlog are kept for rebasing a late absolute backlog on them.
BACKLOG_CHANGES_KEPT_S = 6 * 3600.0


class BacklogChanges:
    """Per node: the ``(ts, value)`` deltas applied since its newest absolute
    backlog (and kept), and the newest ``ts`` of those dropped (``floor``)."""

    def __init__(self, n_nodes: int) -> None:
        self._deltas: list[deque[tuple[float, float]]] = [
            deque() for _ in range(n_nodes)
        ]
        self._floor = np.full(n_nodes, -np.inf)

    def add(self, node: int, ts: float, value: float, heard: float) -> None:
        """A delta dated ``ts`` was applied to the node's backlog; ``heard``
        is the feed's clock (the newest event time, capped at its receipt)."""
        self._drop_old(node, heard)
        self._deltas[node].append((ts, value))

    def rebase(self, node: int, ts: float, value: float, heard: float) -> float | None:
        """The backlog of an absolute ``value`` as of ``ts`` with the kept
        deltas dated at or after ``ts`` applied on it in time order (each
        floored at 0, as a delta is when applied); None when a dropped
        delta was dated at or after ``ts`` (it cannot be rebased exactly).
        The deltas before ``ts`` are then counted in it and forgotten."""
        self._drop_old(node, heard)
        if ts <= self._floor[node]:
            return None
        # by time alone: deltas of one instant keep the order they came in
        later = sorted((d for d in self._deltas[node] if d[0] >= ts), key=itemgetter(0))
        backlog = value
        for _, change in later:
            backlog = max(0.0, backlog + change)
        self._deltas[node] = deque(later)
        return backlog

    def _drop_old(self, node: int, heard: float) -> None:
        kept = self._deltas[node]
        cutoff = heard - BACKLOG_CHANGES_KEPT_S
        while kept and kept[0][0] < cutoff:
            self._floor[node] = max(self._floor[node], kept.popleft()[0])

    def node_state(self, node: int) -> dict[str, Any]:
        """JSON-able state of one node (for the monitor's snapshot)."""
        kept = self._deltas[node]
        floor = self._floor[node]
        return {
            "ts": [t for t, _ in kept],
            "value": [v for _, v in kept],
            "floor": None if np.isinf(floor) else float(floor),
        }

    def load_node(self, node: int, state: dict[str, Any] | None, known: float) -> None:
        """Restore one node from :meth:`node_state`; without one (a snapshot
        taken before the changes were kept), no delta applied up to
        ``known`` (the snapshot's newest event time) can be rebased on."""
        if state is None:
            self._deltas[node] = deque()
            self._floor[node] = known
            return
        self._deltas[node] = deque(
            zip(map(float, state["ts"]), map(float, state["value"]), strict=True)
        )
        floor = state["floor"]
        self._floor[node] = -np.inf if floor is None else float(floor)
