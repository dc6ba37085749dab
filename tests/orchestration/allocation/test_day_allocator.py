"""Batch allocation on the tiny network: priorities, splits, rerouting, resume.

Tiny network: WH-EAST (NJ; TEE 100, MUG 20, SOFA 2), WH-WEST (CA; TEE 50,
SPRAY 10), ST-CHI (Chicago store; TEE 5, no next-day). Complexity per unit:
TEE 1, MUG 1.5, SPRAY 2, SOFA 3.5.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.allocation_checks import Crash, assert_rows_verify, resumed_after_crash
from tests.orchestration.allocation.conftest import MakeOrders
from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network
from tierflow.data.orders import read_orders
from tierflow.data.rates import SERVICES
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationSettings,
    DayAllocator,
    MemorySink,
    batch_windows,
)
from tierflow.orchestration.allocation.outputs import write_outputs
from tierflow.solver.verify import check_allocation_rows


@pytest.fixture
def tiny(tiny_network: Network) -> Network:
    """The hand-made 3-node network."""
    return tiny_network


def test_a_raw_table_of_orders_is_refused_with_what_it_takes(tiny: Network) -> None:
    """A pandas table (the orders CSV read without ``read_orders``) failed
    deep inside with an AttributeError; it is refused up front, naming what
    the allocator takes and what it got."""
    table = pd.DataFrame({"order_id": ["A"], "sku": ["TEE"], "quantity": [1]})
    with pytest.raises(
        TypeError, match=r"takes the Orders that read_orders returns, got .*DataFrame"
    ):
        DayAllocator(tiny, table)


def test_orders_go_to_the_cheapest_node_with_stock(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """East coast TEE -> WH-EAST (zone 2), LA TEE -> WH-WEST (zone 2)."""
    orders = make_orders(
        [
            "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",
            "B,2026-01-05T10:01:00-05:00,C2,900,gold,TEE,2",
        ],
    )
    for engine in ("cpsat", "greedy", NEAREST):
        out = DayAllocator(
            tiny, orders, settings=AllocationSettings(engine=engine)
        ).run()
        by_order = out.rows.set_index("order_id")
        assert by_order.loc["A", "node_id"] == "WH-EAST", engine
        assert by_order.loc["B", "node_id"] == "WH-WEST", engine
        assert set(out.rows["status"]) == {"allocated"}
        assert_rows_verify(tiny, orders, out.rows, tiny.capacity)
        s = out.summary()
        assert s["n_allocated"] == 2 and s["n_deferred"] == 0
        assert s["total_cost"] == pytest.approx(
            s["shipping_cost"] + s["handling_cost"] + s["penalty_cost"]
        )


def test_scarce_capacity_defers_low_tiers_and_low_cltv_first(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """Room for 3 TEE units in total: platinum and the high-CLTV gold ship."""
    orders = make_orders(
        [
            "P,2026-01-05T10:00:00-05:00,C1,100,platinum,TEE,1",
            "G1,2026-01-05T10:00:00-05:00,C2,100,gold,TEE,1",
            "G2,2026-01-05T10:00:00-05:00,C3,100,gold,TEE,1",
            "S,2026-01-05T10:00:00-05:00,C4,100,silver,TEE,1",
            "O,2026-01-05T10:00:00-05:00,C5,100,overflow,TEE,1",
        ],
    )
    capacity = np.array([1.0, 1.0, 1.0])
    spend = np.array([0.0, 900.0, 10.0, 0.0, 0.0])
    for engine in ("cpsat", "highs", "greedy"):
        out = DayAllocator(
            tiny,
            orders,
            settings=AllocationSettings(engine=engine),
            capacity=capacity,
            predicted_spend=spend,
        ).run()
        status = out.rows.set_index("order_id")["status"]
        assert status["P"] == "allocated", engine
        assert status["G1"] == "allocated", engine
        assert (status == "allocated").sum() == 3, engine
        assert status["O"] == "deferred", engine
        assert_rows_verify(tiny, orders, out.rows, capacity)


def test_split_and_unfillable(tiny: Network, make_orders: MakeOrders) -> None:
    orders = make_orders(
        [
            "M,2026-01-05T10:00:00-05:00,C1,606,silver,MUG,1",
            "M,2026-01-05T10:00:00-05:00,C1,606,silver,SPRAY,1",
            "X,2026-01-05T10:00:00-05:00,C2,606,gold,SOFA,3",
        ],
    )
    out = DayAllocator(tiny, orders).run()
    rows = out.rows.set_index(["order_id", "sku"])
    assert rows.loc[("M", "MUG"), "node_id"] == "WH-EAST"
    assert rows.loc[("M", "SPRAY"), "node_id"] == "WH-WEST"
    assert rows.loc[("M", "MUG"), "reason"] == "split: no single node holds every line"
    assert rows.loc[("X", "SOFA"), "status"] == "unfillable"
    s = out.summary()
    assert s["split_orders"] == 1 and s["n_unfillable"] == 1
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


#: W asks for 3 SOFA, which no node holds (WH-EAST has 2), and a TEE and
#: a MUG, which WH-EAST holds together.
_WITH_UNFILLABLE = [
    "W,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",
    "W,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1",
    "W,2026-01-05T10:00:00-05:00,C1,100,gold,SOFA,3",
]


@pytest.mark.parametrize("engine", ["cpsat", "greedy", NEAREST, "hindsight"])
def test_the_fillable_lines_of_an_order_with_an_unfillable_line_ship_together(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """W's TEE and MUG ship as one shipment from WH-EAST: ground, zone 2,
    billed 0.882 kg (4,410 cm3 / 5,000) -> $10, handling 2 x $1.50: $13.00,
    $6.50 a line. Until 2026-12-05 they shipped as two split lines, each
    paying its own ground rate and the $4 extra shipment: 2 x $15.50 = $31.00
    (and the hindsight bound was $31.00 too). The SOFA alone is unfillable."""
    orders = make_orders(_WITH_UNFILLABLE)
    settings = (
        AllocationSettings(hindsight=True)
        if engine == "hindsight"
        else AllocationSettings(engine=engine)
    )
    out = DayAllocator(tiny, orders, settings=settings).run()
    rows = out.rows.set_index(["order_id", "sku"])
    assert len(out.rows) == 3
    assert rows.loc[("W", "SOFA"), "status"] == "unfillable"
    assert rows.loc[("W", "SOFA"), "reason"] == "no node holds the quantity ordered"
    for sku in ("TEE", "MUG"):
        line = rows.loc[("W", sku)]
        assert line["status"] == "allocated"
        assert line["node_id"] == "WH-EAST" and line["service"] == "ground"
        assert line["cost"] == pytest.approx(6.5)
        assert line["shipping"] == pytest.approx(5.0)
        assert line["handling"] == pytest.approx(1.5)
        assert line["penalty"] == 0.0
        assert line["split"] == "" and line["reason"] == ""
    s = out.summary()
    assert s["total_cost"] == pytest.approx(13.0)
    assert s["split_orders"] == 0 and s["n_unfillable"] == 1
    assert out.repriced is not None and out.repriced.problems == []
    assert out.repriced.total == pytest.approx(13.0)
    if engine == "hindsight":
        assert out.lp_bound == pytest.approx(13.0)
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


def test_the_fillable_lines_of_an_order_with_an_unfillable_line_wait_together(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """No room anywhere: W's TEE and MUG wait as one order (no split mark),
    each its share of the pair's deferral, which the repricing finds again
    from the fillable lines alone; the hindsight bound stays below."""
    orders = make_orders(_WITH_UNFILLABLE)
    capacity = np.array([0.5, 0.5, 0.5])
    out = DayAllocator(tiny, orders, capacity=capacity).run()
    rows = out.rows.set_index(["order_id", "sku"])
    assert rows.loc[("W", "SOFA"), "status"] == "unfillable"
    tee, mug = rows.loc[("W", "TEE")], rows.loc[("W", "MUG")]
    assert tee["status"] == mug["status"] == "deferred"
    assert tee["split"] == mug["split"] == ""
    assert tee["cost"] == pytest.approx(mug["cost"]) and tee["cost"] > 0
    assert out.repriced is not None and out.repriced.problems == []
    assert out.repriced.total == pytest.approx(out.summary()["total_cost"])
    hind = DayAllocator(
        tiny, orders, capacity=capacity, settings=AllocationSettings(hindsight=True)
    ).run()
    assert hind.lp_bound is not None
    assert hind.lp_bound <= out.summary()["total_cost"] + 1e-6
    assert hind.lp_bound <= hind.summary()["total_cost"] + 1e-6
    assert_rows_verify(tiny, orders, out.rows, capacity)


def test_the_fillable_lines_no_node_holds_together_split_as_usual(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """MUG only at WH-EAST, SPRAY only at WH-WEST: V's fillable lines split
    for stock, each its own shipment with the $4 extra: MUG ground $10 +
    $1.50, SPRAY two-day $20 + $1.60 (as before 2026-12-05 too); the SOFA
    alone is unfillable."""
    orders = make_orders(
        [
            "V,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1",
            "V,2026-01-05T10:00:00-05:00,C1,100,gold,SPRAY,1",
            "V,2026-01-05T10:00:00-05:00,C1,100,gold,SOFA,3",
        ]
    )
    out = DayAllocator(tiny, orders).run()
    rows = out.rows.set_index(["order_id", "sku"])
    assert rows.loc[("V", "SOFA"), "status"] == "unfillable"
    assert rows.loc[("V", "MUG"), "node_id"] == "WH-EAST"
    assert rows.loc[("V", "SPRAY"), "node_id"] == "WH-WEST"
    assert set(rows.loc[[("V", "MUG"), ("V", "SPRAY")], "split"]) == {"stock"}
    assert rows.loc[("V", "MUG"), "cost"] == pytest.approx(15.5)
    assert rows.loc[("V", "SPRAY"), "cost"] == pytest.approx(25.6)
    assert out.summary()["total_cost"] == pytest.approx(41.1)
    assert out.summary()["split_orders"] == 1
    assert out.repriced is not None and out.repriced.problems == []
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


@pytest.mark.parametrize("engine", ["cpsat", "highs", "greedy", NEAREST])
def test_an_order_whose_stock_the_day_took_is_split_for_stock(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """WH-EAST holds 2 MUG, the only ones. Batch 0 takes one; in batch 1 Z
    (MUG + TEE) could still ship whole from WH-EAST, but B (gold, high CLTV)
    takes the last MUG: Z splits because no node holds every line any more,
    with room to spare everywhere. Its lines said "room" (judged by the
    room left, not the stock), its waiting MUG "no node has the room".
    Capacity prices only: stock prices would keep the last MUG for the
    day's expected Platinum orders (test_stock_prices.py covers that)."""
    orders = make_orders(
        [
            "A,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1",
            "B,2026-01-05T11:00:00-05:00,C2,100,gold,MUG,1",
            "Z,2026-01-05T11:00:00-05:00,C3,100,silver,MUG,1",
            "Z,2026-01-05T11:00:00-05:00,C3,100,silver,TEE,1",
        ],
    )
    stock = tiny.inventory.copy()
    stock[tiny.node_index["WH-EAST"], tiny.sku_index["MUG"]] = 2
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine, stock_bid_prices=False),
        stock=stock,
        predicted_spend=np.array([0.0, 900.0, 0.0]),
    ).run()
    rows = out.rows.set_index(["order_id", "sku"])
    assert list(rows["batch"]) == [0, 1, 1, 1]
    assert rows.loc[("B", "MUG"), "node_id"] == "WH-EAST"
    tee, mug = rows.loc[("Z", "TEE")], rows.loc[("Z", "MUG")]
    assert tee["status"] == "allocated"
    assert tee["reason"] == "split: no single node holds every line"
    assert tee["split"] == "stock"
    assert mug["status"] == "deferred"
    assert mug["reason"] == (
        "deferred: the stock at every node offering the tier's service is taken"
    )
    assert mug["split"] == "stock"
    assert out.summary()["split_orders"] == 1
    # the waiting line is priced as a line of its own, as its mark says
    assert out.repriced is not None and out.repriced.problems == []
    assert out.repriced.total == pytest.approx(out.summary()["total_cost"])
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


