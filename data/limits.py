"""The magnitudes and time windows every reader accepts. A value outside them
is rejected as an input error before it is cast or stored; the numbers and
why they were chosen: ``docs/data.md`` ("Limits")."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierflow.data.calendar_days import no_such_day
from tierflow.data.errors import InputError

if TYPE_CHECKING:
    import numpy as np

#: Units held or handled: on-hand stock, node capacity, backlog, forecast.
MAX_UNITS = 1e9
#: Units of one SKU on one order line.
MAX_LINE_QUANTITY = 10_000
#: One parcel's rate or one unit's handling cost (currency units).
MAX_COST = 1e6
#: A rate bracket's upper weight (kg).
MAX_BRACKET_KG = 1e4
#: People in one destination prefix; a SKU's popularity weight.
MAX_POPULATION = 1e9
#: A complexity weight or threshold (``complexity.csv``).
MAX_COMPLEXITY = 1e4
#: Money in one transaction row (either sign).
MAX_AMOUNT = 1e9
#: Units in one transaction row (either sign).
MAX_TX_QUANTITY = 1e6
#: Sessions, product views or cart adds of one customer in one day.
MAX_DAILY_COUNT = 1e6
#: A lane's carrier delay factor (capacity event ``congestion``).
MAX_CONGESTION = 100.0
#: A cost, resource use or capacity in an OR-Library GAP file (either sign).
MAX_GAP_VALUE = 1e9
#: Any finite entry of a problem read from ``.npz`` (either sign).
MAX_PROBLEM_VALUE = 1e12
#: Entries of one array of a problem read from ``.npz`` (400 MB of float64).
MAX_PROBLEM_ENTRIES = 50_000_000
#: A CLTV forecast horizon in days (``--horizon-days``; a stored model's).
MAX_HORIZON_DAYS = 3650
#: Any number in a table column that declares no bound of its own (either sign).
MAX_MAGNITUDE = 1e12
#: Integers beyond this are not exact in float64 (2**53).
MAX_EXACT_INT = 2**53
#: The longest time limit of one solve (a batch, the hindsight day), seconds.
MAX_TIME_LIMIT_S = 1e6
#: The largest random seed: what every consumer takes (CP-SAT's and HiGHS's
#: seeds are int32).
MAX_SEED = 2**31 - 1
#: Characters of an id (event id, order id, customer id in a log).
MAX_ID_LENGTH = 200
#: Characters of any text cell of a network table or orders file.
MAX_TEXT_LENGTH = 1000
#: Bytes of one line of a followed capacity feed (``capacity ingest
#: --follow``), its line end (LF or CRLF) not counted: the HTTP API's
#: default body limit, so an event the API takes in one request fits. A longer line is a bad
#: line (only its length is kept while it arrives).
MAX_EVENT_LINE_BYTES = 64 * 1024
#: An invisible formatting character (Unicode's format class: a zero-width
#: space, joiner or no-break, a soft hyphen, a direction mark, a byte-order
#: mark inside text), as text pasted from a web page or a document carries:
#: ``WH-EWR`` with one after it looks like ``WH-EWR`` and is another id (an
#: inventory row of it was "unknown node_id" beside a nodes.csv that
#: visibly had it), and the checkout refuses it in a customer id.
INVISIBLE_CHARACTER = (
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
#: A control character (C0, DEL, C1): an id holding one breaks what it is
#: written to (PostgreSQL refuses NUL in text; a tab or line break splits a
#: log line or a one-line error); or an invisible one
#: (:data:`INVISIBLE_CHARACTER`).
CONTROL_CHARACTER = rf"[\x00-\x1f\x7f-\x9f]|{INVISIBLE_CHARACTER}"


def control_character_error(text: str) -> str:
    """The error of an id ``text`` holding a control or an invisible
    character, naming the first (:data:`CONTROL_CHARACTER`)."""
    char = next(c for c in text if re.fullmatch(CONTROL_CHARACTER, c))
    if re.fullmatch(INVISIBLE_CHARACTER, char):
        return (
            f"an invisible character ({char!r}, {unicodedata.name(char, 'format')}"
            ", as text pasted from a web page or a document holds): it makes "
            "another id of one that looks the same; delete it"
        )
    return (
        f"a control character ({char!r}): an id is stored, logged and written "
        "to CSV files as it is"
    )


#: Calendar years an instant may fall in (a checkout's ``now``, ``$TIERFLOW_NOW``,
#: a simulated day): wide enough for any replay or plan, narrow enough that the
#: dates computed from it (a year of delivery calendar, ns timestamps) exist.
INSTANT_YEARS = (1900, 2200)

#: A time of day, hours 0-23 with one digit or two (a spreadsheet writes
#: ``7:00`` for ``07:00``) and two of minutes: a cutoff, ``--outage``,
#: ``--spike`` (groups: hours, minutes).
TIME_OF_DAY = r"([01]?\d|2[0-3]):([0-5]\d)"

#: Environment variable holding the instant windows are measured from.
NOW_VARIABLE = "TIERFLOW_NOW"


def now() -> dt.datetime:
    """The instant time windows are measured from: ``$TIERFLOW_NOW`` (an ISO
    8601 instant, for replaying old data and for tests) or the clock."""
    text = os.environ.get(NOW_VARIABLE, "").strip()
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or not within_instant_years(when):
        first, last = INSTANT_YEARS
        # 2026-02-29T10:00Z: why (it read "not an ISO 8601 instant", as
        # the flags' instants did)
        message = no_such_day(text, basic=True) or (
            f"not an ISO 8601 instant with offset in {first}-{last}"
        )
        raise InputError(message, field=NOW_VARIABLE, value=text)
    return when.astimezone(dt.UTC)


def parse_instant(
    text: str, field: str, *, window: TimeWindow | None = None
) -> dt.datetime:
    """``text`` as an ISO 8601 instant with an offset (``Z`` allowed), within
    ``window`` (default: :data:`INSTANT_YEARS`), else an ``InputError`` naming
    ``field`` and the text as given: a flag's instant (``--now``, ``--at``)
    is read once, here."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        message = no_such_day(text, basic=True) or "not an ISO 8601 instant"
        raise InputError(message, field=field, value=text) from None
    if when.tzinfo is None:
        message = "no timezone offset (naive time; add Z or +HH:MM)"
        raise InputError(message, field=field, value=text)
    if window is not None:
        if not window.contains(when.timestamp()):
            raise InputError(window.describe(), field=field, value=text)
    elif not within_instant_years(when):
        first, last = INSTANT_YEARS
        raise InputError(f"outside the years {first}-{last}", field=field, value=text)
    return when


