"""Stock bid prices: the closed form, and a thin-stock day where charging
them beats capacity-only bid prices and reaches the hindsight bound."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.stats import poisson

from tests.allocation_checks import assert_rows_verify
from tests.conftest import TINY_NETWORK
from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network, load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration import stock_prices
from tierflow.orchestration.allocation.batch_bid_prices import BatchBidPrices
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.stock_prices import (
    MIN_KNOWN,
    PRIOR_ORDERS,
    StockOutlook,
    StockPrices,
    _poisson_cdf,
    _poisson_sf,
    prior_weight,
    shippable_stock,
    stock_bid_prices,
)


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


def test_a_unit_is_priced_at_what_serving_it_from_its_node_gains() -> None:
    """One TEE left, at WH-WEST (node 1), none at WH-EAST (node 0); Gold
    demand of 2 TEEs to come. A Gold order to New York loses $60 waiting
    and ships tomorrow at its cheapest node's $11.50; from WH-WEST it pays
    $21.60 today, so it gains $49.90 there, and so would the later order
    the unit is kept for. Priced at the gross $60 the unit cost
    ``60 P(N >= 1) = $51.88``, above the $49.90 the order now gains: it
    waited for a later order that gains no more. Net of the shipping, the
    unit costs ``49.90 P(N >= 1) = $43.15`` and the order ships."""
    stock = np.array([[0], [1]])
    rate = np.array([[2.0]])
    eligible = np.array([[True, True]])
    reaches = 1 - math.exp(-2.0)  # P(N >= 1), N ~ Poisson(2)
    gross = stock_bid_prices(stock, rate, np.array([60.0]), eligible)
    net = StockPrices.of(stock, rate, np.array([[60.0, 49.9]]), eligible)
    assert gross[1, 0] == pytest.approx(60 * reaches, rel=1e-12)
    assert gross[1, 0] == pytest.approx(51.8799, abs=1e-4)
    assert net.unit[1, 0] == pytest.approx(49.9 * reaches, rel=1e-12)
    assert net.unit[1, 0] == pytest.approx(43.1468, abs=1e-4)
    one = np.array([[1.0]])
    assert net.charge(np.array([0], dtype=np.intp), one)[0, 1] == net.unit[1, 0]
    gain = 60.0 - (21.6 - 11.5)
    assert gross[1, 0] > gain > net.unit[1, 0]


def test_each_node_ranks_the_classes_by_what_they_gain_there() -> None:
    """One unit at each of two nodes; class 0 gains 100 at node 0 and 10 at
    node 1 (far from its demand), class 1 gains 50 at both. Node 0 ranks
    class 0 first: ``50 P(N_0 >= 2) + 50 P(N_0 + N_1 >= 2)``; node 1 ranks
    class 1 first: ``40 P(N_1 >= 2) + 10 P(N_0 + N_1 >= 2)``, where a
    ranking shared by both nodes would count class 1's value at node 1
    only when class 0's demand came too."""
    stock = np.array([[1], [1]])
    rate = np.array([[0.5], [3.0]])
    value = np.array([[100.0, 10.0], [50.0, 50.0]])
    prices = StockPrices.of(stock, rate, value, np.ones((2, 2), dtype=bool))

    def sf2(lam: float) -> float:  # P(N >= 2), N ~ Poisson(lam)
        return 1 - math.exp(-lam) * (1 + lam)

    assert prices.unit[0, 0] == pytest.approx(50 * sf2(0.5) + 50 * sf2(3.5))
    assert prices.unit[1, 0] == pytest.approx(40 * sf2(3.0) + 10 * sf2(3.5))
    assert prices.group.tolist() == [0, 1]
    np.testing.assert_array_equal(prices.step, [[50.0, 50.0], [40.0, 10.0]])


def test_a_tier_is_valued_at_each_node_net_of_what_shipping_there_costs_more(
    tmp_path: Path,
) -> None:
    """Five Gold one-TEE orders to New York seen (no CLTV: $60 each to
    wait, then shipped tomorrow at WH-EAST's $10 ground and $1.50
    handling). From WH-EAST a Gold unit gains the $60; from WH-WEST (zone
    8, two-day to keep the date: $20, $1.60 handling) $49.90; from ST-CHI
    (ground $13, $4 handling) $54.50. The steps at each node, Platinum,
    Silver and Overflow unseen (their base penalty over the 1 unit an
    order): $10,000, then the Gold value, $20, $5 (ST-CHI, without
    next-day, ships Platinum by its two-day fallback). Until now every node
    read $60."""
    net = _thin_network(tmp_path, "WH-EAST,TEE,3\nWH-WEST,TEE,3\nST-CHI,TEE,3\n")
    rows = [
        f"T{k},2026-01-05T09:{k:02d}:00-05:00,C{k},100,gold,TEE,1" for k in range(5)
    ]
    path = tmp_path / "gold.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        + "\n".join(rows)
        + "\n"
    )
    orders = read_orders(path, net)
    outlook = StockOutlook(net, orders, TierPolicy(), np.zeros(orders.n_orders))
    outlook.mark_seen(np.arange(3, dtype=np.intp))
    stock = np.asarray(net.inventory, dtype=np.int64)
    prices = outlook.prices(stock, 10.0, np.arange(3, 5, dtype=np.intp))
    assert prices is not None
    assert net.node_ids == ("WH-EAST", "WH-WEST", "ST-CHI")
    steps = np.array(
        [
            [10_000 - 60, 60 - 20, 15, 5],
            [10_000 - 49.9, 49.9 - 20, 15, 5],
            [10_000 - 54.5, 54.5 - 20, 15, 5],
        ],
        dtype=np.float64,
    )
    np.testing.assert_allclose(prices.step, steps, rtol=1e-12)


