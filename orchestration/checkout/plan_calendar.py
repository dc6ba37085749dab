"""The carrier calendar a checkout's dates were planned on, as the server that
answered it had it: which days of the plans' window were open for shipping
and for each service the plans use (``plan_calendar`` of a stored option
set). A select on another replica judges the plan by both calendars, as it
judges the node's cutoff by both clocks (``plan_clocks``): a ``holidays.csv``
or ``services.csv`` edited on one replica only made a select there read
"cutoff has passed" at the instant of the offer (a holiday on the ship day),
or hold and confirm a delivery on a day that replica's carriers do not work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tierflow.data.delivery_calendar import DeliveryCalendar, OperatingDays, zone_info
from tierflow.data.rates import SERVICES
from tierflow.formulations.online_pricing import day_to_date
from tierflow.orchestration.checkout.planner import PlannedShipment

#: The key of the ship days in a view (the others are service names).
SHIP = "ship"
#: Every weekday: a view's days as a calendar (its closed days alone close).
_EVERY_DAY = "1111111"


@dataclass(frozen=True, slots=True)
class CalendarView:
    """Which days from ``start`` a calendar opens, per key (:data:`SHIP`, or
    a service's name): ``"1"`` open, ``"0"`` closed, one character a day.

    Only the window a checkout's dates depend on (from the day before the
    request's UTC date to its plans' last delivery): a few characters a key,
    whatever the calendar holds.
    """

    start: dt.date
    open: Mapping[str, str]

    @property
    def end(self) -> dt.date:
        """The window's last day."""
        days = max((len(v) for v in self.open.values()), default=1)
        return self.start + dt.timedelta(days=days - 1)

    def operating_days(self, key: str) -> OperatingDays:
        """The view of ``key`` as operating days: closed where the view says,
        open outside the window (a date there is never the one judged)."""
        closed = tuple(
            self.start + dt.timedelta(days=i)
            for i, c in enumerate(self.open[key])
            if c == "0"
        )
        return OperatingDays(_EVERY_DAY, closed)

    def is_open(self, key: str, day: dt.date) -> bool:
        """Whether ``day`` (inside the window) is open for ``key``."""
        return self.open[key][(day - self.start).days] == "1"

    def to_json(self) -> dict[str, Any]:
        """The stored form: ``{"from": "2026-01-04", "open": {"ship": …}}``."""
        return {"from": self.start.isoformat(), "open": dict(self.open)}

    @classmethod
    def from_json(cls, written: Any) -> CalendarView | None:
        """The stored view (None: none stored, or one this process cannot
        read, a later process's: not judged, as before it was stored)."""
        if not isinstance(written, Mapping):
            return None
        try:
            start = dt.date.fromisoformat(written["from"])
            days = {str(k): str(v) for k, v in written["open"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if SHIP not in days or len({len(v) for v in days.values()}) != 1:
            return None
        return cls(start, days)


#: ``(id(calendar), start, days, keys)`` -> ``(calendar, view)``: the entry
#: keeps its calendar, so the id names it as long as it lives (hashing the
#: calendar's dates on each answer would cost more than the view).
_VIEWS: dict[tuple[int, dt.date, int, tuple[int, ...]], tuple[Any, CalendarView]] = {}


def calendar_view(
    calendar: DeliveryCalendar, start: dt.date, end: dt.date, services: Iterable[int]
) -> CalendarView:
    """``calendar``'s ship days and ``services``' days from ``start`` to
    ``end`` (both included)."""
    keys = tuple(sorted(set(services)))
    days = max((end - start).days + 1, 1)
    cache_key = (id(calendar), start, days, keys)
    found = _VIEWS.get(cache_key)
    if found is not None and found[0] is calendar:
        return found[1]
    dates = np.datetime64(start, "D") + np.arange(days)
    open_ = {SHIP: _bits(calendar.ship_days, dates)}
    for s in keys:
        open_[SERVICES[s]] = _bits(calendar.service_days(s), dates)
    view = CalendarView(start, open_)
    if len(_VIEWS) >= 4096:
        _VIEWS.clear()
    _VIEWS[cache_key] = (calendar, view)
    return view


def plans_view(
    calendar: DeliveryCalendar,
    now: dt.datetime,
    shipments: Iterable[PlannedShipment],
) -> CalendarView | None:
    """The view a checkout at ``now`` with these shipments depends on: from
    the day before ``now``'s UTC date (every node's local date is on or
    after it) to the last delivery; None without shipments."""
    ships = list(shipments)
    if not ships:
        return None
    start = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    end = day_to_date(max(max(s.delivery, s.ship) for s in ships))
    return calendar_view(calendar, start, end, {s.service for s in ships})


@dataclass(frozen=True, slots=True)
class CalendarDifference:
    """The day two servers' calendars disagree on that makes a shipment
    later by this server's: ``key`` is :data:`SHIP` or a service's name."""

    day: dt.date
    key: str
    theirs_open: bool
    ours_open: bool


def calendar_difference(
    theirs: CalendarView,
    ours: DeliveryCalendar,
    at: dt.datetime,
    clock: tuple[int, str],
    ship: PlannedShipment,
) -> CalendarDifference | None:
    """Where this server's calendar (``ours``) makes ``ship`` leave or arrive
    later than planned while the answering server's (``theirs``) does not,
    at the instant ``at`` by the node's ``clock`` (cutoff minutes, timezone)
    here; None when both keep the dates, or when by ``theirs`` too the
    cutoff has passed (time moved on: not a difference of the servers).

    The shipment's transit is the answering server's: its service's open
    days from the planned ship day to the planned delivery.
    """
    service = SERVICES[ship.service]
    planned, delivery = day_to_date(ship.ship), day_to_date(ship.delivery)
    if service not in theirs.open or delivery > theirs.end:
        return None  # a view without the shipment's days: not judged
    mine = calendar_view(ours, theirs.start, theirs.end, (ship.service,))
    if all(mine.open[k] == theirs.open[k] for k in (SHIP, service)):
        return None
    cutoff, timezone = clock
    local = at.astimezone(zone_info(timezone))
    first = local.date()
    if local.hour * 3600 + local.minute * 60 + local.second >= cutoff * 60:
        first += dt.timedelta(days=1)
    if _first_open(theirs.operating_days(SHIP), first) > planned:
        return None
    transit = int(theirs.operating_days(service).count(planned, delivery))
    our_ship = ours.ship_date(at, timezone, cutoff)
    if our_ship > planned:
        return _first_differing(theirs, mine, SHIP, first, planned)
    arrives = ours.service_days(ship.service).offset(
        np.datetime64(our_ship, "D"), transit
    )
    if _date(arrives) > delivery:
        return _first_differing(theirs, mine, service, our_ship, delivery)
    return None


def _bits(days: OperatingDays, dates: Any) -> str:
    """``"1"``/``"0"`` per date: open or closed on ``days``."""
    return "".join("1" if b else "0" for b in days.is_open(dates).tolist())


def _first_open(days: OperatingDays, day: dt.date) -> dt.date:
    return _date(days.offset(np.datetime64(day, "D"), 0))


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(np.asarray(value).reshape(-1)[0]))


def _first_differing(
    theirs: CalendarView, mine: CalendarView, key: str, lo: dt.date, hi: dt.date
) -> CalendarDifference:
    """The first day of ``lo..hi`` (clipped to the window) this server closes
    and the answering one opens for ``key``; else the first they differ on."""
    lo, hi = max(lo, theirs.start), min(hi, theirs.end)
    days = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
    differ = [d for d in days if theirs.is_open(key, d) != mine.is_open(key, d)]
    if not differ:  # (the days before lo, say): the window's first difference
        differ = [
            theirs.start + dt.timedelta(days=i)
            for i, (a, b) in enumerate(
                zip(theirs.open[key], mine.open[key], strict=True)
            )
            if a != b
        ]
    later = [d for d in differ if not mine.is_open(key, d)]
    day = (later or differ or [lo])[0]
    return CalendarDifference(
        day, key, theirs.is_open(key, day), mine.is_open(key, day)
    )
