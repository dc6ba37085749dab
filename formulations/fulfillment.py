"""The fulfillment cost model and its compiler into :class:`AssignmentProblem`.

For an order ``o`` (lines of SKU × quantity, destination prefix, tier,
release time) and a node ``n``, :func:`price_orders` works out, for every
node at once:

* the **ship date** (node-local cutoff and timezone, Mon–Sat shipping) and,
  per carrier service, the **delivery date** (zone transit, Mon–Sat
  delivery), :mod:`tierflow.data.delivery_calendar`;
* the tier's **promised date** and the **lateness penalty**
  (:mod:`tierflow.formulations.tiers`);
* the **shipping cost** (rate card by service, zone and billed weight of the
  whole shipment) and the **handling cost** (per unit picked at the node);
* the **service** the order would use there: the cheapest of its tier's
  services once lateness is charged; Platinum may only use an on-time one.

:func:`compile_orders` then adds stock (a node must hold every line), the
nodes' remaining capacity (complexity-weighted units), the SKUs as extra
knapsack resources, the deferral penalties and optional bid prices, and
returns the core problem plus everything needed to turn a solution back into
allocation rows. :func:`compile_lines` does the same with order *lines* as
items, for the split stage.

Everything is computed on ``(orders, nodes)`` arrays in blocks; no Python
loop runs per order or per pair.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import SERVICES, billed_weight_kg
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.problem import AssignmentProblem
from tierflow.formulations.tiers import TierPolicy

#: Orders priced per block (bounds the (orders × nodes × brackets) temporaries).
BLOCK = 4096
_PLATINUM = TIERS.index("platinum")
#: Services a Platinum order may fall back to when no node can make its date.
_PLATINUM_FALLBACK = (SERVICES.index("next_day"), SERVICES.index("two_day"))

DateArray = NDArray[np.datetime64]


def local_clock(
    instants: NDArray[np.datetime64], timezones: tuple[str, ...]
) -> tuple[DateArray, NDArray[np.float64]]:
    """Local date and seconds after local midnight of UTC ``instants`` per zone.

    Returns two ``(len(instants), len(timezones))`` arrays. Few instants
    (the online path) go through :mod:`zoneinfo` directly; many through pandas'
    vectorized conversion.
    """
    utc = np.asarray(instants, dtype="datetime64[s]")
    n, z = utc.size, len(timezones)
    dates = np.empty((n, z), dtype="datetime64[D]")
    secs = np.empty((n, z), dtype=np.float64)
    if n <= 16:
        for i, stamp in enumerate(utc.astype(dt.datetime)):
            aware = stamp.replace(tzinfo=dt.UTC)
            for k, name in enumerate(timezones):
                local = aware.astimezone(zone_info(name))
                dates[i, k] = np.datetime64(local.date(), "D")
                secs[i, k] = local.hour * 3600 + local.minute * 60 + local.second
        return dates, secs
    index = pd.DatetimeIndex(utc).tz_localize("UTC")
    for k, name in enumerate(timezones):
        local = index.tz_convert(name).tz_localize(None).to_numpy("datetime64[s]")
        day = local.astype("datetime64[D]")
        dates[:, k] = day
        secs[:, k] = (local - day).astype(np.int64)
    return dates, secs


@dataclass(frozen=True, slots=True, eq=False)
class OrderOptions:
    """Per (order, node): the service an order would use and what it costs.

    ``strict`` fields honour Platinum's guarantee (ineligible where late);
    ``relaxed`` fields let a Platinum order ship late from the fastest node,
    used only when no node with stock can make its date.
    """

    orders: NDArray[np.intp]
    promised: DateArray
    units: NDArray[np.float64]
    workload: NDArray[np.float64]
    billed_kg: NDArray[np.float64]
    ship_date: DateArray
    service: NDArray[np.int8]
    delivery: DateArray
    shipping: NDArray[np.float64]
    penalty: NDArray[np.float64]
    handling: NDArray[np.float64]
    relaxed_service: NDArray[np.int8]
    relaxed_delivery: DateArray
    relaxed_shipping: NDArray[np.float64]
    relaxed_penalty: NDArray[np.float64]

    @property
    def feasible(self) -> NDArray[np.bool_]:
        """Pairs with a service that keeps the tier's guarantee."""
        return np.asarray(self.service >= 0)

    @property
    def cost(self) -> NDArray[np.float64]:
        """Shipping + handling + lateness penalty (``inf`` where infeasible)."""
        return np.where(
            self.feasible, self.shipping + self.handling + self.penalty, np.inf
        )


