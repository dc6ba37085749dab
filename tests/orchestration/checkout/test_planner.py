"""The planner alone on the tiny network (``helpers``): each tier's node(s),
split covers, stock-outs, overflow, from a hand-made live context."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.conftest import TINY_NETWORK
from tests.service_fixtures import ET, MONDAY_10
from tests.ship_days import WH_EAST_SHIP_DAYS
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network, load_network
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import Tier
from tierflow.formulations.online_pricing import OrderPricer, day_to_date
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.fallback import Notes
from tierflow.orchestration.checkout.live_context import Context, Room
from tierflow.orchestration.checkout.options import OptionBuilder
from tierflow.orchestration.checkout.planner import (
    Planner,
    Plans,
    greedy_cover,
    same_plan,
)
from tierflow.orchestration.checkout.request import CheckoutRequest, RequestValidator
from tierflow.orchestration.checkout.results import CustomerValue
from tierflow.orchestration.checkout.timing import StageTimer


@pytest.fixture(scope="module")
def net() -> Network:
    return load_network(TINY_NETWORK)


def _plan(
    net: Network,
    items: list[tuple[str, int]],
    dest: str,
    *,
    platinum: bool = False,
    monitor: CapacityMonitor | None = None,
    bid: NDArray[np.float64] | None = None,
    stock: NDArray[np.int64] | None = None,
    now: dt.datetime = MONDAY_10,
    policy: TierPolicy | None = None,
) -> Plans:
    """Plan a request with the network's inventory, zero bids, full room."""
    planner, req, ctx = _setup(
        net, items, dest, platinum, monitor, bid, stock, now, policy
    )
    return planner.plan(req, ctx, StageTimer(False).start())


def _setup(
    net: Network,
    items: list[tuple[str, int]],
    dest: str,
    platinum: bool = False,
    monitor: CapacityMonitor | None = None,
    bid: NDArray[np.float64] | None = None,
    stock: NDArray[np.int64] | None = None,
    now: dt.datetime = MONDAY_10,
    policy: TierPolicy | None = None,
) -> tuple[Planner, CheckoutRequest, Context]:
    """A planner, the parsed request and its live context (:func:`_plan`)."""
    policy = policy or TierPolicy()
    monitor = monitor or CapacityMonitor(net)
    req = RequestValidator(net).parse("C", items, dest, None, now)
    spend = 100.0 if platinum else 0.0
    hard, soft = monitor.room(lanes=True), monitor.room(lanes=True, forecast=True)
    ctx = Context(
        customer=CustomerValue("C", spend, "test", "test", 90.0, platinum),
        stock=net.inventory[:, req.sku_idx] if stock is None else stock,
        room=Room(hard, soft, monitor.congestion.copy()),
        capacity_as_of=None,
        bid=np.zeros(net.n_nodes) if bid is None else bid,
        bid_source="none",
        notes=Notes(),
    )
    planner = Planner(net, policy, OrderPricer(net, policy), monitor)
    return planner, req, ctx


def _nodes(net: Network, plans: Plans, tier: Tier) -> list[str]:
    return [net.node_ids[s.node] for s in plans.by_tier[tier]]


def test_each_tier_on_one_node(net: Network) -> None:
    """TEE to Chicago: Gold from ST-CHI (ground, next day, $10 + $4 handling),
    Silver from WH-EAST (economy, which ST-CHI lacks)."""
    plans = _plan(net, [("TEE", 1)], "606")
    assert _nodes(net, plans, Tier.GOLD) == ["ST-CHI"]
    assert _nodes(net, plans, Tier.SILVER) == ["WH-EAST"]
    (gold,) = plans.by_tier[Tier.GOLD]
    assert (gold.days, gold.shipping, gold.handling) == (1, 10.0, 4.0)
    assert plans.missing[Tier.PLATINUM].startswith("predicted spend $0.00 is below")
    assert plans.missing[Tier.OVERFLOW].startswith("capacity is not short")


def test_bid_prices_move_gold(net: Network) -> None:
    """$1 a unit at ST-CHI: 14.0 + 1.0 > WH-EAST's 14.5."""
    bid = np.zeros(net.n_nodes)
    bid[net.node_idx("ST-CHI")] = 1.0
    plans = _plan(net, [("TEE", 1)], "606", bid=bid)
    assert _nodes(net, plans, Tier.GOLD) == ["WH-EAST"]