def test_the_prior_weighs_less_only_where_the_lines_reject_the_popularity() -> None:
    """Pearson's chi-square of the lines per SKU against the popularity,
    the SKUs expected to have fewer than 5 lines pooled (the pool left out
    when it expects fewer): 300 orders unless it rejects at 1 %; then
    ``(n - C) / (C - 1)`` lines, ``C = X^2 / df``, over the lines an order."""
    alike = np.full(4, 0.25)
    # every line of one SKU of four alike: C = 120 / 3 = n, weight 0
    assert prior_weight(np.array([40.0, 0, 0, 0]), alike, 40) == 0.0
    # X^2 = 10 + 0 + 2.5 + 2.5 (p = 0.0018): C = 5, 35 / 4 lines at 2 an order
    assert prior_weight(np.array([20.0, 10, 5, 5]), alike, 20) == 4.375
    # within the popularity's draws: the full weight
    assert prior_weight(np.array([12.0, 10, 9, 9]), alike, 20) == PRIOR_ORDERS
    # expected 28, 8, 2, 2: the pool expects 4, left out; X^2 = 36/28 + 36/8
    # (p = 0.016) does not reject at 1 %
    skew = np.array([0.7, 0.2, 0.05, 0.05])
    assert prior_weight(np.array([34.0, 2, 2, 2]), skew, 40) == PRIOR_ORDERS
    # expected 60, 30 and a pool of 10: X^2 = 400/60 + 0 + 400/10, df 2
    five = np.array([0.6, 0.3, 0.04, 0.03, 0.03])
    c = (400 / 60 + 40) / 2
    weight = prior_weight(np.array([40.0, 30, 10, 10, 10]), five, 50)
    assert weight == pytest.approx((100 - c) / (c - 1) * 50 / 100, rel=1e-12)
    assert weight == pytest.approx(1.7164, abs=1e-4)
    assert prior_weight(np.zeros(4), alike, 0) == PRIOR_ORDERS


