"""Platinum: the CLTV threshold, cutoffs, weekends and timezones (tiny network,
see ``helpers``); a property test against ``Network.ship_and_delivery_dates``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TINY_NETWORK
from tests.orchestration.checkout.helpers import event, far_network, ids
from tests.service_fixtures import ET, MONDAY_10, put_scores, tiny_network, tiny_router
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network, load_network
from tierflow.data.store import SqliteStore
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.router import OnlineRouter


def test_a_customer_id_written_with_spaces_is_the_scored_customer(
    router: OnlineRouter,
) -> None:
    """A purchase log's ids are read stripped (``C9 `` is C9's purchase), so
    the checkout's are too: ``tierflow options --customer ' C9 '`` got the
    new-customer prior, and no Platinum, for the customer scored C9."""
    answer = router.generate_fulfillment_options(
        " C9 ", [("MUG", 1)], "60601", now=MONDAY_10
    )
    assert answer.customer.customer_id == "C9"
    assert (answer.customer.predicted_spend, answer.customer.segment) == (
        90.0,
        "platinum",
    )
    assert "platinum" in ids(answer)


def test_platinum_only_at_or_above_the_threshold(router: OnlineRouter) -> None:
    cart = [("MUG", 1)]
    at = router.generate_fulfillment_options("C9", cart, "60601", now=MONDAY_10)
    assert at.customer.platinum_threshold == 90.0 and at.customer.platinum_eligible
    assert "platinum" in ids(at)
    plat = at.option("platinum")
    assert plat.guaranteed and plat.label == "Guaranteed next-day"
    assert (plat.nodes, plat.service) == (("WH-EAST",), "next_day")
    assert plat.delivery_date == dt.date(2026, 1, 6)
    below = router.generate_fulfillment_options("C8", cart, "60601", now=MONDAY_10)
    assert "platinum" not in ids(below)
    assert below.missing["platinum"] == (
        "predicted spend $80.00 is below the Platinum threshold $90.00 (90% percentile)"
    )
    new = router.generate_fulfillment_options("stranger", cart, "606", now=MONDAY_10)
    assert (new.customer.predicted_spend, new.customer.segment) == (50.0, "new")
    assert new.customer.source.startswith("new-customer prior (50% percentile")
    assert "platinum" not in ids(new)


def test_the_threshold_reads_the_percentile_as_configured(
    tmp_path: Path, state_location: Path | str
) -> None:
    """``platinum_percentile = 0.999`` (the top customer of eleven) was
    written "(100% percentile)" beside a threshold below the best score,
    and a new customer's ``new_customer_percentile = 0.125`` "(12%
    percentile ...)": each is now the percentile as configured."""
    policy = TierPolicy().with_changes(
        platinum_percentile=0.999, new_customer_percentile=0.125
    )
    with tiny_router(tmp_path, state=state_location, policy=policy) as r:
        below = r.generate_fulfillment_options("C8", [("MUG", 1)], "606", now=MONDAY_10)
        new = r.generate_fulfillment_options("C99", [("MUG", 1)], "606", now=MONDAY_10)
    assert below.missing["platinum"] == (
        "predicted spend $80.00 is below the Platinum threshold $100.00 "
        "(99.9% percentile)"
    )
    assert new.customer.source == (
        "new-customer prior (12.5% percentile of the latest scores)"
    )


