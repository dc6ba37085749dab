"""A batch of orders (or of order lines) compiled into the core
:class:`~tierflow.formulations.problem.AssignmentProblem`, with what maps a
solution back to shipments (``docs/data.md``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import billed_weight_kg
from tierflow.formulations.order_pricing import (
    DateArray,
    OrderOptions,
    lines_of,
    price_orders,
)
from tierflow.formulations.problem import AssignmentProblem
from tierflow.formulations.tiers import TierPolicy


def _by_rule(
    use_relaxed: NDArray[np.bool_], strict: NDArray[Any], relaxed: NDArray[Any]
) -> NDArray[Any]:
    """Per (item, node): the relaxed value on items priced by the relaxed rule."""
    return np.where(use_relaxed[:, None], relaxed, strict)


def stock_ok(
    orders: Orders, idx: NDArray[np.intp], stock: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """``(len(idx), n_nodes)``: nodes holding every line of each order in full."""
    lines = lines_of(orders, idx)
    counts = np.diff(orders.line_start)[idx]
    have = orders.line_qty[lines][:, None] <= stock[:, orders.line_sku[lines]].T
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    ok = np.logical_and.reduceat(have, starts, axis=0) if lines.size else have
    ok = np.asarray(ok, dtype=bool)
    ok[counts == 0] = False
    return ok


@dataclass(frozen=True, slots=True, eq=False)
class CompiledBatch:
    """A batch as a core problem, plus what maps a solution back to shipments.

    Attributes
    ----------
    problem
        Items are orders (or lines in the split stage), agents are nodes,
        resources are the batch's SKUs.
    options
        The pricing of every item at every node.
    item_order
        Order index of each item.
    item_lines
        ``(n_items + 1,)`` CSR offsets into ``lines``.
    lines
        Line positions (into the Orders arrays) of the items.
    skus
        SKU index of each resource column.
    use_relaxed
        Items priced with the relaxed Platinum rule (no node could be on time).
    true_cost
        ``(n_items, n_nodes)`` cost without bid prices (what is reported).
    split
        Items that are single lines of a split order (``compile_lines``).
    """

    problem: AssignmentProblem
    options: OrderOptions
    item_order: NDArray[np.intp]
    item_lines: NDArray[np.intp]
    lines: NDArray[np.intp]
    skus: NDArray[np.intp]
    use_relaxed: NDArray[np.bool_]
    true_cost: NDArray[np.float64]
    split: NDArray[np.bool_]

    def service(self) -> NDArray[np.int8]:
        """Service per (item, node) actually used (strict or relaxed)."""
        o = self.options
        return _by_rule(self.use_relaxed, o.service, o.relaxed_service)

    def delivery(self) -> DateArray:
        o = self.options
        return _by_rule(self.use_relaxed, o.delivery, o.relaxed_delivery)

    def parts(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(shipping, penalty) per (item, node) actually used."""
        o = self.options
        return (
            _by_rule(self.use_relaxed, o.shipping, o.relaxed_shipping),
            _by_rule(self.use_relaxed, o.penalty, o.relaxed_penalty),
        )


@dataclass(frozen=True, slots=True, eq=False)
class _Items:
    """What the items of a batch are: their pricing, orders, lines and stakes.

    ``defer_cost`` is the delay penalty only; the item's best cost today is
    added when compiling, since a deferred order still ships (tomorrow).
    """

    options: OrderOptions
    order: NDArray[np.intp]
    lines: NDArray[np.intp]
    line_start: NDArray[np.intp]
    have_stock: NDArray[np.bool_]
    defer_cost: NDArray[np.float64]
    priority: NDArray[np.float64] | None
    extra_cost: float = 0.0
    split: bool = False


