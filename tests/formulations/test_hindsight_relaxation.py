"""The hindsight relaxation is a bound: its value is at most the cost of every
allocation policy on the same day, including the moves only an online policy
makes (a split after an earlier order took the stock, a late Platinum
shipment when the on-time node has no room)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network
from tierflow.data.orders import Orders, read_orders
from tierflow.formulations.hindsight_relaxation import DayInputs, hindsight_relaxation
from tierflow.formulations.order_pricing import price_orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.hindsight import hindsight_bound
from tierflow.solver.linear_program import solve_linear_program

HEADER = "order_id,created_at,customer_id,dest,tier,sku,quantity\n"

#: The policies every bound must undercut: the baseline, myopic batches in
#: two engines, bid prices, and the hindsight plan itself.
POLICIES = {
    "nearest": AllocationSettings(engine="nearest", use_bid_prices=False),
    "greedy": AllocationSettings(engine="greedy", use_bid_prices=False),
    "greedy + bid prices": AllocationSettings(engine="greedy", batch_minutes=60),
    "cpsat": AllocationSettings(engine="cpsat", use_bid_prices=False, time_limit_s=1),
    "hindsight plan": AllocationSettings(engine="cpsat", hindsight=True),
}


def _orders(tmp_path: Path, net: Network, rows: list[str]) -> Orders:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return read_orders(path, net)


def _bound(
    net: Network, orders: Orders, capacity: np.ndarray, mip_time_s: float = 0.0
) -> float:
    day = DayInputs(
        network=net,
        orders=orders,
        policy=TierPolicy(),
        spend=np.zeros(orders.n_orders),
        capacity=capacity,
        stock=net.inventory.astype(np.int64),
    )
    bound = hindsight_bound(day, mip_time_s=mip_time_s)
    assert bound is not None
    return bound


def _costs(
    net: Network,
    orders: Orders,
    capacity: np.ndarray,
    policies: dict[str, AllocationSettings] = POLICIES,
) -> dict[str, float]:
    out = {}
    for name, policy in policies.items():
        run = DayAllocator(net, orders, settings=policy, capacity=capacity).run()
        out[name] = run.summary()["total_cost"]
    return out


def test_a_split_after_a_stock_out_is_within_the_bound(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A takes 95 of WH-EAST's 100 TEE; B (a MUG, only at WH-EAST, and 40 TEE)
    then fits no single node and ships split: MUG from the east, TEE from the
    west. This morning WH-EAST could ship B whole, so a relaxation with only
    whole options for B would be above this cost."""
    orders = _orders(
        tmp_path,
        tiny_network,
        [
            "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,95",
            "B,2026-01-05T11:00:00-05:00,C2,100,gold,MUG,1",
            "B,2026-01-05T11:00:00-05:00,C2,100,gold,TEE,40",
        ],
    )
    run = DayAllocator(tiny_network, orders).run()
    rows = run.rows.set_index(["order_id", "sku"])
    assert rows.loc[("B", "MUG"), "node_id"] == "WH-EAST"
    assert rows.loc[("B", "TEE"), "node_id"] == "WH-WEST"
    costs = _costs(tiny_network, orders, tiny_network.capacity)
    assert _bound(tiny_network, orders, tiny_network.capacity) <= min(costs.values())


def test_an_order_no_node_held_whole_waits_as_lines_in_the_bound(
    tmp_path: Path, tiny_network: Network
) -> None:
    """B's MUG is only at WH-EAST, its SPRAY only at WH-WEST: no node held B
    whole this morning, so no policy ever makes it a whole item, and with no
    room anywhere each line waits as a shipment of its own: 2 x $45.50 =
    $91.00 under every policy, the day's optimum. Until 2026-12-04 the bound
    let B wait whole, as one shipment from a node that never held it
    ($13 reference + $60 Gold penalty = $73.00, 20 % below); on long carts
    (40 lines, most orders held whole nowhere) that was a 48 % gap."""
    orders = _orders(
        tmp_path,
        tiny_network,
        [
            "B,2026-01-05T11:00:00-05:00,C2,100,gold,MUG,1",
            "B,2026-01-05T11:00:00-05:00,C2,100,gold,SPRAY,1",
        ],
    )
    no_room = np.zeros(tiny_network.n_nodes)
    assert _bound(tiny_network, orders, no_room) == pytest.approx(91.0, abs=1e-9)
    costs = _costs(tiny_network, orders, no_room)
    assert costs == {name: 91.0 for name in POLICIES}


