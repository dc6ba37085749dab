"""The carrier calendar of a network folder: US carrier holidays (from the
``holidays`` package), adjusted per service by an optional ``holidays.csv``,
and each service's delivery weekdays from an optional ``services.csv``.
Formats, observance rules and why: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import (
    DELIVERY_WEEKMASK,
    SHIP_WEEKMASK,
    DeliveryCalendar,
    OperatingDays,
    YearlyClosures,
)
from tierflow.data.limits import INSTANT_YEARS
from tierflow.data.rates import SERVICES
from tierflow.data.table_reader import Column, cell_error, read_table, table_path

#: The US federal holidays on which parcel carriers neither pick up nor deliver.
CARRIER_HOLIDAYS: tuple[str, ...] = (
    "New Year's Day",
    "Memorial Day",
    "Independence Day",
    "Labor Day",
    "Thanksgiving Day",
    "Christmas Day",
)
#: Years the carrier holidays are computed for (``holidays.csv`` may add any
#: date): every year an instant may fall in, and the next, which a promise
#: from the last one reaches (2000-2099 only were: a checkout in 2150 or 1999
#: was promised delivery on Christmas Day).
FIRST_YEAR, LAST_YEAR = INSTANT_YEARS[0], INSTANT_YEARS[1] + 1
#: ``holidays.csv``'s ``service`` for a row that applies to every service.
ALL_SERVICES = "*"
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SUNDAY = 6

HOLIDAY_COLUMNS = (
    Column("date", "date"),
    Column("service", choices=(ALL_SERVICES, *SERVICES)),
    Column("action", choices=("closed", "open")),
)
SERVICE_COLUMNS = (
    Column("service", choices=SERVICES),
    Column("delivery_days"),
)


def carrier_holidays(
    first: int = FIRST_YEAR, last: int = LAST_YEAR
) -> Mapping[dt.date, str]:
    """Carrier non-delivery days of years ``first..last`` with their names.

    The holiday itself is closed; one on a Sunday also closes the Monday after
    (``"... (observed)"``). One on a Saturday closes only the Saturday.
    """
    found: dict[dt.date, str] = {}
    for year in range(first, last + 1):
        found.update(_carrier_year(year))
    return MappingProxyType(found)


@cache
def _carrier_year(year: int) -> Mapping[dt.date, str]:
    """The carrier holidays of one year, observed days included: built when
    the year is first asked for (every year 1900-2201 at once took 35-90 ms
    in each process that loaded a network), with the ``holidays`` package
    imported then: a server start, which loads its network, answers its
    first requests without it (``tests/cli/test_lazy.py``)."""
    import holidays

    us = holidays.country_holidays("US", years=year, observed=False, language="en_US")
    found: dict[dt.date, str] = {}
    for day in sorted(us):
        names = [n for n in us.get_list(day) if n in CARRIER_HOLIDAYS]
        if names:
            found[day] = names[0]
    # the package computes up to its last year (2100): later years follow
    # today's rules, as the package's own projection of coming years does
    if not found:
        found = _holiday_days(year, year)
    # no carrier holiday falls on December 31st: observed days stay in the year
    return MappingProxyType(_with_observed(found))


def carrier_days(year: int) -> tuple[dt.date, ...]:
    """The carrier holidays of ``year`` (the networks' yearly closed days)."""
    return tuple(_carrier_year(year))


def _carrier_closures(opened: set[dt.date] | frozenset[dt.date]) -> YearlyClosures:
    """The carrier holidays of every instant year, less ``opened``."""
    return YearlyClosures(carrier_days, FIRST_YEAR, LAST_YEAR, frozenset(opened))


def _is_carrier_day(day: dt.date) -> bool:
    return FIRST_YEAR <= day.year <= LAST_YEAR and day in _carrier_year(day.year)


def projected_holidays(first: int, last: int) -> dict[dt.date, str]:
    """The carrier holidays of years ``first..last`` by today's rules, observed
    days included: what :func:`carrier_holidays` holds for years past the
    ``holidays`` package's last."""
    return _with_observed(_holiday_days(first, last))


def _with_observed(found: Mapping[dt.date, str]) -> dict[dt.date, str]:
    """The holidays, each on a Sunday followed by the Monday it is observed on."""
    closed: dict[dt.date, str] = {}
    for day, name in sorted(found.items()):
        closed[day] = name
        if day.weekday() == _SUNDAY:
            closed[day + dt.timedelta(days=1)] = f"{name} (observed)"
    return closed


def _holiday_days(first: int, last: int) -> dict[dt.date, str]:
    """Each carrier holiday of years ``first..last`` by today's rules (since
    1971): fixed days, the last Monday of May, the first Monday of September
    and the fourth Thursday of November."""
    days: dict[dt.date, str] = {}
    for year in range(first, last + 1):
        may_31 = dt.date(year, 5, 31)
        sep_1 = dt.date(year, 9, 1)
        nov_1 = dt.date(year, 11, 1)
        for day, name in (
            (dt.date(year, 1, 1), "New Year's Day"),
            (may_31 - dt.timedelta(days=may_31.weekday()), "Memorial Day"),
            (dt.date(year, 7, 4), "Independence Day"),
            (sep_1 + dt.timedelta(days=-sep_1.weekday() % 7), "Labor Day"),
            (
                nov_1 + dt.timedelta(days=(3 - nov_1.weekday()) % 7 + 21),
                "Thanksgiving Day",
            ),
            (dt.date(year, 12, 25), "Christmas Day"),
        ):
            days[day] = name
    return days


def parse_weekdays(text: str) -> str:
    """numpy weekmask of ``Mon-Sat`` / ``Mon;Wed;Fri`` style text.

    Raises
    ------
    ValueError
        With the message an ``InputError`` quotes.
    """
    mask = [0] * 7
    for part in (p.strip() for p in text.split(";")):
        lo, sep, hi = (s.strip().title() for s in part.partition("-"))
        if lo not in WEEKDAYS or (sep and hi not in WEEKDAYS):
            raise ValueError("not weekdays like Mon-Sat or Mon;Wed;Fri")
        a = WEEKDAYS.index(lo)
        b = WEEKDAYS.index(hi) if sep else a
        if b < a:
            raise ValueError(f"{lo}-{hi} runs backwards (Monday first)")
        mask[a : b + 1] = [1] * (b - a + 1)
    if mask[_SUNDAY]:
        raise ValueError("Sunday is never a delivery day")
    return "".join(map(str, mask))


def weekdays_label(weekmask: str) -> str:
    """``"1111110"`` -> ``"Mon-Sat"``; runs joined by ``;``."""
    runs: list[str] = []
    day = 0
    while day < 7:
        if weekmask[day] != "1":
            day += 1
            continue
        end = day
        while end + 1 < 7 and weekmask[end + 1] == "1":
            end += 1
        runs.append(WEEKDAYS[day] if end == day else f"{WEEKDAYS[day]}-{WEEKDAYS[end]}")
        day = end + 1
    return ";".join(runs)


def service_weekmasks(folder: Path | None) -> tuple[str, ...]:
    """Delivery weekmask per service: ``services.csv``, else Mon–Sat."""
    masks = [DELIVERY_WEEKMASK] * len(SERVICES)
    if folder is None or table_path(folder, "services") is None:
        return tuple(masks)
    table, path = read_table(folder, "services", SERVICE_COLUMNS, unique=[("service",)])
    raw = table.attrs["raw"]
    for pos, (service, text) in enumerate(
        zip(table["service"], table["delivery_days"], strict=True)
    ):
        try:
            masks[SERVICES.index(str(service))] = parse_weekdays(str(text))
        except ValueError as exc:
            raise cell_error(path, raw, pos, "delivery_days", str(exc)) from None
    return tuple(masks)


class Closures:
    """One service's closed days: the carrier holidays less ``opened``, and
    ``added`` (no carrier holiday among them)."""

    def __init__(self) -> None:
        self.opened: set[dt.date] = set()
        self.added: set[dt.date] = set()

    def __contains__(self, day: dt.date) -> bool:
        if day in self.added:
            return True
        return day not in self.opened and _is_carrier_day(day)

    def add(self, day: dt.date) -> None:
        if _is_carrier_day(day):
            self.opened.discard(day)
        else:
            self.added.add(day)

    def discard(self, day: dt.date) -> None:
        if _is_carrier_day(day):
            self.opened.add(day)
        self.added.discard(day)

    def operating_days(self, weekmask: str) -> OperatingDays:
        return OperatingDays(
            weekmask, tuple(sorted(self.added)), _carrier_closures(self.opened)
        )


def service_closures(folder: Path | None, weekmasks: Sequence[str]) -> list[Closures]:
    """Closed dates per service: carrier holidays, then ``holidays.csv``'s
    every-service rows, then its per-service rows (each in file order)."""
    closed = [Closures() for _ in SERVICES]
    if folder is None or table_path(folder, "holidays") is None:
        return closed
    table, path = read_table(
        folder, "holidays", HOLIDAY_COLUMNS, unique=[("date", "service")]
    )
    rows = _HolidayRows(table, path, weekmasks)
    every = (table["service"] == ALL_SERVICES).to_numpy()
    for pos in [*np.flatnonzero(every), *np.flatnonzero(~every)]:
        rows.apply(int(pos), closed)
    return closed


class _HolidayRows:
    """Applies ``holidays.csv`` rows to per-service closed sets, checking each."""

    def __init__(self, table: pd.DataFrame, path: Path, weekmasks: Sequence[str]):
        self.raw = table.attrs["raw"]
        self.path = path
        self.weekmasks = weekmasks
        self.dates = [t.date() for t in table["date"]]
        self.services = [str(s) for s in table["service"]]
        self.actions = [str(a) for a in table["action"]]

    def apply(self, pos: int, closed: list[Closures]) -> None:
        day, service = self.dates[pos], self.services[pos]
        targets = (
            range(len(SERVICES))
            if service == ALL_SERVICES
            else (SERVICES.index(service),)
        )
        if self.actions[pos] == "closed":
            for s in targets:
                closed[s].add(day)
            return
        who = "every service" if service == ALL_SERVICES else service
        if day.weekday() == _SUNDAY:
            self._reject(pos, "a Sunday: Sunday is never a delivery day")
        if not all(day in closed[s] for s in targets):
            self._reject(pos, f"not closed for {who} (open only re-opens a closed day)")
        if service != ALL_SERVICES and self.weekmasks[targets[0]][day.weekday()] != "1":
            self._reject(pos, f"not a delivery weekday of {service} (services.csv)")
        for s in targets:
            closed[s].discard(day)

    def _reject(self, pos: int, message: str) -> None:
        raise cell_error(self.path, self.raw, pos, "date", message)


def carrier_calendar(
    folder: Path | None = None, offered: Sequence[bool] | NDArray[np.bool_] = ()
) -> DeliveryCalendar:
    """The delivery calendar of a network folder (``docs/data.md``).

    Parameters
    ----------
    folder
        Network folder with the optional ``holidays`` and ``services`` tables;
        None: carrier holidays and Mon–Sat only.
    offered
        Services the rate card offers (default: all). Nodes ship, and promises
        count, on the days at least one of them operates.

    Raises
    ------
    InputError
        The first bad row of ``services.csv`` or ``holidays.csv``, located.
    """
    weekmasks = service_weekmasks(folder)
    closed = service_closures(folder, weekmasks)
    used = [s for s in range(len(SERVICES)) if len(offered) == 0 or offered[s]]
    used = used or list(range(len(SERVICES)))
    promise_mask = "".join(
        "1" if any(weekmasks[s][d] == "1" for s in used) else "0" for d in range(7)
    )
    added, opened = _no_service_works(weekmasks, closed, used, promise_mask)
    services = tuple(
        c.operating_days(mask) for mask, c in zip(weekmasks, closed, strict=True)
    )
    return DeliveryCalendar(
        ship_weekmask=SHIP_WEEKMASK,
        delivery_weekmask=promise_mask,
        holidays=tuple(sorted(added)),
        services=services,
        yearly=_carrier_closures(opened),
    )


def _no_service_works(
    weekmasks: Sequence[str],
    closed: Sequence[Closures],
    used: Sequence[int],
    promise_mask: str,
) -> tuple[set[dt.date], set[dt.date]]:
    """The days closed for every service, and the promise weekdays on which
    each service is closed or off its weekdays: no service works them. (Only
    the first were closed: with ground Mon-Fri and a Saturday closed for the
    Saturday services, that Saturday stayed a promise and ship day.)

    Returned as the days besides the carrier holidays, and the carrier
    holidays left out: only days ``holidays.csv`` names can be either."""
    named = set().union(*(closed[s].added | closed[s].opened for s in used))
    added: set[dt.date] = set()
    opened: set[dt.date] = set()
    for day in named:
        shut = [day in closed[s] for s in used]
        weekday = day.weekday()
        every = all(shut) or (
            any(shut)
            and promise_mask[weekday] == "1"
            and all(
                c or weekmasks[s][weekday] != "1"
                for c, s in zip(shut, used, strict=True)
            )
        )
        if _is_carrier_day(day) and not every:
            opened.add(day)
        elif every and not _is_carrier_day(day):
            added.add(day)
    return added, opened


def calendar_summary(
    calendar: DeliveryCalendar,
    offered: Sequence[bool] | NDArray[np.bool_],
    today: dt.date,
    days: int = 365,
    *,
    table: str = "holidays.csv",
) -> dict[str, Any]:
    """Ship days, each offered service's delivery days, and the closed days of
    the ``days`` from ``today`` (as ``tierflow network validate`` prints);
    a closed day that is no carrier holiday is named after ``table``, the
    network's holidays file (a ``holidays.parquet`` was called the CSV)."""
    names = [s for i, s in enumerate(SERVICES) if offered[i]]
    per = {s: calendar.service_days(SERVICES.index(s)) for s in names}
    end = today + dt.timedelta(days=days)
    known = carrier_holidays(today.year, end.year)
    dates = sorted({d for op in per.values() for d in op.closed_between(today, end)})
    closed = []
    for day in dates:
        shut = [s for s, op in per.items() if _closes(op, day)]
        if shut:
            name = known.get(day, table)
            closed.append({"date": day.isoformat(), "name": name, "services": shut})
    return {
        "ship_days": weekdays_label(calendar.ship_weekmask),
        "delivery_days": {s: weekdays_label(op.weekmask) for s, op in per.items()},
        "closed_days_from": today.isoformat(),
        "closed_days": closed,
    }


def _closes(days: OperatingDays, day: dt.date) -> bool:
    """Whether ``day`` is a closed day on one of the service's weekdays."""
    nxt = day + dt.timedelta(days=1)
    return days.weekmask[day.weekday()] == "1" and bool(days.closed_between(day, nxt))
