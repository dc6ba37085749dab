"""Bid-price sources for the online path: stored, estimated by LP, fixed;
and the batch LP's prices of the expected demand or of demand scenarios."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import numpy as np
import pytest

from tests.postgres import own_postgres
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.store import StateStore, StoreUnavailable, open_store
from tierflow.orchestration.bid_prices import (
    DemandSample,
    FixedBidPrices,
    ForecastBidPrices,
    StoreBidPrices,
    bid_prices,
)
from tierflow.solver.greedy import cheapest_feasible_node


def _set(mon: CapacityMonitor, kind: str, values: dict[str, float | bool]) -> None:
    for i, (node, value) in enumerate(values.items()):
        mon.apply(
            {
                "event_id": f"{kind}-{node}-{mon.n_applied}-{i}",
                "ts": "2026-01-05T08:00:00Z",
                "node_id": node,
                "type": kind,
                "value": value,
            }
        )


def test_estimate_is_zero_when_capacity_is_ample(tiny_network: Network) -> None:
    mon = CapacityMonitor(tiny_network)
    bids = ForecastBidPrices(tiny_network, mon)
    assert bids.current().tolist() == [0.0, 0.0, 0.0]
    assert bids.source.startswith("zero bid prices: capacity ample")
    assert not bids.degraded


def test_every_popularity_0_prices_as_even_demand(tiny_network: Network) -> None:
    """A skus table of popularity 0 throughout (a warning, demand spread
    evenly) made the typical parcel 0 kg and 1e-9 capacity units: every
    cost per unit, and so every bid price, a billion times too high. It
    prices as even popularity does (the tiny network's, all 1)."""
    zero = dataclasses.replace(
        tiny_network, sku_popularity=np.zeros(tiny_network.n_skus)
    )
    prices = []
    for net in (tiny_network, zero):
        mon = CapacityMonitor(net)
        bids = ForecastBidPrices(net, mon, min_interval_s=0.0)
        _set(mon, "forecast", {"WH-EAST": 3000.0, "WH-WEST": 2400.0, "ST-CHI": 300.0})
        prices.append(bids.current())
        assert bids.source.startswith("estimated bid prices: LP duals")
    assert prices[0].max() > 0
    np.testing.assert_allclose(prices[1], prices[0])


def test_estimate_prices_binding_nodes_only(tiny_network: Network) -> None:
    """Demand 3 × the network's capacity: every open node binds (price > 0),
    the closed one is worth nothing; a small demand leaves slack, price 0."""
    mon = CapacityMonitor(tiny_network)
    bids = ForecastBidPrices(tiny_network, mon, min_interval_s=0.0)
    _set(mon, "forecast", {"WH-EAST": 3000.0, "WH-WEST": 2400.0, "ST-CHI": 300.0})
    _set(mon, "outage", {"ST-CHI": True})
    prices = bids.current()
    east, west, chi = (
        tiny_network.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI")
    )
    assert prices[east] > 0 and prices[west] > 0 and prices[chi] == 0.0, bids.source
    # bounded by the deferral penalty per unit plus the dearest unit cost
    assert prices.max() < bids._defer_per_unit + bids._unit_cost.max()
    assert bids.source.startswith("estimated bid prices: LP duals")
    again = bids.current()
    assert again is prices  # unchanged capacity state: not recomputed
    _set(mon, "forecast", {"WH-EAST": 10.0, "WH-WEST": 10.0, "ST-CHI": 10.0})
    _set(mon, "backlog", {"WH-WEST": 790.0})  # one node short: LP, but slack
    slack = bids.current()
    assert slack.tolist() == [0.0, 0.0, 0.0]
    assert bids.source.startswith("estimated bid prices")


def test_the_estimate_sees_the_forecast_on_a_congested_lane(
    tiny_network: Network,
) -> None:
    """Forecast 600 / 300 / 30 units on the tiny network: at x1 WH-EAST
    keeps 40 % of its 1,000 free (ample, price 0), and with ST-CHI's
    backlog at 60 the LP prices ST-CHI alone. With every WH-EAST lane at
    x3 the forecast it would ship takes three times its work of it: the
    node is not ample and its room has a price (ST-CHI's dearer too, the
    work WH-EAST cannot take going elsewhere). Until 2026-12-06 the
    estimate counted the forecast plain whatever the lanes: x3 read
    "capacity ample", and then WH-EAST at 0 as at x1."""
    east, chi = tiny_network.node_idx("WH-EAST"), tiny_network.node_idx("ST-CHI")
    prices = {}
    for factor in (1.0, 3.0):
        mon = CapacityMonitor(tiny_network)
        bids = ForecastBidPrices(tiny_network, mon, min_interval_s=0.0)
        _set(mon, "forecast", {"WH-EAST": 600.0, "WH-WEST": 300.0, "ST-CHI": 30.0})
        for s, service in enumerate(SERVICES):
            mon.apply(
                {
                    "event_id": f"lane-{s}",
                    "ts": "2026-01-05T08:00:00Z",
                    "node_id": "WH-EAST",
                    "type": "congestion",
                    "value": factor,
                    "service": service,
                }
            )
        first = bids.current()
        ample = bids.source.startswith("zero bid prices: capacity ample")
        assert ample == (factor == 1.0), bids.source
        assert (first[east] > 0) == (factor > 1.0)
        _set(mon, "backlog", {"ST-CHI": 60.0})
        prices[factor] = bids.current()
    assert prices[1.0][east] == 0.0 and prices[1.0][chi] > 0
    assert prices[3.0][east] > 0.5
    assert prices[3.0][chi] > prices[1.0][chi]


def test_a_map_that_moved_is_priced_at_once(tiny_network: Network) -> None:
    """Inside the 30 s between estimates, a change of a node's score by 5
    points or more is priced within a second (a network filled by an
    operator's events read "capacity ample" for up to 30 s); a small one
    waits, and the map is looked at no more than once a second."""
    mon = CapacityMonitor(tiny_network)
    clock = [100.0]
    bids = ForecastBidPrices(
        tiny_network, mon, min_interval_s=30.0, clock=lambda: clock[0]
    )
    ample = bids.current()
    assert bids.source.startswith("zero bid prices: capacity ample")
    clock[0] += 1.0
    _set(mon, "backlog", {"WH-EAST": 5.0})  # 0.5 % of its capacity: waits
    assert bids.current() is ample
    _set(mon, "backlog", {"WH-EAST": 900.0, "WH-WEST": 720.0, "ST-CHI": 90.0})
    _set(mon, "forecast", {"WH-EAST": 2000.0, "WH-WEST": 2000.0, "ST-CHI": 200.0})
    assert bids.current() is ample  # looked at 0 s ago
    clock[0] += 1.0
    assert bids.current().max() > 0.0, bids.source
    assert bids.source.startswith("estimated bid prices: LP duals")


def test_stored_prices_while_fresh_then_fallback(
    state_location: Path | str, tiny_network: Network
) -> None:
    clock = [1_767_600_000.0]  # 2026-01-05T08:00Z
    with open_store(state_location) as store:
        fallback = FixedBidPrices([0.5, 0.5, 0.5], source="fixed test prices")
        bids = StoreBidPrices(
            store,
            tiny_network,
            fallback,
            max_age_s=3600,
            refresh_s=0,
            clock=lambda: clock[0],
        )
        assert bids.current().tolist() == [0.5, 0.5, 0.5]
        assert bids.source == "fixed test prices (no bid prices stored yet)"
        as_of = dt.datetime.fromtimestamp(clock[0], dt.UTC)
        store.put_bid_prices({"WH-WEST": 2.0, "GONE": 9.0}, as_of=as_of, source="lp b3")
        assert bids.current().tolist() == [0.0, 2.0, 0.0]  # unknown node ignored
        assert bids.source == "allocator bid prices (lp b3, as of 2026-01-05T08:00Z)"
        clock[0] += 2 * 3600
        assert bids.current().tolist() == [0.5, 0.5, 0.5]
        assert bids.source == "fixed test prices (stored bid prices are 2.0 h old)"
        assert not bids.degraded
        store.close()  # the store goes away
        bids.max_age_s = 3 * 3600
        clock[0] += 1
        assert bids.current().tolist() == [0.0, 2.0, 0.0]  # last read kept
        assert "store unavailable" in bids.source and bids.degraded


def test_a_store_back_is_read_again_within_a_second(tiny_network: Network) -> None:
    """PostgreSQL stops and starts again: a second after a read that failed
    the stored prices are read again and the answers no longer say the
    store is away. The failed read was kept for the whole ``refresh_s``
    (5 s): QA's options stayed degraded "store unavailable" for 5 s after a
    restart that every other read had got over within a second."""
    clock = [1_767_600_000.0]  # 2026-01-05T08:00Z
    fallback = FixedBidPrices([0.5, 0.5, 0.5], source="fixed test prices")
    # the pool's connection wait 1 s (5 s by default): the read that fails
    # waits it out in full, and it is not what this test times
    with (
        own_postgres() as pg,
        open_store(pg.create_database("bids"), timeout_s=1.0) as store,
    ):
        as_of = dt.datetime.fromtimestamp(clock[0], dt.UTC)
        store.put_bid_prices({"WH-WEST": 2.0}, as_of=as_of, source="lp b3")
        bids = StoreBidPrices(store, tiny_network, fallback, clock=lambda: clock[0])
        assert bids.current().tolist() == [0.0, 2.0, 0.0]
        pg.halt()
        clock[0] += bids.refresh_s
        assert bids.current().tolist() == [0.0, 2.0, 0.0]  # last read kept
        assert "store unavailable" in bids.source and bids.degraded
        pg.resume()
        _until_read(store)
        clock[0] += 1.0
        assert bids.current().tolist() == [0.0, 2.0, 0.0]
        assert bids.source == "allocator bid prices (lp b3, as of 2026-01-05T08:00Z)"
        assert not bids.degraded


def _until_read(store: StateStore) -> None:
    """Until the store's pool has reconnected: a read succeeds (fails after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            store.latest_bid_price_run()
            return
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store never came back"
            time.sleep(0.05)


def test_fixed_prices_are_validated() -> None:
    with pytest.raises(InputError, match=r"field 'bid_prices': must be finite"):
        FixedBidPrices([1.0, -1.0])


def test_cheapest_feasible_node() -> None:
    cost = np.array([3.0, 1.0, 2.0, 0.5])
    eligible = np.array([True, True, True, False])
    weight = np.full(4, 2.0)
    assert cheapest_feasible_node(cost, eligible, weight, np.full(4, 5.0)) == 1
    room = np.array([5.0, 1.0, 2.0, 9.0])  # node 1 too full; node 2 fits exactly
    assert cheapest_feasible_node(cost, eligible, weight, room) == 2
    assert cheapest_feasible_node(cost, eligible, weight, np.zeros(4)) == -1
    # one workload for every node (the checkout's case) decides the same way
    assert cheapest_feasible_node(cost, eligible, 2.0, np.full(4, 5.0)) == 1
    assert cheapest_feasible_node(cost, eligible, 2.0, room) == 2
    assert cheapest_feasible_node(cost, eligible, 2.0, np.zeros(4)) == -1
    assert cheapest_feasible_node(cost, ~eligible, 9.5, room) == -1
    assert cheapest_feasible_node(cost, ~eligible, 9.0, room) == 3


def test_the_requests_instant_is_the_clock(tiny_network: Network) -> None:
    """Given the request's instant, the estimate's timing follows it, not
    the wall clock (a simulated day's checkouts run hours of its clock in
    seconds: on the wall clock two runs of one day priced differently)."""
    mon = CapacityMonitor(tiny_network)

    def wall() -> float:
        raise AssertionError("the wall clock was read")

    bids = ForecastBidPrices(tiny_network, mon, min_interval_s=30.0, clock=wall)
    ample = bids.current(1_000.0)
    _set(mon, "backlog", {"WH-EAST": 5.0})
    assert bids.current(1_000.2) is ample  # looked: a small move
    _set(mon, "backlog", {"WH-EAST": 900.0, "WH-WEST": 720.0, "ST-CHI": 90.0})
    _set(mon, "forecast", {"WH-EAST": 2000.0, "WH-WEST": 2000.0, "ST-CHI": 200.0})
    assert bids.current(1_000.7) is ample  # half a second of the request's clock
    assert bids.current(1_001.5).max() > 0.0, bids.source


def _gold_demand(expected: float) -> DemandSample:
    """Gold orders to come, each of workload 1: on time from a store for
    $10.50, or a day late from a warehouse for $22 ($10 + the $12 late
    charge); waiting costs $100."""
    return DemandSample(
        cost=np.array([[10.5, 22.0]]),
        workload=np.array([1.0]),
        defer_cost=np.array([100.0]),
        multiplicity=np.array([expected]),
    )


def test_a_randomized_lp_prices_a_store_by_the_chance_its_room_runs_out() -> None:
    """The store has room for 10 orders and 10.5 are expected: the LP of
    the expected demand prices its room at the whole saving of the last
    order, $11.50 a unit, and a Gold order now is cheaper late from the
    warehouse ($22) than on time from the store ($10.75 + $11.50).
    Averaged over demand scenarios (``bid_scenarios``), the store's room
    is worth $11.50 only on the days it runs out, and the order ships on
    time. A
    store expected at 9.5 orders is priced $0 by the one LP, though it
    runs out on some days."""
    room = np.array([10.0, 1000.0])
    now = np.array([10.75, 22.0])  # this batch's Gold order at each node
    one = bid_prices(_gold_demand(10.5), room)
    np.testing.assert_allclose(one, [11.5, 0.0], atol=1e-9)
    assert int(np.argmin(now + one)) == 1  # late from the warehouse
    many = bid_prices(_gold_demand(10.5), room, scenarios=64, cv=0.0, seed=(1, 2))
    assert 2.0 < many[0] < 10.0 and many[1] == 0.0
    assert int(np.argmin(now + many)) == 0  # on time from the store
    again = bid_prices(_gold_demand(10.5), room, scenarios=64, cv=0.0, seed=(1, 2))
    np.testing.assert_array_equal(many, again)  # drawn from the seed alone
    below = _gold_demand(9.5)
    assert bid_prices(below, room)[0] == 0.0
    assert bid_prices(below, room, scenarios=64, cv=0.25, seed=3)[0] > 1.0


def test_a_node_s_room_serves_no_more_of_the_demand_than_its_stock() -> None:
    """550 units of one SKU to come, one unit an order: a warehouse ($10 a
    unit, room for 3,500) holds its last 16, a store ($12, room for 300)
    500. Without stock rows the LP "served" all 550 from the warehouse's
    16 units and priced both rooms at $0; with them the warehouse serves
    16, the store's room its 300 and 234 wait, so the store's room is
    worth a waiting order's $100 less its $12 ($88 a unit), what keeps it
    for the orders that lose most by waiting."""
    room = np.array([3500.0, 300.0])
    demand = DemandSample(
        cost=np.array([[10.0, 12.0]]),
        workload=np.array([1.0]),
        defer_cost=np.array([100.0]),
        multiplicity=np.array([550.0]),
    )
    np.testing.assert_allclose(bid_prices(demand, room), [0.0, 0.0], atol=1e-9)
    stocked = dataclasses.replace(
        demand, use=np.array([[1.0]]), stock=np.array([[16.0], [500.0]])
    )
    np.testing.assert_allclose(bid_prices(stocked, room), [0.0, 88.0], atol=1e-9)
    ample = dataclasses.replace(stocked, stock=np.array([[5000.0], [500.0]]))
    np.testing.assert_allclose(bid_prices(ample, room), [0.0, 0.0], atol=1e-9)