def within_instant_years(when: dt.date) -> bool:
    """Whether ``when`` falls in :data:`INSTANT_YEARS`."""
    first, last = INSTANT_YEARS
    return first <= when.year <= last


def require_number(
    value: object,
    field: str,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_open: bool = False,
) -> float:
    """``value`` as a number in ``[low, high]`` (``(low, high]`` with
    ``low_open``), else an ``InputError`` naming ``field``: for the settings
    of the library's own classes, which no reader has checked (NaN passes
    every comparison, a string or a bool is not a number)."""
    import numpy as np  # here: the limits are read by every --help, numpy is 45 ms

    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    if ok and integer:
        ok = isinstance(value, int | np.integer)
    try:
        number = float(value) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float's range
        number = math.nan
    above = number > low if low_open else number >= low
    if not (ok and above and number <= high):
        kind = "an integer" if integer else "a number"
        opening = "(" if low_open else "["
        span = f"{opening}{_bound(low)}, {_bound(high)}]"
        raise InputError(f"must be {kind} in {span}", field=field, value=value)
    return number


def require_array(
    values: object,
    field: str,
    shape: tuple[int, ...],
    low: float,
    high: float,
    *,
    integer: bool = False,
) -> np.ndarray:
    """``values`` as a float array of ``shape`` whose entries are finite
    numbers in ``[low, high]`` (whole with ``integer``), else an
    ``InputError`` naming ``field`` and the first bad entry: for arrays a
    caller hands the library (a node's capacity, a SKU's stock)."""
    import numpy as np

    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InputError("not an array of numbers", field=field) from None
    if arr.shape != shape:
        raise InputError(f"shape {arr.shape}, expected {shape}", field=field)
    bad = ~(np.isfinite(arr) & (arr >= low) & (arr <= high))
    if integer:
        bad |= np.isfinite(arr) & (arr != np.round(arr))
    if bad.any():
        at = np.unravel_index(int(np.flatnonzero(bad)[0]), shape)
        index = int(at[0]) if len(at) == 1 else tuple(int(i) for i in at)
        kind = "an integer" if integer else "a number"
        raise InputError(
            f"must be {kind} in [{_bound(low)}, {_bound(high)}]",
            field=field,
            index=index,
            value=float(arr[at]),
        )
    return arr