def _compile(
    items: _Items,
    orders: Orders,
    *,
    capacity: NDArray[np.float64],
    stock: NDArray[np.int64],
    bid_price: NDArray[np.float64] | None,
    name: str,
) -> CompiledBatch:
    """Shared tail of :func:`compile_orders` and :func:`compile_lines`."""
    options = items.options
    strict = np.asarray(options.feasible & items.have_stock, dtype=bool)
    relaxed_ok = np.asarray(
        (options.relaxed_service >= 0) & items.have_stock, dtype=bool
    )
    use_relaxed = np.asarray(~strict.any(axis=1) & relaxed_ok.any(axis=1), dtype=bool)
    eligible = _by_rule(use_relaxed, strict, relaxed_ok)
    total = (
        _by_rule(use_relaxed, options.shipping, options.relaxed_shipping)
        + options.handling
        + _by_rule(use_relaxed, options.penalty, options.relaxed_penalty)
        + items.extra_cost
    )
    true_cost = np.where(eligible, total, np.inf)
    # Waiting a day still ships the order (tomorrow, at about the best cost any
    # node offering its service could do, stock and capacity aside), so
    # deferral costs that plus the tier/CLTV delay penalty. Judged without
    # today's stock it is the same for every policy and for the bound.
    served = _by_rule(use_relaxed, options.feasible, options.relaxed_service >= 0)
    best = np.min(np.where(np.asarray(served, dtype=bool), total, np.inf), axis=1)
    reference = np.where(np.isfinite(best), best, 0.0)
    cost = true_cost
    if bid_price is not None:
        cost = cost + bid_price[None, :] * options.workload[:, None]
    skus, use = _sku_use(orders, items)
    problem = AssignmentProblem(
        cost=cost,
        weight=np.repeat(options.workload[:, None], capacity.size, axis=1),
        capacity=np.maximum(capacity, 0.0),
        eligible=eligible,
        use=use,
        stock=np.maximum(stock[:, skus], 0).astype(np.float64),
        defer_cost=reference + items.defer_cost,
        priority=items.priority,
        name=name,
    )
    return CompiledBatch(
        problem=problem,
        options=options,
        item_order=items.order,
        item_lines=items.line_start,
        lines=items.lines,
        skus=skus.astype(np.intp),
        use_relaxed=use_relaxed,
        true_cost=true_cost,
        split=np.full(items.order.size, items.split, dtype=bool),
    )