def test_a_spend_a_fraction_of_a_cent_below_the_threshold_reads_below(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Model scores are not whole cents: $89.996 under a threshold of
    $90.001 read "predicted spend $90.00 is below the Platinum threshold
    $90.00"; the figures now show the places that tell them apart."""
    with tiny_router(tmp_path, state=state_location, scores=False) as r:
        assert r.store is not None
        r.store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": [f"K{i}" for i in range(11)],
                    "predicted_spend": [100.0, 90.001, 89.996] + [10.0] * 8,
                    "p_active": 0.5,
                    "segment": ["platinum"] * 2 + ["silver"] * 9,
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="test",
        )
        below = r.generate_fulfillment_options("K2", [("MUG", 1)], "606", now=MONDAY_10)
        far = r.generate_fulfillment_options("K3", [("MUG", 1)], "606", now=MONDAY_10)
    assert below.missing["platinum"] == (
        "predicted spend $89.996 is below the Platinum threshold $90.001 "
        "(90% percentile)"
    )
    assert far.missing["platinum"] == (
        "predicted spend $10.00 is below the Platinum threshold $90.00 (90% percentile)"
    )


def test_no_scores_no_platinum(tmp_path: Path, state_location: Path | str) -> None:
    with tiny_router(tmp_path, state=state_location, scores=False) as r:
        answer = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
    assert answer.missing["platinum"] == (
        "no CLTV scores stored: the Platinum threshold is unknown"
    )
    assert answer.customer.source == "new-customer prior (no CLTV scores stored)"


