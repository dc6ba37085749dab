"""The live room per lane reads the backlog as the batches do: node capacity
already taken, an order on a congested lane taking its work times the
lane's congestion (``docs/checkout.md``, ``docs/allocation.md``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.orchestration.checkout.helpers import event, ids
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import HoldStatus
from tierflow.orchestration.bid_prices import FixedBidPrices
from tierflow.orchestration.checkout.router import OnlineRouter


@pytest.fixture
def router(tmp_path: Path) -> Iterator[OnlineRouter]:
    """A router on the tiny network, its store SQLite."""
    with tiny_router(tmp_path) as r:
        yield r


def test_a_confirmed_order_on_a_congested_lane_takes_its_lanes_room(
    router: OnlineRouter,
) -> None:
    """ST-CHI (100 units) with a backlog of 40 and the lane Gold ships by
    at x2: 60 units of the node are left, 30 Tees by that lane (the batches'
    ``(effective - backlog) / congestion``). A confirmed Gold Tee adds 2 to
    the backlog (its work at x2) and leaves 29 by that lane, 58 by a lane
    at x1. Until 2026-12-06 the room was ``effective / congestion -
    backlog``, 10 Tees, as if the backlog shipped at x2 too, and the
    confirm added 1."""
    mon = router.monitor
    chi = router.network.node_idx("ST-CHI")
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    gold = first.option("gold")
    assert gold.nodes == ("ST-CHI",)
    lane = SERVICES.index(gold.service)
    other = next(
        s for s in range(len(SERVICES)) if s != lane and mon.congestion[chi, s] == 1
    )
    event(router, "ST-CHI", "backlog", 40.0, 1)
    router.apply_capacity_events(
        [
            {
                "event_id": "lane-x2",
                "ts": "2026-01-05T12:00:00Z",
                "node_id": "ST-CHI",
                "type": "congestion",
                "value": 2.0,
                "service": gold.service,
            }
        ]
    )
    assert mon.room(lanes=True)[lane, chi] == 30.0
    assert mon.room(lanes=True)[other, chi] == 60.0
    again = router.requote(first.request_id, now=MONDAY_10).option("gold")
    assert (again.nodes, again.service) == (("ST-CHI",), gold.service)
    assert router.select(first.request_id, "gold").nodes == ("ST-CHI",)
    done = router.confirm(first.request_id)
    assert done.status == HoldStatus.CONFIRMED
    assert mon.backlog[chi] == 42.0
    assert mon.room(lanes=True)[lane, chi] == 29.0
    assert mon.room(lanes=True)[other, chi] == 58.0


def _gold_at(
    tmp_path: Path, bid: float, factor: float
) -> tuple[tuple[str, ...], float]:
    """Gold's nodes and capacity cost for a Tee to 606 with ST-CHI's bid
    price ``bid`` and every ST-CHI lane at ``factor``."""
    prices = FixedBidPrices([0.0, 0.0, bid])
    with tiny_router(tmp_path / f"{bid}-{factor}", bid_prices=prices) as r:
        for s in SERVICES:
            r.apply_capacity_events(
                [
                    {
                        "event_id": f"lane-{s}",
                        "ts": "2026-01-05T12:00:00Z",
                        "node_id": "ST-CHI",
                        "type": "congestion",
                        "value": factor,
                        "service": s,
                    }
                ]
            )
        gold = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "606", now=MONDAY_10
        ).option("gold")
    return gold.nodes, gold.capacity_cost


def test_gold_pays_the_bid_price_of_the_node_capacity_its_lane_takes(
    tmp_path: Path,
) -> None:
    """Gold's Tee to 606 costs $14.00 from ST-CHI and $14.50 from WH-EAST.
    With ST-CHI's bid price at $0.20 a capacity unit and its lanes at x2,
    the Tee (work 1) takes 2 units of ST-CHI: it pays $0.40 and still ships
    from there; at $0.30 it would pay $0.60, and WH-EAST ($14.50, no price)
    is cheaper. At x1 it pays $0.20 and $0.30, ST-CHI both times. Until
    2026-12-06 the checkout charged the price x the plain work whatever the
    lane ($0.20, $0.30, ST-CHI both times) while the batches charged it x
    work x congestion."""
    for bid, factor, node, charged in [
        (0.2, 1.0, "ST-CHI", 0.2),
        (0.3, 1.0, "ST-CHI", 0.3),
        (0.2, 2.0, "ST-CHI", 0.4),
        (0.3, 2.0, "WH-EAST", 0.0),
    ]:
        nodes, cost = _gold_at(tmp_path, bid, factor)
        assert nodes == (node,), (bid, factor)
        assert cost == pytest.approx(charged), (bid, factor)


@pytest.mark.parametrize(("factor", "offered"), [(1.0, False), (3.0, True)])
def test_overflow_reads_capacity_short_on_the_lane_gold_ships_by(
    tmp_path: Path, factor: float, offered: bool
) -> None:
    """A Tee (work 1) to 606. WH-EAST and WH-WEST are 95 % backlogged
    (scores 0.049: short); ST-CHI is cut to 10 units with a backlog of
    7.25, 2.75 left. At x1 on the lane Gold ships by from ST-CHI the Tee
    fits there and scores (2.75 - 1) / 10 = 0.175, not short: Gold ships
    from ST-CHI and "Ship later" is not offered. At x3 that lane has
    2.75 / 3 = 0.92 Tees of room: the Tee does not fit (Gold goes to
    WH-EAST) and ST-CHI scores 0 for it, so every holder is short and the
    overflow is offered. Until 2026-12-06 the overflow scored the order
    with no lane (0.175 at x3 too): "capacity is not short", while Gold
    found ST-CHI full."""
    with tiny_router(tmp_path) as r:
        lane = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "606", now=MONDAY_10
        ).option("gold")
        assert lane.nodes == ("ST-CHI",)
        for n, node in enumerate(("WH-EAST", "WH-WEST")):
            nominal = float(r.network.capacity[r.network.node_idx(node)])
            event(r, node, "backlog", 0.95 * nominal, n)
        event(r, "ST-CHI", "nominal_capacity", 10.0, 2)
        event(r, "ST-CHI", "backlog", 7.25, 3)
        r.apply_capacity_events(
            [
                {
                    "event_id": "gold-lane",
                    "ts": "2026-01-05T12:00:00Z",
                    "node_id": "ST-CHI",
                    "type": "congestion",
                    "value": factor,
                    "service": lane.service,
                }
            ]
        )
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "606", now=MONDAY_10
        )
    gold = answer.option("gold")
    assert gold.nodes == (("WH-EAST",) if offered else ("ST-CHI",))
    assert ("overflow" in ids(answer)) is offered
    if not offered:
        assert answer.missing["overflow"] == (
            "capacity is not short: best capacity score 0.18 >= 0.15"
        )
