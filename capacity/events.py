"""Capacity events: the JSON-lines contract (``event_id, ts, node_id, type,
value[, service]``) and its validated parser. Types, values, limits, the time
window and the staleness rules: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, get_args

from tierflow.data.calendar_days import no_such_day
from tierflow.data.errors import InputError
from tierflow.data.json_objects import RepeatedKey, loads_unique
from tierflow.data.limits import (
    EVENT_WINDOW,
    LIVE_EVENT_LEAD,
    MAX_CONGESTION,
    MAX_ID_LENGTH,
    MAX_UNITS,
    TimeWindow,
)
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.spreadsheet_cells import date_problem
from tierflow.data.store import ORDER_WORK
from tierflow.data.text_files import BOM_TEXT, decode_utf8

#: The event types of the JSON-lines contract (the HTTP schema uses the same).
EventType = Literal[
    "nominal_capacity",
    "staffing",
    "backlog",
    "backlog_delta",
    "congestion",
    "outage",
    "forecast",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
#: The keys of an event record (the HTTP schema forbids any other as well):
#: another key is an error, as a typo ("servce") would otherwise apply the
#: event without the change it meant.
EVENT_KEYS: tuple[str, ...] = ("event_id", "ts", "node_id", "type", "value", "service")
#: Longest key an unknown-key message quotes in full.
_MAX_KEY_SHOWN = 64
#: The range of each numeric event type's value (the HTTP schema says the same).
EVENT_BOUNDS: dict[str, tuple[float, float]] = {
    "nominal_capacity": (0.0, MAX_UNITS),
    "staffing": (0.0, 300.0),
    "backlog": (0.0, MAX_UNITS),
    "backlog_delta": (-MAX_UNITS, MAX_UNITS),
    "congestion": (1.0, MAX_CONGESTION),
    "forecast": (0.0, MAX_UNITS),
}
#: A ``staffing`` value strictly between these is refused where an event
#: enters (not on replay of a log): it is a percent, and a fraction written
#: for a share of the staff (0.5 for half) all but closed the node (0.5 %).
STAFFING_FRACTION: tuple[float, float] = (0.0, 1.0)
#: An event ``ts``'s time of day, after its date: ``T`` (or a space),
#: ``HH:MM``, optional seconds and fraction, then ``Z`` or an offset
#: (``±HH:MM``, ``±HHMM``, ``±HH``): ISO 8601's extended calendar form. The
#: served HTTP document writes the same pattern after its window's dates, so
#: what it allows is what the parser takes (ISO week dates and the basic
#: form, which Python's reader also takes, passed the parser and not it).
EVENT_TIME_OF_DAY = (
    r"[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.,][0-9]{1,9})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)"
)
#: A whole event ``ts`` (any date: the event window bounds it after).
EVENT_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}" + EVENT_TIME_OF_DAY)


def _kept_by_strip() -> str:
    """A regular expression of one character ``str.strip()`` keeps (no
    anchors: an unanchored JSON Schema ``pattern`` of a string that is not
    blank), in ``\\uXXXX`` escapes, which Python and ECMA-262 read alike."""
    spaces = [c for c in range(0x10000) if chr(c).isspace()]
    runs: list[tuple[int, int]] = []
    for c in spaces:
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    parts = (f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)
    return f"[^{''.join(parts)}]"


#: One character an id keeps once the spaces around it are removed
#: (``str.strip()``): an event id must have one (the document's pattern).
NOT_BLANK = _kept_by_strip()
#: A character of an event id no store can hold: NUL (PostgreSQL's text
#: has none) and a lone surrogate (JSON's ``\ud800`` escape; not UTF-8). The
#: store's insert failed with a traceback (HTTP 500) and ended a followed
#: feed; the served document's pattern leaves NUL out too.
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
#: The served document's pattern of a text event id: one character that
#: stays after ``str.strip()`` (:data:`NOT_BLANK`), no NUL (a lone
#: surrogate is no Unicode text a JSON Schema validator produces), and not
#: :data:`ORDER_WORK`'s prefix once the spaces before it are removed (a
#: live event may not take a checkout's work id: :func:`_reserved`; the
#: document let it through as valid, the server refused it).
EVENT_ID_TEXT = (
    f"^(?![{NOT_BLANK[2:-1]}]*{re.escape(ORDER_WORK)})"
    f"[^\\u0000]*[^\\u0000{NOT_BLANK[2:-1]}][^\\u0000]*$"
)
#: Integer event ids are below this in size: the integers every JSON reader
#: keeps exactly (RFC 7493, I-JSON); a bigger one may reach a replica or a
#: feed's own tools as another id.
MAX_INT_EVENT_ID = 2**53


class EventIdConflict(InputError):
    """An event id already used (in the batch, or applied or logged before)
    with other content: the id is an idempotency key, so the event is refused
    (HTTP: 409, a clash with what the server holds, not a malformed event)."""


@dataclass(frozen=True, slots=True)
class CapacityEvent:
    """One validated event; ``node`` and ``service`` are network indices.

    ``value`` is a float (``outage``: 1.0 closed, 0.0 open); ``service`` is
    -1 except for ``congestion``; ``ts`` is seconds since the epoch. ``row``
    is where it was read (a file line, a position in a batch), for messages
    only: two events are equal when their content is.
    """

    event_id: str
    ts: float
    node: int
    type: str
    value: float
    service: int = -1
    row: int | None = field(default=None, compare=False, repr=False)

    def record(self, network: Network) -> dict[str, Any]:
        """The event as a JSON-able dict (the JSON-lines format)."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "ts": dt.datetime.fromtimestamp(self.ts, dt.UTC).isoformat(),
            "node_id": network.node_ids[self.node],
            "type": self.type,
            "value": bool(self.value) if self.type == "outage" else self.value,
        }
        if self.service >= 0:
            out["service"] = SERVICES[self.service]
        return out


