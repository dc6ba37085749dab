"""Every order of a batch priced at every node: the fulfillment cost model.

Ship and delivery dates, the tier's promise and lateness penalty, shipping
and handling cost, and the service each order would use at each node, on
``(orders, nodes)`` arrays in blocks (``docs/data.md`` describes the model).
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
from tierflow.formulations.index_join import ranges
from tierflow.formulations.tiers import TierPolicy

#: Orders priced per block (bounds the (orders × nodes × brackets) temporaries).
BLOCK = 4096
#: Services a guaranteed order (Platinum, a checkout promise) may fall back to
#: when no node can make its date (the stock prices count their nodes too).
GUARANTEE_FALLBACK = (SERVICES.index("next_day"), SERVICES.index("two_day"))

DateArray = NDArray[np.datetime64]


def local_clock(
    instants: NDArray[np.datetime64], timezones: tuple[str, ...]
) -> tuple[DateArray, NDArray[np.float64]]:
    """Local date and seconds after local midnight of UTC ``instants`` per zone.

    Returns two ``(len(instants), len(timezones))`` arrays. Each distinct
    instant is converted once (a batch releases its orders at one instant:
    one conversion, not one per order). Few distinct instants (the online
    path, a batch) go through :mod:`zoneinfo` directly; many through pandas'
    vectorized conversion.
    """
    utc = np.asarray(instants, dtype="datetime64[s]")
    distinct, back = np.unique(utc, return_inverse=True)
    if distinct.size < utc.size:
        dates, secs = _local_clock(distinct, timezones)
        return dates[back.reshape(-1)], secs[back.reshape(-1)]
    return _local_clock(utc, timezones)


def _local_clock(
    utc: NDArray[np.datetime64], timezones: tuple[str, ...]
) -> tuple[DateArray, NDArray[np.float64]]:
    """:func:`local_clock` of ``instants`` as they are (no deduplication)."""
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
    #: When each item reaches a node (UTC): what its cutoffs were judged at.
    release: NDArray[np.datetime64]
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
    #: The same service shipped one ship day later (the order waits a day):
    #: its delivery and lateness penalty, strict and relaxed.
    deferred_delivery: DateArray
    deferred_penalty: NDArray[np.float64]
    relaxed_deferred_delivery: DateArray
    relaxed_deferred_penalty: NDArray[np.float64]

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
    """Promised delivery date of each order: the date promised at checkout
    where the order carries one, else its local order date + its tier's
    promise days."""
    return _promised_dates(
        network, orders, idx, policy, order_dates(network, orders, idx)
    )


def _promised_dates(
    network: Network,
    orders: Orders,
    idx: NDArray[np.intp],
    policy: TierPolicy,
    local_date: DateArray,
) -> DateArray:
    """:func:`promised_dates` from the orders' local dates (:func:`order_dates`)."""
    days = policy.table("promise_days")[policy.tier_index(orders.tier[idx])]
    by_tier = network.calendar.promised_dates(local_date, days.astype(np.int64))
    explicit = checkout_promised(orders, idx)
    return np.where(np.isnat(explicit), by_tier, explicit)


def order_dates(network: Network, orders: Orders, idx: NDArray[np.intp]) -> DateArray:
    """Each order's local date at the destination when it was placed
    (``created_at``): what its promise counts from, and what no delivery
    may precede."""
    created = orders.created_at[idx].astype("datetime64[s]")
    tz = network.dest_tz[orders.dest[idx]]
    # each order in its own zone only (not in all of them, then one picked)
    local = np.empty(idx.size, dtype="datetime64[D]")
    for z in np.unique(tz):
        at = tz == z
        dates, _ = local_clock(created[at], (network.dest_timezones[int(z)],))
        local[at] = dates[:, 0]
    return local


def checkout_promised(orders: Orders, idx: NDArray[np.intp]) -> DateArray:
    """Per order of ``idx``, the date promised at checkout (``NaT``: none)."""
    if orders.promised_date is None:
        return np.full(idx.size, np.datetime64("NaT"), dtype="datetime64[D]")
    return np.asarray(orders.promised_date[idx], dtype="datetime64[D]")


def guaranteed_orders(
    orders: Orders, idx: NDArray[np.intp], policy: TierPolicy
) -> NDArray[np.bool_]:
    """Per order of ``idx``: its tier's date is guaranteed, or checkout
    promised it a date (guaranteed alike): what :func:`price_orders` keeps
    late only where no node can keep it."""
    promised = ~np.isnat(checkout_promised(orders, idx))
    return _tier_guaranteed(policy, policy.tier_index(orders.tier[idx])) | promised


