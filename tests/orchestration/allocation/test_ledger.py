"""The capacity ledger: take, release and pull back round-trip; events; resume."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tests.orchestration.allocation.conftest import MakeOrders
from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network
from tierflow.orchestration.allocation.batch_plan import BatchPlan, epoch_seconds
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.ledger import CapacityLedger
from tierflow.orchestration.allocation.resume import restore

ROWS = [
    "A,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,2",
    "A,2026-01-05T09:00:00-05:00,C1,100,gold,MUG,1",
    "B,2026-01-05T10:30:00-05:00,C2,100,gold,TEE,1",
]
T10 = np.datetime64("2026-01-05T15:00:00", "s")  # 10:00 New York


def _at(hour: int) -> float:
    return dt.datetime(2026, 1, 5, hour, 0, tzinfo=dt.UTC).timestamp()


def test_take_and_release_round_trip(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(ROWS)
    ledger = CapacityLedger(tiny_network, orders)
    east, west = tiny_network.node_idx("WH-EAST"), tiny_network.node_idx("WH-WEST")
    stock, room = ledger.stock.copy(), ledger.remaining()
    ledger.take_order(0, east)
    tee, mug = tiny_network.sku_idx(["TEE", "MUG"])
    assert ledger.stock[east, tee] == stock[east, tee] - 2
    assert ledger.stock[east, mug] == stock[east, mug] - 1
    assert ledger.used[east] == 2 * 1.0 + 1.5  # TEE 1, MUG 1.5 per unit
    ledger.take_line(west, tee, 1, 1.0)
    ledger.release_order(0, east)
    ledger.take_line(west, tee, -1, -1.0)
    assert np.array_equal(ledger.stock, stock)
    assert np.array_equal(ledger.remaining(), room)
    assert np.array_equal(ledger.initial_stock, stock)


def test_pull_back_gives_unreleased_placements_back(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(ROWS)
    ledger = CapacityLedger(tiny_network, orders, release_minutes=60)
    east = tiny_network.node_idx("WH-EAST")
    stock = ledger.stock.copy()
    ledger.place(0, east, 7.5, 0, T10)  # released at 11:00 New York
    ledger.place(1, east, 4.0, 1, T10 + np.timedelta64(2, "h"))
    assert ledger.placed[0].release_ts == epoch_seconds(T10) + 3600
    pulled = ledger.pull_back({east: _at(17)})  # 12:00 New York
    assert list(pulled) == [1]
    assert pulled[1].cost == 4.0 and pulled[1].node == east
    assert list(ledger.placed) == [0]
    assert ledger.pull_back({tiny_network.node_idx("WH-WEST"): _at(15)}) == {}
    ledger.pull_back({east: _at(14)})
    assert ledger.placed == {} and np.array_equal(ledger.stock, stock)
    assert ledger.used[east] == 0.0


def test_events_report_the_nodes_whose_capacity_fell(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    east, chi = tiny_network.node_idx("WH-EAST"), tiny_network.node_idx("ST-CHI")
    events = [
        CapacityEvent("up", _at(14), chi, "staffing", 150.0),
        CapacityEvent("down", _at(16), east, "outage", 1.0),
    ]
    ledger = CapacityLedger(tiny_network, make_orders(ROWS), events=events[::-1])
    assert ledger.apply_events(_at(15)) == {}
    assert ledger.apply_events(_at(17)) == {east: _at(16)}
    assert ledger.effective_capacity()[east] == 0.0
    assert ledger.apply_events(_at(23)) == {}
    ledger.record(_at(17))
    assert ledger.trace[0][0] == _at(17)


def test_an_outage_over_by_the_batch_boundary_hits_no_node(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """Events are applied at a batch boundary: a node closed at 16:00 and open
    again at 16:10 has its capacity at 17:00, and its unreleased orders stay
    (they were pulled back and released a batch later, past a cutoff maybe);
    one that fell and is still down is hit from when it went down for good."""
    east, west = tiny_network.node_idx("WH-EAST"), tiny_network.node_idx("WH-WEST")
    minutes = 60.0
    events = [
        CapacityEvent("down", _at(16), east, "outage", 1.0),
        CapacityEvent("up", _at(16) + 10 * minutes, east, "outage", 0.0),
        CapacityEvent("w-down", _at(16), west, "outage", 1.0),
        CapacityEvent("w-up", _at(16) + 10 * minutes, west, "outage", 0.0),
        CapacityEvent("w-half", _at(16) + 20 * minutes, west, "staffing", 50.0),
    ]
    ledger = CapacityLedger(tiny_network, make_orders(ROWS), events=events)
    assert ledger.apply_events(_at(17)) == {west: _at(16) + 20 * minutes}
    assert ledger.effective_capacity()[east] == tiny_network.capacity[east]


def test_restore_rebuilds_the_ledger_of_a_run(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """A run's committed rows, taken again, leave the ledger as the run did."""
    orders = make_orders(
        [
            *ROWS,
            "M,2026-01-05T11:00:00-05:00,C3,606,silver,MUG,1",  # split
            "M,2026-01-05T11:00:00-05:00,C3,606,silver,SPRAY,1",
        ]
    )
    settings = AllocationSettings(engine="greedy", batch_minutes=30)
    allocator = DayAllocator(tiny_network, orders, settings=settings)
    out = allocator.run()
    plan = BatchPlan.of(orders, settings)
    ledger = CapacityLedger(tiny_network, orders)
    assert restore(out.rows, plan, ledger, tiny_network) == len(plan)
    assert np.array_equal(ledger.stock, allocator.ledger.stock)
    assert np.allclose(ledger.used, allocator.ledger.used)
    ran, restored = allocator.ledger.placed, ledger.placed
    assert list(restored) == list(ran)
    for order, p in ran.items():
        assert (restored[order].node, restored[order].batch) == (p.node, p.batch)
        assert restored[order].release_ts == p.release_ts
        assert restored[order].cost == pytest.approx(p.cost)
    assert restore(out.rows.iloc[:0], plan, ledger, tiny_network) == 0