def logged_instant(text: str) -> float | None:
    """A logged event's ``ts`` in epoch seconds as :func:`parse_event` reads
    it (None: not an instant it takes)."""
    return _timestamp(_stripped(text))


def logged_event_id(text: str) -> str | None:
    """A logged event's string ``event_id`` as :func:`parse_event` reads it
    (None: not an id it takes)."""
    try:
        return _event_id(text, InputError)
    except InputError:
        return None


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str) or len(text) > 64 or not EVENT_TS.fullmatch(text):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is None:
            return None
        return when.timestamp()
    except (ValueError, OverflowError):
        return None


def change_id_text(raw: Any) -> str:
    """A stock change's ``change_id`` (an idempotency key, as an event id
    is) checked by an event id's rules, text only: not blank (the spaces
    around it removed), at most ``MAX_ID_LENGTH`` characters, none a store
    cannot hold.

    Raises
    ------
    InputError
        ``field`` ``change_id``: why it is refused.
    """
    if not isinstance(raw, str):
        raise InputError("must be a string", field="change_id", value=raw)
    return _event_id(raw, InputError, field="change_id")


def _event_id(
    raw: Any, fail: Callable[..., InputError], *, field: str = "event_id"
) -> str:
    """The id as text: a non-empty string (the spaces around it removed, as
    every id's) or an integer, not absurdly long (a string counted with its
    spaces, as the served document's ``maxLength`` counts it)."""
    if isinstance(raw, str) and len(raw) > MAX_ID_LENGTH:
        message = f"longer than {MAX_ID_LENGTH} characters"
        raise fail(message, field=field, value=raw)
    raw = _stripped(raw)
    if raw is None or raw == "":
        noun = field.replace("_", " ")
        raise fail(f"missing or empty {noun}", field=field, value=raw)
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < MAX_INT_EVENT_ID:
        raw = int(raw)  # 42.0 is the integer 42, as JSON Schema reads it
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise fail("must be a string or an integer", field=field, value=raw)
    if isinstance(raw, int) and abs(raw) >= MAX_INT_EVENT_ID:
        message = f"integer ids must be below {MAX_INT_EVENT_ID} in size"
        raise fail(message, field=field, value=raw)
    if isinstance(raw, str) and (bad := UNSTORABLE.search(raw)) is not None:
        raise fail(_unstorable(bad.group()), field=field, value=raw)
    return str(raw)  # at most MAX_ID_LENGTH: a string checked above, an int < 2**53


def _reserved() -> str:
    """Why a live event may not have an id of :data:`ORDER_WORK`'s prefix:
    it was taken for an order's work (no sign of the feed's life), and
    logged first it made that checkout's confirm a duplicate (its work
    never counted)."""
    return (
        f"ids beginning {ORDER_WORK!r} are a confirmed checkout's own work "
        f"({ORDER_WORK}<request_id>:<node_id>), which the server logs itself; "
        "give the event an id of another prefix"
    )