def test_q_units_cost_the_sum_of_their_marginal_expected_duals() -> None:
    """Two units at node 0 (both classes), one at node 1 (the low class
    only). Taking both of node 0's uses up the ``S``-th and ``(S-1)``-th
    unit of each class's stock: ``sum_{i<2} (5000 - 30) P(N_p >= 2 - i)
    + 30 P(N_p + N_g >= 3 - i)``; the price of two was twice the first
    unit's, ``2 (4970 P(N_p >= 2) + 30 P(N >= 3))``."""
    stock = np.array([[2], [1]])
    rate = np.array([[0.05], [2.0]])
    value = np.array([5000.0, 30.0])
    eligible = np.array([[True, False], [True, True]])
    prices = StockPrices.of(stock, rate, value, eligible)

    def sf(s: int, lam: float) -> float:  # P(N >= s), N ~ Poisson(lam)
        return 1 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(s))

    first = 4970 * sf(2, 0.05) + 30 * sf(3, 2.05)
    second = 4970 * sf(1, 0.05) + 30 * sf(2, 2.05)
    np.testing.assert_allclose(prices.unit[:, 0], [first, 30 * sf(3, 2.05)])
    np.testing.assert_array_equal(
        prices.unit, stock_bid_prices(stock, rate, value, eligible)
    )
    skus = np.array([0], dtype=np.intp)
    use = np.array([[1.0], [2.0], [0.0]])  # items taking 1, 2 and 0 units
    charge = prices.charge(skus, use)
    assert charge.shape == (3, 2)
    assert charge[0, 0] == pytest.approx(first, rel=1e-12)
    assert charge[1, 0] == pytest.approx(first + second, rel=1e-12)
    assert charge[1, 0] > 4 * 2 * first  # the linear form's, far below
    # node 1 holds one unit: only the low class's term, for its last unit
    assert charge[0, 1] == pytest.approx(30 * sf(3, 2.05), rel=1e-12)
    assert charge[2].tolist() == [0.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_closed_form_charge_is_the_sum_of_the_units_prices(seed: int) -> None:
    """charge's closed form equals the unit-by-unit sum of the units' prices
    on random batches: up to 4 classes, 1-6 nodes, lines of 1-12 units
    against 0-5 units a node (more than a class's nodes hold included),
    the classes valued alike at every node or per node (ranked otherwise
    at different nodes)."""
    rng = np.random.default_rng(seed)
    n_classes, n_nodes, n_skus = rng.integers(1, 5), rng.integers(1, 7), 5
    stock = rng.integers(0, 6, (n_nodes, n_skus))
    rate = rng.choice([0.0, 0.01, 0.5, 3.0, 20.0], (n_classes, n_skus))
    levels = [0.0, 5.0, 30.0, 400.0, 5000.0]
    # the classes' values the same at every node, or each node's own
    shape = (n_classes,) if rng.random() < 0.5 else (n_classes, n_nodes)
    value = rng.choice(levels, shape)
    eligible = rng.random((n_classes, n_nodes)) < 0.6
    prices = StockPrices.of(stock, rate, value, eligible)
    skus = rng.permutation(n_skus)[: rng.integers(1, n_skus + 1)].astype(np.intp)
    use = rng.integers(0, 13, (7, skus.size)) * (rng.random((7, skus.size)) < 0.5)
    # the i-th unit taken (i = 0: the first): sum_c step_c P(N_c >= S_c - i)
    depth = int(use.max(initial=0)) + 1
    marginal = np.zeros((n_nodes, skus.size, depth))
    for j, c in np.ndindex(*prices.step.shape):
        g = prices.group[j]
        if prices.step[j, c] <= 0:
            continue
        assert prices.reach[g, c, j]
        units = prices.stock[prices.reach[g, c]][:, skus].sum(axis=0)[:, None]
        units = units - np.arange(depth)[None, :]
        lam = prices.lam[g, c, skus][:, None]
        p = np.where(units > 0, poisson.sf(units - 1, lam), 0.0)
        marginal[j] += prices.step[j, c] * p
    summed = np.zeros((7, n_nodes))
    for i, k in np.ndindex(*use.shape):
        summed[i] += marginal[:, k, : use[i, k]].sum(axis=1)
    np.testing.assert_allclose(
        prices.charge(skus, use.astype(np.float64)), summed, rtol=1e-9, atol=1e-9
    )


def test_a_line_of_ten_thousand_units_is_charged_in_little_memory() -> None:
    """A cart line of 10,000 units (the largest a cart takes) in a batch of
    200 SKUs at 10 nodes: summed unit by unit, every SKU's prices were
    built to that depth (160 MB here; 4 GB at 1,000 SKUs and 52 nodes).
    Taking more than all the units the classes' nodes hold costs what
    taking all of them does."""
    rng = np.random.default_rng(3)
    stock = rng.integers(0, 4, (10, 200))
    rate = rng.random((3, 200))
    value = np.array([5000.0, 400.0, 30.0])
    prices = StockPrices.of(stock, rate, value, rng.random((3, 10)) < 0.7)
    use = np.zeros((50, 200))
    use[np.arange(50), rng.integers(0, 200, 50)] = 1.0
    use[0] = 0.0
    use[0, 7] = 10_000.0
    held = int(stock[:, 7].sum())
    tracemalloc.start()
    try:
        charge = prices.charge(np.arange(200, dtype=np.intp), use)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak
    all_of_them = use[:1].copy()
    all_of_them[0, 7] = held
    np.testing.assert_allclose(
        charge[0], prices.charge(np.arange(200, dtype=np.intp), all_of_them)[0]
    )


def test_two_mugs_for_gold_cost_the_last_ones_price(tmp_path: Path) -> None:
    """The network's two MUGs at WH-EAST, a rare SKU (popularity 0.001); a
    Gold order for both at 09:00, a Platinum order for one at 15:00.
    Priced as twice the first unit's price (the chance the Platinum demand
    reaches two MUGs, ~0.2 %), the Gold order took both and the Platinum
    one waited ($10,396.50); priced as the two units' marginal duals (the
    second is the one a single Platinum order would need, ~5 %), the Gold
    order waits and the Platinum order ships ($412.50; the hindsight plan
    $416.50 within its time limit, the bound $382.50)."""
    net = _thin_network(
        tmp_path,
        "WH-EAST,TEE,100\nWH-EAST,MUG,2\nWH-WEST,TEE,50\n",
        popularity={"TEE": 0.9, "MUG": 0.001, "SPRAY": 0.05, "SOFA": 0.05},
    )
    orders = _mug_day(tmp_path, net, gold_mugs=2)
    out = DayAllocator(net, orders, settings=AllocationSettings()).run()
    summary = out.summary()
    assert summary["fallback_batches"] == 0
    assert summary["repricing_problems"] == 0
    mug = out.rows[out.rows.sku == "MUG"]
    assert {r.order_id: (r.status, r.node_id or "") for r in mug.itertuples()} == {
        "G1": ("deferred", ""),
        "P1": ("allocated", "WH-EAST"),
    }
    assert summary["total_cost"] == pytest.approx(412.5, abs=1e-6)


def test_the_nights_first_orders_are_priced(tmp_path: Path) -> None:
    """A Gold order for the network's one MUG at 00:10, the day's first
    order, and a Platinum one at 15:00, no history. The intraday forecast
    gives no run rate before 5 % of the day and the first 20 orders were
    not priced: the MUG went to the Gold order and the Platinum order
    waited ($10,395). The orders seen are now counted as if 5 % of the day
    had gone, the tiers' shares are smoothed and a tier not yet seen is
    valued at its base penalty: the MUG is kept ($411)."""
    net = _thin_network(tmp_path, "WH-EAST,TEE,100\nWH-EAST,MUG,1\nWH-WEST,TEE,50\n")
    orders = _mug_day(tmp_path, net, gold_at="00:10")
    out = DayAllocator(net, orders, settings=AllocationSettings()).run()
    mug = out.rows[out.rows.sku == "MUG"]
    assert {r.order_id: (r.status, r.node_id or "") for r in mug.itertuples()} == {
        "G1": ("deferred", ""),
        "P1": ("allocated", "WH-EAST"),
    }
    assert out.summary()["total_cost"] == pytest.approx(411.0, abs=1e-6)


def test_the_last_mug_is_kept_for_the_platinum_order(tmp_path: Path) -> None:
    """24 TEE orders through the morning (a fifth of them Platinum), then a
    Gold order for the network's one MUG at 09:00 and a Platinum one at 15:00.
    Capacity-only bid prices give the MUG to the Gold order and the Platinum
    order waits ($10,395); the MUG's stock bid price keeps it for the
    Platinum order, the Gold one waiting ($411), which is the day's proven
    lower bound: the policy is optimal on this day."""
    net = _thin_network(tmp_path, "WH-EAST,TEE,100\nWH-EAST,MUG,1\nWH-WEST,TEE,50\n")
    orders = _mug_day(tmp_path, net)

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


def test_the_last_unit_at_a_platinum_fallback_node_is_kept(tmp_path: Path) -> None:
    """The day of :func:`test_the_last_mug_is_kept_for_the_platinum_order`
    with the one MUG at ST-CHI, which offers no next-day: the Platinum
    order ships it two-day (its fallback where no node keeps its date, a
    day late). The stock prices counted Platinum's demand only at the
    nodes offering next-day, so the MUG was priced at the Gold and lower
    values, the Gold order took it and the Platinum order waited
    ($10,400.50); counted at its fallback nodes too, the MUG is kept and
    the day costs its proven lower bound ($448.50)."""
    net = _thin_network(tmp_path, "WH-EAST,TEE,100\nST-CHI,MUG,1\nWH-WEST,TEE,50\n")
    orders = _mug_day(tmp_path, net)
    out = DayAllocator(net, orders, settings=AllocationSettings()).run()
    mug = out.rows[out.rows.sku == "MUG"]
    assert {
        r.order_id: (r.status, r.node_id or "", r.service or "")
        for r in mug.itertuples()
    } == {"G1": ("deferred", "", ""), "P1": ("allocated", "ST-CHI", "two_day")}
    assert out.summary()["total_cost"] == pytest.approx(448.5, abs=1e-6)
    plan = DayAllocator(net, orders, settings=AllocationSettings(hindsight=True))
    assert plan.run().summary()["lp_bound"] == pytest.approx(448.5, abs=1e-6)


def _thin_network(
    tmp_path: Path, inventory: str, popularity: dict[str, float] | None = None
) -> Network:
    """The tiny network with ``inventory`` as its stock (and the SKUs'
    ``popularity``, when given)."""
    net_dir = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, net_dir)
    (net_dir / "inventory.csv").write_text("node_id,sku,on_hand\n" + inventory)
    if popularity is not None:
        table = pd.read_csv(net_dir / "skus.csv")
        table["popularity"] = table["sku"].map(popularity)
        table.to_csv(net_dir / "skus.csv", index=False)
    return load_network(net_dir)


