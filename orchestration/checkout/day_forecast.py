"""The service's rest-of-day forecast, re-estimated from the orders confirmed
so far today as the state store records them.

Every replica reads the same ``online_orders`` rows and the same clock, so
every replica computes the same forecast (no per-process counters). The
volume is :class:`~tierflow.capacity.demand_forecast.DemandForecast`'s, as
``tierflow allocate`` uses it: the day's orders seen so far (created no
later than now) against the history's intraday profile, or against a flat
day without history. Each node's share is the work per order the demand to
come puts on it: today's confirmed orders' work by node, blended with the
history's orders later in their day than now (routed like the history's
node volumes, :func:`~tierflow.capacity.forecast.route_cheapest_ground`), by
the weights :class:`~tierflow.orchestration.demand.DemandOutlook` samples
them with (:func:`~tierflow.orchestration.demand.today_share`).
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
    BUSINESS_TZ,
    DemandForecast,
    business_day_start,
    local_dates,
)
from tierflow.capacity.forecast import route_cheapest_ground
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network
from tierflow.data.store import CheckoutStore
from tierflow.orchestration.demand import MIN_SEEN, today_share

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class DayOutlook:
    """The rest of one business day as forecast at ``as_of``.

    Attributes
    ----------
    source
        ``history`` (``serve --history``) or ``intraday`` (today's orders only).
    day
        The business day (the latest destination-local date among its orders).
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
        self.forecast = forecast
        pool = forecast.pool
        self._line_node: NDArray[np.intp] | None = None
        if pool is not None:
            orders = pool.orders
            self._line_node = route_cheapest_ground(orders, network)
            self._line_units = network.sku_complexity[orders.line_sku] * orders.line_qty
            self._line_offset = pool.offset_s[orders.line_order]

    @property
    def source(self) -> str:
        """``history`` or ``intraday``."""
        return self.forecast.source

    def since(self, now: dt.datetime) -> float:
        """Epoch seconds from which confirmed orders can belong to the
        business day of ``now`` (the day before, to be safe)."""
        local = now.astimezone(zone_info(BUSINESS_TZ)).date()
        start = business_day_start(local - dt.timedelta(days=1))
        return float(start.astype(np.int64))

    def estimate(self, lines: pd.DataFrame, now: dt.datetime) -> DayOutlook:
        """The outlook at ``now`` from ``online_orders`` rows (lines created
        after ``now`` are not counted; unknown destinations and SKUs are
        skipped)."""
        net = self.network
        stamp = pd.to_datetime(lines["created_at"], utc=True)
        lines = lines[(stamp <= pd.Timestamp(now)).to_numpy()]
        head = lines.drop_duplicates("order_id")
        dest = head["dest"].astype(str).str[:3].map(net.dest_index)
        known = dest.notna().to_numpy()
        created = pd.to_datetime(head["created_at"], utc=True)[known]
        created64 = created.dt.tz_localize(None).to_numpy("datetime64[s]")
        dates = local_dates(created64, dest[known].to_numpy(np.intp), net)
        if dates.size:
            day = dates.max().astype(dt.date)
        else:
            day = now.astimezone(zone_info(BUSINESS_TZ)).date()
        offset_s = (now - _utc(business_day_start(day))).total_seconds()
        ids = head["order_id"].to_numpy()[known]
        today = set(ids[dates == np.datetime64(day)])
        observed = len(today)
        rest = self.forecast.remaining(day, offset_s, observed)
        if self.forecast.pool is None and observed < MIN_SEEN:
            rest = 0.0  # as DemandOutlook: too few orders to tell a rate
        per_order = self._per_order(lines[lines["order_id"].isin(today)], offset_s)
        return DayOutlook(
            source=self.source,
            as_of=now,
            day=day,
            observed_orders=observed,
            expected_orders=rest,
            multiplier=self.forecast.multiplier(day, offset_s, observed),
            work=np.asarray(rest * per_order, dtype=np.float64),
        )

    def _per_order(self, today: pd.DataFrame, offset_s: float) -> FloatArray:
        """Expected work per order to come, by node."""
        n_seen = int(today["order_id"].nunique())
        mine = self._today_per_order(today, n_seen)
        if self._line_node is None:
            return mine
        w = today_share(n_seen, history=True)
        return w * mine + (1.0 - w) * self._history_per_order(offset_s)

    def _today_per_order(self, today: pd.DataFrame, n_seen: int) -> FloatArray:
        net = self.network
        node = today["node_id"].map(net.node_index)
        sku = today["sku"].map(net.sku_index)
        ok = (node.notna() & sku.notna()).to_numpy()
        units = net.sku_complexity[sku[ok].to_numpy(np.intp)] * today["quantity"][
            ok
        ].to_numpy(np.float64)
        work = np.bincount(
            node[ok].to_numpy(np.intp), weights=units, minlength=net.n_nodes
        )
        return np.asarray(work / max(n_seen, 1), dtype=np.float64)

    def _history_per_order(self, offset_s: float) -> FloatArray:
        """Work per order by node of the history's orders later in their day."""
        pool = self.forecast.pool
        assert pool is not None and self._line_node is not None
        later = self._line_offset >= offset_s
        n_later = int((pool.offset_s >= offset_s).sum())
        work = np.bincount(
            self._line_node[later],
            weights=self._line_units[later],
            minlength=self.network.n_nodes,
        )
        return np.asarray(work / max(n_later, 1), dtype=np.float64)


class LiveDemand:
    """The rest-of-day forecast a router's capacity map carries: refreshed
    from the store on the caller's cadence (the service's capacity
    follower), never per request.

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

    def refresh(self, store: CheckoutStore, now: dt.datetime) -> bool:
        """Re-estimate from the orders ``store`` records (read outside the
        lock) and set every node's forecast; whether the map changed.
        The store's errors propagate (the caller retries later)."""
        lines = store.online_orders(since=self.forecaster.since(now))
        outlook = self.forecaster.estimate(lines, now)
        with self.lock:
            self.outlook = outlook
            return self.monitor.set_forecast(outlook.work)


def _utc(stamp: np.datetime64) -> dt.datetime:
    """A UTC ``datetime64`` as an aware datetime."""
    seconds = int(stamp.astype("datetime64[s]").astype(np.int64))
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
