"""One batch of orders compiled into the problem its engine solves.

Orders some node can fill whole are items; the lines of the others are
items too (split stage); both share the capacity and stock left. A line no
node held this morning is unfillable and left out: its order is the rest of
its lines. The hindsight bound compiles the whole day the same way
(``docs/allocation.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.vocabulary import TIERS, Tier
from tierflow.formulations.batch_compiler import RoomCharge, StockPrice, unit_share
from tierflow.formulations.fulfillment import (
    CompiledBatch,
    OrderOptions,
    compile_lines,
    compile_orders,
    concat_batches,
)
from tierflow.formulations.order_pricing import fillable_lines, shipping_lines
from tierflow.formulations.tiers import TierPolicy

_PLATINUM = TIERS.index(Tier.PLATINUM)
#: An order's reserved node when its lines were reserved at several nodes.
SEVERAL = -2


def subset_batch(compiled: CompiledBatch, keep: NDArray[np.intp]) -> CompiledBatch:
    """The batch restricted to items ``keep`` (same nodes and SKUs)."""
    opts = compiled.options
    counts = np.diff(compiled.item_lines)[keep]
    starts = compiled.item_lines[keep]
    lines = (
        np.concatenate(
            [compiled.lines[s : s + c] for s, c in zip(starts, counts, strict=True)]
        )
        if keep.size
        else np.zeros(0, np.intp)
    )
    return CompiledBatch(
        problem=compiled.problem.subset(keep),
        options=OrderOptions(
            **{f.name: getattr(opts, f.name)[keep] for f in dataclasses.fields(opts)}
        ),
        item_order=compiled.item_order[keep],
        item_lines=np.concatenate([[0], np.cumsum(counts)]).astype(np.intp),
        lines=lines.astype(np.intp),
        skus=compiled.skus,
        use_relaxed=compiled.use_relaxed[keep],
        true_cost=compiled.true_cost[keep],
        split=compiled.split[keep],
        split_kind=compiled.split_kind[keep],
        waiting_delivery=compiled.waiting_delivery[keep],
        guaranteed=compiled.guaranteed[keep],
    )


def kept_at(compiled: CompiledBatch, node: NDArray[np.intp]) -> CompiledBatch:
    """The batch with each item of ``node >= 0`` eligible at that node alone,
    and each of ``node == SEVERAL`` at none (its lines are kept apart: it
    ships split); ``-1`` leaves an item as it was."""
    held = node != -1
    if not held.any():
        return compiled
    at = np.zeros(compiled.problem.eligible.shape, dtype=bool)
    mine = np.flatnonzero(node >= 0)
    at[mine, node[mine]] = True
    allowed = at | ~held[:, None]
    return dataclasses.replace(
        compiled,
        problem=compiled.problem.replace(eligible=compiled.problem.eligible & allowed),
        use_relaxed=compiled.use_relaxed & allowed,
        true_cost=np.where(allowed, compiled.true_cost, np.inf),
    )


def _join(parts: list[CompiledBatch]) -> CompiledBatch | None:
    """One problem of whole orders and split lines (they share capacity and stock)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else concat_batches(parts[0], parts[1])


def _has_node(compiled: CompiledBatch) -> NDArray[np.bool_]:
    return np.asarray(compiled.problem.eligible.any(axis=1), dtype=bool)


