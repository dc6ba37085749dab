"""Room prices by tier: what a unit of a node's room is worth to the
guaranteed (Platinum) orders still to come that only that node can keep.

The capacity bid price (:func:`tierflow.orchestration.bid_prices.bid_prices`)
is one dual per node, the LP's of the *expected* demand: a Platinum order
that one node alone can deliver on time, expected with probability 0.3 in
the rest of the day, is 0.3 of an order in the LP and does not make the
node's last units dear. These prices are the capacity analogue of the stock
bid prices (:mod:`tierflow.orchestration.stock_prices`): with ``N_j`` the
guaranteed orders to come that only node ``j`` can keep (Poisson, mean
from a rest-of-day sample drawn for each batch, as the bid-price LP's is)
and ``S_j`` how many of them its room holds, an item of another tier
taking ``w`` units at ``j`` pays the expected number of them it leaves
without room, ``E min(N_j, S_j) - E min(N_j, S_j')``, times what such
an order loses when it ships late. Guaranteed items pay
none of it (``docs/allocation.md``, room prices by tier).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.orchestration.stock_prices import _expected_min


@dataclass(frozen=True, slots=True, eq=False)
class GuaranteedDemand:
    """The guaranteed rows of a rest-of-day sample.

    Attributes
    ----------
    on_time
        ``(k, n_nodes)`` the nodes that can keep each row's promise (service
        and stock).
    workload
        ``(k, n_nodes)`` capacity units each row takes at each node (its
        workload times its lane's congestion there), or ``(k,)`` the same
        at every node.
    loss
        ``(k,)`` what each row costs more shipped late than on time (>= 0).
    release
        ``(k,)`` when each row is expected (UTC, seconds).
    multiplicity
        ``(k,)`` how many expected orders each row stands for.
    """

    on_time: NDArray[np.bool_]
    workload: NDArray[np.float64]
    loss: NDArray[np.float64]
    release: NDArray[np.datetime64]
    multiplicity: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class RoomPrices:
    """Per node: the guaranteed orders to come that only it can keep.

    Attributes
    ----------
    room
        ``(n_nodes,)`` room left now.
    lam
        ``(n_nodes,)`` expected count of those orders.
    size
        ``(n_nodes,)`` the mean room they take there.
    value
        ``(n_nodes,)`` their mean loss when shipped late.
    """

    room: NDArray[np.float64]
    lam: NDArray[np.float64]
    size: NDArray[np.float64]
    value: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        demand: GuaranteedDemand,
        room: NDArray[np.float64],
        now: np.datetime64,
        drawn_at: np.datetime64,
    ) -> RoomPrices:
        """The prices of ``room`` for the rows of ``demand`` (drawn at
        ``drawn_at``) still to come at ``now``: a row counts at a node when
        that node is the only one that can keep its promise and still has
        the room for it. A row released at or before ``drawn_at`` (today's
        orders released then, for want of a history to time them) counts
        until the sample is drawn again."""
        n = room.size
        release = demand.release
        keep = (release >= now.astype("datetime64[s]")) | (
            release <= drawn_at.astype("datetime64[s]")
        )
        on_time = demand.on_time[keep]
        work = demand.workload[keep]
        take = np.broadcast_to(work if work.ndim == 2 else work[:, None], on_time.shape)
        fits = on_time & (take <= room[None, :] + 1e-9)
        only = fits.sum(axis=1) == 1
        node = np.argmax(fits[only], axis=1)
        mult = demand.multiplicity[keep][only]
        lam = np.asarray(np.bincount(node, weights=mult, minlength=n), np.float64)
        safe = np.where(lam > 0, lam, 1.0)
        took = take[only][np.arange(node.size), node]  # at the one node it fits
        size = np.bincount(node, weights=mult * took, minlength=n) / safe
        loss = demand.loss[keep][only]
        value = np.bincount(node, weights=mult * loss, minlength=n) / safe
        return cls(np.maximum(room, 0.0), lam, size, value)

    def charge(
        self, guaranteed: NDArray[np.bool_], workload: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``(n_items, n_nodes)``: what each item of ``workload`` (per item,
        or per item and node: its lane's congestion counted) pays at each
        node, the expected loss of the guaranteed orders its room would have
        kept (0 for guaranteed items, and where no such order is expected)."""
        priced = self.lam > 0
        take = workload[:, None] if workload.ndim == 1 else workload
        out = np.zeros((take.shape[0], self.room.size))
        if not priced.any():
            return out
        size = np.where(priced, self.size, 1.0)
        held = np.floor(self.room / size + 1e-9).astype(np.int64)
        after = np.floor(
            np.maximum(self.room[None, :] - take, 0.0) / size + 1e-9
        ).astype(np.int64)
        lam = np.broadcast_to(self.lam, after.shape)
        lost = _expected_min(self.lam, held)[None, :] - _expected_min(lam, after)
        out = np.where(priced[None, :], self.value[None, :] * lost, 0.0)
        out[np.asarray(guaranteed, dtype=bool)] = 0.0
        return np.asarray(np.maximum(out, 0.0), dtype=np.float64)