def _tier_guaranteed(policy: TierPolicy, tiers: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Per tier index of ``tiers``: whether that tier's date is guaranteed."""
    table = np.array([policy.rule(t).guaranteed for t in range(len(TIERS))])
    return np.asarray(table[tiers], dtype=bool)


def order_totals(
    network: Network,
    orders: Orders,
    idx: NDArray[np.intp],
    ships: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Units, complexity-weighted workload and billed kg of each order in
    ``idx``: of its lines that ship (``ships``, one flag per line of
    ``orders``; default every line, see :func:`fillable_lines`)."""
    lines = lines_of(orders, idx)
    owner = np.repeat(np.arange(idx.size), np.diff(orders.line_start)[idx])
    sku, qty = orders.line_sku[lines], orders.line_qty[lines].astype(np.float64)
    if ships is not None:
        qty = np.where(ships[lines], qty, 0.0)
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
    return ranges(starts, orders.line_start[idx + 1] - starts).astype(np.intp)


def fillable_lines(
    orders: Orders,
    stock: NDArray[np.int64],
    lines: NDArray[np.intp] | None = None,
) -> NDArray[np.bool_]:
    """Per line of ``orders`` (or of ``lines`` only, in their order): some
    node of ``stock`` (this morning's) holds its quantity. A line none
    holds cannot ship under any policy; the rest of its order ships as the
    order would, one shipment where a node holds them all
    (``docs/allocation.md``)."""
    sku = orders.line_sku if lines is None else orders.line_sku[lines]
    qty = orders.line_qty if lines is None else orders.line_qty[lines]
    held = stock[:, sku].max(axis=0) if stock.shape[0] else 0
    return np.asarray(held >= qty, dtype=np.bool_)


def shipping_lines(
    orders: Orders, idx: NDArray[np.intp], ships: NDArray[np.bool_] | None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The lines of the orders ``idx`` that ship (``ships``; ``None``: every
    line), grouped by order in ``idx`` order, and how many each order has."""
    lines = lines_of(orders, idx)
    counts = np.diff(orders.line_start)[idx].astype(np.intp)
    if ships is None:
        return lines, counts
    keep = ships[lines]
    owner = np.repeat(np.arange(idx.size), counts)
    kept = np.bincount(owner[keep], minlength=idx.size).astype(np.intp)
    return lines[keep], kept


@dataclass(frozen=True, slots=True)
class _TierRules:
    """Per order: its tier's services, lateness rate, whether its date is kept
    where it can (``kept``) and whether it may fall back to a faster service
    to be late by less (``guaranteed``)."""

    allowed: NDArray[np.bool_]
    late_rate: NDArray[np.float64]
    guaranteed: NDArray[np.bool_]
    kept: NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        policy: TierPolicy,
        tier: NDArray[np.int8],
        *,
        promised: NDArray[np.bool_] | None = None,
    ) -> _TierRules:
        """Rules per order; ``promised`` orders carry a checkout promise,
        guaranteed like Platinum's (late only where no node can keep it)."""
        tiers = policy.tier_index(tier)
        guaranteed = _tier_guaranteed(policy, tiers)
        if promised is not None:
            guaranteed = guaranteed | promised
        return cls(
            allowed=policy.service_table()[tiers],  # (n, S)
            late_rate=policy.table("late_per_day")[tiers],
            guaranteed=guaranteed,
            kept=policy.date_kept(tiers) | guaranteed,
        )

    def __getitem__(self, rows: slice) -> _TierRules:
        return _TierRules(
            self.allowed[rows],
            self.late_rate[rows],
            self.guaranteed[rows],
            self.kept[rows],
        )


#: The ``(orders, nodes)`` arrays :func:`price_orders` fills, and their dtypes.
_PER_NODE = (
    ("ship_date", "datetime64[D]"),
    ("service", np.int8),
    ("delivery", "datetime64[D]"),
    ("shipping", np.float64),
    ("penalty", np.float64),
    ("relaxed_service", np.int8),
    ("relaxed_delivery", "datetime64[D]"),
    ("relaxed_shipping", np.float64),
    ("relaxed_penalty", np.float64),
    ("deferred_delivery", "datetime64[D]"),
    ("deferred_penalty", np.float64),
    ("relaxed_deferred_delivery", "datetime64[D]"),
    ("relaxed_deferred_penalty", np.float64),
)


def price_orders(
    network: Network,
    orders: Orders,
    idx: NDArray[np.intp],
    policy: TierPolicy,
    *,
    release: NDArray[np.datetime64] | None = None,
    billed_kg: NDArray[np.float64] | None = None,
    ships: NDArray[np.bool_] | None = None,
) -> OrderOptions:
    """Price every order of ``idx`` at every node (see ``docs/data.md``).

    Parameters
    ----------
    release
        When each order is released to a node (UTC); default its ``created_at``.
        A later release (a later batch, a reroute) can miss a cutoff.
    billed_kg
        Billed weight per order, e.g. of a single line in the split stage;
        default the whole order's.
    ships
        Per line of ``orders``, whether it ships (:func:`fillable_lines`):
        an order is priced as the shipment of those of its lines (units,
        workload, weight); default every line.
    """
    idx = np.asarray(idx, dtype=np.intp)
    units, work, kg = order_totals(network, orders, idx, ships)
    if billed_kg is not None:
        kg = np.asarray(billed_kg, dtype=np.float64)
    when = orders.created_at[idx] if release is None else np.asarray(release)
    ordered = order_dates(network, orders, idx)
    promised = _promised_dates(network, orders, idx, policy, ordered)
    # a promise made at checkout is kept like a guarantee where it can be
    kept = ~np.isnat(checkout_promised(orders, idx))
    rules = _TierRules.of(policy, orders.tier[idx], promised=kept)
    n = idx.size
    out = {
        name: np.empty((n, network.n_nodes), dtype=dtype) for name, dtype in _PER_NODE
    }
    for lo in range(0, n, BLOCK):
        b = slice(lo, min(lo + BLOCK, n))
        block = _Block(
            when[b],
            orders.dest[idx[b]],
            ordered[b, None],
            promised[b],
            kg[b, None],
            rules[b],
        )
        _price_block(network, block, {name: arr[b] for name, arr in out.items()})
    for name in (
        "shipping",
        "penalty",
        "relaxed_shipping",
        "relaxed_penalty",
        "deferred_penalty",
        "relaxed_deferred_penalty",
    ):
        service = out["relaxed_service" if name.startswith("relaxed") else "service"]
        out[name] = np.where(service >= 0, out[name], np.nan)
    return OrderOptions(
        orders=idx,
        release=np.asarray(when, dtype="datetime64[s]"),
        promised=promised,
        units=units,
        workload=work,
        billed_kg=kg,
        handling=units[:, None] * network.handling_cost[None, :],
        **out,
    )


@dataclass(frozen=True, slots=True)
class _Block:
    """The orders of one block: release, destination, local order date
    (a column), promise, kg, tier rules."""

    when: NDArray[np.datetime64]
    dest: NDArray[np.intp]
    ordered: DateArray
    promised: DateArray
    kg: NDArray[np.float64]
    rules: _TierRules


def _price_block(
    network: Network, block: _Block, out: dict[str, NDArray[np.generic]]
) -> None:
    """Fill ``out`` (views of the block's rows): per node, the cheapest service
    of each order's tier once lateness is charged, strict and relaxed."""
    dates, secs = local_clock(block.when, network.timezones)
    ship = network.calendar.ship_dates(
        dates[:, network.node_tz],
        secs[:, network.node_tz],
        network.cutoff_minutes[None, :],
    )
    zone = network.zone[:, block.dest].T  # (b, m)
    rules = block.rules
    offered = (network.services_mask[:, None] >> np.arange(len(SERVICES))) & 1
    best = np.full(zone.shape, np.inf)
    best_relaxed = np.full(zone.shape, np.inf)
    out["service"][:] = -1
    out["relaxed_service"][:] = -1
    for s in range(len(SERVICES)):
        if not network.rates.offered[s]:
            continue
        allowed = rules.allowed[:, s, None]
        guaranteed = rules.guaranteed[:, None]
        usable = offered[None, :, s].astype(bool) & (allowed | guaranteed)
        if not usable.any():
            continue
        priced = _price_service(network, s, ship, zone, block)
        strict_ok = usable & allowed & ~(rules.kept[:, None] & (priced.late > 0))
        relaxed_ok = usable & (allowed | (guaranteed & (s in GUARANTEE_FALLBACK)))
        _keep_cheaper(out, "", strict_ok, best, s, priced)
        _keep_cheaper(out, "relaxed_", relaxed_ok, best_relaxed, s, priced)
    out["ship_date"][:] = ship


@dataclass(frozen=True, slots=True)
class _ServicePrice:
    """One service from every node: delivery, days late, price, penalty, total,
    and the delivery and penalty when shipped one ship day later."""

    delivery: DateArray
    late: NDArray[np.int64]
    price: NDArray[np.float64]
    penalty: NDArray[np.float64]
    total: NDArray[np.float64]
    deferred_delivery: DateArray
    deferred_penalty: NDArray[np.float64]


def _price_service(
    network: Network, s: int, ship: DateArray, zone: NDArray[np.int8], block: _Block
) -> _ServicePrice:
    calendar = network.calendar
    transit = network.rates.transit(s, zone)
    deliver = calendar.delivery_dates(ship, transit, s, ordered=block.ordered)
    late = calendar.days_late(block.promised[:, None], deliver)
    price = network.rates.price(s, zone, block.kg)
    rate = block.rules.late_rate[:, None]
    penalty = late * rate
    later = calendar.delivery_dates(
        calendar.ship_days.offset(ship, 1), transit, s, ordered=block.ordered
    )
    later_penalty = calendar.days_late(block.promised[:, None], later) * rate
    return _ServicePrice(
        deliver, late, price, penalty, price + penalty, later, later_penalty
    )


def _keep_cheaper(
    out: dict[str, NDArray[np.generic]],
    prefix: str,
    ok: NDArray[np.bool_],
    best: NDArray[np.float64],
    s: int,
    priced: _ServicePrice,
) -> None:
    """Where service ``s`` is allowed and cheaper than ``best``, choose it."""
    better = ok & (priced.total < best)
    best[better] = priced.total[better]
    out[prefix + "service"][better] = s
    out[prefix + "delivery"][better] = priced.delivery[better]
    out[prefix + "shipping"][better] = priced.price[better]
    out[prefix + "penalty"][better] = priced.penalty[better]
    out[prefix + "deferred_delivery"][better] = priced.deferred_delivery[better]
    out[prefix + "deferred_penalty"][better] = priced.deferred_penalty[better]