def _sku_use(
    orders: Orders, items: _Items
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The batch's SKUs and ``(n_items, n_skus)`` units each item takes."""
    lines = items.lines
    skus, col = np.unique(orders.line_sku[lines], return_inverse=True)
    owner = np.repeat(np.arange(items.order.size), np.diff(items.line_start))
    use = np.zeros((items.order.size, skus.size))
    np.add.at(use, (owner, col), orders.line_qty[lines])
    return skus, use


def compile_orders(
    network: Network,
    orders: Orders,
    idx: NDArray[np.intp],
    policy: TierPolicy,
    *,
    capacity: NDArray[np.float64],
    stock: NDArray[np.int64],
    predicted_spend: NDArray[np.float64],
    release: NDArray[np.datetime64] | None = None,
    bid_price: NDArray[np.float64] | None = None,
    name: str = "batch",
) -> CompiledBatch:
    """Whole orders as items (one shipment each); see ``docs/data.md``.

    Parameters
    ----------
    capacity
        Remaining capacity per node (complexity-weighted units).
    stock
        Remaining ``(n_nodes, n_skus)`` units.
    predicted_spend
        CLTV per order (0 when unknown): deferral penalty and greedy priority.
    bid_price
        Shadow price per capacity unit per node, added to the cost the solver
        sees (never to the reported cost).
    """
    idx = np.asarray(idx, dtype=np.intp)
    spend = np.asarray(predicted_spend, dtype=np.float64)
    defer = policy.defer_cost(orders.tier[idx], spend)
    line_start = np.concatenate([[0], np.cumsum(np.diff(orders.line_start)[idx])])
    items = _Items(
        options=price_orders(network, orders, idx, policy, release=release),
        order=idx,
        lines=lines_of(orders, idx),
        line_start=line_start.astype(np.intp),
        have_stock=stock_ok(orders, idx, stock),
        defer_cost=defer,
        priority=spend + defer,
    )
    return _compile(
        items, orders, capacity=capacity, stock=stock, bid_price=bid_price, name=name
    )


def compile_lines(
    network: Network,
    orders: Orders,
    lines: NDArray[np.intp],
    policy: TierPolicy,
    *,
    capacity: NDArray[np.float64],
    stock: NDArray[np.int64],
    predicted_spend: NDArray[np.float64],
    release: NDArray[np.datetime64] | None = None,
    bid_price: NDArray[np.float64] | None = None,
    name: str = "split",
) -> CompiledBatch:
    """Order *lines* as items, for orders no single node can fill.

    Each line ships on its own (billed weight of the line, handling of its
    units) and pays ``split_shipment_cost``; deferral of a line costs its
    order's deferral penalty.
    """
    lines = np.asarray(lines, dtype=np.intp)
    owner = orders.line_order[lines].astype(np.intp)
    sku, qty = orders.line_sku[lines], orders.line_qty[lines].astype(np.float64)
    spend = np.asarray(predicted_spend, dtype=np.float64)
    items = _Items(
        options=_line_options(network, orders, lines, policy, release=release),
        order=owner,
        lines=lines,
        line_start=np.arange(lines.size + 1, dtype=np.intp),
        have_stock=qty[:, None] <= stock[:, sku].T,
        defer_cost=policy.defer_cost(orders.tier[owner], spend),
        priority=spend,
        extra_cost=policy.split_shipment_cost,
        split=True,
    )
    return _compile(
        items, orders, capacity=capacity, stock=stock, bid_price=bid_price, name=name
    )


def _line_options(
    network: Network,
    orders: Orders,
    lines: NDArray[np.intp],
    policy: TierPolicy,
    *,
    release: NDArray[np.datetime64] | None,
) -> OrderOptions:
    """Each line priced as its own shipment (its billed weight and units)."""
    owner = orders.line_order[lines].astype(np.intp)
    sku, qty = orders.line_sku[lines], orders.line_qty[lines].astype(np.float64)
    kg = billed_weight_kg(
        network.sku_weight_kg[sku] * qty, network.sku_volume_cm3[sku] * qty
    )
    base = price_orders(network, orders, owner, policy, release=release, billed_kg=kg)
    return dataclasses.replace(
        base,
        units=qty,
        workload=network.sku_complexity[sku] * qty,
        handling=qty[:, None] * network.handling_cost[None, :],
    )


def concat_batches(first: CompiledBatch, second: CompiledBatch) -> CompiledBatch:
    """One problem holding the items of both batches, sharing nodes and stock.

    Used for the whole-day bound: orders shipped whole and the lines of orders
    no node can fill compete for the same capacity and SKUs. Both batches must
    be compiled against the same capacity and stock.
    """
    a, b = first.problem, second.problem
    skus = np.union1d(first.skus, second.skus).astype(np.intp)
    col = {int(k): i for i, k in enumerate(skus)}

    def widen(batch: CompiledBatch) -> NDArray[np.float64]:
        use = np.zeros((batch.problem.n_items, skus.size))
        if batch.problem.use is not None:
            cols = [col[int(k)] for k in batch.skus]
            use[:, cols] = batch.problem.use
        return use

    stock = np.zeros((a.n_agents, skus.size))
    for batch in (first, second):
        if batch.problem.stock is not None:
            stock[:, [col[int(k)] for k in batch.skus]] = batch.problem.stock
    assert a.defer_cost is not None and b.defer_cost is not None
    priority = None
    if a.priority is not None and b.priority is not None:
        priority = np.concatenate([a.priority, b.priority])
    problem = AssignmentProblem(
        cost=np.vstack(
            [np.where(a.eligible, a.cost, np.inf), np.where(b.eligible, b.cost, np.inf)]
        ),
        weight=np.vstack([a.weight, b.weight]),
        capacity=a.capacity,
        eligible=np.vstack([a.eligible, b.eligible]),
        use=np.vstack([widen(first), widen(second)]),
        stock=stock,
        defer_cost=np.concatenate([a.defer_cost, b.defer_cost]),
        priority=priority,
        name=f"{a.name} + {b.name}",
    )
    fo, so = first.options, second.options
    options = OrderOptions(
        **{
            name: np.concatenate([getattr(fo, name), getattr(so, name)])
            for name in OrderOptions.__dataclass_fields__
        }
    )
    return CompiledBatch(
        problem=problem,
        options=options,
        item_order=np.concatenate([first.item_order, second.item_order]),
        item_lines=np.concatenate(
            [first.item_lines, first.item_lines[-1] + second.item_lines[1:]]
        ).astype(np.intp),
        lines=np.concatenate([first.lines, second.lines]).astype(np.intp),
        skus=skus,
        use_relaxed=np.concatenate([first.use_relaxed, second.use_relaxed]),
        true_cost=np.vstack([first.true_cost, second.true_cost]),
        split=np.concatenate([first.split, second.split]),
    )
