"""Why a date as written names no day of the calendar (``2026-02-29``): what
every date reader says instead of a bare "not a date". Plain Python, so the
limits every reader imports load no pandas (``tierflow --help`` stays fast)."""

from __future__ import annotations

import calendar
import re

#: A date at the start of a text: ISO ``YYYY-MM-DD`` (a time may follow), or
#: CDNOW's ``YYYYMMDD`` alone.
_ISO_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]|$)")
_COMPACT_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})$")
#: ISO 8601's basic form of an instant's day (``20260105T1500Z``), which
#: Python's and pandas' instant readers take as they take the extended one.
_BASIC_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T|$)")


def no_such_day(text: str, *, compact: bool = False, basic: bool = False) -> str | None:
    """Why ``text``, written as a date, names no day of the calendar, e.g.
    ``2026-02-29``: "no such day: 2026 is not a leap year"; None when it is
    not written as a date or names a real day. ``compact``: ``YYYYMMDD``.
    ``basic``: an instant, whose day may also be in ISO 8601's basic form
    (``20260229T10:00Z``, which read "not an ISO 8601 instant" where
    ``20260228T10:00Z`` is taken).

    Every date reader says this instead of a bare "not a date", which left
    the writer of ``2026-02-29`` or ``2026-04-31`` looking for a typo."""
    match = (_COMPACT_DAY if compact else _ISO_DAY).match(text.strip())
    if match is None and basic:
        match = _BASIC_DAY.match(text.strip())
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    if year < 1:  # no year 0: the text is wrong, not its day
        return None
    if not 1 <= month <= 12:
        return f"no such day: month {month} out of range (1-12)"
    last = calendar.monthrange(year, month)[1]
    if month == 2 and day == 29 and last == 28:
        return f"no such day: {year} is not a leap year"
    if not 1 <= day <= last:
        return f"no such day: day {day} out of range for month {month} (1-{last})"
    return None
