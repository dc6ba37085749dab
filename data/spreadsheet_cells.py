"""What a spreadsheet made of a number or a date that a reader refuses, said
with what to write instead: ``1,234``, ``12,5``, ``1.234,56``, ``1'234``,
``$12.50``, ``12.5%``, ``12/06/2026``, an Excel serial day ``46173``. Nothing is
guessed into a value (a comma may be a thousands separator or a decimal
comma, ``12/06`` is June or December); the reader still refuses the cell,
and its message says how to write it. Plain Python, as
:mod:`tierflow.data.calendar_days`, so the limits load no pandas."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

#: ``1,234`` or ``12,345,678``: a comma between groups of three digits.
_COMMA_GROUPS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")
#: ``1,234.5``: comma groups before a decimal point (only one reading).
_COMMA_GROUPS_POINT = re.compile(r"([+-]?\d{1,3}(?:,\d{3})+)(\.\d+)")
#: ``12,5``: a decimal comma.
_DECIMAL_COMMA = re.compile(r"([+-]?\d+),(\d+)")
#: ``1 234`` ``1'234`` (a space, a no-break or thin space, an apostrophe),
#: with an optional decimal part after a point or a comma.
_SPACE_GROUPS = re.compile(
    r"([+-]?\d{1,3}(?:[ \u00a0\u202f\u2009'\u2019]\d{3})+)([.,]\d+)?"
)
#: The apostrophes among the group marks of :data:`_SPACE_GROUPS` (Swiss).
_APOSTROPHES = "'\u2019"
#: ``1.234,56`` or ``1.234.567``: '.' between groups of three digits, with an
#: optional decimal comma (``1.234`` alone is a number, read as such).
_POINT_GROUPS = re.compile(r"([+-]?\d{1,3}(?:\.\d{3})+)(,\d+)?")
#: A currency sign or code before the number (after its sign) or after it.
_CURRENCY_BEFORE = re.compile(
    r"([+-]?)\s*(?:[$€£¥]|(?:USD|EUR|GBP)\b)\s*(.*)", re.IGNORECASE
)
_CURRENCY_AFTER = re.compile(r"(.*?)\s*(?:[$€£¥]|\b(?:USD|EUR|GBP))", re.IGNORECASE)
#: A number as the readers take it (what a currency sign may leave).
_PLAIN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
#: A negative written as accountants and some exports do: ``(5.00)``, a
#: trailing minus ``5.00-``, or Unicode's minus sign ``\u22125.00``.
_NEGATIVES = (
    (re.compile(r"\(\s*(\d+\.?\d*|\.\d+)\s*\)"), "in parentheses"),
    (re.compile(r"(\d+\.?\d*|\.\d+)-"), "with a trailing minus"),
    (
        re.compile(r"[\u2212\u2013\u2012\ufe63\uff0d](\d+\.?\d*|\.\d+)"),
        "with the minus sign {}",
    ),
)

#: ``12.5%``: a fraction a spreadsheet shows (and exports) as a percentage.
_PERCENT = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))\s*%")

#: Excel's day 0 in its 1900 date system (serial 1 is 1900-01-01; the
#: system counts a 29 February 1900 that never was, so from serial 61 on,
#: day n is this date plus n days).
_EXCEL_EPOCH = dt.date(1899, 12, 30)
#: A serial day number (optionally with its fraction of a day, a time).
_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?")
#: ``12/06/2026``, ``12.06.2026``, ``6-12-2026``; a time may follow.
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:[ T].*)?")
#: ``2026/12/06`` or ``2026.12.06``: ISO's order with other separators.
_YEAR_FIRST = re.compile(r"(\d{4})([/.])(\d{1,2})\2(\d{1,2})(?:[ T].*)?")

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def number_problem(text: str) -> str:
    """Why ``text`` is not a number, with what to write instead when a
    spreadsheet's way of writing numbers is recognised: "not a number" alone
    when it is not."""
    cell = text.strip()
    written = _negative_problem(cell) or _currency_problem(cell)
    if written:
        return written
    percent = _PERCENT.fullmatch(cell)
    if percent:
        # Excel holds 12.5% as 0.125 and exports what it shows
        fraction = format(Decimal(percent.group(1)).scaleb(-2).normalize(), "f")
        return f"not a number (a percentage: write {fraction} for {cell}, with no '%')"
    points = _COMMA_GROUPS_POINT.fullmatch(cell)
    if points:
        plain = points.group(1).replace(",", "") + points.group(2)
        return (
            f"not a number (digits grouped with ',': write {plain}, with no separators)"
        )
    if _COMMA_GROUPS.fullmatch(cell):
        whole = cell.replace(",", "")
        decimal = cell.replace(",", ".", 1) if cell.count(",") == 1 else None
        if decimal is None:
            return f"not a number (digits grouped with ',': write {whole}, with no separators)"
        return (
            f"not a number (',' separates thousands or decimals: write {whole} "
            f"or {decimal}; the decimal point is '.', with no separators)"
        )
    grouped = _SPACE_GROUPS.fullmatch(cell) or _POINT_GROUPS.fullmatch(cell)
    if grouped:
        groups, tail = grouped.group(1), grouped.group(2) or ""
        plain = ("-" if groups.startswith("-") else "") + re.sub(r"\D", "", groups)
        if grouped.re is _POINT_GROUPS:
            marks = "'.'"
        elif any(c in groups for c in _APOSTROPHES):
            marks = "apostrophes"
        else:
            marks = "spaces"
        decimal = " and a decimal comma" if tail.startswith(",") else ""
        return (
            f"not a number (digits grouped with {marks}{decimal}: write "
            f"{plain}{tail.replace(',', '.')}, with no separators)"
        )
    comma = _DECIMAL_COMMA.fullmatch(cell)
    if comma:
        point = f"{comma.group(1)}.{comma.group(2)}"
        return (
            f"not a number (a decimal comma? write {point}: the decimal point is '.')"
        )
    return "not a number"


def _currency_problem(cell: str) -> str:
    """ "not a number" with how to write a number with a currency sign or
    code, or ""."""
    before, after = _CURRENCY_BEFORE.fullmatch(cell), _CURRENCY_AFTER.fullmatch(cell)
    if not (before or after):
        return ""
    bare = "".join(before.groups()) if before else after.group(1) if after else ""
    if _PLAIN.fullmatch(bare):
        return f"not a number (a currency sign: write {bare}, the number alone)"
    return "not a number (a currency sign: write the number alone, digits and '.')"


def _negative_problem(cell: str) -> str:
    """ "not a number" with how to write a negative that :data:`_NEGATIVES`
    recognises, or "": an accounting export's ``(5.00)``, a trailing minus
    or Unicode's minus sign read a bare "not a number"."""
    for form, how in _NEGATIVES:
        negative = form.fullmatch(cell)
        if negative:
            how = how.format(f"U+{ord(cell[0]):04X}")
            return (
                f"not a number (a negative {how}? write -{negative.group(1)}, "
                "with '-' before it)"
            )
    return ""


