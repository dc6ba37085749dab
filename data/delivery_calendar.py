"""Ship and delivery dates from order time, node cutoff, timezone and carrier
service, vectorized with ``numpy.busday_offset``: nodes ship Monday–Saturday,
each service operates on its own weekdays less its closed days (carrier
holidays). The calendar's rules: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError

#: numpy weekmask, Monday first: nodes ship Monday–Saturday.
SHIP_WEEKMASK = "1111110"
#: Carriers deliver Monday–Saturday (the default of every service).
DELIVERY_WEEKMASK = "1111110"

DateArray = NDArray[np.datetime64]


#: Files of a zoneinfo folder that load as zones but name none: what they
#: hold depends on the machine (or is no zone at all), so one network would
#: keep other clocks on another machine.
_NOT_ZONES = {
    "localtime": "the zone of whichever machine reads it",
    "posixrules": "a copy of a zone the machine's tzdata chose",
    "Factory": "tzdata's placeholder, no place's clock",
}

#: Windows' names of the US zones (what a Windows system or SQL Server
#: exports), and the IANA zone of each.
_WINDOWS_ZONES = {
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
}


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a timezone (``None`` when it is one).

    ``localtime``, ``posixrules`` and ``Factory`` load from a zoneinfo
    folder but name no place's clock, and ``right/...`` zones count leap
    seconds (27 s off civil time): each was taken as a node's clock."""
    if name in _NOT_ZONES:
        return f"not an IANA timezone ({name!r} is {_NOT_ZONES[name]}: name the zone, e.g. America/New_York)"
    if name.startswith("right/"):
        return f"not an IANA timezone (right/ zones count leap seconds, 27 s off civil time: write {name.removeprefix('right/')!r})"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "not an IANA timezone" + _zone_meant(name)
    return None


def _zone_meant(name: str) -> str:
    """The zone ``name`` stands for, when it is a Windows name of a US zone
    or an IANA name in other case (``america/new_york``: loaded on a Mac's
    case-insensitive disk, refused on Linux), as a hint; "" else."""
    windows = {k.casefold(): v for k, v in _WINDOWS_ZONES.items()}
    if name.strip().casefold() in windows:
        return f" (a Windows zone name: write {windows[name.strip().casefold()]!r})"
    from zoneinfo import available_timezones  # scans the disk: errors only

    for zone in sorted(available_timezones()):
        if zone.casefold() == name.strip().casefold():
            return f" (names are case-sensitive: write {zone!r})"
    return ""


@lru_cache(maxsize=512)
def zone_info(name: str) -> ZoneInfo:
    """Cached :class:`zoneinfo.ZoneInfo` (raises ``InputError`` naming
    :func:`timezone_problem` when ``name`` is none)."""
    problem = timezone_problem(name)
    if problem is not None:
        raise InputError(problem, field="timezone", value=name)
    return ZoneInfo(name)


def is_timezone(name: str) -> bool:
    """Whether ``name`` is a timezone (:func:`timezone_problem`)."""
    return timezone_problem(name) is None