def promised_dates(
    network: Network, orders: Orders, idx: NDArray[np.intp], policy: TierPolicy
) -> DateArray:
    """Promised delivery date of each order: local order date + promise days."""
    created = orders.created_at[idx].astype("datetime64[s]")
    tz = network.dest_tz[orders.dest[idx]]
    dates, _ = local_clock(created, network.dest_timezones)
    local_date = dates[np.arange(idx.size), tz]
    days = policy.table("promise_days")[policy.tier_index(orders.tier[idx])]
    return np.busday_offset(
        local_date,
        days.astype(np.int64),
        roll="forward",
        weekmask=network.calendar.delivery_weekmask,
        holidays=np.array(network.calendar.holidays, dtype="datetime64[D]"),
    )


def order_totals(
    network: Network, orders: Orders, idx: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Units, complexity-weighted workload and billed kg of each order in ``idx``."""
    lines = lines_of(orders, idx)
    owner = np.repeat(np.arange(idx.size), np.diff(orders.line_start)[idx])
    sku, qty = orders.line_sku[lines], orders.line_qty[lines].astype(np.float64)
    units = np.bincount(owner, weights=qty, minlength=idx.size)
    work = np.bincount(
        owner, weights=network.sku_complexity[sku] * qty, minlength=idx.size
    )
    kg = np.bincount(
        owner, weights=network.sku_weight_kg[sku] * qty, minlength=idx.size
    )
    vol = np.bincount(
        owner, weights=network.sku_volume_cm3[sku] * qty, minlength=idx.size
    )
    return (
        units.astype(np.float64),
        work.astype(np.float64),
        billed_weight_kg(kg, vol),
    )


def lines_of(orders: Orders, idx: NDArray[np.intp]) -> NDArray[np.intp]:
    """Line positions of the orders ``idx``, grouped by order in ``idx`` order."""
    starts = orders.line_start[idx]
    counts = orders.line_start[idx + 1] - starts
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return np.asarray(np.arange(int(counts.sum())) + offsets, dtype=np.intp)


def price_orders(
    network: Network,
    orders: Orders,
    idx: NDArray[np.intp],
    policy: TierPolicy,
    *,
    release: NDArray[np.datetime64] | None = None,
    billed_kg: NDArray[np.float64] | None = None,
) -> OrderOptions:
    """Price every order of ``idx`` at every node (see the module docstring).

    Parameters
    ----------
    release
        When each order is released to a node (UTC); default its ``created_at``.
        A later release (a later batch, a reroute) can miss a cutoff.
    billed_kg
        Billed weight per order, e.g. of a single line in the split stage;
        default the whole order's.
    """
    idx = np.asarray(idx, dtype=np.intp)
    units, work, kg = order_totals(network, orders, idx)
    if billed_kg is not None:
        kg = np.asarray(billed_kg, dtype=np.float64)
    when = orders.created_at[idx] if release is None else np.asarray(release)
    promised = promised_dates(network, orders, idx, policy)
    n, m = idx.size, network.n_nodes
    tiers = policy.tier_index(orders.tier[idx])
    allowed = policy.service_table()[tiers]  # (n, S)
    late_rate = policy.table("late_per_day")[tiers]
    guaranteed = np.array([policy.rule(int(t)).guaranteed for t in range(len(TIERS))])[
        tiers
    ]
    holidays = np.array(network.calendar.holidays, dtype="datetime64[D]")
    mask = network.calendar.delivery_weekmask

    out = {
        name: np.empty((n, m), dtype=dtype)
        for name, dtype in (
            ("ship_date", "datetime64[D]"),
            ("service", np.int8),
            ("delivery", "datetime64[D]"),
            ("shipping", np.float64),
            ("penalty", np.float64),
            ("relaxed_service", np.int8),
            ("relaxed_delivery", "datetime64[D]"),
            ("relaxed_shipping", np.float64),
            ("relaxed_penalty", np.float64),
        )
    }
    offered = ((network.services_mask[:, None] >> np.arange(len(SERVICES))) & 1).astype(
        bool
    )  # (m, S)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        b = slice(lo, hi)
        dates, secs = local_clock(when[b], network.timezones)
        local_date = dates[:, network.node_tz]
        local_secs = secs[:, network.node_tz]
        ship = network.calendar.ship_dates(
            local_date, local_secs, network.cutoff_minutes[None, :]
        )
        zone = network.zone[:, orders.dest[idx[b]]].T  # (b, m)
        best = np.full((hi - lo, m), np.inf)
        best_relaxed = np.full((hi - lo, m), np.inf)
        for name in ("service", "relaxed_service"):
            out[name][b] = -1
        for s in range(len(SERVICES)):
            if not network.rates.offered[s]:
                continue
            usable = offered[None, :, s] & (allowed[b, s, None] | guaranteed[b, None])
            if not usable.any():
                continue
            transit = network.rates.transit(s, zone)
            deliver = np.busday_offset(
                ship,
                transit.astype(np.int64),
                roll="forward",
                weekmask=mask,
                holidays=holidays,
            )
            late = np.maximum(
                np.busday_count(
                    promised[b, None], deliver, weekmask=mask, holidays=holidays
                ),
                0,
            )
            price = network.rates.price(s, zone, kg[b, None])
            penalty = late * late_rate[b, None]
            total = price + penalty
            strict_ok = (
                usable & allowed[b, s, None] & ~(guaranteed[b, None] & (late > 0))
            )
            relaxed_ok = usable & (
                allowed[b, s, None] | (guaranteed[b, None] & (s in _PLATINUM_FALLBACK))
            )
            for prefix, ok, cur in (
                ("", strict_ok, best),
                ("relaxed_", relaxed_ok, best_relaxed),
            ):
                better = ok & (total < cur)
                cur[better] = total[better]
                out[prefix + "service"][b][better] = s
                out[prefix + "delivery"][b][better] = deliver[better]
                out[prefix + "shipping"][b][better] = price[better]
                out[prefix + "penalty"][b][better] = penalty[better]
        out["ship_date"][b] = ship
    handling = units[:, None] * network.handling_cost[None, :]
    for name in ("shipping", "penalty", "relaxed_shipping", "relaxed_penalty"):
        service = out["relaxed_service" if name.startswith("relaxed") else "service"]
        out[name] = np.where(service >= 0, out[name], np.nan)
    return OrderOptions(
        orders=idx,
        promised=promised,
        units=units,
        workload=work,
        billed_kg=kg,
        handling=handling,
        **out,
    )


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
        return np.where(self.use_relaxed[:, None], o.relaxed_service, o.service)

    def delivery(self) -> DateArray:
        o = self.options
        return np.where(self.use_relaxed[:, None], o.relaxed_delivery, o.delivery)

    def parts(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(shipping, penalty) per (item, node) actually used."""
        o = self.options
        r = self.use_relaxed[:, None]
        return (
            np.where(r, o.relaxed_shipping, o.shipping),
            np.where(r, o.relaxed_penalty, o.penalty),
        )


def _compile(
    options: OrderOptions,
    item_order: NDArray[np.intp],
    lines: NDArray[np.intp],
    item_lines: NDArray[np.intp],
    orders: Orders,
    *,
    have_stock: NDArray[np.bool_],
    capacity: NDArray[np.float64],
    stock: NDArray[np.int64],
    defer_cost: NDArray[np.float64],
    priority: NDArray[np.float64] | None,
    bid_price: NDArray[np.float64] | None,
    extra_cost: float,
    name: str,
    split: bool = False,
) -> CompiledBatch:
    """Shared tail of :func:`compile_orders` and :func:`compile_lines`.

    ``defer_cost`` is the delay penalty only; the item's best cost today is
    added, since a deferred order still ships (tomorrow).
    """
    strict = np.asarray(options.feasible & have_stock, dtype=bool)
    relaxed_ok = np.asarray((options.relaxed_service >= 0) & have_stock, dtype=bool)
    use_relaxed = np.asarray(~strict.any(axis=1) & relaxed_ok.any(axis=1), dtype=bool)
    eligible = np.where(use_relaxed[:, None], relaxed_ok, strict)
    shipping = np.where(
        use_relaxed[:, None], options.relaxed_shipping, options.shipping
    )
    penalty = np.where(use_relaxed[:, None], options.relaxed_penalty, options.penalty)
    true_cost = np.where(
        eligible, shipping + options.handling + penalty + extra_cost, np.inf
    )
    # Waiting a day still ships the order (tomorrow, at about the best cost any
    # node offering its service could do, stock and capacity aside), so
    # deferral costs that plus the tier/CLTV delay penalty. Judged without
    # today's stock it is the same for every policy and for the bound.
    served = np.where(
        use_relaxed[:, None], options.relaxed_service >= 0, options.feasible
    )
    anyway = np.where(
        np.asarray(served, dtype=bool),
        np.where(use_relaxed[:, None], options.relaxed_shipping, options.shipping)
        + options.handling
        + np.where(use_relaxed[:, None], options.relaxed_penalty, options.penalty)
        + extra_cost,
        np.inf,
    )
    best = np.min(anyway, axis=1)
    reference = np.where(np.isfinite(best), best, 0.0)
    defer_cost = reference + defer_cost
    cost = true_cost
    if bid_price is not None:
        cost = cost + bid_price[None, :] * options.workload[:, None]
    skus, col = np.unique(orders.line_sku[lines], return_inverse=True)
    owner = np.repeat(np.arange(item_order.size), np.diff(item_lines))
    use = np.zeros((item_order.size, skus.size))
    np.add.at(use, (owner, col), orders.line_qty[lines])
    problem = AssignmentProblem(
        cost=cost,
        weight=np.repeat(options.workload[:, None], capacity.size, axis=1),
        capacity=np.maximum(capacity, 0.0),
        eligible=eligible,
        use=use,
        stock=np.maximum(stock[:, skus], 0).astype(np.float64),
        defer_cost=defer_cost,
        priority=priority,
        name=name,
    )
    return CompiledBatch(
        problem=problem,
        options=options,
        item_order=item_order,
        item_lines=item_lines,
        lines=lines,
        skus=skus.astype(np.intp),
        use_relaxed=use_relaxed,
        true_cost=true_cost,
        split=np.full(item_order.size, split, dtype=bool),
    )


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
    """Whole orders as items (one shipment each); see the module docstring.

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
    options = price_orders(network, orders, idx, policy, release=release)
    lines = lines_of(orders, idx)
    item_lines = np.concatenate([[0], np.cumsum(np.diff(orders.line_start)[idx])])
    spend = np.asarray(predicted_spend, dtype=np.float64)
    return _compile(
        options,
        idx,
        lines,
        item_lines.astype(np.intp),
        orders,
        have_stock=stock_ok(orders, idx, stock),
        capacity=capacity,
        stock=stock,
        defer_cost=policy.defer_cost(orders.tier[idx], spend),
        priority=spend + policy.defer_cost(orders.tier[idx], spend),
        bid_price=bid_price,
        extra_cost=0.0,
        name=name,
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
    kg = billed_weight_kg(
        network.sku_weight_kg[sku] * qty, network.sku_volume_cm3[sku] * qty
    )
    base = price_orders(network, orders, owner, policy, release=release, billed_kg=kg)
    work = network.sku_complexity[sku] * qty
    options = OrderOptions(
        orders=owner,
        promised=base.promised,
        units=qty,
        workload=work,
        billed_kg=kg,
        ship_date=base.ship_date,
        service=base.service,
        delivery=base.delivery,
        shipping=base.shipping,
        penalty=base.penalty,
        handling=qty[:, None] * network.handling_cost[None, :],
        relaxed_service=base.relaxed_service,
        relaxed_delivery=base.relaxed_delivery,
        relaxed_shipping=base.relaxed_shipping,
        relaxed_penalty=base.relaxed_penalty,
    )
    have = qty[:, None] <= stock[:, sku].T
    spend = np.asarray(predicted_spend, dtype=np.float64)
    return _compile(
        options,
        owner,
        lines,
        np.arange(lines.size + 1, dtype=np.intp),
        orders,
        have_stock=have,
        capacity=capacity,
        stock=stock,
        defer_cost=policy.defer_cost(orders.tier[owner], spend),
        priority=spend,
        bid_price=bid_price,
        extra_cost=policy.split_shipment_cost,
        name=name,
        split=True,
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
