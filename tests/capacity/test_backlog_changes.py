"""A late absolute backlog is rebased on the deltas dated after it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow.capacity.backlog_changes import BACKLOG_CHANGES_KEPT_S
from tierflow.capacity.monitor import CapacityMonitor, events_for
from tierflow.data.network import Network
from tierflow.data.store import SqliteStore

T0 = dt.datetime(2026, 1, 5, 14, tzinfo=dt.UTC)


def _ev(
    eid: str, minutes: float, kind: str, value: float, node: str = "WH-EAST"
) -> dict[str, Any]:
    ts = (T0 + dt.timedelta(minutes=minutes)).isoformat()
    return {"event_id": eid, "ts": ts, "node_id": node, "type": kind, "value": value}


def _backlog(mon: CapacityMonitor, node: str = "WH-EAST") -> float:
    return float(mon.backlog[mon.network.node_idx(node)])


def test_late_absolute_keeps_the_later_deltas(tiny_network: Network) -> None:
    mon = CapacityMonitor(tiny_network)
    events = [
        _ev("d0", -60, "backlog_delta", 40),  # 13:00, before the absolute
        _ev("d1", 30, "backlog_delta", 500),  # 14:30
        _ev("b", 0, "backlog", 100),  # 14:00, delivered last
    ]
    result = mon.ingest(events_for(tiny_network, events))
    assert _backlog(mon) == 600.0  # 100 as of 14:00, + 500 at 14:30
    assert result.stale == 0
    # a delta dated before the absolute is counted in it (stale), one after adds
    late = mon.ingest(
        events_for(
            tiny_network,
            [_ev("d2", -10, "backlog_delta", 7), _ev("d3", 5, "backlog_delta", 3)],
        )
    )
    assert (_backlog(mon), late.stale) == (603.0, 1)
    # a newer absolute replaces everything dated before it
    mon.ingest(events_for(tiny_network, [_ev("b2", 40, "backlog", 20)]))
    assert _backlog(mon) == 20.0
    # and an absolute older than the newest absolute is stale, as before
    assert (
        mon.ingest(events_for(tiny_network, [_ev("b3", 35, "backlog", 1)])).stale == 1
    )
    assert _backlog(mon) == 20.0


def test_rebased_deltas_are_floored_in_time_order(tiny_network: Network) -> None:
    mon = CapacityMonitor(tiny_network)
    mon.ingest(
        events_for(
            tiny_network,
            [
                _ev("d1", 20, "backlog_delta", 5),
                _ev("d2", 10, "backlog_delta", -50),
                _ev("b", 0, "backlog", 30),
            ],
        )
    )
    # as delivered in time order: 30, then -50 -> 0, then +5
    assert _backlog(mon) == 5.0


def test_an_absolute_older_than_a_dropped_change_is_stale(
    tiny_network: Network,
) -> None:
    mon = CapacityMonitor(tiny_network)
    kept_min = BACKLOG_CHANGES_KEPT_S / 60
    mon.ingest(events_for(tiny_network, [_ev("d1", 0, "backlog_delta", 70)]))
    # the feed's clock moves past the window; the node's next delta drops d1
    mon.ingest(events_for(tiny_network, [_ev("d2", kept_min + 60, "backlog_delta", 1)]))
    stale = mon.ingest(events_for(tiny_network, [_ev("b1", -5, "backlog", 9)]))
    assert (_backlog(mon), stale.stale) == (71.0, 1)
    # one dated after the dropped change is rebased on the kept one
    mon.ingest(events_for(tiny_network, [_ev("b2", 1, "backlog", 9)]))
    assert _backlog(mon) == 10.0
    # a node without changes takes an absolute however late
    mon.ingest(
        events_for(tiny_network, [_ev("b3", -600, "backlog", 4, node="WH-WEST")])
    )
    assert _backlog(mon, "WH-WEST") == 4.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(-100, 100)), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_any_arrival_order_gives_the_time_order_backlog(
    tiny_network: Network, changes: list[tuple[bool, int]], rng: Any
) -> None:
    """Absolutes (the first one dated first) large enough that no delta
    dated after one floors the backlog at 0: every arrival order gives the
    backlog of the newest absolute plus the deltas dated after it."""
    events = [_ev("first", -1, "backlog", 5_000)] + [
        _ev(f"e{k}", k, "backlog" if absolute else "backlog_delta",
            1_000 + abs(v) if absolute else v)
        for k, (absolute, v) in enumerate(changes)
    ]  # fmt: skip
    _assert_any_arrival_order_gives_the_time_order(tiny_network, events, rng)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(-100, 100)), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_any_arrival_order_floors_as_time_order_does(
    tiny_network: Network, changes: list[tuple[bool, int]], rng: Any
) -> None:
    """Small values, so deltas floor the backlog at 0: a late delta is
    placed in time order too. Added at the end as it came, it moved the
    floor (10, then +500 at 13:00 and -50 at 12:30 gave 460, in time order
    500)."""
    events = [
        _ev(f"e{k}", k, "backlog" if absolute else "backlog_delta",
            abs(v) if absolute else v)
        for k, (absolute, v) in enumerate(changes)
    ]  # fmt: skip
    _assert_any_arrival_order_gives_the_time_order(tiny_network, events, rng)


def _assert_any_arrival_order_gives_the_time_order(
    network: Network, events: list[dict[str, Any]], rng: Any
) -> None:
    """The backlog of ``events`` delivered one at a time in a shuffled
    order (as a feed delivers them) is the one of their time order."""
    in_time = CapacityMonitor(network)
    in_time.ingest(events_for(network, events))
    shuffled = list(events)
    rng.shuffle(shuffled)
    mon = CapacityMonitor(network)
    for ev in shuffled:
        mon.ingest(events_for(network, [ev]))
    assert _backlog(mon) == _backlog(in_time)


def test_a_late_delta_is_placed_in_time_order(
    tmp_path: Path, tiny_network: Network
) -> None:
    """The QA case, and across a restart from a snapshot (the base the
    deltas apply on is in it)."""
    base, up, down = (
        _ev("b", 0, "backlog", 10),
        _ev("up", 60, "backlog_delta", 500),
        _ev("down", 30, "backlog_delta", -50),
    )
    mon = CapacityMonitor(tiny_network)
    for ev in (base, up, down):
        mon.ingest(events_for(tiny_network, [ev]))
    assert _backlog(mon) == 500.0  # 10 - 50 floored at 0, then + 500
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        first = CapacityMonitor.open(tiny_network, store)
        first.ingest(events_for(tiny_network, [base, up]))
        first.snapshot()
    with SqliteStore(path) as store:
        back = CapacityMonitor.open(tiny_network, store)
        assert back.unsnapshotted == 0
        back.ingest(events_for(tiny_network, [down]))
        assert _backlog(back) == 500.0


def test_a_restart_keeps_the_changes(tmp_path: Path, tiny_network: Network) -> None:
    path = tmp_path / "state.db"
    first = [_ev("d1", 30, "backlog_delta", 500), _ev("d2", 45, "backlog_delta", 8)]
    with SqliteStore(path) as store:
        mon = CapacityMonitor.open(tiny_network, store)
        mon.ingest(events_for(tiny_network, first))
        mon.snapshot()
    with SqliteStore(path) as store:
        back = CapacityMonitor.open(tiny_network, store)
        assert back.unsnapshotted == 0  # rebuilt from the snapshot alone
        back.ingest(events_for(tiny_network, [_ev("b", 0, "backlog", 100)]))
        assert _backlog(back) == 608.0


def test_a_snapshot_without_changes_refuses_older_absolutes(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A snapshot taken before the changes were kept: no delta it counted
    can be rebased on, so an absolute older than its newest event is stale."""
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        mon = CapacityMonitor.open(tiny_network, store)
        mon.ingest(events_for(tiny_network, [_ev("d1", 30, "backlog_delta", 500)]))
        seq, state = mon.snapshot_state()
        for node in state["nodes"].values():
            del node["backlog_changes"]
        store.save_capacity_snapshot(seq, state)
    with SqliteStore(path) as store:
        back = CapacityMonitor.open(tiny_network, store)
        late = back.ingest(events_for(tiny_network, [_ev("b", 0, "backlog", 100)]))
        assert (_backlog(back), late.stale) == (500.0, 1)
        back.ingest(events_for(tiny_network, [_ev("b2", 31, "backlog", 100)]))
        assert _backlog(back) == 100.0


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (1, 2, 0), (2, 1, 0)])
def test_deltas_of_one_instant_are_one_change(
    tiny_network: Network, order: tuple[int, ...]
) -> None:
    """10, then +500 and -600 at 11:00: their sum moves the backlog, 10 -
    100 floored at 0, whatever order they came in (by their arrival it was
    0 or 500)."""
    events = [
        _ev("a", -240, "backlog", 10),
        _ev("b", -180, "backlog_delta", 500),
        _ev("c", -180, "backlog_delta", -600),
    ]
    mon = CapacityMonitor(tiny_network)
    for k in order:
        mon.ingest(events_for(tiny_network, [events[k]]))
    assert _backlog(mon) == 0.0