def test_platinum_is_the_fastest_node(net: Network) -> None:
    plans = _plan(net, [("MUG", 1)], "606", platinum=True)
    (plat,) = plans.by_tier[Tier.PLATINUM]
    assert net.node_ids[plat.node] == "WH-EAST" and plat.days == 1
    assert day_to_date(plat.delivery) == dt.date(2026, 1, 6)


def test_split_covers_every_line(net: Network) -> None:
    """MUG only at WH-EAST, SPRAY only at WH-WEST: two shipments, the one
    near Los Angeles picked first (one line each, so by rank)."""
    plans = _plan(net, [("MUG", 1), ("SPRAY", 1)], "900")
    gold = plans.by_tier[Tier.GOLD]
    assert [(net.node_ids[s.node], s.lines) for s in gold] == [
        ("WH-WEST", (1,)),
        ("WH-EAST", (0,)),
    ]


def test_stock_out_misses_every_tier(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decided from the stock alone: a cart no node can fill is never priced."""

    def no_pricing(*args: object) -> None:
        raise AssertionError("a cart nobody can fill was priced")

    monkeypatch.setattr(OrderPricer, "quote", no_pricing)
    plans = _plan(net, [("SOFA", 3)], "100")
    assert plans.by_tier == {}
    assert plans.missing == dict.fromkeys(
        Tier, "out of stock: no node holds the quantity of ['SOFA']"
    )


def test_a_line_is_never_split_over_nodes(net: Network) -> None:
    """A known limit (docs/checkout.md, "Known limits"): 5 TEE with WH-EAST
    holding 3 and WH-WEST 2 is offered nothing, though the two hold it
    together: a line's units ship from one node."""
    stock = np.zeros((net.n_nodes, 1), dtype=np.int64)
    stock[net.node_idx("WH-EAST")] = 3
    stock[net.node_idx("WH-WEST")] = 2
    plans = _plan(net, [("TEE", 5)], "100", stock=stock)
    assert plans.by_tier == {}
    assert plans.missing == dict.fromkeys(
        Tier, "out of stock: no node holds the quantity of ['TEE']"
    )


def test_silver_like_gold_is_dropped(net: Network) -> None:
    """Only ST-CHI (ground, no economy) has stock: both tiers pick its ground."""
    stock = np.zeros((net.n_nodes, 1), dtype=np.int64)
    stock[net.node_idx("ST-CHI")] = 5
    plans = _plan(net, [("TEE", 1)], "606", stock=stock)
    assert _nodes(net, plans, Tier.GOLD) == ["ST-CHI"]
    assert Tier.SILVER not in plans.by_tier
    assert plans.missing[Tier.SILVER] == "the cheapest plan is the same as Gold's"


def _short(net: Network, ts: str = "2026-01-05T12:00:00Z") -> CapacityMonitor:
    """Every node at 95 % of its capacity in backlog: overflow is offered."""
    monitor = CapacityMonitor(net)
    for i, node in enumerate(net.node_ids):
        monitor.apply(
            {
                "event_id": f"b{i}",
                "ts": ts,
                "node_id": node,
                "type": "backlog",
                "value": float(net.capacity[i]) * 0.95,
            }
        )
    return monitor


def test_overflow_when_every_node_is_short(net: Network) -> None:
    plans = _plan(net, [("TEE", 2)], "606", monitor=_short(net))
    (over,) = plans.by_tier[Tier.OVERFLOW]
    assert day_to_date(over.ship) > MONDAY_10.date()  # ships a day later


@pytest.mark.parametrize(("now", "gold_ships", "overflow_ships"), WH_EAST_SHIP_DAYS)
@pytest.mark.parametrize("split", [False, True])
def test_overflow_ships_a_ship_day_after_gold(
    net: Network, now: dt.datetime, gold_ships: str, overflow_ships: str, split: bool
) -> None:
    """Overflow ships ``overflow_delay_days`` (1) ship days after the day the
    order would ship anyway, from WH-EAST to New York, on any day: a
    Saturday night, a Sunday and a holiday shipped it with Gold, and Silver
    was hidden as "dominated by overflow". A cart WH-EAST alone holds, and
    one that must split (its TEE from WH-EAST, its MUG from WH-WEST: each
    shipment waits)."""
    items = [("TEE", 1), ("MUG", 1)] if split else [("TEE", 1)]
    stock = np.zeros((net.n_nodes, len(items)), dtype=np.int64)
    stock[net.node_idx("WH-EAST"), 0] = 5
    if split:
        stock[net.node_idx("WH-WEST"), 1] = 5
    plans = _plan(net, items, "100", monitor=_short(net), stock=stock, now=now)
    gold, over = plans.by_tier[Tier.GOLD], plans.by_tier[Tier.OVERFLOW]
    east = net.node_idx("WH-EAST")
    (gold_east,) = [s for s in gold if s.node == east]
    (over_east,) = [s for s in over if s.node == east]
    assert day_to_date(gold_east.ship) == dt.date.fromisoformat(gold_ships)
    assert day_to_date(over_east.ship) == dt.date.fromisoformat(overflow_ships)
    for ship in over:  # every shipment a ship day after its node's own
        at_once = [s for s in gold if s.node == ship.node]
        if at_once:
            assert ship.ship > at_once[0].ship
    assert max(s.delivery for s in over) > max(s.delivery for s in gold)


def test_overflow_never_ships_with_the_others(net: Network) -> None:
    """At 16:30 ET on Monday ST-CHI (15:00 CT) has passed its cutoff and Gold
    ships the TEE from it on Tuesday; WH-EAST (18:00 ET) would ship today,
    so its overflow plan shipped Tuesday too: "Ship later" shipped from
    WH-EAST with Gold (the same ship date, its discount paid for capacity
    Gold did not use today). Overflow now ships from a node that ships it
    later than every other plan (ST-CHI, Wednesday), and is refused, said
    why, when no node holding the order would (an overflow of economy only,
    which ST-CHI does not offer)."""
    now = dt.datetime(2026, 1, 5, 16, 30, tzinfo=ET)
    stock = np.zeros((net.n_nodes, 1), dtype=np.int64)
    stock[net.node_idx("ST-CHI"), 0] = stock[net.node_idx("WH-EAST"), 0] = 5
    plans = _plan(net, [("TEE", 1)], "606", monitor=_short(net), stock=stock, now=now)
    (gold,) = plans.by_tier[Tier.GOLD]
    (over,) = plans.by_tier[Tier.OVERFLOW]
    assert (net.node_ids[gold.node], day_to_date(gold.ship)) == (
        "ST-CHI",
        dt.date(2026, 1, 6),
    )
    assert (net.node_ids[over.node], day_to_date(over.ship)) == (
        "ST-CHI",
        dt.date(2026, 1, 7),
    )
    rules = dict(TierPolicy().rules)
    rules[Tier.OVERFLOW] = dataclasses.replace(
        rules[Tier.OVERFLOW], services=("economy",)
    )
    policy = TierPolicy(rules=rules)
    plans = _plan(
        net, [("TEE", 1)], "606", monitor=_short(net), stock=stock, now=now,
        policy=policy,
    )  # fmt: skip
    assert Tier.OVERFLOW not in plans.by_tier
    assert plans.missing[Tier.OVERFLOW] == (
        "no node holding the items would ship later than the other options "
        "(the last of them ships on 2026-01-06)"
    )
    assert plans.unavailable[Tier.OVERFLOW] == (
        "Ship later isn't offered for this order: it would ship no later "
        "than the options shown."
    )


@pytest.mark.parametrize(
    ("items", "at_chi", "at_east"),
    [
        # the TEE only ST-CHI holds (1 unit of work), the SOFAs (7) only
        # WH-EAST: ST-CHI's 3 units of room hold its own line
        ([("TEE", 1), ("SOFA", 2)], (0,), (1,)),
        # ST-CHI holds both lines, room for the TEE (1) but not also the
        # MUGs (3): it ships the TEE, WH-EAST the MUGs
        ([("TEE", 1), ("MUG", 2)], (0,), (1,)),
    ],
)
def test_a_split_needs_room_for_its_own_lines(
    net: Network,
    items: list[tuple[str, int]],
    at_chi: tuple[int, ...],
    at_east: tuple[int, ...],
) -> None:
    """Each shipment of a split order takes its own lines' work from its
    node's room: a node was usable only with room for the whole order, so
    a store with room for its one line was passed over and Gold and Silver
    were refused, "every node that could ship ['TEE'] (ST-CHI) lacks room
    after the forecast today"."""
    monitor = CapacityMonitor(net)
    monitor.apply(
        {
            "event_id": "b",
            "ts": "2026-01-05T12:00:00Z",
            "node_id": "ST-CHI",
            "type": "backlog",
            "value": 97.0,
        }
    )
    stock = np.zeros((net.n_nodes, 2), dtype=np.int64)
    stock[net.node_idx("ST-CHI"), 0] = 5
    stock[net.node_idx("ST-CHI" if items[1][0] == "MUG" else "WH-EAST"), 1] = 5
    stock[net.node_idx("WH-EAST"), 1] = 5
    plans = _plan(net, items, "606", monitor=monitor, stock=stock)
    for tier in (Tier.GOLD, Tier.SILVER):
        assert tier not in plans.missing, plans.missing[tier]
        shipped = {net.node_ids[s.node]: s.lines for s in plans.by_tier[tier]}
        assert shipped == {"ST-CHI": at_chi, "WH-EAST": at_east}


def _lane_short(
    net: Network, lane: str, backlog: float = 798.0, factor: float = 3.0
) -> CapacityMonitor:
    """WH-WEST (800 units) with a ``backlog`` (798: 2 Tees of room on every
    other lane) and its ``lane`` at x``factor`` (3: 0.67 Tees on it)."""
    monitor = CapacityMonitor(net)
    for kind, value, service in [
        ("backlog", backlog, None),
        ("congestion", factor, lane),
    ]:
        monitor.apply(
            {
                "event_id": kind,
                "ts": "2026-01-05T12:00:00Z",
                "node_id": "WH-WEST",
                "type": kind,
                "value": value,
                **({"service": service} if service else {}),
            }
        )
    return monitor


@pytest.mark.parametrize(
    ("congested", "gold"),
    [
        # the whole order's lane, which the Tee does not use: it ships by
        # two-day with 2 Tees of room (refused as "every node that could
        # ship ['TEE'] (WH-WEST) lacks room" until 2026-12-07)
        (
            "ground",
            [("WH-WEST", (0,), "two_day", 1.0), ("WH-EAST", (1,), "ground", 3.5)],
        ),
        # the Tee's own lane, 0.67 Tees of room: WH-WEST cannot ship it,
        # as a Tee alone is refused there (offered until 2026-12-07, its
        # work at x3 taking 3 of the node's 2 units left)
        ("two_day", None),
    ],
)
def test_a_split_shipment_needs_room_on_its_own_lane(
    net: Network,
    congested: str,
    gold: list[tuple[str, tuple[int, ...], str, float]] | None,
) -> None:
    """A Tee (only WH-WEST holds it) and a Sofa (billed 288 kg, 10 parcels;
    only WH-EAST) to Chicago, zone 7 from WH-WEST. There Gold's whole order
    ships by ground ($300 + $12 for a day late < two-day's $340), the Tee
    alone by two-day ($19 < ground's $15 + $12). Each shipment's room is
    read on the lane its own quote ships it by; until 2026-12-07 it was
    read on the whole order's."""
    stock = np.zeros((net.n_nodes, 2), dtype=np.int64)
    stock[net.node_idx("WH-WEST"), 0] = 5
    stock[net.node_idx("WH-EAST"), 1] = 2
    items = [("TEE", 1), ("SOFA", 1)]
    plans = _plan(net, items, "606", monitor=_lane_short(net, congested), stock=stock)
    if gold is None:
        assert Tier.GOLD not in plans.by_tier
        assert plans.missing[Tier.GOLD] == (
            "every node that could ship ['TEE'] (WH-WEST) lacks room after the "
            "forecast today"
        )
        alone = _plan(
            net,
            items[:1],
            "606",
            monitor=_lane_short(net, congested),
            stock=stock[:, :1],
        )
        assert Tier.GOLD not in alone.by_tier
    else:
        assert [
            (net.node_ids[s.node], s.lines, SERVICES[s.service], s.workload)
            for s in plans.by_tier[Tier.GOLD]
        ] == gold


@pytest.mark.parametrize(
    ("congested", "overflow"),
    [
        # the whole order's lane at WH-WEST, which the Tee does not use: its
        # own two-day lane has 200 units of room (score 0.25), so capacity
        # is not short (scored 0.12 on ground, "Ship later" was offered,
        # until 2026-12-07)
        ("ground", False),
        # the Tee's own lane at x2: 100 units of room, capacity short
        ("two_day", True),
    ],
)
def test_a_split_orders_overflow_scores_each_line_on_its_own_lane(
    net: Network, congested: str, overflow: bool
) -> None:
    """The Tee and Sofa of :func:`test_a_split_shipment_needs_room_on_its_own_lane`
    (no node holds both), WH-WEST at a backlog of 600 of 800 and one lane
    at x2: the overflow scores the Tee's holder on the lane the Tee alone
    ships by from it (two-day), as its Gold shipment is placed."""
    stock = np.zeros((net.n_nodes, 2), dtype=np.int64)
    stock[net.node_idx("WH-WEST"), 0] = 5
    stock[net.node_idx("WH-EAST"), 1] = 2
    monitor = _lane_short(net, congested, backlog=600.0, factor=2.0)
    plans = _plan(net, [("TEE", 1), ("SOFA", 1)], "606", monitor=monitor, stock=stock)
    assert (Tier.OVERFLOW in plans.by_tier) is overflow
    if not overflow:
        assert plans.missing[Tier.OVERFLOW] == (
            "capacity is not short: best capacity score for every line 0.25 >= 0.15"
        )


@pytest.mark.parametrize(
    ("congested", "shopper"),
    [
        # the whole order's lane, which the Tee does not use: working, its
        # own two-day lane has room for 2 Tees, so the outage took it
        # (read "fully booked" on ground until 2026-12-07)
        (
            "ground",
            "Standard shipping isn't available right now: a location that "
            "ships your items is temporarily closed.",
        ),
        # the Tee's own lane, 0.67 Tees of room even working: full (read
        # "temporarily closed" on ground's room until 2026-12-07)
        ("two_day", "Standard shipping is fully booked today."),
    ],
)
def test_a_split_refusal_reads_closed_or_full_on_the_lines_own_lane(
    net: Network, congested: str, shopper: str
) -> None:
    """The Tee and Sofa of :func:`test_a_split_shipment_needs_room_on_its_own_lane`,
    WH-WEST (the Tee's one holder) closed: whether the closure took the
    Tee is judged on the lane the Tee ships by alone (two-day), as its
    shipment's room is read and as a Tee alone is refused, not on the
    whole order's (ground)."""
    stock = np.zeros((net.n_nodes, 2), dtype=np.int64)
    stock[net.node_idx("WH-WEST"), 0] = 5
    stock[net.node_idx("WH-EAST"), 1] = 2
    monitor = _lane_short(net, congested)
    monitor.apply(
        {
            "event_id": "o",
            "ts": "2026-01-05T12:00:00Z",
            "node_id": "WH-WEST",
            "type": "outage",
            "value": True,
        }
    )
    plans = _plan(net, [("TEE", 1), ("SOFA", 1)], "606", monitor=monitor, stock=stock)
    assert plans.missing[Tier.GOLD] == (
        "every node that could ship ['TEE'] (WH-WEST) is closed (outage)"
    )
    assert plans.unavailable[Tier.GOLD] == shopper
    alone = _plan(net, [("TEE", 1)], "606", monitor=monitor, stock=stock[:, :1])
    assert alone.unavailable[Tier.GOLD] == shopper


def _split_stock(net: Network, tee_at: tuple[str, ...]) -> NDArray[np.int64]:
    """Stock of a cart [TEE, MUG]: the TEE at ``tee_at``, the MUGs only at
    WH-WEST (which holds no TEE), so no node holds the whole cart."""
    stock = np.zeros((net.n_nodes, 2), dtype=np.int64)
    for node in tee_at:
        stock[net.node_idx(node), 0] = 5
    stock[net.node_idx("WH-WEST"), 1] = 5
    return stock


@pytest.mark.parametrize(
    ("chi_bid", "tee_from", "price", "capacity_cost"),
    [
        # ST-CHI's TEE: $10 + $4 + $0.40 x 1 unit of work = $14.40 < WH-EAST's
        # $13 + $1.50: ST-CHI ships it, Gold $10 + $19 and pays $0.40
        (0.40, "ST-CHI", 29.0, 0.40),
        # $14.60 > $14.50: WH-EAST ships it, Gold $13 + $19, no bid price
        (0.60, "WH-EAST", 32.0, 0.0),
    ],
)
def test_a_split_ranks_each_node_by_its_own_shipment(
    net: Network, chi_bid: float, tee_from: str, price: float, capacity_cost: float
) -> None:
    """A TEE (work 1) and 2 MUGs (work 3, only WH-WEST holds them) to
    Chicago; the TEE at ST-CHI and WH-EAST. Each node is ranked by the
    shipment it would send: its own lines' carrier cost, handling and bid
    price x their work. Until 2026-12-06 it was ranked by the whole order's
    (3 units: ST-CHI's handling $12, not $4; 4 units of work: $1.60 of bid
    price, not $0.40), so WH-EAST shipped the TEE ($14.50) at every bid,
    though ST-CHI's at $0.40 costs $14.40."""
    bid = np.zeros(net.n_nodes)
    bid[net.node_idx("ST-CHI")] = chi_bid
    items = [("TEE", 1), ("MUG", 2)]
    planner, req, ctx = _setup(
        net, items, "606", bid=bid, stock=_split_stock(net, ("ST-CHI", "WH-EAST"))
    )
    plans = planner.plan(req, ctx, StageTimer(False).start())
    shipped = {net.node_ids[s.node]: s.lines for s in plans.by_tier[Tier.GOLD]}
    assert shipped == {tee_from: (0,), "WH-WEST": (1,)}
    gold = OptionBuilder(net, TierPolicy()).build(req, ctx, plans, "r", 1)
    option = gold.option("gold")
    assert (option.price, option.capacity_cost) == (price, capacity_cost)


def test_a_split_orders_overflow_scores_each_line_by_its_own_work(
    net: Network,
) -> None:
    """No node holds the cart [TEE, 2 MUG] (work 1 and 3): ST-CHI alone
    holds the TEE, WH-WEST (idle) the MUGs. Each line's holders are scored
    for that line's work, the room its shipment takes: ST-CHI (100 units)
    with a backlog of 83 has 16 left after the TEE (0.16 >= 0.15, not
    short), 13 after a backlog of 86 (short). Until 2026-12-06 they were
    scored for the whole order's work (4): 13 left after a backlog of 83,
    capacity called short and "Ship later" offered while the TEE fitted."""
    for backlog, short in [(83.0, False), (86.0, True)]:
        monitor = CapacityMonitor(net)
        monitor.apply(
            {
                "event_id": "b",
                "ts": "2026-01-05T12:00:00Z",
                "node_id": "ST-CHI",
                "type": "backlog",
                "value": backlog,
            }
        )
        plans = _plan(
            net,
            [("TEE", 1), ("MUG", 2)],
            "606",
            monitor=monitor,
            stock=_split_stock(net, ("ST-CHI",)),
        )
        assert _nodes(net, plans, Tier.GOLD) == ["ST-CHI", "WH-WEST"]
        if short:
            assert Tier.OVERFLOW in plans.by_tier, plans.missing.get(Tier.OVERFLOW)
        else:
            assert plans.missing[Tier.OVERFLOW] == (
                "capacity is not short: best capacity score for every line 0.16 >= 0.15"
            )


def test_greedy_cover() -> None:
    """Most lines first (ties by rank), then what is left."""
    cover = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    picks, left = greedy_cover(cover, np.array([1.0, 0.0, 5.0]))
    assert (picks, left) == ([(1, (1, 2)), (0, (0,))], [])
    cover[:, 2] = False
    picks, left = greedy_cover(cover, np.array([1.0, 0.0, 5.0]))
    assert (picks, left) == ([(0, (0, 1))], [2])


def test_same_plan(net: Network) -> None:
    plans = _plan(net, [("TEE", 1)], "606")
    gold, silver = plans.by_tier[Tier.GOLD], plans.by_tier[Tier.SILVER]
    assert same_plan(gold, gold) and not same_plan(gold, silver)