def _unstorable(char: str) -> str:
    """Why an id with ``char`` (one of :data:`UNSTORABLE`) is refused."""
    what = "NUL" if char == "\x00" else "a lone surrogate"
    return f"has a character no store can hold (U+{ord(char):04X}, {what})"


def _event_ts(
    raw: Any,
    window: TimeWindow | None,
    received: dt.datetime | None,
    fail: Callable[..., InputError],
) -> float:
    """Seconds since the epoch of an ISO 8601 instant, inside ``window`` and
    (a live event) at most :data:`LIVE_EVENT_LEAD` after ``received``."""
    raw = _stripped(raw)
    ts = _timestamp(raw)
    if ts is None:
        form = "YYYY-MM-DDTHH:MM[:SS[.f]] and Z, ±HH:MM, ±HHMM or ±HH"
        message = (
            isinstance(raw, str)
            and (no_such_day(raw) or date_problem(raw, form=f"an instant, {form}"))
        ) or f"not an ISO 8601 instant with offset ({form})"
        raise fail(message, field="ts", value=raw)
    if window is not None and not window.contains(ts):
        raise fail(window.describe(), field="ts", value=raw)
    if received is not None and ts > (received + LIVE_EVENT_LEAD).timestamp():
        raise fail(ahead_of_clock(received), field="ts", value=raw)
    return ts


def ahead_of_clock(received: dt.datetime) -> str:
    """Why a live event dated past ``received`` + :data:`LIVE_EVENT_LEAD` is refused."""
    minutes = LIVE_EVENT_LEAD.total_seconds() / 60
    clock = f"{received.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
    return (
        f"more than {minutes:g} minutes ahead of the receiving clock ({clock}): "
        "a live event says what has happened, and one dated ahead would stand "
        "over every correction of its kind until then; send a change when it "
        "happens (a day's planned events go to allocate --events)"
    )


def _present(obj: dict[str, Any], key: str, fail: Callable[..., InputError]) -> Any:
    """The field's value; a field left out (or null, which shows no value) is
    reported as missing, not as a bad value the sender never wrote."""
    if key not in obj:
        raise fail("missing", field=key)
    if obj[key] is None:
        raise fail("missing (null)", field=key)
    return obj[key]


def parse_event(
    obj: Any,
    network: Network,
    *,
    file: str | None = None,
    row: int | None = None,
    window: TimeWindow | None = EVENT_WINDOW,
    received: dt.datetime | None = None,
    logged: bool = False,
) -> CapacityEvent:
    """Validate one decoded event object (see ``docs/data.md``).

    ``window`` bounds ``ts`` around now (``None``: any instant, for events
    already validated when they were logged). ``received``: the receiving
    clock of a live event (the HTTP API, ``capacity ingest``, a followed
    feed), which ``ts`` may pass by at most :data:`LIVE_EVENT_LEAD`; ``None``
    for events scripted ahead (``allocate --events``, a simulated day).
    ``logged``: an event read back from the store's log, validated when it
    was logged and replayed whole: a key not in :data:`EVENT_KEYS` (another
    writer's or an older version's) is left aside, not an error, and a
    staffing in :data:`STAFFING_FRACTION` (taken before 2026-12-06) replays
    as the percent it was applied as.

    Raises
    ------
    InputError
        Naming ``file``, ``row``, the field and its value.
    """
    fail = partial(InputError, file=file, row=row)
    if not isinstance(obj, dict):
        raise fail("not a JSON object")
    if not logged:
        _known_keys(obj, fail)
    event_id = _event_id(obj.get("event_id"), fail)
    if received is not None and event_id.startswith(ORDER_WORK):
        raise fail(_reserved(), field="event_id", value=event_id)
    ts = _event_ts(_present(obj, "ts", fail), window, received, fail)
    # text is read with the spaces around it removed, as every table's
    # cells (docs/data.md): " d-1 " was a second event, " WH-ABE" unknown
    node_id = _stripped(_present(obj, "node_id", fail))
    node = network.node_index.get(node_id) if isinstance(node_id, str) else None
    if node is None:
        raise fail("unknown node", field="node_id", value=node_id)
    kind = _stripped(_present(obj, "type", fail))
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        message = f"unknown event type (one of {list(EVENT_TYPES)})"
        raise fail(message, field="type", value=kind)
    value = _event_value(kind, _present(obj, "value", fail), fail)
    if kind == "staffing" and not logged and _is_fraction(value):
        raise fail(_staffing_fraction(value), field="value", value=value)
    service = -1
    if kind == "congestion":
        if obj.get("service") is None:
            message = f"missing (a congestion event names its service, one of {list(SERVICES)})"
            raise fail(message, field="service")
        name = _stripped(obj["service"])
        if not isinstance(name, str) or name not in SERVICES:
            message = f"unknown service (one of {list(SERVICES)})"
            raise fail(message, field="service", value=name)
        service = SERVICES.index(name)
    return CapacityEvent(event_id, ts, int(node), kind, value, service, row)


