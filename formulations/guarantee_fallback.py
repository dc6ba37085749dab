"""When the hindsight relaxation may ship a guaranteed (Platinum) order late.

Every policy the relaxation bounds ships a guaranteed order late only when,
at its decision, no node that could deliver it on time has both its stock and
the room for it (:func:`tierflow.formulations.batch_compiler.relaxed_pairs`).
Without more, the relaxation would ship it late whenever the late fallback
is cheaper — something no policy does — and the bound would include the
price of breaking the guarantee by choice.

The rows built here say, per guaranteed item ``i`` (a whole order, or a
line shipped alone) with a late column and per node ``j`` that could keep
its guarantee from the day's stock and capacity (the set ``J_i``)::

    late_i <= room_ij + sum_l stock_ijl
    load_j(by t_i)         >= (capacity_j - workload_i) * room_ij
    units_j,sku(l)(by t_i) >= (stock_j,sku(l) - qty_l + 1) * stock_ijl

with ``room``, ``stock`` in ``[0, 1]`` and "by ``t_i``" meaning shipped by
other orders released no later than ``i``'s decision ``t_i``. A policy that
ships ``i`` late had every ``j`` of ``J_i`` out of room or out of some
line's stock at ``t_i``, taken by such orders, so setting the matching
indicator to 1 satisfies the rows: the relaxation stays a relaxation of
every policy. ``t_i`` is the order's release for whole orders (online
batches and the one-shot hindsight plan both decide them against what was
taken before); for lines it is the end of the day, since the hindsight plan
splits orders after placing the whole day. Nodes whose capacity changes
during the day (capacity events, pull-backs) are left out of ``J_i``; fewer
rows only loosen the bound.

The indicators are the program's integer columns: as an LP the rows are
weak (half a node's load lets half an order go late), and branch and bound
on them (:func:`tierflow.solver.linear_program.lower_bound`) gives the
bound its strength. ``load_j`` is a running sum over release times (one
chain of variables per node), so the rows stay sparse however many orders
came before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.index_join import matches, matches_by_then, running_totals

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class ShipColumns:
    """Every shipping column of the relaxation: where it ships from, the
    workload it puts there, when its order was released, and the stock it
    uses (``use_col``, ``use_sku``, ``use_qty``: one entry per line)."""

    node: IntArray
    #: The order each column ships (part of).
    order: IntArray
    workload: FloatArray
    release: NDArray[np.datetime64]
    use_col: IntArray
    use_sku: IntArray
    use_qty: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class GuaranteedLate:
    """The guaranteed orders that may ship late, and what could keep them on time.

    ``late_cols[k]`` are order ``k``'s late columns; ``keepers`` are its
    ``(k, node)`` pairs of ``J_k``; ``lines`` its ``(k, sku, qty)`` lines.
    """

    late_col: IntArray
    late_owner: IntArray
    #: Per item, its order (what it consumes is not counted against it).
    order: IntArray
    release: NDArray[np.datetime64]
    workload: FloatArray
    keeper_owner: IntArray
    keeper_node: IntArray
    line_owner: IntArray
    line_sku: IntArray
    line_qty: FloatArray


@dataclass(slots=True)
class LinkingRows:
    """Columns and rows to append to the relaxation (coordinates are local:
    column ``c`` is ``first_col + c``, row ``r`` is ``first_row + r``)."""

    n_cols: int
    n_rows: int
    #: Entries (row, column, value); ``col < 0`` means the existing column
    #: ``-1 - col``.
    rows: IntArray
    cols: IntArray
    vals: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    #: The indicator columns (integral in the relaxation's MIP form).
    integer: NDArray[np.bool_]


def linking_rows(
    late: GuaranteedLate,
    ship: ShipColumns,
    capacity: FloatArray,
    stock: NDArray[np.int64],
    kept: IntArray | None = None,
) -> LinkingRows:
    """The rows and indicator columns of the module docstring; the late
    columns ``kept`` (of items :func:`surely_kept` proved on time) are
    fixed at 0."""
    builder = _Linker(late, ship)
    builder.room_rows(capacity)
    builder.stock_rows(stock)
    if kept is not None:
        builder.fix_at_zero(kept)
    return builder.done()


@dataclass(frozen=True, slots=True, eq=False)
class OrderContents:
    """Per order, what it can take at most: its workload, and its units of
    each SKU (``sku_key`` = order x n_skus + SKU, sorted, with ``sku_qty``)."""

    workload: FloatArray
    sku_key: IntArray
    sku_qty: FloatArray

    def qty(self, key: IntArray) -> FloatArray:
        """Units of each ``order x n_skus + SKU`` key (all present)."""
        return self.sku_qty[np.searchsorted(self.sku_key, key)]


def surely_kept(
    late: GuaranteedLate,
    ship: ShipColumns,
    capacity: FloatArray,
    stock: NDArray[np.int64],
    contents: OrderContents,
) -> NDArray[np.bool_]:
    """Per ``(item, node)`` pair of ``late``: whether the node still has the
    room and every line's stock at the item's decision under *any* policy —
    because all the other orders released by then could not fill it even if
    every one of them shipped from it. Such an item is never shipped late
    by a policy (:func:`tierflow.formulations.batch_compiler.relaxed_pairs`),
    so its late columns may be fixed at 0: on a day with slack most of them
    are, which the indicator rows alone (weak as an LP) would leave to
    branch and bound."""
    owner = late.keeper_owner
    node = late.keeper_node
    t = _seconds(late.release[owner])
    mine = late.order[owner]
    # load: per (node, order), at most the order's workload
    n_orders = contents.workload.size
    pair_key, at = np.unique(ship.node * n_orders + ship.order, return_inverse=True)
    load = np.minimum(
        np.bincount(at, weights=ship.workload, minlength=pair_key.size),
        contents.workload[pair_key % n_orders],
    )
    released = np.zeros(pair_key.size, dtype=np.int64)
    released[at] = _seconds(ship.release)
    by_then = running_totals(pair_key // n_orders, released, load, node, t)
    room = by_then - _own(pair_key, load, node * n_orders + mine) <= (
        capacity[node] - late.workload[owner] + 1e-9
    )
    # stock: per (node, SKU, order), at most the order's units of the SKU
    return room & _stock_kept(late, ship, stock, contents)


def _stock_kept(
    late: GuaranteedLate,
    ship: ShipColumns,
    stock: NDArray[np.int64],
    contents: OrderContents,
) -> NDArray[np.bool_]:
    """Per pair: every line's SKU provably left at the node (see above)."""
    n_skus = stock.shape[1]
    n_orders = contents.workload.size
    use_node = ship.node[ship.use_col]
    use_order = ship.order[ship.use_col]
    triple = (use_node * n_skus + ship.use_sku) * n_orders + use_order
    key, at = np.unique(triple, return_inverse=True)
    units = np.minimum(
        np.bincount(at, weights=ship.use_qty, minlength=key.size),
        contents.qty((key % n_orders) * n_skus + (key // n_orders) % n_skus),
    )
    released = np.zeros(key.size, dtype=np.int64)
    released[at] = _seconds(ship.release[ship.use_col])
    line_idx, pair_idx = matches(late.line_owner, late.keeper_owner)
    node = late.keeper_node[pair_idx]
    sku = late.line_sku[line_idx]
    mine = late.order[late.keeper_owner[pair_idx]]
    t = _seconds(late.release[late.keeper_owner[pair_idx]])
    by_then = running_totals(key // n_orders, released, units, node * n_skus + sku, t)
    own = _own(key, units, (node * n_skus + sku) * n_orders + mine)
    short = by_then - own > stock[node, sku] - late.line_qty[line_idx] + 1e-9
    short_lines = np.bincount(pair_idx[short], minlength=late.keeper_owner.size)
    return np.asarray(short_lines == 0, dtype=np.bool_)


def _own(key: IntArray, amount: FloatArray, query: IntArray) -> FloatArray:
    """``amount`` at each ``query`` key of the sorted ``key`` (0 if absent)."""
    if key.size == 0:
        return np.zeros(query.size)
    pos = np.minimum(np.searchsorted(key, query), key.size - 1)
    return np.where(key[pos] == query, amount[pos], 0.0)


def _seconds(times: NDArray[np.datetime64]) -> IntArray:
    return np.asarray(times.astype("datetime64[s]").astype(np.int64), dtype=np.int64)


class _Linker:
    def __init__(self, late: GuaranteedLate, ship: ShipColumns) -> None:
        self.late, self.ship = late, ship
        self.n_keep = late.keeper_owner.size
        # rows 0..n_keep-1: late_i - room_ij - sum stock_ijl <= 0
        self.n_rows = self.n_keep
        self.n_cols = 0
        self.entries: list[tuple[IntArray, IntArray, FloatArray]] = []
        self.lower: list[FloatArray] = [np.full(self.n_keep, -np.inf)]
        self.upper: list[FloatArray] = [np.zeros(self.n_keep)]
        self.col_upper: list[FloatArray] = []
        self.integer: list[NDArray[np.bool_]] = []
        # late_i into every pair row of its order
        pair_rows, pair_cols = matches(late.keeper_owner, late.late_owner)
        self.entries.append(
            (pair_rows, -1 - late.late_col[pair_cols], np.ones(pair_rows.size))
        )

    # ------------------------------------------------------------------ room
    def room_rows(self, capacity: FloatArray) -> None:
        """``room_ij``: node ``j`` full by ``i``'s release (a load chain per node)."""
        late, ship = self.late, self.ship
        pair = np.arange(self.n_keep)
        room = self._new_cols(self.n_keep, 1.0)
        self._put(pair, room, -np.ones(self.n_keep))
        need = capacity[late.keeper_node] - late.workload[late.keeper_owner]
        t_pair = late.release[late.keeper_owner]
        for j in np.unique(late.keeper_node).tolist():
            mine = np.flatnonzero(late.keeper_node == j)
            times = np.unique(t_pair[mine])
            cols = np.flatnonzero(ship.node == j)
            seg = np.searchsorted(times, ship.release[cols], side="left")
            keep = seg < times.size
            # load_j up to times[k]: the workload of the columns released
            # by then, each at most 1 (its order or line row) — so at most
            # their total, and the node's capacity row caps it too
            # (the capacity row caps it only if no column there frees room)
            cap = capacity[j] if (ship.workload[cols] >= 0).all() else np.inf
            load_upper = self._load_upper(
                ship.workload[cols[keep]], seg[keep], times.size, float(cap)
            )
            chain = self._new_cols(times.size, load_upper, indicator=False)
            rows = self._new_rows(times.size, 0.0, 0.0)
            # load_k - load_{k-1} - sum(new columns) = 0
            self._put(rows, chain, np.ones(times.size))
            self._put(rows[1:], chain[:-1], -np.ones(times.size - 1))
            self._put(rows[seg[keep]], -1 - cols[keep], -ship.workload[cols[keep]])
            # load_j(t_i) - need_ij * room_ij >= 0
            link = self._new_rows(mine.size, 0.0, np.inf)
            k = np.searchsorted(times, t_pair[mine])
            self._put(link, chain[k], np.ones(mine.size))
            self._put(link, room[mine], -np.maximum(need[mine], 0.0))
            # the order's own columns at j do not count against it
            pos, q = matches(ship.order[cols], late.order[late.keeper_owner[mine]])
            own_cols = cols[pos]
            self._put(link[q], -1 - own_cols, -ship.workload[own_cols])

    @staticmethod
    def _load_upper(
        workload: FloatArray, seg: IntArray, n: int, capacity: float
    ) -> FloatArray:
        """Per link of a node's load chain (``n`` of them), the most it holds
        at any feasible point: the workload of the shipping columns released
        by then (``seg``: the link each joins; each column is at most 1), and
        at most ``capacity`` (the node's capacity row holds every column of
        the node; ``inf`` when one of them has a negative workload)."""
        total = np.cumsum(
            np.bincount(seg, weights=np.maximum(workload, 0.0), minlength=n)
        )[:n]
        return np.asarray(np.minimum(total, max(capacity, 0.0)), dtype=np.float64)

    # ----------------------------------------------------------------- stock
    def stock_rows(self, stock: NDArray[np.int64]) -> None:
        """``stock_ijl``: line ``l``'s SKU at node ``j`` used up by ``i``'s release."""
        late, ship = self.late, self.ship
        # every (pair, line of its order)
        line_idx, pair_idx = matches(late.line_owner, late.keeper_owner)
        n = pair_idx.size
        if n == 0:
            return
        ind = self._new_cols(n, 1.0)
        self._put(pair_idx, ind, -np.ones(n))
        node = late.keeper_node[pair_idx]
        sku = late.line_sku[line_idx]
        t = late.release[late.keeper_owner[pair_idx]]
        need = stock[node, sku] - late.line_qty[line_idx] + 1.0
        rows = self._new_rows(n, 0.0, np.inf)
        self._put(rows, ind, -need)
        # units of (node, sku) by other orders' columns released <= t: the
        # entries of the demo day's program are mostly these (7 M of 8.7 M),
        # so only they are made (the pairs of later columns never are)
        use_node = ship.node[ship.use_col]
        key_pair = node.astype(np.int64) * (1 << 32) + sku
        key_use = use_node.astype(np.int64) * (1 << 32) + ship.use_sku
        pos, rep = matches_by_then(
            key_use, _seconds(ship.release[ship.use_col]), key_pair, _seconds(t)
        )
        use_col = ship.use_col[pos]
        owner_order = late.order[late.keeper_owner[pair_idx]]
        other = ship.order[use_col] != owner_order[rep]
        self._put(rows[rep[other]], -1 - use_col[other], ship.use_qty[pos[other]])

    def fix_at_zero(self, cols: IntArray) -> None:
        """Rows ``x_c <= 0`` for the existing columns ``cols``."""
        rows = self._new_rows(cols.size, -np.inf, 0.0)
        self._put(rows, -1 - cols, np.ones(cols.size))

    # ---------------------------------------------------------------- helpers
    def _new_cols(
        self, n: int, upper: float | FloatArray, *, indicator: bool = True
    ) -> IntArray:
        """``n`` new columns in ``[0, upper]``: indicators unless told not."""
        first = self.n_cols
        self.n_cols += n
        self.col_upper.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self.integer.append(np.full(n, indicator))
        return np.arange(first, first + n, dtype=np.int64)

    def _new_rows(self, n: int, lower: float, upper: float) -> IntArray:
        first = self.n_rows
        self.n_rows += n
        self.lower.append(np.full(n, lower))
        self.upper.append(np.full(n, upper))
        return np.arange(first, first + n, dtype=np.int64)

    def _put(self, rows: IntArray, cols: IntArray, vals: FloatArray) -> None:
        self.entries.append(
            (
                rows.astype(np.int64, copy=False),
                cols.astype(np.int64, copy=False),
                np.asarray(vals, float),
            )
        )

    def done(self) -> LinkingRows:
        def cat(parts: list[FloatArray]) -> FloatArray:
            return np.concatenate(parts) if parts else np.zeros(0)

        return LinkingRows(
            n_cols=self.n_cols,
            n_rows=self.n_rows,
            rows=np.concatenate([r for r, _, _ in self.entries]),
            cols=np.concatenate([c for _, c, _ in self.entries]),
            vals=np.concatenate([v for _, _, v in self.entries]),
            col_upper=cat(self.col_upper),
            row_lower=cat(self.lower),
            row_upper=cat(self.upper),
            integer=np.concatenate(self.integer).astype(bool),
        )
