"""The hindsight relaxation: a linear program every allocation policy is
feasible for, so its value is a proven lower bound on each one's cost.

What an online policy may do with an order, the relaxation may do too, at no
higher cost (``docs/allocation.md`` gives the argument):

* ship it whole from a node holding all its lines (this morning's stock),
  with its tier's service — or, for a guaranteed tier, late by a fallback
  service (every policy may, once the on-time nodes are out of stock or
  room);
* split it: each line ships alone (its own billed weight, handling and the
  extra-shipment charge) or waits;
* let it wait a day — whole (one shipment) only if some node held it whole
  this morning: any other order is never a whole item under any policy, and
  its lines wait as shipments of their own;

every option priced at the order's release (its own time, or the close of
its batch when every policy compared batches the same way: a later release
can only miss cutoffs), waiting at the lowest reference any policy's
deferral uses.
Capacity and stock are shared by every option. Lines of SKUs no node holds
in the quantity ordered cannot ship under any policy and are left out: their
order is the rest of its lines (shipped whole, split or waiting as above),
as every policy ships it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.batch_compiler import line_options, stock_ok, unit_share
from tierflow.formulations.guarantee_fallback import (
    GuaranteedLate,
    LinkingRows,
    OrderContents,
    ShipColumns,
    linking_rows,
    surely_kept,
)
from tierflow.formulations.index_join import matches
from tierflow.formulations.linear_program import LinearProgram
from tierflow.formulations.order_pricing import (
    OrderOptions,
    fillable_lines,
    order_totals,
    price_orders,
    shipping_lines,
)
from tierflow.formulations.tiers import TierPolicy

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class DayInputs:
    """What the relaxation of one day is built from."""

    network: Network
    orders: Orders
    policy: TierPolicy
    spend: FloatArray
    capacity: FloatArray
    stock: NDArray[np.int64]
    #: Per order, when it reaches a node (``None``: its own time). The
    #: policies compared must release no earlier.
    release: NDArray[np.datetime64] | None = None
    #: Per node, whether its capacity stays the same all day (no capacity
    #: event, no pull-back); ``None``: every node's does. Only such nodes
    #: can prove a guaranteed order had an on-time option
    #: (:mod:`.guarantee_fallback`).
    capacity_fixed: NDArray[np.bool_] | None = None

    def released(self) -> NDArray[np.datetime64]:
        """When each order reaches a node (its release, or its own time)."""
        return self.orders.created_at if self.release is None else self.release


@dataclass(frozen=True, slots=True, eq=False)
class _Options:
    """One item kind (whole orders or lines): cost per (item, node) where it
    may ship (``inf`` elsewhere), its lowest waiting reference and workload.

    ``late`` is the cost of a guaranteed item's late fallback where it is
    cheaper than keeping the guarantee there (``inf`` elsewhere); ``None``
    when the fallback is folded into ``cost`` (the cheaper of the two).
    ``on_time`` marks the pairs that keep the guarantee."""

    cost: FloatArray
    late: FloatArray | None
    on_time: NDArray[np.bool_]
    reference: FloatArray
    workload: FloatArray

    @classmethod
    def of(
        cls,
        options: OrderOptions,
        have: NDArray[np.bool_],
        extra: float,
        *,
        separate_late: bool = False,
    ) -> _Options:
        on_time = np.where(options.feasible, options.shipping + options.penalty, np.inf)
        late = np.where(
            options.relaxed_service >= 0,
            options.relaxed_shipping + options.relaxed_penalty,
            np.inf,
        )
        fixed = options.handling + extra
        waiting = np.fmin(
            np.where(
                options.feasible,
                options.shipping + options.deferred_penalty,
                np.inf,
            ),
            np.where(
                options.relaxed_service >= 0,
                options.relaxed_shipping + options.relaxed_deferred_penalty,
                np.inf,
            ),
        )
        reference = np.min(waiting + fixed, axis=1)
        if separate_late:
            cost = np.where(have, on_time + fixed, np.inf)
            cheaper = have & (late < on_time - 1e-9)
            late_cost: FloatArray | None = np.where(cheaper, late + fixed, np.inf)
        else:
            cost = np.where(have, np.fmin(on_time, late) + fixed, np.inf)
            late_cost = None
        return cls(
            cost=cost,
            late=late_cost,
            on_time=np.asarray(options.feasible & have, dtype=np.bool_),
            reference=np.where(np.isfinite(reference), reference, 0.0),
            workload=options.workload,
        )


def hindsight_relaxation(day: DayInputs) -> LinearProgram:
    """The relaxation of the whole day (see the module docstring)."""
    o, net = day.orders, day.network
    ships = fillable_lines(o, day.stock)
    # an order of unfillable lines only ships nothing under any policy
    dead = np.bincount(o.line_order, weights=ships, minlength=o.n_orders) == 0
    live = np.flatnonzero(~dead).astype(np.intp)
    lines = np.flatnonzero(ships).astype(np.intp)
    release = day.release
    have = stock_ok(o, live, day.stock, ships)
    whole = _Options.of(
        price_orders(
            net,
            o,
            live,
            day.policy,
            release=None if release is None else release[live],
            ships=ships,
        ),
        have,
        0.0,
        separate_late=True,
    )
    qty = o.line_qty[lines]
    owner = o.line_order[lines]
    split = _Options.of(
        line_options(
            net,
            o,
            lines,
            day.policy,
            release=None if release is None else release[owner],
        ),
        qty[:, None] <= day.stock[:, o.line_sku[lines]].T,
        day.policy.split_shipment_cost,
        separate_late=True,
    )
    penalty = day.policy.defer_cost(o.tier, day.spend)
    share = unit_share(o, lines, ships)
    alone = split.reference + penalty[owner] * share
    # Only an order some node held whole this morning is ever a whole item
    # (stock only falls during the day); any other order's lines wait as
    # lines of their own, each its own shipment, under every policy.
    whole_item = np.zeros(o.n_orders, dtype=bool)
    whole_item[live] = have.any(axis=1)
    as_lines = np.zeros(o.n_orders)
    np.add.at(as_lines, owner, alone)
    wait_whole = np.where(
        whole_item[live], whole.reference + penalty[live], as_lines[live]
    )
    whole_defer = np.full(o.n_orders, np.inf)
    whole_defer[live] = np.where(whole_item[live], wait_whole, np.inf)
    wait_line = np.minimum(alone, whole_defer[owner] * share)
    return _Builder(day, live, lines, ships).build(whole, split, wait_whole, wait_line)


#: At most this many (item, node) guarantee pairs: when orders carry a
#: promised date (simulate writes the date shown at checkout) every order is
#: guaranteed, and all of their pairs would make the program several times
#: larger than the day's own.
PAIR_BUDGET = 20_000


def _within_budget(
    keeper: NDArray[np.bool_], capacity: FloatArray
) -> NDArray[np.bool_]:
    """``keeper`` itself when it has at most :data:`PAIR_BUDGET` pairs; else
    each item keeps its largest-capacity nodes (the least likely to fill),
    as many as the budget allows. Dropping a node from an item's set drops
    rows, so the program stays a relaxation, only a weaker one."""
    if int(keeper.sum()) <= PAIR_BUDGET:
        return keeper
    per_item = max(1, PAIR_BUDGET // max(keeper.shape[0], 1))
    rank = np.argsort(np.argsort(-capacity, kind="stable"), kind="stable")
    score = np.where(keeper, rank[None, :], keeper.shape[1])
    kept_rank = np.sort(score, axis=1)[:, min(per_item, keeper.shape[1]) - 1]
    return np.asarray(keeper & (score <= kept_rank[:, None]), dtype=np.bool_)


class _ShipLog:
    """What every shipping column does, kept for the guarantee rows."""

    def __init__(self) -> None:
        self.parts: list[
            tuple[
                NDArray[np.intp], NDArray[np.intp], FloatArray, NDArray[np.datetime64]
            ]
        ] = []
        self.uses: list[tuple[NDArray[np.int64], NDArray[np.int64], FloatArray]] = []

    def add(
        self,
        node: NDArray[np.intp],
        order: NDArray[np.intp],
        workload: FloatArray,
        release: NDArray[np.datetime64],
        use: tuple[NDArray[np.int64], NDArray[np.int64], FloatArray],
    ) -> None:
        self.parts.append((node, order, workload, release))
        self.uses.append(use)

    def columns(self) -> ShipColumns:
        """Every logged column, indexed by its number in the program (the
        shipping columns come first, in order, so the numbers line up)."""
        return ShipColumns(
            node=np.concatenate([n for n, _, _, _ in self.parts]).astype(np.int64),
            order=np.concatenate([o for _, o, _, _ in self.parts]).astype(np.int64),
            workload=np.concatenate([w for _, _, w, _ in self.parts]),
            release=np.concatenate([r for _, _, _, r in self.parts]),
            use_col=np.concatenate([c for c, _, _ in self.uses]),
            use_sku=np.concatenate([k for _, k, _ in self.uses]),
            use_qty=np.concatenate([q for _, _, q in self.uses]),
        )


class _Builder:
    """Assembles the columns and rows (order rows, line rows, capacity, stock)."""

    def __init__(
        self,
        day: DayInputs,
        live: NDArray[np.intp],
        lines: NDArray[np.intp],
        ships: NDArray[np.bool_],
    ) -> None:
        self.day, self.live, self.lines, self.ships = day, live, lines, ships
        o = day.orders
        self.n_live, self.n_lines = live.size, lines.size
        self.n_nodes = day.network.n_nodes
        live_row = np.full(o.n_orders, -1)
        live_row[live] = np.arange(live.size)
        self.live_row = live_row
        self.cols: list[tuple[NDArray[np.intp], NDArray[np.intp], FloatArray]] = []
        self.costs: list[FloatArray] = []
        self.n_cols = 0
        self.row_nodes = self.n_live + self.n_lines  # first capacity row
        self.ship = _ShipLog()
        self.linking: LinkingRows | None = None

    def build(
        self,
        whole: _Options,
        split: _Options,
        wait_whole: FloatArray,
        wait_line: FloatArray,
    ) -> LinearProgram:
        o = self.day.orders
        released = self.day.released()
        release = np.concatenate(
            [released[self.live], released[o.line_order[self.lines]]]
        )
        owner = np.concatenate([self.live, o.line_order[self.lines]])
        n = self.n_live
        kinds = (
            (whole, self._whole_rows(), self._whole_stock(), release[:n], owner[:n]),
            (split, self._line_rows(), self._line_stock(), release[n:], owner[n:]),
        )
        for opts, rows, stock, at, of in kinds:
            self._ship_columns(opts, opts.cost, rows, stock, (at, of))
        late = [
            self._ship_columns(opts, opts.late, rows, stock, (at, of))
            for opts, rows, stock, at, of in kinds
            if opts.late is not None
        ]
        eye_live = np.arange(self.n_live)
        self._add(eye_live, eye_live, np.ones(self.n_live), wait_whole)  # wait
        # split: +1 in its order row, -1 in each of its lines' rows
        owner = self.live_row[o.line_order[self.lines]]
        of_live = np.flatnonzero(owner >= 0)
        start = self.n_cols
        self._add(eye_live, eye_live, np.ones(self.n_live), np.zeros(self.n_live))
        self._extend(
            self.n_live + of_live, start + owner[of_live], -np.ones(of_live.size)
        )
        eye_line = np.arange(self.n_lines)
        self._add(self.n_live + eye_line, eye_line, np.ones(self.n_lines), wait_line)
        if len(late) == 2:
            # A line ships late from a split stage, which the hindsight plan
            # runs after placing the whole day: judged against the whole day.
            decided = release.copy()
            if release.size:
                decided[self.n_live :] = np.max(release)
            self.linking = self._guarantee_rows(whole, split, late, decided)
        return self._program()

    def _guarantee_rows(
        self,
        whole: _Options,
        split: _Options,
        late: list[tuple[NDArray[np.int64], NDArray[np.intp]]],
        release: NDArray[np.datetime64],
    ) -> LinkingRows | None:
        """Late fallbacks only where every on-time node may have run out
        (:mod:`.guarantee_fallback`); items are whole orders, then lines."""
        (whole_cols, whole_item), (line_cols, line_item) = late
        late_col = np.concatenate([whole_cols, line_cols])
        if late_col.size == 0:
            return None
        day, o = self.day, self.day.orders
        late_owner = np.concatenate([whole_item, self.n_live + line_item])
        workload = np.concatenate([whole.workload, split.workload])
        keeper = np.concatenate([whole.on_time, split.on_time]) & (
            workload[:, None] <= day.capacity[None, :]
        )
        if day.capacity_fixed is not None:
            keeper &= day.capacity_fixed[None, :]
        items = np.unique(late_owner)
        keeper_owner, keeper_node = np.nonzero(keeper[items])
        whole_lines, counts = shipping_lines(o, self.live, self.ships)
        ls = np.concatenate([whole_lines, self.lines])
        line_owner = np.concatenate(
            [
                np.repeat(np.arange(self.n_live), counts),
                self.n_live + np.arange(self.n_lines),
            ]
        )
        every = GuaranteedLate(
            late_col=late_col,
            late_owner=late_owner.astype(np.int64),
            order=np.concatenate([self.live, o.line_order[self.lines]]).astype(
                np.int64
            ),
            release=release,
            workload=workload,
            keeper_owner=items[keeper_owner].astype(np.int64),
            keeper_node=keeper_node.astype(np.int64),
            line_owner=line_owner.astype(np.int64),
            line_sku=o.line_sku[ls].astype(np.int64),
            line_qty=o.line_qty[ls].astype(np.float64),
        )
        ship = self.ship.columns()
        sure = surely_kept(every, ship, day.capacity, day.stock, self._contents())
        on_time = np.zeros(keeper.shape[0], dtype=bool)
        on_time[every.keeper_owner[sure]] = True
        doubtful = items[~on_time[items]]
        keeper_owner, keeper_node = np.nonzero(
            _within_budget(keeper[doubtful], day.capacity)
        )
        rows = dataclasses.replace(
            every,
            keeper_owner=doubtful[keeper_owner].astype(np.int64),
            keeper_node=keeper_node.astype(np.int64),
        )
        return linking_rows(
            rows, ship, day.capacity, day.stock, kept=late_col[on_time[late_owner]]
        )

    def _contents(self) -> OrderContents:
        """What each order of the day can take at most (workload, units)."""
        o, net = self.day.orders, self.day.network
        _, work, _ = order_totals(net, o, np.arange(o.n_orders))
        key = o.line_order.astype(np.int64) * net.n_skus + o.line_sku
        sku_key, at = np.unique(key, return_inverse=True)
        qty = np.bincount(at, weights=o.line_qty.astype(np.float64)).astype(float)
        return OrderContents(work, sku_key.astype(np.int64), qty)

    # ---------------------------------------------------------------- rows
    def _whole_rows(self) -> NDArray[np.intp]:
        return np.arange(self.n_live)

    def _line_rows(self) -> NDArray[np.intp]:
        return self.n_live + np.arange(self.n_lines)

    def _whole_stock(self) -> tuple[NDArray[np.intp], NDArray[np.intp], FloatArray]:
        """(item, sku, units) of every line of the whole orders that ships."""
        o = self.day.orders
        ls, counts = shipping_lines(o, self.live, self.ships)
        item = np.repeat(np.arange(self.n_live), counts)
        return item, o.line_sku[ls], o.line_qty[ls].astype(np.float64)

    def _line_stock(self) -> tuple[NDArray[np.intp], NDArray[np.intp], FloatArray]:
        o = self.day.orders
        item = np.arange(self.n_lines)
        return item, o.line_sku[self.lines], o.line_qty[self.lines].astype(np.float64)

    # ------------------------------------------------------------- columns
    def _ship_columns(
        self,
        opts: _Options,
        cost: FloatArray,
        item_rows: NDArray[np.intp],
        stock_use: tuple[NDArray[np.intp], NDArray[np.intp], FloatArray],
        when: tuple[NDArray[np.datetime64], NDArray[np.intp]],
    ) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
        """One column per (item, node) where ``cost`` is finite; their
        numbers and items. ``when``: each item's release and order."""
        release, of_order = when
        item, node = np.nonzero(np.isfinite(cost))
        first = self.n_cols
        col = first + np.arange(item.size)
        self.n_cols += item.size
        self.costs.append(cost[item, node])
        self._extend(item_rows[item], col, np.ones(item.size))
        cap_row = self.row_nodes + node
        self._extend(cap_row, col, opts.workload[item])
        use = self._stock_entries(item, node, col, stock_use)
        self.ship.add(node, of_order[item], opts.workload[item], release[item], use)
        return col.astype(np.int64), item.astype(np.intp)

    def _stock_entries(
        self,
        item: NDArray[np.intp],
        node: NDArray[np.intp],
        col: NDArray[np.intp],
        stock_use: tuple[NDArray[np.intp], NDArray[np.intp], FloatArray],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray]:
        """Stock rows are keyed (node, SKU); their row numbers come later.
        Returns the entries (column, SKU, units)."""
        use_item, use_sku, use_qty = stock_use
        pos, rep = matches(use_item, item)
        key = node[rep].astype(np.int64) * self.day.network.n_skus + use_sku[pos]
        self.cols.append((-1 - key, col[rep], use_qty[pos]))  # negative: stock key
        return col[rep].astype(np.int64), use_sku[pos].astype(np.int64), use_qty[pos]

    def _add(
        self,
        rows: NDArray[np.intp],
        item: NDArray[np.intp],
        coef: FloatArray,
        cost: FloatArray,
    ) -> None:
        """A column per entry of ``item`` with one coefficient in ``rows``."""
        col = self.n_cols + np.arange(item.size)
        self.n_cols += item.size
        self.costs.append(np.asarray(cost, dtype=np.float64))
        self._extend(rows, col, coef)

    def _extend(
        self, rows: NDArray[np.intp], cols: NDArray[np.intp], vals: FloatArray
    ) -> None:
        self.cols.append((rows.astype(np.int64), cols.astype(np.int64), vals))

    def _program(self) -> LinearProgram:
        n_ship = sum(r.size for r, _, _ in self.cols)
        link = self.linking
        parts = (
            self.cols
            if link is None
            else [*self.cols, (link.rows, link.cols, link.vals)]
        )
        # one concatenation of every entry (8.7 M on the demo day), the
        # linking rows' local coordinates made global in place below
        rows = np.concatenate([r for r, _, _ in parts])
        cols = np.concatenate([c for _, c, _ in parts])
        vals = np.concatenate([v for _, _, v in parts])
        own_rows = rows[:n_ship]
        stock = own_rows < 0
        keys, stock_row = np.unique(-1 - own_rows[stock], return_inverse=True)
        first_stock = self.row_nodes + self.n_nodes
        own_rows[stock] = first_stock + stock_row
        n_rows = first_stock + keys.size
        lower, upper = self._row_bounds(keys, n_rows)
        # Every column here is at most 1 at every feasible point: a whole
        # item's columns (ship, late, wait, split) sit with +1 in its order
        # row (= 1); a line's (ship, late, wait) with +1 in its line row,
        # which is 1 or its order's split column (<= 1). Saying so changes
        # no feasible point, and lets a stopped simplex's duals prove a
        # bound (:func:`tierflow.solver.linear_program.dual_bound`).
        c, col_upper = np.concatenate(self.costs), np.ones(self.n_cols)
        n_cols = self.n_cols
        integer = None
        if link is not None:  # appended after every other row and column
            rows[n_ship:] += n_rows
            link_cols = cols[n_ship:]
            own = link_cols < 0
            link_cols[own] = -1 - link_cols[own]
            link_cols[~own] += n_cols
            lower = np.concatenate([lower, link.row_lower])
            upper = np.concatenate([upper, link.row_upper])
            c = np.concatenate([c, np.zeros(link.n_cols)])
            col_upper = np.concatenate([col_upper, link.col_upper])
            integer = np.concatenate([np.zeros(n_cols, dtype=bool), link.integer])
            n_rows, n_cols = n_rows + link.n_rows, n_cols + link.n_cols
        # column-wise, as HiGHS takes it (no row-wise copy to convert)
        matrix = sp.csc_matrix((vals, (rows, cols)), shape=(n_rows, n_cols))
        return LinearProgram(
            c=c,
            matrix=matrix,
            row_lower=lower,
            row_upper=upper,
            col_upper=col_upper,
            name="hindsight relaxation",
            integer=integer,
        )

    def _row_bounds(
        self, keys: NDArray[np.int64], n_rows: int
    ) -> tuple[FloatArray, FloatArray]:
        """Order rows = 1, line rows = 0 (each line ships or waits as its
        order's split column says), capacity <= room, stock <= units on hand."""
        day = self.day
        lower = np.full(n_rows, -np.inf)
        upper = np.empty(n_rows)
        lower[: self.n_live] = upper[: self.n_live] = 1.0
        sl = slice(self.n_live, self.n_live + self.n_lines)
        lower[sl] = upper[sl] = 0.0
        cap = slice(self.row_nodes, self.row_nodes + self.n_nodes)
        upper[cap] = np.maximum(day.capacity, 0.0)
        n_skus = day.network.n_skus
        upper[self.row_nodes + self.n_nodes :] = day.stock[
            keys // n_skus, keys % n_skus
        ]
        return lower, upper