def test_deltas_of_one_instant_keep_their_order(tiny_network: Network) -> None:
    """+500 then -300 at 14:30, then the absolute 100 at 14:00: 100, +500,
    -300 is 300 (rebased smallest value first, -300 floored at 0 before the
    +500, it was 500; they are one change now, their sum)."""
    mon = CapacityMonitor(tiny_network)
    events = [
        _ev("d1", 30, "backlog_delta", 500),
        _ev("d2", 30, "backlog_delta", -300),
        _ev("b", 0, "backlog", 100),
    ]
    mon.ingest(events_for(tiny_network, events))
    assert _backlog(mon) == 300.0


def test_the_live_map_is_the_replayed_map(
    tmp_path: Path, tiny_network: Network
) -> None:
    """The feed's clock (an event's time capped at its receipt) is the
    receipt the log stamped, live as on replay: it was the ingesting
    process's own clock read before the write (and its lock wait), so an
    event dated ahead moved the clock differently there, and a late
    absolute backlog was rebased live and stale on every other replica."""
    path = tmp_path / "state.db"
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    event = {
        "event_id": "ahead",
        "ts": ahead.isoformat(),
        "node_id": "WH-EAST",
        "type": "backlog_delta",
        "value": 1,
    }
    with SqliteStore(path) as store:
        live = CapacityMonitor.open(tiny_network, store)
        live.ingest(events_for(tiny_network, [event]))
        replayed = CapacityMonitor.open(tiny_network, store)
        assert live.heard_ts == replayed.heard_ts
        assert live.state() == replayed.state()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-100, 100), st.integers(0, 3)), max_size=16),
    st.randoms(use_true_random=False),
)
def test_deltas_sharing_instants_in_any_arrival_order(
    tiny_network: Network, changes: list[tuple[int, int]], rng: Any
) -> None:
    """Many deltas of one instant (a feed stamping to the second) are
    summed and floored as one change in any arrival order, also where one
    of them comes after a later instant's."""
    deltas = [
        _ev(f"e{k}", minute, "backlog_delta", v)
        for k, (v, minute) in enumerate(changes)
    ]
    events = [_ev("first", -1, "backlog", 5)]
    events += sorted(deltas, key=lambda ev: str(ev["ts"]))
    _assert_any_arrival_order_gives_the_time_order(tiny_network, events, rng)