def test_platinum_late_only_when_no_node_can_make_it(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """MUG is only at WH-EAST; at 19:00 ET its 18:00 cutoff has passed."""
    orders = make_orders(
        [
            "P1,2026-01-05T17:00:00-05:00,C1,606,platinum,MUG,1",
            "P2,2026-01-05T19:00:00-05:00,C1,606,platinum,MUG,1",
        ],
    )
    out = DayAllocator(tiny, orders, settings=AllocationSettings(batch_minutes=5)).run()
    rows = out.rows.set_index("order_id")
    assert rows.loc["P1", "delivery_date"] == "2026-01-06"
    assert rows.loc["P2", "delivery_date"] == "2026-01-07"
    assert rows.loc["P2", "reason"].startswith("late: no node with the stock and room")
    assert out.summary()["platinum_on_time_rate"] == 0.5


def test_outage_reroutes_unreleased_orders(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST fails at 11:00 ET: its orders of 10:00 (unreleased) move."""
    orders = make_orders(
        [
            "A,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,1",
            "B,2026-01-05T10:30:00-05:00,C2,100,gold,TEE,1",
            "C,2026-01-05T11:30:00-05:00,C3,100,gold,TEE,1",
        ],
    )
    east = tiny.node_idx("WH-EAST")
    at = dt.datetime(2026, 1, 5, 16, 0, tzinfo=dt.UTC).timestamp()
    outage = CapacityEvent("e1", at, east, "outage", 1.0)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    out = DayAllocator(tiny, orders, settings=settings, events=[outage]).run()
    rows = out.rows.set_index("order_id")
    assert rows.loc["A", "node_id"] == "WH-EAST"  # released at 10:00, before the outage
    assert rows.loc["B", "node_id"] != "WH-EAST"
    assert rows.loc["B", "reason"] == "rerouted from WH-EAST after a capacity event"
    assert rows.loc["C", "node_id"] != "WH-EAST"
    s = out.summary()
    assert s["rerouted"] == 1
    assert s["reroute_cost_delta"] > 0


def test_an_order_pulled_back_and_shipped_split_elsewhere_is_rerouted(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST, the one node with TEE and MUG, fails at 09:25 ET; without it
    S's lines ship from ST-CHI (TEE) and WH-WEST (MUG, 5 given it here): the
    order moved, as a whole order moving would, so its rows say so after
    their split reason and the summary counts it (they said only the split,
    and rerouted stayed 0 with no cost change). Capacity prices only, as
    stock prices would keep WH-WEST's MUGs for the day's expected
    Platinum orders."""
    orders = make_orders(
        [
            "S,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,2",
            "S,2026-01-05T09:00:00-05:00,C1,100,gold,MUG,1",
            "T,2026-01-05T09:20:00-05:00,C2,100,gold,TEE,1",
        ],
    )
    east, west = tiny.node_idx("WH-EAST"), tiny.node_idx("WH-WEST")
    stock = tiny.inventory.copy()
    tee, mug = tiny.sku_idx(["TEE", "MUG"])
    stock[west, tee], stock[west, mug] = 0, 5
    at = dt.datetime(2026, 1, 5, 14, 25, tzinfo=dt.UTC).timestamp()
    outage = CapacityEvent("e1", at, east, "outage", 1.0)
    settings = AllocationSettings(
        batch_minutes=15, release_minutes=60, stock_bid_prices=False
    )
    calm = DayAllocator(tiny, orders, settings=settings, stock=stock).run()
    was = calm.rows.loc[calm.rows["order_id"] == "S", "cost"].sum()
    out = DayAllocator(
        tiny, orders, settings=settings, stock=stock, events=[outage]
    ).run()
    rows = out.rows[out.rows["order_id"] == "S"].set_index("sku")
    assert rows["node_id"].to_dict() == {"TEE": "ST-CHI", "MUG": "WH-WEST"}
    assert set(rows["reason"]) == {
        "split: no single node had the room for the whole order; "
        "rerouted from WH-EAST after a capacity event"
    }
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"]) == (1, 1)
    assert s["reroute_cost_delta"] == pytest.approx(rows["cost"].sum() - was)
    assert s["reroute_cost_delta"] > 0
    assert out.stats[1].rerouted == 1


def test_an_order_with_an_unfillable_line_is_rerouted_whole_as_its_other_lines(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """W's 3 SOFA no node holds: W is placed whole at WH-EAST as its TEE
    and MUG; WH-EAST fails at 11:00 ET, before W is released, and W is
    rerouted whole, its TEE and MUG together at WH-WEST (the one other
    node holding both, 5 MUG given it here), the SOFA unfillable in one
    row (the reroute wrote it a second); the rows recheck against the
    stock and the room (``check_allocation_rows``)."""
    orders = make_orders(
        [
            "A,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,1",
            "W,2026-01-05T10:30:00-05:00,C2,100,gold,TEE,1",
            "W,2026-01-05T10:30:00-05:00,C2,100,gold,MUG,1",
            "W,2026-01-05T10:30:00-05:00,C2,100,gold,SOFA,3",
            "C,2026-01-05T11:30:00-05:00,C3,100,gold,TEE,1",
        ],
    )
    east, west, chi = (tiny.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI"))
    stock = tiny.inventory.copy()
    tee, mug = tiny.sku_idx(["TEE", "MUG"])
    stock[west, mug], stock[chi, tee] = 5, 0
    at = dt.datetime(2026, 1, 5, 16, 0, tzinfo=dt.UTC).timestamp()
    outage = CapacityEvent("e1", at, east, "outage", 1.0)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    calm = DayAllocator(tiny, orders, settings=settings, stock=stock).run()
    placed = calm.rows[calm.rows["status"] == "allocated"]
    assert set(placed["node_id"]) == {"WH-EAST"}
    out = DayAllocator(
        tiny, orders, settings=settings, stock=stock, events=[outage]
    ).run()
    rows = out.rows[out.rows["order_id"] == "W"].set_index("sku")
    assert rows.index.tolist().count("SOFA") == 1
    assert rows["status"].to_dict() == {
        "TEE": "allocated",
        "MUG": "allocated",
        "SOFA": "unfillable",
    }
    assert rows.loc[["TEE", "MUG"], "node_id"].tolist() == ["WH-WEST", "WH-WEST"]
    assert set(rows.loc[["TEE", "MUG"], "reason"]) == {
        "rerouted from WH-EAST after a capacity event"
    }
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"]) == (1, 1)
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity, stock)


def _outage_at(net: Network, utc: str, node: str = "WH-EAST") -> CapacityEvent:
    """``node`` closed at ``utc`` (``HH:MM`` on 2026-01-05, UTC)."""
    hour, minute = map(int, utc.split(":"))
    at = dt.datetime(2026, 1, 5, hour, minute, tzinfo=dt.UTC).timestamp()
    return CapacityEvent(f"out-{node}-{utc}", at, net.node_idx(node), "outage", 1.0)


_TWO_ORDERS = [
    "A,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,1",
    "B,2026-01-05T10:30:00-05:00,C2,100,gold,TEE,1",
]


def test_an_outage_after_the_last_batch_reroutes_its_unreleased_orders(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """The last batch (B's) closes at 10:45 ET and is released at 11:45;
    WH-EAST fails at 11:00 ET, after the last batch but before B was
    released: B is rerouted in a batch of its own at 11:00 (the 15-minute
    boundary the outage falls on), as a mid-day outage reroutes. Until the
    QA of 2026-12-06 no batch came after the last order's, so the event
    was never applied: B stayed at the failed node, `rerouted 0`."""
    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    out = DayAllocator(
        tiny, orders, settings=settings, events=[_outage_at(tiny, "16:00")]
    ).run()
    rows = out.rows.set_index("order_id")
    assert rows.loc["A", "node_id"] == "WH-EAST"  # released at 10:15
    assert rows.loc["B", "node_id"] != "WH-EAST"
    assert rows.loc["B", "reason"] == "rerouted from WH-EAST after a capacity event"
    assert rows.loc["B", "batch"] == 2
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"], s["n_batches"]) == (1, 1, 3)
    assert (s["events_applied"], s["events_after_last_batch"]) == (1, 1)
    assert [st.n_items for st in out.stats] == [1, 1, 1]
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


def test_an_event_after_every_release_moves_nothing_and_is_counted(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST fails at 12:00 ET, after B's release (11:45): nothing moves
    and no batch runs, but the event is applied to the day's final state
    (its capacity) and the summary counts it as after the last batch."""
    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    allocator = DayAllocator(
        tiny, orders, settings=settings, events=[_outage_at(tiny, "17:00")]
    )
    out = allocator.run()
    assert set(out.rows["node_id"]) == {"WH-EAST"}
    s = out.summary()
    assert (s["rerouted"], s["n_batches"]) == (0, 2)
    assert (s["events_applied"], s["events_after_last_batch"]) == (1, 1)
    assert allocator.effective_capacity()[tiny.node_idx("WH-EAST")] == 0.0


def test_an_event_before_the_first_batch_is_applied_at_it(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST fails at 08:00 ET, before the first order: no order goes
    there, and the event counts as applied, none after the last batch."""
    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    out = DayAllocator(
        tiny, orders, settings=settings, events=[_outage_at(tiny, "13:00")]
    ).run()
    assert "WH-EAST" not in set(out.rows["node_id"])
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"], s["n_batches"]) == (0, 0, 2)
    assert (s["events_applied"], s["events_after_last_batch"]) == (1, 0)


def test_an_order_pulled_back_to_wait_says_where_it_was_pulled_from(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """Every node fails at 11:00 ET: B, placed at WH-EAST at 10:45 and not
    yet released, is pulled back and waits. Its row says why it waits and
    that it was pulled back from WH-EAST, as a moved order's says it was
    rerouted (it gave the closures alone, and an operator could not tell
    it from an order that never had a node; only ``batches.jsonl``'s
    ``pulled_back`` named it). A's, released before, stays."""
    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    events = [_outage_at(tiny, "16:00", n) for n in tiny.node_ids]
    out = DayAllocator(tiny, orders, settings=settings, events=events).run()
    rows = out.rows.set_index("order_id")
    assert rows.loc["A", "node_id"] == "WH-EAST"
    assert rows.loc["B", "status"] == "deferred"
    assert rows.loc["B", "reason"] == (
        "deferred: WH-EAST, WH-WEST, ST-CHI closed (outage); "
        "pulled back from WH-EAST after a capacity event"
    )
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"]) == (0, 1)


def test_a_rerouted_order_hit_again_after_the_last_batch_moves_again(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST fails at 11:00 ET (B moves to ST-CHI at 11:00, released at
    12:00), then ST-CHI at 11:50 ET, past B's first release (11:45) but
    before its second: B moves again, at 12:00 (the next boundary), to
    WH-WEST."""
    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    events = [_outage_at(tiny, "16:00"), _outage_at(tiny, "16:50", "ST-CHI")]
    out = DayAllocator(tiny, orders, settings=settings, events=events).run()
    rows = out.rows.set_index("order_id")
    assert rows.loc["B", "node_id"] == "WH-WEST"
    assert rows.loc["B", "reason"] == "rerouted from ST-CHI after a capacity event"
    assert rows.loc["B", "batch"] == 3
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"], s["n_batches"]) == (2, 2, 4)
    assert (s["events_applied"], s["events_after_last_batch"]) == (2, 2)


def test_allocations_csv_prints_no_float_residue(
    tiny: Network, make_orders: MakeOrders, tmp_path: Path
) -> None:
    """3 TEE from WH-WEST at $1.60 a unit handle for 4.8, which
    allocations.csv printed as the float product 4.800000000000001 (and the
    summary's sums alike); the file's values are the rows' to 15 digits."""
    orders = make_orders(["A,2026-01-05T10:00:00-05:00,C1,900,gold,TEE,3"])
    out = DayAllocator(tiny, orders).run()
    assert out.rows["handling"].tolist() == [3 * 1.6] != [4.8]
    write_outputs(out, out.summary(), tmp_path)
    text = (tmp_path / "allocations.csv").read_text()
    assert "00000000" not in text and "99999999" not in text
    written = pd.read_csv(tmp_path / "allocations.csv")
    assert written["node_id"].tolist() == ["WH-WEST"]
    assert written["handling"].tolist() == [4.8]
    for part in ("cost", "shipping", "handling", "penalty"):
        assert np.allclose(written[part], out.rows[part], rtol=1e-14, atol=0)


def test_hindsight_bound_is_below_every_policy(
    tiny: Network, make_orders: MakeOrders
) -> None:
    rows = [
        f"O{i},2026-01-05T{8 + i // 4:02d}:{(i % 4) * 15:02d}:00-05:00,C{i},"
        f"{['100', '606', '900', '981', '331'][i % 5]},{['gold', 'silver'][i % 2]},"
        f"TEE,{1 + i % 3}"
        for i in range(24)
    ]
    orders = make_orders(rows)
    capacity = np.array([20.0, 12.0, 3.0])
    hind = DayAllocator(
        tiny, orders, capacity=capacity, settings=AllocationSettings(hindsight=True)
    ).run()
    bound = hind.lp_bound
    assert bound is not None
    assert bound <= hind.summary()["total_cost"] + 1e-6
    for engine in ("cpsat", "greedy", NEAREST):
        for bid in (False, True):
            out = DayAllocator(
                tiny,
                orders,
                capacity=capacity,
                settings=AllocationSettings(
                    engine=engine, use_bid_prices=bid, batch_minutes=30
                ),
            ).run()
            assert out.summary()["total_cost"] >= bound - 1e-6
            assert_rows_verify(tiny, orders, out.rows, capacity)


def test_batch_windows_are_deterministic() -> None:
    t = np.array(
        [
            "2026-01-05T10:14",
            "2026-01-05T10:00",
            "2026-01-05T10:16",
            "2026-01-05T10:31",
        ],
        dtype="datetime64[s]",
    )
    assert [w.tolist() for w in batch_windows(t, minutes=15, size=None)] == [
        [1, 0],
        [2],
        [3],
    ]
    assert [w.tolist() for w in batch_windows(t, minutes=15, size=3)] == [
        [1, 0, 2],
        [3],
    ]


def test_independent_check_finds_violations(
    tiny: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(["A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1"])
    out = DayAllocator(tiny, orders).run()
    rows = out.rows.copy()
    lines = orders.to_frame()[["order_id", "sku", "quantity"]]
    kwargs = dict(
        node_ids=tiny.node_ids,
        sku_ids=tiny.sku_ids,
        inventory=tiny.inventory,
        sku_complexity=tiny.sku_complexity,
        order_lines=lines,
    )
    assert check_allocation_rows(rows, capacity=np.array([0.5, 1, 1]), **kwargs) == [
        "capacity: node WH-EAST load 1.000 > 0.500"
    ]
    doubled = pd.concat([rows, rows])
    assert check_allocation_rows(doubled, capacity=tiny.capacity, **kwargs)[
        0
    ].startswith("1 order lines appear more than once")
    rows.loc[0, "quantity"] = 500
    assert any(
        p.startswith("inventory: node WH-EAST SKU TEE allocated 500")
        for p in check_allocation_rows(rows, capacity=tiny.capacity * 1e3, **kwargs)
    )


def test_a_checkout_promise_is_kept_like_a_guarantee(
    tiny: Network, make_orders: MakeOrders, tmp_path: Path
) -> None:
    """Silver to Los Angeles ships by ground (its tier allows six days); the
    same order promised for the next day at checkout ships to keep that date."""
    row = "S,2026-01-05T10:00:00-05:00,C1,900,silver,TEE,1"
    plain = DayAllocator(tiny, make_orders([row])).run().rows.iloc[0]
    path = tmp_path / "promised.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity,promised_date\n"
        f"{row},2026-01-06\n"
    )
    kept = DayAllocator(tiny, read_orders(path, tiny)).run().rows.iloc[0]
    assert plain["delivery_date"] > "2026-01-06"
    assert kept["promised_date"] == "2026-01-06"
    assert kept["status"] == "allocated" and kept["delivery_date"] <= "2026-01-06"


def _outages(net: Network, *nodes: str) -> list[CapacityEvent]:
    """``nodes`` closed at 10:00 ET on the orders' day."""
    at = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC).timestamp()
    return [
        CapacityEvent(f"o{k}", at, net.node_idx(node), "outage", 1.0)
        for k, node in enumerate(nodes)
    ]


#: SOFA only at WH-EAST; MUG at WH-EAST and none at ST-CHI (0) or WH-WEST.
_EAST_ONLY = [
    "A,2026-01-05T10:30:00-05:00,C1,100,gold,SOFA,1",
    "B,2026-01-05T10:31:00-05:00,C2,606,gold,MUG,1",
]


@pytest.mark.parametrize("engine", ["greedy", "cpsat", "highs", NEAREST])
def test_a_deferral_names_a_closed_node_and_the_others_out_of_stock(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """The one node with the stock is closed, the others offering the
    service have none: the reason said only "larger than the room left today
    at every eligible node" (the closed node's room), not the stock."""
    orders = make_orders(_EAST_ONLY)
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine),
        events=_outages(tiny, "WH-EAST"),
    ).run()
    rows = out.rows.set_index("order_id")
    assert rows["status"].tolist() == ["deferred", "deferred"]
    assert (
        rows["reason"].tolist()
        == ["deferred: WH-EAST closed (outage); WH-WEST, ST-CHI out of stock"] * 2
    )


@pytest.mark.parametrize("engine", ["greedy", "cpsat"])
def test_a_deferral_of_one_cause_keeps_its_reason(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """No room but no node closed: the engine's reason stays as it was
    (half a unit of room at WH-EAST: a nominal capacity of 0 is a cause of
    its own, ``test_a_line_only_a_node_of_no_capacity_holds_says_so_as_checkout_does``).
    Every node closed (no stock missing) read "larger than the room left
    today at every eligible node" (the closed nodes' room of 0): it says
    they are closed."""
    settings = AllocationSettings(engine=engine)
    room = "deferred: larger than the room left today at every eligible node"
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,606,gold,TEE,1"])
    every = _outages(tiny, "WH-EAST", "WH-WEST", "ST-CHI")
    out = DayAllocator(tiny, orders, settings=settings, events=every).run()
    assert out.rows["reason"].tolist() == [
        "deferred: WH-EAST, WH-WEST, ST-CHI closed (outage)"
    ]
    orders = make_orders(_EAST_ONLY)
    no_room = np.array([0.5, 800.0, 100.0])
    out = DayAllocator(tiny, orders, settings=settings, capacity=no_room).run()
    assert out.rows["reason"].tolist() == [room, room]


def test_a_deferral_names_a_closed_node_and_the_others_without_room(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST closed, the other two with TEE but no room left (half a
    unit: of a nominal capacity of 0 they are named so): both named."""
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,606,gold,TEE,1"])
    out = DayAllocator(
        tiny,
        orders,
        capacity=np.array([1000.0, 0.5, 0.5]),
        events=_outages(tiny, "WH-EAST"),
    ).run()
    assert out.rows["reason"].tolist() == [
        "deferred: WH-EAST closed (outage); no room left today at WH-WEST, ST-CHI"
    ]


def _east_down(net: Network, how: str) -> tuple[np.ndarray, list[CapacityEvent]]:
    """Capacity and events closing WH-EAST at 10:00 ET ``how``: an outage,
    a staffing of 0 %, or a nominal capacity of 0 all day; WH-WEST and
    ST-CHI with half a unit of room (open, but no room for a TEE)."""
    capacity = np.array([1000.0, 0.5, 0.5])
    at = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC).timestamp()
    east = net.node_idx("WH-EAST")
    if how == "nominal 0":
        capacity[east] = 0.0
        return capacity, []
    event = (
        CapacityEvent("o", at, east, "outage", 1.0)
        if how == "outage"
        else CapacityEvent("s", at, east, "staffing", 0.0)
    )
    return capacity, [event]


@pytest.mark.parametrize("how", ["outage", "staffing 0", "nominal 0"])
@pytest.mark.parametrize("engine", ["cpsat", "greedy", "highs", "cbc", "lp", NEAREST])
def test_a_waiting_line_is_expected_from_a_node_that_could_ship_it(
    tiny: Network, make_orders: MakeOrders, engine: str, how: str
) -> None:
    """WH-EAST, the cheapest node for a Gold TEE to New York, is closed; the
    others are open but full, so the line waits. Its expected_delivery was
    WH-EAST's (ground shipped Tuesday: 2026-01-07) and its cost WH-EAST's
    reference ($11.50 + the $60 Gold penalty), a node that may not ship it
    tomorrow. It is WH-WEST's now: two-day shipped Tuesday, 2026-01-08, at
    $20 + $1.60 handling + $60. Re-pricing agrees."""
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1"])
    settings = AllocationSettings(engine=engine)
    capacity, events = _east_down(tiny, how)
    out = DayAllocator(
        tiny, orders, settings=settings, capacity=capacity, events=events
    ).run()
    row = out.rows.iloc[0]
    assert (row["status"], row["node_id"], row["expected_delivery"]) == (
        "deferred",
        "",
        "2026-01-08",
    )
    assert row["cost"] == pytest.approx(81.6)
    assert row["penalty"] == pytest.approx(81.6)
    assert out.repriced is not None and out.repriced.problems == []
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


def _tee_only_at(net: Network, node: str, units: int) -> np.ndarray:
    """This morning's stock with TEE at ``node`` only (``units`` of it)."""
    stock = net.inventory.copy()
    stock[:, net.sku_index["TEE"]] = 0
    stock[net.node_idx(node), net.sku_index["TEE"]] = units
    return stock


@pytest.mark.parametrize("engine", ["cpsat", "greedy", "highs", "cbc", "lp", NEAREST])
def test_a_waiting_line_is_expected_from_an_open_node_that_held_it(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """Every node open; TEE only at WH-WEST, which has half a unit of room:
    a Gold TEE to New York waits. Its expected_delivery was WH-EAST's
    (ground shipped Tuesday: 2026-01-07), the cheapest open node, which
    holds no TEE: a date nobody could keep from there. It is WH-WEST's now
    (two-day shipped Tuesday: 2026-01-08); its cost is still WH-EAST's
    reference, stock aside as ever ($11.50 + the $60 Gold penalty), and
    re-pricing agrees."""
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1"])
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine),
        stock=_tee_only_at(tiny, "WH-WEST", 50),
        capacity=np.array([1000.0, 0.5, 100.0]),
    ).run()
    row = out.rows.iloc[0]
    assert (row["status"], row["node_id"], row["expected_delivery"]) == (
        "deferred",
        "",
        "2026-01-08",
    )
    assert row["cost"] == pytest.approx(71.5)
    assert out.repriced is not None and out.repriced.problems == []


@pytest.mark.parametrize("engine", ["cpsat", "greedy", "highs", "cbc", "lp", NEAREST])
def test_a_waiting_line_of_a_split_order_is_expected_from_a_node_that_held_it(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """A Gold TEE + MUG to New York: MUG only at WH-EAST, TEE only at
    WH-WEST (half a unit of room), so the order splits for stock, the MUG
    ships from WH-EAST and the TEE line waits. It was dated from WH-EAST,
    which holds no TEE (2026-01-07); WH-WEST's 2026-01-08 now. Its cost is
    unchanged: WH-EAST's line reference ($10 + $1.50) + the $4 extra-shipment
    charge + its half of the $60 penalty, $45.50; re-pricing agrees."""
    orders = make_orders(
        [
            "T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1",
            "T,2026-01-05T10:30:00-05:00,C1,100,gold,MUG,1",
        ]
    )
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine),
        stock=_tee_only_at(tiny, "WH-WEST", 50),
        capacity=np.array([1000.0, 0.5, 100.0]),
    ).run()
    rows = out.rows.set_index("sku")
    assert rows.loc["MUG", ["status", "node_id"]].tolist() == ["allocated", "WH-EAST"]
    tee = rows.loc["TEE"]
    assert (tee["status"], tee["split"], tee["expected_delivery"]) == (
        "deferred",
        "stock",
        "2026-01-08",
    )
    assert tee["cost"] == pytest.approx(45.5)
    assert out.repriced is not None and out.repriced.problems == []


@pytest.mark.parametrize("engine", ["cpsat", "greedy", "highs", "cbc", "lp", NEAREST])
def test_a_waiting_line_only_closed_nodes_hold_has_no_expected_delivery(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """TEE only at WH-EAST, closed: no node could ship the line tomorrow, so
    no date is promised (expected_delivery was WH-EAST's 2026-01-07); the
    reason says why, and the cost is the open nodes' reference, stock aside
    as ever (WH-WEST's $21.60 + $60; it was WH-EAST's $11.50 + $60)."""
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1"])
    stock = _tee_only_at(tiny, "WH-EAST", 100)
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine),
        stock=stock,
        events=_outages(tiny, "WH-EAST"),
    ).run()
    row = out.rows.iloc[0]
    assert (row["status"], row["expected_delivery"], row["reason"]) == (
        "deferred",
        "",
        "deferred: WH-EAST closed (outage); WH-WEST, ST-CHI out of stock",
    )
    assert row["cost"] == pytest.approx(81.6)
    assert out.repriced is not None and out.repriced.problems == []
    # due by the promise from WH-EAST, it counted as kept
    assert out.summary()["service_level_by_tier"]["gold"] == 0.0


@pytest.mark.parametrize("engine", ["cpsat", "greedy", "highs"])
def test_a_line_only_a_node_of_no_capacity_holds_says_so_as_checkout_does(
    tiny: Network, make_orders: MakeOrders, engine: str
) -> None:
    """TEE only at WH-EAST, configured with a nominal capacity of 0 (not a
    closure): the line waits with no expected delivery, as for a closed
    holder, and the reason names WH-EAST's cause as the checkout does
    ("has no capacity (nominal 0)"); it read "no room left today" of a
    node that ships nothing on any day, or the engine's words alone."""
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1"])
    stock = _tee_only_at(tiny, "WH-EAST", 100)
    capacity = tiny.capacity.astype(np.float64).copy()
    capacity[tiny.node_idx("WH-EAST")] = 0.0
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine),
        stock=stock,
        capacity=capacity,
    ).run()
    row = out.rows.iloc[0]
    assert (row["status"], row["expected_delivery"], row["reason"]) == (
        "deferred",
        "",
        "deferred: no capacity at WH-EAST (nominal 0); WH-WEST, ST-CHI out of stock",
    )


@pytest.mark.parametrize(
    ("how", "cause"),
    [
        ("outage", "WH-EAST closed (outage)"),
        ("staffing 0", "no staff today at WH-EAST (staffing 0%)"),
        ("nominal 0", "no capacity at WH-EAST (nominal 0)"),
    ],
)
@pytest.mark.parametrize("engine", ["cpsat", "greedy", "highs"])
def test_a_deferral_names_an_unstaffed_node_as_checkout_does(
    tiny: Network, make_orders: MakeOrders, engine: str, how: str, cause: str
) -> None:
    """WH-EAST down (``how``), WH-WEST and ST-CHI without room for a Gold
    TEE: the reason names WH-EAST's cause as the checkout does ("has no
    staff today (staffing 0%)", "is closed (outage)", "has no capacity
    (nominal 0)"). A node with a staffing of 0 read "no room left today at
    WH-EAST", beside the full ones, as if it had a capacity problem."""
    orders = make_orders(["T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1"])
    capacity, events = _east_down(tiny, how)
    out = DayAllocator(
        tiny,
        orders,
        settings=AllocationSettings(engine=engine),
        capacity=capacity,
        events=events,
    ).run()
    assert out.rows["reason"].tolist() == [
        f"deferred: {cause}; no room left today at WH-WEST, ST-CHI"
    ]


def test_platinum_split_on_time_rather_than_shipped_whole_late(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """ST-CHI holds TEE and MUG but has no next-day service; WH-EAST holds
    only the MUG, WH-WEST only the TEE. Shipped split, both lines arrive the
    next day, as a checkout promising Platinum from the two warehouses said;
    the guarantee was broken (both lines two-day from ST-CHI, "late: no node
    with the stock and room") because one node held the order whole. The
    reason says why it split: ST-CHI held every line (it read "no single
    node holds every line")."""
    orders = make_orders(
        [
            "P,2026-01-05T10:15:00-05:00,C1,606,platinum,TEE,1",
            "P,2026-01-05T10:15:00-05:00,C1,606,platinum,MUG,1",
        ],
    )
    stock = tiny.inventory.copy()
    stock[tiny.node_index["WH-EAST"], tiny.sku_index["TEE"]] = 0
    stock[tiny.node_index["ST-CHI"], tiny.sku_index["MUG"]] = 5
    out = DayAllocator(tiny, orders, stock=stock).run()
    rows = out.rows.set_index("sku")
    assert rows.loc["TEE", "node_id"] == "WH-WEST"
    assert rows.loc["MUG", "node_id"] == "WH-EAST"
    assert list(rows["service"]) == ["next_day", "next_day"]
    assert list(rows["delivery_date"]) == ["2026-01-06", "2026-01-06"]
    why = (
        "split: no node with every line and the room could deliver the whole "
        "order by the promised date"
    )
    assert list(rows["reason"]) == [why, why]
    assert out.summary()["platinum_on_time_rate"] == 1.0
    assert out.repriced is not None and out.repriced.problems == []
    assert_rows_verify(tiny, orders, out.rows, tiny.capacity)


@pytest.mark.parametrize("committed", [2, 3])
def test_a_run_killed_around_its_batches_after_the_last_order_resumes_as_whole(
    tiny: Network, make_orders: MakeOrders, committed: int
) -> None:
    """The two outages after the last batch of orders (B moved at 11:00 and
    again at 12:00), the run killed after its order batches (2) or after
    the first of its event batches (3), then resumed: the rows and every
    count are the uninterrupted run's."""
    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    events = [_outage_at(tiny, "16:00"), _outage_at(tiny, "16:50", "ST-CHI")]

    def allocator(sink: MemorySink, on_batch: Any = None) -> DayAllocator:
        return DayAllocator(
            tiny, orders, settings=settings, events=events, sink=sink,
            on_batch=on_batch,
        )  # fmt: skip

    whole = allocator(MemorySink()).run()
    again = resumed_after_crash(allocator, committed).run()
    pd.testing.assert_frame_equal(again.rows, whole.rows)
    keys = ("rerouted", "pulled_back", "n_batches", "events_applied")
    s, w = again.summary(), whole.summary()
    assert [s[k] for k in keys] == [w[k] for k in keys] == [2, 2, 4, 2]


@pytest.mark.parametrize("closed_last", [True, False])
def test_events_of_one_instant_apply_in_file_order(
    tiny: Network, make_orders: MakeOrders, closed_last: bool
) -> None:
    """WH-EAST's outage set and lifted at one instant, 11:00 ET, before B's
    release: the event given last stands (as the live monitor's arrival
    order), so B is rerouted only when the closure comes last."""
    orders = make_orders(_TWO_ORDERS)
    close = _outage_at(tiny, "16:00")
    reopen = dataclasses.replace(close, event_id="reopen", value=0.0)
    events = [reopen, close] if closed_last else [close, reopen]
    settings = AllocationSettings(batch_minutes=15, release_minutes=60)
    out = DayAllocator(tiny, orders, settings=settings, events=events).run()
    b = out.rows.set_index("order_id").loc["B"]
    assert (b["node_id"] != "WH-EAST") is closed_last
    assert out.summary()["rerouted"] == int(closed_last)


#: S splits (no node holds MUG and SPRAY): MUG at WH-EAST, SPRAY at WH-WEST,
#: decided at 09:15 ET and released at 10:15; T comes at 09:20.
_SPLIT_ORDER = [
    "S,2026-01-05T09:00:00-05:00,C1,100,gold,MUG,1",
    "S,2026-01-05T09:00:00-05:00,C1,100,gold,SPRAY,1",
    "T,2026-01-05T09:20:00-05:00,C2,100,gold,TEE,1",
]


def _split_day(tiny: Network) -> tuple[AllocationSettings, np.ndarray]:
    """Batches of 15 minutes released after 60, capacity prices only, and
    5 MUG at ST-CHI: S's MUG has a second node."""
    stock = tiny.inventory.copy()
    stock[tiny.node_idx("ST-CHI"), tiny.sku_idx(["MUG"])[0]] = 5
    settings = AllocationSettings(
        batch_minutes=15, release_minutes=60, stock_bid_prices=False
    )
    return settings, stock


def _assert_ledger_is_the_rows(
    tiny: Network, orders: Any, rows: pd.DataFrame, run: DayAllocator
) -> None:
    """Every line once, within stock and the nominal capacity (``verify``),
    and the ledger's capacity and stock those of the allocated rows, every
    lane at 1: what a pull-back gave back came back exactly."""
    stock = run.ledger.initial_stock
    assert_rows_verify(tiny, orders, rows, tiny.capacity, stock)
    sent = rows[rows["status"] == "allocated"]
    node = sent["node_id"].map(tiny.node_index).to_numpy(int)
    sku = sent["sku"].map(tiny.sku_index).to_numpy(int)
    qty = sent["quantity"].to_numpy(int)
    used = np.bincount(
        node, weights=tiny.sku_complexity[sku] * qty, minlength=tiny.n_nodes
    )
    np.testing.assert_allclose(run.ledger.used, used, atol=1e-9)
    left = stock.copy()
    np.subtract.at(left, (node, sku), qty)
    np.testing.assert_array_equal(run.ledger.stock, left)


def test_an_outage_moves_an_unreleased_split_line(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-EAST fails at 09:25 ET, before S is released: S's MUG line moves to
    ST-CHI and says so after its split reason; its SPRAY, decided again
    with it, stays at WH-WEST. Until 2026-12-06 the MUG shipped from the
    closed node (1.5 units of its 0 in the ledger), rerouted 0."""
    orders = make_orders(_SPLIT_ORDER)
    settings, stock = _split_day(tiny)
    calm = DayAllocator(tiny, orders, settings=settings, stock=stock).run()
    was = calm.rows[calm.rows["order_id"] == "S"].set_index("sku")
    assert was["node_id"].to_dict() == {"MUG": "WH-EAST", "SPRAY": "WH-WEST"}
    run = DayAllocator(
        tiny, orders, settings=settings, stock=stock,
        events=[_outage_at(tiny, "14:25")],
    )  # fmt: skip
    out = run.run()
    rows = out.rows[out.rows["order_id"] == "S"].set_index("sku")
    assert rows["node_id"].to_dict() == {"MUG": "ST-CHI", "SPRAY": "WH-WEST"}
    split = "split: no single node holds every line"
    assert rows["reason"].to_dict() == {
        "MUG": f"{split}; rerouted from WH-EAST after a capacity event",
        "SPRAY": split,
    }
    # the SPRAY, again at its node, takes the new batch's time as the MUG
    assert rows["batch"].to_dict() == {"MUG": 1, "SPRAY": 1}
    assert set(was["released_at"]) == {"2026-01-05T14:15:00Z"}
    assert set(rows["released_at"]) == {"2026-01-05T14:30:00Z"}
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"]) == (1, 1)
    assert out.stats[1].rerouted == 1 and out.stats[1].pulled_back == ("S",)
    assert s["reroute_cost_delta"] == pytest.approx(
        rows["cost"].sum() - was["cost"].sum()
    )
    _assert_ledger_is_the_rows(tiny, orders, out.rows, run)
    assert run.ledger.used[tiny.node_idx("WH-EAST")] == 0.0


def test_a_split_line_with_nowhere_to_go_waits_and_is_pulled_again(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """WH-WEST, the one node with SPRAY, fails at 09:25 ET: S's SPRAY waits
    and says where it was pulled back from, its MUG again at WH-EAST (no
    move). WH-EAST fails at 09:50: the MUG, held again from 09:30, moves to
    ST-CHI (as T, placed there at 09:30); the SPRAY's waiting row of 09:30
    is replaced by the batch's, so every line has one row."""
    orders = make_orders(_SPLIT_ORDER)
    settings, stock = _split_day(tiny)
    west = _outage_at(tiny, "14:25", "WH-WEST")
    run = DayAllocator(tiny, orders, settings=settings, stock=stock, events=[west])
    out = run.run()
    rows = out.rows[out.rows["order_id"] == "S"].set_index("sku")
    assert rows.loc["MUG", "node_id"] == "WH-EAST"
    assert rows.loc["SPRAY", "status"] == "deferred"
    assert rows.loc["SPRAY", "reason"].endswith(
        "; pulled back from WH-WEST after a capacity event"
    )
    s = out.summary()
    assert (s["rerouted"], s["pulled_back"]) == (0, 1)
    _assert_ledger_is_the_rows(tiny, orders, out.rows, run)

    both = [west, _outage_at(tiny, "14:50")]
    run = DayAllocator(tiny, orders, settings=settings, stock=stock, events=both)
    out = run.run()
    rows = out.rows[out.rows["order_id"] == "S"].set_index("sku")
    assert rows.index.is_unique
    assert rows.loc["MUG", "node_id"] == "ST-CHI"
    assert rows.loc["MUG", "reason"].endswith(
        "; rerouted from WH-EAST after a capacity event"
    )
    assert rows.loc["SPRAY", "status"] == "deferred"
    s = out.summary()  # T, placed at WH-EAST at 09:30, moves too
    assert (s["rerouted"], s["pulled_back"]) == (2, 3)
    assert out.pulled_back == ("S", "T", "S")
    _assert_ledger_is_the_rows(tiny, orders, out.rows, run)


def _lane_rise(net: Network, utc: str, node: str, service: str) -> CapacityEvent:
    """``node``'s ``service`` lane at x2 from ``utc`` (``HH:MM`` on
    2026-01-05, UTC)."""
    hour, minute = map(int, utc.split(":"))
    at = dt.datetime(2026, 1, 5, hour, minute, tzinfo=dt.UTC).timestamp()
    s = SERVICES.index(service)
    return CapacityEvent(
        f"lane-{node}-{utc}", at, net.node_idx(node), "congestion", 2.0, s
    )


def test_each_line_of_a_split_order_names_the_event_that_hit_its_own_node(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """S's SPRAY ships two-day from WH-WEST, its MUG ground from WH-EAST.
    WH-WEST's two-day lane rises at 09:20 ET and WH-EAST fails at 09:25:
    the MUG moves to ST-CHI and names the outage, not the other node's
    lane. The other way round (WH-EAST's ground rises, WH-WEST fails) the
    SPRAY waits and names its node's outage. Until 2026-12-06 every line
    named the event that hit the order first: `rerouted from WH-EAST after
    a capacity event (lane two_day congested x2)`."""
    orders = make_orders(_SPLIT_ORDER)
    settings, stock = _split_day(tiny)
    events = [
        _lane_rise(tiny, "14:20", "WH-WEST", "two_day"),
        _outage_at(tiny, "14:25"),
    ]
    out = DayAllocator(
        tiny, orders, settings=settings, stock=stock, events=events
    ).run()
    rows = out.rows[out.rows["order_id"] == "S"].set_index("sku")
    assert rows["node_id"].to_dict() == {"MUG": "ST-CHI", "SPRAY": "WH-WEST"}
    split = "split: no single node holds every line"
    assert rows["reason"].to_dict() == {
        "MUG": f"{split}; rerouted from WH-EAST after a capacity event",
        "SPRAY": split,
    }
    events = [
        _lane_rise(tiny, "14:20", "WH-EAST", "ground"),
        _outage_at(tiny, "14:25", "WH-WEST"),
    ]
    out = DayAllocator(
        tiny, orders, settings=settings, stock=stock, events=events
    ).run()
    rows = out.rows[out.rows["order_id"] == "S"].set_index("sku")
    assert rows.loc["MUG", "node_id"] == "WH-EAST"
    assert rows.loc["SPRAY", "status"] == "deferred"
    assert rows.loc["SPRAY", "reason"].endswith(
        "; pulled back from WH-WEST after a capacity event"
    )


@pytest.mark.parametrize("committed", [1, 2])
def test_a_run_killed_before_a_split_line_is_pulled_back_resumes_as_whole(
    tiny: Network, make_orders: MakeOrders, committed: int
) -> None:
    """Killed after S's batch (its lines held from the committed rows alone)
    or after the batch that pulled it back, then resumed: the rows, the
    counts and the ledger are the uninterrupted run's."""
    orders = make_orders(_SPLIT_ORDER)
    settings, stock = _split_day(tiny)
    events = [_outage_at(tiny, "14:25")]

    def allocator(sink: MemorySink, on_batch: Any = None) -> DayAllocator:
        return DayAllocator(
            tiny, orders, settings=settings, stock=stock, events=events,
            sink=sink, on_batch=on_batch,
        )  # fmt: skip

    whole = allocator(MemorySink()).run()
    resumed = resumed_after_crash(allocator, committed)
    again = resumed.run()
    pd.testing.assert_frame_equal(again.rows, whole.rows)
    keys = ("rerouted", "pulled_back", "reroute_cost_delta", "total_cost")
    s, w = again.summary(), whole.summary()
    assert [s[k] for k in keys] == [w[k] for k in keys]
    assert (s["rerouted"], s["pulled_back"]) == (1, 1)
    _assert_ledger_is_the_rows(tiny, orders, again.rows, resumed)


def _utc_event(
    net: Network, utc: str, node: str, kind: str, value: float
) -> CapacityEvent:
    """``kind`` at ``node`` at ``utc`` (``HH:MM`` on 2026-01-05, UTC)."""
    hour, minute = map(int, utc.split(":"))
    at = dt.datetime(2026, 1, 5, hour, minute, tzinfo=dt.UTC).timestamp()
    return CapacityEvent(f"{kind}-{node}-{utc}", at, net.node_idx(node), kind, value)


def test_a_resumed_run_counts_a_pulled_back_orders_cost_as_the_whole_run(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """O8 splits at 10:19 ET (MUG at WH-EAST, TEE at ST-CHI, SOFA waits);
    ST-CHI's backlog at 10:23 pulls it back and the 10:49 batch places it
    whole at WH-EAST (raised to 1,000 units at 10:38); WH-EAST closes at
    10:55, before its release, and the 12:04 batch pulls it back again
    (its TEE to ST-CHI, the rest waits). Killed after the 10:49 batch and
    resumed, the run holds O8 at what its rows say (each line rounded to
    six decimals: 240.500001) where the whole run held it at the engine's
    240.5, so the 12:04 batch's ``reroute_cost_delta`` was
    -33.528572999999994 against -33.528572, and on a longer day the
    summary's rounded figure differed in its last digit (random QA driver,
    2026-12-06). Both runs now hold an order, or a split line, at its
    rows' cost."""
    orders = make_orders(
        [
            "O3,2026-01-05T12:00:00-05:00,C3,331,gold,SPRAY,3",
            "O3,2026-01-05T12:00:00-05:00,C3,331,gold,SOFA,1",
            "O5,2026-01-05T10:05:00-05:00,C5,900,overflow,SOFA,1",
            "O5,2026-01-05T10:05:00-05:00,C5,900,overflow,TEE,4",
            "O5,2026-01-05T10:05:00-05:00,C5,900,overflow,SPRAY,4",
            "O6,2026-01-05T09:34:00-05:00,C6,606,overflow,MUG,1",
            "O6,2026-01-05T09:34:00-05:00,C6,606,overflow,SPRAY,1",
            "O7,2026-01-05T10:38:00-05:00,C7,900,platinum,MUG,2",
            "O7,2026-01-05T10:38:00-05:00,C7,900,platinum,SPRAY,2",
            "O8,2026-01-05T10:07:00-05:00,C8,100,overflow,MUG,3",
            "O8,2026-01-05T10:07:00-05:00,C8,100,overflow,SOFA,1",
            "O8,2026-01-05T10:07:00-05:00,C8,100,overflow,TEE,3",
        ]
    )
    events = [
        _utc_event(tiny, "15:23", "ST-CHI", "backlog", 2.0),
        _utc_event(tiny, "15:38", "WH-EAST", "nominal_capacity", 1000.0),
        _utc_event(tiny, "15:55", "WH-EAST", "outage", 1.0),
        _utc_event(tiny, "17:02", "ST-CHI", "nominal_capacity", 1000.0),
    ]
    settings = AllocationSettings(
        engine="greedy", batch_minutes=15, release_minutes=20,
        stock_bid_prices=False, deterministic=True,
    )  # fmt: skip

    def allocator(sink: MemorySink, on_batch: Any = None) -> DayAllocator:
        return DayAllocator(
            tiny, orders, settings=settings, capacity=np.array([8.0, 8.0, 4.0]),
            events=events, sink=sink, on_batch=on_batch,
        )  # fmt: skip

    whole = allocator(MemorySink()).run()
    assert [s.pulled_back for s in whole.stats] == [(), (), ("O8",), ("O8", "O7")]

    again = resumed_after_crash(allocator, 3).run()
    pd.testing.assert_frame_equal(again.rows, whole.rows)
    deltas = [s.reroute_cost_delta for s in whole.stats]
    assert [s.reroute_cost_delta for s in again.stats] == deltas
    assert again.reroute_cost_delta == whole.reroute_cost_delta


def test_the_store_replaces_a_pulled_back_split_orders_waiting_line(
    tiny: Network, make_orders: MakeOrders, tmp_path: Path
) -> None:
    """S pulled back twice (WH-WEST closed at 09:25 ET, WH-EAST at 09:50),
    committed to the state store and resumed from it after its first
    pull-back: the SPRAY's waiting row of 09:30 is marked rerouted when
    09:45's batch decides it again, so the store holds the memory run's
    rows, one per line."""
    from tierflow.data.store import SqliteStore
    from tierflow.orchestration.allocation.outputs import StoreSink

    orders = make_orders(_SPLIT_ORDER)
    settings, stock = _split_day(tiny)
    events = [_outage_at(tiny, "14:25", "WH-WEST"), _outage_at(tiny, "14:50")]
    memory = DayAllocator(
        tiny, orders, settings=settings, stock=stock, events=events
    ).run()

    def crash(done: int, _: int) -> None:
        if done == 2:
            raise Crash

    with SqliteStore(tmp_path / "state.db") as store:
        for on_batch in (crash, None):
            sink = StoreSink(store, "run-1", {})
            run = DayAllocator(
                tiny, orders, settings=settings, stock=stock, events=events,
                sink=sink, on_batch=on_batch,
            )  # fmt: skip
            if on_batch is None:
                out = run.run()
            else:
                with pytest.raises(Crash):
                    run.run()
        kept = store.allocations("run-1", include_rerouted=True)
    key = ["order_id", "sku"]
    cols = [*key, "node_id", "status", "reason", "batch", "cost"]
    got = out.rows.sort_values(key).reset_index(drop=True)[cols]
    want = memory.rows.sort_values(key).reset_index(drop=True)[cols]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    spray = kept[(kept["order_id"] == "S") & (kept["sku"] == "SPRAY")]
    assert spray["status"].tolist() == ["rerouted", "rerouted", "deferred"]
    assert out.summary()["pulled_back"] == memory.summary()["pulled_back"] == 3
    _assert_ledger_is_the_rows(tiny, orders, out.rows, run)


def test_a_batch_another_process_committed_first_stops_the_run(
    tiny: Network, make_orders: MakeOrders, state_location: Path | str
) -> None:
    """The same command twice at once on one store (one run id): the run
    whose commit finds its batch already committed by the other stops,
    naming the batch, and writes nothing. It went on without a word on
    its own ledger, which a wall-clock engine may decide otherwise than
    the rows committed (here: WH-EAST has no room in the second run, and
    the first sent A there), and committed its next batch against
    capacity and stock the store's rows do not have (both backends)."""
    from tierflow.data.errors import BatchError
    from tierflow.data.store import open_store
    from tierflow.orchestration.allocation.outputs import StoreSink

    orders = make_orders(_TWO_ORDERS)
    settings = AllocationSettings(engine="greedy", batch_minutes=15)
    no_east = tiny.capacity.copy()
    no_east[tiny.node_idx("WH-EAST")] = 0.0

    def first_commits_batch_0() -> None:
        def slow(done: int, _: int) -> None:
            if done == 1:
                raise Crash  # still running: it has committed batch 0 only

        with pytest.raises(Crash):
            DayAllocator(
                tiny, orders, settings=settings,
                sink=StoreSink(store, "run-1", {}), on_batch=slow,
            ).run()  # fmt: skip

    class Overtaken(StoreSink):
        """The second process, overtaken by the first at its first commit."""

        def write_batch(self, batch: int, *args: Any, **kwargs: Any) -> None:
            if batch == 0:
                first_commits_batch_0()
            super().write_batch(batch, *args, **kwargs)

    with open_store(state_location) as store:
        second = DayAllocator(
            tiny, orders, settings=settings, capacity=no_east,
            sink=Overtaken(store, "run-1", {}),
        )  # fmt: skip
        with pytest.raises(BatchError, match=r"^batch 0 of \d+ .*another process"):
            second.run()
        kept = store.allocations("run-1", include_rerouted=True)
    assert kept[["order_id", "node_id", "batch"]].values.tolist() == [
        ["A", "WH-EAST", 0]
    ]


def test_the_nearest_node_baseline_neither_computes_nor_claims_bid_prices(
    tiny: Network, make_orders: MakeOrders
) -> None:
    """``allocate --engine nearest`` without ``--no-bid-prices`` solved the
    bid-price LPs it never reads (its rows are the same with
    ``--no-bid-prices``; 300 orders on the sample: 6.5 s against 0.9 s, 22
    LPs) and its summary said ``bid_prices: true``, ``forecast: history``,
    each batch a ``bid_price_max``, as if the baseline had been steered by
    them. Now the baseline is what it is either way, as ``simulate`` and
    ``bench allocation`` run it (``use_bid_prices=False``)."""
    orders = make_orders(
        [
            f"O{i},2026-01-05T{9 + i // 4:02d}:{(i % 4) * 15:02d}:00-05:00,C{i},"
            f"{['100', '606', '900'][i % 3]},{['gold', 'silver'][i % 2]},TEE,1"
            for i in range(12)
        ]
    )
    runs = {
        use: DayAllocator(
            tiny,
            orders,
            settings=AllocationSettings(engine=NEAREST, use_bid_prices=use),
        ).run()
        for use in (True, False)
    }
    pd.testing.assert_frame_equal(runs[True].rows, runs[False].rows)
    for out in runs.values():
        summary = out.summary()
        assert (summary["bid_prices"], summary["forecast"]) == (False, "none")
        assert [s.bid_price_max for s in out.stats] == [0.0] * len(out.stats)
        assert all(s.bid_total is None for s in out.stats)