THIN = (
    "WH-EAST,TEE,6\nWH-EAST,MUG,3\nWH-EAST,SOFA,1\nWH-WEST,TEE,4\n"
    "WH-WEST,SPRAY,3\nST-CHI,TEE,2\nST-CHI,MUG,1\n"
)
DAY = dt.date(2026, 1, 14)
#: Orders after this UTC instant ask for other SKUs in the second run.
CUT = np.datetime64("2026-01-14T19:00:00")


def _priced(
    monkeypatch: pytest.MonkeyPatch,
    inputs: dict[np.datetime64, NDArray[np.float64] | None] | None = None,
) -> dict[np.datetime64, NDArray[np.float64] | None]:
    """Records the stock bid prices of every batch (the first unit's), by
    the batch's time; and in ``inputs`` every number the price of ``q``
    units is computed from (the demand rates, the values' steps, the stock
    and the nodes reached)."""
    seen: dict[np.datetime64, NDArray[np.float64] | None] = {}
    price_stock = BatchBidPrices.price_stock

    def record(
        self: BatchBidPrices, now: np.datetime64, current: NDArray[np.intp]
    ) -> None:
        price_stock(self, now, current)
        prices = self.stock_prices
        seen[now] = None if prices is None else prices.unit.copy()
        if inputs is not None:
            inputs[now] = (
                None
                if prices is None
                else np.concatenate(
                    [
                        prices.lam.ravel(),
                        prices.step.ravel(),
                        prices.stock.ravel(),
                        prices.reach.ravel(),
                        prices.group,
                    ]
                ).astype(np.float64)
            )

    monkeypatch.setattr(BatchBidPrices, "price_stock", record)
    return seen


Priced = dict[np.datetime64, NDArray[np.float64] | None]


def _same_prices(
    times: list[np.datetime64], a: tuple[Priced, Priced], b: tuple[Priced, Priced]
) -> None:
    """Runs ``a`` and ``b`` charged the same prices at ``times``, bit for
    bit, from the same numbers (``(prices, inputs)`` of :func:`_priced`)."""
    for t in times:
        pa, pb = a[0][t], b[0][t]
        assert (pa is None) == (pb is None), t
        if pa is not None and pb is not None:
            assert np.isfinite(pa).all()
            np.testing.assert_array_equal(pa, pb, err_msg=str(t))
            np.testing.assert_array_equal(a[1][t], b[1][t], err_msg=str(t))


