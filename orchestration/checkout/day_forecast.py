"""The service's rest-of-day forecast, re-estimated from the orders confirmed
so far today as the state store records them.

Every replica reads the same ``online_orders`` rows and the same clock, so
every replica computes the same forecast (no per-process counters). The
volume is :class:`~tierflow.capacity.demand_forecast.DemandForecast`'s, as
``tierflow allocate`` uses it: the day's orders seen so far (created no
later than now) against the history's intraday profile, or against a flat
day without history. Each node's share is the work per order the demand to
come puts on it: the history's orders later in their day than now (their
destination zones as the hours to come bring them; routed like the
history's node volumes,
:func:`~tierflow.capacity.forecast.route_cheapest_ground`), within each
destination zone a share :func:`~tierflow.orchestration.demand.today_share`
of the zone's (weighted by the zone's share of the history) replaced by the
work per order of today's confirmed orders of that zone, as the batches'
:class:`~tierflow.orchestration.demand.DemandOutlook` draws its sample
(``docs/allocation.md``). Today's orders so far are mostly the East's (the
day starts at New York's midnight): standing in for the whole rest of the
day, they forecast the West's nodes as if its evening would not come.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import (
    DemandForecast,
    local_dates,
)
from tierflow.capacity.forecast import route_cheapest_ground
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network
from tierflow.data.store import CheckoutStore
from tierflow.orchestration.demand import MIN_SEEN, today_share, zone_shares

FloatArray = NDArray[np.float64]
#: Seconds of confirmations read again at each refresh: a confirm whose
#: transaction commits after a later one, or a replica's clock this far
#: behind, is still counted (every replica ends up with the same orders).
READ_OVERLAP_S = 10.0


@dataclass(frozen=True, slots=True, eq=False)
class DayOutlook:
    """The rest of one business day as forecast at ``as_of``.

    Attributes
    ----------
    source
        ``history`` (``serve --history``) or ``intraday`` (today's orders only).
    day
        The business day ``as_of`` is in (``BusinessDay``: the latest
        local date among the network's zones).
    observed_orders
        Orders of ``day`` confirmed and created no later than ``as_of``.
    expected_orders
        Orders still to come in ``day`` (0 before the forecast has enough
        to go on).
    multiplier
        Observed against the history's profile (1: as expected; ``None``
        without history).
    work
        Predicted rest-of-day workload per node (complexity-weighted units).
    """

    source: str
    as_of: dt.datetime
    day: dt.date
    observed_orders: int
    expected_orders: float
    multiplier: float | None
    work: FloatArray

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``demand_forecast`` of ``GET /v1/capacity``)."""
        return {
            "source": self.source,
            "as_of": self.as_of.isoformat(),
            "day": self.day.isoformat(),
            "observed_orders": self.observed_orders,
            "expected_orders": round(self.expected_orders, 2),
            "multiplier": None
            if self.multiplier is None
            else round(self.multiplier, 4),
            "work": round(float(self.work.sum()), 2),
        }


class DayForecaster:
    """Turns today's confirmed order lines into a :class:`DayOutlook`.

    Parameters
    ----------
    network
        The nodes, destinations and SKU complexities.
    forecast
        Volume and mix from past days (``DemandForecast.from_history``) or
        ``DemandForecast.intraday()``.
    """

    def __init__(self, network: Network, forecast: DemandForecast) -> None:
        self.network = network
        self.forecast = forecast.on(network)
        self.calendar = self.forecast.business_day
        pool = forecast.pool
        self._line_node: NDArray[np.intp] | None = None
        if pool is not None:
            orders = pool.orders
            self._line_node = route_cheapest_ground(orders, network)
            self._line_units = orders.line_workload(network)
            self._line_clock = pool.clock_s[orders.line_order]
            self._line_zone = network.dest_tz[orders.dest[orders.line_order]]
            self._zone_share = zone_shares(network, pool)

    @property
    def source(self) -> str:
        """``history`` or ``intraday``."""
        return self.forecast.source

    def since(self, now: dt.datetime) -> float:
        """Epoch seconds from which confirmed orders can belong to the
        business day of ``now`` (the day before, to be safe)."""
        day = self.calendar.day_at(now)
        start = self.calendar.start(day - dt.timedelta(days=1))
        return float(start.astype(np.int64))

    def estimate(self, lines: pd.DataFrame, now: dt.datetime) -> DayOutlook:
        """The outlook at ``now`` from ``online_orders`` rows."""
        return self.estimate_from(TodayOrders(self.network).add(lines), now)

    def estimate_from(self, orders: TodayOrders, now: dt.datetime) -> DayOutlook:
        """The outlook at ``now`` from the orders read so far (orders created
        after ``now`` are not counted; unknown destinations are skipped).

        The day is the business day ``now`` is in, whether or not an order
        of it has come yet; its orders are those of its date at their
        destination, the hours into it counted from its start: the same
        orders the profile expects by then."""
        seen = orders.created <= np.datetime64(_naive(now), "s")
        seen &= orders.dest >= 0
        day = self.calendar.day_at(now)
        if seen.any():  # an order's date at its destination (a zone not of
            # the network's destinations cannot be later than the clock's)
            day = max(day, orders.local_date[seen].max().astype(dt.date))
        offset_s = (now - _utc(self.calendar.start(day))).total_seconds()
        today = seen & (orders.local_date == np.datetime64(day))
        observed = int(today.sum())
        rest = self.forecast.remaining(day, offset_s, observed)
        if self.forecast.pool is None and observed < MIN_SEEN:
            rest = 0.0  # as DemandOutlook: too few orders to tell a rate
        if self._line_node is None:
            mine = orders.work_per_order(today)
        else:
            clock = self.calendar.clock(day, offset_s)
            mine = self._per_order_to_come(orders, today, clock)
        return DayOutlook(
            source=self.source,
            as_of=now,
            day=day,
            observed_orders=observed,
            expected_orders=rest,
            multiplier=self.forecast.multiplier(day, offset_s, observed),
            work=np.asarray(rest * mine, dtype=np.float64),
        )

    def _per_order_to_come(
        self, orders: TodayOrders, today: NDArray[np.bool_], clock_s: float
    ) -> FloatArray:
        """Work per order by node of the orders to come: the history's
        orders later on their day's clock than ``clock_s``, in each
        destination zone ``today_share(n_z, weight=p_z)`` of them standing
        for today's ``n_z`` orders of the zone (``p_z`` the zone's share of
        the history); today's orders alone when none of the history's is
        this late (as the batches' sample)."""
        pool = self.forecast.pool
        assert pool is not None and self._line_node is not None
        net = self.network
        n_zones, n_nodes = len(net.dest_timezones), net.n_nodes
        later = self._line_clock >= clock_s
        n_later = np.bincount(
            net.dest_tz[pool.orders.dest[pool.after(clock_s)]], minlength=n_zones
        )
        if n_later.sum() == 0:
            return orders.work_per_order(today)
        history = np.bincount(
            self._line_zone[later] * n_nodes + self._line_node[later],
            weights=self._line_units[later],
            minlength=n_zones * n_nodes,
        ).reshape(n_zones, n_nodes)
        mine, seen = orders.work_by_zone(today)
        work = np.zeros(n_nodes)
        for z in np.flatnonzero(n_later):
            w = today_share(int(seen[z]), history=True, weight=self._zone_share[z])
            work += (1.0 - w) * history[z] + w * n_later[z] * mine[z] / max(seen[z], 1)
        return np.asarray(work / n_later.sum(), dtype=np.float64)


class TodayOrders:
    """Confirmed orders read from the store, as arrays, grown as more are
    read (a line already read is skipped: reads may overlap).

    Per order: ``created`` (UTC ``datetime64[s]``), ``dest`` (network index,
    -1 unknown) and ``local_date`` at the destination; per line: its order,
    node (-1 unknown) and complexity-weighted units.
    """

    def __init__(self, network: Network) -> None:
        self.network = network
        self._keys: set[tuple[str, str]] = set()
        self._code: dict[str, int] = {}
        self.created = np.zeros(0, dtype="datetime64[s]")
        self.dest = np.zeros(0, dtype=np.intp)
        self.local_date = np.zeros(0, dtype="datetime64[D]")
        self.line_order = np.zeros(0, dtype=np.intp)
        self.line_node = np.zeros(0, dtype=np.intp)
        self.line_units = np.zeros(0, dtype=np.float64)
        #: Latest ``confirmed_at`` read (-inf: none).
        self.read_to = -np.inf

    def add(self, lines: pd.DataFrame) -> TodayOrders:
        """Take the lines of ``lines`` not read before (``online_orders``
        columns); returns itself."""
        keys = list(zip(lines["order_id"], lines["sku"], strict=True))
        fresh = np.fromiter((k not in self._keys for k in keys), bool, len(keys))
        if "confirmed_at" in lines and len(lines):
            self.read_to = max(self.read_to, float(lines["confirmed_at"].max()))
        if not fresh.any():
            return self
        new = lines[fresh]
        self._keys.update(k for k, f in zip(keys, fresh, strict=True) if f)
        self._add_orders(new.drop_duplicates("order_id"))
        self._add_lines(new)
        return self

    def _add_orders(self, head: pd.DataFrame) -> None:
        net = self.network
        code = self._code  # a membership test per new order: isin over every
        # code known would cost the whole day's orders at each refresh
        head = head[[o not in code for o in head["order_id"]]]
        for order_id in head["order_id"]:
            self._code[str(order_id)] = len(self._code)
        dest = head["dest"].astype(str).str[:3].map(net.dest_index).fillna(-1)
        dest_idx = dest.to_numpy(np.intp)
        stamp = pd.to_datetime(head["created_at"], utc=True).dt.tz_localize(None)
        created = stamp.to_numpy("datetime64[s]")
        local = np.full(created.size, np.datetime64("NaT"), dtype="datetime64[D]")
        known = dest_idx >= 0
        local[known] = local_dates(created[known], dest_idx[known], net)
        self.created = np.concatenate([self.created, created])
        self.dest = np.concatenate([self.dest, dest_idx])
        self.local_date = np.concatenate([self.local_date, local])

    def _add_lines(self, new: pd.DataFrame) -> None:
        net = self.network
        code = new["order_id"].map(self._code).to_numpy(np.intp)
        node = new["node_id"].map(net.node_index).fillna(-1).to_numpy(np.intp)
        sku = new["sku"].map(net.sku_index)
        known = sku.notna().to_numpy()
        units = np.zeros(len(new))
        qty = new["quantity"].to_numpy(np.float64)
        units[known] = net.sku_complexity[sku[known].to_numpy(np.intp)] * qty[known]
        self.line_order = np.concatenate([self.line_order, code])
        self.line_node = np.concatenate([self.line_node, node])
        self.line_units = np.concatenate([self.line_units, units])

    def work_per_order(self, orders: NDArray[np.bool_]) -> FloatArray:
        """Work per node of the chosen orders, per chosen order."""
        lines = orders[self.line_order] & (self.line_node >= 0)
        work = np.bincount(
            self.line_node[lines],
            weights=self.line_units[lines],
            minlength=self.network.n_nodes,
        )
        return np.asarray(work / max(int(orders.sum()), 1), dtype=np.float64)

    def work_by_zone(
        self, orders: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Work per node of the chosen orders by their destination zone
        (zones x nodes; orders of an unknown destination left out), and how
        many of them each zone has."""
        net = self.network
        n_zones, n_nodes = len(net.dest_timezones), net.n_nodes
        known = orders & (self.dest >= 0)
        zone = np.where(known, net.dest_tz[np.maximum(self.dest, 0)], 0)
        lines = known[self.line_order] & (self.line_node >= 0)
        work = np.bincount(
            zone[self.line_order[lines]] * n_nodes + self.line_node[lines],
            weights=self.line_units[lines],
            minlength=n_zones * n_nodes,
        )
        counts = np.bincount(zone[known], minlength=n_zones)
        work_by = np.asarray(work.reshape(n_zones, n_nodes), dtype=np.float64)
        return work_by, counts.astype(np.int64)


class LiveDemand:
    """The rest-of-day forecast a router's capacity map carries: refreshed
    from the store on the caller's cadence (the service's capacity
    follower), never per request.

    An explicit ``forecast`` event (an operator's, ``capacity forecast``'s)
    of the business day stands over the refreshed estimate at its node, less
    the work of the orders at that node created after its ``ts`` (they are
    part of the work it forecast, now in the backlog: counted once), until a
    later ``forecast`` event, or until those orders reach it (more came than
    it said: the estimate, which counts them, takes over), or the node's
    next local day (:func:`explicit_standing`).

    Parameters
    ----------
    forecaster
        Makes the outlook from today's orders.
    monitor, lock
        The capacity map whose forecast term it sets, and the lock it is
        changed under (the router's).
    """

    def __init__(
        self, forecaster: DayForecaster, monitor: CapacityMonitor, lock: threading.RLock
    ) -> None:
        self.forecaster = forecaster
        self.monitor = monitor
        self.lock = lock
        #: The last outlook (``None`` before the first refresh).
        self.outlook: DayOutlook | None = None
        self._orders = TodayOrders(forecaster.network)
        self._since = -np.inf

    def forget(self) -> None:
        """Drop the day's orders read: the store was made again (restored);
        the next :meth:`refresh` reads its orders from the day's start."""
        self._orders = TodayOrders(self.forecaster.network)
        self._since = -np.inf

    def refresh(self, store: CheckoutStore, now: dt.datetime) -> bool:
        """Re-estimate from the orders ``store`` records (read outside the
        lock) and set every node's forecast; whether the map changed.
        The store's errors propagate (the caller retries later).

        Only orders confirmed since the last read (less
        :data:`READ_OVERLAP_S`, for transactions that commit late or clocks
        a little apart) are read again; a new day starts afresh.
        """
        since = self.forecaster.since(now)
        if since != self._since:
            self._orders, self._since = TodayOrders(self.forecaster.network), since
        start = max(since, self._orders.read_to - READ_OVERLAP_S)
        self._orders.add(store.online_orders(since=start))
        outlook = self.forecaster.estimate_from(self._orders, now)
        with self.lock:  # the events' forecasts read with the map they set
            self.outlook = outlook
            values, stamps = self.monitor.forecast_events()
            work, stands = explicit_standing(outlook, self._orders, values, stamps)
            return self.monitor.set_forecast(work, stands)


def explicit_standing(
    outlook: DayOutlook, orders: TodayOrders, values: FloatArray, stamps: FloatArray
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """``outlook``'s work per node, with the explicit forecasts (``values``
    set by events of time ``stamps``, epoch seconds, ``-inf``: none) still
    standing in its place: an event of the node's own day (its local date
    at ``as_of``: a rest-of-day forecast runs to the node's local midnight,
    as ``tierflow capacity forecast`` computes it), less the work of the
    orders at its node created after it and by ``as_of``, while that work
    is short of it (or nil: a forecast of 0 stands until an order comes);
    and the nodes where one stands."""
    today = forecast_of_today(orders.network, stamps, outlook.as_of)
    if not today.any():
        return outlook.work, today
    created = orders.created.astype(np.int64)[orders.line_order]
    node = orders.line_node
    now = float(np.datetime64(_naive(outlook.as_of), "s").astype(np.int64))
    after = (node >= 0) & (created <= now)
    after[after] = created[after] > stamps[node[after]]
    used = np.bincount(
        node[after], weights=orders.line_units[after], minlength=values.size
    )
    stands = today & ((used == 0) | (used < values))
    work = np.where(stands, values - used, outlook.work)
    return np.asarray(work, dtype=np.float64), stands


def forecast_of_today(
    network: Network, stamps: FloatArray, now: dt.datetime
) -> NDArray[np.bool_]:
    """Per node, whether a ``forecast`` event of time ``stamps`` (epoch
    seconds, ``-inf``: none) is of the node's own day at ``now`` (at or
    after its local midnight): the only ones a server lets stand, since a
    rest-of-day forecast runs to the node's local midnight. The one test
    of it, for the server and ``tierflow capacity show``'s note alike."""
    today: NDArray[np.bool_] = stamps >= node_day_starts(network, now)
    return today


def node_day_starts(network: Network, now: dt.datetime) -> FloatArray:
    """Epoch seconds of each node's local midnight starting its day at ``now``."""
    starts = np.empty(len(network.timezones))
    for z, name in enumerate(network.timezones):
        local = now.astimezone(zone_info(name))
        midnight = dt.datetime.combine(local.date(), dt.time(0), zone_info(name))
        starts[z] = midnight.timestamp()
    return np.asarray(starts[network.node_tz], dtype=np.float64)


def _naive(now: dt.datetime) -> dt.datetime:
    """An aware instant as naive UTC (what ``datetime64`` takes)."""
    return now.astimezone(dt.UTC).replace(tzinfo=None)


def _utc(stamp: np.datetime64) -> dt.datetime:
    """A UTC ``datetime64`` as an aware datetime."""
    seconds = int(stamp.astype("datetime64[s]").astype(np.int64))
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
