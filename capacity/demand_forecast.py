"""How many orders the rest of the day brings and what they look like,
learned from past days only and corrected by today's arrivals.

The volume model is :class:`~tierflow.capacity.forecast.SmoothedProfileForecaster`
fitted to the history's orders per UTC hour (a level, weekday factors and an
hour-of-day profile). During the day the expected total is updated from the
orders seen so far against the share of the day the profile says should have
arrived (a Gamma–Poisson update: the day's multiplier has a prior of mean 1
and a coefficient of variation of at least :data:`PRIOR_CV`), so an
unannounced spike or a slow day is noticed within an hour or two. The mix
(destinations, baskets, tiers) is the history's orders themselves, each with
its time of day (``docs/allocation.md``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.forecast import NodeHourHistory, SmoothedProfileForecaster
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.orders import Orders, local_times, read_history

FloatArray = NDArray[np.float64]

#: The business day's clock: an order belongs to the local date at its
#: destination, and its day starts at 00:00 in this zone.
BUSINESS_TZ = "America/New_York"
#: Hours from 00:00 New York to the last US local midnight (Hawaii, UTC-10).
BUSINESS_HOURS = 30
#: Least coefficient of variation of a day's volume around the history's
#: forecast: retail day forecasts are routinely 20-40 % off on promotion days.
PRIOR_CV = 0.25


def business_day_start(day: dt.date) -> np.datetime64:
    """00:00 in :data:`BUSINESS_TZ` on ``day``, as UTC ``datetime64[s]``."""
    start = dt.datetime.combine(day, dt.time(0), zone_info(BUSINESS_TZ))
    utc = start.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(utc, "s")


def local_order_dates(orders: Orders, network: Network) -> NDArray[np.datetime64]:
    """Each order's calendar date at its destination (``datetime64[D]``)."""
    return local_dates(orders.created_at, orders.dest, network)


def local_dates(
    created_at: NDArray[np.datetime64], dest: NDArray[np.intp], network: Network
) -> NDArray[np.datetime64]:
    """The calendar date at destination ``dest`` (network indices) of each
    UTC instant ``created_at``: orders given as arrays rather than
    :class:`Orders` (e.g. read from the state store)."""
    return local_times(created_at, dest, network).astype("datetime64[D]")


def day_offsets(orders: Orders, network: Network) -> NDArray[np.int64]:
    """Seconds from the start of each order's business day to the order."""
    dates = local_order_dates(orders, network)
    out = np.empty(orders.n_orders, dtype=np.int64)
    created = orders.created_at.astype("datetime64[s]")
    for day in np.unique(dates):
        members = dates == day
        start = business_day_start(day.astype(dt.date))
        out[members] = (created[members] - start).astype(np.int64)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class OrderPool:
    """Past orders standing for the mix of orders to come, with the second of
    their business day each arrived at."""

    orders: Orders
    offset_s: NDArray[np.int64]

    def after(self, offset_s: float) -> NDArray[np.intp]:
        """Orders that arrived later in their day than ``offset_s``."""
        return np.asarray(np.flatnonzero(self.offset_s >= offset_s), dtype=np.intp)