@pytest.mark.parametrize("with_history", [True, False])
def test_stock_prices_do_not_read_the_skus_of_later_orders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_history: bool
) -> None:
    """Two days alike up to ``CUT``, every later order asking for another
    SKU (TEE <-> MUG, SPRAY <-> SOFA), and fewer of them: every batch that
    closes by ``CUT`` is charged the same stock prices, bit for bit, and
    decides the same, on stock thin enough that the prices are not 0."""
    net = _thin_network(tmp_path, THIN)
    day = generate_orders(net, n_orders=160, days=1, seed=3, start=DAY)
    late = pd.to_datetime(day["created_at"], utc=True) > pd.Timestamp(CUT, tz="UTC")
    assert 20 < late.sum() < len(day) - 40
    other = day.copy()
    swap = {"TEE": "MUG", "MUG": "TEE", "SPRAY": "SOFA", "SOFA": "SPRAY"}
    other.loc[late, "sku"] = other.loc[late, "sku"].map(swap)
    gone = other.loc[late, "order_id"].unique()[::3]
    other = other[~other["order_id"].isin(gone)]
    forecast = None
    if with_history:
        past = generate_orders(
            net, n_orders=700, days=7, seed=4, start=DAY - dt.timedelta(days=7)
        )
        forecast = DemandForecast.from_history(
            read_orders(write_orders(past, tmp_path / "h.csv"), net), net
        )
    settings = AllocationSettings(engine="greedy", batch_minutes=30)

    def run(
        frame: pd.DataFrame, name: str
    ) -> tuple[Priced, Priced, pd.DataFrame, tuple[np.datetime64, ...]]:
        inputs: Priced = {}
        seen = _priced(monkeypatch, inputs)
        orders = read_orders(write_orders(frame, tmp_path / name), net)
        allocator = DayAllocator(net, orders, settings=settings, forecast=forecast)
        out = allocator.run()
        return dict(seen), inputs, out.rows, allocator.plan.times

    prices_a, inputs_a, rows_a, closes_a = run(day, "a.csv")
    prices_b, inputs_b, rows_b, closes_b = run(other, "b.csv")
    # exactly the batches that close by the cut: the one open across it
    # already holds later orders, so neither its prices nor the decisions
    # of its orders created before the cut need agree
    shut = [b for b, t in enumerate(closes_a) if t <= CUT]
    early = [closes_a[b] for b in shut]
    assert closes_b[: len(shut)] == tuple(early)
    assert len(early) > 10
    charged = [p for t in early if (p := prices_a[t]) is not None and p.max() > 1]
    assert len(charged) > 5
    _same_prices(early, (prices_a, inputs_a), (prices_b, inputs_b))
    # the later batches did see other prices: the check can tell
    later = [(prices_a[t], prices_b.get(t)) for t in prices_a if t > CUT]
    assert any(
        a is not None and b is not None and not np.array_equal(a, b) for a, b in later
    )
    cols = ["order_id", "sku", "node_id", "service", "status", "batch"]

    def decided(rows: pd.DataFrame) -> pd.DataFrame:
        keep = rows[rows["batch"].isin(shut)][cols]
        return keep.sort_values(["order_id", "sku"]).reset_index(drop=True)

    assert len(decided(rows_a)) > 40
    pd.testing.assert_frame_equal(decided(rows_a), decided(rows_b))


def _equal_penalties() -> TierPolicy:
    """Every tier deferred at the same base penalty (and no CLTV term)."""
    base = TierPolicy()
    rules = {t: dataclasses.replace(r, defer=50.0) for t, r in base.rules.items()}
    return dataclasses.replace(base, rules=rules, cltv_defer_weight=0.0)


EDGES = {
    # inventory, skus.csv (None: the tiny one), orders, policy, history
    "no popularity anywhere": (THIN, "popularity=0", 120, None, True),
    "one SKU": ("WH-EAST,TEE,5\nWH-WEST,TEE,3\n", "TEE only", 120, None, True),
    "no stock anywhere": ("WH-EAST,TEE,0\n", None, 120, None, True),
    "huge stock": (
        "WH-EAST,TEE,900000000\nWH-EAST,MUG,900000000\nWH-WEST,SPRAY,900000000\n"
        "ST-CHI,SOFA,900000000\n",
        None,
        120,
        None,
        True,
    ),
    "equal penalties": (THIN, None, 120, "equal", True),
    "a few orders, no history": (THIN, None, MIN_KNOWN + 4, None, False),
    "no history": (THIN, None, 120, None, False),
}


def _edge_network(tmp_path: Path, inventory: str, skus: str | None) -> Network:
    """The tiny network with ``inventory``, its SKUs as ``skus`` says."""
    net_dir = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, net_dir)
    (net_dir / "inventory.csv").write_text("node_id,sku,on_hand\n" + inventory)
    table = pd.read_csv(net_dir / "skus.csv")
    if skus == "popularity=0":
        table["popularity"] = 0.0
    elif skus == "TEE only":
        table = table[table["sku"] == "TEE"]
    table.to_csv(net_dir / "skus.csv", index=False)
    return load_network(net_dir)