def test_a_late_platinum_fallback_is_within_the_bound(
    tmp_path: Path, tiny_network: Network
) -> None:
    """At 18:30 ET only WH-WEST can still deliver next day to Los Angeles
    (WH-EAST's 18:00 cutoff has passed), and G filled WH-WEST's room: P
    (Platinum) ships late from another node holding TEE instead of waiting a
    day."""
    orders = _orders(
        tmp_path,
        tiny_network,
        [
            "G,2026-01-05T09:00:00-05:00,C1,900,gold,TEE,30",
            "P,2026-01-05T18:30:00-05:00,C2,900,platinum,TEE,2",
        ],
    )
    capacity = np.array([800.0, 30.0, 100.0])
    run = DayAllocator(tiny_network, orders, capacity=capacity).run()
    rows = run.rows.set_index("order_id")
    assert rows.loc["G", "node_id"] == "WH-WEST"
    p = rows.loc["P"]
    assert p["status"] == "allocated"
    assert p["node_id"] != "WH-WEST"
    assert p["delivery_date"] > p["promised_date"]
    assert p["reason"].startswith("late: no node with the stock and room")
    costs = _costs(tiny_network, orders, capacity)
    assert _bound(tiny_network, orders, capacity) <= min(costs.values())


def test_a_platinum_order_with_an_on_time_node_is_bounded_at_its_on_time_cost(
    tmp_path: Path, tiny_network: Network
) -> None:
    """P's sofa (40 kg) would cost less two days late than next day, but
    WH-EAST has it and the room at 10:00: no policy may break the guarantee
    to save, so neither may the bound (it did: it charged the late price)."""
    orders = _orders(
        tmp_path, tiny_network, ["P,2026-01-05T10:00:00-05:00,C1,100,platinum,SOFA,1"]
    )
    options = price_orders(tiny_network, orders, np.array([0]), TierPolicy())
    east = tiny_network.node_ids.index("WH-EAST")
    on_time = options.shipping[0, east] + options.penalty[0, east]
    late = options.relaxed_shipping[0, east] + options.relaxed_penalty[0, east]
    assert options.feasible[0, east] and late < on_time
    costs = _costs(tiny_network, orders, tiny_network.capacity)
    cost = min(costs.values())
    assert cost == pytest.approx(on_time + options.handling[0, east])
    assert _bound(tiny_network, orders, tiny_network.capacity) == pytest.approx(cost)


def test_a_late_platinum_fallback_after_the_room_is_taken_stays_within_the_bound(
    tmp_path: Path, tiny_network: Network
) -> None:
    """G takes WH-EAST's room first; P's sofa then ships late, which the
    policies may do: the bound (LP and branch and bound) stays below them."""
    orders = _orders(
        tmp_path,
        tiny_network,
        [
            "G,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,20",
            "P,2026-01-05T11:00:00-05:00,C2,100,platinum,SOFA,1",
        ],
    )
    capacity = np.array([25.0, 800.0, 100.0])
    costs = _costs(tiny_network, orders, capacity)
    for mip_time_s in (0.0, 5.0):
        assert (
            _bound(tiny_network, orders, capacity, mip_time_s)
            <= min(costs.values()) + 1e-6
        )


def test_a_node_with_an_outage_proves_nothing_about_the_guarantee(
    tmp_path: Path, tiny_network: Network
) -> None:
    """WH-EAST, the sofa's only node, goes down before P arrives: the
    policies cannot ship it on time, so the bound of a hindsight run told of
    the outage must not charge the on-time price (it would be above them)."""
    orders = _orders(
        tmp_path, tiny_network, ["P,2026-01-05T11:00:00-05:00,C1,100,platinum,SOFA,1"]
    )
    east = tiny_network.node_ids.index("WH-EAST")
    at = np.datetime64("2026-01-05T15:00:00").astype("datetime64[s]").astype(float)
    outage = [CapacityEvent("down", float(at), east, "outage", 1.0)]
    online = [
        DayAllocator(tiny_network, orders, settings=policy, events=outage).run()
        for name, policy in POLICIES.items()
        if name != "hindsight plan"
    ]
    plan = DayAllocator(
        tiny_network, orders, settings=POLICIES["hindsight plan"], events=outage
    ).run()
    assert plan.lp_bound is not None
    assert plan.lp_bound <= min(r.summary()["total_cost"] for r in online) + 1e-6
    day = DayInputs(
        tiny_network,
        orders,
        TierPolicy(),
        np.zeros(1),
        tiny_network.capacity,
        tiny_network.inventory.astype(np.int64),
        capacity_fixed=np.array([n != east for n in range(tiny_network.n_nodes)]),
    )
    assert hindsight_bound(day) == pytest.approx(plan.lp_bound)
    assert plan.lp_bound < _bound(tiny_network, orders, tiny_network.capacity)


#: The property test's policies (no CP-SAT: its portfolio start-up dominates
#: on days this small; the named cases above run it).
_FAST = {
    name: policy for name, policy in POLICIES.items() if policy.engine != "cpsat"
} | {"hindsight plan": AllocationSettings(engine="greedy", hindsight=True)}

_SKUS = ("TEE", "MUG", "SPRAY", "SOFA")
_DESTS = ("100", "606", "900", "981", "331")
_TIERS = ("platinum", "gold", "silver", "overflow", "")


