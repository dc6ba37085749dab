"""A batch of orders (or of order lines) compiled into the core
:class:`~tierflow.formulations.problem.AssignmentProblem`, with what maps a
solution back to shipments (``docs/data.md``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.score import lane_congestion
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import billed_weight_kg
from tierflow.formulations.order_pricing import (
    DateArray,
    OrderOptions,
    guaranteed_orders,
    price_orders,
    shipping_lines,
)
from tierflow.formulations.problem import AssignmentProblem
from tierflow.formulations.tiers import TierPolicy

#: :attr:`CompiledBatch.split_kind`: a line of an order no node held whole,
#: and a line of an order no node had the room for.
SPLIT_STOCK = 1
SPLIT_ROOM = 2


def _by_rule(
    use_relaxed: NDArray[np.bool_], strict: NDArray[Any], relaxed: NDArray[Any]
) -> NDArray[Any]:
    """Per (item, node): the relaxed value where the pair uses the relaxed rule
    (``use_relaxed`` per pair, or per item for a whole row)."""
    mask = use_relaxed if use_relaxed.ndim == 2 else use_relaxed[:, None]
    return np.where(mask, relaxed, strict)


def stock_ok(
    orders: Orders,
    idx: NDArray[np.intp],
    stock: NDArray[np.int64],
    ships: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """``(len(idx), n_nodes)``: nodes holding every line of each order in
    full (every line that ships, of ``ships``; an order without one: none)."""
    lines, counts = shipping_lines(orders, idx, ships)
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
        ``(n_items, n_nodes)``: pairs priced with the relaxed guarantee rule —
        a guaranteed item may ship late from a node only when no node that
        could keep the guarantee has its stock and room.
    true_cost
        ``(n_items, n_nodes)`` cost without bid prices (what is reported).
    split
        Items that are single lines of a split order (``compile_lines``).
    split_kind
        Why each item is a line: 0 a whole order, :data:`SPLIT_STOCK` no node
        held every line, :data:`SPLIT_ROOM` no node had the room for all.
    waiting_delivery
        Per item, its delivery if it waits (``NaT``: no date can be promised).
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
    split_kind: NDArray[np.int8]
    #: Per item, when it is expected to arrive if it waits
    #: (:func:`deferral_delivery` over the nodes that may ship it tomorrow
    #: and held it this morning): ``NaT`` where there is none.
    waiting_delivery: DateArray
    #: Per item, whether its date is guaranteed (a guaranteed tier's or a
    #: checkout promise): it pays no room price (:class:`RoomCharge`).
    guaranteed: NDArray[np.bool_]

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
    split: int = 0
    #: The whole deferral cost (reference included) when the caller knows it,
    #: e.g. a share of the order's own when its lines are split for room.
    defer_total: NDArray[np.float64] | None = None
    #: ``(n_items, n_nodes)``: nodes that held the item this morning (a
    #: waiting item is dated from the open ones, and gets no date when there
    #: is none); ``None``: every node.
    held: NDArray[np.bool_] | None = None
    #: Per item, whether its date is guaranteed (a guaranteed tier's or a
    #: checkout promise): it pays no room price (:class:`RoomCharge`).
    guaranteed: NDArray[np.bool_] | None = None


def lane_weight(
    workload: NDArray[np.float64],
    service: NDArray[np.integer[Any]],
    congestion: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """``(n_items, n_nodes)`` capacity units an item takes at each node when
    shipped by ``service`` there: its workload times that lane's congestion
    (``(n_nodes, n_services)``, a delay factor >= 1), since a lane at x2.5
    moves 1/2.5 of the work per unit of the node's capacity — the live
    room's ``(effective - backlog) / congestion`` (``docs/allocation.md``);
    the factor is :func:`~tierflow.capacity.score.lane_congestion`'s. ``None``,
    or a pair without a service: the workload alone."""
    n_nodes = service.shape[1]
    if congestion is None:
        return np.repeat(workload[:, None], n_nodes, axis=1)
    factor = lane_congestion(congestion, np.arange(n_nodes)[None, :], service)
    return np.asarray(workload[:, None] * factor, dtype=np.float64)


def relaxed_pairs(
    options: OrderOptions,
    have_stock: NDArray[np.bool_],
    capacity: NDArray[np.float64],
    weight: NDArray[np.float64] | None = None,
) -> NDArray[np.bool_]:
    """``(n_items, n_nodes)`` pairs priced by the relaxed guarantee rule.

    A guaranteed (Platinum) item ships late from a node only when no node that
    could deliver it on time has its stock *and* the room for it (``weight``,
    the capacity its on-time service takes there, :func:`lane_weight`;
    default its workload): then every node with its stock and a fallback
    service is eligible, late. Waiting a day instead would break the
    guarantee by more (``docs/allocation.md``).
    """
    strict = np.asarray(options.feasible & have_stock, dtype=np.bool_)
    need = options.workload[:, None] if weight is None else weight
    room = need <= capacity[None, :] + 1e-9
    fallback = np.asarray(~(strict & room).any(axis=1), dtype=np.bool_)
    relaxed = (options.relaxed_service >= 0) & have_stock & ~strict
    return np.asarray(fallback[:, None] & relaxed, dtype=np.bool_)


def deferral_reference(
    options: OrderOptions,
    extra_cost: float = 0.0,
    ship_from: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """What an item still costs when it waits: it ships the next ship day at
    about the best cost any node it may ship from tomorrow could do (room
    and bid prices aside) — its lateness counted at that later delivery.

    ``ship_from`` (``(n_items, n_nodes)``, default every node) are the nodes
    that may ship it tomorrow: working today (not closed by an outage, not
    unstaffed, a nominal capacity above 0). An item none of them can ship
    keeps the reference of every node offering its service (it still ships
    some day, at least at that cost), and no delivery date
    (:func:`deferral_delivery`)."""
    total, _, _ = _deferred_options(options, extra_cost, ship_from)
    best = np.min(total, axis=1)
    return np.asarray(np.where(np.isfinite(best), best, 0.0), dtype=np.float64)


def deferral_delivery(
    options: OrderOptions, ship_from: NDArray[np.bool_] | None = None
) -> DateArray:
    """When a waiting item is expected to arrive: its deferral reference
    option's delivery (``NaT`` where no node offers its service, or none of
    ``ship_from`` does: no date can be promised)."""
    total, delivery, shippable = _deferred_options(options, 0.0, ship_from)
    best = np.argmin(total, axis=1)
    out = delivery[np.arange(best.size), best]
    known = np.isfinite(total.min(axis=1)) & shippable
    return np.where(known, out, np.datetime64("NaT"))


def _deferred_options(
    options: OrderOptions, extra_cost: float, ship_from: NDArray[np.bool_] | None
) -> tuple[NDArray[np.float64], DateArray, NDArray[np.bool_]]:
    """Per (item, node): cost and delivery of shipping a day later, by the
    strict service (or the relaxed one where no node can keep the promise),
    over the nodes of ``ship_from`` that offer its service — or, for an item
    none of them serves (third array ``False``), over every node."""
    strict = np.asarray(options.feasible, dtype=np.bool_)
    relaxed = np.asarray(options.relaxed_service >= 0, dtype=np.bool_)
    shippable: NDArray[np.bool_] = np.ones(strict.shape[0], dtype=np.bool_)
    if ship_from is not None:
        shippable = np.asarray(((strict | relaxed) & ship_from).any(axis=1))
        nodes = ship_from | ~shippable[:, None]
        strict, relaxed = strict & nodes, relaxed & nodes
    late_only = np.asarray(~strict.any(axis=1), dtype=np.bool_)
    total = (
        _by_rule(late_only, options.shipping, options.relaxed_shipping)
        + options.handling
        + _by_rule(
            late_only, options.deferred_penalty, options.relaxed_deferred_penalty
        )
        + extra_cost
    )
    served = _by_rule(late_only, strict, relaxed)
    total = np.where(np.asarray(served, dtype=bool), total, np.inf)
    delivery = _by_rule(
        late_only, options.deferred_delivery, options.relaxed_deferred_delivery
    )
    return np.asarray(total, dtype=np.float64), delivery, shippable


class StockCharge(Protocol):
    """Stock bid prices that price ``q`` units of a SKU as more than ``q``
    times one (:class:`tierflow.orchestration.stock_prices.StockPrices`)."""

    def charge(
        self, skus: NDArray[np.intp], use: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``(n_items, n_nodes)`` what items taking ``use`` units of
        ``skus`` pay at each node."""
        ...


