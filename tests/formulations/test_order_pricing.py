"""The fulfillment cost model on the tiny network, with hand-derived values
(the network is described in ``conftest.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.order_pricing import local_clock, price_orders
from tierflow.formulations.tiers import TierPolicy

POLICY = TierPolicy()
OrdersOf = Callable[[list[str]], Orders]


def test_gold_order_prices_every_node(tiny: Network, tiny_orders: OrdersOf) -> None:
    """1 TEE to Manhattan (100), gold, Monday 10:00 ET.

    Promise: Monday + 3 delivery days = Thursday 2026-01-08.
    WH-EAST (zone 2): ground $10, 1 day, on time; handling 1.5 -> 11.5.
    WH-WEST (zone 8): ground $16 arrives Saturday, 2 days late ($24) -> two-day
    $20 on Wednesday is cheaper; handling 1.6.
    ST-CHI (zone 5): ground $13 arrives Thursday; handling 4.0.
    """
    orders = tiny_orders(["A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1"])
    opt = price_orders(tiny, orders, np.array([0]), POLICY)
    east, west, chi = (tiny.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI"))
    assert str(opt.promised[0]) == "2026-01-08"
    assert opt.shipping[0, east] == 10.0 and opt.service[0, east] == 2  # ground
    assert str(opt.delivery[0, east]) == "2026-01-06"
    assert opt.shipping[0, west] == 20.0 and opt.service[0, west] == 1  # two_day
    assert opt.penalty[0, west] == 0.0
    assert opt.shipping[0, chi] == 13.0 and str(opt.delivery[0, chi]) == "2026-01-08"
    np.testing.assert_allclose(opt.cost[0, [east, west, chi]], [11.5, 21.6, 17.0])


def test_platinum_respects_cutoff_and_timezone(
    tiny: Network, tiny_orders: OrdersOf
) -> None:
    """1 MUG to Chicago (606), platinum: next-day from WH-EAST only.

    At 17:30 ET WH-EAST (cutoff 18:00 ET) ships Monday, arrives Tuesday: on time.
    At 18:30 ET it ships Tuesday and only the relaxed price exists: next-day
    $25 (zone 5) + one day late ($40). WH-WEST, at 15:30 PT, is still before its
    cutoff and could make Tuesday (pricing ignores stock; it holds no MUG).
    """
    orders = tiny_orders(
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


def test_saturday_order_arrives_monday(tiny: Network, tiny_orders: OrdersOf) -> None:
    """Platinum on Saturday 09:00 ET: ships Saturday, next-day lands Monday."""
    orders = tiny_orders(["S,2026-01-10T09:00:00-05:00,C1,606,platinum,MUG,1"])
    opt = price_orders(tiny, orders, np.array([0]), POLICY)
    east = tiny.node_idx("WH-EAST")
    assert str(opt.ship_date[0, east]) == "2026-01-10"
    assert str(opt.promised[0]) == "2026-01-12"
    assert str(opt.delivery[0, east]) == "2026-01-12"
    assert opt.feasible[0, east]


def test_local_clock_of_repeated_instants_is_each_instants_own() -> None:
    """A batch releases its orders at one instant, and ``local_clock``
    converts each distinct instant once (pandas for many, zoneinfo for up to
    16): 40 copies of four instants around New York's spring-forward and
    two midnights read, in every zone, what zoneinfo says of each alone,
    in their order; 40 distinct instants (pandas) too."""
    zones = ("America/New_York", "Asia/Kolkata", "Pacific/Honolulu", "UTC")
    four = np.array(
        ["2026-03-08T06:59:59", "2026-03-08T07:00:00", "2026-03-08T04:59:00",
         "2026-03-09T05:30:00"],
        dtype="datetime64[s]",
    )  # fmt: skip
    repeated = np.tile(four, 10)[np.random.default_rng(3).permutation(40)]
    distinct = four[0] + np.arange(40) * np.timedelta64(3593, "s")
    for instants in (repeated, distinct):
        dates, secs = local_clock(instants, zones)
        assert dates.shape == secs.shape == (40, len(zones))
        for i, instant in enumerate(instants.astype(dt.datetime)):
            for k, zone in enumerate(zones):
                local = instant.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
                assert dates[i, k] == np.datetime64(local.date(), "D")
                seconds = local.hour * 3600 + local.minute * 60 + local.second
                assert secs[i, k] == seconds
