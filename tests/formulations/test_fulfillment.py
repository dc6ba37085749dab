"""The fulfillment cost model on the tiny network, with hand-derived values.

Tiny network (tests/data/tiny_network): WH-EAST (Edison NJ, ET, cutoff 18:00),
WH-WEST (Ontario CA, PT, 18:00), ST-CHI (Chicago, CT, 15:00, no next-day).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA_DIR
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders
from tierflow.formulations.fulfillment import compile_orders, price_orders, stock_ok
from tierflow.formulations.tiers import TierPolicy

POLICY = TierPolicy()


@pytest.fixture(scope="module")
def tiny() -> Network:
    """The hand-made 3-node network."""
    return load_network(DATA_DIR / "tiny_network")


def _orders(tmp_path: Path, network: Network, rows: list[str]) -> Orders:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n" + "\n".join(rows)
    )
    return read_orders(path, network)


def test_gold_order_prices_every_node(tiny: Network, tmp_path: Path) -> None:
    """1 TEE to Manhattan (100), gold, Monday 10:00 ET.

    Promise: Monday + 3 delivery days = Thursday 2026-01-08.
    WH-EAST (zone 2): ground $10, 1 day, on time; handling 1.5 -> 11.5.
    WH-WEST (zone 8): ground $16 arrives Saturday, 2 days late ($24) -> two-day
    $20 on Wednesday is cheaper; handling 1.6.
    ST-CHI (zone 5): ground $13 arrives Thursday; handling 4.0.
    """
    orders = _orders(tmp_path, tiny, ["A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1"])
    opt = price_orders(tiny, orders, np.array([0]), POLICY)
    east, west, chi = (tiny.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI"))
    assert str(opt.promised[0]) == "2026-01-08"
    assert opt.shipping[0, east] == 10.0 and opt.service[0, east] == 2  # ground
    assert str(opt.delivery[0, east]) == "2026-01-06"
    assert opt.shipping[0, west] == 20.0 and opt.service[0, west] == 1  # two_day
    assert opt.penalty[0, west] == 0.0
    assert opt.shipping[0, chi] == 13.0 and str(opt.delivery[0, chi]) == "2026-01-08"
    np.testing.assert_allclose(opt.cost[0, [east, west, chi]], [11.5, 21.6, 17.0])


def test_platinum_respects_cutoff_and_timezone(tiny: Network, tmp_path: Path) -> None:
    """1 MUG to Chicago (606), platinum: next-day from WH-EAST only.

    At 17:30 ET WH-EAST (cutoff 18:00 ET) ships Monday, arrives Tuesday: on time.
    At 18:30 ET it ships Tuesday and only the relaxed price exists: next-day
    $25 (zone 5) + one day late ($40). WH-WEST, at 15:30 PT, is still before its
    cutoff and could make Tuesday (pricing ignores stock; it holds no MUG).
    """
    orders = _orders(
        tmp_path,
        tiny,
        [
            "P1,2026-01-05T17:30:00-05:00,C1,606,platinum,MUG,1",
            "P2,2026-01-05T18:30:00-05:00,C1,606,platinum,MUG,1",
        ],
    )
    opt = price_orders(tiny, orders, np.array([0, 1]), POLICY)
    east, chi = tiny.node_idx("WH-EAST"), tiny.node_idx("ST-CHI")
    assert str(opt.promised[0]) == "2026-01-06"
    assert opt.feasible[0, east] and opt.service[0, east] == 0
    assert opt.shipping[0, east] == 25.0
    assert not opt.feasible[0, chi]  # the store offers no next-day service
    assert opt.feasible[1].tolist() == [False, True, False]
    assert opt.relaxed_shipping[1, east] == 25.0
    assert opt.relaxed_penalty[1, east] == 40.0
    assert str(opt.relaxed_delivery[1, east]) == "2026-01-07"


def test_saturday_order_arrives_monday(tiny: Network, tmp_path: Path) -> None:
    """Platinum on Saturday 09:00 ET: ships Saturday, next-day lands Monday."""
    orders = _orders(
        tmp_path, tiny, ["S,2026-01-10T09:00:00-05:00,C1,606,platinum,MUG,1"]
    )
    opt = price_orders(tiny, orders, np.array([0]), POLICY)
    east = tiny.node_idx("WH-EAST")
    assert str(opt.ship_date[0, east]) == "2026-01-10"
    assert str(opt.promised[0]) == "2026-01-12"
    assert str(opt.delivery[0, east]) == "2026-01-12"
    assert opt.feasible[0, east]


def test_stock_and_compile(tiny: Network, tmp_path: Path) -> None:
    """MUG+SPRAY: no single node holds both (split stage); TEE x 60 only WH-EAST."""
    orders = _orders(
        tmp_path,
        tiny,
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


def test_bid_prices_shift_costs_not_true_costs(tiny: Network, tmp_path: Path) -> None:
    orders = _orders(tmp_path, tiny, ["A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,2"])
    plain = compile_orders(
        tiny,
        orders,
        np.array([0]),
        POLICY,
        capacity=tiny.capacity.copy(),
        stock=tiny.inventory.copy(),
        predicted_spend=np.zeros(1),
    )
    bid = np.array([3.0, 0.0, 0.0])
    shifted = compile_orders(
        tiny,
        orders,
        np.array([0]),
        POLICY,
        capacity=tiny.capacity.copy(),
        stock=tiny.inventory.copy(),
        predicted_spend=np.zeros(1),
        bid_price=bid,
    )
    work = plain.options.workload[0]
    assert shifted.problem.cost[0, 0] == pytest.approx(
        plain.problem.cost[0, 0] + 3 * work
    )
    np.testing.assert_array_equal(shifted.true_cost, plain.true_cost)
