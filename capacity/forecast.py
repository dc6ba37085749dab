"""Per node-hour volume forecasts (seasonal naive, multiplicative exponential
smoothing) of each node's rest-of-day volume, checked on a holdout; node
history is built from order history until allocations exist
(``docs/data.md``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import billed_weight_kg, service_index
from tierflow.data.zones import MAX_ZONE, MIN_ZONE

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class NodeHourHistory:
    """Hourly volume per node: ``volume[n, h]`` for hour ``start + h``."""

    start: np.datetime64  # datetime64[h], a UTC midnight
    volume: FloatArray

    @property
    def n_hours(self) -> int:
        """Number of hours covered."""
        return int(self.volume.shape[1])

    def split(
        self, holdout_hours: int, *, train_hours: int = 24
    ) -> tuple[NodeHourHistory, FloatArray]:
        """History without the last ``holdout_hours``, and those hours; at
        least ``train_hours`` are left to fit on (the models need a day: a
        holdout the range allowed then failed with "needs at least one day
        of history")."""
        most = self.n_hours - train_hours
        if most < 1:
            raise InputError(
                f"needs at least {train_hours + 1} hours of orders from the first "
                f"UTC midnight it covers whole (a day to fit on, an hour to score); "
                f"it has {self.n_hours}",
                field="history",
            )
        if not 0 < holdout_hours <= most:
            raise InputError(
                f"must be 1 to {most} (the history covers {self.n_hours} hours "
                f"from its first whole UTC day; the models fit on {train_hours} "
                "at least)",
                field="--holdout-hours",
                value=holdout_hours,
            )
        cut = self.n_hours - holdout_hours
        return NodeHourHistory(self.start, self.volume[:, :cut]), self.volume[:, cut:]


def route_cheapest_ground(orders: Orders, network: Network) -> NDArray[np.intp]:
    """Node per order line: cheapest ground rate + handling among nodes with stock."""
    dest = orders.dest[orders.line_order]
    if (dest < 0).any() or (orders.line_sku < 0).any():
        raise InputError("orders must be read with the network", field="orders")
    qty = orders.line_qty.astype(np.float64)
    billed = billed_weight_kg(
        network.sku_weight_kg[orders.line_sku] * qty,
        network.sku_volume_cm3[orders.line_sku] * qty,
    )
    ground = service_index("ground")
    # price each line once per zone (7 x lines), then pick each node's zone
    zones = np.arange(MIN_ZONE, MAX_ZONE + 1)[:, None]
    per_zone = network.rates.price(ground, zones, billed[None, :])
    lines = np.arange(qty.size)[None, :]
    cost = per_zone[network.zone[:, dest] - MIN_ZONE, lines]
    cost = cost + network.handling_cost[:, None] * qty[None, :]
    has = network.inventory[:, orders.line_sku] >= orders.line_qty[None, :]
    offers = network.offers(ground)[:, None]
    ok = has & offers
    masked = np.where(ok, cost, np.inf)
    best = np.argmin(masked, axis=0)
    none = ~ok.any(axis=0)
    if none.any():  # nobody has it: the cheapest node overall (a backorder)
        best[none] = np.argmin(np.where(offers, cost[:, none], np.inf), axis=0)
    return np.asarray(best, dtype=np.intp)


def node_hour_volume(
    orders: Orders, network: Network, *, nodes: NDArray[np.intp] | None = None
) -> NodeHourHistory:
    """Weighted units per node and UTC hour.

    The matrix starts at a UTC midnight and ends with the hour of the last
    order. A first UTC day that the orders do not cover from its first hour
    is dropped (a partial day would bias the weekday factors).

    Parameters
    ----------
    orders
        Orders read with ``network``.
    nodes
        Node per line (e.g. from allocations); default
        :func:`route_cheapest_ground`.
    """
    if orders.n_orders == 0:
        raise InputError("no orders", field="orders")
    node = route_cheapest_ground(orders, network) if nodes is None else nodes
    hours = orders.created_at.astype("datetime64[h]")[orders.line_order]
    first = orders.created_at.min().astype("datetime64[h]")
    start = first.astype("datetime64[D]").astype("datetime64[h]")
    if first > start:
        start = start + np.timedelta64(24, "h")
    end = orders.created_at.max().astype("datetime64[h]") + 1
    n_hours = int((end - start).astype(np.int64))
    if n_hours < 1:
        raise InputError("less than one whole UTC day of orders", field="orders")
    units = orders.line_workload(network)
    pos = (hours - start).astype(np.int64)
    keep = pos >= 0
    vol = np.zeros((network.n_nodes, n_hours))
    np.add.at(vol, (node[keep], pos[keep]), units[keep])
    return NodeHourHistory(start, vol)


def _dow(start: np.datetime64, day: Any) -> NDArray[np.intp]:
    """Weekday (Monday 0) of ``day`` days after ``start``."""
    days = start.astype("datetime64[D]").astype(np.int64) + np.asarray(day)
    return np.asarray((days + 3) % 7, dtype=np.intp)  # 1970-01-01 was a Thursday


class SeasonalNaive:
    """Baseline: the value one season ago (168 h with a week of history, else 24 h).

    Attributes
    ----------
    period_, last_, end_
        Fitted season length, its last season of values, and the first hour
        after the history.
    """

    def fit(self, history: NodeHourHistory) -> SeasonalNaive:
        """Remember the last season."""
        if history.n_hours < 24:
            raise InputError("needs at least one day of history", field="history")
        self.period_ = 168 if history.n_hours >= 168 else 24
        self.last_ = history.volume[:, -self.period_ :]
        self.end_ = history.start + np.timedelta64(history.n_hours, "h")
        return self

    def predict(self, horizon: int) -> FloatArray:
        """``(n_nodes, horizon)`` forecast for the hours after the history."""
        idx = np.arange(horizon) % self.period_
        return np.asarray(self.last_[:, idx], dtype=np.float64)


class SmoothedProfileForecaster:
    """Exponential smoothing of level, weekday factors and an hourly profile.

    Parameters
    ----------
    alpha
        Smoothing of the daily level.
    delta
        Smoothing of the weekday factors.
    gamma
        Smoothing of the hour-of-day profile (shares of a day's volume).
    period
        Hours per day of the history's rows: 24 (UTC days), or the length
        of a business day whose hours overlap the next day's
        (:class:`~tierflow.capacity.demand_forecast.BusinessDay`).
    """

    def __init__(
        self,
        alpha: float = 0.2,
        delta: float = 0.1,
        gamma: float = 0.1,
        *,
        period: int = 24,
    ) -> None:
        self.alpha = alpha
        self.delta = delta
        self.gamma = gamma
        self.period = period

    def fit(self, history: NodeHourHistory) -> SmoothedProfileForecaster:
        """Run the smoothing recursions over the whole days of ``history``."""
        p = self.period
        days = history.n_hours // p
        if days < 1:
            raise InputError("needs at least one day of history", field="history")
        n = history.volume.shape[0]
        y = history.volume[:, : days * p].reshape(n, days, p)
        total = y.sum(axis=2)  # (n, days)
        # One pseudo-unit per day keeps the ratios finite at idle nodes.
        k = 1.0
        warm = min(days, 7)
        dow = _dow(history.start, np.arange(days))
        level = total[:, :warm].mean(axis=1)
        weekday = np.ones((n, 7))
        if days >= 7:
            weekday[:, dow[:7]] = (total[:, :7] + k) / (level[:, None] + k)
        profile = (y[:, :warm].sum(axis=1) + k / p) / (
            total[:, :warm].sum(axis=1)[:, None] + k
        )
        a, dl, g = self.alpha, self.delta, self.gamma
        for d in range(warm, days):
            w = dow[d]
            deseason = (total[:, d] + k) / weekday[:, w] - k
            new_level = np.maximum(a * deseason + (1 - a) * level, 0.0)
            ratio = (total[:, d] + k) / (new_level + k)
            weekday[:, w] = dl * ratio + (1 - dl) * weekday[:, w]
            level = new_level
            share = (y[:, d] + k / p) / (total[:, d][:, None] + k)
            profile = g * share + (1 - g) * profile
        profile /= profile.sum(axis=1, keepdims=True)
        self.level_, self.weekday_, self.profile_ = level, weekday, profile
        self.start_ = history.start
        self.end_ = history.start + np.timedelta64(days * p, "h")
        self.days_ = days
        return self

    def predict(self, horizon: int, *, offset_hours: int = 0) -> FloatArray:
        """``(n_nodes, horizon)`` forecast from ``offset_hours`` after the history.

        A negative offset re-forecasts hours of the last fitted days (used for
        "the rest of today" when today is already in the history).
        """
        h = offset_hours + np.arange(horizon)
        day = self.days_ + h // self.period
        w = _dow(self.start_, day)
        out = (
            self.level_[:, None]
            * self.weekday_[:, w]
            * self.profile_[:, h % self.period]
        )
        return np.asarray(out, dtype=np.float64)


def holdout_errors(history: NodeHourHistory, holdout_hours: int = 24) -> dict[str, Any]:
    """Fit both models without the last hours and score them on those hours.

    Returns
    -------
    dict
        ``mae`` and ``wape`` (sum |error| / sum actual) per model over every
        node-hour of the holdout, ``ratio_mae`` (smoothing / naive), and the
        holdout size.
    """
    train, actual = history.split(holdout_hours)
    naive = SeasonalNaive().fit(train).predict(holdout_hours)
    smooth = SmoothedProfileForecaster().fit(train)
    offset = int(
        (train.start + np.timedelta64(train.n_hours, "h") - smooth.end_).astype(int)
    )
    es = smooth.predict(holdout_hours, offset_hours=offset)
    total = float(actual.sum()) or 1.0

    def score(pred: FloatArray) -> dict[str, float]:
        err = np.abs(pred - actual)
        return {"mae": float(err.mean()), "wape": float(err.sum() / total)}

    s_naive, s_es = score(naive), score(es)
    return {
        "holdout_hours": holdout_hours,
        "node_hours": int(actual.size),
        "seasonal_naive": s_naive,
        "exp_smoothing": s_es,
        "ratio_mae": s_es["mae"] / s_naive["mae"]
        if s_naive["mae"] > 0
        else float("nan"),
    }


def rest_of_day(
    model: SmoothedProfileForecaster, network: Network, at: dt.datetime
) -> FloatArray:
    """Predicted units per node from ``at`` to the node's local midnight.

    The hour containing ``at`` counts pro rata, and so does the one the
    node's midnight falls in (a zone half an hour off UTC ends its day in
    the middle of a UTC hour); ``at`` must not precede the
    end of the fitted history by more than a day.
    """
    at_utc = at.astimezone(dt.UTC)
    at64 = np.datetime64(at_utc.replace(tzinfo=None), "s")
    offset_s = (at64 - model.end_.astype("datetime64[s]")).astype(np.int64)
    if offset_s < -86400:
        end = np.datetime_as_string(model.end_.astype("datetime64[s]"))
        message = f"more than a day before the end of the fitted history ({end}Z)"
        raise InputError(message, field="--at", value=at.isoformat())
    first = int(offset_s // 3600)
    fraction = 1.0 - (offset_s % 3600) / 3600.0
    horizon = 48
    fc = model.predict(horizon, offset_hours=first)
    out = np.zeros(network.n_nodes)
    for t, name in enumerate(network.timezones):
        local = at_utc.astimezone(zone_info(name))
        midnight = dt.datetime.combine(
            local.date() + dt.timedelta(days=1), dt.time(), local.tzinfo
        )
        # elapsed time, in UTC: two datetimes of one zone subtract as wall
        # clock, 23 h on a spring-forward day's 22 (and 25 h in autumn)
        to_midnight = midnight.astimezone(dt.UTC) - at_utc
        hours = max(0.0, to_midnight.total_seconds() / 3600.0)
        # after the hour holding ``at``: whole UTC hours, then the share of
        # the one local midnight falls in (a half-hour zone's: half of it)
        rest = max(0.0, hours - fraction)
        whole = int(np.floor(rest))
        rows = network.node_tz == t
        head = fc[rows, 0] * min(fraction, hours)
        tail = fc[rows, 1 + whole] * (rest - whole) if rest > whole else 0.0
        out[rows] = head + fc[rows, 1 : 1 + whole].sum(axis=1) + tail
    return out
