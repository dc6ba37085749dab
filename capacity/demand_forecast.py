"""How many orders the rest of the day brings and what they look like,
learned from past days only and corrected by today's arrivals.

The volume model is :class:`~tierflow.capacity.forecast.SmoothedProfileForecaster`
fitted to the history's orders of each business day (:class:`BusinessDay`:
the network's, from its first local midnight to its last) by hour since the
day's start (a level, weekday factors and an hour-of-day profile). During the day the expected total is updated from the
orders seen so far against the share of the day the profile says should have
arrived (a Gamma–Poisson update: the day's multiplier has a prior of mean 1
and a coefficient of variation of at least :data:`PRIOR_CV`), so an
unannounced spike or a slow day is noticed within an hour or two. The mix
(destinations, baskets, tiers) is the history's orders themselves, each with
its time of day (``docs/allocation.md``).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.forecast import NodeHourHistory, SmoothedProfileForecaster
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.orders import Orders, local_times, read_history

FloatArray = NDArray[np.float64]

#: The zone of a forecast not bound to a network
#: (:meth:`DemandForecast.on`): its business day is New York's calendar day.
BUSINESS_TZ = "America/New_York"
#: Least coefficient of variation of a day's volume around the history's
#: forecast: retail day forecasts are routinely 20-40 % off on promotion days.
PRIOR_CV = 0.25


@functools.lru_cache(maxsize=8192)
def _midnight(zone: str, day: dt.date) -> int:
    """Epoch seconds of 00:00 in ``zone`` on ``day``."""
    return int(dt.datetime.combine(day, dt.time(0), zone_info(zone)).timestamp())


#: Longest a business day's clock may need looking at for a change of
#: offset (a day from 00:00 at UTC+14 to 24:00 at UTC-12 is 50 hours).
_DAY_SPAN_S = 50 * 3600


@functools.lru_cache(maxsize=8192)
def _clock_change(zone: str, start: int) -> tuple[float, float]:
    """When ``zone``'s clocks change within the day from epoch second
    ``start``, in seconds after it, and by how many seconds (``inf, 0``:
    they do not). One change a day at most, as every zone has."""
    tz = zone_info(zone)

    def offset(t: int) -> float:
        shift = dt.datetime.fromtimestamp(t, tz).utcoffset()
        return 0.0 if shift is None else shift.total_seconds()

    first, last = offset(start), offset(start + _DAY_SPAN_S)
    if first == last:
        return float("inf"), 0.0
    lo, hi = 0, _DAY_SPAN_S  # the offset is `first` at lo, not at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if offset(start + mid) == first else (lo, mid)
    return float(hi), last - first


@dataclass(frozen=True, slots=True, eq=False)
class BusinessDay:
    """A network's business day.

    An order belongs to the calendar date at its destination. Business day
    ``D`` is every order of date ``D``: it runs from the first local midnight
    starting ``D`` among the network's zones (its destinations' and nodes')
    to the last one ending it: a US day from 00:00 New York to 24:00
    Honolulu (29 or 30 hours), a network in one zone its local day. The
    demand profile, the orders counted as seen and the hours into the day
    all use it, so what is expected and what is observed count the same
    orders.

    Attributes
    ----------
    zones
        The distinct time zones.
    weight
        Each zone's share of the demand when nothing else tells (the
        destinations' population; a zone of nodes only weighs 0).
    """

    zones: tuple[str, ...]
    weight: FloatArray

    @classmethod
    def of(cls, network: Network) -> BusinessDay:
        """The business day of ``network``'s destinations and nodes."""
        zones = tuple(sorted(set(network.dest_timezones) | set(network.timezones)))
        index = np.array([zones.index(z) for z in network.dest_timezones], np.intp)
        weight: FloatArray = np.bincount(
            index[network.dest_tz], weights=network.dest_weight, minlength=len(zones)
        ).astype(np.float64)
        if weight.sum() <= 0:
            weight = np.ones(len(zones))
        return cls(zones, np.asarray(weight / weight.sum(), dtype=np.float64))

    @classmethod
    def single(cls, zone: str = BUSINESS_TZ) -> BusinessDay:
        """The calendar day of one zone."""
        return cls((zone,), np.ones(1))

    def _midnights(self, day: dt.date) -> NDArray[np.int64]:
        return np.array([_midnight(z, day) for z in self.zones], dtype=np.int64)

    def start(self, day: dt.date) -> np.datetime64:
        """The first local midnight starting ``day`` (UTC ``datetime64[s]``)."""
        return np.datetime64(int(self._midnights(day).min()), "s")

    def end(self, day: dt.date) -> np.datetime64:
        """The last local midnight ending ``day`` (UTC ``datetime64[s]``)."""
        after = day + dt.timedelta(days=1)
        return np.datetime64(int(self._midnights(after).max()), "s")

    def hours(self, day: dt.date) -> float:
        """Length of ``day`` in hours (24 in one zone, DST days aside)."""
        return float((self.end(day) - self.start(day)).astype(np.int64)) / 3600.0

    def _change(self, day: dt.date) -> tuple[float, float]:
        """(seconds into ``day``, shift) of its clock's change, if any."""
        midnights = self._midnights(day)
        first = int(np.argmin(midnights))
        return _clock_change(self.zones[first], int(midnights[first]))

    def clock(self, day: dt.date, elapsed_s: float) -> float:
        """Seconds on ``day``'s clock ``elapsed_s`` after its start.

        The day's clock is the wall clock of the zone that starts it (its
        first midnight): what the profile of a day's orders is learned and
        read on, as shoppers order by their wall clocks. The two differ on
        the day that zone's clocks change: after 02:00 in spring an hour
        more has struck than has passed (10:00 is 9 hours in), in autumn an
        hour less; read as hours elapsed, that day's profile was an hour off
        (the rest of a generated Berlin day forecast 18-63 % high in spring,
        17-52 % low in autumn: ``docs/allocation.md``)."""
        at, shift = self._change(day)
        return elapsed_s + shift if elapsed_s >= at else elapsed_s

    def clocks(
        self, dates: NDArray[np.datetime64], elapsed_s: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """:meth:`clock` of orders of several days (``dates``: each order's
        business day, ``elapsed_s`` since its start)."""
        out = np.asarray(elapsed_s, dtype=np.int64).copy()
        for day in np.unique(dates):
            members = dates == day
            at, shift = self._change(day.astype(dt.date))
            out[members & (out >= at)] += int(shift)
        return out

    def elapsed(self, day: dt.date, clock_s: NDArray[np.int64]) -> NDArray[np.int64]:
        """Seconds after ``day``'s start when its clock shows ``clock_s``
        (:meth:`clock`'s inverse; a time the clocks skip maps to the
        change, one they repeat to its first pass)."""
        at, shift = self._change(day)
        clock = np.asarray(clock_s, dtype=np.int64)
        if not np.isfinite(at):
            return clock.copy()
        later = np.maximum(clock - int(shift), int(at))
        return np.asarray(np.where(clock >= at, later, clock), dtype=np.int64)

    def longest(self, first: dt.date, days: int = 366) -> int:
        """Whole hours of the longest business day from ``first`` on (a
        year: every daylight-saving change), the profile's length."""
        span = (first + dt.timedelta(days=d) for d in range(days))
        return int(np.ceil(max(self.hours(day) for day in span)))

    def day_at(self, now: dt.datetime) -> dt.date:
        """The business day ``now`` is in: the latest one started (the latest
        local date among the zones; the day before may not have ended)."""
        return max(now.astimezone(zone_info(z)).date() for z in self.zones)

    def flat_share(self, day: dt.date, offset_s: float) -> float:
        """Share of ``day``'s orders before ``offset_s`` into it when each
        zone's orders come evenly through its own local day (weighted by
        :attr:`weight`): the profile of a forecast without history."""
        at = float(self.start(day).astype(np.int64)) + offset_s
        first = self._midnights(day).astype(np.float64)
        last = self._midnights(day + dt.timedelta(days=1)).astype(np.float64)
        elapsed = np.clip((at - first) / (last - first), 0.0, 1.0)
        return float(np.dot(self.weight, elapsed))


def business_day_start(day: dt.date, network: Network) -> np.datetime64:
    """The start of ``network``'s business ``day`` (:class:`BusinessDay`), as
    UTC ``datetime64[s]``."""
    return BusinessDay.of(network).start(day)


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
    calendar = BusinessDay.of(network)
    out = np.empty(orders.n_orders, dtype=np.int64)
    created = orders.created_at.astype("datetime64[s]")
    for day in np.unique(dates):
        members = dates == day
        start = calendar.start(day.astype(dt.date))
        out[members] = (created[members] - start).astype(np.int64)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class OrderPool:
    """Past orders standing for the mix of orders to come, with the second
    of their business day's clock (:meth:`BusinessDay.clock`) each arrived
    at."""

    orders: Orders
    clock_s: NDArray[np.int64]

    def after(self, clock_s: float) -> NDArray[np.intp]:
        """Orders that arrived later on their day's clock than ``clock_s``."""
        return np.asarray(np.flatnonzero(self.clock_s >= clock_s), dtype=np.intp)


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
    calendar
        The network's business day (``None``: not bound to a network yet,
        :meth:`on`; New York's calendar day meanwhile).
    """

    source: str
    volume: SmoothedProfileForecaster | None = None
    pool: OrderPool | None = None
    prior_cv: float = PRIOR_CV
    total: float | None = None
    calendar: BusinessDay | None = None

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
        before's evening in the West runs past the next day's start: such a
        history was refused whole, also ``simulate``'s own).
        """
        orders = read_history(path, network, day=day)
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
        of its orders placed before ``before`` only (what had arrived).

        The model learns the orders of each business day (their date at
        their destination) by hour since the day's start
        (:class:`BusinessDay`), from the history's whole days: a day whose
        end ``before`` cuts off (the West's evening still to come) is left
        out of the volume, its orders kept in the mix."""
        if before is not None:
            history = history.take(history.created_at < before)
        if history.n_orders == 0:
            raise InputError("no orders", field="history")
        calendar = BusinessDay.of(network)
        offsets = day_offsets(history, network)
        dates = local_order_dates(history, network)
        clock = calendar.clocks(dates, offsets)
        first, counts = _business_day_counts(dates, offsets, clock, calendar, before)
        hours = counts.shape[1]
        series = NodeHourHistory(np.datetime64(first, "h"), counts.reshape(1, -1))
        volume = SmoothedProfileForecaster(period=hours).fit(series)
        daily = counts.sum(axis=1)
        spread = float(np.std(daily) / max(np.mean(daily), 1.0))
        pool = OrderPool(history, clock)
        return cls("history", volume, pool, max(PRIOR_CV, spread), None, calendar)

    @classmethod
    def intraday(cls, network: Network | None = None) -> DemandForecast:
        """No history: today's arrivals against a flat day (each zone's
        orders evenly through its local day, :meth:`BusinessDay.flat_share`)."""
        calendar = None if network is None else BusinessDay.of(network)
        return cls("intraday", calendar=calendar)

    def on(self, network: Network) -> DemandForecast:
        """This forecast on ``network``'s business day (itself when bound)."""
        if self.calendar is not None:
            return self
        return replace(self, calendar=BusinessDay.of(network))

    @property
    def business_day(self) -> BusinessDay:
        """The calendar the forecast counts days by."""
        return self.calendar if self.calendar is not None else BusinessDay.single()

    def with_total(self, total: float) -> DemandForecast:
        """The same mix with a given day total (a what-if override)."""
        return replace(self, source="override", total=total)

    def expected(self, day: dt.date) -> FloatArray:
        """Expected orders of ``day`` per hour since its start (zeros without
        a volume model)."""
        if self.volume is None:
            return np.zeros(int(np.ceil(self.business_day.hours(day))))
        period = self.volume.period
        first = self.volume.start_.astype("datetime64[D]").astype(dt.date)
        ahead = (day - first).days - self.volume.days_
        per_hour: FloatArray = self.volume.predict(period, offset_hours=ahead * period)
        return np.asarray(per_hour[0], dtype=np.float64)

    def share_before(self, day: dt.date, offset_s: float) -> float:
        """Share of ``day``'s orders expected before ``offset_s`` into it
        (seconds elapsed; the profile is read at the day's clock then)."""
        per_hour = self.expected(day)
        if self.volume is None or per_hour.sum() <= 0:  # no history: flat
            return self.business_day.flat_share(day, offset_s)
        clock = self.business_day.clock(day, offset_s)
        hours = min(max(clock / 3600.0, 0.0), float(per_hour.size))
        cumulative = np.concatenate([[0.0], np.cumsum(per_hour)]) / per_hour.sum()
        return float(np.interp(hours, np.arange(per_hour.size + 1), cumulative))

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


#: Share of a day's demand (each zone's orders evenly through its local day)
#: a history may miss at its ends and the day still count as whole.
WHOLE_DAY_MISSING = 0.02


def _business_day_counts(
    dates: NDArray[np.datetime64],
    offsets: NDArray[np.int64],
    clock: NDArray[np.int64],
    calendar: BusinessDay,
    before: np.datetime64 | None,
) -> tuple[dt.date, FloatArray]:
    """Orders per hour of their business day's clock (``clock``; ``offsets``:
    seconds elapsed since the day's start), one row per day from the
    history's first whole day to its last (as many columns as the longest
    business day has hours). The first date is cut off when the
    history starts in it (its first order more than
    :data:`WHOLE_DAY_MISSING` of the day in), the last when the history (up
    to ``before``, else its last order) ends that far before its end."""
    first = dates.min().astype(dt.date)
    last = dates.max().astype(dt.date)
    head = offsets[dates == dates.min()].min()
    if calendar.flat_share(first, float(head)) > WHOLE_DAY_MISSING:
        first += dt.timedelta(days=1)
    if before is None:
        end = float(offsets[dates == dates.max()].max())
    else:
        start = calendar.start(last).astype(np.int64)
        end = float(before.astype("datetime64[s]").astype(np.int64) - start)
    if calendar.flat_share(last, end) < 1.0 - WHOLE_DAY_MISSING:
        last -= dt.timedelta(days=1)
    if last < first:
        raise InputError(
            "needs at least one whole business day of orders", field="history"
        )
    hours = calendar.longest(first)
    n_days = (last - first).days + 1
    row = (dates - np.datetime64(first, "D")).astype(np.int64)
    col = np.clip(clock // 3600, 0, hours - 1)
    keep = (row >= 0) & (row < n_days)
    cell = row[keep] * hours + col[keep]
    counts = np.bincount(cell, minlength=n_days * hours).astype(np.float64)
    return first, counts.reshape(n_days, hours)