def date_problem(text: str, *, form: str = "YYYY-MM-DD") -> str | None:
    """What a spreadsheet wrote instead of an ISO date, and how to write it:
    an Excel serial day number (``46173`` is 2026-05-31), a day and month
    in either order (``12/06/2026``), ISO's order with slashes; None for
    anything else. ``form``: what the column takes, said after the day."""
    cell = text.strip()
    serial = _SERIAL.fullmatch(cell)
    if serial:
        day = _EXCEL_EPOCH + dt.timedelta(days=int(serial.group(1)))
        return (
            f"an Excel serial day number? ({serial.group(1)} is {day.isoformat()} "
            "in Excel's date system): format the column as a date and write "
            f"{day.isoformat()} ({form})"
        )
    year_first = _YEAR_FIRST.fullmatch(cell)
    if year_first:
        y, _, m, d = year_first.groups()
        iso = _iso(int(y), int(m), int(d))
        return f"not ISO 8601: write {iso} ({form}, with '-')" if iso else None
    found = _DAY_MONTH_YEAR.fullmatch(cell)
    if found is None:
        return None
    first, mark, second, year_text = found.groups()
    a, b, year = int(first), int(second), int(year_text)
    as_dmy, as_mdy = _iso(year, b, a), _iso(year, a, b)
    if as_dmy and as_mdy and as_dmy != as_mdy:
        return (
            f"day and month in either order ({first}{mark}{second}{mark}{year_text} "
            f"is {_spoken(as_dmy)} or {_spoken(as_mdy)}): write {as_dmy} or "
            f"{as_mdy} ({form})"
        )
    iso = as_dmy or as_mdy
    return f"not ISO 8601: write {iso} ({form})" if iso else None


#: ``7:00 PM``, ``7 pm``, ``07:00:00 a.m.``: a 12-hour clock time.
_TWELVE_HOUR = re.compile(
    r"(\d{1,2})(?::(\d{2}))?(?::00)?\s*([ap])\.?\s*m\.?", re.IGNORECASE
)
#: ``0.791666667``: Excel's time of day, a fraction of a day.
_DAY_FRACTION = re.compile(r"0?\.\d+")


def time_problem(text: str) -> str | None:
    """What a spreadsheet wrote instead of a 24-hour ``HH:MM`` time of day,
    and how to write it: a 12-hour time (``7:00 PM``, what Excel shows of a
    time cell in the US), or Excel's fraction of a day (``0.7916667``, a time
    cell exported as its number); None for anything else."""
    cell = text.strip()
    twelve = _TWELVE_HOUR.fullmatch(cell)
    if twelve:
        hour, minute = int(twelve.group(1)), int(twelve.group(2) or 0)
        if not (1 <= hour <= 12 and minute < 60):
            return None
        hour = hour % 12 + (12 if twelve.group(3).lower() == "p" else 0)
        return f"a 12-hour time: write {hour:02d}:{minute:02d} (24-hour HH:MM)"
    if _DAY_FRACTION.fullmatch(cell):
        minutes = round(float(cell) * 24 * 60)
        if minutes >= 24 * 60:
            return None
        when = f"{minutes // 60:02d}:{minutes % 60:02d}"
        return (
            f"an Excel time as a fraction of a day? ({cell} is {when}): format "
            f"the column as text and write {when} (24-hour HH:MM)"
        )
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    """``YYYY-MM-DD`` of a real day, or None."""
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _spoken(iso: str) -> str:
    """``2026-06-12`` as ``12 June``."""
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {_MONTHS[day.month - 1]}"
