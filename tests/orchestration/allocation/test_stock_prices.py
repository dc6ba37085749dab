"""Stock bid prices: the closed form, and a thin-stock day where charging
them beats capacity-only bid prices and reaches the hindsight bound."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_NETWORK
from tierflow.data.network import load_network
from tierflow.data.orders import read_orders
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.stock_prices import stock_bid_prices


def test_a_unit_is_priced_at_the_expected_value_of_the_class_it_reaches() -> None:
    """One unit left at node 0 (both classes) and one at node 1 (the low
    class only): ``(5000 - 30) P(N_p >= S_p) + 30 P(N_p + N_g >= S)``."""
    stock = np.array([[1], [1]])
    rate = np.array([[0.05], [2.0]])  # class 0 (high), class 1 (low)
    value = np.array([5000.0, 30.0])
    eligible = np.array([[True, False], [True, True]])
    price = stock_bid_prices(stock, rate, value, eligible)
    high = 1 - math.exp(-0.05)  # P(N_p >= 1): S_p = 1 at node 0
    # P(N >= 2), N ~ Poisson(2.05): S = 2 at the low class's nodes
    low = 1 - math.exp(-2.05) * (1 + 2.05)
    assert price[0, 0] == pytest.approx(4970 * high + 30 * low, rel=1e-12)
    assert price[1, 0] == pytest.approx(30 * low, rel=1e-12)
    # nothing left: nothing to price
    assert (
        stock_bid_prices(np.zeros((2, 1), np.int64), rate, value, eligible).max() == 0
    )


def test_the_last_mug_is_kept_for_the_platinum_order(tmp_path: Path) -> None:
    """24 TEE orders through the morning (a fifth of them Platinum), then a
    Gold order for the network's one MUG at 09:00 and a Platinum one at 15:00.
    Capacity-only bid prices give the MUG to the Gold order and the Platinum
    order waits ($10,395); the MUG's stock bid price keeps it for the
    Platinum order, the Gold one waiting ($411), which is the day's proven
    lower bound: the policy is optimal on this day."""
    net_dir = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, net_dir)
    (net_dir / "inventory.csv").write_text(
        "node_id,sku,on_hand\nWH-EAST,TEE,100\nWH-EAST,MUG,1\nWH-WEST,TEE,50\n"
    )
    net = load_network(net_dir)
    tiers = ["silver", "gold", "platinum", "silver", "gold"]
    rows = [
        f"T{i:02d},2026-01-14T{i // 3:02d}:{i % 3 * 20:02d}:00-05:00,C{i:03d},100,"
        f"{tiers[i % 5]},TEE,1"
        for i in range(24)
    ]
    rows += [
        "G1,2026-01-14T09:00:00-05:00,C900,100,gold,MUG,1",
        "P1,2026-01-14T15:00:00-05:00,C901,100,platinum,MUG,1",
    ]
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        + "\n".join(rows)
        + "\n"
    )
    orders = read_orders(path, net)

    def run(
        settings: AllocationSettings,
    ) -> tuple[dict[str, object], dict[str, tuple[str, str]]]:
        out = DayAllocator(net, orders, settings=settings).run()
        summary = out.summary()
        # every batch's solution was verified (tierflow.solver.verify), none
        # fell back, and the rows re-price to the total without a problem
        assert summary["fallback_batches"] == 0
        assert summary["repricing_problems"] == 0
        mug = out.rows[out.rows.sku == "MUG"]
        return summary, {
            r.order_id: (r.status, r.node_id or "") for r in mug.itertuples()
        }

    before, mug_before = run(AllocationSettings(stock_bid_prices=False))
    after, mug_after = run(AllocationSettings())
    hindsight, _ = run(AllocationSettings(hindsight=True))
    assert mug_before == {"G1": ("allocated", "WH-EAST"), "P1": ("deferred", "")}
    assert mug_after == {"G1": ("deferred", ""), "P1": ("allocated", "WH-EAST")}
    assert before["total_cost"] == pytest.approx(10395.0, abs=1e-6)
    assert after["total_cost"] == pytest.approx(411.0, abs=1e-6)
    assert hindsight["lp_bound"] == pytest.approx(411.0, abs=1e-6)