def test_a_zero_threshold_makes_no_one_predicted_to_spend_nothing_platinum(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The top 10 % of eleven customers is two; when the second of them is
    predicted to spend nothing the threshold is $0.00, and every customer
    was at or above it: Platinum went to customers predicted to spend $0."""
    with tiny_router(tmp_path, state=state_location, scores=False) as r:
        assert r.store is not None
        r.store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": [f"C{i}" for i in range(11)],
                    "predicted_spend": [0.0] * 10 + [120.0],
                    "p_active": 0.5,
                    "segment": ["silver"] * 10 + ["platinum"],
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="test",
        )
        top = r.generate_fulfillment_options("C10", [("MUG", 1)], "606", now=MONDAY_10)
        none = r.generate_fulfillment_options("C3", [("MUG", 1)], "606", now=MONDAY_10)
    assert top.customer.platinum_threshold == 0.0
    assert top.customer.platinum_eligible and "platinum" in ids(top)
    assert not none.customer.platinum_eligible
    assert "platinum" not in ids(none)
    assert none.missing["platinum"] == (
        "predicted spend $0.00: Platinum is for customers predicted to spend "
        "(threshold $0.00, 90% percentile)"
    )


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
        # Sunday: the next day is Monday, and nothing ships before Monday ->
        # refused, as on Saturday night (counting the promise from Monday
        # offered "next-day" on Tuesday, for the same delivery Saturday
        # night was refused)
        (dt.datetime(2026, 1, 11, 10, 0, tzinfo=ET), False, "2026-01-12", None),
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
    assert ("platinum" in ids(answer)) is offered
    gold = answer.option("gold")
    assert gold.nodes == ("WH-EAST",) and gold.ship_date.isoformat() == ship
    if offered:
        assert answer.option("platinum").delivery_date.isoformat() == delivery
    else:
        assert answer.missing["platinum"].startswith(
            "no node holding the items can guarantee delivery by"
        )


@pytest.mark.parametrize(
    ("when", "ship", "delivery"),
    [
        # Thursday 24 December 2150, 10:00 ET: Christmas is a Friday, and the
        # carrier holidays stopped at 2099 (promised on Christmas Day)
        (dt.datetime(2150, 12, 24, 10, 0, tzinfo=ET), "2150-12-24", "2150-12-26"),
        # Friday 24 December 1999: Christmas a Saturday (they began at 2000)
        (dt.datetime(1999, 12, 24, 10, 0, tzinfo=ET), "1999-12-24", "1999-12-27"),
    ],
)
def test_platinum_across_christmas_in_any_instant_year(
    router: OnlineRouter, when: dt.datetime, ship: str, delivery: str
) -> None:
    answer = router.generate_fulfillment_options("C10", [("MUG", 1)], "606", now=when)
    plat = answer.option("platinum")
    assert (plat.nodes, plat.service) == (("WH-EAST",), "next_day")
    assert plat.ship_date.isoformat() == ship
    assert plat.delivery_date.isoformat() == delivery


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
    assert "platinum" not in ids(answer)
    assert answer.option("gold").ship_date == dt.date(2026, 1, 6)


@pytest.fixture(scope="module")
def guam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnlineRouter]:
    """The tiny network with three far nodes, each the only one holding its
    SKU, cutoff 18:00 local: WH-GUM in Pacific/Guam (UTC+10, 08:00 UTC;
    LEI), WH-HNL in Pacific/Honolulu (UTC-10 all year; KONA) and WH-ADK in
    America/Adak (UTC-10, UTC-9 in summer; CRAB)."""
    tmp = tmp_path_factory.mktemp("guam")
    folder = far_network(tmp / "net")
    store = SqliteStore(tmp / "state.db")
    put_scores(store)
    with OnlineRouter.open(load_network(folder), store, capacity_refresh_s=0) as r:
        yield r


UTC = dt.UTC


@pytest.mark.parametrize(
    ("when", "platinum", "gold"),
    [
        # just before the Guam cutoff (Tue 17:59 there, Tue 01:59 in Chicago):
        # ships Tuesday, next-day Wednesday, the promise of Chicago's Tuesday
        (dt.datetime(2026, 1, 6, 7, 59, tzinfo=UTC), "2026-01-07", "2026-01-08"),
        # at the cutoff: ships Wednesday (Guam's date), too late for Wednesday
        (dt.datetime(2026, 1, 6, 8, 0, tzinfo=UTC), None, "2026-01-09"),
        # either side of UTC midnight (Tue 09:59 / 10:00 in Guam, Mon 17:59 /
        # 18:00 in Chicago): ships Guam's Tuesday, arrives Wednesday, later
        # than Chicago's Monday promise (Tuesday)
        (dt.datetime(2026, 1, 5, 23, 59, tzinfo=UTC), None, "2026-01-08"),
        (dt.datetime(2026, 1, 6, 0, 0, tzinfo=UTC), None, "2026-01-08"),
        # either side of Chicago's midnight: the promise moves to Wednesday
        (dt.datetime(2026, 1, 6, 5, 59, tzinfo=UTC), None, "2026-01-08"),
        (dt.datetime(2026, 1, 6, 6, 0, tzinfo=UTC), "2026-01-07", "2026-01-08"),
    ],
)
def test_a_node_across_the_date_line_ships_on_its_own_date(
    guam: OnlineRouter, when: dt.datetime, platinum: str | None, gold: str
) -> None:
    """A Guam node (UTC+10) and a Chicago customer: the ship date is Guam's
    date against Guam's cutoff, transit counts from it, and the promise
    from the customer's date (QA's date-line case: checked, nothing wrong;
    the router's answer is ``Network.ship_and_delivery_dates``' for every
    option)."""
    answer = guam.generate_fulfillment_options("C10", [("LEI", 1)], "606", now=when)
    net = guam.network
    late = when >= dt.datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    ship = dt.date(2026, 1, 7 if late else 6)
    for option in answer.options:
        assert option.nodes == ("WH-GUM",) and option.ship_date == ship
        ships, delivers = net.ship_and_delivery_dates(
            when, option.service, net.dest_idx("606")
        )
        at = net.node_idx("WH-GUM")
        assert (option.ship_date, option.delivery_date) == (
            ships[at].astype(dt.date),
            delivers[at].astype(dt.date),
        )
    g = answer.option("gold")
    assert (g.service, g.delivery_date.isoformat()) == ("two_day", gold)
    if platinum is None:
        assert "platinum" not in ids(answer)
    else:
        assert answer.option("platinum").delivery_date.isoformat() == platinum


@pytest.mark.parametrize(
    ("sku", "when", "ship", "platinum"),
    [
        # Honolulu 17:59 / 18:00 Monday (Chicago 21:59 / 22:00 Monday)
        (
            "KONA",
            dt.datetime(2026, 1, 6, 3, 59, tzinfo=UTC),
            "2026-01-05",
            "2026-01-06",
        ),
        ("KONA", dt.datetime(2026, 1, 6, 4, 0, tzinfo=UTC), "2026-01-06", None),
        # Honolulu 19:59 Monday, Chicago's Tuesday from 06:00 UTC: Honolulu's
        # date is a day behind the customer's, the ship date Honolulu's
        ("KONA", dt.datetime(2026, 1, 6, 6, 0, tzinfo=UTC), "2026-01-06", "2026-01-07"),
        # Adak keeps Honolulu's clock in winter, an hour later in summer:
        # 18:00 there is 03:00 UTC in July (Honolulu still 17:00)
        (
            "CRAB",
            dt.datetime(2026, 1, 6, 3, 59, tzinfo=UTC),
            "2026-01-05",
            "2026-01-06",
        ),
        (
            "CRAB",
            dt.datetime(2026, 7, 7, 2, 59, tzinfo=UTC),
            "2026-07-06",
            "2026-07-07",
        ),
        ("CRAB", dt.datetime(2026, 7, 7, 3, 0, tzinfo=UTC), "2026-07-07", None),
        ("KONA", dt.datetime(2026, 7, 7, 3, 0, tzinfo=UTC), "2026-07-06", "2026-07-07"),
    ],
)
def test_nodes_west_of_the_customer_ship_on_their_own_date(
    guam: OnlineRouter, sku: str, when: dt.datetime, ship: str, platinum: str | None
) -> None:
    """Honolulu and Adak nodes, a Chicago customer: the ship date is the
    node's date against its own cutoff (daylight saving in Adak, none in
    Honolulu), the promise counts from the customer's date."""
    answer = guam.generate_fulfillment_options("C10", [(sku, 1)], "606", now=when)
    assert answer.option("gold").ship_date.isoformat() == ship
    if platinum is None:
        assert "platinum" not in ids(answer)
    else:
        plat = answer.option("platinum")
        assert (plat.ship_date.isoformat(), plat.delivery_date.isoformat()) == (
            ship,
            platinum,
        )


