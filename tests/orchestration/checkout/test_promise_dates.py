"""A delivery is never dated before the customer's own date at ordering.

The far-timezone network (``helpers.far_network``): a node a calendar day
behind the customer (Honolulu with a 23:00 cutoff, a Chicago customer after
its midnight) ships on its own earlier date, and transit counts from it;
the delivery is never dated before the customer's date, in
``Network.ship_and_delivery_dates``, the checkout router's quote and
``price_orders`` alike, and the option's words count its days from the
customer's date ("same day" for that date itself). A customer in Guam (a
``destinations.csv`` row whose timezone is Pacific/Guam) ordering from a
mainland node is the same case seen from the other side. Instants are
exact UTC ones."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DATA_DIR
from tests.formulations.test_online_pricing import (
    HOLIDAY_WEEKS,
    _check_agreement,
    _random_orders,
)
from tests.orchestration.checkout.helpers import far_network, ids
from tests.service_fixtures import put_scores
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders
from tierflow.data.rates import SERVICES
from tierflow.data.store import SqliteStore
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.online_pricing import OrderPricer, date_to_day
from tierflow.formulations.order_pricing import price_orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.router import OnlineRouter

UTC = dt.UTC
GUAM = "969,13.4700,144.7800,GU,Pacific/Guam,150000"


@pytest.fixture(scope="module", params=[0, 1], ids=["same-day", "next-day"])
def late_honolulu(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OnlineRouter]:
    """Far nodes with a 23:00 cutoff, next-day taking 0 or 1 days, and a
    Guam destination (969)."""
    tmp = tmp_path_factory.mktemp("late_honolulu")
    folder = far_network(
        tmp / "net", cutoff="23:00", next_day_days=request.param, destinations=(GUAM,)
    )
    store = SqliteStore(tmp / "state.db")
    put_scores(store)
    with OnlineRouter.open(load_network(folder), store, capacity_refresh_s=0) as r:
        yield r


def _days(router: OnlineRouter) -> int:
    net = router.network
    return int(net.rates.transit(0, net.zone[net.node_idx("WH-HNL"), 0]))


#: (instant, Honolulu's ship date, the customer's date in Chicago); next-day
#: delivers the ship date + its transit days, or the customer's date if later.
_HONOLULU = [
    # Mon 23:59 in Chicago, Mon 19:59 in Honolulu: one date
    (dt.datetime(2026, 1, 6, 5, 59, tzinfo=UTC), "2026-01-05", "2026-01-05"),
    # Chicago's midnight (Honolulu Mon 20:00): the customer's Tuesday
    (dt.datetime(2026, 1, 6, 6, 0, tzinfo=UTC), "2026-01-05", "2026-01-06"),
    # QA's case: Tue 01:00 in Chicago, Mon 21:00 in Honolulu
    (dt.datetime(2026, 1, 6, 7, 0, tzinfo=UTC), "2026-01-05", "2026-01-06"),
    # a minute before Honolulu's 23:00 cutoff, and at it (ships its Tuesday)
    (dt.datetime(2026, 1, 6, 8, 59, tzinfo=UTC), "2026-01-05", "2026-01-06"),
    (dt.datetime(2026, 1, 6, 9, 0, tzinfo=UTC), "2026-01-06", "2026-01-06"),
]


@pytest.mark.parametrize(("when", "ship", "ordered"), _HONOLULU)
def test_a_node_a_day_behind_never_delivers_before_the_order_date(
    late_honolulu: OnlineRouter, when: dt.datetime, ship: str, ordered: str
) -> None:
    """QA's case: 01:00 Tuesday in Chicago is 21:00 Monday in Honolulu,
    before its 23:00 cutoff, so it ships Monday; a 0-day next-day delivered
    Monday, before the order: now Tuesday, the order's date. A 1-day one
    delivers Tuesday, the order's date too, which the words called "next
    day": "same day" now."""
    net = late_honolulu.network
    days = _days(late_honolulu)
    after = dt.date.fromisoformat(ship) + dt.timedelta(days=days)  # no weekend
    expected = max(after, dt.date.fromisoformat(ordered))
    ships, delivers = net.ship_and_delivery_dates(when, "next_day", net.dest_idx("606"))
    at = net.node_idx("WH-HNL")
    assert (str(ships[at]), str(delivers[at])) == (ship, expected.isoformat())
    answer = late_honolulu.generate_fulfillment_options(
        "C10", [("KONA", 1)], "606", now=when
    )
    plat = answer.option("platinum")  # Chicago's date + 1 promise day
    assert (plat.ship_date.isoformat(), plat.delivery_date) == (ship, expected)
    words = "same day" if expected.isoformat() == ordered else "next day"
    assert f"arrives {expected} ({words})" in plat.explanation