def require_aware(when: dt.datetime, what: str = "now") -> dt.datetime:
    """``when`` itself if it carries a timezone; naive times are ambiguous."""
    if not isinstance(when, dt.datetime):  # a date or a string has no tzinfo
        raise InputError(
            "not a datetime (an aware datetime.datetime)", field=what, value=when
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise InputError(
            "no timezone offset (naive datetime)", field=what, value=str(when)
        )
    return when


@dataclass(frozen=True, slots=True)
class YearlyClosures:
    """Closed days that come back every year (the carrier holidays), each
    year's built when a date of it is first asked about: a network keeps
    the rule, not 300 years of dates.

    Parameters
    ----------
    source
        A year's closed days; a module-level function, so the rule pickles
        by name.
    first, last
        The years ``source`` covers; no day outside them is closed.
    opened
        Days of ``source`` that stay open.
    """

    source: Callable[[int], tuple[dt.date, ...]]
    first: int
    last: int
    opened: frozenset[dt.date] = field(default=frozenset())

    def days(self, first: int, last: int) -> tuple[dt.date, ...]:
        """The closed days of years ``first..last`` (within the covered ones)."""
        years = range(max(first, self.first), min(last, self.last) + 1)
        return tuple(d for y in years for d in self.source(y) if d not in self.opened)


@dataclass(frozen=True, slots=True)
class OperatingDays:
    """The days something operates: a weekmask less closed dates.

    Parameters
    ----------
    weekmask
        numpy weekmask, Monday first.
    closed
        Dates it does not operate on, even on a weekday of ``weekmask``.
    yearly
        Closed days that repeat by year (carrier holidays), besides ``closed``.
    """

    weekmask: str = DELIVERY_WEEKMASK
    closed: tuple[dt.date, ...] = field(default=())
    yearly: YearlyClosures | None = None

    def offset(self, start: Any, days: Any) -> DateArray:
        """``days`` operating days after the first operating day on/after ``start``."""
        days = np.asarray(days, dtype=np.int64)
        out: DateArray = np.busday_offset(
            start,
            days,
            roll="forward",
            busdaycal=_busdaycalendar(self, *self._years(start, start, days)),
        )
        return out

    def count(self, begin: Any, end: Any) -> NDArray[np.int64]:
        """Operating days in ``[begin, end)`` (negative when ``end < begin``)."""
        cal = _busdaycalendar(self, *self._years(begin, end))
        return np.asarray(np.busday_count(begin, end, busdaycal=cal), dtype=np.int64)

    def is_open(self, dates: Any) -> NDArray[np.bool_]:
        """Whether each date is an operating day."""
        cal = _busdaycalendar(self, *self._years(dates, dates))
        return np.asarray(np.is_busday(dates, busdaycal=cal))

    def closed_between(self, first: dt.date, end: dt.date) -> tuple[dt.date, ...]:
        """The closed dates in ``[first, end)``, sorted."""
        days = set(self.closed)
        if self.yearly is not None:
            days.update(self.yearly.days(first.year, end.year))
        return tuple(sorted(d for d in days if first <= d < end))

    def _years(self, a: Any, b: Any, days: Any = None) -> tuple[int, int]:
        """The years of :attr:`yearly` a busday call on dates ``a``..``b``
        (``days`` operating days on) can reach: far enough past them for
        every closed day met on the way; ``(0, -1)``: none."""
        yearly = self.yearly
        if yearly is None:
            return 0, -1
        lo_days = _day_numbers(a)
        hi_days = lo_days if b is a else _day_numbers(b)
        if lo_days.size == 0 or hi_days.size == 0:
            return 0, -1
        # NaT is the least int64: a span from the first year
        lo, hi = int(lo_days.min()), int(hi_days.max())
        # n operating days span at most (n // open weekdays + 1) weeks, and
        # each closed day one week more; doubled, a year beside, and a year
        # more each way for counting years as 365.2425 days
        per_week = max(self.weekmask.count("1"), 1)
        extra = len(self.closed)
        ahead = back = 0
        if days is not None and days.size:
            ahead, back = max(int(days.max()), 0), max(-int(days.min()), 0)
        hi += ((ahead + extra) // per_week + 1) * 14 + 366
        lo -= ((back + extra) // per_week + 1) * 14 + 366
        first = max(1970 + int(lo // 365.2425) - 1, yearly.first)
        last = min(1970 + int(hi // 365.2425) + 1, yearly.last)
        return (first, last) if first <= last else (0, -1)


def _day_numbers(dates: Any) -> NDArray[np.int64]:
    """Days since 1970-01-01 of ``dates`` (anything numpy reads as dates)."""
    return np.asarray(dates, dtype="datetime64[D]").view(np.int64)


@lru_cache(maxsize=256)
def _busdaycalendar(days: OperatingDays, first: int, last: int) -> np.busdaycalendar:
    # numpy calendars do not pickle, so networks keep the dates (and the
    # yearly rule) and every process builds (once per span of years) the
    # calendar its busday calls use
    closed = days.closed
    if days.yearly is not None and first <= last:
        closed = closed + days.yearly.days(first, last)
    return np.busdaycalendar(
        weekmask=days.weekmask, holidays=np.array(closed, dtype="datetime64[D]")
    )


@dataclass(frozen=True, slots=True)
class DeliveryCalendar:
    """Ship days, the promise calendar and each service's days (``docs/data.md``).

    Parameters
    ----------
    ship_weekmask
        Weekdays nodes ship on (numpy weekmask, Monday first).
    delivery_weekmask
        Weekdays of the promise calendar, and of every service without its
        own entry in ``services``.
    holidays
        Days closed for every service: nothing ships, nothing is delivered,
        and promises skip them.
    services
        Per service index (:data:`tierflow.data.rates.SERVICES` order): its
        own operating days; services past the end use the promise calendar.
        A service's days should lie within the promise calendar's.
    yearly
        Days closed for every service that repeat by year (carrier holidays),
        besides ``holidays``.
    """

    ship_weekmask: str = SHIP_WEEKMASK
    delivery_weekmask: str = DELIVERY_WEEKMASK
    holidays: tuple[dt.date, ...] = field(default=())
    services: tuple[OperatingDays, ...] = field(default=())
    yearly: YearlyClosures | None = None

    @property
    def ship_days(self) -> OperatingDays:
        """Days nodes ship on."""
        return OperatingDays(self.ship_weekmask, self.holidays, self.yearly)

    @property
    def promise_days(self) -> OperatingDays:
        """Days promises and lateness count (every service's days lie within)."""
        return OperatingDays(self.delivery_weekmask, self.holidays, self.yearly)

    def service_days(self, service: int | None = None) -> OperatingDays:
        """Days service ``service`` picks up, moves and delivers parcels on
        (``None``: the promise calendar)."""
        if service is None or service >= len(self.services):
            return self.promise_days
        return self.services[service]

    def local_clock(
        self, now: dt.datetime, timezones: Sequence[str], tz_index: NDArray[np.intp]
    ) -> tuple[DateArray, NDArray[np.float64]]:
        """Local date and seconds since local midnight for each node.

        Parameters
        ----------
        now
            An aware instant.
        timezones
            Distinct timezone names.
        tz_index
            Index into ``timezones`` per node.
        """
        require_aware(now)
        dates = np.empty(len(timezones), dtype="datetime64[D]")
        secs = np.empty(len(timezones), dtype=np.float64)
        for i, name in enumerate(timezones):
            local = now.astimezone(zone_info(name))
            dates[i] = np.datetime64(local.date(), "D")
            secs[i] = local.hour * 3600 + local.minute * 60 + local.second
        return dates[tz_index], secs[tz_index]

    def ship_dates(
        self,
        local_date: DateArray,
        local_seconds: NDArray[np.float64],
        cutoff_minutes: Any,
    ) -> DateArray:
        """Ship date per node: same day before the cutoff, else next ship day."""
        late = np.asarray(local_seconds) >= np.asarray(cutoff_minutes) * 60.0
        day = local_date + late.astype("timedelta64[D]")
        return self.ship_days.offset(day, 0)

    def delivery_dates(
        self,
        ship_date: DateArray | np.datetime64,
        transit_days: Any,
        service: int | None = None,
        *,
        ordered: Any = None,
    ) -> DateArray:
        """Delivery date: ``transit_days`` days of ``service`` after the ship date
        (counted from its first operating day on or after it); ``service=None``
        counts promise days (the promised date of an order's local date).

        ``ordered`` is the customer's local date at ordering: no delivery is
        dated before the service's first day on or after it. A node a
        calendar day behind the customer (Honolulu before its 23:00 cutoff
        at 01:00 in Chicago) ships on its own earlier date, and a 0-day
        service counted from it delivered before the order was placed."""
        days = self.service_days(service)
        deliver = days.offset(ship_date, transit_days)
        if ordered is None:
            return deliver
        return np.maximum(deliver, days.offset(ordered, 0))

    def promised_dates(self, local_date: Any, promise_days: Any) -> DateArray:
        """The date ``promise_days`` promise-calendar days after an order's
        local date: counted from the order's date itself, so an order on a
        Sunday or a holiday is promised, for one day, the next promise day
        (not the one after it, which rolling the date forward first gave:
        "next-day" that took two). ``0`` days: the first promise day on or
        after the order's date."""
        days = np.asarray(promise_days, dtype=np.int64)
        promise = self.promise_days
        closed = ~promise.is_open(local_date)
        after: DateArray = np.busday_offset(
            local_date,
            days,
            roll="backward",
            busdaycal=_busdaycalendar(
                promise, *promise._years(local_date, local_date, days)
            ),
        )
        return np.where(
            closed & (days > 0), after, self.delivery_dates(local_date, days)
        )

    def days_late(self, promised: Any, delivery: Any) -> NDArray[np.int64]:
        """Promise-calendar days from ``promised`` to ``delivery`` (0 when on time)."""
        return np.maximum(self.promise_days.count(promised, delivery), 0)

    def ship_and_deliver(
        self,
        order_time: dt.datetime,
        timezone: str,
        cutoff_minutes: int,
        transit_days: int,
        service: int | None = None,
        *,
        customer_timezone: str | None = None,
    ) -> tuple[dt.date, dt.date]:
        """Scalar convenience: (ship date, delivery date) of one order at one
        node; with ``customer_timezone``, never before the customer's date at
        ``order_time`` (:meth:`delivery_dates`)."""
        ship = self._ship_date(order_time, timezone, cutoff_minutes)
        ordered = (
            None
            if customer_timezone is None
            else np.datetime64(
                order_time.astimezone(zone_info(customer_timezone)).date(), "D"
            )
        )
        deliver = self.delivery_dates(ship, transit_days, service, ordered=ordered)
        return _to_date(ship[0]), _to_date(deliver[0])

    def ship_date(
        self, order_time: dt.datetime, timezone: str, cutoff_minutes: int
    ) -> dt.date:
        """Scalar convenience: the ship date of one order at one node.

        The rule of :meth:`local_clock` and :meth:`ship_dates` for one
        instant, in plain Python (a select checks each shipment's node with
        it: through one-element arrays it cost some 34 µs a node, about 4
        with the rolled-forward day kept, :func:`_first_ship_day`).
        """
        local = require_aware(order_time).astimezone(zone_info(timezone))
        secs = local.hour * 3600 + local.minute * 60 + local.second
        day = local.date()
        if secs >= cutoff_minutes * 60.0:
            day += dt.timedelta(days=1)
        return _first_ship_day(self, day)

    def _ship_date(
        self, order_time: dt.datetime, timezone: str, cutoff_minutes: int
    ) -> DateArray:
        dates, secs = self.local_clock(
            order_time, (timezone,), np.zeros(1, dtype=np.intp)
        )
        return self.ship_dates(dates, secs, cutoff_minutes)


def _to_date(value: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(value.astype("datetime64[D]")))


#: ``(weekmask, id(holidays), id(yearly), day)`` -> ``((holidays, yearly),
#: first ship day on or after day)``: the entry keeps the days it was made
#: with, so their ids name them as long as it lives (hashing the calendar's
#: dates on every call cost as much as the lookup saved).
_SHIP_DAYS: dict[
    tuple[str, int, int, dt.date],
    tuple[tuple[tuple[dt.date, ...], YearlyClosures | None], dt.date],
] = {}


def _first_ship_day(calendar: DeliveryCalendar, day: dt.date) -> dt.date:
    """The first ship day of ``calendar`` on or after ``day``
    (``ship_days.offset(day, 0)``)."""
    holidays, yearly = calendar.holidays, calendar.yearly
    key = (calendar.ship_weekmask, id(holidays), id(yearly), day)
    found = _SHIP_DAYS.get(key)
    if found is not None and found[0][0] is holidays and found[0][1] is yearly:
        return found[1]
    rolled = calendar.ship_days.offset(np.datetime64(day, "D"), 0)
    first = _to_date(rolled.reshape(-1)[0])
    if len(_SHIP_DAYS) >= 4096:
        _SHIP_DAYS.clear()
    _SHIP_DAYS[key] = ((holidays, yearly), first)
    return first


#: Weekmasks only (Mon–Sat shipping and delivery), no holidays;
#: ``load_network`` defaults to the carrier calendar
#: (:func:`tierflow.data.carrier_calendar.carrier_calendar`).
DEFAULT_CALENDAR = DeliveryCalendar()