@st.composite
def tiny_days(draw: st.DrawFn) -> tuple[list[str], list[float]]:
    """Up to 8 orders of 1-3 lines over a day, and tight capacities."""
    rows = []
    for o in range(draw(st.integers(1, 8))):
        minute = draw(st.integers(6 * 60, 23 * 60))
        when = f"2026-01-05T{minute // 60:02d}:{minute % 60:02d}:00-05:00"
        dest, tier = draw(st.sampled_from(_DESTS)), draw(st.sampled_from(_TIERS))
        skus = draw(
            st.lists(st.sampled_from(_SKUS), min_size=1, max_size=3, unique=True)
        )
        for sku in skus:
            qty = draw(st.integers(1, 12))
            rows.append(f"O{o},{when},C{o},{dest},{tier},{sku},{qty}")
    capacity = draw(
        st.lists(st.floats(0.0, 40.0, allow_subnormal=False), min_size=3, max_size=3)
    )
    return rows, capacity


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(day=tiny_days())
def test_the_bound_is_below_every_policy(
    tmp_path: Path, tiny_network: Network, day: tuple[list[str], list[float]]
) -> None:
    rows, capacity = day
    orders = _orders(tmp_path, tiny_network, rows)
    cap = np.array(capacity)
    bound = _bound(tiny_network, orders, cap, mip_time_s=5.0)
    for name, cost in _costs(tiny_network, orders, cap, _FAST).items():
        assert bound <= cost + 1e-6 * max(1.0, abs(cost)), name


def test_the_relaxation_has_one_row_per_order_line_node_and_stock_position(
    tmp_path: Path, tiny_network: Network
) -> None:
    orders = _orders(
        tmp_path,
        tiny_network,
        [
            "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",
            "A,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1",
            "X,2026-01-05T10:00:00-05:00,C2,606,gold,SOFA,3",
        ],
    )
    lp = hindsight_relaxation(
        DayInputs(
            tiny_network,
            orders,
            TierPolicy(),
            np.zeros(2),
            tiny_network.capacity,
            tiny_network.inventory.astype(np.int64),
        )
    )
    # A (live: 1 order row, 2 line rows); X's only line is unfillable: left out
    n_orders, n_lines, n_nodes = 1, 2, tiny_network.n_nodes
    assert lp.n_rows >= n_orders + n_lines + n_nodes
    assert (lp.row_lower[:3] == np.array([1.0, 0.0, 0.0])).all()


def test_above_the_pair_budget_each_item_keeps_its_roomiest_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dropping nodes only drops rows (a weaker relaxation, still a bound);
    the nodes kept are the ones least likely to fill."""
    from tierflow.formulations import hindsight_relaxation as hr

    keeper = np.array([[True, True, True], [True, False, True]])
    capacity = np.array([5.0, 9.0, 7.0])
    monkeypatch.setattr(hr, "PAIR_BUDGET", 5)
    assert (hr._within_budget(keeper, capacity) == keeper).all()
    monkeypatch.setattr(hr, "PAIR_BUDGET", 2)
    kept = hr._within_budget(keeper, capacity)
    assert kept.tolist() == [[False, True, False], [False, False, True]]


def test_every_column_has_the_upper_bound_its_rows_imply(
    tmp_path: Path, tiny_network: Network
) -> None:
    """G's tees may take WH-EAST's room (22) before P's sofa arrives, so P's
    guarantee gets its rows and WH-EAST a load chain. Every column has a
    finite upper bound (a stopped simplex's duals prove nothing past an open
    column): 1 for the shipping, waiting and split columns and the
    indicators, the node's capacity for the load (it sums the node's
    shipping columns, 20 + 20 + 4 x 3.5 at most). Each holds at every
    feasible point, so dropping them leaves the optimum, whose point keeps
    them."""
    orders = _orders(
        tmp_path,
        tiny_network,
        [
            "G,2026-01-05T09:00:00-05:00,C1,100,gold,TEE,20",
            "P,2026-01-05T11:00:00-05:00,C2,100,platinum,SOFA,1",
        ],
    )
    lp = hindsight_relaxation(
        DayInputs(
            tiny_network,
            orders,
            TierPolicy(),
            np.zeros(2),
            np.array([22.0, 800.0, 100.0]),
            tiny_network.inventory.astype(np.int64),
        )
    )
    assert lp.integer is not None
    assert lp.col_upper.tolist() == [1.0] * 16 + [22.0, 1.0, 1.0]
    assert lp.integer.tolist() == [False] * 14 + [True, True, False, True, True]
    bounded = solve_linear_program(lp)
    open_lp = dataclasses.replace(
        lp, col_upper=np.where(lp.integer, 1.0, np.inf), integer=None
    )
    unbounded = solve_linear_program(open_lp)
    assert bounded.objective == pytest.approx(387.4, abs=1e-9)
    assert unbounded.objective == pytest.approx(387.4, abs=1e-9)
    assert (unbounded.x <= lp.col_upper + 1e-9).all()
    assert unbounded.x[16] == pytest.approx(22.0)