class RoomCharge(Protocol):
    """Prices the room items take at each node by their tier
    (:class:`~tierflow.orchestration.room_prices.RoomPrices`)."""

    def charge(
        self, guaranteed: NDArray[np.bool_], workload: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``(n_items, n_nodes)`` what each item pays at each node, taking
        ``workload`` there (per item, or ``(n_items, n_nodes)``)."""
        ...


#: A per-unit ``(n_nodes, n_skus)`` price, or a :class:`StockCharge`.
StockPrice: TypeAlias = NDArray[np.float64] | StockCharge


def _compile(
    items: _Items,
    orders: Orders,
    *,
    capacity: NDArray[np.float64],
    stock: NDArray[np.int64],
    bid_price: NDArray[np.float64] | None,
    name: str,
    stock_price: StockPrice | None = None,
    open_nodes: NDArray[np.bool_] | None = None,
    room_price: RoomCharge | None = None,
    congestion: NDArray[np.float64] | None = None,
) -> CompiledBatch:
    """Shared tail of :func:`compile_orders` and :func:`compile_lines`."""
    options = items.options
    ship_from = _ship_from(open_nodes, options.service.shape)
    strict_weight = lane_weight(options.workload, options.service, congestion)
    use_relaxed = relaxed_pairs(options, items.have_stock, capacity, strict_weight)
    weight = strict_weight
    if congestion is not None and use_relaxed.any():
        late = lane_weight(options.workload, options.relaxed_service, congestion)
        weight = _by_rule(use_relaxed, strict_weight, late)
    eligible = (options.feasible & items.have_stock) | use_relaxed
    total = (
        _by_rule(use_relaxed, options.shipping, options.relaxed_shipping)
        + options.handling
        + _by_rule(use_relaxed, options.penalty, options.relaxed_penalty)
        + items.extra_cost
    )
    true_cost = np.where(eligible, total, np.inf)
    defer_cost = (
        deferral_reference(options, items.extra_cost, ship_from) + items.defer_cost
        if items.defer_total is None
        else items.defer_total
    )
    cost = true_cost
    if bid_price is not None:
        cost = cost + bid_price[None, :] * weight
    guaranteed = (
        np.zeros(options.workload.size, dtype=bool)
        if items.guaranteed is None
        else items.guaranteed
    )
    if room_price is not None:
        cost = cost + room_price.charge(guaranteed, weight)
    skus, use = _sku_use(orders, items)
    if stock_price is not None and skus.size:
        if isinstance(stock_price, np.ndarray):
            cost = cost + use @ stock_price[:, skus].T
        else:
            cost = cost + stock_price.charge(skus, use)
    problem = AssignmentProblem(
        cost=cost,
        weight=weight,
        capacity=np.maximum(capacity, 0.0),
        eligible=eligible,
        use=use,
        stock=np.maximum(stock[:, skus], 0).astype(np.float64),
        defer_cost=defer_cost,
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
        split=np.full(items.order.size, items.split > 0, dtype=bool),
        split_kind=np.full(items.order.size, items.split, dtype=np.int8),
        waiting_delivery=_waiting_delivery(options, ship_from, items.held),
        guaranteed=guaranteed,
    )


def _waiting_delivery(
    options: OrderOptions,
    ship_from: NDArray[np.bool_] | None,
    held: NDArray[np.bool_] | None,
) -> DateArray:
    """:func:`deferral_delivery` over the nodes of ``ship_from`` that held
    the item this morning (``held``): the date of a node that could ship
    it tomorrow *and* holds its units, and no date (``NaT``) where none of
    them offers its service. Its price (:func:`deferral_reference`) stays
    that of ``ship_from``, stock aside.

    The morning's stock, not the stock left at the batch: stock only falls
    during the day, so the batch's stock is not tomorrow's either; a line
    waiting because today's orders took every unit would lose its date
    although it is deferred, not unfillable (the same morning stock tells
    the two apart); and the date would hang on the earlier batches'
    choices, so differ by engine. Until 2026-12-05 the date was that of
    the cheapest of ``ship_from``, holder or not (``docs/allocation.md``)."""
    if held is None:
        return deferral_delivery(options, ship_from)
    can = held if ship_from is None else held & ship_from
    return deferral_delivery(options, np.asarray(can, dtype=np.bool_))


def _ship_from(
    open_nodes: NDArray[np.bool_] | None, shape: tuple[int, ...]
) -> NDArray[np.bool_] | None:
    """``(n_items, n_nodes)`` nodes a waiting item may ship from tomorrow:
    those working today (``None``: every node). Pricing a wait only at the
    nodes that held the item this morning was tried and left out
    (``docs/allocation.md``): ``items.held`` only dates it
    (:func:`_waiting_delivery`)."""
    if open_nodes is None:
        return None
    return np.broadcast_to(np.asarray(open_nodes, dtype=np.bool_)[None, :], shape)


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
    stock_price: StockPrice | None = None,
    name: str = "batch",
    morning_stock: NDArray[np.int64] | None = None,
    open_nodes: NDArray[np.bool_] | None = None,
    room_price: RoomCharge | None = None,
    ships: NDArray[np.bool_] | None = None,
    congestion: NDArray[np.float64] | None = None,
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
    stock_price
        ``(n_nodes, n_skus)`` shadow price per unit of each SKU at each node,
        or a :class:`StockCharge` pricing ``q`` units at once
        (:mod:`tierflow.orchestration.stock_prices`), added likewise.
    morning_stock, open_nodes
        ``(n_nodes, n_skus)`` stock this morning and the nodes working today
        (open, staffed, a nominal capacity above 0): a waiting item is priced
        and dated as shipped tomorrow from one of ``open_nodes`` (default
        every node; :func:`deferral_reference`), dated from those of them
        that held it this morning, and given no date when none did.
    room_price
        The room prices by tier (:class:`RoomCharge`), added like
        ``bid_price``; guaranteed items pay none.
    ships
        Per line of ``orders``, whether it ships
        (:func:`~tierflow.formulations.order_pricing.fillable_lines`): an
        order is the one shipment of those of its lines, the others left
        out (they are unfillable); default every line.
    congestion
        ``(n_nodes, n_services)`` each lane's delay factor (the monitor's):
        an item takes its workload times its lane's factor of the node's
        capacity (:func:`lane_weight`); default 1 everywhere.
    """
    idx = np.asarray(idx, dtype=np.intp)
    spend = np.asarray(predicted_spend, dtype=np.float64)
    defer = policy.defer_cost(orders.tier[idx], spend)
    lines, counts = shipping_lines(orders, idx, ships)
    line_start = np.concatenate([[0], np.cumsum(counts)])
    items = _Items(
        options=price_orders(
            network, orders, idx, policy, release=release, ships=ships
        ),
        order=idx,
        lines=lines,
        line_start=line_start.astype(np.intp),
        have_stock=stock_ok(orders, idx, stock, ships),
        defer_cost=defer,
        priority=spend + defer,
        held=None
        if morning_stock is None
        else stock_ok(orders, idx, morning_stock, ships),
        guaranteed=guaranteed_orders(orders, idx, policy),
    )
    return _compile(
        items,
        orders,
        capacity=capacity,
        stock=stock,
        bid_price=bid_price,
        stock_price=stock_price,
        name=name,
        open_nodes=open_nodes,
        room_price=room_price,
        congestion=congestion,
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
    stock_price: StockPrice | None = None,
    name: str = "split",
    defer_total: NDArray[np.float64] | None = None,
    morning_stock: NDArray[np.int64] | None = None,
    open_nodes: NDArray[np.bool_] | None = None,
    room_price: RoomCharge | None = None,
    ships: NDArray[np.bool_] | None = None,
    congestion: NDArray[np.float64] | None = None,
) -> CompiledBatch:
    """Order *lines* as items, for orders no single node can fill (stock) or
    none has the room for whole.

    Each line ships on its own (billed weight of the line, handling of its
    units) and pays ``split_shipment_cost``. A line that waits costs its own
    reference plus its share (by units) of the order's delay penalty, so
    all lines waiting cost the penalty once; ``defer_total`` replaces that
    with a given deferral cost per line (e.g. its share of the whole order's).
    ``morning_stock``, ``open_nodes``, ``room_price``, ``congestion`` and
    ``ships`` (the shares are of the units of the order's lines that ship)
    as for :func:`compile_orders`.
    """
    lines = np.asarray(lines, dtype=np.intp)
    owner = orders.line_order[lines].astype(np.intp)
    sku, qty = orders.line_sku[lines], orders.line_qty[lines].astype(np.float64)
    spend = np.asarray(predicted_spend, dtype=np.float64)
    items = _Items(
        options=line_options(network, orders, lines, policy, release=release),
        order=owner,
        lines=lines,
        line_start=np.arange(lines.size + 1, dtype=np.intp),
        have_stock=qty[:, None] <= stock[:, sku].T,
        defer_cost=policy.defer_cost(orders.tier[owner], spend)
        * unit_share(orders, lines, ships),
        priority=spend,
        extra_cost=policy.split_shipment_cost,
        split=SPLIT_ROOM if defer_total is not None else SPLIT_STOCK,
        defer_total=defer_total,
        held=None if morning_stock is None else qty[:, None] <= morning_stock[:, sku].T,
        guaranteed=guaranteed_orders(orders, owner, policy),
    )
    return _compile(
        items,
        orders,
        capacity=capacity,
        stock=stock,
        bid_price=bid_price,
        stock_price=stock_price,
        name=name,
        open_nodes=open_nodes,
        room_price=room_price,
        congestion=congestion,
    )


def line_options(
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


def unit_share(
    orders: Orders, lines: NDArray[np.intp], ships: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    """Each line's share of its order's units (the lines of an order sum to
    1): of the units of its lines that ship, of ``ships`` (default every line)."""
    qty = orders.line_qty.astype(np.float64)
    if ships is not None:
        qty = np.where(ships, qty, 0.0)
    per_order = np.add.reduceat(qty, orders.line_start[:-1]) if qty.size else qty
    owner = orders.line_order[lines]
    return np.asarray(qty[lines] / np.maximum(per_order[owner], 1.0), np.float64)


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
        split_kind=np.concatenate([first.split_kind, second.split_kind]),
        waiting_delivery=np.concatenate(
            [first.waiting_delivery, second.waiting_delivery]
        ),
        guaranteed=np.concatenate([first.guaranteed, second.guaranteed]),
    )