def test_deltas_sharing_an_instant_cost_what_one_does() -> None:
    """A feed stamping to the second sends several deltas a second at a
    busy node: each one of an instant the node already had was placed by
    summing every delta kept (six hours' worth) again, so each took longer
    than the last (QA: 40,000 at 5 a second took 60 s, a feed of 100,000
    never finished; the router's lock is held meanwhile). The same
    backlog, in a time that does not grow with the deltas kept."""
    import time

    from tierflow.capacity.backlog_changes import BacklogChanges

    changes, backlog = BacklogChanges(1), 0.0
    start = time.perf_counter()
    for k in range(30_000):
        ts = T0.timestamp() + k // 5
        value = -3.0 if k % 5 == 4 else 1.0  # each second: +4, -3
        backlog = changes.add(0, ts, value, ts, backlog)
    took = time.perf_counter() - start
    assert backlog == 6_000.0
    assert took < 5.0, f"{took:.1f} s for 30,000 deltas"


class _Summed:
    """The backlog changes as placed until 2026-12-07: every delta kept
    summed again at each one placed before the newest (the reference the
    running sums must give, bit for bit)."""

    def __init__(self) -> None:
        self.kept: list[tuple[float, float]] = []
        self.base, self.floor = 0.0, -float("inf")

    def _drop(self, heard: float) -> None:
        from tierflow.capacity.backlog_changes import _applied

        old = [d for d in self.kept if d[0] < heard - BACKLOG_CHANGES_KEPT_S]
        if old:
            self.kept = self.kept[len(old) :]
            self.floor = max(self.floor, old[-1][0])
            self.base = _applied(self.base, old)

    def add(self, ts: float, value: float, heard: float, backlog: float) -> float:
        from bisect import bisect_right

        from tierflow.capacity.backlog_changes import _applied

        self._drop(heard)
        if not self.kept or ts > self.kept[-1][0]:
            self.kept.append((ts, value))
            return max(0.0, backlog + value)
        if ts <= self.floor:
            self.base = max(0.0, self.base + value)
        else:
            at = bisect_right(self.kept, ts, key=lambda d: d[0])
            self.kept.insert(at, (ts, value))
        return _applied(self.base, self.kept)

    def rebase(self, ts: float, value: float, heard: float) -> float | None:
        from tierflow.capacity.backlog_changes import _applied

        self._drop(heard)
        if ts <= self.floor:
            return None
        self.kept = [d for d in self.kept if d[0] >= ts]
        self.base = value
        return _applied(value, self.kept)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["delta", "delta", "delta", "absolute"]),
            st.integers(-40, 4),  # minutes from the clock: late, or a bit ahead
            st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 2)),
            st.integers(0, 200),  # minutes the feed's clock moves on first
        ),
        max_size=40,
    )
)
def test_running_sums_give_the_summed_backlog(
    steps: list[tuple[str, int, float, int]],
) -> None:
    """Deltas late, early, sharing instants or older than the changes
    kept, absolutes between them, the clock moving on past six hours: the
    backlog after each is the one every delta kept summed again gives."""
    from tierflow.capacity.backlog_changes import BacklogChanges

    changes, summed = BacklogChanges(1), _Summed()
    clock, backlog = T0.timestamp(), 0.0
    for kind, minutes, value, passed in steps:
        clock += passed * 60.0
        ts = clock + minutes * 60.0
        if kind == "absolute":
            got = changes.rebase(0, ts, abs(value), clock)
            assert got == summed.rebase(ts, abs(value), clock)
        else:
            got = changes.add(0, ts, value, clock, backlog)
            assert got == summed.add(ts, value, clock, backlog)
        backlog = backlog if got is None else got


def test_late_deltas_cost_what_one_does() -> None:
    """Deltas logged out of their time order (replicas confirming at once,
    feeds merged): each one placed before the newest summed every delta
    kept again (QA: 20,000 of which every other one came 0.3 s late took
    49 s). Only those after it are worked out again."""
    import time

    from tierflow.capacity.backlog_changes import BacklogChanges

    changes, backlog = BacklogChanges(1), 0.0
    start = time.perf_counter()
    for k in range(30_000):
        ts = T0.timestamp() + k * 0.2 + (0.5 if k % 2 else 0.0)
        backlog = changes.add(0, ts, 1.0, ts, backlog)
    took = time.perf_counter() - start
    assert backlog == 30_000.0
    assert took < 5.0, f"{took:.1f} s for 30,000 deltas"