@pytest.fixture
def late_west(tmp_path: Path) -> Iterator[OnlineRouter]:
    """The tiny network with WH-WEST's cutoff at 23:00 PT (a late node)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = folder / "nodes.csv"
    text = nodes.read_text()
    west = next(line for line in text.splitlines() if line.startswith("WH-WEST"))
    nodes.write_text(text.replace(west, west.replace("18:00", "23:00")))
    store = SqliteStore(tmp_path / "state.db")
    put_scores(store)
    with OnlineRouter.open(load_network(folder), store, capacity_refresh_s=0) as r:
        yield r


def test_platinum_on_a_sunday_needs_a_node_that_delivers_monday(
    late_west: OnlineRouter,
) -> None:
    """Sunday 00:30 ET (Saturday 21:30 PT): the promise is Monday. WH-WEST,
    before its Saturday cutoff, ships Saturday and delivers Monday. With
    WH-WEST out of room, WH-EAST ships Monday and delivers Tuesday: not
    next-day for a Sunday order (it was offered, the promise counted from
    Monday), so Platinum is refused, naming the node that could."""
    when = dt.datetime(2026, 1, 11, 0, 30, tzinfo=ET)  # Saturday 21:30 PT
    answer = late_west.generate_fulfillment_options(
        "C10", [("TEE", 1)], "100", now=when
    )
    plat = answer.option("platinum")
    assert (plat.nodes, plat.delivery_date) == (("WH-WEST",), dt.date(2026, 1, 12))
    event(late_west, "WH-WEST", "outage", True, 1)
    answer = late_west.generate_fulfillment_options(
        "C10", [("TEE", 1)], "100", now=when
    )
    assert "platinum" not in ids(answer)
    assert answer.missing["platinum"] == (
        "every node holding the items that can guarantee delivery by 2026-01-12 "
        "(WH-WEST) is closed (outage)"
    )


def test_platinum_on_a_friday_before_a_saturday_no_service_works(
    tmp_path: Path,
) -> None:
    """Next-day delivers Mon-Fri, the others Mon-Sat, and ``holidays.csv``
    closes Saturday 2026-10-10 for the three Saturday services: no service
    works that day, so Friday's next-day promise is Monday, which next-day
    keeps. It was refused ("can guarantee delivery by 2026-10-10", a day
    nothing delivers on)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "services.csv").write_text("service,delivery_days\nnext_day,Mon-Fri\n")
    (folder / "holidays.csv").write_text(
        "date,service,action\n"
        + "".join(f"2026-10-10,{s},closed\n" for s in ("two_day", "ground", "economy"))
    )
    store = SqliteStore(tmp_path / "state.db")
    put_scores(store)
    friday = dt.datetime(2026, 10, 9, 10, tzinfo=ET)
    with OnlineRouter.open(load_network(folder), store, capacity_refresh_s=0) as r:
        answer = r.generate_fulfillment_options("C10", [("TEE", 1)], "100", now=friday)
    plat = answer.option("platinum")
    assert (plat.nodes, plat.service, plat.ship_date, plat.delivery_date) == (
        ("WH-EAST",),
        "next_day",
        dt.date(2026, 10, 9),
        dt.date(2026, 10, 12),
    )