def test_price_orders_counts_from_the_order_date(
    late_honolulu: OnlineRouter, tmp_path: Path
) -> None:
    """The batch pricer and so the allocator: the Tue 01:00 Chicago order
    from Honolulu (shipped Monday) delivers Tuesday, its own date, by a
    0-day or a 1-day next-day, and its Platinum promise (Wednesday) is kept."""
    net = late_honolulu.network
    row = "P,2026-01-06T01:00:00-06:00,C1,606,platinum,KONA,1"
    orders = _orders(tmp_path, net, [row])
    options = price_orders(net, orders, np.array([0]), TierPolicy())
    at = net.node_idx("WH-HNL")
    expected = dt.date(2026, 1, 6)
    assert str(options.ship_date[0, at]) == "2026-01-05"
    assert str(options.promised[0]) == "2026-01-07"
    assert options.service[0, at] == 0  # next-day, on time
    assert str(options.delivery[0, at]) == expected.isoformat()


def test_a_customer_in_guam_is_promised_by_their_own_calendar(
    late_honolulu: OnlineRouter,
) -> None:
    """Guam (UTC+10) at Tue 07:30 is Mon 16:30 in New Jersey, before
    WH-EAST's 18:00 cutoff: MUG ships Monday. A 1-day next-day delivers
    Tuesday, Guam's own order date, which the words called "(next day)":
    "(same day)" now, the customer's calendar. A 0-day one delivered
    Monday, before the order: Tuesday now."""
    net = late_honolulu.network
    when = dt.datetime(2026, 1, 5, 21, 30, tzinfo=UTC)
    guam = net.dest_idx("969")
    assert net.dest_timezones[net.dest_tz[guam]] == "Pacific/Guam"
    ships, delivers = net.ship_and_delivery_dates(when, "next_day", guam)
    east = net.node_idx("WH-EAST")
    expected = dt.date(2026, 1, 6)
    assert (str(ships[east]), str(delivers[east])) == ("2026-01-05", str(expected))
    answer = late_honolulu.generate_fulfillment_options(
        "C10", [("MUG", 1)], "969", now=when
    )
    assert "platinum" in ids(answer)
    plat = answer.option("platinum")
    assert (plat.nodes, plat.ship_date, plat.delivery_date) == (
        ("WH-EAST",),
        dt.date(2026, 1, 5),
        expected,
    )
    assert f"arrives {expected} (same day)" in plat.explanation


def _orders(tmp_path: Path, net: Network, rows: list[str]) -> Orders:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n" + "\n".join(rows)
    )
    return read_orders(path, net)


#: Customers on every side of the date line: Guam (UTC+10), Kiritimati
#: (UTC+14), Chicago and New York (daylight saving), Honolulu, Adak
#: (daylight saving), Pago Pago (UTC-11).
_FAR_CUSTOMERS = (
    GUAM,
    "968,21.3069,-157.8583,HI,Pacific/Honolulu,900000",
    "995,51.8800,-176.6581,AK,America/Adak,300",
    "966,1.8721,-157.4278,KI,Pacific/Kiritimati,7000",
    "967,-14.2756,-170.7020,AS,Pacific/Pago_Pago,50000",
)


