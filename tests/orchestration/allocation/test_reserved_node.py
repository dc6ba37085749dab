"""A Platinum line reserved at a node at checkout (``orders.csv``'s
``node_id``, the store's export) is kept there while the node can take it.

The network is the tiny one with WH-WEST's cutoff at 15:00 Pacific, so both
warehouses close at 18:00 Eastern: an order of 17:55 ET decided in the
batch of 18:10 ET ships today only where its cutoff is judged at its own
time. WH-EAST (New Jersey) is the cheaper node for a New York order.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.allocation_checks import assert_rows_verify
from tests.conftest import TINY_NETWORK
from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)

HEADER = "order_id,created_at,customer_id,dest,tier,sku,quantity,node_id\n"
#: Placed 17:55 ET; its batch (15 minutes from the day's first order) is
#: decided at 18:10 ET, past both warehouses' 18:00 ET cutoffs.
RESERVED = "R,2026-01-05T17:55:00-05:00,C1,100,platinum,TEE,1,WH-WEST"
PLACED = "2026-01-05T22:55:00Z"
BATCH = "2026-01-05T23:10:00Z"
SETTINGS = AllocationSettings(batch_minutes=15, release_minutes=60)
LATE = "late: no node with the stock and room could deliver by the promised date"


@pytest.fixture
def net(tmp_path: Path) -> Network:
    """The tiny network, WH-WEST's cutoff at 15:00 PT (18:00 ET)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = pd.read_csv(folder / "nodes.csv", dtype=str)
    nodes.loc[nodes["node_id"] == "WH-WEST", "cutoff_local"] = "15:00"
    nodes.to_csv(folder / "nodes.csv", index=False)
    return load_network(folder)


def _orders(tmp_path: Path, net: Network, rows: list[str]) -> Orders:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return read_orders(path, net)


def _outage(net: Network, node: str, hour: int, minute: int) -> CapacityEvent:
    at = dt.datetime(2026, 1, 5, hour, minute, tzinfo=dt.UTC).timestamp()
    return CapacityEvent("out", at, net.node_idx(node), "outage", 1.0)


def _run(
    net: Network, orders: Orders, events: list[CapacityEvent] | None = None
) -> pd.DataFrame:
    rows = DayAllocator(net, orders, settings=SETTINGS, events=events or []).run().rows
    assert_rows_verify(net, orders, rows, net.capacity)
    return rows.set_index("order_id")


def test_a_platinum_line_reserved_at_a_node_stays_there_at_its_own_time(
    tmp_path: Path, net: Network
) -> None:
    """Reserved at WH-WEST, it ships today from there (its cutoff judged at
    17:55 ET, the order's time); WH-EAST, cheaper, would have shipped it
    today too only as if it had held it since checkout (until 2026-12-06 it
    went there). A Gold line naming WH-WEST is decided at its batch: from
    WH-EAST, past its cutoff, tomorrow."""
    orders = _orders(
        tmp_path,
        net,
        [RESERVED, "G,2026-01-05T17:56:00-05:00,C2,100,gold,TEE,1,WH-WEST"],
    )
    rows = _run(net, orders)
    r = rows.loc["R"]
    assert (r["status"], r["node_id"], r["service"]) == (
        "allocated",
        "WH-WEST",
        "next_day",
    )
    assert (r["released_at"], r["ship_date"], r["delivery_date"]) == (
        PLACED, "2026-01-05", "2026-01-06",
    )  # fmt: skip
    g = rows.loc["G"]
    assert (g["node_id"], g["released_at"], g["ship_date"]) == (
        "WH-EAST", BATCH, "2026-01-06",
    )  # fmt: skip
    # the same order without the column goes where it went before: WH-EAST,
    # its cutoff judged at the order's time there too
    plain = read_orders(_plain(tmp_path, RESERVED), net)
    before = _run(net, plain).loc["R"]
    assert (before["node_id"], before["released_at"], before["ship_date"]) == (
        "WH-EAST", PLACED, "2026-01-05",
    )  # fmt: skip
    assert float(before["cost"]) < float(r["cost"])


def _plain(tmp_path: Path, row: str) -> Path:
    """``row`` in an orders file without ``node_id``."""
    path = tmp_path / "plain.csv"
    path.write_text(HEADER.replace(",node_id", "") + row.rsplit(",", 1)[0] + "\n")
    return path


def test_a_reserved_node_closed_before_the_batch_resolves_the_order_at_it(
    tmp_path: Path, net: Network
) -> None:
    """WH-WEST closed at 18:05 ET (before the batch of 18:10): the order is
    decided as any order at its batch, WH-EAST's cutoff judged at 18:10 ET:
    it ships tomorrow, a day late (no node can keep the promise)."""
    rows = _run(
        net, _orders(tmp_path, net, [RESERVED]), [_outage(net, "WH-WEST", 23, 5)]
    )
    r = rows.loc["R"]
    assert (r["status"], r["node_id"], r["released_at"]) == (
        "allocated",
        "WH-EAST",
        BATCH,
    )
    assert (r["ship_date"], r["delivery_date"]) == ("2026-01-06", "2026-01-07")
    # it says why it left WH-WEST after why it is late (until 2026-12-06
    # it said it was late alone)
    assert r["reason"] == f"{LATE}; left reserved node WH-WEST: closed"