def test_platinum_refused_names_the_nodes_out_of_room(late_west: OnlineRouter) -> None:
    """Monday 21:30 ET: only WH-WEST (18:30 PT) can still make Tuesday; it
    is closed, which the refusal says (it said "lacks physical room", QA)."""
    when = dt.datetime(2026, 1, 5, 21, 30, tzinfo=ET)
    event(late_west, "WH-WEST", "outage", True, 1)
    answer = late_west.generate_fulfillment_options(
        "C10", [("TEE", 1)], "100", now=when
    )
    assert "platinum" not in ids(answer)
    assert answer.missing["platinum"] == (
        "every node holding the items that can guarantee delivery by 2026-01-06 "
        "(WH-WEST) is closed (outage)"
    )


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
def shared_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnlineRouter]:
    with tiny_router(tmp_path_factory.mktemp("shared")) as r:
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
    # one promise day after the order's own date (from a Sunday: Monday)
    promise = np.busday_offset(
        np.datetime64(local, "D"), 1, roll="backward", weekmask="1111110"
    )
    skus = net.sku_idx([s for s, _ in cart])
    can = ~np.isnat(deliver) & (deliver <= promise)
    line_ok = (net.inventory[:, skus] >= np.array([q for _, q in cart])) & can[:, None]
    spend = {"C0": 0, "C5": 50, "C8": 80, "C9": 90, "C10": 100, "new": 50}[customer]
    expected = spend >= 90 and bool(line_ok.any(axis=0).all())
    assert ("platinum" in ids(answer)) is expected
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


def test_a_split_cart_names_the_constraint(router: OnlineRouter) -> None:
    """MUG (only WH-EAST) and SPRAY (only WH-WEST) to Chicago at Monday
    19:00 ET: WH-EAST is past its cutoff, so MUG cannot make Tuesday. The
    split plan said "no node with room and platinum's services holds
    ['MUG']", and to the shopper "isn't available ... to this address"."""
    when = dt.datetime(2026, 1, 5, 19, 0, tzinfo=ET)
    cart = [("MUG", 1), ("SPRAY", 1)]
    answer = router.generate_fulfillment_options("C10", cart, "606", now=when)
    assert "platinum" not in ids(answer)
    assert answer.missing["platinum"] == (
        "no node holding ['MUG'] can guarantee delivery by 2026-01-06 "
        "(next-day cutoffs and timezones)"
    )
    assert "cutoff has passed" in answer.unavailable["platinum"]
    # before the cutoff both ship next-day, from their nodes
    early = router.generate_fulfillment_options(
        "C10", cart, "606", now=when - dt.timedelta(hours=2)
    )
    assert set(early.option("platinum").nodes) == {"WH-EAST", "WH-WEST"}