@pytest.mark.parametrize("case", list(EDGES))
def test_stock_prices_are_finite_and_the_rows_verify_on_edge_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """No crash, no NaN or inf among the prices, at most the highest value
    per unit (a probability-weighted sum of the tiers' values), and every
    batch's rows verify."""
    inventory, skus, n_orders, policy_name, with_history = EDGES[case]
    net = _edge_network(tmp_path, inventory, skus)
    policy = _equal_penalties() if policy_name == "equal" else TierPolicy()
    day = generate_orders(net, n_orders=n_orders, days=1, seed=3, start=DAY)
    orders = read_orders(write_orders(day, tmp_path / "day.csv"), net)
    forecast = None
    if with_history:
        past = generate_orders(
            net, n_orders=300, days=5, seed=4, start=DAY - dt.timedelta(days=5)
        )
        forecast = DemandForecast.from_history(
            read_orders(write_orders(past, tmp_path / "h.csv"), net), net
        )
    seen = _priced(monkeypatch)
    settings = AllocationSettings(engine="greedy", batch_minutes=30)
    out = DayAllocator(
        net, orders, settings=settings, policy=policy, forecast=forecast
    ).run()
    top = max(r.defer for r in policy.rules.values()) + policy.cltv_defer_weight * (
        policy.cltv_cap
    )
    priced = [p for p in seen.values() if p is not None]
    for p in priced:
        assert np.isfinite(p).all()
        assert p.min() >= 0.0
        assert p.max() <= top
    highest = max((p.max() for p in priced), default=None)
    if case == "huge stock":
        assert highest is not None and highest < 1e-9
    elif case == "no stock anywhere":
        assert highest == 0.0
    else:  # thin stock: the prices are charged
        assert highest is not None and highest > 1.0
    summary = out.summary()
    assert summary["fallback_batches"] == 0
    assert summary["repricing_problems"] == 0
    assert_rows_verify(net, orders, out.rows, net.capacity)


def _mug_day(
    tmp_path: Path, net: Network, *, gold_mugs: int = 1, gold_at: str = "09:00"
) -> Orders:
    """The day of :func:`test_the_last_mug_is_kept_for_the_platinum_order`:
    24 TEE orders from 00:20, a Gold order for ``gold_mugs`` MUGs at
    ``gold_at`` and a Platinum one for a MUG at 15:00."""
    tiers = ["silver", "gold", "platinum", "silver", "gold"]
    rows = [
        f"T{i:02d},2026-01-14T{(i + 1) // 3:02d}:{(i + 1) % 3 * 20:02d}:00-05:00,"
        f"C{i:03d},100,{tiers[i % 5]},TEE,1"
        for i in range(24)
    ]
    rows += [
        f"G1,2026-01-14T{gold_at}:00-05:00,C900,100,gold,MUG,{gold_mugs}",
        "P1,2026-01-14T15:00:00-05:00,C901,100,platinum,MUG,1",
    ]
    path = tmp_path / "mug-day.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        + "\n".join(rows)
        + "\n"
    )
    return read_orders(path, net)