def _stripped(value: Any) -> Any:
    """A string without the spaces around it; anything else as it is."""
    return value.strip() if isinstance(value, str) else value


def _known_keys(obj: dict[Any, Any], fail: Callable[..., InputError]) -> None:
    """Every key is one of :data:`EVENT_KEYS`; the first other one is named."""
    for key in obj:
        if key not in EVENT_KEYS:
            name = str(key)
            if len(name) > _MAX_KEY_SHOWN:
                name = name[:_MAX_KEY_SHOWN] + "..."
            message = f"unknown field (an event has {', '.join(EVENT_KEYS)})"
            raise fail(message, field=name)


def _event_value(kind: str, raw: Any, fail: Callable[..., InputError]) -> float:
    """The event's value as a float (``outage``: 1.0 closed, 0.0 open), in
    range; checked before the cast, so a huge integer cannot overflow it."""
    if kind == "outage":
        if not isinstance(raw, bool):
            raise fail("must be true or false", field="value", value=raw)
        return 1.0 if raw else 0.0
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail("not a number", field="value", value=raw)
    lo, hi = EVENT_BOUNDS[kind]
    if not (lo <= raw <= hi):  # NaN fails too; ints compare exactly
        raise fail(f"must be in [{lo:g}, {hi:g}]", field="value", value=raw)
    # + 0.0: JSON's -0.0 is 0 (kept, `capacity show` listed a capacity of -0)
    return float(raw) + 0.0


def _is_fraction(staffing: float) -> bool:
    """A staffing strictly inside :data:`STAFFING_FRACTION`."""
    lo, hi = STAFFING_FRACTION
    return lo < staffing < hi


def _staffing_fraction(staffing: float) -> str:
    """Why a staffing of ``staffing`` (a fraction, 0 < v < 1) is refused:
    it reads as that many percent, which all but closes the node."""
    pct = round(staffing * 100, 9)
    send = (
        f"for {pct:.12g} % of the staff send {pct:.12g}"
        if pct >= 1
        else "send the percent (1-300), or 0 for no staff"
    )
    return (
        f"staffing is a percent of planned staff (0-300): {staffing!r} means "
        f"{staffing!r} %; {send}"
    )


def event_row(events: Sequence[CapacityEvent], k: int) -> int:
    """Where event ``k`` was read: its ``row``, else its 1-based position."""
    row = events[k].row
    return k + 1 if row is None else row


def check_repeated_ids(
    events: Sequence[CapacityEvent], *, file: str | None = None
) -> None:
    """An event id may repeat only with the same content (then it is a no-op).

    Raises
    ------
    EventIdConflict
        At the second of two events with one id and different content,
        naming the first's row (:func:`event_row`).
    """
    first: dict[str, int] = {}
    for k, ev in enumerate(events):
        j = first.setdefault(ev.event_id, k)
        if events[j] != ev:
            raise EventIdConflict(
                "event id repeated with different content "
                f"(first at row {event_row(events, j)})",
                file=file,
                row=event_row(events, k),
                field="event_id",
                value=ev.event_id,
            )


def parse_event_lines(
    lines: Iterable[str],
    network: Network,
    *,
    file: str = "<stdin>",
    received: dt.datetime | None = None,
) -> list[CapacityEvent]:
    """Parse and validate every line first (blank lines skipped); rows are
    1-based line numbers. Nothing is applied when any line is bad, and an
    event id repeated with different content is an error naming both rows.
    ``received``: live events' receiving clock (:func:`parse_event`)."""
    events, bad = events_before_bad(lines, network, file=file, received=received)
    if bad is not None:
        raise bad
    return events


