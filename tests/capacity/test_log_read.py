"""The map at an instant read in bulk (``CapacityMonitor.open_at``:
``capacity/log_read.py``, the store's ``events_dated_upto``) is the map the
one-at-a-time replay of the whole log leaves (``replayed_at``), field by
field, bit for bit: on random logs of every kind of event, repeated and
out-of-order instants, unreadable ``ts`` and odd texts, foreign nodes,
refused values, a checkout's work and forecasts, cut at many instants, in
memory and on both store backends."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow.capacity.events import EVENT_TYPES, logged_instant
from tierflow.capacity.log_read import dated_upto, instants
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.store import ORDER_WORK, LogColumns, open_store
from tierflow.data.store.allocation_work import WORK_MOVE
from tierflow.data.store.database_store import DatabaseStore

#: The instants the random logs are dated around: 2026-01-19 00:00 UTC, and
#: 14 hours after (more than the 6 hours a backlog change is kept).
_T0 = dt.datetime(2026, 1, 19, tzinfo=dt.UTC).timestamp()
_SPAN = 14 * 3600
_NODES = ("WH-EAST", "WH-WEST", "ST-CHI")
_SERVICES = ("ground", "two_day", "next_day")
#: The monitor's state, arrays and the rest.
_ARRAYS = (
    "nominal",
    "staffing",
    "backlog",
    "forecast",
    "_logged_forecast",
    "_standing",
    "outage",
    "congestion",
    "_stamp",
    "_stamp_lane",
)
_VALUES = (
    "_stamp_id",
    "last_seq",
    "last_ts",
    "heard_ts",
    "feed_ts",
    "n_applied",
    "forecast_revision",
    "_since_snapshot",
    "rebuilds",
    "_foreign_events",
)


def assert_same_map(bulk: CapacityMonitor, one: CapacityMonitor) -> None:
    """Every field of the two monitors' state alike, bit for bit (a -0.0
    for a 0.0 too), and so the snapshot state and the table shown."""
    for name in _ARRAYS:
        a, b = getattr(bulk, name), getattr(one, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    for name in _VALUES:
        assert getattr(bulk, name) == getattr(one, name), name
    assert json.dumps(bulk.state()) == json.dumps(one.state())
    assert bulk.table().equals(one.table())
    assert bulk.lane_rooms() == one.lane_rooms()


def _ts_text(rng: random.Random, t: float, *, storable: bool) -> str:
    """``t`` written as a writer does (mostly), or in another form the
    parser reads, or one it does not."""
    when = dt.datetime.fromtimestamp(t, dt.UTC)
    roll = rng.random()
    if roll < 0.55:
        return when.isoformat()
    if roll < 0.62:
        return when.replace(microsecond=0).isoformat()
    forms = [
        when.isoformat().replace("+00:00", "Z"),
        when.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat(),
        when.isoformat(sep=" "),
        f" {when.isoformat()} ",
        when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00",
        when.strftime("%Y-%m-%dT%H:%M:%S,%f+00:00"),
        when.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00"),
        when.strftime("%Y-%m-%dT%H:%M+00:00"),
        when.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: unreadable
        when.strftime("%Y-%m-%dt%H:%M:%S+00:00"),
        "2026-02-30T10:00:00+00:00",
        "2026-01-19T24:00:00+00:00",
        "2026-01-19T10:60:00+00:00",
        "0000-01-19T10:00:00+00:00",
        "9999-12-31T23:59:59+00:00",
        "2026-01-1xT10:00:00+00:00",
        "2026-01-19T10:00:00.123456+00:0x",
        "not a time",
        "",
    ]
    if not storable:
        forms.append(when.isoformat().replace("0", "\u0660", 1))  # an Arabic zero
    return rng.choice(forms)


def _payload(rng: random.Random, kind: str) -> str:
    """A logged payload of ``kind``: mostly as the writers give it, at
    times a value or service the parser refuses, or another JSON form."""
    if kind == "outage":
        value: Any = rng.random() < 0.5
    elif kind == "staffing":
        value = rng.choice([0, 50, 100, 120, 0.5, rng.uniform(0, 300)])
    elif kind == "congestion":
        value = rng.choice([1.0, 1.5, 2.25, rng.uniform(1, 3), 0.5])
    elif kind == "backlog_delta":
        value = rng.choice([rng.uniform(-80, 120), rng.randint(-50, 50), 0.0, -0.0])
    else:
        value = rng.choice([rng.uniform(0, 400), rng.randint(0, 500), 0, 1e9, 2e9])
    extra: dict[str, Any] = {"value": value}
    roll = rng.random()
    if roll < 0.05:
        extra["value"] = rng.choice(["5", None, True, [1], 10**17, float("inf")])
    elif roll < 0.08:
        del extra["value"]
    elif roll < 0.1:
        extra["note"] = "a key of another writer"
    if kind == "congestion" and rng.random() < 0.9:
        extra["service"] = rng.choice([*_SERVICES, " ground", "teleport", 3])
    if roll > 0.97:  # JSON a writer may give, that json.dumps does not
        number = rng.choice(["1e2", "1.5E-1", "-0", "12", "0.1", "-0.0", "1E+400"])
        return f'{{"value": {number}}}'
    return json.dumps(extra, sort_keys=True)


def _random_log(
    rng: random.Random, n: int, *, storable: bool = True
) -> list[tuple[Any, ...]]:
    """``n`` logged rows ``(event_id, ts, node_id, type, payload,
    received_at)`` in log order: dated around :data:`_T0`, out of order
    by up to an hour, some received before their ``ts``."""
    rows = []
    for k in range(n):
        t = _T0 + rng.uniform(0, _SPAN) if rng.random() < 0.3 else _T0 + k * _SPAN / n
        t += rng.uniform(-3600, 600) if rng.random() < 0.2 else 0.0
        t = round(t, rng.choice([0, 0, 3, 6]))
        node = rng.choice(_NODES)
        kind = rng.choices(EVENT_TYPES, weights=[1, 2, 2, 8, 2, 1, 2], k=1)[
            0
        ]  # nominal, staffing, backlog, delta, congestion, outage, forecast
        ident = f"e{k}"
        if kind == "backlog_delta" and rng.random() < 0.4:
            ident = f"{ORDER_WORK}r{k}:{node}"
            if rng.random() < 0.2:
                ident = f"{ORDER_WORK}r{k}{WORK_MOVE}{node}"
        roll = rng.random()
        if roll < 0.03:
            ident = f"  {ident} "
        elif roll < 0.04:
            ident = rng.choice(
                [" " * (k + 1), ident.ljust(201, "x"), f"{' ' * 20}{ident}".ljust(200)]
            )
        elif roll < 0.05 and not storable:
            ident = rng.choice([f"{ident}\x00", f"{ident}\ud800"])
        roll = rng.random()
        if roll < 0.03:
            node = rng.choice(["WH-GONE", f" {node}", "", "wh-east"])
        if rng.random() < 0.02:
            kind = rng.choice([f" {kind} ", "bogus", "Staffing"])
        received = t + rng.choice([0.0, 0.5, 30.0, -1800.0, -7200.0])
        rows.append(
            (
                ident,
                _ts_text(rng, t, storable=storable),
                node,
                kind,
                _payload(rng, kind.strip()),
                received,
            )
        )
    return rows


def _columns(rows: list[tuple[Any, ...]]) -> LogColumns:
    """The rows as the store reads them (``seq`` from 1)."""
    if not rows:
        return LogColumns((), (), (), (), (), (), ())
    seqs = tuple(range(1, len(rows) + 1))
    return LogColumns(seqs, *zip(*rows, strict=True))


def _instants(rng: random.Random, cols: LogColumns) -> list[dt.datetime]:
    """Instants to cut the log at: before and after it, at an event's own
    ``ts`` (the second of a writer's form too), and at random."""
    dated = [t for t in map(logged_instant, cols.ts) if t is not None]
    cuts = [_T0 - 60, _T0 + _SPAN + 7200]
    cuts += rng.sample(dated, min(3, len(dated)))
    cuts += [float(int(t)) for t in rng.sample(dated, min(2, len(dated)))]
    cuts += [_T0 + rng.uniform(0, _SPAN) for _ in range(2)]
    return [dt.datetime.fromtimestamp(t, dt.UTC) for t in cuts]


def _bulk(network: Network, cols: LogColumns, at: dt.datetime) -> CapacityMonitor:
    """:meth:`CapacityMonitor.open_at`'s map from columns read already."""
    mon = CapacityMonitor(network)
    mon.rebuilds += 1
    cut = at.timestamp()
    mon._replay(dated_upto(cols, network, cut))
    return mon


@pytest.mark.parametrize("seed", range(300))
def test_the_bulk_replay_is_the_replay_one_event_at_a_time(
    seed: int, tiny_network: Network
) -> None:
    """A random log (with texts no store holds: NUL, a lone surrogate, an
    Arabic digit; payloads naming a field of the row) cut at many instants:
    the bulk map is the one-at-a-time map, bit for bit."""
    rng = random.Random(seed)
    rows = _random_log(rng, rng.choice([0, 1, 5, 40, 150]), storable=False)
    for k in rng.sample(range(len(rows)), min(2, len(rows))):
        ident, ts, node, kind, payload, received = rows[k]
        override = rng.choice([{"ts": "2026-01-19T23:00:00Z"}, {"node_id": "ST-CHI"}])
        extra = json.loads(payload) if payload.startswith("{") else {}
        rows[k] = (ident, ts, node, kind, json.dumps(extra | override), received)
    cols = _columns(rows)
    logged = [cols.stored(k) for k in range(len(rows))]
    for at in _instants(rng, cols):
        one = CapacityMonitor.replayed_at(tiny_network, logged, at)
        assert_same_map(_bulk(tiny_network, cols, at), one)


def test_the_random_logs_are_not_vacuous(tiny_network: Network) -> None:
    """The logs above apply every kind of event, refuse some, leave some
    unreadable, carry foreign nodes and late, stale and dropped backlog
    changes: the equality is of maps that differ from the nominal one."""
    seen: dict[str, int] = dict.fromkeys(
        ["applied", "refused", "unreadable", "foreign", "stale", "work"], 0
    )
    kinds: set[str] = set()
    for seed in range(40):
        rng = random.Random(seed)
        cols = _columns(_random_log(rng, 150, storable=False))
        logged = [cols.stored(k) for k in range(len(cols.seq))]
        mon = CapacityMonitor(tiny_network)
        dated = [ev for ev in logged if logged_instant(ev.ts) is not None]
        seen["unreadable"] += len(logged) - len(dated)
        for ev in dated:
            parsed = mon._stored(ev)
            if parsed is None:
                seen["refused"] += 1
                continue
            kinds.add(parsed.type)
            seen["work"] += parsed.event_id.startswith(ORDER_WORK)
        _, stale = mon._apply_logged(dated)
        seen["stale"] += len(stale)
        seen["applied"] += mon.n_applied
        seen["foreign"] += len(mon._foreign_events)
    assert kinds == set(EVENT_TYPES)
    assert all(count > 20 for count in seen.values()), seen


def test_the_store_read_in_bulk_is_the_replay_one_event_at_a_time(
    state_location: Path | str, tiny_network: Network
) -> None:
    """On both backends, 100 random logs each cut at several instants:
    ``open_at`` (which leaves out in SQL the rows of the writers' UTC form
    dated a second or more after the instant) gives the one-at-a-time map
    of the whole log. Some of the rows are left out (not vacuous)."""
    insert = (
        "INSERT INTO capacity_events (event_id, ts, node_id, type, payload, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?)"
    )
    left_out = 0
    with open_store(state_location) as store:
        assert isinstance(store, DatabaseStore)  # the Database seam under it
        for seed in range(100):
            rng = random.Random(1000 + seed)
            rows = _random_log(rng, rng.choice([0, 3, 60, 120]))
            with store._db.tx() as conn:
                conn.execute("DELETE FROM capacity_events")
                for row in rows:
                    conn.execute(insert, row)
            logged = store.events_after(0)
            for at in _instants(rng, _columns(rows)):
                one = CapacityMonitor.replayed_at(tiny_network, logged, at)
                assert_same_map(CapacityMonitor.open_at(tiny_network, store, at), one)
                left_out += len(logged) - len(
                    store.events_dated_upto(at.timestamp()).seq
                )
    assert left_out > 1000


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from(["iso", "whole", "zero", "bad day", "bad hour"]),
)
def test_instants_read_as_the_parser_reads(when: dt.datetime, form: str) -> None:
    """Every instant from year 1 to 9999 in the writers' UTC form (read as
    arrays of digits where a float holds its microseconds, else by the
    parser) is the parser's float, bit for bit; a day or hour that is not
    one is unreadable for both."""
    iso = when.isoformat()
    second = iso[:19]
    text = {
        "iso": iso,
        "whole": f"{second}+00:00",
        "zero": f"{second}.000000+00:00",
        "bad day": f"{second[:8]}32{second[10:]}+00:00",
        "bad hour": f"{second[:11]}25{second[13:]}+00:00",
    }[form]
    texts = [text, "2026-02-29T00:00:00+00:00", "2024-02-29T00:00:00+00:00"]
    got = instants(texts)
    for t, g in zip(texts, got.tolist(), strict=True):
        want = logged_instant(t)
        if want is None:
            assert np.isnan(g), t
        else:
            assert np.float64(want).tobytes() == np.float64(g).tobytes(), t
