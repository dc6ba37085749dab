"""The online router on the tiny network, with hand-derived answers.

Tiny network (tests/data/tiny_network): WH-EAST (Edison NJ, ET, cutoff 18:00,
all services; TEE 100, MUG 20, SOFA 2), WH-WEST (Ontario CA, PT, 18:00, all
services; TEE 50, SPRAY 10), ST-CHI (Chicago, CT, 15:00, two-day and ground
only; TEE 5). Zones: WH-EAST→606 is 5, ST-CHI→606 is 2, WH-WEST→900 is 2.
CLTV scores: C0..C10 with predicted spend 0, 10, …, 100, so the 90th
percentile (the Platinum threshold) is 90 and the median (new-customer
prior) is 50.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TINY_NETWORK
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.capacity.score import capacity_scores
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.errors import InputError
from tierflow.data.network import Network, load_network
from tierflow.data.store import SqliteStore
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration import bid_prices as bid_module
from tierflow.orchestration.bid_prices import FixedBidPrices
from tierflow.orchestration.checkout.router import (
    OnlineRouter,
    OptionSet,
    option_changes,
    parse_items,
)

ET = dt.timezone(dt.timedelta(hours=-5))
MONDAY_10 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=ET)


def _scores(store: SqliteStore) -> None:
    store.put_cltv_scores(
        pd.DataFrame(
            {
                "customer_id": [f"C{i}" for i in range(11)],
                "predicted_spend": [i * 10.0 for i in range(11)],
                "p_active": 0.5,
                "segment": ["silver"] * 9 + ["platinum"] * 2,
            }
        ),
        as_of=dt.date(2026, 1, 4),
        model_version="test",
    )


def _router(
    path: Path, *, scores: bool = True, policy: TierPolicy | None = None, **kw: Any
) -> OnlineRouter:
    store = SqliteStore(path / "state.db")
    if scores:
        _scores(store)
    kw.setdefault("capacity_refresh_s", 0.0)
    kw.setdefault("cltv_refresh_s", 0.0)
    return OnlineRouter.open(load_network(TINY_NETWORK), store, policy=policy, **kw)


@pytest.fixture
def router(tmp_path: Path) -> Any:
    with _router(tmp_path) as r:
        yield r


def _ids(answer: OptionSet) -> list[str]:
    return [o.option_id for o in answer.options]


def _event(router: OnlineRouter, node: str, kind: str, value: Any, n: int) -> None:
    result = router.apply_capacity_events(
        [
            {
                "event_id": f"e{n}-{node}-{kind}",
                "ts": f"2026-01-05T{10 + n % 10:02d}:00:00Z",
                "node_id": node,
                "type": kind,
                "value": value,
            }
        ]
    )
    assert result.applied == 1


def _event_on(monitor: CapacityMonitor, node: str, kind: str, value: Any) -> None:
    monitor.apply(
        {
            "event_id": f"other-{node}-{kind}",
            "ts": "2026-01-05T12:00:00Z",
            "node_id": node,
            "type": kind,
            "value": value,
        }
    )


# ------------------------------------------------------------------ platinum
def test_platinum_only_at_or_above_the_threshold(router: OnlineRouter) -> None:
    cart = [("MUG", 1)]
    at = router.generate_fulfillment_options("C9", cart, "60601", now=MONDAY_10)
    assert at.customer.platinum_threshold == 90.0 and at.customer.platinum_eligible
    assert "platinum" in _ids(at)
    plat = at.option("platinum")
    assert plat.guaranteed and plat.label == "Guaranteed next-day"
    assert (plat.nodes, plat.service) == (("WH-EAST",), "next_day")
    assert plat.delivery_date == dt.date(2026, 1, 6)
    below = router.generate_fulfillment_options("C8", cart, "60601", now=MONDAY_10)
    assert "platinum" not in _ids(below)
    assert below.missing["platinum"] == (
        "predicted spend $80.00 is below the Platinum threshold $90.00 (90% percentile)"
    )
    new = router.generate_fulfillment_options("stranger", cart, "606", now=MONDAY_10)
    assert (new.customer.predicted_spend, new.customer.segment) == (50.0, "new")
    assert new.customer.source.startswith("new-customer prior (50% percentile")
    assert "platinum" not in _ids(new)


def test_no_scores_no_platinum(tmp_path: Path) -> None:
    with _router(tmp_path, scores=False) as r:
        answer = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
    assert answer.missing["platinum"] == (
        "no CLTV scores stored: the Platinum threshold is unknown"
    )
    assert answer.customer.source == "new-customer prior (no CLTV scores stored)"


@pytest.mark.parametrize(
    ("when", "offered", "ship", "delivery"),
    [
        # Monday 17:30 ET: before WH-EAST's 18:00 cutoff, next-day Tuesday
        (dt.datetime(2026, 1, 5, 17, 30, tzinfo=ET), True, "2026-01-05", "2026-01-06"),
        # Monday 18:00 ET: at the cutoff it ships Tuesday -> too late
        (dt.datetime(2026, 1, 5, 18, 0, tzinfo=ET), False, "2026-01-06", None),
        # Saturday 09:00 ET ships Saturday, next-day lands Monday (no Sunday)
        (dt.datetime(2026, 1, 10, 9, 0, tzinfo=ET), True, "2026-01-10", "2026-01-12"),
        # Saturday 19:00 ET ships Monday, arrives Tuesday, promise was Monday
        (dt.datetime(2026, 1, 10, 19, 0, tzinfo=ET), False, "2026-01-12", None),
        # Sunday: ships Monday, promise counts from Monday -> Tuesday
        (dt.datetime(2026, 1, 11, 10, 0, tzinfo=ET), True, "2026-01-12", "2026-01-13"),
    ],
)
def test_platinum_respects_cutoff_and_weekends(
    router: OnlineRouter,
    when: dt.datetime,
    offered: bool,
    ship: str,
    delivery: str | None,
) -> None:
    """MUG (only WH-EAST holds it) to Chicago for a Platinum customer."""
    answer = router.generate_fulfillment_options("C10", [("MUG", 1)], "606", now=when)
    assert ("platinum" in _ids(answer)) is offered
    gold = answer.option("gold")
    assert gold.nodes == ("WH-EAST",) and gold.ship_date.isoformat() == ship
    if offered:
        assert answer.option("platinum").delivery_date.isoformat() == delivery
    else:
        assert answer.missing["platinum"].startswith(
            "no node holding the items can guarantee delivery by"
        )


def test_timezones_pick_the_node_still_before_its_cutoff(router: OnlineRouter) -> None:
    """TEE to Los Angeles: 20:00 ET is 17:00 PT, so WH-WEST still ships today."""
    early = dt.datetime(2026, 1, 5, 20, 0, tzinfo=ET)
    answer = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "90012", now=early
    )
    plat = answer.option("platinum")
    assert plat.nodes == ("WH-WEST",) and plat.ship_date == dt.date(2026, 1, 5)
    assert plat.delivery_date == dt.date(2026, 1, 6)
    gold = answer.option("gold")
    assert (gold.nodes, gold.service, gold.delivery_date) == (
        ("WH-WEST",),
        "ground",
        dt.date(2026, 1, 6),
    )
    late = dt.datetime(2026, 1, 5, 21, 30, tzinfo=ET)  # 18:30 PT
    answer = router.generate_fulfillment_options("C10", [("TEE", 1)], "900", now=late)
    assert "platinum" not in _ids(answer)
    assert answer.option("gold").ship_date == dt.date(2026, 1, 6)


_TIMES = st.integers(0, 60 * 24 * 21 - 1).map(
    lambda m: dt.datetime(2026, 1, 3, tzinfo=dt.UTC) + dt.timedelta(minutes=m)
)
_CARTS = st.lists(
    st.tuples(st.sampled_from(["TEE", "MUG", "SPRAY"]), st.integers(1, 3)),
    min_size=1,
    max_size=2,
    unique_by=lambda x: x[0],
)


@pytest.fixture(scope="module")
def shared_router(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with _router(tmp_path_factory.mktemp("shared")) as r:
        yield r


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    when=_TIMES,
    cart=_CARTS,
    dest=st.sampled_from(["100", "606", "900", "981", "331"]),
    customer=st.sampled_from(["C0", "C5", "C8", "C9", "C10", "new"]),
    prefer=st.none() | st.fixed_dictionaries({"speed": st.floats(0, 1)}),
)
def test_platinum_and_ordering_properties(
    shared_router: OnlineRouter,
    when: dt.datetime,
    cart: list[tuple[str, int]],
    dest: str,
    customer: str,
    prefer: dict[str, float] | None,
) -> None:
    """Platinum iff CLTV >= threshold and some stocked node can make next-day
    (checked with ``Network.ship_and_delivery_dates``); scores descending."""
    net: Network = shared_router.network
    answer = shared_router.generate_fulfillment_options(
        customer, cart, dest, now=when, preferences=prefer
    )
    scores = [o.satisfaction_score for o in answer.options]
    assert scores == sorted(scores, reverse=True)
    d = net.dest_idx(dest)
    _, deliver = net.ship_and_delivery_dates(when, "next_day", d)
    local = when.astimezone(zone_info(net.dest_timezones[net.dest_tz[d]])).date()
    promise = np.busday_offset(
        np.datetime64(local, "D"), 1, roll="forward", weekmask="1111110"
    )
    skus = net.sku_idx([s for s, _ in cart])
    can = ~np.isnat(deliver) & (deliver <= promise)
    line_ok = (net.inventory[:, skus] >= np.array([q for _, q in cart])) & can[:, None]
    spend = {"C0": 0, "C5": 50, "C8": 80, "C9": 90, "C10": 100, "new": 50}[customer]
    expected = spend >= 90 and bool(line_ok.any(axis=0).all())
    assert ("platinum" in _ids(answer)) is expected
    if expected:
        plat = answer.option("platinum")
        assert np.datetime64(plat.delivery_date, "D") <= promise
        for ship in plat.shipments:  # every parcel from a node that makes it
            n = net.node_idx(ship.node_id)
            assert can[n] and ship.service == "next_day"
        single = line_ok.all(axis=1)
        if single.any():  # one node can: the fastest such node ships it all
            assert len(plat.shipments) == 1
            assert np.datetime64(plat.delivery_date, "D") == deliver[single].min()


# ------------------------------------------------------------------ overflow
@pytest.mark.parametrize("free", [0.0, 0.05, 0.14, 0.16, 0.5])
def test_overflow_exactly_when_capacity_is_short(tmp_path: Path, free: float) -> None:
    """Every node keeps ``free`` of its nominal capacity after its backlog."""
    bid = FixedBidPrices([2.0, 1.0, 3.0])
    with _router(tmp_path, bid_prices=bid) as r:
        net = r.network
        for i, node in enumerate(net.node_ids):
            _event(r, node, "backlog", float(net.capacity[i] * (1 - free)), i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 2)], "606", now=MONDAY_10
        )
    work = 2.0  # TEE weighs 1 capacity unit
    expected = capacity_scores(
        net.capacity, 1.0, net.capacity * (1 - free), 0.0, False, workload=work
    )
    short = bool(expected.max() < r.policy.overflow_score_threshold)
    assert ("overflow" in _ids(answer)) is short
    if not short:
        assert answer.missing["overflow"].startswith("capacity is not short")
        return
    over = answer.option("overflow")
    assert over.ship_date > MONDAY_10.date()  # ships later
    today = answer.option("gold") if "gold" in _ids(answer) else over
    freed = 2.0 * float(bid.current()[net.node_idx(today.nodes[0])])
    bound = min(r.policy.overflow_discount_cap, freed)
    assert 0 < over.discount <= bound
    assert over.discount == pytest.approx(min(bound, over.price + over.discount))
    assert over.label == f"Ship later, save ${over.discount:.2f}"
    if free == 0.0:  # no room anywhere today: overflow still answers
        assert _ids(answer) == ["overflow"]
        assert "lacks room after the forecast" in answer.missing["gold"]


@pytest.mark.parametrize(
    ("cap", "bid", "expected"), [(1.0, 5.0, 1.0), (50.0, 0.3, 0.6)]
)
def test_overflow_discount_bound(
    tmp_path: Path, cap: float, bid: float, expected: float
) -> None:
    policy = TierPolicy().with_changes(overflow_discount_cap=cap)
    with _router(tmp_path, policy=policy, bid_prices=FixedBidPrices([bid] * 3)) as r:
        for i, node in enumerate(r.network.node_ids):
            _event(r, node, "backlog", float(r.network.capacity[i]) * 0.95, i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 2)], "606", now=MONDAY_10
        )
    assert answer.option("overflow").discount == expected  # min(cap, bid × 2 units)


# --------------------------------------------------------- live capacity, bids
def test_eta_and_price_follow_capacity(router: OnlineRouter) -> None:
    """TEE to Chicago: ST-CHI (ground, 1 day, $10 + $4 handling) beats WH-EAST
    ($13 + $1.50, 3 days); an outage at ST-CHI moves Gold to WH-EAST."""
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    gold = first.option("gold")
    assert (gold.nodes, gold.delivery_date, gold.price) == (
        ("ST-CHI",),
        dt.date(2026, 1, 6),
        10.0,
    )
    assert router.select(first.request_id, "gold").nodes == ("ST-CHI",)
    # another process logs an outage at ST-CHI; this router picks it up
    assert router.store is not None
    assert not router.refresh()
    with SqliteStore(router.store.path) as other_store:
        other = CapacityMonitor.open(router.network, other_store)
        _event_on(other, "ST-CHI", "outage", True)
    assert router.refresh()
    again = router.requote(first.request_id, now=MONDAY_10)
    assert again.request_id == first.request_id and again.revision == 2
    gold = again.option("gold")
    assert (gold.nodes, gold.delivery_date, gold.price, gold.cost) == (
        ("WH-EAST",),
        dt.date(2026, 1, 8),
        13.0,
        14.5,
    )
    changes = {c["option_id"]: c for c in option_changes(first, again)}
    assert changes["gold"]["fields"]["nodes"] == [["ST-CHI"], ["WH-EAST"]]
    assert changes["gold"]["fields"]["delivery_date"] == ["2026-01-06", "2026-01-08"]
    assert changes["gold"]["fields"]["price"] == [10.0, 13.0]
    # selecting gold again now holds the new plan (ST-CHI's unit comes back)
    held = router.select(first.request_id, "gold")
    assert held.nodes == ("WH-EAST",)
    assert _available(router, "ST-CHI", "TEE") == 5
    assert _available(router, "WH-EAST", "TEE") == 99


def test_bad_capacity_event_applies_nothing(router: OnlineRouter) -> None:
    good = {"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "ST-CHI",
            "type": "outage", "value": True}  # fmt: skip
    bad = {**good, "event_id": "b", "node_id": "NOPE"}
    with pytest.raises(InputError, match=r"row 2: field 'node_id': value 'NOPE'"):
        router.apply_capacity_events([good, bad])
    assert not router.monitor.outage.any()


def test_stored_bid_prices_steer_gold(router: OnlineRouter) -> None:
    store = router.store
    assert store is not None
    router.bid_prices.refresh_s = 0.0  # type: ignore[attr-defined]
    store.put_bid_prices(
        {"ST-CHI": 1.0}, as_of=dt.datetime.now(dt.UTC), source="lp batch 7"
    )
    answer = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    gold = answer.option("gold")
    assert gold.nodes == ("WH-EAST",)  # 14.0 + 1.0 > 14.5 + 0
    assert answer.bid_prices.startswith("allocator bid prices (lp batch 7, as of")
    assert gold.explanation.endswith(answer.bid_prices)
    store.put_bid_prices({"ST-CHI": 0.2}, as_of=dt.datetime.now(dt.UTC), source="lp 8")
    again = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert again.option("gold").nodes == ("ST-CHI",)
    assert again.option("gold").capacity_cost == pytest.approx(0.2)


# ------------------------------------------------------------ split, stock-out
def test_split_across_nodes(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C5", [("MUG", 1), ("SPRAY", 1)], "900", now=MONDAY_10
    )
    gold = answer.option("gold")
    assert set(gold.nodes) == {"WH-EAST", "WH-WEST"} and len(gold.shipments) == 2
    by_node = {s.node_id: s for s in gold.shipments}
    assert by_node["WH-EAST"].lines == (("MUG", 1),)
    assert by_node["WH-WEST"].lines == (("SPRAY", 1),)
    split_cost = router.policy.split_shipment_cost
    assert gold.cost == pytest.approx(sum(s.cost for s in gold.shipments) + split_cost)
    assert gold.delivery_date == max(s.delivery_date for s in gold.shipments)


def test_out_of_stock_answers_with_reasons(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C5", [("SOFA", 3)], "100", now=MONDAY_10
    )
    assert answer.options == () and answer.recommended is None
    assert set(answer.missing) == {"platinum", "gold", "silver", "overflow"}
    assert answer.missing["gold"] == (
        "out of stock: no node holds the quantity of ['SOFA']"
    )


# ------------------------------------------------------------ satisfaction
def test_preferences_reorder_the_options(router: OnlineRouter) -> None:
    cart = [("TEE", 1)]
    cheap = router.generate_fulfillment_options(
        "C0", cart, "606", now=MONDAY_10, preferences={"speed": 0, "cost": 1, "eco": 0}
    )
    assert cheap.options[0].price == min(o.price for o in cheap.options)
    fast = router.generate_fulfillment_options(
        "C10", cart, "606", now=MONDAY_10, preferences={"speed": 1, "cost": 0, "eco": 0}
    )
    assert fast.options[0].delivery_date == min(o.delivery_date for o in fast.options)
    assert fast.options[0].satisfaction_score > cheap.options[-1].satisfaction_score


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("customer", "items", "dest", "extra", "message"),
    [
        ("C1", [("HAT", 1)], "100", {}, r"^field 'sku': index 0: value 'HAT': unknown SKU$"),
        ("C1", [("TEE", 1), ("MUG", 0)], "100", {},
         r"^field 'quantity': index 1: value 0: must be an integer >= 1$"),
        ("C1", [("TEE", -2)], "100", {}, r"^field 'quantity': index 0: value -2"),
        ("C1", [("TEE", 1.5)], "100", {}, r"^field 'quantity': index 0: value 1\.5"),
        ("C1", [("TEE", True)], "100", {}, r"^field 'quantity': index 0: value True"),
        ("C1", [("TEE", 1)], "1000", {}, r"^field 'dest': value '1000': not a US ZIP"),
        ("C1", [("TEE", 1)], "ABCDE", {}, r"^field 'dest': value 'ABCDE': not a US ZIP"),
        ("C1", [("TEE", 1)], "99999", {}, r"^field 'dest': value '99999': unknown ZIP"),
        ("C1", [], "100", {}, r"^field 'items': no items$"),
        ("C1", [("TEE",)], "100", {}, r"^field 'items': index 0: value \('TEE',\)"),
        ("", [("TEE", 1)], "100", {}, r"^field 'customer_id': value '': empty"),
        ("C1", [("TEE", 1)], "100", {"now": dt.datetime(2026, 1, 5, 10)},
         r"^field 'now': value '2026-01-05 10:00:00': no timezone offset"),
        ("C1", [("TEE", 1)], "100", {"preferences": {"speed": -1}},
         r"^field 'preferences\.speed': value -1: must be a finite number >= 0$"),
        ("C1", [("TEE", 1)], "100", {"preferences": {"fast": 1}},
         r"^field 'preferences': value 'fast': unknown preference"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(
    router: OnlineRouter,
    customer: str,
    items: Any,
    dest: str,
    extra: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InputError, match=message):
        router.generate_fulfillment_options(customer, items, dest, **extra)


def test_parse_items() -> None:
    assert parse_items("TEE:2, MUG:1") == [("TEE", 2), ("MUG", 1)]
    with pytest.raises(InputError, match=r"^field 'items': index 1: value 'MUG'"):
        parse_items("TEE:2,MUG")
    with pytest.raises(InputError, match=r"^field 'quantity': index 0: value 'x'"):
        parse_items("TEE:x")


# ------------------------------------------------------------ reservations
def _available(router: OnlineRouter, node: str, sku: str) -> int:
    assert router.store is not None
    return router.store.available(node, [sku])[sku]


def test_select_confirm_writes_the_order(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C10", [("MUG", 2)], "606", now=MONDAY_10
    )
    held = router.select(answer.request_id, "platinum")
    assert held.ok and held.status == "held" and held.nodes == ("WH-EAST",)
    assert _available(router, "WH-EAST", "MUG") == 18
    assert router.select(answer.request_id, "platinum").status == "held"  # replay
    assert _available(router, "WH-EAST", "MUG") == 18
    done = router.confirm(answer.request_id)
    assert (done.status, done.option_id, done.nodes) == (
        "confirmed",
        "platinum",
        ("WH-EAST",),
    )
    assert router.store is not None
    orders = router.store.online_orders()
    assert orders[
        ["order_id", "tier", "sku", "quantity", "node_id", "service"]
    ].values.tolist() == [
        [answer.request_id, "platinum", "MUG", 2, "WH-EAST", "next_day"]
    ]
    assert orders["delivery_date"].tolist() == ["2026-01-06"]
    inv = router.store.inventory_frame().set_index(["node_id", "sku"])
    assert inv.loc[("WH-EAST", "MUG")].tolist() == [18, 0]
    assert router.confirm(answer.request_id).status == "confirmed"  # idempotent
    with pytest.raises(InputError, match=r"field 'request_id'.*unknown request id"):
        router.select(answer.request_id, "gold")  # the quote is closed
    assert router.store.check_consistency() == []


def test_override_swap_and_cancel(router: OnlineRouter) -> None:
    """Gold ships from ST-CHI; Silver (economy, which ST-CHI lacks) from WH-EAST."""
    answer = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert answer.option("gold").nodes == ("ST-CHI",)
    assert answer.option("silver").nodes == ("WH-EAST",)
    assert router.select(answer.request_id, "gold").nodes == ("ST-CHI",)
    assert _available(router, "ST-CHI", "TEE") == 4
    router.select(answer.request_id, "silver")  # the customer overrides
    assert _available(router, "ST-CHI", "TEE") == 5
    assert _available(router, "WH-EAST", "TEE") == 99
    assert router.cancel(answer.request_id).status == "cancelled"
    assert _available(router, "WH-EAST", "TEE") == 100
    assert router.cancel(answer.request_id).status == "cancelled"  # idempotent
    with pytest.raises(InputError, match=r"checkout was cancelled"):
        router.confirm(answer.request_id)
    never = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert router.cancel(never.request_id).status == "cancelled"  # only dropped
    with pytest.raises(InputError, match=r"^field 'request_id': value 'nope': unknown"):
        router.cancel("nope")


def test_unknown_and_expired_ids(tmp_path: Path) -> None:
    with _router(tmp_path, reservation_ttl_s=60, quote_ttl_s=3600) as r:
        answer = r.generate_fulfillment_options(
            "C5", [("MUG", 20)], "100", now=MONDAY_10
        )
        with pytest.raises(
            InputError, match=r"field 'option_id': value 'platinum': not an"
        ):
            r.select(answer.request_id, "platinum")
        with pytest.raises(
            InputError, match=r"no option selected for this request yet"
        ):
            r.confirm(answer.request_id)
        with pytest.raises(
            InputError, match=r"^field 'request_id': value 'x': unknown"
        ):
            r.select("x", "gold")
        t0 = dt.datetime.now(dt.UTC)
        assert r.select(answer.request_id, "gold", now=t0).status == "held"
        assert _available(r, "WH-EAST", "MUG") == 0
        later = t0 + dt.timedelta(seconds=61)
        # the hold lapsed: its stock is free again, another checkout can take it
        assert r.store is not None
        assert r.store.available("WH-EAST", ["MUG"], now=later.timestamp())["MUG"] == 20
        with pytest.raises(
            InputError, match=r"hold expired at .*; select an option again"
        ):
            r.confirm(answer.request_id, now=later)
        assert r.store.expire_stale(now=later.timestamp()) == 1
        assert _available(r, "WH-EAST", "MUG") == 20
        assert r.cancel(answer.request_id, now=later).status == "expired"
    with _router(tmp_path / "q", quote_ttl_s=1e-6) as r:
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "100", now=MONDAY_10
        )
        with pytest.raises(InputError, match=r"options expired .*generate them again"):
            r.select(answer.request_id, "gold")


def test_rejected_when_the_stock_is_gone(tmp_path: Path) -> None:
    with _router(tmp_path) as r:
        a = r.generate_fulfillment_options("C5", [("SOFA", 2)], "100", now=MONDAY_10)
        b = r.generate_fulfillment_options("C6", [("SOFA", 2)], "100", now=MONDAY_10)
        assert r.select(a.request_id, "gold").status == "held"
        lost = r.select(b.request_id, "gold")
        assert (lost.ok, lost.status) == (False, "rejected")
        assert lost.shortfall == (("WH-EAST", "SOFA", 2, 0),)
        c = r.generate_fulfillment_options("C7", [("SOFA", 1)], "100", now=MONDAY_10)
        assert c.options == () and "out of stock" in c.missing["gold"]


# ------------------------------------------------------------ degraded
def test_store_failure_falls_back_and_says_so(tmp_path: Path) -> None:
    with _router(tmp_path) as r:
        first = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
        assert not first.degraded and first.notes == ()
        assert r.store is not None
        r.store.close()  # the database goes away mid-day
        answer = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
        assert answer.degraded and _ids(answer) == _ids(first)
        text = " ".join(answer.notes)
        for part in ("stock could not be read", "CLTV score could not be read",
                     "capacity events could not be read"):  # fmt: skip
            assert part in text
        assert answer.customer.source.endswith("(last known)")
        assert answer.customer.platinum_eligible  # last known threshold and score
        held = r.select(answer.request_id, "gold")
        assert (held.ok, held.status) == (False, "unavailable")


def test_unopenable_store_still_answers(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    r = OnlineRouter.open(load_network(TINY_NETWORK), tmp_path / "adir")
    answer = r.generate_fulfillment_options("C1", [("TEE", 1)], "100", now=MONDAY_10)
    assert answer.degraded and answer.options
    assert answer.notes[0].startswith("state store unavailable (")
    assert r.select(answer.request_id, "gold").status == "unavailable"


def test_lp_failure_means_plain_greedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("solver down")

    monkeypatch.setattr(bid_module, "lp_relaxation", broken)
    with _router(tmp_path) as r:
        for i, node in enumerate(r.network.node_ids):
            _event(r, node, "forecast", float(r.network.capacity[i]), i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "606", now=MONDAY_10
        )
    assert answer.options and answer.degraded
    assert answer.bid_prices.startswith("zero bid prices: the estimate failed")
    assert any(n.startswith("greedy without reliable bid prices") for n in answer.notes)
