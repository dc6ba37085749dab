"""Lane congestion in the day's batches: an item shipped from a node by a
service takes its workload times that lane's congestion of the node's
capacity (``docs/allocation.md``, "Rerouting after capacity events").

Tiny network: WH-EAST (capacity 1000; TEE 100), WH-WEST (800; TEE 50),
ST-CHI (100; TEE 5, no next-day). TEE complexity 1 per unit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.allocation_checks import assert_rows_verify, resumed_after_crash
from tests.orchestration.allocation.conftest import MakeOrders
from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.rates import SERVICES
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.batch_bid_prices import BatchBidPrices
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
    MemorySink,
)
from tierflow.orchestration.allocation.ledger import CapacityLedger

#: 08:00 New York on the tiny network's day.
_EIGHT_ET = dt.datetime(2026, 1, 5, 13, 0, tzinfo=dt.UTC).timestamp()


def _tees(n: int, tier: str = "gold", dest: int = 100) -> list[str]:
    """``n`` one-TEE orders to ``dest``, five minutes apart from 09:00 ET."""
    return [
        f"T{k:02d},2026-01-05T{9 + k // 12:02d}:{(k % 12) * 5:02d}:00-05:00,"
        f"C{k},{dest},{tier},TEE,1"
        for k in range(n)
    ]


def _congested(
    net: Network, node: str, factor: float, at: float = _EIGHT_ET
) -> list[CapacityEvent]:
    """Every lane of ``node`` at ``factor`` from ``at``."""
    i = net.node_idx(node)
    return [
        CapacityEvent(f"{node}-{s}", at, i, "congestion", factor, service=s)
        for s in range(len(SERVICES))
    ]


def _lane_load(net: Network, rows: pd.DataFrame, congestion: np.ndarray) -> np.ndarray:
    """Per node, what its allocated rows take of it: each line's workload
    times the congestion of the lane it ships by (from the rows alone)."""
    done = rows[rows["status"] == "allocated"]
    node = done["node_id"].map(net.node_index).to_numpy(int)
    service = done["service"].map(SERVICES.index).to_numpy(int)
    sku = done["sku"].map(net.sku_index).to_numpy(int)
    work = net.sku_complexity[sku] * done["quantity"].to_numpy(float)
    return np.bincount(
        node, weights=work * congestion[node, service], minlength=net.n_nodes
    )


def test_a_congested_lane_moves_work_off_its_node(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """40 Tees for New York; every WH-EAST lane at x100 from 08:00: a Tee
    takes 100 of WH-EAST's 1000 units, so 10 ship there and the rest from
    WH-WEST and ST-CHI. Until 2026-12-06 all 40 went to WH-EAST, as without
    the events (the batches planned node room, not lanes)."""
    net = tiny_network
    orders = make_orders(_tees(40))
    plain = DayAllocator(net, orders).run()
    assert set(plain.rows["node_id"]) == {"WH-EAST"}
    events = _congested(net, "WH-EAST", 100.0)
    run = DayAllocator(net, orders, events=events)
    out = run.run()
    by_node = out.rows["node_id"].value_counts().to_dict()
    assert by_node == {"WH-EAST": 10, "WH-WEST": 25, "ST-CHI": 5}
    assert set(out.rows["status"]) == {"allocated"}
    load = _lane_load(net, out.rows, run.monitor.congestion)
    assert load.tolist() == [1000.0, 25.0, 5.0]
    assert (load <= net.capacity + 1e-9).all()
    # the ledger took what the rows say: WH-EAST full
    assert run.remaining()[net.node_idx("WH-EAST")] == 0.0
    assert out.summary()["events_applied"] == 4
    assert_rows_verify(net, orders, out.rows, net.capacity)


_MIXED = [
    "P1,2026-01-05T09:00:00-05:00,C1,100,platinum,TEE,2",
    "P2,2026-01-05T09:10:00-05:00,C2,331,platinum,MUG,1",
    "G1,2026-01-05T09:20:00-05:00,C3,100,gold,TEE,1",
    "G1,2026-01-05T09:20:00-05:00,C3,100,gold,SPRAY,1",
    "S1,2026-01-05T09:40:00-05:00,C4,900,silver,TEE,3",
    "O1,2026-01-05T10:05:00-05:00,C5,606,overflow,TEE,1",
    "G2,2026-01-05T10:20:00-05:00,C6,981,gold,SPRAY,2",
    "S2,2026-01-05T10:50:00-05:00,C7,331,silver,MUG,2",
]


@pytest.mark.parametrize("engine", ["cpsat", "highs", "greedy"])
def test_congestion_of_one_everywhere_allocates_as_without_events(
    tiny_network: Network, make_orders: MakeOrders, engine: str
) -> None:
    """Every lane set to 1 (no delay) at 08:00, on a day short of room
    (splits, deferrals, Platinum's fallback): the rows are those of the
    run without events, byte for byte."""
    net = tiny_network
    orders = make_orders(_MIXED)
    capacity = np.array([4.0, 5.0, 2.0])
    conf = AllocationSettings(engine=engine, batch_minutes=30)
    kw: dict[str, Any] = {"settings": conf, "capacity": capacity}
    plain = DayAllocator(net, orders, **kw).run()
    ones = [e for node in net.node_ids for e in _congested(net, node, 1.0)]
    out = DayAllocator(net, orders, events=ones, **kw).run()
    assert (plain.rows["status"] == "deferred").any()
    pd.testing.assert_frame_equal(out.rows, plain.rows)
    assert out.summary()["total_cost"] == plain.summary()["total_cost"]


@pytest.mark.parametrize("committed", [1, 2])
def test_a_resumed_run_takes_the_congested_room_again(
    tiny_network: Network, make_orders: MakeOrders, committed: int
) -> None:
    """WH-EAST (4 units) at x2 from 08:00: the first batch's two Tees fill
    it (2 x 2), so the next batches' go elsewhere. Killed after a batch and
    resumed, the run takes the committed Tees at x2 again (at x1 WH-EAST
    kept 2 units, and took two more Tees): the rows are the whole run's."""
    net = tiny_network
    orders = make_orders(_tees(6))
    conf = AllocationSettings(batch_minutes=10, release_minutes=600)
    events = _congested(net, "WH-EAST", 2.0)

    def allocator(sink: MemorySink, on_batch: Any = None) -> DayAllocator:
        return DayAllocator(
            net, orders, settings=conf, capacity=np.array([4.0, 800.0, 100.0]),
            events=events, sink=sink, on_batch=on_batch,
        )  # fmt: skip

    whole = allocator(MemorySink()).run()
    assert (whole.rows["node_id"] == "WH-EAST").sum() == 2
    again = resumed_after_crash(allocator, committed)
    pd.testing.assert_frame_equal(again.run().rows, whole.rows)
    assert again.remaining()[net.node_idx("WH-EAST")] == 0.0


def test_a_pulled_back_order_gives_back_the_room_it_took(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """An order placed taking 2.5 units (a lane at x2.5) gives 2.5 back when
    an event pulls it back, not its workload of 1."""
    orders = make_orders(_tees(1))
    ledger = CapacityLedger(tiny_network, orders)
    east = tiny_network.node_idx("WH-EAST")
    room = ledger.remaining().copy()
    ledger.place(0, east, 9.0, 0, np.datetime64("2026-01-05T14:00:00"), 2.5)
    assert ledger.remaining()[east] == room[east] - 2.5
    pulled = ledger.pull_back({east: _EIGHT_ET})
    assert pulled[0].work == 2.5
    assert np.array_equal(ledger.remaining(), room)


_TIERS = ("platinum", "gold", "silver", "overflow")
_SKUS = ("TEE", "MUG", "SPRAY")
_DESTS = (100, 606, 900, 981, 331)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lanes=st.lists(st.floats(1.0, 100.0, allow_nan=False), min_size=12, max_size=12),
    baskets=st.lists(
        st.tuples(
            st.sampled_from(_TIERS),
            st.sampled_from(_DESTS),
            st.lists(st.sampled_from(_SKUS), min_size=1, max_size=3, unique=True),
            st.integers(1, 3),
        ),
        min_size=1,
        max_size=8,
    ),
    engine=st.sampled_from(["cpsat", "highs", "greedy"]),
)
def test_no_node_takes_more_than_its_room_under_any_congestion(
    tiny_network: Network,
    make_orders: MakeOrders,
    lanes: list[float],
    baskets: list[tuple[str, int, list[str], int]],
    engine: str,
) -> None:
    """Any congestion on every lane from 08:00, any small day (orders of
    one to three SKUs): every batch's solution verifies (the allocator
    refuses one that does not) and no node's lines, at their lanes'
    congestion, take more than its capacity."""
    net = tiny_network
    orders = make_orders(
        [
            f"O{k},2026-01-05T{9 + k // 4:02d}:{(k % 4) * 15:02d}:00-05:00,"
            f"C{k},{dest},{tier},{sku},{qty}"
            for k, (tier, dest, skus, qty) in enumerate(baskets)
            for sku in skus
        ]
    )
    congestion = np.array(lanes).reshape(net.n_nodes, len(SERVICES))
    events = [
        CapacityEvent(f"c{j}-{s}", _EIGHT_ET, j, "congestion", float(v), service=s)
        for (j, s), v in np.ndenumerate(congestion)
    ]
    capacity = np.array([6.0, 5.0, 3.0])
    run = DayAllocator(
        net, orders, settings=AllocationSettings(engine=engine, batch_minutes=30),
        capacity=capacity, events=events,
    )  # fmt: skip
    out = run.run()
    assert np.array_equal(run.monitor.congestion, congestion)
    load = _lane_load(net, out.rows, congestion)
    assert (load <= capacity * (1 + 1e-9) + 1e-9).all(), load
    # the ledger's figure is the rows'
    np.testing.assert_allclose(capacity - run.remaining(), load, atol=1e-9)
    assert_rows_verify(net, orders, out.rows, capacity)


#: 09:12 New York: after the first 10-minute batch (09:10), before the next.
_NINE_TWELVE = _EIGHT_ET + 72 * 60


def _rise_day(
    net: Network,
    make_orders: MakeOrders,
    events: list[CapacityEvent],
    sink: MemorySink | None = None,
    on_batch: Any = None,
) -> DayAllocator:
    """Six Tees for New York from 09:00, batches of 10 minutes, nothing
    released all day; WH-EAST 4 units: at x1 the first four ship by ground
    from it, the last two from ST-CHI."""
    return DayAllocator(
        net, make_orders(_tees(6)),
        settings=AllocationSettings(batch_minutes=10, release_minutes=600),
        capacity=np.array([4.0, 800.0, 100.0]), events=events, sink=sink,
        on_batch=on_batch,
    )  # fmt: skip


def _lane(
    net: Network, node: str, service: str, factor: float, at: float
) -> CapacityEvent:
    """One lane's congestion event."""
    i, s = net.node_idx(node), SERVICES.index(service)
    return CapacityEvent(f"{node}-{service}-{at}", at, i, "congestion", factor, s)


def test_a_rise_of_a_lanes_congestion_pulls_back_its_unreleased_orders(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST's ground lane at x2 from 09:12: T00 and T01, placed at 09:10
    taking 1 unit each, would take 2 now. They are pulled back and solved
    again with the 09:20 batch at x2: two Tees fill WH-EAST (2 x 2), the
    other two go to ST-CHI, and the rows say which lane moved them. Until
    2026-12-06 they stayed at x1, and T02 took the 2 units the ledger said
    were left: 6 units of WH-EAST's 4 at the lane's factor."""
    net = tiny_network
    assert set(_rise_day(net, make_orders, []).run().rows["service"]) == {"ground"}
    run = _rise_day(
        net, make_orders, [_lane(net, "WH-EAST", "ground", 2.0, _NINE_TWELVE)]
    )
    out = run.run()
    rows = out.rows.set_index("order_id")
    assert rows["node_id"].to_dict() == {
        "T00": "ST-CHI", "T01": "ST-CHI", "T02": "WH-EAST",
        "T03": "WH-EAST", "T04": "ST-CHI", "T05": "ST-CHI",
    }  # fmt: skip
    why = "rerouted from WH-EAST after a capacity event (lane ground congested x2)"
    assert rows.loc[["T00", "T01"], "reason"].tolist() == [why, why]
    assert rows.loc[["T00", "T01"], "batch"].tolist() == [1, 1]
    assert [s.pulled_back for s in out.stats] == [(), ("T00", "T01"), ()]
    summary = out.summary()
    assert (summary["rerouted"], summary["pulled_back"]) == (2, 2)
    load = _lane_load(net, out.rows, run.monitor.congestion)
    assert load.tolist() == [4.0, 0.0, 4.0]
    np.testing.assert_allclose(np.array([4.0, 800.0, 100.0]) - run.remaining(), load)
    assert_rows_verify(net, run.orders, out.rows, np.array([4.0, 800.0, 100.0]))


def test_a_fall_or_another_lanes_rise_pulls_nothing_back(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST's ground lane at x2 from 08:00 falls to x1 at 09:12, and its
    next-day lane (which no Tee uses) rises to x50: nothing is pulled back.
    T00 and T01 keep the 2 units each they took (WH-EAST full: the later
    Tees ship from ST-CHI), and an outage at 09:25 gives those 4 back, not
    their workload at the new factor; their rows name no lane."""
    net = tiny_network
    events = [
        _lane(net, "WH-EAST", "ground", 2.0, _EIGHT_ET),
        _lane(net, "WH-EAST", "ground", 1.0, _NINE_TWELVE),
        _lane(net, "WH-EAST", "next_day", 50.0, _NINE_TWELVE),
    ]
    east = net.node_idx("WH-EAST")
    run = _rise_day(net, make_orders, events)
    out = run.run()
    assert [s.pulled_back for s in out.stats] == [(), (), ()]
    assert (out.rows["node_id"] == "WH-EAST").sum() == 2
    assert run.ledger.used[east] == 4.0
    assert [p.work for p in run.ledger.placed.values() if p.node == east] == [2.0] * 2
    outage = CapacityEvent("down", _NINE_TWELVE + 13 * 60, east, "outage", 1.0)
    run = _rise_day(net, make_orders, [*events, outage])
    out = run.run()
    assert [s.pulled_back for s in out.stats] == [(), (), ("T00", "T01")]
    assert run.ledger.used[east] == 0.0
    rows = out.rows.set_index("order_id")
    why = "rerouted from WH-EAST after a capacity event"
    assert rows.loc[["T00", "T01"], "reason"].tolist() == [why, why]


@pytest.mark.parametrize(("rise", "pulled"), [(1.5, ()), (2.5, ("T00", "T01"))])
def test_a_rise_is_judged_against_the_factor_an_order_was_decided_at(
    tiny_network: Network,
    make_orders: MakeOrders,
    rise: float,
    pulled: tuple[str, ...],
) -> None:
    """WH-EAST's ground lane at x2 from 08:00: T00 and T01 take 2 units each
    at 09:10 (WH-EAST full). It falls to x1 at 09:12 (nothing moves) and
    rises at 09:22: to x1.5, under the x2 they hold, nothing is pulled back
    and they keep their batch; to x2.5 both are pulled back. Until
    2026-12-06 the rise was judged against the batch before's x1, and x1.5
    pulled both back to be solved again for room they held."""
    net = tiny_network
    events = [
        _lane(net, "WH-EAST", "ground", 2.0, _EIGHT_ET),
        _lane(net, "WH-EAST", "ground", 1.0, _NINE_TWELVE),
        _lane(net, "WH-EAST", "ground", rise, _NINE_TWELVE + 10 * 60),
    ]
    run = _rise_day(net, make_orders, events)
    out = run.run()
    assert [s.pulled_back for s in out.stats] == [(), (), pulled]
    rows = out.rows.set_index("order_id")
    if not pulled:
        assert rows.loc[["T00", "T01"], "node_id"].tolist() == ["WH-EAST"] * 2
        assert rows.loc[["T00", "T01"], "batch"].tolist() == [0, 0]
        assert run.ledger.used[net.node_idx("WH-EAST")] == 4.0
    else:
        assert rows.loc[["T00", "T01"], "batch"].tolist() == [2, 2]
    load = _lane_load(net, out.rows, run.monitor.congestion)
    assert load[net.node_idx("WH-EAST")] <= 4.0 + 1e-9
    assert_rows_verify(net, run.orders, out.rows, np.array([4.0, 800.0, 100.0]))


@pytest.mark.parametrize("committed", [1, 2])
def test_a_resumed_run_pulls_back_on_a_lanes_rise_as_the_whole_run(
    tiny_network: Network, make_orders: MakeOrders, committed: int
) -> None:
    """The run of the ground lane's rise at 09:12, killed after one batch
    (the placements taken again from the rows must know their lane, or the
    rise pulls nothing back) or after the pull-back, and resumed: the rows
    and WH-EAST's room are the whole run's."""
    net = tiny_network
    events = [_lane(net, "WH-EAST", "ground", 2.0, _NINE_TWELVE)]
    whole = _rise_day(net, make_orders, events)
    rows = whole.run().rows
    again = resumed_after_crash(
        lambda sink, on_batch: _rise_day(net, make_orders, events, sink, on_batch),
        committed,
    )
    pd.testing.assert_frame_equal(again.run().rows, rows)
    np.testing.assert_array_equal(again.remaining(), whole.remaining())


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    morning=st.lists(st.floats(1.0, 10.0), min_size=12, max_size=12),
    noon=st.lists(st.floats(1.0, 10.0), min_size=12, max_size=12),
    baskets=st.lists(
        st.tuples(
            st.sampled_from(_TIERS),
            st.sampled_from(_DESTS),
            st.lists(st.sampled_from(_SKUS), min_size=1, max_size=2, unique=True),
        ),
        min_size=2,
        max_size=8,
    ),
    engine=st.sampled_from(["cpsat", "highs", "greedy"]),
)
def test_no_unreleased_order_holds_less_room_than_its_lane_asks(
    tiny_network: Network,
    make_orders: MakeOrders,
    morning: list[float],
    noon: list[float],
    baskets: list[tuple[str, int, list[str]]],
    engine: str,
) -> None:
    """Every lane's congestion set at 08:00 and again at 10:00 (rising or
    falling), orders from 09:00 to 10:45, none released all day: every row
    takes its workload times its lane's factor at its batch, the nodes'
    sums are the ledger's and within capacity, and no order shipped whole
    holds a lower factor than its lane's at the day's end (a rise pulled it
    back and solved it again at the new one; split lines stay)."""
    net = tiny_network
    orders = make_orders(
        [
            f"O{k},2026-01-05T{9 + k // 4:02d}:{(k % 4) * 15:02d}:00-05:00,"
            f"C{k},{dest},{tier},{sku},1"
            for k, (tier, dest, skus) in enumerate(baskets)
            for sku in skus
        ]
    )
    events = [
        CapacityEvent(f"c{at}-{j}-{s}", at, j, "congestion", float(v), service=s)
        for at, lanes in ((_EIGHT_ET, morning), (_EIGHT_ET + 7200, noon))
        for (j, s), v in np.ndenumerate(np.array(lanes).reshape(net.n_nodes, -1))
    ]
    capacity = np.array([6.0, 5.0, 3.0])
    conf = AllocationSettings(engine=engine, batch_minutes=30, release_minutes=600)
    run = DayAllocator(net, orders, settings=conf, capacity=capacity, events=events)
    out = run.run()
    done = out.rows[out.rows["status"] == "allocated"].reset_index(drop=True)
    batches = sorted(set(done["batch"].astype(int)))
    at_batch = run.ledger.congestion_at([run.plan.seconds(b) for b in batches])
    node = done["node_id"].map(net.node_index).to_numpy(int)
    service = done["service"].map(SERVICES.index).to_numpy(int)
    factor = np.array(
        [at_batch[batches.index(int(b))][n, s] for b, n, s in
         zip(done["batch"], node, service, strict=True)]
    )  # fmt: skip
    sku = done["sku"].map(net.sku_index).to_numpy(int)
    work = net.sku_complexity[sku] * done["quantity"].to_numpy(float) * factor
    load = np.bincount(node, weights=work, minlength=net.n_nodes)
    np.testing.assert_allclose(capacity - run.remaining(), load, atol=1e-9)
    assert (load <= capacity * (1 + 1e-9) + 1e-9).all(), load
    whole = (done["split"] == "").to_numpy()
    final = run.monitor.congestion[node, service]
    assert (factor[whole] >= final[whole] - 1e-9).all()
    assert_rows_verify(net, orders, out.rows, capacity)


def _priced_day(
    net: Network, tmp_path: Path, factor: float
) -> tuple[np.ndarray, float]:
    """The batches' bid prices at 15:00 New York of a 400-order day with a
    week's history, every WH-EAST lane at ``factor`` from 08:00, and the
    rest of the day's expected work counted plain: WH-EAST's room is 0.6
    of that work, the other nodes' all they could want, and every node
    holds a thousand times its stock (the room, not the units, is short:
    the tiny network's 122 units at WH-EAST ship none of that room's
    work, and the LP's stock rows know it)."""
    day = dt.date(2026, 1, 14)
    week = generate_orders(
        net, n_orders=2800, days=7, seed=7, start=day - dt.timedelta(days=7)
    )
    today = generate_orders(net, n_orders=400, days=1, seed=1, start=day)
    history = read_orders(write_orders(week, tmp_path / "week.csv"), net)
    orders = read_orders(write_orders(today, tmp_path / "day.csv"), net)
    now = np.datetime64("2026-01-14T20:00:00", "s")
    seen = np.flatnonzero(orders.created_at < now)
    forecast = DemandForecast.from_history(history, net)
    east = net.node_idx("WH-EAST")
    at = dt.datetime(2026, 1, 14, 13, 0, tzinfo=dt.UTC).timestamp()
    events = _congested(net, "WH-EAST", factor, at=at)
    wide = np.full(net.n_nodes, 1e9)
    stock = net.inventory * 1000
    probe = BatchBidPrices(
        net, orders, TierPolicy(), np.ones(orders.n_orders),
        CapacityLedger(net, orders, capacity=wide, stock=stock), AllocationSettings(),
        forecast=forecast,
    )  # fmt: skip
    sample = probe.outlook.sample(
        now, seen, capacity=wide, stock=probe.ledger.stock, draw=0
    )
    assert sample is not None
    work = float(sample.workload @ sample.multiplicity)
    capacity = wide.copy()
    capacity[east] = 0.6 * work
    ledger = CapacityLedger(net, orders, events=events, capacity=capacity, stock=stock)
    ledger.apply_events(float(now.astype(np.int64)))
    bids = BatchBidPrices(
        net, orders, TierPolicy(), np.ones(orders.n_orders), ledger,
        AllocationSettings(deterministic=True), forecast=forecast,
    )  # fmt: skip
    bids.mark_seen(seen)
    bids.refresh(now, seen[-1:], batch=0)
    return bids.prices, work


def test_the_bid_prices_see_the_demand_to_come_on_a_congested_lane(
    tiny_network: Network, tmp_path: Path
) -> None:
    """Every WH-EAST lane at x3 while the rest of the day's work (about
    1,350 units, 37 % of it cheapest from WH-EAST) fits its 0.6 of it at x1:
    at x3 what WH-EAST would ship takes three times its workload of it and
    fills it, so its room has a price; at x1 it has none. Until 2026-12-06
    the bid-price LP counted the demand to come at its plain workload
    whatever the lanes: WH-EAST priced at 0 under x3 too, and the batches
    sent it orders that its room, at x3, could not take."""
    east = tiny_network.node_idx("WH-EAST")
    plain, work = _priced_day(tiny_network, tmp_path, 1.0)
    assert work > 1000.0
    assert plain.tolist() == [0.0, 0.0, 0.0]
    congested, _ = _priced_day(tiny_network, tmp_path, 3.0)
    assert congested[east] > 0.1, congested
    others = np.arange(tiny_network.n_nodes) != east
    assert (congested[others] == 0.0).all()