@pytest.fixture(scope="module")
def every_clock(tmp_path_factory: pytest.TempPathFactory) -> Network:
    """The far network with the customers of ``_FAR_CUSTOMERS``, a 0-day
    next-day, cutoffs at 00:00 (WH-EAST), 23:59 (WH-WEST) and 23:00 (the far
    nodes), the per-service calendars and moved holidays of
    ``tests/data/tiny_calendar`` (a closed Friday after Thanksgiving,
    next-day open on Thanksgiving, New Year's Day worked)."""
    tmp = tmp_path_factory.mktemp("every_clock")
    folder = far_network(
        tmp / "net", cutoff="23:00", next_day_days=0, destinations=_FAR_CUSTOMERS
    )
    nodes = folder / "nodes.csv"
    text = nodes.read_text()
    for node, cutoff in (("WH-EAST", "00:00"), ("WH-WEST", "23:59")):
        line = next(r for r in text.splitlines() if r.startswith(node))
        text = text.replace(line, line.replace("18:00", cutoff))
    nodes.write_text(text)
    for name in ("holidays.csv", "services.csv"):
        shutil.copy(DATA_DIR / "tiny_calendar" / name, folder / name)
    return load_network(folder)


#: Minutes around the instants where a date can slip: both of 2026's US
#: daylight-saving changes, Thanksgiving week, Christmas to New Year, and
#: any minute of the year.
_INSTANTS = st.one_of(
    st.sampled_from(
        [
            "2026-03-08T10:00Z",
            "2026-11-01T09:00Z",
            "2026-11-25T00:00Z",
            "2026-12-24T00:00Z",
        ]
    ).flatmap(
        lambda at: st.integers(-3 * 24 * 60, 9 * 24 * 60).map(
            lambda m: dt.datetime.fromisoformat(at) + dt.timedelta(minutes=m)
        )
    ),
    st.integers(0, 365 * 24 * 60).map(
        lambda m: dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=m)
    ),
)


@settings(max_examples=60, deadline=None)
@given(when=_INSTANTS, seconds=st.integers(0, 59))
def test_no_delivery_before_the_ship_date_or_the_order_date(
    every_clock: Network, when: dt.datetime, seconds: int
) -> None:
    """Whatever the instant and the clocks: every service from every node to
    every customer delivers on or after its ship date and the customer's
    date at ordering, and the online pricer's quote (the checkout's) dates
    each tier's shipment as ``Network.ship_and_delivery_dates`` does, its
    days counted from the customer's date (never below 0)."""
    net = every_clock
    when = when + dt.timedelta(seconds=seconds)
    pricer = OrderPricer(net, TierPolicy())
    for d in range(net.n_dests):
        zone = zone_info(net.dest_timezones[net.dest_tz[d]])
        ordered = np.datetime64(when.astimezone(zone).date(), "D")
        by_service = {}
        for s, name in enumerate(SERVICES):
            ship, deliver = net.ship_and_delivery_dates(when, name, d)
            offered = ~np.isnat(deliver)
            assert (deliver[offered] >= ship[offered]).all(), (name, d)
            assert (deliver[offered] >= ordered).all(), (name, d)
            by_service[s] = deliver
        q = pricer.quote(when, d, 1.0, 1.0)
        assert q.today == date_to_day(ordered.astype(dt.date))
        assert (q.promised >= q.today).all()
        for t in range(len(TIERS)):
            for n in np.flatnonzero(q.service[t] >= 0):
                expected = by_service[int(q.service[t, n])][n].astype(np.int64)
                assert q.delivery[t, n] == expected, (t, n, d)
                assert q.delivery[t, n] >= max(q.ship[n], q.today)
                assert q.days[t, n] >= 0


def test_checkout_and_batch_pricers_agree_on_every_clock(
    every_clock: Network, tmp_path: Path
) -> None:
    """The online pricer (checkout) and ``price_orders`` (allocation,
    simulation, bound) date, price and charge alike on the far clocks:
    ship date, service, delivery, promise, lateness, for every node."""
    orders = _random_orders(every_clock, 400, 5, tmp_path, HOLIDAY_WEEKS)
    assert _check_agreement(every_clock, orders) == 400
