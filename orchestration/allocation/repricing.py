"""Allocation rows re-priced from the network's tables alone.

An independent check of what the allocator reports: every row's cost is
recomputed from the rate card, the zones, the delivery calendar, the node's
cutoff and handling cost and the tier rules — not from the allocator's
pricing — and every shipment is checked for eligibility (the node offers the
service, the tier allows it, the stock was there) and, for a guaranteed
order, for its deadline. The cost model it re-implements is written down in
``docs/allocation.md`` ("What a row costs").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import SERVICES, billed_weight_kg
from tierflow.data.vocabulary import TIERS, AllocationStatus
from tierflow.data.wording import counted
from tierflow.formulations.tiers import TierPolicy

#: Services a guaranteed order may fall back to when it cannot be on time.
FALLBACK_SERVICES = frozenset({SERVICES.index("next_day"), SERVICES.index("two_day")})
#: Cost difference (dollars) below which a row agrees with its re-pricing.
CENT = 0.005

#: One allocation row as a plain mapping (pandas row access is too slow here).
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Repricing:
    """The rows re-priced: totals, per-row costs and what did not check out."""

    total: float
    reported: float
    row_cost: NDArray[np.float64]
    problems: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        """Totals equal to the cent and every row re-priced to its cost."""
        return abs(self.total - self.reported) < CENT and not self.mismatches

    @property
    def mismatches(self) -> list[str]:
        """The problems that are a row whose cost differs."""
        return [p for p in self.problems if "re-priced" in p]


@dataclass(frozen=True, slots=True, eq=False)
class _Item:
    """One thing that ships (or waits) as a unit: a whole order or a line."""

    order: int
    node: int  # -1: it waits
    service: int  # -1: it waits
    kg: float
    units: float
    release: np.datetime64
    extra: float


class _Pricer:
    """Prices one item at one node by one service, or finds its reference."""

    def __init__(
        self,
        network: Network,
        orders: Orders,
        policy: TierPolicy,
        promised: NDArray[np.datetime64],
    ) -> None:
        self.net, self.orders, self.policy = network, orders, policy
        tiers = policy.tier_index(orders.tier)
        self.allowed = policy.service_table()[tiers]
        self.late_rate = policy.table("late_per_day")[tiers]
        guaranteed = np.array([policy.rule(t).guaranteed for t in range(len(TIERS))])
        explicit = (
            np.zeros(orders.n_orders, dtype=bool)
            if orders.promised_date is None
            else ~np.isnat(orders.promised_date)
        )
        self.guaranteed = guaranteed[tiers] | explicit
        self.kept = policy.date_kept(tiers) | self.guaranteed
        self.promised = promised
        self.ordered = _order_dates(network, orders)
        self.offers = network.offered_services()
        self._ship_dates: dict[np.datetime64, NDArray[np.datetime64]] = {}
        self._deliveries: dict[
            tuple[np.datetime64, int, int, np.datetime64, np.datetime64],
            tuple[NDArray[np.datetime64], int],
        ] = {}
        self._lateness: dict[
            tuple[np.datetime64, int, np.datetime64, np.datetime64],
            tuple[NDArray[np.int64], NDArray[np.int64]],
        ] = {}

    def ship_dates(self, release: np.datetime64) -> NDArray[np.datetime64]:
        """Ship date at every node for an item reaching it at ``release``
        (releases are batch closes: few distinct instants, computed once)."""
        found = self._ship_dates.get(release)
        if found is None:
            found = self._ship_dates[release] = self._compute_ship_dates(release)
        return found

    def _compute_ship_dates(self, release: np.datetime64) -> NDArray[np.datetime64]:
        net = self.net
        stamp = pd.Timestamp(release, tz="UTC")
        dates = np.empty(net.n_nodes, dtype="datetime64[D]")
        secs = np.empty(net.n_nodes)
        for k, name in enumerate(net.timezones):
            local = stamp.tz_convert(zone_info(name))
            at = net.node_tz == k
            dates[at] = np.datetime64(local.date(), "D")
            secs[at] = local.hour * 3600 + local.minute * 60 + local.second
        return net.calendar.ship_dates(dates, secs, net.cutoff_minutes)

    def shipment(self, item: _Item) -> tuple[float, str, str, int]:
        """(cost, ship date, delivery date, days late) of a shipment."""
        net, j, s = self.net, item.node, item.service
        zone = net.zone[j, self.orders.dest[item.order]]
        ship = self.ship_dates(item.release)[j]
        deliver, late = self.delivery(
            ship,
            s,
            int(net.rates.transit(s, zone)),
            self.ordered[item.order],
            self.promised[item.order],
        )
        cost = (
            float(net.rates.price(s, zone, item.kg))
            + item.units * float(net.handling_cost[j])
            + late * float(self.late_rate[item.order])
            + item.extra
        )
        return cost, str(ship), str(deliver), late

    def delivery(
        self,
        ship: np.datetime64,
        service: int,
        transit: int,
        ordered: np.datetime64,
        promised: np.datetime64,
    ) -> tuple[NDArray[np.datetime64], int]:
        """(delivery date, days late) of a parcel shipped on ``ship``: a day's
        shipments share a handful of these, so each is counted once (the
        calendar's per-call cost was most of re-pricing a row)."""
        key = (ship, service, transit, ordered, promised)
        found = self._deliveries.get(key)
        if found is None:
            cal = self.net.calendar
            deliver = cal.delivery_dates(ship, transit, service, ordered=ordered)
            late = int(cal.days_late(promised, deliver))
            found = self._deliveries[key] = (deliver, late)
        return found

    def reference(self, item: _Item, ship_from: NDArray[np.bool_]) -> float:
        """What the item costs waiting a day: at each node the service that is
        cheapest today (the guarantee kept where any node can), shipped the
        next ship day; the cheapest node of ``ship_from`` (the nodes that
        could ship it tomorrow), or of every node when none of them offers
        its service."""
        net, o = self.net, item.order
        zone = net.zone[:, self.orders.dest[o]]
        late_today, late_later = self.lateness(item.release, o)
        best = {True: np.full(net.n_nodes, np.inf), False: np.full(net.n_nodes, np.inf)}
        waiting = {
            True: np.full(net.n_nodes, np.inf),
            False: np.full(net.n_nodes, np.inf),
        }
        rate = float(self.late_rate[o])
        for s in range(len(SERVICES)):
            if not net.rates.offered[s]:
                continue
            strict, relaxed = self._usable(o, s, late_today[s] > 0)
            strict, relaxed = strict & ship_from, relaxed & ship_from
            price = net.rates.price(s, zone, item.kg)
            total = price + late_today[s] * rate
            wait = price + late_later[s] * rate
            for kind, ok in ((True, strict), (False, relaxed)):
                better = ok & (total < best[kind])
                best[kind][better] = total[better]
                waiting[kind][better] = wait[better]
        chosen = waiting[True] if np.isfinite(best[True]).any() else waiting[False]
        cost = chosen + item.units * net.handling_cost + item.extra
        low = float(np.min(cost))
        if not np.isfinite(low) and not ship_from.all():
            return self.reference(item, np.ones_like(ship_from))
        return low if np.isfinite(low) else 0.0

    def lateness(
        self, release: np.datetime64, o: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Days late per (service, node) of order ``o`` reaching the nodes at
        ``release``, shipped on its ship date and on the ship day after.

        They depend on the order through its destination and dates alone, so
        the orders of a batch share a few: each is counted once (counting it
        per waiting row made re-pricing a congested day's waits most of
        ``tierflow allocate``'s time)."""
        dest = int(self.orders.dest[o])
        key = (release, dest, self.ordered[o], self.promised[o])
        found = self._lateness.get(key)
        if found is None:
            found = self._lateness[key] = self._count_lateness(release, o)
        return found

    def _count_lateness(
        self, release: np.datetime64, o: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        net, cal = self.net, self.net.calendar
        zone = net.zone[:, self.orders.dest[o]]
        ship = self.ship_dates(release)
        later = cal.ship_days.offset(ship, 1)
        ordered, promised = self.ordered[o], self.promised[o]
        today = np.zeros((len(SERVICES), net.n_nodes), dtype=np.int64)
        tomorrow = np.zeros_like(today)
        for s in range(len(SERVICES)):
            if not net.rates.offered[s]:
                continue
            transit = net.rates.transit(s, zone)
            on = cal.delivery_dates(ship, transit, s, ordered=ordered)
            today[s] = cal.days_late(promised, on)
            on = cal.delivery_dates(later, transit, s, ordered=ordered)
            tomorrow[s] = cal.days_late(promised, on)
        return today, tomorrow

    def _usable(
        self, o: int, s: int, late: NDArray[np.bool_]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Nodes where service ``s`` keeps the order's promise (strict), and
        where it may carry it late (relaxed); ``late``: where it misses it."""
        offered = self.offers[:, s]
        allowed = bool(self.allowed[o, s])
        guaranteed = bool(self.guaranteed[o])
        strict = offered & allowed & ~(bool(self.kept[o]) & late)
        relaxed = offered & (allowed or (guaranteed and s in FALLBACK_SERVICES))
        return strict, relaxed


def reprice_allocation(
    network: Network,
    orders: Orders,
    rows: pd.DataFrame,
    *,
    policy: TierPolicy | None = None,
    predicted_spend: NDArray[np.float64] | None = None,
    inventory: NDArray[np.int64] | None = None,
    shipping_nodes: Mapping[int, NDArray[np.bool_]] | None = None,
) -> Repricing:
    """Re-price ``rows`` (``allocations.csv``'s columns) from the tables.

    ``shipping_nodes`` are, per batch, the nodes that could ship when it was
    solved (open, staffed, a nominal capacity above 0; default every node):
    a waiting line is priced as shipped tomorrow from one of them."""
    policy = policy or TierPolicy()
    spend = np.zeros(orders.n_orders) if predicted_spend is None else predicted_spend
    audit = _Audit(network, orders, policy, np.asarray(spend, dtype=np.float64))
    stock = network.inventory if inventory is None else inventory
    return audit.run(rows, stock, shipping_nodes or {})


class _Audit:
    """The checks of one set of rows (see :func:`reprice_allocation`)."""

    def __init__(
        self,
        network: Network,
        orders: Orders,
        policy: TierPolicy,
        spend: NDArray[np.float64],
    ) -> None:
        self.net, self.orders, self.policy = network, orders, policy
        self.order_of = {oid: i for i, oid in enumerate(orders.order_ids)}
        self.line_of = {
            (orders.order_ids[orders.line_order[k]], orders.line_sku_id[k]): k
            for k in range(orders.n_lines)
        }
        self.penalty = policy.defer_cost(orders.tier, spend)
        self.promised = _promised_dates(network, orders, policy)
        self.pricer = _Pricer(network, orders, policy, self.promised)
        self.problems: list[str] = []

    def run(
        self,
        rows: pd.DataFrame,
        inventory: NDArray[np.int64],
        shipping_nodes: Mapping[int, NDArray[np.bool_]],
    ) -> Repricing:
        self.shipping_nodes = shipping_nodes
        o = self.orders
        # a line no node held this morning never ships: its order waits as
        # the shipment of its other lines
        self.fillable = inventory[:, o.line_sku].max(axis=0) >= o.line_qty
        cost = np.zeros(len(rows))
        frame = rows.reset_index(drop=True)
        if "split" not in frame.columns:
            frame = frame.assign(split="")
        records: list[Row] = frame.astype(object).to_dict("records")
        status = frame["status"].astype(str)
        for positions in self._shipments(frame[status == AllocationStatus.ALLOCATED]):
            cost[positions] = self._shipped([records[k] for k in positions])
        for k in np.flatnonzero(status == AllocationStatus.DEFERRED):
            cost[k] = self._waiting(records[k])
        self._check_stock(frame[status == AllocationStatus.ALLOCATED], inventory)
        reported = pd.to_numeric(frame["cost"], errors="coerce").fillna(0.0)
        for k in np.flatnonzero(np.abs(cost - reported.to_numpy()) >= CENT):
            r = records[k]
            self.problems.append(
                f"{r['order_id']}/{r['sku']}: re-priced {cost[k]:.4f}, "
                f"reported {reported.iloc[k]:.4f}"
            )
        return Repricing(float(cost.sum()), float(reported.sum()), cost, self.problems)

    # ------------------------------------------------------------ shipments
    def _shipments(self, allocated: pd.DataFrame) -> list[NDArray[np.intp]]:
        """Row positions of each shipment: a whole order, or one split line."""
        whole = allocated["split"].fillna("").astype(str) == ""
        out = [
            np.asarray(idx, dtype=np.intp)
            for idx in allocated[whole].groupby("order_id", sort=False).groups.values()
        ]
        out += [np.array([k], dtype=np.intp) for k in allocated.index[~whole]]
        return out

    def _shipped(self, rows: list[Row]) -> NDArray[np.float64]:
        first = rows[0]
        o = self.order_of[str(first["order_id"])]
        lines = [self.line_of[(str(r["order_id"]), str(r["sku"]))] for r in rows]
        if len({(r["node_id"], r["service"]) for r in rows}) != 1:
            self.problems.append(f"{first['order_id']}: a whole order on several nodes")
        node = self.net.node_index[str(first["node_id"])]
        s = SERVICES.index(str(first["service"]))
        split = str(first.get("split", "") or "")
        item = self._item(o, lines, node, s, first, split)
        cost, ship, deliver, late = self.pricer.shipment(item)
        self._check_shipment(first, item, ship, deliver, late)
        units = self.orders.line_qty[lines].astype(np.float64)
        return np.asarray(cost * units / units.sum(), dtype=np.float64)

    def _item(
        self,
        o: int,
        lines: Sequence[int],
        node: int,
        s: int,
        row: Row,
        split: str,
    ) -> _Item:
        net, lq = self.net, self.orders.line_qty
        sku = self.orders.line_sku[list(lines)]
        qty = lq[list(lines)].astype(np.float64)
        kg = float(
            billed_weight_kg(
                (net.sku_weight_kg[sku] * qty).sum(),
                (net.sku_volume_cm3[sku] * qty).sum(),
            )
        )
        extra = self.policy.split_shipment_cost if split else 0.0
        release = np.datetime64(pd.Timestamp(row["released_at"]).tz_convert(None), "s")
        return _Item(o, node, s, kg, float(qty.sum()), release, extra)

    def _check_shipment(
        self,
        row: Row,
        item: _Item,
        ship: str,
        deliver: str,
        late: int,
    ) -> None:
        """Dates as recomputed; the node offers the service; the tier allows
        it, or a guaranteed order fell back (and says so); the promise."""
        name = f"{row['order_id']}"
        if str(row["ship_date"]) != str(ship) or str(row["delivery_date"]) != str(
            deliver
        ):
            self.problems.append(
                f"{name}: dates {row['ship_date']}/{row['delivery_date']}, "
                f"re-computed {ship}/{deliver}"
            )
        if str(row["promised_date"]) != str(self.promised[item.order]):
            self.problems.append(
                f"{name}: promised {row['promised_date']}, "
                f"re-computed {self.promised[item.order]}"
            )
        if not (self.pricer.offers[item.node, item.service]):
            self.problems.append(
                f"{name}: {row['node_id']} does not offer {row['service']}"
            )
        allowed = bool(self.pricer.allowed[item.order, item.service])
        guaranteed = bool(self.pricer.guaranteed[item.order])
        fell_back = "late:" in str(row["reason"])
        if self.pricer.kept[item.order] and late > 0 and not fell_back:
            self.problems.append(f"{name}: kept date {counted(late, 'day')} missed")
        if not allowed and not (
            guaranteed and fell_back and item.service in FALLBACK_SERVICES
        ):
            self.problems.append(
                f"{name}: service {row['service']} not allowed for its tier"
            )

    def _check_stock(
        self, allocated: pd.DataFrame, inventory: NDArray[np.int64]
    ) -> None:
        used = allocated.groupby(["node_id", "sku"])["quantity"].sum()
        for (node, sku), qty in used.items():
            have = inventory[
                self.net.node_index[str(node)], self.net.sku_index[str(sku)]
            ]
            if qty > have:
                self.problems.append(f"{node}/{sku}: {qty} units shipped, {have} held")

    # -------------------------------------------------------------- waiting
    def _waiting(self, row: Row) -> float:
        """A waiting line's share of its order's deferral cost — or, for a
        line of an order no node held whole, its own reference plus its share
        of the order's delay penalty. The order is its lines some node held
        this morning (an unfillable line is no part of it), the shares of
        their units."""
        o = self.order_of[str(row["order_id"])]
        k = self.line_of[(str(row["order_id"]), str(row["sku"]))]
        order_lines = [
            line
            for line in range(self.orders.line_start[o], self.orders.line_start[o + 1])
            if self.fillable[line]
        ]
        share = float(self.orders.line_qty[k] / self.orders.line_qty[order_lines].sum())
        split = str(row.get("split", "") or "")
        if split == "stock":
            line = self._item(o, [k], -1, -1, row, split)
            ship_from = self._ship_from(row)
            return (
                self.pricer.reference(line, ship_from) + float(self.penalty[o]) * share
            )
        whole = self._item(o, order_lines, -1, -1, row, "")
        ship_from = self._ship_from(row)
        return (
            self.pricer.reference(whole, ship_from) + float(self.penalty[o])
        ) * share

    def _ship_from(self, row: Row) -> NDArray[np.bool_]:
        """Nodes a waiting line's reference may ship from: working when the
        row's batch was solved (stock aside, as its cost always was)."""
        working = self.shipping_nodes.get(int(row["batch"]))
        n = self.net.n_nodes
        return np.ones(n, dtype=bool) if working is None else np.asarray(working)


def _order_dates(network: Network, orders: Orders) -> NDArray[np.datetime64]:
    """Each order's local date at its destination when placed (what its
    promise counts from and no delivery precedes)."""
    created = pd.DatetimeIndex(orders.created_at).tz_localize("UTC")
    local = np.empty(orders.n_orders, dtype="datetime64[D]")
    zone = network.dest_tz[orders.dest]
    for z in np.unique(zone):
        at = zone == z
        stamps = created[at].tz_convert(network.dest_timezones[int(z)])
        local[at] = stamps.tz_localize(None).to_numpy("datetime64[D]")
    return local


def _promised_dates(
    network: Network, orders: Orders, policy: TierPolicy
) -> NDArray[np.datetime64]:
    """Each order's promise: from checkout, or its local date + its tier's days."""
    local = _order_dates(network, orders)
    days = policy.table("promise_days")[policy.tier_index(orders.tier)]
    by_tier = network.calendar.promised_dates(local, days.astype(np.int64))
    if orders.promised_date is None:
        return np.asarray(by_tier, dtype="datetime64[D]")
    return np.where(np.isnat(orders.promised_date), by_tier, orders.promised_date)