@dataclass(frozen=True, slots=True, eq=False)
class _Stage:
    """What one batch is compiled against (shared by both stages)."""

    capacity: NDArray[np.float64]
    stock: NDArray[np.int64]
    now: np.datetime64 | None
    rerouted: Collection[int]
    bid_price: NDArray[np.float64] | None
    name: str
    stock_price: StockPrice | None = None
    #: Nodes working today (a waiting order ships from one of them tomorrow).
    open_nodes: NDArray[np.bool_] | None = None
    #: Room prices by tier (``AllocationSettings.room_prices_by_tier``).
    room_price: RoomCharge | None = None
    #: ``(n_nodes, n_services)`` each lane's delay factor (the monitor's
    #: congestion): what an item takes of a node's capacity scales with it.
    congestion: NDArray[np.float64] | None = None
    #: Per line of the orders, whether its reservation was dropped in this
    #: batch (its node could not take it): it is decided at the batch.
    unkept: NDArray[np.bool_] | None = None
    #: Per line that lost its reservation in this batch: its node and why
    #: (:func:`left_reason`), for its row. One dict per compile, shared by
    #: the stages derived from it.
    left: dict[int, tuple[int, str]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledStages:
    """A batch compiled in its two stages.

    Attributes
    ----------
    unfillable
        Lines no node held in the quantity asked for this morning: they
        cannot ship at all.
    whole
        Orders some node can fill now, one item each: the lines of the order
        that are not unfillable (``None``: no such order).
    split
        The lines of the other orders, one item each (``None``: no such line).
    on_time
        The orders among them a node held whole but none could deliver whole
        on time, while each line could be (they split to keep the promise).
    left
        Per line reserved at a node that could not take it now: that node
        and why (:func:`left_reason`); its row says so if it ships elsewhere.
    """

    unfillable: NDArray[np.intp]
    whole: CompiledBatch | None
    split: CompiledBatch | None
    on_time: NDArray[np.intp] = dataclasses.field(
        default_factory=lambda: np.zeros(0, np.intp)
    )
    left: Mapping[int, tuple[int, str]] = dataclasses.field(default_factory=dict)

    def stuck(self) -> CompiledBatch | None:
        """Split lines no node can take now (their stock is taken): they wait."""
        if self.split is None or _has_node(self.split).all():
            return None
        return subset_batch(self.split, np.flatnonzero(~_has_node(self.split)))

    def solvable(self) -> CompiledBatch | None:
        """The whole orders and the split lines some node can take, as one problem."""
        parts = []
        if self.whole is not None and self.whole.problem.n_items:
            parts.append(self.whole)
        if self.split is not None and _has_node(self.split).any():
            parts.append(
                subset_batch(self.split, np.flatnonzero(_has_node(self.split)))
            )
        return _join(parts)

    def whole_day(self) -> CompiledBatch | None:
        """Every item of both stages, split lines in line order (the hindsight
        problem: items no node can take stay in and can only wait)."""
        split = self.split
        if split is not None:
            split = subset_batch(split, np.argsort(split.lines, kind="stable"))
        return _join([p for p in (self.whole, split) if p is not None])


class BatchCompiler:
    """Compiles orders against the capacity and stock left (see the module docstring).

    Parameters
    ----------
    network, orders, policy
        The nodes, the day's orders and the tier policy.
    spend
        CLTV per order (deferral penalty and priority).
    initial_stock
        Stock this morning: a line no node held then is unfillable.
    platinum_at_checkout
        Platinum orders were reserved at checkout, so their cutoff is judged
        at the order's own time (see :meth:`release_times`), and a line whose
        node the orders name (``Orders.line_reserved``) is kept there while
        that node can take it (:func:`kept_at`).
    online_release
        For a hindsight run: per order, when its batch would close online.
    """

    def __init__(
        self,
        network: Network,
        orders: Orders,
        policy: TierPolicy,
        spend: NDArray[np.float64],
        initial_stock: NDArray[np.int64],
        *,
        platinum_at_checkout: bool = True,
        online_release: NDArray[np.datetime64] | None = None,
    ) -> None:
        self.network = network
        self.orders = orders
        self.policy = policy
        self.spend = spend
        self.initial_stock = initial_stock
        #: Per line, whether some node held it this morning: the others are
        #: unfillable, and an order is the shipment of its lines that are not.
        self.ships = fillable_lines(orders, initial_stock)
        self.platinum_at_checkout = platinum_at_checkout
        #: Per line, the node it is kept at (a Platinum line reserved there
        #: at checkout; -1: none); ``None`` when no line is.
        self.reserved = _reserved_lines(orders, policy, platinum_at_checkout)
        #: Per order, its lines' reserved node (-1: none; :data:`SEVERAL`).
        self.order_reserved = (
            None
            if self.reserved is None
            else _order_nodes(orders, self.reserved, self.ships)
        )
        #: Per order, when it would reach a node online (its batch's close):
        #: what a hindsight run prices each order at, as the batches do.
        self.online_release = online_release

    def release_times(
        self,
        items: NDArray[np.intp],
        now: np.datetime64 | None,
        rerouted: Collection[int],
        unkept: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.datetime64]:
        """When each order reaches a node, for the cutoff: the batch time, or —
        for Platinum, whose node and stock were committed at checkout — the
        order's own time (unless a capacity event pulled it back, or, per
        item, ``unkept``: its reserved node could not take it). Without a
        batch time (hindsight), each order's :attr:`online_release`."""
        if now is None:
            assert self.online_release is not None
            out = self.online_release[items].astype("datetime64[s]")
        else:
            out = np.full(items.size, now, dtype="datetime64[s]")
        if self.platinum_at_checkout:
            plat = self.policy.tier_index(self.orders.tier[items]) == _PLATINUM
            plat &= ~np.isin(
                items, np.fromiter(rerouted, dtype=np.intp, count=len(rerouted))
            )
            if unkept is not None:
                plat &= ~unkept
            out[plat] = self.orders.created_at[items[plat]].astype("datetime64[s]")
        return out

    def compile(
        self,
        idx: NDArray[np.intp],
        *,
        capacity: NDArray[np.float64],
        stock: NDArray[np.int64],
        now: np.datetime64 | None = None,
        rerouted: Collection[int] = (),
        bid_price: NDArray[np.float64] | None = None,
        name: str = "batch",
        stock_price: StockPrice | None = None,
        open_nodes: NDArray[np.bool_] | None = None,
        room_price: RoomCharge | None = None,
        congestion: NDArray[np.float64] | None = None,
    ) -> CompiledStages:
        """The orders ``idx`` in two stages against ``capacity`` and ``stock``.

        ``now`` is when the batch is decided (``None``: every order at its
        own time, as in hindsight); ``rerouted`` orders were pulled back by a
        capacity event and lose their checkout cutoff; ``open_nodes`` are
        the nodes working now (default every node): a waiting order is priced
        and dated as shipped tomorrow from one of them that held it this
        morning (:func:`~tierflow.formulations.batch_compiler.deferral_reference`);
        ``congestion`` (the monitor's, per node and service) scales what an
        item takes of a node's capacity by its lane's delay
        (:func:`~tierflow.formulations.batch_compiler.lane_weight`).
        """
        o = self.orders
        lines_all, _ = shipping_lines(o, idx, None)
        short = ~self.ships[lines_all]
        # an order of unfillable lines only has nothing to ship; any other
        # is the shipment of its fillable lines (one, where a node holds
        # them all), not lines each shipped alone (until 2026-12-05)
        _, counts = shipping_lines(o, idx, self.ships)
        live = idx[counts > 0]
        split_lines = []
        stage = _Stage(
            capacity,
            stock,
            now,
            rerouted,
            bid_price,
            name,
            stock_price,
            open_nodes,
            room_price,
            congestion=congestion,
        )
        whole = None
        on_time = np.zeros(0, np.intp)
        if live.size:
            compiled, stage = self._orders(live, stage)
            kept = self._kept_only_split(live, compiled, stage)
            has_node = _has_node(compiled) & ~kept
            on_time = live[kept]
            split_lines.append(self._shipping(live[~has_node]))
            whole = subset_batch(compiled, np.flatnonzero(has_node))
        lines = (
            np.concatenate(split_lines).astype(np.intp)
            if split_lines
            else np.zeros(0, np.intp)
        )
        split = self._lines(lines, stage) if lines.size else None
        return CompiledStages(lines_all[short], whole, split, on_time, stage.left)

    def _kept_only_split(
        self, live: NDArray[np.intp], compiled: CompiledBatch, stage: _Stage
    ) -> NDArray[np.bool_]:
        """Per order of ``live``: guaranteed, no node can deliver it whole on
        time (its whole options are the late fallback), yet every line can be
        on time from some node. Such an order ships split, keeping the promise
        (the checkout may have promised it so), not whole and late: the
        guarantee is not for sale (``docs/allocation.md``)."""
        out = np.zeros(live.size, dtype=bool)
        late = np.flatnonzero(compiled.use_relaxed.any(axis=1))
        if not late.size:
            return out
        lines, counts = shipping_lines(self.orders, live[late], self.ships)
        per_line = self._lines(lines, stage)
        on_time = ~per_line.use_relaxed.any(axis=1) & per_line.problem.eligible.any(
            axis=1
        )
        owner = np.repeat(np.arange(late.size), counts)
        all_on_time = np.ones(late.size, dtype=bool)
        np.logical_and.at(all_on_time, owner, on_time)
        out[late] = all_on_time
        return out

    def _shipping(self, orders: NDArray[np.intp]) -> NDArray[np.intp]:
        """The lines of ``orders`` that ship (not unfillable), by order."""
        return shipping_lines(self.orders, orders, self.ships)[0]

    def _release(
        self,
        items: NDArray[np.intp],
        stage: _Stage,
        unkept: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.datetime64] | None:
        if stage.now is None and self.online_release is None:
            return None
        return self.release_times(items, stage.now, stage.rerouted, unkept)

    def _reserved_at(
        self, nodes: NDArray[np.intp], owners: NDArray[np.intp], stage: _Stage
    ) -> NDArray[np.intp]:
        """``nodes`` (per item: reserved node, -1, :data:`SEVERAL`) with -1
        where the order was pulled back by a capacity event: it lost its
        checkout's node and time (``docs/allocation.md``)."""
        if not stage.rerouted:
            return nodes
        back = np.fromiter(stage.rerouted, dtype=np.intp, count=len(stage.rerouted))
        return np.where(np.isin(owners, back), -1, nodes)

    def _lost(
        self, compiled: CompiledBatch, node: NDArray[np.intp], stage: _Stage
    ) -> NDArray[np.bool_]:
        """Per item kept at ``node``: that node cannot take it now (not
        eligible there — no stock left, no service — or without the room:
        closed, full: the room its lane's congestion asks). Why is noted in
        ``stage.left`` per line of each."""
        mine = np.flatnonzero(node >= 0)
        lost = np.zeros(node.size, dtype=bool)
        at = node[mine]
        room = compiled.problem.weight[mine, at] <= stage.capacity[at] + 1e-9
        lost[mine] = ~(compiled.problem.eligible[mine, at] & room)
        for k in np.flatnonzero(lost).tolist():
            r = int(node[k])
            why = self._why_lost(compiled, k, r, stage)
            for line in compiled.lines[
                compiled.item_lines[k] : compiled.item_lines[k + 1]
            ].tolist():
                stage.left.setdefault(int(line), (r, left_reason(self.network, r, why)))
        return lost

    def _why_lost(
        self, compiled: CompiledBatch, item: int, node: int, stage: _Stage
    ) -> str:
        """Why ``node`` cannot take ``item`` (reserved there): the first of
        closed (it cannot ship today), no stock, no service (none of the
        tier's delivers it by its promise from there), no room."""
        if stage.open_nodes is not None and not stage.open_nodes[node]:
            return "closed"
        o = self.orders
        lines = compiled.lines[
            compiled.item_lines[item] : compiled.item_lines[item + 1]
        ]
        skus, where = np.unique(o.line_sku[lines], return_inverse=True)
        need = np.bincount(where, weights=o.line_qty[lines], minlength=skus.size)
        if (stage.stock[node, skus] < need).any():
            return "no stock"
        if not compiled.problem.eligible[item, node]:
            return "no service"
        need_room = float(compiled.problem.weight[item, node])
        room = max(float(stage.capacity[node]), 0.0)
        return f"no room ({_units(room)} units left for its {_units(need_room)})"

    def _unkept_orders(
        self, live: NDArray[np.intp], stage: _Stage
    ) -> NDArray[np.bool_] | None:
        """Per order of ``live``: a line of it lost its reservation this batch."""
        if stage.unkept is None:
            return None
        lines, counts = shipping_lines(self.orders, live, self.ships)
        out = np.zeros(live.size, dtype=bool)
        np.logical_or.at(
            out, np.repeat(np.arange(live.size), counts), stage.unkept[lines]
        )
        return out

    def _drop(self, stage: _Stage, lines: NDArray[np.intp]) -> _Stage:
        """``stage`` with the reservations of ``lines`` dropped."""
        unkept = (
            np.zeros(self.orders.n_lines, dtype=bool)
            if stage.unkept is None
            else stage.unkept.copy()
        )
        unkept[lines] = True
        return dataclasses.replace(stage, unkept=unkept)

    def _orders(
        self, live: NDArray[np.intp], stage: _Stage
    ) -> tuple[CompiledBatch, _Stage]:
        """Whole orders as items, each Platinum order reserved at one node
        kept there while it can take it; one it cannot is compiled again as
        decided at the batch, and its lines lose their reservation for the
        rest of the batch (the stage returned)."""
        compiled = self._compile_orders(live, stage)
        if self.order_reserved is None:
            return compiled, stage
        node = self._reserved_at(self.order_reserved[live], live, stage)
        dropped = self._unkept_orders(live, stage)
        if dropped is not None:
            node = np.where(dropped, -1, node)
        return self._keep(
            compiled,
            node,
            stage,
            lambda lost: self._shipping(live[lost]),
            lambda kept: self._compile_orders(live, kept),
        )

    def _keep(
        self,
        compiled: CompiledBatch,
        node: NDArray[np.intp],
        stage: _Stage,
        lines_of: Callable[[NDArray[np.bool_]], NDArray[np.intp]],
        recompile: Callable[[_Stage], CompiledBatch],
    ) -> tuple[CompiledBatch, _Stage]:
        """``compiled`` with each item kept at its reserved ``node`` (per
        item; -1 none) while that node can take it; the items it cannot
        (:meth:`_lost`) lose the reservation of their lines (``lines_of``
        them) for the rest of the batch and are compiled again as decided
        at the batch (``recompile``, against the stage returned)."""
        lost = self._lost(compiled, node, stage)
        if lost.any():
            stage = self._drop(stage, lines_of(lost))
            compiled = recompile(stage)
            node = np.where(lost, -1, node)
        return kept_at(compiled, node), stage

    def _compile_orders(self, live: NDArray[np.intp], stage: _Stage) -> CompiledBatch:
        """Whole orders as items, as priced (no reservation kept yet)."""
        unkept = self._unkept_orders(live, stage)
        return compile_orders(
            self.network,
            self.orders,
            live,
            self.policy,
            capacity=stage.capacity,
            stock=stage.stock,
            predicted_spend=self.spend[live],
            release=self._release(live, stage, unkept),
            bid_price=stage.bid_price,
            stock_price=stage.stock_price,
            room_price=stage.room_price,
            name=stage.name,
            morning_stock=self.initial_stock,
            open_nodes=stage.open_nodes,
            ships=self.ships,
            congestion=stage.congestion,
        )

    def split_for_room(
        self,
        orders: NDArray[np.intp],
        defer_cost: NDArray[np.float64],
        *,
        capacity: NDArray[np.float64],
        stock: NDArray[np.int64],
        stock_short: NDArray[np.bool_] | None = None,
        now: np.datetime64 | None = None,
        rerouted: Collection[int] = (),
        bid_price: NDArray[np.float64] | None = None,
        name: str = "batch",
        stock_price: StockPrice | None = None,
        open_nodes: NDArray[np.bool_] | None = None,
        room_price: RoomCharge | None = None,
        congestion: NDArray[np.float64] | None = None,
    ) -> tuple[CompiledBatch, Mapping[int, tuple[int, str]]]:
        """The lines of whole ``orders`` the solve left waiting, as items,
        and the lines among them that lost their reservation (as
        :attr:`CompiledStages.left`).

        A line waiting costs its share (by units) of its order's deferral
        ``defer_cost``, so splitting wins only where shipping the lines today
        is cheaper than the whole order waiting. Orders ``stock_short`` (no
        eligible node holds every line in the stock now left: the batch's
        other orders took it) are split for stock, as if no node had held
        them whole when the batch was compiled: their lines are priced and
        marked as such (``split_kind`` stock), not as split for room.
        """
        o = self.orders
        short = (
            np.zeros(orders.size, dtype=bool)
            if stock_short is None
            else np.asarray(stock_short, dtype=bool)
        )
        stage = _Stage(
            capacity,
            stock,
            now,
            rerouted,
            bid_price,
            name,
            stock_price,
            open_nodes,
            room_price,
            congestion=congestion,
        )
        parts = []
        room = orders[~short]
        if room.size:
            lines, counts = shipping_lines(o, room, self.ships)
            per_line = np.repeat(defer_cost[~short], counts)
            parts.append(
                self._lines(
                    lines,
                    stage,
                    defer_total=per_line * unit_share(o, lines, self.ships),
                    tag="room",
                )
            )
        if short.any():
            parts.append(self._lines(self._shipping(orders[short]), stage))
        joined = _join(parts)
        if joined is None:
            raise ValueError("split_for_room needs at least one order")
        return joined, stage.left

    def _lines(
        self,
        lines: NDArray[np.intp],
        stage: _Stage,
        *,
        defer_total: NDArray[np.float64] | None = None,
        tag: str = "split",
    ) -> CompiledBatch:
        """Order lines as items (extra-shipment cost per line), each Platinum
        line reserved at a node kept there while it can take it; one it
        cannot is compiled again, decided at the batch."""
        compiled = self._compile_lines(lines, stage, defer_total, tag)
        if self.reserved is None:
            return compiled
        owners = self.orders.line_order[lines].astype(np.intp)
        node = self._reserved_at(self.reserved[lines], owners, stage)
        if stage.unkept is not None:
            node = np.where(stage.unkept[lines], -1, node)
        kept, _ = self._keep(
            compiled,
            node,
            stage,
            lambda lost: lines[lost],
            lambda left: self._compile_lines(lines, left, defer_total, tag),
        )
        return kept

    def _compile_lines(
        self,
        lines: NDArray[np.intp],
        stage: _Stage,
        defer_total: NDArray[np.float64] | None,
        tag: str,
    ) -> CompiledBatch:
        """Order lines as items, as priced (no reservation kept yet)."""
        owners = self.orders.line_order[lines].astype(np.intp)
        unkept = None if stage.unkept is None else stage.unkept[lines]
        return compile_lines(
            self.network,
            self.orders,
            lines,
            self.policy,
            capacity=stage.capacity,
            stock=stage.stock,
            predicted_spend=self.spend[owners],
            release=self._release(owners, stage, unkept),
            bid_price=stage.bid_price,
            stock_price=stage.stock_price,
            room_price=stage.room_price,
            name=f"{stage.name} {tag}",
            defer_total=defer_total,
            morning_stock=self.initial_stock,
            open_nodes=stage.open_nodes,
            ships=self.ships,
            congestion=stage.congestion,
        )


#: How a line's row says it left the node reserved for it at checkout.
LEFT_RESERVED = "left reserved node {node}: {why}"


def left_reason(network: Network, node: int, why: str) -> str:
    """A row's words for a line off its reserved ``node``, e.g. ``left
    reserved node ST-SFO: no room (0.6 units left for its 1.5)``."""
    return LEFT_RESERVED.format(node=network.node_ids[node], why=why)


def _units(value: float) -> str:
    """Capacity units as a row says them: two decimals at most, no
    trailing zeros (``0.6``, ``1.5``, ``12``)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _reserved_lines(
    orders: Orders, policy: TierPolicy, platinum_at_checkout: bool
) -> NDArray[np.intp] | None:
    """Per line, the node it is kept at: a Platinum order's line reserved
    there at checkout, when Platinum is judged at checkout (its stock was
    taken there and its cutoff is the order's own time there alone); -1
    for the others. ``None`` when no line is (orders without ``node_id``
    are allocated as before)."""
    if not platinum_at_checkout or orders.line_reserved is None:
        return None
    platinum = policy.tier_index(orders.tier) == _PLATINUM
    out = np.where(platinum[orders.line_order], orders.line_reserved, -1)
    if not (out >= 0).any():
        return None
    return np.asarray(out, dtype=np.intp)


def _order_nodes(
    orders: Orders, reserved: NDArray[np.intp], ships: NDArray[np.bool_]
) -> NDArray[np.intp]:
    """Per order, the node its shipping lines were reserved at (-1: none),
    or :data:`SEVERAL` when they were reserved at different nodes: the
    order is kept apart, each line at its node (it ships split)."""
    n = orders.n_orders
    held = (reserved >= 0) & ships
    low = np.full(n, np.iinfo(np.intp).max, dtype=np.intp)
    high = np.full(n, -1, dtype=np.intp)
    np.minimum.at(low, orders.line_order[held], reserved[held])
    np.maximum.at(high, orders.line_order[held], reserved[held])
    return np.where(high < 0, -1, np.where(low == high, high, SEVERAL)).astype(np.intp)