def _bound(x: float) -> str:
    """``2,592,000`` for a whole bound, ``0.5`` or ``1e+300`` otherwise."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Instants from ``past`` before now to ``future`` after now, inclusive;
    each is whole calendar years or days, and the window runs from the start
    of its first UTC day to the end of its last, so that the dates its
    message prints are exactly what it takes (an instant on its first day
    but before the clock's time of day was refused, while the generator
    that checks days made it)."""

    past_years: int = 0
    past_days: int = 0
    future_years: int = 0
    future_days: int = 0

    def bounds(self, at: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        """The first and last allowed instant (UTC) around ``at`` (default :func:`now`)."""
        centre = now() if at is None else at.astimezone(dt.UTC)
        lo = _years_later(centre, -self.past_years) - dt.timedelta(days=self.past_days)
        hi = _years_later(centre, self.future_years) + dt.timedelta(
            days=self.future_days
        )
        first = lo.replace(hour=0, minute=0, second=0, microsecond=0)
        last = hi.replace(hour=23, minute=59, second=59, microsecond=999_999)
        return first, last

    def describe(self, at: dt.datetime | None = None) -> str:
        """``outside the allowed window 2021-06-01 .. 2026-06-08 (...)``."""
        lo, hi = self.bounds(at)
        past = _span(self.past_years, self.past_days)
        future = _span(self.future_years, self.future_days)
        return (
            f"outside the allowed window {lo:%Y-%m-%d} .. {hi:%Y-%m-%d} "
            f"({past} before to {future} after now)"
        )

    def contains(self, ts: float) -> bool:
        """Whether the instant ``ts`` (seconds since the epoch) lies inside."""
        lo, hi = self.bounds()
        return lo.timestamp() <= ts <= hi.timestamp()

    def require_days(
        self, first: dt.date, last: dt.date, field: str, value: object = None
    ) -> None:
        """Raise ``InputError`` on ``field`` (showing ``value``, default the
        days) unless the days ``first`` .. ``last`` lie inside the window: for
        what will generate data dated so."""
        lo, hi = self.bounds()
        if first < lo.date() or last > hi.date():
            days = first.isoformat() if first == last else f"{first} .. {last}"
            shown = days if value is None else value
            raise InputError(self.describe(), field=field, value=shown)


def _years_later(when: dt.datetime, years: int) -> dt.datetime:
    """``when`` moved by whole calendar years (29 February becomes the 28th)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


def _span(years: int, days: int) -> str:
    parts = [
        f"{n} {unit}{'s' * (n != 1)}"
        for n, unit in ((years, "year"), (days, "day"))
        if n
    ]
    return " ".join(parts) or "0 days"


#: Capacity events: live feeds, replays of old logs and simulated days (past
#: or coming) all sit within 10 years back and 1 year ahead; beyond is a typo
#: or a broken clock (2099, 1970).
EVENT_WINDOW = TimeWindow(past_years=10, future_years=1)
#: How far ahead of the receiving clock a *live* event (the HTTP API, ``capacity
#: ingest``, a followed feed) may be dated: clocks drift by seconds. A live
#: event says what has happened; one dated ahead would stand over every
#: correction of its kind until its date (the map keeps a kind's newest
#: value), so it is refused. A day's planned events go to ``allocate
#: --events``, which applies them at their times.
LIVE_EVENT_LEAD = dt.timedelta(minutes=5)
#: Dates in orders, transaction logs, browsing and profiles: 50 years of history
#: (CDNOW is from 1997), up to 2 years ahead (planned or generated days).
DATA_WINDOW = TimeWindow(past_years=50, future_years=2)
#: Any other date column (a new table's): a century either side of now.
ANY_DATE_WINDOW = TimeWindow(past_years=100, future_years=100)