def test_a_reserved_order_pulled_back_by_an_event_is_resolved_at_its_new_batch(
    tmp_path: Path, net: Network
) -> None:
    """Kept at WH-WEST in the 18:10 batch, pulled back by its outage at
    18:30 ET (before its release at 19:10): it is rerouted as any order,
    at the batch of 18:40 ET, WH-EAST shipping tomorrow."""
    rows = _run(
        net, _orders(tmp_path, net, [RESERVED]), [_outage(net, "WH-WEST", 23, 30)]
    )
    r = rows.loc["R"]
    assert (r["node_id"], r["released_at"]) == ("WH-EAST", "2026-01-05T23:40:00Z")
    assert r["ship_date"] == "2026-01-06"
    assert "rerouted from WH-WEST after a capacity event" in str(r["reason"])


def test_a_reserved_node_without_the_room_resolves_the_order_at_its_batch(
    tmp_path: Path, net: Network
) -> None:
    """WH-WEST with no room left (capacity 0 there): decided at the batch."""
    orders = _orders(tmp_path, net, [RESERVED])
    capacity = np.asarray(net.capacity, dtype=np.float64).copy()
    capacity[net.node_idx("WH-WEST")] = 0.0
    out = DayAllocator(net, orders, settings=SETTINGS, capacity=capacity).run()
    assert_rows_verify(net, orders, out.rows, capacity)
    r = out.rows.set_index("order_id").loc["R"]
    assert (r["node_id"], r["released_at"], r["ship_date"]) == (
        "WH-EAST", BATCH, "2026-01-06",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "reserved", "why"),
    [
        ("room", "WH-WEST", "no room (0.5 units left for its 1)"),
        ("stock", "WH-WEST", "no stock"),
        ("service", "ST-CHI", "no service"),
    ],
)
def test_a_line_off_its_reserved_node_says_which_node_and_why(
    tmp_path: Path, net: Network, case: str, reserved: str, why: str
) -> None:
    """The row of a Platinum line its reserved node could not take at its
    batch names that node and why, after its other reason: WH-WEST with
    0.5 units of room left for the TEE's 1, or without a TEE left; ST-CHI
    (two-day and ground only) with no service that delivers it next day.
    Until 2026-12-06 it said only that it was late."""
    orders = _orders(tmp_path, net, [RESERVED.replace("WH-WEST", reserved)])
    capacity = np.asarray(net.capacity, dtype=np.float64).copy()
    stock = np.asarray(net.inventory, dtype=np.int64).copy()
    if case == "room":
        capacity[net.node_idx("WH-WEST")] = 0.5
    if case == "stock":
        stock[net.node_idx("WH-WEST"), net.sku_idx(["TEE"])[0]] = 0
    out = DayAllocator(
        net, orders, settings=SETTINGS, capacity=capacity, stock=stock
    ).run()
    assert_rows_verify(net, orders, out.rows, capacity)
    r = out.rows.set_index("order_id").loc["R"]
    assert (r["node_id"], r["released_at"], r["ship_date"]) == (
        "WH-EAST", BATCH, "2026-01-06",
    )  # fmt: skip
    assert r["reason"] == f"{LATE}; left reserved node {reserved}: {why}"


def test_a_line_kept_at_its_reserved_node_says_nothing_of_it(
    tmp_path: Path, net: Network
) -> None:
    """Kept at WH-WEST, on time: its row has no reason (the words are for a
    line that left its node)."""
    rows = _run(net, _orders(tmp_path, net, [RESERVED]))
    assert (rows.loc["R", "node_id"], rows.loc["R", "reason"]) == ("WH-WEST", "")


def test_lines_reserved_at_two_nodes_ship_each_from_its_own(
    tmp_path: Path, net: Network
) -> None:
    """An order whose checkout held TEE at WH-WEST and MUG at WH-EAST (a
    split plan) ships split, each line from its node at the order's time:
    WH-EAST holds both and is cheaper for New York, so whole it went there."""
    orders = _orders(
        tmp_path,
        net,
        [RESERVED, "R,2026-01-05T17:55:00-05:00,C1,100,platinum,MUG,1,WH-EAST"],
    )
    rows = _run(net, orders).reset_index().set_index("sku")
    assert rows.loc["TEE", "node_id"] == "WH-WEST"
    assert rows.loc["MUG", "node_id"] == "WH-EAST"
    assert (rows["released_at"] == PLACED).all()
    assert (rows["ship_date"] == "2026-01-05").all()