@dataclass(frozen=True, slots=True, eq=False)
class DemandForecast:
    """The rest-of-day demand forecast (see the module docstring).

    Attributes
    ----------
    source
        ``history`` (learned from past days), ``intraday`` (today's arrivals
        only, against a flat profile) or ``override`` (a given day total).
    volume
        The fitted volume model (``None`` without history).
    pool
        The history's orders (``None`` without history).
    prior_cv
        Coefficient of variation of the day's multiplier around the model.
    total
        The given day total of an ``override``.
    """

    source: str
    volume: SmoothedProfileForecaster | None = None
    pool: OrderPool | None = None
    prior_cv: float = PRIOR_CV
    total: float | None = None

    @classmethod
    def from_history_file(
        cls,
        path: Path,
        network: Network,
        *,
        day: dt.date | None = None,
        before: np.datetime64 | None = None,
    ) -> tuple[DemandForecast, int]:
        """:meth:`from_history` of an orders file (``--history``), and how
        many of its orders it left out as not arrived yet; what is wrong
        with it as a whole (no order, no whole day) names the file.

        ``day``: the business day being decided; a history order of it or
        of a later day (its date at its destination) is refused (the day's
        own orders in its forecast would be foresight; the file was taken as
        given). ``before``: the first instant decided; earlier days' orders
        placed at or after it are left out, as not arrived yet (the day
        before's evening in the West runs past New York's midnight: such a
        history was refused whole, also ``simulate``'s own).
        """
        orders = read_history(path, network)
        if day is not None and orders.n_orders:
            dates = local_order_dates(orders, network)
            late = np.flatnonzero(dates >= np.datetime64(day, "D"))
            if late.size:
                first = int(late[np.argmin(orders.created_at[late])])
                raise InputError(
                    f"{late.size} order(s) of the day to allocate ({day}, the "
                    "date at each destination) or later: a history holds "
                    "earlier days' orders (a forecast that sees the day it "
                    f"decides knows its future), this one is "
                    f"{orders.order_ids[first]!r}",
                    file=path.name,
                    field="created_at",
                    value=str(
                        np.datetime_as_string(
                            orders.created_at[first], unit="s", timezone="UTC"
                        )
                    ),
                )
        try:
            forecast = cls.from_history(orders, network, before=before)
        except InputError as exc:
            raise InputError(exc.reason, file=path.name, field=exc.field) from None
        assert forecast.pool is not None
        return forecast, orders.n_orders - forecast.pool.orders.n_orders

    @classmethod
    def from_history(
        cls, history: Orders, network: Network, *, before: np.datetime64 | None = None
    ) -> DemandForecast:
        """Fit the volume model and keep the mix of ``history`` (past days),
        of its orders placed before ``before`` only (what had arrived)."""
        if before is not None:
            history = history.take(history.created_at < before)
        if history.n_orders == 0:
            raise InputError("no orders", field="history")
        hourly = _hourly_counts(history)
        volume = SmoothedProfileForecaster().fit(hourly)
        daily = hourly.volume[0, : (hourly.n_hours // 24) * 24].reshape(-1, 24).sum(1)
        spread = float(np.std(daily) / max(np.mean(daily), 1.0))
        pool = OrderPool(history, day_offsets(history, network))
        return cls("history", volume, pool, max(PRIOR_CV, spread))

    @classmethod
    def intraday(cls) -> DemandForecast:
        """No history: today's arrivals against a flat day."""
        return cls("intraday")

    def with_total(self, total: float) -> DemandForecast:
        """The same mix with a given day total (a what-if override)."""
        return DemandForecast("override", self.volume, self.pool, self.prior_cv, total)

    def expected(self, day: dt.date) -> FloatArray:
        """Expected orders per hour of ``day``'s business window (``None``-safe:
        zeros without a volume model)."""
        if self.volume is None:
            return np.zeros(BUSINESS_HOURS)
        start = business_day_start(day).astype("datetime64[h]")
        offset = int((start - self.volume.end_).astype(np.int64))
        per_hour: FloatArray = self.volume.predict(BUSINESS_HOURS, offset_hours=offset)
        return np.asarray(per_hour[0], dtype=np.float64)

    def share_before(self, day: dt.date, offset_s: float) -> float:
        """Share of ``day``'s orders expected before ``offset_s`` into it."""
        hours = min(max(offset_s / 3600.0, 0.0), float(BUSINESS_HOURS))
        per_hour = self.expected(day)
        if per_hour.sum() <= 0:  # no history: a flat day of 24 hours
            return min(hours / 24.0, 1.0)
        cumulative = np.concatenate([[0.0], np.cumsum(per_hour)]) / per_hour.sum()
        return float(np.interp(hours, np.arange(BUSINESS_HOURS + 1), cumulative))

    def remaining(self, day: dt.date, offset_s: float, observed: int) -> float:
        """Orders still to come in ``day`` after ``offset_s``, given that
        ``observed`` of its orders have arrived."""
        if self.total is not None:
            return max(self.total - observed, 0.0)
        share = self.share_before(day, offset_s)
        prior = float(self.expected(day).sum())
        multiplier = self.multiplier(day, offset_s, observed)
        if multiplier is None:  # intraday: the run rate so far
            return observed * (1.0 - share) / share if share >= 0.05 else 0.0
        return max(multiplier * prior * (1.0 - share), 0.0)

    def multiplier(self, day: dt.date, offset_s: float, observed: int) -> float | None:
        """How busy ``day`` is against the history's profile: the posterior
        mean of the day's multiplier after ``observed`` orders by ``offset_s``
        (1: as expected; ``None`` without a profile to compare with)."""
        if self.total is not None:
            return None
        prior = float(self.expected(day).sum())
        if prior <= 0:
            return None
        share = self.share_before(day, offset_s)
        shape = 1.0 / self.prior_cv**2
        return (shape + observed) / (shape + prior * share)


def _hourly_counts(history: Orders) -> NodeHourHistory:
    """Orders per UTC hour from the first whole UTC day (one row)."""
    hours = history.created_at.astype("datetime64[h]")
    first = hours.min()
    start = first.astype("datetime64[D]").astype("datetime64[h]")
    if first > start:
        start = start + np.timedelta64(24, "h")
    pos = (hours - start).astype(np.int64)
    n_hours = int(pos.max()) + 1
    if n_hours < 24:
        raise InputError("needs at least one whole UTC day of orders", field="history")
    counts = np.bincount(pos[pos >= 0], minlength=n_hours).astype(np.float64)
    return NodeHourHistory(start, counts[None, :])
