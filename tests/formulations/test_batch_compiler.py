"""Batches compiled into the core problem on the tiny network: stock,
deferral, bid prices and split lines (the network is described in
``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.batch_compiler import (
    CompiledBatch,
    compile_lines,
    compile_orders,
    stock_ok,
)
from tierflow.formulations.tiers import TierPolicy

POLICY = TierPolicy()
OrdersOf = Callable[[list[str]], Orders]


def test_stock_and_compile(tiny: Network, tiny_orders: OrdersOf) -> None:
    """MUG+SPRAY: no single node holds both (split stage); TEE x 60 only WH-EAST."""
    orders = tiny_orders(
        [
            "M,2026-01-05T10:00:00-05:00,C1,900,silver,MUG,1",
            "M,2026-01-05T10:00:00-05:00,C1,900,silver,SPRAY,1",
            "T,2026-01-05T10:00:00-05:00,C2,900,gold,TEE,60",
        ],
    )
    idx = np.array([0, 1])
    ok = stock_ok(orders, idx, tiny.inventory)
    assert not ok[0].any()
    assert ok[1].tolist() == [True, False, False]
    batch = compile_orders(
        tiny,
        orders,
        idx,
        POLICY,
        capacity=tiny.capacity.copy(),
        stock=tiny.inventory.copy(),
        predicted_spend=np.array([0.0, 100.0]),
    )
    p = batch.problem
    assert p.eligible[1].tolist() == [True, False, False]
    # deferral: shipped tomorrow at the best price of any node offering the
    # service (WH-WEST, near LA, though it lacks the stock today), plus the
    # gold penalty and 5 % of the CLTV
    assert p.defer_cost is not None
    west = tiny.node_idx("WH-WEST")
    assert batch.options.cost[1].argmin() == west
    assert p.defer_cost[1] == pytest.approx(batch.options.cost[1, west] + 60.0 + 5.0)
    assert batch.options.cost[1, west] < p.cost[1, 0]
    assert p.use is not None and p.stock is not None
    assert sorted(tiny.sku_ids[k] for k in batch.skus) == ["MUG", "SPRAY", "TEE"]
    tee = int(np.flatnonzero(batch.skus == tiny.sku_index["TEE"])[0])
    assert p.use[1, tee] == 60 and p.use[1].sum() == 60
    np.testing.assert_allclose(
        p.weight[1], 60 * tiny.sku_complexity[tiny.sku_index["TEE"]]
    )


def test_bid_prices_shift_costs_not_true_costs(
    tiny: Network, tiny_orders: OrdersOf
) -> None:
    orders = tiny_orders(["A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,2"])
    plain, shifted = (
        compile_orders(
            tiny,
            orders,
            np.array([0]),
            POLICY,
            capacity=tiny.capacity.copy(),
            stock=tiny.inventory.copy(),
            predicted_spend=np.zeros(1),
            bid_price=bid,
        )
        for bid in (None, np.array([3.0, 0.0, 0.0]))
    )
    work = plain.options.workload[0]
    assert shifted.problem.cost[0, 0] == pytest.approx(
        plain.problem.cost[0, 0] + 3 * work
    )
    np.testing.assert_array_equal(shifted.true_cost, plain.true_cost)


def test_split_lines_ship_alone_and_pay_the_split_cost(
    tiny: Network, tiny_orders: OrdersOf
) -> None:
    """MUG+SPRAY, which no single node holds, as two line items."""
    orders = tiny_orders(
        [
            "M,2026-01-05T10:00:00-05:00,C1,900,silver,MUG,1",
            "M,2026-01-05T10:00:00-05:00,C1,900,silver,SPRAY,2",
        ],
    )
    lines = np.arange(orders.n_lines)
    batch = compile_lines(
        tiny,
        orders,
        lines,
        POLICY,
        capacity=tiny.capacity.copy(),
        stock=tiny.inventory.copy(),
        predicted_spend=np.zeros(lines.size),
    )
    assert batch.split.all() and batch.item_order.tolist() == [0, 0]
    assert batch.item_lines.tolist() == [0, 1, 2]
    assert batch.options.units.tolist() == [1.0, 2.0]
    shipping, penalty = batch.parts()
    expected = shipping + batch.options.handling + penalty + POLICY.split_shipment_cost
    ok = batch.problem.eligible
    assert ok.any(axis=1).all()
    np.testing.assert_allclose(batch.true_cost[ok], expected[ok])


def test_fulfillment_keeps_serving_both_halves() -> None:
    """``formulations.fulfillment`` re-exports pricing and compilation."""
    from tierflow.formulations import batch_compiler, fulfillment, order_pricing

    assert fulfillment.price_orders is order_pricing.price_orders
    assert fulfillment.lines_of is order_pricing.lines_of
    assert fulfillment.order_totals is order_pricing.order_totals
    assert fulfillment.compile_orders is batch_compiler.compile_orders
    assert fulfillment.CompiledBatch is batch_compiler.CompiledBatch


def test_a_waiting_order_is_priced_and_dated_from_a_node_that_could_ship_it(
    tiny: Network, tiny_orders: OrdersOf
) -> None:
    """A Gold TEE to New York waits. Its reference was the cheapest node
    offering the service: WH-EAST (ground, $10 + $1.50 handling, shipped
    Tuesday, Wednesday 2026-01-07) even when WH-EAST was closed. Closed,
    it is WH-WEST's (two-day, $20 + $1.60, Thursday 2026-01-08, on time);
    with no open node holding it this morning, no date is given (NaT), the
    cost still that of the open nodes; with every node closed, the cost is
    every node's reference, and no date. The date is that of the open nodes
    that held it this morning (WH-WEST's when WH-EAST has no TEE; it was
    WH-EAST's, 2026-01-07), the cost theirs, stock aside."""
    orders = tiny_orders(["T,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1"])
    idx = np.array([0])
    east, west = tiny.node_idx("WH-EAST"), tiny.node_idx("WH-WEST")
    tee = tiny.sku_index["TEE"]

    def waiting(
        open_nodes: np.ndarray | None, morning: np.ndarray | None = None
    ) -> tuple[float, str]:
        batch = compile_orders(
            tiny,
            orders,
            idx,
            POLICY,
            capacity=tiny.capacity.copy(),
            stock=tiny.inventory.copy(),
            predicted_spend=np.zeros(1),
            morning_stock=tiny.inventory if morning is None else morning,
            open_nodes=open_nodes,
        )
        assert batch.problem.defer_cost is not None
        cost = float(batch.problem.defer_cost[0]) - 60.0  # the Gold penalty
        return round(cost, 6), str(batch.waiting_delivery[0])

    every = np.ones(3, dtype=bool)
    closed_east = every.copy()
    closed_east[east] = False
    assert waiting(every) == (11.5, "2026-01-07")
    assert waiting(None) == (11.5, "2026-01-07")
    assert waiting(closed_east) == (21.6, "2026-01-08")
    only_east = tiny.inventory.copy()
    only_east[:, tee] = 0
    only_east[east, tee] = 1
    assert waiting(closed_east, only_east) == (21.6, "NaT")
    assert waiting(np.zeros(3, dtype=bool)) == (11.5, "NaT")
    # dated from an open node that held it this morning, priced stock aside:
    # WH-WEST (without TEE) was the date of a line only ST-CHI could ship
    no_west = tiny.inventory.copy()
    no_west[west, tee] = 0
    assert waiting(closed_east, no_west) == (21.6, "2026-01-09")
    no_east = tiny.inventory.copy()
    no_east[east, tee] = 0
    assert waiting(every, no_east) == (11.5, "2026-01-08")
    assert waiting(None, no_east) == (11.5, "2026-01-08")


def test_a_congested_lane_weighs_an_item_by_its_delay(
    tiny: Network, tiny_orders: OrdersOf
) -> None:
    """A Platinum Tee for New York, next-day from WH-EAST or WH-WEST (1.5
    units of room each), two-day only (late) from ST-CHI. With their
    next-day lanes at x2 it takes 2 units at either: neither has the room,
    so the late fallback opens ST-CHI, weighed by its two-day lane (x3),
    and the bid price is charged on that weight. With every lane at 1 the
    problem is the one compiled without congestion, array for array."""
    orders = tiny_orders(["P,2026-01-05T10:00:00-05:00,C1,100,platinum,TEE,1"])
    east, west, chi = (tiny.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI"))
    congestion = np.ones((tiny.n_nodes, 4))
    congestion[[east, west], 0] = 2.0  # next_day
    congestion[chi, 1] = 3.0  # two_day
    bid = np.array([0.5, 0.25, 0.1])

    def compiled(lanes: np.ndarray | None) -> CompiledBatch:
        return compile_orders(
            tiny,
            orders,
            np.array([0]),
            POLICY,
            capacity=np.array([1.5, 1.5, 100.0]),
            stock=tiny.inventory.copy(),
            predicted_spend=np.zeros(1),
            bid_price=bid,
            congestion=lanes,
        )

    plain, late = compiled(None), compiled(congestion)
    assert plain.problem.eligible[0].tolist() == [True, True, False]
    assert late.use_relaxed[0].tolist() == [False, False, True]
    assert late.problem.eligible[0].tolist() == [True, True, True]
    assert late.problem.weight[0].tolist() == [2.0, 2.0, 3.0]
    np.testing.assert_allclose(
        late.problem.cost[0] - late.true_cost[0], bid * [2.0, 2.0, 3.0]
    )
    ones = compiled(np.ones((tiny.n_nodes, 4)))
    for name in ("cost", "weight", "capacity", "eligible", "defer_cost"):
        assert np.array_equal(
            getattr(ones.problem, name), getattr(plain.problem, name)
        ), name
