"""The demand still to come today, as the bid-price LP sees it.

A sample of orders stands for the rest of the day: past orders that arrived
later in their day than now, released at the same time of day today (so
their cutoffs and dates are today's), a share of each destination zone's
replaced by today's orders of that zone seen so far (released at the same
times), the share growing with the zone's orders seen. Each is compiled like
a batch order (``formulations.batch_compiler``) and stands for its share of
the forecast's remaining volume (``docs/allocation.md``).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import (
    DemandForecast,
    OrderPool,
    local_order_dates,
)
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.fulfillment import CompiledBatch, compile_orders
from tierflow.formulations.order_pricing import fillable_lines, shipping_lines
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.bid_prices import DemandSample
from tierflow.orchestration.room_prices import GuaranteedDemand

#: Orders priced per refresh (the sample the LP is built on).
SAMPLE_SIZE = 1000
#: Weight, in orders, of the history's mix against today's: with this many
#: orders seen today, both count as much.
HISTORY_WEIGHT = 300.0
#: Fewer orders seen than this today and no history: no forecast yet.
MIN_SEEN = 20


@dataclass(frozen=True, slots=True)
class Moment:
    """Where the day stands: its date, seconds into it, orders seen of it."""

    day: dt.date
    offset_s: float
    observed: int


class DemandOutlook:
    """Samples the rest of today's demand (see the module docstring).

    Parameters
    ----------
    network, orders, policy, spend
        Today's inputs (``orders`` in arrival order; only the ones marked
        seen are ever read).
    forecast
        Volume and mix learned from past days (or today's arrivals only).
    seed
        For the sample.
    """

    def __init__(
        self,
        network: Network,
        orders: Orders,
        policy: TierPolicy,
        spend: NDArray[np.float64],
        forecast: DemandForecast,
        *,
        seed: int = 0,
    ) -> None:
        self.network, self.orders, self.policy = network, orders, policy
        self.spend = spend
        self.forecast = forecast.on(network)
        self._local_date = local_order_dates(orders, network)
        self._seed = seed

    def moment(self, now: np.datetime64, seen: NDArray[np.intp]) -> Moment:
        """Today's date (the latest local date among the orders seen), how far
        into it ``now`` is, and how many of its orders have arrived."""
        dates = self._local_date[seen]
        day = dates.max()
        start = self.forecast.business_day.start(day.astype(dt.date))
        offset = float((now.astype("datetime64[s]") - start).astype(np.int64))
        return Moment(day.astype(dt.date), offset, int((dates == day).sum()))

    def sample(
        self,
        now: np.datetime64,
        seen: NDArray[np.intp],
        *,
        capacity: NDArray[np.float64],
        stock: NDArray[np.int64],
        draw: int = 0,
        congestion: NDArray[np.float64] | None = None,
    ) -> DemandSample | None:
        """The demand to come after ``now`` (``None``: nothing to forecast).

        ``draw`` keys the sample's random numbers (the batch it is drawn
        for): a run resumed after batch ``b`` draws what an uninterrupted
        one does, where a running stream started over at the resume.
        ``congestion`` (``(n_nodes, n_services)``, the lanes' now): each
        row takes its workload times its lane's of a node's capacity, as a
        batch's order does; ``None``: its workload."""
        if seen.size == 0:
            return None
        rng = np.random.default_rng([self._seed, draw])
        at = self.moment(now, seen)
        rest = self.forecast.remaining(at.day, at.offset_s, at.observed)
        pool = self.forecast.pool
        if rest < 1.0 or (pool is None and seen.size < MIN_SEEN):
            return None
        today = seen[self._local_date[seen] == np.datetime64(at.day)]
        parts = []
        if pool is not None:
            parts = self._to_come(rng, at, today, seen, capacity, stock, congestion)
        if not parts:  # no history, or none of its orders this late
            share = today_share(today.size, history=pool is not None)
            k = min(today.size, round(SAMPLE_SIZE * share))
            if k:
                parts = [self._today(rng, today, k, now, capacity, stock, congestion)]
        return _stack(parts, rest) if parts else None

    def _today(
        self,
        rng: np.random.Generator,
        today: NDArray[np.intp],
        k: int,
        now: np.datetime64,
        capacity: NDArray[np.float64],
        stock: NDArray[np.int64],
        congestion: NDArray[np.float64] | None = None,
    ) -> CompiledBatch:
        """``k`` of today's orders, released now (no history to time them)."""
        pick = np.sort(rng.choice(today, size=k, replace=False))
        release = np.full(k, now.astype("datetime64[s]"))
        return self._compile(
            self.orders, pick, self.spend[pick], release, capacity, stock, congestion
        )

    def _to_come(
        self,
        rng: np.random.Generator,
        at: Moment,
        today: NDArray[np.intp],
        seen: NDArray[np.intp],
        capacity: NDArray[np.float64],
        stock: NDArray[np.int64],
        congestion: NDArray[np.float64] | None = None,
    ) -> list[CompiledBatch]:
        """The history's orders later in their day than now (their
        destination zones, so their lanes, and times of day as the hours to
        come bring them), each standing in a zone's share
        :func:`today_share` of its zone's draws for one of today's orders of
        that zone seen so far, released at its time (what the history cannot
        know: today's shoppers and baskets within the zone).

        Today's orders so far are not a sample of the rest of the day: most
        are the East's (the day starts at its midnight), and released now
        they priced the West's nodes as if its evening would not come
        (``docs/allocation.md``, in batches)."""
        pool = self.forecast.pool
        assert pool is not None
        calendar = self.forecast.business_day
        later = pool.after(calendar.clock(at.day, at.offset_s))
        if later.size == 0:
            return []
        pick = np.sort(
            rng.choice(later, size=min(SAMPLE_SIZE, later.size), replace=False)
        )
        elapsed = calendar.elapsed(at.day, pool.clock_s[pick])
        release = calendar.start(at.day) + elapsed.astype("timedelta64[s]")
        zone = self.network.dest_tz
        drawn = zone[pool.orders.dest[pick]]
        mine = zone[self.orders.dest[today]]
        weight = self._zone_share
        stand_in = np.zeros(pick.size, dtype=bool)
        chosen = []
        for z in np.unique(drawn):
            slots = np.flatnonzero(drawn == z)
            ours = today[mine == z]
            share = today_share(ours.size, history=True, weight=weight[z])
            n = min(round(slots.size * share), ours.size)
            if n:
                slot = np.sort(rng.choice(slots, size=n, replace=False))
                stand_in[slot] = True
                chosen.append((slot, rng.choice(ours, size=n, replace=False)))
        typical = float(np.median(self.spend[seen])) if seen.size else 0.0
        kept = pick[~stand_in]
        parts = []
        if kept.size:
            spend = np.full(kept.size, typical)
            parts.append(
                self._compile(
                    pool.orders,
                    kept,
                    spend,
                    release[~stand_in],
                    capacity,
                    stock,
                    congestion,
                )
            )
        if chosen:
            slots = np.concatenate([c[0] for c in chosen])
            ours = np.concatenate([c[1] for c in chosen])
            order = np.argsort(ours, kind="stable")
            ours, when = ours[order], release[slots][order]
            parts.append(
                self._compile(
                    self.orders,
                    ours,
                    self.spend[ours],
                    when,
                    capacity,
                    stock,
                    congestion,
                )
            )
        return parts

    @functools.cached_property
    def _zone_share(self) -> NDArray[np.float64]:
        """Each destination zone's share of the history's orders."""
        pool = self.forecast.pool
        assert pool is not None
        return zone_shares(self.network, pool)

    def _compile(
        self,
        orders: Orders,
        pick: NDArray[np.intp],
        spend: NDArray[np.float64],
        release: NDArray[np.datetime64],
        capacity: NDArray[np.float64],
        stock: NDArray[np.int64],
        congestion: NDArray[np.float64] | None = None,
    ) -> CompiledBatch:
        return compile_orders(
            self.network,
            orders,
            pick,
            self.policy,
            capacity=capacity,
            stock=stock,
            predicted_spend=spend,
            release=release,
            ships=forecast_lines(orders, pick, stock),
            congestion=congestion,
        )


def forecast_lines(
    orders: Orders, pick: NDArray[np.intp], stock: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Per line of ``orders``, whether it is part of its order's demand
    (``compile_orders``' ``ships``), for the orders ``pick``: a line no
    node of ``stock`` holds is left out, as the batches leave an unfillable
    line out (:func:`~tierflow.formulations.order_pricing.fillable_lines`),
    its order the one shipment of its other lines; an order none of whose
    lines a node holds keeps them, no node's (deferred: it takes nothing).
    Judged for the picked lines only (a history's pool is weeks of them).

    Compiled with every line, an order with an unfillable line had no
    node holding all of it, so the forecast gave its other lines no node's
    room or stock, where the batches ship them (``docs/allocation.md``)."""
    lines, counts = shipping_lines(orders, pick, None)
    held = fillable_lines(orders, stock, lines)
    owner = np.repeat(np.arange(pick.size), counts)
    some = np.bincount(owner[held], minlength=pick.size) > 0
    ships = np.ones(orders.n_lines, dtype=bool)
    ships[lines] = held | ~some[owner]
    return ships


def today_share(n_seen: int, *, history: bool, weight: float = 1.0) -> float:
    """Weight of today's mix (``n_seen`` orders so far) against the history's
    in the demand to come: all of it without history, else growing from 0
    to 1 as the day's orders pass :data:`HISTORY_WEIGHT` (of a part of the
    orders, a zone's, ``weight`` of it: the history's share of that part,
    so a zone's few orders of a slow morning weigh little)."""
    if not history:
        return 1.0
    return n_seen / (n_seen + HISTORY_WEIGHT * weight)


def zone_shares(network: Network, pool: OrderPool) -> NDArray[np.float64]:
    """Each destination zone's share of ``pool``'s orders (the ``weight`` of
    :func:`today_share` for that zone's orders: the batches' sample and the
    service's rest-of-day forecast weigh today's orders zone by zone alike)."""
    zones = network.dest_tz[pool.orders.dest]
    counts = np.bincount(zones, minlength=len(network.dest_timezones))
    return np.asarray(counts / max(counts.sum(), 1), dtype=np.float64)


def _stack(batches: list[CompiledBatch], rest: float) -> DemandSample:
    """The sampled orders' cost rows, each standing for ``rest / k`` orders."""
    cost = np.vstack(
        [np.where(b.problem.eligible, b.true_cost, np.inf) for b in batches]
    )
    defer = np.concatenate([np.asarray(b.problem.defer_cost) for b in batches])
    workload = np.concatenate([b.options.workload for b in batches])
    # what each row takes at each node, its lane's congestion counted
    weight = np.vstack([np.asarray(b.problem.weight) for b in batches])
    k = cost.shape[0]
    mult = np.full(k, rest / k)
    guaranteed = np.concatenate([b.guaranteed for b in batches])
    use, stock = _sku_rows(batches)
    return DemandSample(
        cost,
        workload,
        defer,
        mult,
        _guaranteed(batches, guaranteed, mult, weight),
        weight=weight,
        use=use,
        stock=stock,
    )


def _sku_rows(
    batches: list[CompiledBatch],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(k, n)`` units of each of the sample's ``n`` SKUs every row takes,
    and ``(n_nodes, n)`` the units of them left (each part was compiled
    against the same stock): the bid-price LP's stock rows."""
    skus = np.unique(np.concatenate([b.skus for b in batches]))
    rows = sum(b.problem.n_items for b in batches)
    use = np.zeros((rows, skus.size))
    stock = np.zeros((batches[0].problem.n_agents, skus.size))
    at = 0
    for b in batches:
        col = np.searchsorted(skus, b.skus)
        n = b.problem.n_items
        if b.problem.use is not None and b.problem.stock is not None:
            use[at : at + n, col] = b.problem.use
            stock[:, col] = b.problem.stock
        at += n
    return use, stock


def _guaranteed(
    batches: list[CompiledBatch],
    guaranteed: NDArray[np.bool_],
    mult: NDArray[np.float64],
    weight: NDArray[np.float64],
) -> GuaranteedDemand:
    """The guaranteed rows of the sample: the nodes that keep each one's
    promise (service and stock), what each takes of them (``weight``, its
    lane's congestion counted), and what it loses shipped late from the
    cheapest fallback node instead (its deferral cost where it has none)."""
    on_time, loss, release = [], [], []
    for b in batches:
        o = b.options
        keeps = b.problem.eligible & ~b.use_relaxed & o.feasible
        best = np.where(keeps, b.true_cost, np.inf).min(axis=1)
        late = np.where(
            (o.relaxed_service >= 0) & ~o.feasible,
            o.relaxed_shipping + o.handling + o.relaxed_penalty,
            np.inf,
        ).min(axis=1)
        late = np.where(np.isfinite(late), late, np.asarray(b.problem.defer_cost))
        on_time.append(keeps)
        loss.append(np.where(np.isfinite(best), np.maximum(late - best, 0.0), 0.0))
        release.append(o.release.astype("datetime64[s]"))
    rows = np.flatnonzero(guaranteed)
    return GuaranteedDemand(
        on_time=np.vstack(on_time)[rows],
        workload=weight[rows],
        loss=np.concatenate(loss)[rows],
        release=np.concatenate(release)[rows],
        multiplicity=mult[rows],
    )
