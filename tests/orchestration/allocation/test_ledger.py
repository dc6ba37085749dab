"""The capacity ledger: take, release and pull back round-trip; events; resume."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_NETWORK
from tests.orchestration.allocation.conftest import HEADER, MakeOrders
from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders
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


def _cheap_light_parcels(folder: Path) -> Network:
    """The tiny network with a parcel up to 1 kg at $1 in every zone, and
    one up to 5 kg at $50 a zone: two light lines ship for far less than
    one order of both (and than its wait, priced at the nearest node)."""
    shutil.copytree(TINY_NETWORK, folder)
    rates = ["service,zone,max_weight_kg,cost"]
    for service in ("next_day", "two_day", "ground", "economy"):
        for zone in range(2, 9):
            rates += [
                f"{service},{zone},1,1.00",
                f"{service},{zone},5,{50 * zone}.00",
                f"{service},{zone},30,{50 * zone + 10}.00",
            ]
    (folder / "rates.csv").write_text("\n".join(rates) + "\n")
    return load_network(folder)


def _split_day(tmp_path: Path) -> tuple[Network, Orders, np.ndarray]:
    """A day with an order split across two nodes (M: MUG only at WH-EAST,
    SPRAY only at WH-WEST) and one split at one node (L, to Los Angeles:
    only WH-EAST holds its TEE and MUG, 1.1 kg whole, at zone 8; waiting is
    priced at WH-WEST, zone 2, and is cheaper than shipping L whole, while
    each line, under 1 kg, ships for less than its share of the wait)."""
    network = _cheap_light_parcels(tmp_path / "network")
    rows = [
        *ROWS,
        "M,2026-01-05T11:00:00-05:00,C3,606,silver,MUG,1",
        "M,2026-01-05T11:00:00-05:00,C3,606,silver,SPRAY,1",
        "L,2026-01-05T11:10:00-05:00,C4,900,gold,TEE,2",
        "L,2026-01-05T11:10:00-05:00,C4,900,gold,MUG,1",
    ]
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    stock = network.inventory.copy()
    tee = network.sku_index["TEE"]
    stock[network.node_idx("WH-WEST"), tee] = 0
    stock[network.node_idx("ST-CHI"), tee] = 0
    return network, read_orders(path, network), stock


def _assert_same_ledger(restored: CapacityLedger, ran: CapacityLedger) -> None:
    assert np.array_equal(restored.stock, ran.stock)
    assert np.allclose(restored.used, ran.used)
    assert list(restored.placed) == list(ran.placed)
    for order, p in ran.placed.items():
        again = restored.placed[order]
        assert (again.node, again.batch, again.release_ts) == (
            p.node,
            p.batch,
            p.release_ts,
        )
        assert again.cost == pytest.approx(p.cost)


def test_restore_takes_the_lines_of_an_order_split_at_one_node(
    tmp_path: Path,
) -> None:
    """The run takes the lines of an order it solved as split lines one by
    one, even when they all went to one node: it is never placed, so no
    later outage pulls it back. Restore placed such an order whole (its
    rows sat at one node and covered its lines), so a resumed run's ledger
    held a placement the uninterrupted run's did not; the rows' ``split``
    mark now decides, as the run's own stage did."""
    network, orders, stock = _split_day(tmp_path)
    settings = AllocationSettings(engine="greedy", batch_minutes=30)
    allocator = DayAllocator(network, orders, settings=settings, stock=stock)
    out = allocator.run()
    rows = out.rows.set_index(["order_id", "sku"])
    assert rows.loc["L", "node_id"].tolist() == ["WH-EAST", "WH-EAST"]
    assert rows.loc["L", "split"].tolist() == ["room", "room"]
    assert rows.loc["M", "node_id"].tolist() == ["WH-EAST", "WH-WEST"]
    assert rows.loc["M", "split"].tolist() == ["stock", "stock"]
    assert set(out.rows["status"]) == {"allocated"}
    assert sorted(allocator.ledger.placed) == [0, 1]  # A and B, not L nor M
    plan = BatchPlan.of(orders, settings)
    ledger = CapacityLedger(network, orders, stock=stock)
    assert restore(out.rows, plan, ledger, network) == len(plan)
    _assert_same_ledger(ledger, allocator.ledger)


@pytest.mark.parametrize("older", ["empty", "missing"])
def test_restore_without_split_marks_judges_by_the_rows_nodes(
    tmp_path: Path, older: str
) -> None:
    """Rows of a store from before the ``split`` column read it empty (or
    lack it): an order is then whole when its rows sit at one node and
    cover its lines (L is placed), split otherwise (M's lines are taken)."""
    network, orders, stock = _split_day(tmp_path)
    settings = AllocationSettings(engine="greedy", batch_minutes=30)
    out = DayAllocator(network, orders, settings=settings, stock=stock).run()
    committed = (
        out.rows.assign(split="")
        if older == "empty"
        else out.rows.drop(columns=["split"])
    )
    ledger = CapacityLedger(network, orders, stock=stock)
    plan = BatchPlan.of(orders, settings)
    assert restore(committed, plan, ledger, network) == len(plan)
    l_order = orders.order_ids.index("L")
    assert sorted(ledger.placed) == [0, 1, l_order]
    assert ledger.placed[l_order].node == network.node_idx("WH-EAST")
    assert ledger.placed[l_order].cost == pytest.approx(14.5)


def test_an_order_with_an_unfillable_line_is_placed_and_restored_as_its_other_lines(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """W's 3 SOFA no node holds: W is placed whole as its TEE and MUG at
    WH-EAST (their stock and 1 + 1.5 units of room, none for the SOFA), and
    restore places it again from its two allocated rows (it compared them
    with W's three lines, and took them as split lines: no outage could
    have pulled W back in the resumed run)."""
    orders = make_orders(
        [
            "W,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",
            "W,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1",
            "W,2026-01-05T10:00:00-05:00,C1,100,gold,SOFA,3",
        ]
    )
    settings = AllocationSettings(engine="greedy")
    allocator = DayAllocator(tiny_network, orders, settings=settings)
    out = allocator.run()
    east = tiny_network.node_idx("WH-EAST")
    assert list(allocator.ledger.placed) == [0]
    assert allocator.ledger.placed[0].node == east
    assert allocator.ledger.used[east] == pytest.approx(2.5)
    sofa = tiny_network.sku_index["SOFA"]
    assert allocator.ledger.stock[east, sofa] == 2
    plan = BatchPlan.of(orders, settings)
    ledger = CapacityLedger(tiny_network, orders)
    assert restore(out.rows, plan, ledger, tiny_network) == len(plan)
    _assert_same_ledger(ledger, allocator.ledger)