def events_before_bad(
    lines: Iterable[str],
    network: Network,
    *,
    file: str = "<stdin>",
    received: dt.datetime | None = None,
) -> tuple[list[CapacityEvent], InputError | None]:
    """:func:`parse_event_lines`' events and its error, the first bad row of
    the lines (not an event, or an event id repeated with other content),
    with the events of the rows before it only: a caller judging them
    against a store's log reports a clash there before the bad row (the
    first bad row, whatever its reason)."""
    events: list[CapacityEvent] = []
    bad: InputError | None = None
    try:
        for row, text in _numbered(lines, file):
            obj = decode_line(text, file, row)
            events.append(
                parse_event(obj, network, file=file, row=row, received=received)
            )
    except InputError as exc:
        bad = exc
    try:
        # an id clash among the rows before the bad one is the first error
        check_repeated_ids(events, file=file)
    except EventIdConflict as exc:
        bad = exc
    if bad is not None and bad.row is not None:
        events = [ev for ev in events if ev.row is None or ev.row < bad.row]
    return events, bad


def _numbered(lines: Iterable[str], file: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines, stripped, with their 1-based line numbers; a file
    that is not UTF-8 fails at the line being read."""
    row = 0
    it = iter(lines)
    while True:
        try:
            line = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            message = f"not UTF-8 text ({exc.reason}; at or after this line)"
            raise InputError(message, file=file, row=row + 1) from None
        row += 1
        if line.strip():
            yield row, line.strip()


def decode_line(text: str, file: str, row: int) -> Any:
    """One line's JSON value; any failure (syntax, a 5000-digit number,
    nesting too deep) is an error at ``row`` (a syntax error with its column:
    "Unterminated string starting at" said not where)."""
    try:
        return loads_unique(text)
    except json.JSONDecodeError as exc:
        message = f"not JSON ({exc.msg}: column {exc.colno})"
        raise InputError(message, file=file, row=row) from None
    except RepeatedKey as exc:
        raise InputError(
            "key given twice in one event (which one was meant?)",
            file=file,
            row=row,
            field=exc.key,
        ) from None
    except (ValueError, RecursionError) as exc:
        # the reason's first clause, whole: "Exceeds the limit (4300 digits)
        # for integer string conversion: value has 5001 digits" was cut at
        # 80 characters ("5001 di"), before Python's advice on its settings
        reason = str(exc).splitlines()[0].split(";")[0] if str(exc) else ""
        message = f"not JSON ({reason or type(exc).__name__})"
        raise InputError(message, file=file, row=row) from None


def read_event_file(
    path: Path, network: Network, *, received: dt.datetime | None = None
) -> list[CapacityEvent]:
    """:func:`parse_event_lines` of a JSON-lines file (named by its file name);
    a byte that is not UTF-8 is an error at its line. A file of no event
    (empty, or blank lines) is an error, as every other reader's empty file
    and ``POST /v1/capacity/events``' empty list are: a wrong or truncated
    export applied nothing, exit 0, as if the day had no events."""
    events = read_event_bytes(
        path.read_bytes(), network, file=path.name, received=received
    )
    if not events:
        raise InputError("file is empty", file=path.name)
    return events


def read_event_bytes(
    data: bytes,
    network: Network,
    *,
    file: str = "<stdin>",
    received: dt.datetime | None = None,
) -> list[CapacityEvent]:
    """:func:`parse_event_lines` of a whole JSON-lines stream (stdin read to
    its end): a leading byte-order mark is dropped and a byte that is not
    UTF-8 is an error at its line, as in a file."""
    events, bad = event_bytes_before_bad(data, network, file=file, received=received)
    if bad is not None:
        raise bad
    return events


def event_bytes_before_bad(
    data: bytes,
    network: Network,
    *,
    file: str = "<stdin>",
    received: dt.datetime | None = None,
) -> tuple[list[CapacityEvent], InputError | None]:
    """:func:`events_before_bad` of a whole JSON-lines stream, as
    :func:`read_event_bytes` reads it (a line that is not UTF-8 is the bad
    row when the lines before it are good)."""
    try:
        text = decode_utf8(data, file)
    except InputError as exc:
        if exc.row is None:
            return [], exc
        # the lines before the bad byte's are read first
        events, bad = events_before_bad(
            _lines_before(data, exc.row), network, file=file, received=received
        )
        return events, exc if bad is None else bad
    return events_before_bad(text.split("\n"), network, file=file, received=received)


def _lines_before(data: bytes, row: int) -> list[str]:
    """The lines of ``data`` before line ``row``, the first line that is not
    UTF-8 (the lines are counted as :func:`decode_utf8` counts them)."""
    text = data.decode("utf-8", "replace").removeprefix(BOM_TEXT)
    if "\r" in text and "\n" not in text:
        text = text.replace("\r", "\n")
    return text.split("\n")[: row - 1]
