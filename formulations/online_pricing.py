"""One order priced at every node for every tier in microseconds: the online
twin of :func:`~tierflow.formulations.order_pricing.price_orders`, with all
that does not depend on the order precomputed as lookups (``docs/data.md``)."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import (
    DeliveryCalendar,
    OperatingDays,
    require_aware,
    zone_info,
)
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import TIERS
from tierflow.data.zones import MIN_ZONE
from tierflow.formulations.tiers import TierPolicy

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_EPOCH = dt.date(1970, 1, 1)
_DAY_S = 86_400
_BUCKET_S = 900
#: Days of calendar tables kept before / after the request's day.
_BEFORE, _AFTER = 40, 800
#: A request must lie this far inside the window (transit, promise, holidays,
#: and services that operate on few weekdays).
_MARGIN_BEFORE, _MARGIN_AFTER = 35, 300
_PLATINUM_FALLBACK = ("next_day", "two_day")
#: Most ship days a quote's shipments may wait (``OrderPricer.quote``'s
#: ``ship_delay``; the window's margin after a request holds far more).
MAX_SHIP_DELAY = 60
#: Clocks kept (the current one and the previous ones).
_CLOCKS = 4
#: Destinations' weight-free quote parts kept (about 6 kB each).
_DESTINATIONS = 2048


_DATES: dict[int, dt.date] = {}


def day_to_date(day: int) -> dt.date:
    """The calendar date of a day number (days since 1970-01-01); cached."""
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) > 100_000:
            _DATES.clear()
        date = _DATES[day] = _EPOCH + dt.timedelta(days=int(day))
    return date


def date_to_day(date: dt.date) -> int:
    """Day number (days since 1970-01-01) of a date."""
    return (date - _EPOCH).days


def epoch_seconds(when: dt.datetime) -> int:
    """Whole seconds since the epoch, rounded down (as ``datetime64[s]`` does)."""
    return math.floor(require_aware(when).timestamp())


@dataclass(frozen=True, slots=True, eq=False)
class CalendarTables:
    """A delivery calendar as integer lookups over ``[start, start + size)``.

    Attributes
    ----------
    start
        First day of the window.
    ship_roll
        Per day: the first ship day on or after it.
    ship_position
        Per day: how many ship days precede it in the window (the index of
        the first one on or after it in ``ship_days``).
    ship_days
        Every ship day of the window, ascending.
    position
        Per day: how many promise-calendar days precede it in the window
        (the index of the first one on or after it in ``delivery_days``).
    delivery_days
        Every promise-calendar day of the window, ascending.
    service_position
        ``(n_services, size)``: ``position`` in each service's own days.
    service_days
        ``(n_services, k)``: each service's operating days, ascending
        (padded with the window's end).
    service_rank
        ``service_days``' ``position`` in the promise calendar.
    """

    start: int
    ship_roll: IntArray
    position: IntArray
    delivery_days: IntArray
    service_position: IntArray
    service_days: IntArray
    service_rank: IntArray
    ship_position: IntArray
    ship_days: IntArray

    @classmethod
    def build(
        cls,
        calendar: DeliveryCalendar,
        start: int,
        size: int,
        n_services: int = len(SERVICES),
    ) -> CalendarTables:
        """Tables of ``calendar`` for ``size`` days from day ``start``."""
        days = (np.arange(size, dtype=np.int64) + start).astype("datetime64[D]")
        roll = calendar.ship_days.offset(days, 0).astype(np.int64)
        position, delivery = _positions(calendar.promise_days, days, start)
        per = [
            _positions(calendar.service_days(s), days, start) for s in range(n_services)
        ]
        width = max(d.size for _, d in per)
        end = start + size
        service_days = np.array(
            [np.pad(d, (0, width - d.size), constant_values=end) for _, d in per]
        ).reshape(n_services, width)
        rank = np.append(position, position[-1] + 1)[service_days - start]
        service_position = np.array([p for p, _ in per]).reshape(n_services, size)
        ship_position, ship_days = _positions(calendar.ship_days, days, start)
        arrays = (
            roll, position, delivery, service_position, service_days, rank,
            ship_position, ship_days,
        )  # fmt: skip
        for arr in arrays:
            arr.setflags(write=False)
        return cls(start, *arrays)

    @property
    def service_row(self) -> IntArray:
        """Flat index of each service's first day in ``service_days``."""
        n_services, width = self.service_days.shape
        return np.arange(0, n_services * width, width, dtype=np.int64)

    def ship_days_after(self, ship: IntArray, n: int) -> IntArray:
        """The ship day ``n`` ship days after each of the ship days ``ship``
        (``busday_offset(ship, n)`` on the ship calendar)."""
        return self.ship_days[self.ship_position[ship - self.start] + n]

    def covers(self, day: int) -> bool:
        """Whether a request on ``day`` fits inside the window with margins."""
        end = self.start + self.position.size
        return self.start + _MARGIN_BEFORE <= day <= end - _MARGIN_AFTER


def _positions(
    days: OperatingDays, window: NDArray[np.datetime64], start: int
) -> tuple[IntArray, IntArray]:
    """Per day of ``window``: operating days before it; and the operating days."""
    is_open = days.is_open(window)
    position = np.cumsum(is_open, dtype=np.int64) - is_open
    return position, np.flatnonzero(is_open).astype(np.int64) + start


@dataclass(frozen=True, slots=True, eq=False)
class TierQuote:
    """One order (or shipment) priced at every node for every tier.

    Arrays indexed ``[tier, node]`` follow :data:`data.orders.TIERS`; where
    ``service`` is -1 the tier cannot be served from the node (its
    ``shipping``/``penalty`` are ``nan``, its days meaningless).

    Attributes
    ----------
    today
        The order's local date at the destination (day number).
    promised
        ``(n_tiers,)`` promised delivery day of each tier.
    ship
        ``(n_nodes,)`` ship day at each node (its cutoff and timezone).
    service
        ``(n_tiers, n_nodes)`` index into :data:`data.rates.SERVICES`.
    delivery
        Delivery day.
    days
        Carrier delivery days from ``today`` to ``delivery`` (1 = next day).
    late
        Delivery days after the tier's promise (0 when on time).
    shipping, penalty
        Carrier cost, lateness penalty.
    handling
        ``(n_nodes,)`` picking cost of the order's units at each node.
    """

    today: int
    promised: IntArray
    ship: IntArray
    service: NDArray[np.int8]
    delivery: IntArray
    days: IntArray
    late: IntArray
    shipping: FloatArray
    penalty: FloatArray
    handling: FloatArray

    @property
    def feasible(self) -> NDArray[np.bool_]:
        """``(n_tiers, n_nodes)``: the tier can be served from the node."""
        return np.asarray(self.service >= 0)

    @property
    def cost(self) -> FloatArray:
        """Shipping + handling + penalty (``inf`` where infeasible)."""
        total = self.shipping + self.handling[None, :] + self.penalty
        return np.where(self.feasible, total, np.inf)


class OrderPricer:
    """Prices single orders at every node for every tier (``docs/data.md``).

    Parameters
    ----------
    network
        The network (zones, rates, cutoffs, timezones, calendar).
    policy
        Tier rules (services, promise days, guarantee, lateness rates).
    """

    def __init__(self, network: Network, policy: TierPolicy) -> None:
        self.network = network
        self.policy = policy
        n_s = len(SERVICES)
        rates = network.rates
        self._zidx = np.ascontiguousarray(
            (network.zone.T.astype(np.intp) - MIN_ZONE), dtype=np.intp
        )
        offered = (network.services_mask[None, :] >> np.arange(n_s)[:, None]) & 1
        self._offered = offered.astype(bool) & rates.offered[:, None]  # (S, n)
        self._transit = np.maximum(rates.transit_days, 0).astype(np.int64)  # (S, 7)
        self._cutoff_s = network.cutoff_minutes.astype(np.int64) * 60
        self._handling = network.handling_cost
        allowed = policy.service_table()  # (T, S)
        guaranteed = np.array([policy.rules[t].guaranteed for t in TIERS])
        fallback = np.isin(SERVICES, _PLATINUM_FALLBACK)
        relaxed = allowed | (guaranteed[:, None] & fallback[None, :])
        self._ok = self._offered[None, :, :] & allowed[:, :, None]  # (T, S, n)
        self._ok_relaxed = self._offered[None, :, :] & relaxed[:, :, None]
        self._guaranteed_tiers = tuple(np.flatnonzero(guaranteed).tolist())
        n_nodes = network.n_nodes
        #: ``[service, node]`` cells as flat positions in an ``(S, n)`` array
        #: (``service * n + node``), and each tier's offset into a flat
        #: ``(T, S, n)`` one: a quote gathers with ``take`` on them, where
        #: indexing with three broadcast index arrays cost a third of it
        self._nn = np.arange(n_nodes)[None, :]
        self._n = n_nodes
        self._tier_offset = np.arange(len(TIERS))[:, None] * (n_s * n_nodes)
        self._late_rate = policy.table("late_per_day")[:, None, None]
        self._promise = policy.table("promise_days").astype(np.int64)
        self._zones = tuple(
            zone_info(t) for t in (*network.timezones, *network.dest_timezones)
        )
        self._node_tz_names = network.timezones
        self._node_tz = network.node_tz
        self._dest_tz = network.dest_tz
        self._offsets: dict[int, IntArray] = {}
        #: The clocks in use, newest last.
        self._clocks: list[_Clock] = []
        self._tables: CalendarTables | None = None
        self._prices: dict[float, FloatArray] = {}
        #: Up to the lightest heaviest bracket every (service, zone) ships one
        #: parcel, and a weight's bracket in each is fixed by where it falls
        #: among all the card's bracket bounds: one table per such interval
        #: (:meth:`price_table`; a cart's weight rarely repeats, its interval
        #: does).
        self._one_parcel_kg = float(rates.top_weight.min())
        self._bounds = [b for b in np.unique(rates.max_weight).tolist() if b == b]
        self._interval_prices: dict[int, FloatArray] = {}
        #: the rate card's (service, zone) cells, flat (:meth:`price_table`)
        self._cells = int(np.prod(rates.cost.shape[:-1]))
        self._cell = np.arange(self._cells)
        self._destinations: dict[tuple[int, ...], _AtDestination] = {}

    # ------------------------------------------------------------ caches
    def _utc_offsets(self, ts: int) -> IntArray:
        when = dt.datetime.fromtimestamp(ts, dt.UTC)
        out = []
        for zone in self._zones:
            off = when.astimezone(zone).utcoffset()
            out.append(0 if off is None else int(off.total_seconds()))
        return np.array(out, dtype=np.int64)

    def offsets(self, ts: int) -> IntArray:
        """UTC offset in seconds of every node then destination timezone at ``ts``."""
        bucket = ts // _BUCKET_S
        cached = self._offsets.get(bucket)
        if cached is not None:
            return cached
        start = bucket * _BUCKET_S
        first = self._utc_offsets(start)
        if not np.array_equal(first, self._utc_offsets(start + _BUCKET_S - 1)):
            return self._utc_offsets(ts)  # an offset change inside this bucket
        if len(self._offsets) >= 10_000:
            self._offsets.clear()
        self._offsets[bucket] = first
        return first

    def tables(self, day: int) -> CalendarTables:
        """Calendar tables covering a request on ``day`` (rebuilt when needed)."""
        tables = self._tables
        if tables is None or not tables.covers(day):
            tables = CalendarTables.build(
                self.network.calendar, day - _BEFORE, _BEFORE + _AFTER
            )
            self._tables = tables
        return tables

    def price_table(self, billed_kg: float) -> FloatArray:
        """``(n_services, n_zones)`` carrier cost of one shipment of ``billed_kg``.

        The same arithmetic as :meth:`tierflow.data.rates.RateCard.price`, for one
        weight and every (service, zone) at once; a service the rate card
        does not price costs ``inf`` (the card's ``nan``: added to the tier's
        mask, it made every price ``nan``, and a network without economy
        was offered nothing at checkout).
        """
        interval = None
        if 0.0 <= billed_kg <= self._one_parcel_kg:
            interval = bisect_left(self._bounds, billed_kg)
            found = self._interval_prices.get(interval)
            if found is not None:
                return found
        table = self._prices.get(billed_kg)
        if table is None:
            rates = self.network.rates
            parcels = np.maximum(np.ceil(billed_kg / rates.top_weight), 1.0)
            per = billed_kg / parcels
            k = np.minimum(
                (rates.max_weight < per[..., None]).sum(axis=-1),
                rates.max_weight.shape[-1] - 1,
            )
            # each (service, zone)'s bracket k: take_along_axis's index grids
            # cost a miss more than everything else in it together
            cost = rates.cost.reshape(self._cells, -1)[self._cell, k.ravel()]
            cost = cost.reshape(k.shape)
            table = np.asarray(cost * parcels, dtype=np.float64)
            table[np.isnan(table)] = np.inf
            if interval is not None:  # every weight of its interval: this table
                self._interval_prices[interval] = table
                return table
            if len(self._prices) >= 4096:
                self._prices.clear()
            self._prices[billed_kg] = table
        return table

    # ------------------------------------------------------------- quote
    def _clock_at(self, ts: int) -> _Clock:
        """Ship days and calendar positions of every node for releases at ``ts``.

        Kept until the next instant anything can change: a node's cutoff or
        local midnight, a destination's local midnight, or the end of the
        offsets' 15-minute bucket.
        """
        for clock in reversed(self._clocks):
            if clock.start <= ts < clock.until:
                return clock
        offsets = self.offsets(ts)
        local = ts + offsets[self._node_tz]
        day = local // _DAY_S
        secs = local - day * _DAY_S
        tables = self.tables(int(day.min()))
        if not tables.covers(int(day.max())):  # pragma: no cover - a day apart
            tables = self.tables(int(day.max()))
        late_cut = secs >= self._cutoff_s
        ship = tables.ship_roll[day + late_cut - tables.start]
        dest_local = ts + offsets[len(self._node_tz_names) :]
        today = dest_local // _DAY_S
        next_node = np.where(late_cut, _DAY_S, self._cutoff_s) - secs
        next_dest = _DAY_S - (dest_local - today * _DAY_S)
        bucket_end = (ts // _BUCKET_S + 1) * _BUCKET_S - ts
        clock = _Clock(
            start=ts,
            until=ts + int(min(next_node.min(), next_dest.min(), bucket_end)),
            tables=tables,
            ship=ship,
            ship_pos=tables.service_position[:, ship - tables.start]
            + tables.service_row[:, None],
            dest_today=today,
            dest_pos=tables.position[today - tables.start],
        )
        self._clocks = [*self._clocks[-(_CLOCKS - 1) :], clock]
        self._destinations.clear()  # what they were built on moved on
        return clock

    def quote(
        self,
        now: dt.datetime | int,
        dest: int,
        billed_kg: float,
        units: float,
        *,
        ship_delay: int = 0,
        relaxed: bool = False,
    ) -> TierQuote:
        """Price one shipment to destination ``dest`` for every tier at every node.

        Parameters
        ----------
        now
            The order instant (aware datetime or epoch seconds): it fixes the
            destination-local date the promises count from.
        dest
            Destination index.
        billed_kg, units
            The shipment's billed weight and units (handling).
        ship_delay
            Ship days (of the ship calendar) the shipment waits after the
            ship day it would get at each node (its cutoff and timezone
            respected): the overflow tier's ``overflow_delay_days``. Promises
            still count from the order's date. Counted in ship days, never
            in hours: a day added to the order's instant fell, on a Saturday
            after the cutoff, a Sunday or a holiday, on the ship day the
            order had anyway, and "ship later" shipped with Gold.
        relaxed
            Price with ``price_orders``' relaxed rule (a guaranteed tier may
            ship late, by its fallback services) instead of the strict one.
        """
        ts = now if isinstance(now, int) else epoch_seconds(now)
        if not 0 <= ship_delay <= MAX_SHIP_DELAY:
            raise ValueError(f"ship_delay {ship_delay} not in [0, {MAX_SHIP_DELAY}]")
        at = self._at_destination(ts, int(ship_delay), dest, relaxed)
        price = self.price_table(billed_kg)[:, at.zone]  # (S, n)
        masked = at.allowed + price  # (T, S, n): inf where not allowed
        svc = masked.argmin(axis=1)  # (T, n): cheapest, ties to the faster
        cell = svc * self._n + self._nn  # (T, n): [svc, node] in an (S, n) array
        chosen = cell + self._tier_offset  # (T, n): [tier, svc, node] in (T, S, n)
        feasible = masked.take(chosen) < np.inf
        chosen_late = at.late.take(chosen)
        return TierQuote(
            today=at.today,
            promised=at.promised,
            ship=at.ship,
            service=np.where(feasible, svc, -1).astype(np.int8),
            delivery=at.delivery.take(cell),
            days=at.days.take(cell),
            late=chosen_late,
            shipping=np.where(feasible, price.take(cell), np.nan),
            penalty=np.where(feasible, chosen_late * self._late_rate[:, 0], np.nan),
            handling=units * self._handling,
        )

    def _at_destination(
        self, ts: int, delay: int, dest: int, relaxed: bool
    ) -> _AtDestination:
        """What a quote to ``dest`` at ``ts`` (shipping ``delay`` ship days
        later) shares with every other quote there until the clock moves
        on: all but the weight's prices (kept per clock, delay, destination
        and rule)."""
        clock = self._clock_at(ts)
        tz = self._dest_tz[dest]
        today = int(clock.dest_today[tz])
        p_today = int(clock.dest_pos[tz])
        key = (clock.start, clock.until, delay, today, p_today, dest, relaxed)
        found = self._destinations.get(key)
        if found is not None:
            return found
        ship, ship_pos = clock.shipping(delay)
        zi, tables = self._zidx[dest], clock.tables
        idx = ship_pos + self._transit[:, zi]  # (S, n) into service_days
        # never before each service's first day on or after the order's
        # date (DeliveryCalendar.delivery_dates' ``ordered``)
        first = tables.service_position[:, today - tables.start] + tables.service_row
        idx = np.maximum(idx, first[:, None])
        pos = tables.service_rank.take(idx)  # (S, n) promise positions
        # promise days count from the order's date itself: on a day off the
        # promise calendar (a Sunday, a holiday), from the last promise day
        # before it, so one day is the next promise day (as
        # DeliveryCalendar.promised_dates); 0 days, the first on or after it
        closed = int(tables.delivery_days[p_today] != today)
        p_base = p_today - closed
        p_promise = np.maximum(p_base + self._promise, p_today)  # (T,)
        late = np.maximum(pos - p_promise[:, None, None], 0)  # (T, S, n)
        allowed = np.where(
            self._ok_relaxed if relaxed else self._ok, late * self._late_rate, np.inf
        )
        if not relaxed:  # a guaranteed tier is never late
            for t in self._guaranteed_tiers:
                allowed[t][late[t] > 0] = np.inf
        found = _AtDestination(
            today=today,
            zone=zi,
            promised=tables.delivery_days[p_promise],
            ship=ship,
            allowed=allowed,
            late=late,
            delivery=tables.service_days.take(idx),
            days=pos - p_base,
        )
        for arr in (found.promised, allowed, late, found.delivery, found.days):
            arr.setflags(write=False)  # every quote to there reads them
        if len(self._destinations) >= _DESTINATIONS:
            self._destinations.clear()
        self._destinations[key] = found
        return found


@dataclass(frozen=True, slots=True, eq=False)
class _AtDestination:
    """A quote's part that does not depend on the order's weight: per tier,
    service and node the lateness charge (``allowed``: ``inf`` where the
    tier may not use the service), the lateness, delivery day and days."""

    today: int
    zone: IntArray
    promised: IntArray
    ship: IntArray
    allowed: FloatArray
    late: IntArray
    delivery: IntArray
    days: IntArray


@dataclass(frozen=True, slots=True, eq=False)
class _Clock:
    """Everything about "now" that does not depend on the order."""

    start: int
    until: int
    tables: CalendarTables
    ship: IntArray
    #: ``(n_services, n_nodes)``: the ship day's flat index into ``service_days``
    ship_pos: IntArray
    dest_today: IntArray
    dest_pos: IntArray
    #: ``shipping(delay)`` per delay asked for (the overflow tier's)
    delayed: dict[int, tuple[IntArray, IntArray]] = field(default_factory=dict)

    def shipping(self, delay: int = 0) -> tuple[IntArray, IntArray]:
        """Each node's ship day ``delay`` ship days after :attr:`ship`, and
        its ``ship_pos``: the shipments of an order that waits ``delay``
        ship days (the overflow tier; ``docs/checkout.md``)."""
        if delay == 0:
            return self.ship, self.ship_pos
        found = self.delayed.get(delay)
        if found is None:
            tables = self.tables
            ship = tables.ship_days_after(self.ship, delay)
            pos = tables.service_position[:, ship - tables.start]
            found = (ship, pos + tables.service_row[:, None])
            for arr in found:
                arr.setflags(write=False)
            self.delayed[delay] = found
        return found