def test_a_unit_at_a_node_with_no_room_left_today_does_not_lower_the_price(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WH-WEST holds a second MUG but has no room today (capacity 0, as a
    node closed for the day): that MUG cannot serve the afternoon's
    Platinum order, so the last MUG at WH-EAST is priced as if it were the
    network's only one, and kept for the Platinum order. Counted in the
    stock ``S``, it halved the chance the Platinum order needs it, and the
    Gold order took it."""
    both = "WH-EAST,TEE,100\nWH-EAST,MUG,1\nWH-WEST,TEE,50\n"
    closed = _thin_network(tmp_path / "closed", both + "WH-WEST,MUG,1\n")
    alone = _thin_network(tmp_path / "alone", both)
    capacity = np.array([1000.0, 0.0, 100.0])
    runs = {}
    for name, net in (("closed", closed), ("alone", alone)):
        seen = _priced(monkeypatch)
        out = DayAllocator(
            net,
            _mug_day(tmp_path, net),
            settings=AllocationSettings(),
            capacity=capacity,
        ).run()
        mug = out.rows[out.rows.sku == "MUG"]
        runs[name] = (
            dict(seen),
            {r.order_id: (r.status, r.node_id or "") for r in mug.itertuples()},
        )
    prices, mugs = runs["closed"]
    assert mugs == {"G1": ("deferred", ""), "P1": ("allocated", "WH-EAST")}
    assert mugs == runs["alone"][1]
    assert prices.keys() == runs["alone"][0].keys()
    for t, p in prices.items():
        q = runs["alone"][0][t]
        assert (p is None) == (q is None), t
        if p is not None and q is not None:
            np.testing.assert_array_equal(p, q, err_msg=str(t))


def test_a_node_supplies_no_more_units_than_its_room_left_holds() -> None:
    """TEEs (1 capacity unit a unit) and MUGs (1.5): room for 3 TEEs or 2
    MUGs at node 0, ample room at node 1, none at node 2 (none of its 4+4
    units ship today); a room of 0.3 holds three units of 0.1 (the
    quotient 2.9999999999999996), and a work of 0 is not bounded."""
    stock = np.array([[5, 2], [3, 0], [4, 4], [7, 7]])
    room = np.array([3.0, 10.0, 0.0, 0.3])
    work = np.array([[1.0, 1.5], [1.0, 1.5], [1.0, 1.5], [0.1, 0.0]])
    np.testing.assert_array_equal(
        shippable_stock(stock, room, work), [[3, 2], [3, 0], [0, 0], [3, 7]]
    )


def test_a_warehouse_s_last_units_are_priced_past_a_full_store_s_units() -> None:
    """gen-1sku seed 1 at 20:50 New York (``docs/allocation.md``, net
    values): 40 units at WH-B, 198 at ST-C with room for 27, and Platinum,
    Gold, Silver and Overflow demand of 11.68, 123.15, 84.40 and 18.58
    units to come. Counting ST-C's 198, the supply (238) outlasts all but
    the Overflow and Silver demand: a unit at WH-B cost $1.73 and six
    $13.17, below the $20.00 a 6-unit Silver order gained there, which
    took them. ST-C ships 27: Gold reaches the last of the 67 units all
    but surely, and a unit at WH-B costs Gold's value there, $39.10. ST-C's
    own units, its room bounding them, are priced as before."""
    rate = np.array([[11.68], [123.15], [84.40], [18.58]])
    value = np.array(
        [
            [6631.99, 6632.28, 6632.04],
            [41.02, 39.10, 41.64],
            [13.02, 12.08, 13.67],
            [2.68, 1.04, 3.04],
        ]
    )
    eligible = np.ones((4, 3), dtype=bool)
    held = np.array([[0], [40], [198]])
    one, six = np.array([[1.0]]), np.array([[6.0]])
    tee = np.array([0], dtype=np.intp)
    counted = StockPrices.of(held, rate, value, eligible)
    assert counted.unit[1, 0] == pytest.approx(1.7342, abs=1e-4)
    assert counted.charge(tee, six)[0, 1] == pytest.approx(13.1654, abs=1e-4)
    ships = shippable_stock(held, np.array([3073.0, 3113.0, 27.0]), np.ones((3, 1)))
    np.testing.assert_array_equal(ships, [[0], [40], [27]])
    bound = ships < held
    shipped = StockPrices.of(
        ships,
        rate,
        value,
        eligible,
        priced=~bound,
        others=StockPrices.of(held, rate, value, eligible, priced=bound),
    )
    assert shipped.unit[1, 0] == pytest.approx(39.10, abs=1e-4)
    assert shipped.charge(tee, six)[0, 1] == pytest.approx(234.60, abs=1e-2)
    assert shipped.unit[2, 0] == counted.unit[2, 0]
    assert shipped.charge(tee, one)[0, 2] == counted.charge(tee, one)[0, 2]
    assert shipped.charge(tee, six)[0, 2] == counted.charge(tee, six)[0, 2]


def test_units_a_node_has_no_room_to_ship_are_no_supply_elsewhere(
    tmp_path: Path,
) -> None:
    """The MUG day with a second Platinum MUG order at 16:00: one MUG at
    WH-EAST, three at WH-WEST with room for one today (1.5 capacity units,
    a MUG's work). Counting WH-WEST's three, WH-EAST's MUG looked one of
    four: the Gold order took it and the second Platinum order waited
    ($10,420.60). Two MUGs can ship: both are kept for the Platinum
    orders and the Gold order waits ($440.60), as where WH-WEST holds
    one MUG."""
    base = "WH-EAST,TEE,100\nWH-EAST,MUG,1\n"
    runs = {}
    for mugs in (3, 1):
        folder = tmp_path / str(mugs)
        net = _thin_network(folder, base + f"WH-WEST,MUG,{mugs}\n")
        _mug_day(folder, net)
        day = folder / "day.csv"
        day.write_text(
            (folder / "mug-day.csv").read_text()
            + "P2,2026-01-14T16:00:00-05:00,C902,100,platinum,MUG,1\n"
        )
        out = DayAllocator(
            net,
            read_orders(day, net),
            settings=AllocationSettings(),
            capacity=np.array([1000.0, 1.5, 100.0]),
        ).run()
        mug = out.rows[out.rows.sku == "MUG"]
        runs[mugs] = (
            {r.order_id: r.status for r in mug.itertuples()},
            float(out.summary()["total_cost"]),
        )
    statuses, cost = runs[3]
    assert statuses == {"G1": "deferred", "P1": "allocated", "P2": "allocated"}
    assert cost == pytest.approx(440.60, abs=1e-6)
    assert runs[1] == runs[3]


@settings(max_examples=200, deadline=None)
@given(
    k=st.lists(st.integers(-5, 3_000), min_size=1, max_size=20),
    lam=st.floats(0.0, 5_000.0, allow_nan=False),
)
def test_the_poisson_tails_are_scipy_stats_bit_for_bit(
    k: list[int], lam: float
) -> None:
    """The prices' Poisson tails come from ``scipy.special`` (a third of
    ``scipy.stats``'s import): the same numbers to the last bit, below the
    support (k < 0: cdf 0, sf 1) and at a rate of 0 included."""
    ks = np.asarray(k, dtype=np.int64)
    rates = np.full(ks.size, lam)
    assert np.array_equal(_poisson_cdf(ks, rates), poisson.cdf(ks, rates))
    assert np.array_equal(_poisson_sf(ks, rates), poisson.sf(ks, rates))


def test_a_node_s_last_units_do_not_price_the_room_the_rest_of_the_day_needs(
    tmp_path: Path,
) -> None:
    """100 TEE orders evenly from 01:00 to 24:00 (1-10 units, about a
    quarter Platinum) to New York and Chicago: WH-EAST holds 200 TEEs
    (room for 1,000), ST-CHI 150 with room for 150 a day (every service),
    547 units ordered. Without stock rows the bid-price LP let WH-EAST's
    last units "serve" every order to come, priced ST-CHI's room at $0 and
    Chicago orders of every tier took it: a 10-unit Platinum order at 10:40
    waited ($13,973.20). With them the room is priced as soon as WH-EAST's
    stock cannot serve the rest of the day, and every Platinum order ships
    ($4,045.60; $3,996.20 since the stock prices' prior weighs nothing once
    the TEE lines reject the catalogue's popularity, :func:`prior_weight`:
    the TEEs to come are the orders' own units, not a quarter of them)."""
    net = _thin_network(tmp_path, "WH-EAST,TEE,200\nST-CHI,TEE,150\n")
    nodes = pd.read_csv(tmp_path / "net" / "nodes.csv", dtype=str)
    chi = nodes.node_id == "ST-CHI"
    nodes.loc[chi, "capacity_units_per_day"] = "150"
    nodes.loc[chi, "services"] = "next_day;two_day;ground"
    nodes.loc[chi, "cutoff_local"] = "17:00"
    nodes.to_csv(tmp_path / "net" / "nodes.csv", index=False)
    net = load_network(tmp_path / "net")
    rng = np.random.default_rng(2)
    n = 100
    tiers = rng.choice(
        ["", "gold", "overflow", "platinum", "silver"],
        size=n,
        p=[0.18, 0.20, 0.21, 0.24, 0.17],
    )
    start = pd.Timestamp("2026-01-14T01:00:00-05:00")
    rows = [
        f"O{i:03d},{(start + pd.Timedelta(seconds=i * 23 * 36 * 100 // n)).isoformat()},"
        f"C{i:03d},{rng.choice(['100', '606'])},{tiers[i]},TEE,{rng.integers(1, 11)}"
        for i in range(n)
    ]
    path = tmp_path / "tee-day.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        + "\n".join(rows)
        + "\n"
    )
    orders = read_orders(path, net)
    out = DayAllocator(
        net, orders, settings=AllocationSettings(deterministic=True)
    ).run()
    summary = out.summary()
    assert summary["fallback_batches"] == 0
    assert summary["repricing_problems"] == 0
    platinum = {f"O{i:03d}" for i in np.flatnonzero(tiers == "platinum")}
    waiting = out.rows[
        out.rows.order_id.isin(platinum) & (out.rows.status == "deferred")
    ]
    assert waiting.empty, waiting
    assert summary["total_cost"] == pytest.approx(3996.2, abs=0.01)


def test_a_long_history_is_valued_in_chunks_to_the_same_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiers' net values of a history priced a few orders at a time
    (``NET_CHUNK_ENTRIES``: a history of millions of orders at every node
    at once held gigabytes) are those of the history priced at once, bit
    for bit: the sums run over the orders in the same order."""
    net = load_network(TINY_NETWORK)
    past = generate_orders(
        net, n_orders=400, days=4, seed=4, start=DAY - dt.timedelta(days=4)
    )
    history = read_orders(write_orders(past, tmp_path / "h.csv"), net)
    day = generate_orders(net, n_orders=60, days=1, seed=3, start=DAY)
    orders = read_orders(write_orders(day, tmp_path / "day.csv"), net)
    stock = np.asarray(net.inventory, dtype=np.int64)
    spend = np.zeros(orders.n_orders)

    def priced() -> StockPrices:
        outlook = StockOutlook(net, orders, TierPolicy(), spend, history)
        outlook.mark_seen(np.arange(20, dtype=np.intp))
        prices = outlook.prices(stock, 40.0, np.arange(20, 30, dtype=np.intp))
        assert prices is not None
        return prices

    whole = priced()
    monkeypatch.setattr(stock_prices, "NET_CHUNK_ENTRIES", 7 * net.n_nodes)
    chunked = priced()
    assert history.n_orders > 7 * 10
    np.testing.assert_array_equal(chunked.step, whole.step)
    np.testing.assert_array_equal(chunked.unit, whole.unit)
    assert (whole.step > 0).any()


def test_a_tier_is_valued_by_its_newest_orders_of_a_long_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history of more of a tier's orders than ``NET_HISTORY_ORDERS``
    values the tier at each node by its newest that many: eight Gold TEE
    orders to Los Angeles on the 4th, then five to New York on the 5th
    (listed first), the newest five valued as the five of
    :func:`test_a_tier_is_valued_at_each_node_net_of_what_shipping_there_costs_more`
    ($60 at WH-EAST, $49.90 at WH-WEST, $54.50 at ST-CHI); with every
    order counted, Los Angeles' orders, which gain most from WH-WEST, move
    all three."""
    net = _thin_network(tmp_path, "WH-EAST,TEE,3\nWH-WEST,TEE,3\nST-CHI,TEE,3\n")
    newer = [
        f"N{k},2026-01-05T09:{k:02d}:00-05:00,C{k},100,gold,TEE,1" for k in range(5)
    ]
    older = [
        f"L{k},2026-01-04T09:{k:02d}:00-08:00,D{k},900,gold,TEE,1" for k in range(8)
    ]
    path = tmp_path / "history.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        + "\n".join(newer + older)
        + "\n"
    )
    history = read_orders(path, net)
    day = read_orders(path, net)
    stock = np.asarray(net.inventory, dtype=np.int64)

    def gold_steps() -> NDArray[np.float64]:
        outlook = StockOutlook(net, day, TierPolicy(), np.zeros(day.n_orders), history)
        prices = outlook.prices(stock, 10.0)
        assert prices is not None
        return prices.step[:, 1]

    everyone = gold_steps()
    monkeypatch.setattr(stock_prices, "NET_HISTORY_ORDERS", 5)
    np.testing.assert_allclose(
        gold_steps(), [60 - 20, 49.9 - 20, 54.5 - 20], rtol=1e-12
    )
    assert not np.allclose(everyone, [60 - 20, 49.9 - 20, 54.5 - 20])
