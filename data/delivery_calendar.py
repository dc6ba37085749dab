"""Ship and delivery dates from order time, node cutoff, timezone and service
(Monday–Saturday shipping and delivery, holidays like Sundays), vectorized
with ``numpy.busday_offset``. The calendar's rules: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError

#: numpy weekmask, Monday first: nodes ship Monday–Saturday.
SHIP_WEEKMASK = "1111110"
#: Carriers deliver Monday–Saturday.
DELIVERY_WEEKMASK = "1111110"

DateArray = NDArray[np.datetime64]


@lru_cache(maxsize=512)
def zone_info(name: str) -> ZoneInfo:
    """Cached :class:`zoneinfo.ZoneInfo` (raises ``InputError`` when unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("not an IANA timezone", field="timezone", value=name) from None


def is_timezone(name: str) -> bool:
    """Whether ``name`` is a timezone :mod:`zoneinfo` knows."""
    try:
        zone_info(name)
    except InputError:
        return False
    return True


def require_aware(when: dt.datetime, what: str = "now") -> dt.datetime:
    """``when`` itself if it carries a timezone; naive times are ambiguous."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise InputError(
            "no timezone offset (naive datetime)", field=what, value=str(when)
        )
    return when


@dataclass(frozen=True, slots=True)
class DeliveryCalendar:
    """Ship and delivery weekmasks plus holidays (see ``docs/data.md``).

    Parameters
    ----------
    ship_weekmask, delivery_weekmask
        numpy weekmasks, Monday first.
    holidays
        Dates on which nothing ships or is delivered.
    """

    ship_weekmask: str = SHIP_WEEKMASK
    delivery_weekmask: str = DELIVERY_WEEKMASK
    holidays: tuple[dt.date, ...] = field(default=())

    def _holidays(self) -> NDArray[np.datetime64]:
        return np.array(self.holidays, dtype="datetime64[D]")

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
        out: DateArray = np.busday_offset(
            day,
            0,
            roll="forward",
            weekmask=self.ship_weekmask,
            holidays=self._holidays(),
        )
        return out

    def delivery_dates(self, ship_date: DateArray, transit_days: Any) -> DateArray:
        """Delivery date: ``transit_days`` carrier days after the ship date."""
        return np.busday_offset(
            ship_date,
            np.asarray(transit_days, dtype=np.int64),
            roll="forward",
            weekmask=self.delivery_weekmask,
            holidays=self._holidays(),
        )

    def ship_and_deliver(
        self,
        order_time: dt.datetime,
        timezone: str,
        cutoff_minutes: int,
        transit_days: int,
    ) -> tuple[dt.date, dt.date]:
        """Scalar convenience: (ship date, delivery date) of one order at one node."""
        dates, secs = self.local_clock(
            order_time, (timezone,), np.zeros(1, dtype=np.intp)
        )
        ship = self.ship_dates(dates, secs, cutoff_minutes)
        deliver = self.delivery_dates(ship, transit_days)
        return _to_date(ship[0]), _to_date(deliver[0])


def _to_date(value: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(value.astype("datetime64[D]")))


#: The default calendar (Mon–Sat shipping and delivery, no holidays).
DEFAULT_CALENDAR = DeliveryCalendar()
