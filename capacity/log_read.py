"""The capacity log read in bulk: the events dated up to an instant, parsed
as :func:`~tierflow.capacity.events.parse_event` parses each, as arrays
(``capacity show --now``: ``CapacityMonitor.open_at``).

One event at a time, a million logged events took 13 s to read, parse and
apply (docs/cli.md). Here each ``ts`` of the writers' UTC form is read as
digits of an array, the fields an event shares with many others (its node,
type and payload) are parsed once per distinct text, and only the id is
looked at per event; any other ``ts`` or field is read by the parser
itself, so every event is taken or refused as the replay of one took or
refused it (``tests/capacity/test_log_read.py``).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from tierflow.capacity.events import (
    EVENT_BOUNDS,
    EVENT_TYPES,
    UNSTORABLE,
    logged_event_id,
    logged_instant,
    parse_event,
)
from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_ID_LENGTH
from tierflow.data.network import Network
from tierflow.data.store import ORDER_WORK, LogColumns, StoredEvent

#: The fields a logged event's row holds apart from its payload: a payload
#: naming one of them overrides it in the replay (``CapacityMonitor._stored``).
_ROW_FIELDS = frozenset({"event_id", "ts", "node_id", "type"})
#: A ``ts`` every parser reads, for parsing an event's other fields.
_SOME_TS = "2026-01-01T00:00:00+00:00"
#: Microseconds from which an integer is no longer exact as a float.
_EXACT_US = 2**53


@dataclass(frozen=True, slots=True)
class DatedEvents:
    """The logged events dated at or before the instant (a ``ts`` the parser
    reads), in log order: the ones it took (``parsed``) with their fields,
    the others with -1 and 0 there.

    Attributes
    ----------
    seq
        Every such event's ``seq``.
    parsed
        Whether the parser took it (a node of the network, a type and value
        it reads...).
    ts, node, kind, value, service
        The parsed event's fields (``kind``: index into
        :data:`~tierflow.capacity.events.EVENT_TYPES`).
    received
        When the log received it (epoch seconds).
    work
        Whether it is a checkout's own work (:data:`ORDER_WORK`).
    event_id
        Its id, as parsed (the spaces around it removed).
    foreign
        The events not taken whose ``node_id`` the network does not have,
        in log order (a snapshot carries them for the network that has
        them).
    """

    seq: NDArray[np.int64]
    parsed: NDArray[np.bool_]
    ts: NDArray[np.float64]
    node: NDArray[np.intp]
    kind: NDArray[np.intp]
    value: NDArray[np.float64]
    service: NDArray[np.intp]
    received: NDArray[np.float64]
    work: NDArray[np.bool_]
    event_id: list[str]
    foreign: list[StoredEvent]


#: What a type and payload parse to: ``(kind, value, service)``; None: the
#: parser refuses them; ``...``: parsed per event (the payload names a
#: field of the row).
_Fields = tuple[int, float, int] | None


def dated_upto(cols: LogColumns, network: Network, at: float) -> DatedEvents:
    """The events of ``cols`` (the log, in order) dated at or before ``at``
    (epoch seconds), parsed as :meth:`CapacityMonitor._stored` parses each;
    an unreadable ``ts`` is left out, as the replay leaves it out."""
    ts = instants(cols.ts)
    rows = np.flatnonzero(ts <= at)  # NaN (unreadable): never
    pick = _picker(rows.tolist(), len(ts))
    ids, named = _event_ids(pick(cols.event_id))
    # the node, the type and the payload, parsed once per distinct text
    node_code, node_ids = _codes(pick(cols.node_id))
    nodes = np.array([_node(str(v), network) for v in node_ids], dtype=np.intp)
    fields, good, alone = _type_payload_fields(
        pick(cols.type), pick(cols.payload), network
    )
    node, dated = nodes[node_code], ts[rows]
    for j in np.flatnonzero(alone).tolist():  # a payload naming a row's field
        got, ident = _parsed_alone(cols.stored(int(rows[j])), network)
        good[j] = named[j] = got is not None
        ids[j] = ident or ""
        fields[j], node[j], dated[j] = (
            ((-1, 0.0, -1), -1, dated[j]) if got is None else got
        )
    parsed = good & (node >= 0) & named
    row_nodes = pick(cols.node_id)
    foreign = [
        cols.stored(int(rows[j]))
        for j in np.flatnonzero(~parsed).tolist()
        if row_nodes[j] not in network.node_index
    ]
    work = np.array([i.startswith(ORDER_WORK) for i in ids], dtype=bool)
    return DatedEvents(
        seq=np.array(pick(cols.seq), dtype=np.int64),
        parsed=parsed,
        ts=dated,
        node=np.where(parsed, node, -1),
        kind=np.where(parsed, fields[:, 0], -1).astype(np.intp),
        value=np.where(parsed, fields[:, 1], 0.0),
        service=np.where(parsed, fields[:, 2], -1).astype(np.intp),
        received=np.array(pick(cols.received_at), dtype=np.float64),
        work=work & parsed,
        event_id=ids,
        foreign=foreign,
    )


def _type_payload_fields(
    types: Sequence[str], payloads: Sequence[str], network: Network
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Per event, what the parser makes of its type and payload with a good
    id, ``ts`` and node: ``(kind, value, service)`` rows, whether it takes
    them, and whether the payload names a field of the row (then the event
    is parsed whole). A payload of a number alone (``{"value": 12.5}``) of
    a type with bounds is read at once for all (the parser's float, its
    range, ``+ 0.0``); any other, once per distinct type and payload, by the
    parser itself."""
    n = len(types)
    type_code, type_texts = _codes(types)
    payload_code, payload_texts = _codes(payloads)
    kinds = [str(t).strip() for t in type_texts]
    # the kinds whose value is a number in a range and nothing else
    bounded = [k in EVENT_BOUNDS and k != "congestion" for k in kinds]
    lo = np.array(
        [EVENT_BOUNDS[k][0] if b else 0.0 for k, b in zip(kinds, bounded, strict=True)]
    )
    hi = np.array(
        [EVENT_BOUNDS[k][1] if b else -1.0 for k, b in zip(kinds, bounded, strict=True)]
    )
    kind_index = np.array(
        [EVENT_TYPES.index(k) if b else -1 for k, b in zip(kinds, bounded, strict=True)]
    )
    number = np.array([_number(str(p)) for p in payload_texts], dtype=np.float64)
    value = number[payload_code]
    fast = np.isfinite(value) & (kind_index[type_code] >= 0)
    fields = np.zeros((n, 3))
    fields[:, 0] = kind_index[type_code]
    fields[:, 1] = value + 0.0
    fields[:, 2] = -1
    good = fast & (lo[type_code] <= value) & (value <= hi[type_code])
    alone = np.zeros(n, dtype=bool)
    rest = np.flatnonzero(~fast)
    if rest.size:
        width = len(payload_texts)
        key_code, pairs = pd.factorize(type_code[rest] * width + payload_code[rest])
        shared = [
            _shared_fields((str(type_texts[t]), str(payload_texts[p])), network)
            for t, p in zip(
                (pairs // width).tolist(), (pairs % width).tolist(), strict=True
            )
        ]
        got = np.array([f if isinstance(f, tuple) else (-1, 0.0, -1) for f in shared])
        fields[rest] = got.reshape(len(shared), 3)[key_code]
        good[rest] = np.array([isinstance(f, tuple) for f in shared], dtype=bool)[
            key_code
        ]
        alone[rest] = np.array([f is ... for f in shared], dtype=bool)[key_code]
    return fields, good, alone


#: A logged payload of a value alone that is a JSON number the parser reads
#: as a float exactly as ``float()`` reads its text: with a fraction or an
#: exponent (JSON's float), or an integer of at most 15 digits (exact as a
#: float, so its range is judged alike).
_NUMBER_ALONE = re.compile(
    r'\{"value": (-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)'
    r"|0|[1-9][0-9]{0,14}))\}"
)


def _number(payload: str) -> float:
    """The value of a payload of a number alone (:data:`_NUMBER_ALONE`);
    NaN for any other payload."""
    match = _NUMBER_ALONE.fullmatch(payload)
    return float("nan") if match is None else float(match.group(1))


def _codes(col: Sequence[str]) -> tuple[NDArray[np.intp], list[str]]:
    """Each item's index among the distinct items, and those in order of
    first appearance (a dict: faster than ``pd.factorize`` on a column of
    Python strings, which it copies first)."""
    index: dict[str, int] = {}
    codes = [index.setdefault(v, len(index)) for v in col]
    return np.array(codes, dtype=np.intp), list(index)


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (as it was after): a
    read of the whole log allocates a tuple a row, every one kept, and the
    collections they set off traversed them all again and again (0.6 s of
    the 0.9 s of a million rows' transposition, measured)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _picker(rows: list[int], total: int) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """The items ``rows`` of a column of ``total``, in order."""
    if len(rows) == total:
        return lambda col: col
    if not rows:
        return lambda col: ()
    get = itemgetter(*rows)
    if len(rows) == 1:
        return lambda col: (get(col),)
    return get


def _event_ids(raw: Sequence[str]) -> tuple[list[str], NDArray[np.bool_]]:
    """Logged ids as the parser reads string ones (:func:`logged_event_id`),
    and whether it takes each ("" where it does not). Most logs have no id
    it refuses, which is found for all at once."""
    ids = [e.strip() for e in raw]
    if (
        all(ids)
        and max(map(len, raw), default=0) <= MAX_ID_LENGTH
        and UNSTORABLE.search("\n".join(ids)) is None
    ):
        return ids, np.ones(len(ids), dtype=bool)
    read = [logged_event_id(e) for e in raw]
    return [i or "" for i in read], np.array([i is not None for i in read], dtype=bool)


def _node(node_id: str, network: Network) -> int:
    """The network's index of a logged ``node_id`` as the parser reads it
    (the spaces around it removed; -1: not the network's)."""
    return network.node_index.get(node_id.strip(), -1)


def _shared_fields(key: tuple[str, str], network: Network) -> _Fields | Any:
    """What the parser makes of a type and payload (the logged JSON text)
    with a good id, ``ts`` and node: ``(kind, value, service)``, None when
    it refuses them; ``...`` when the payload names a field of the row
    (then it is the event's own)."""
    kind, payload = key
    extra = json.loads(payload)
    if not isinstance(extra, dict) or _ROW_FIELDS & extra.keys():
        return ...
    obj = {"event_id": "x", "ts": _SOME_TS, "node_id": network.node_ids[0]}
    try:
        ev = parse_event(
            obj | {"type": kind} | extra, network, window=None, logged=True
        )
    except InputError:
        return None
    return (EVENT_TYPES.index(ev.type), ev.value, ev.service)


def _parsed_alone(
    ev: StoredEvent, network: Network
) -> tuple[tuple[tuple[int, float, int], int, float] | None, str | None]:
    """One event parsed whole, as the replay parses it (a payload naming a
    field of the row overrides it there): ``((kind, value, service), node,
    ts)`` and its id, or None and None where the parser refuses it."""
    obj = {"event_id": ev.event_id, "ts": ev.ts, "node_id": ev.node_id}
    obj |= {"type": ev.type, **ev.payload}
    try:
        got = parse_event(obj, network, row=ev.seq, window=None, logged=True)
    except InputError:
        return None, None
    fields = (EVENT_TYPES.index(got.type), got.value, got.service)
    return (fields, got.node, got.ts), got.event_id


def instants(texts: Sequence[str]) -> NDArray[np.float64]:
    """Each ``ts`` in epoch seconds as :func:`logged_instant` reads it (NaN:
    not an instant it takes). The writers' UTC form (``isoformat``, whole
    seconds or microseconds, ``+00:00``) is read as arrays of digits; any
    other text by :func:`logged_instant` itself."""
    n = len(texts)
    out = np.full(n, np.nan)
    width = np.fromiter(map(len, texts), dtype=np.intp, count=n)
    chars = _code_points("".join(texts))
    start = np.cumsum(width) - width
    done = np.zeros(n, dtype=bool)
    if chars is not None:
        for w in (25, 32):
            rows = np.flatnonzero(width == w)
            if rows.size == 0:
                continue
            ts, ok = _utc_instants(sliding_window_view(chars, w)[start[rows]])
            out[rows[ok]] = ts[ok]
            done[rows[ok]] = True
    for k in np.flatnonzero(~done).tolist():
        t = logged_instant(texts[k])
        if t is not None:
            out[k] = t
    return out


def _code_points(text: str) -> NDArray[np.uint8] | None:
    """The characters of ``text`` as numbers when all are ASCII (None: not)."""
    try:
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None


#: The characters between the digits of ``YYYY-MM-DDTHH:MM:SS``.
_MARKS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}


def _utc_instants(
    chars: NDArray[np.uint8],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`` texts (one a
    row of code points), and whether each is one ``datetime.fromisoformat``
    reads, of an instant whose microseconds a float holds exactly (there
    ``timestamp()``'s division gives the same float); False: not read here."""
    w = chars.shape[1]
    n = len(chars)
    marks = dict(_MARKS) | {w - 6 + i: c for i, c in enumerate("+00:00")}
    if w == 32:
        marks[19] = "."
    ok = np.ones(n, dtype=bool)
    for pos, c in marks.items():
        ok &= chars[:, pos] == ord(c)

    def number(*pos: int) -> NDArray[np.int64]:
        nonlocal ok
        out = np.zeros(n, dtype=np.int64)
        for p in pos:
            digit = chars[:, p].astype(np.int64) - ord("0")
            ok &= (digit >= 0) & (digit <= 9)
            out = out * 10 + digit
        return out

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour, minute, second = number(11, 12), number(14, 15), number(17, 18)
    micro = number(*range(20, 26)) if w == 32 else np.zeros(n, dtype=np.int64)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    last = month_days[np.clip(month, 1, 12) - 1] + (leap & (month == 2))
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= last)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's
    # days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    us = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micro
    ok &= np.abs(us) < _EXACT_US
    return us.astype(np.float64) / 1e6, ok