def test_answers_alike_with_scores_preloaded_or_read_per_customer(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A router that read the latest day's scores whole (``load_scores``, as
    a server does at startup) answers every customer, scored or not, as one
    that reads each customer's score with the cart's stock."""
    carts = [("MUG", 1)], [("MUG", 2), ("TEE", 1)]
    who = ("C9", "C8", "C0", "stranger", "C9")

    def answers(router: OnlineRouter) -> list[dict[str, Any]]:
        out = []
        for customer in who:
            for cart in carts:
                answer = router.generate_fulfillment_options(
                    customer, cart, "60601", now=MONDAY_10
                ).to_dict()
                # the request id is random, and the options' expiry is
                # on the wall clock (the answer's instant is MONDAY_10)
                out.append(
                    {
                        k: v
                        for k, v in answer.items()
                        if k not in ("request_id", "expires_at")
                    }
                )
        return out

    with tiny_router(tmp_path, state=state_location) as whole:
        assert whole.load_scores()
        preloaded = answers(whole)
        assert not whole._customers.wants_score("C7")
        with OnlineRouter.open(tiny_network(), state_location, cltv_refresh_s=0.0) as r:
            assert answers(r) == preloaded
            assert r._customers.wants_score("C7")
    assert [a["customer"]["platinum_eligible"] for a in preloaded[::2]] == [
        True, False, False, False, True,
    ]  # fmt: skip


def test_scores_published_to_a_running_router_are_judged_by_their_threshold(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Scores published after the router read "no scores" (a first day into
    an empty store), then a day that doubles every score: within
    ``cltv_refresh_s`` (60 s) the next answer that reads a customer's score
    judges it against the threshold of the same scores (it showed the new
    score beside "no CLTV scores stored", then against the old day's $90)."""
    cart = [("MUG", 1)]
    with tiny_router(
        tmp_path, state=state_location, scores=False, cltv_refresh_s=60.0
    ) as r:
        first = r.generate_fulfillment_options("C10", cart, "606", now=MONDAY_10)
        assert first.customer.source == "new-customer prior (no CLTV scores stored)"
        store = r.store
        assert store is not None
        put_scores(store)
        c9 = r.generate_fulfillment_options("C9", cart, "606", now=MONDAY_10)
        assert (c9.customer.predicted_spend, c9.customer.platinum_threshold) == (
            90.0,
            90.0,
        )
        assert c9.customer.platinum_eligible and "platinum" in ids(c9)
        c8 = r.generate_fulfillment_options("C8", cart, "606", now=MONDAY_10)
        assert c8.missing["platinum"] == (
            "predicted spend $80.00 is below the Platinum threshold $90.00 "
            "(90% percentile)"
        )
        store.put_cltv_scores(  # the next day: every score doubled
            pd.DataFrame(
                {
                    "customer_id": [f"C{i}" for i in range(11)],
                    "predicted_spend": [i * 20.0 for i in range(11)],
                    "p_active": 0.5,
                    "segment": "silver",
                }
            ),
            as_of=dt.date(2026, 1, 5),
            model_version="next",
        )
        c7 = r.generate_fulfillment_options("C7", cart, "606", now=MONDAY_10)
        assert c7.customer.source == "CLTV scores of 2026-01-05"
        assert "platinum" not in ids(c7)
        assert c7.missing["platinum"] == (
            "predicted spend $140.00 is below the Platinum threshold $180.00 "
            "(90% percentile)"
        )
        stranger = r.generate_fulfillment_options("new", cart, "606", now=MONDAY_10)
        assert stranger.customer.predicted_spend == 100.0  # the new day's median
