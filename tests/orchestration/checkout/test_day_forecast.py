"""The rest-of-day forecast from today's confirmed orders
(``orchestration/checkout/day_forecast.py``), on the flat history of
``tests/demand_history.py``: 48 orders expected over the business day, 19 of
them by 10:00 New York (the profile's pseudo-count aside)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.demand_history import (
    DAY,
    DAY_START,
    confirmed_lines,
    flat_history,
    write_history,
)
from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.orders import read_orders
from tierflow.orchestration.checkout.day_forecast import (
    DayForecaster,
    TodayOrders,
    explicit_standing,
)

NOW = DAY_START + dt.timedelta(hours=10)
SHAPE = 1 / 0.25**2  # the prior's Gamma shape (PRIOR_CV = 0.25)
#: Orders of the day by NOW, and still to come after it, on the profile
#: (its pseudo-count of one order a day spread over the 27 hours aside).
BY_NOW, REST = 19.0, 29.0
#: The node the history's Chicago orders ship from (its New York ones: WH-EAST).
CHI = "ST-CHI"


def _spread(n: int) -> list[dt.datetime]:
    """``n`` instants spread evenly from the day's start to NOW."""
    return [DAY_START + dt.timedelta(hours=10 * k / max(n, 1)) for k in range(n)]


@pytest.fixture
def history_forecaster(tmp_path: Path, tiny_network: Network) -> DayForecaster:
    return DayForecaster(tiny_network, flat_history(tmp_path, tiny_network))


def test_a_day_on_its_profile_expects_the_rest_of_the_profile(
    history_forecaster: DayForecaster,
) -> None:
    """19 orders by 10:00 are what the profile expects: multiplier 1 and the
    profile's other 29 to come."""
    out = history_forecaster.estimate(confirmed_lines(_spread(19)), NOW)
    assert (out.source, out.day, out.observed_orders) == ("history", DAY, 19)
    assert out.multiplier == pytest.approx(1.0, rel=2e-3)
    assert out.expected_orders == pytest.approx(REST, rel=2e-3)


def test_a_burst_raises_and_a_slow_day_lowers_the_rest_of_the_day(
    history_forecaster: DayForecaster,
) -> None:
    """Three times the profile's orders (57 by 10:00) against a third of
    them (6): the Gamma-Poisson multiplier and the volume to come follow."""
    burst = history_forecaster.estimate(confirmed_lines(_spread(57), CHI), NOW)
    slow = history_forecaster.estimate(confirmed_lines(_spread(6), CHI), NOW)
    up = (SHAPE + 57) / (SHAPE + BY_NOW)
    assert burst.multiplier == pytest.approx(up, rel=2e-3)
    assert burst.expected_orders == pytest.approx(REST * up, rel=2e-3)
    assert slow.multiplier == pytest.approx((SHAPE + 6) / (SHAPE + BY_NOW), rel=2e-3)
    assert slow.expected_orders < REST < burst.expected_orders
    assert (burst.work > slow.work).any() and (burst.work >= slow.work).all()
    # today's New York orders ship from ST-CHI, the history's from WH-EAST:
    # the burst's stand for more of New York's rest of the day
    chi = history_forecaster.network.node_idx(CHI)
    assert burst.work[chi] / burst.work.sum() > slow.work[chi] / slow.work.sum()


def test_orders_created_after_now_are_not_counted(
    history_forecaster: DayForecaster,
) -> None:
    """Orders stamped later than the forecast's instant change nothing."""
    later = [NOW + dt.timedelta(minutes=m) for m in (1, 30, 600)] * 20
    base = history_forecaster.estimate(confirmed_lines(_spread(20)), NOW)
    more = history_forecaster.estimate(confirmed_lines(_spread(20) + later), NOW)
    assert more.observed_orders == base.observed_orders == 20
    assert more.expected_orders == base.expected_orders
    np.testing.assert_array_equal(more.work, base.work)


def test_without_history_the_run_rate_of_today(tiny_network: Network) -> None:
    """Intraday, as ``allocate`` without ``--history``: nothing before 20
    orders, then the run rate over each zone's flat local day (at 10:00 New
    York: 10 of New York's 24 hours, 9 of Chicago's, 7 of Los Angeles',
    weighted by the destinations' population; a flat 24 hours from New
    York's midnight said 10 of 24 everywhere); the work per order is
    today's, at the nodes that shipped it."""
    f = DayForecaster(tiny_network, DemandForecast.intraday())
    few = f.estimate(confirmed_lines(_spread(10)), NOW)
    out = f.estimate(confirmed_lines(_spread(30), node="WH-WEST"), NOW)
    assert few.expected_orders == 0.0 and not few.work.any()
    assert (out.source, out.multiplier) == ("intraday", None)
    zone = dict(zip(tiny_network.dest_timezones, range(9), strict=False))
    weight = {z: tiny_network.dest_weight[tiny_network.dest_tz == i].sum()
              for z, i in zone.items()}  # fmt: skip
    share = (weight["America/New_York"] * 10 + weight["America/Chicago"] * 9
             + weight["America/Los_Angeles"] * 7) / 24  # fmt: skip
    assert out.expected_orders == pytest.approx(30 * (1 - share) / share)
    west = tiny_network.node_idx("WH-WEST")
    assert out.work[west] == pytest.approx(out.expected_orders)
    assert out.work.sum() == out.work[west]


def test_no_orders_yet_forecasts_today_from_the_profile(
    history_forecaster: DayForecaster,
) -> None:
    """An empty store: today's business day from the clock, the prior
    shrunk by the hours that passed without an order."""
    out = history_forecaster.estimate(confirmed_lines([]), NOW)
    assert (out.day, out.observed_orders) == (DAY, 0)
    assert out.multiplier == pytest.approx(SHAPE / (SHAPE + BY_NOW), rel=2e-3)
    assert out.work.sum() == pytest.approx(out.expected_orders)  # one unit a TEE


def test_the_monitor_takes_the_forecast_as_its_term(tiny_network: Network) -> None:
    """``set_forecast`` replaces every node's term, lowers the scores by it
    over nominal, and changes the map's key (caches see it)."""
    mon = CapacityMonitor(tiny_network)
    key = mon.state_key
    assert mon.set_forecast(np.array([100.0, 0.0, 10.0])) is True
    assert mon.state_key != key
    assert mon.score_map() == pytest.approx([0.9, 1.0, 0.9])
    assert mon.set_forecast(np.array([100.0, 0.0, 10.0])) is False
    with pytest.raises(InputError, match="field 'forecast'"):
        mon.set_forecast(np.array([1.0, np.nan, 0.0]))


def test_overlapping_reads_count_each_line_once(
    history_forecaster: DayForecaster,
) -> None:
    """Reads of the store that overlap (each refresh reads the last seconds
    again) give the outlook of one read of everything: every replica ends
    with the same forecast however its reads fell."""
    net = history_forecaster.network
    lines = confirmed_lines(_spread(50)).assign(confirmed_at=range(50))
    lines.loc[lines.index % 2 == 1, "node_id"] = "WH-WEST"
    pieces = TodayOrders(net)
    for lo, hi in ((0, 20), (15, 35), (10, 50), (0, 50)):
        pieces.add(lines.iloc[lo:hi])
    one = history_forecaster.estimate(lines, NOW)
    many = history_forecaster.estimate_from(pieces, NOW)
    assert (many.observed_orders, pieces.read_to) == (one.observed_orders, 49.0)
    np.testing.assert_allclose(many.work, one.work)
    assert many.expected_orders == one.expected_orders


def test_an_explicit_forecast_stands_less_the_orders_after_it(
    history_forecaster: DayForecaster,
) -> None:
    """Forecast events over the refreshed estimate: WH-EAST's (09:30) less the
    two TEEs it shipped after it by now (not the one before, nor the one
    after now), ST-CHI's 0 (no order since), not WH-WEST's of the day before
    (a rest-of-day forecast is about its own day); used up, the estimate's."""
    net = history_forecaster.network
    event = DAY_START + dt.timedelta(hours=9, minutes=30)
    times = [event - dt.timedelta(minutes=5), event + dt.timedelta(minutes=5),
             NOW, NOW + dt.timedelta(minutes=1)]  # fmt: skip
    orders = TodayOrders(net).add(confirmed_lines(times))
    outlook = history_forecaster.estimate_from(orders, NOW)
    tee = float(net.sku_complexity[net.sku_idx(["TEE"])[0]])
    east, west, chi = (net.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI"))
    stamps = np.full(net.n_nodes, event.timestamp())
    stamps[west] = (event - dt.timedelta(days=1)).timestamp()
    values = np.zeros(net.n_nodes)
    values[east], values[west] = 10.0, 7.0
    work, stands = explicit_standing(outlook, orders, values, stamps)
    assert stands.tolist() == [n in (east, chi) for n in range(stands.size)]
    assert work[east] == 10.0 - 2 * tee
    assert work[chi] == 0.0 < outlook.work[chi]
    assert work[west] == outlook.work[west] != 7.0
    values[east] = 2 * tee
    work, _ = explicit_standing(outlook, orders, values, stamps)
    assert work[east] == outlook.work[east] != 0.0


def test_an_explicit_forecast_stands_for_its_node_s_own_day(
    history_forecaster: DayForecaster,
) -> None:
    """WH-WEST (Los Angeles) forecast at 20:00 its time stands after New
    York's midnight, when an order of the next day has come (it was dropped
    then: the day's start was New York's for every node), until Los Angeles'
    own midnight: a rest-of-day forecast runs to the node's midnight."""
    net = history_forecaster.network
    west = net.node_idx("WH-WEST")
    event = DAY_START - dt.timedelta(hours=1)  # 20:00 Los Angeles, the day before
    orders = TodayOrders(net).add(
        confirmed_lines([DAY_START + dt.timedelta(minutes=10)])
    )
    stamps = np.full(net.n_nodes, -np.inf)
    stamps[west] = event.timestamp()
    values = np.zeros(net.n_nodes)
    values[west] = 500.0
    for hours, stands_then in ((0.5, True), (2.9, True), (3.1, False)):
        now = DAY_START + dt.timedelta(hours=hours)  # 21:30, 23:54, 00:06 LA
        outlook = history_forecaster.estimate_from(orders, now)
        assert (outlook.day, outlook.observed_orders) == (DAY, 1)
        work, stands = explicit_standing(outlook, orders, values, stamps)
        assert bool(stands[west]) is stands_then
        assert work[west] == (500.0 if stands_then else outlook.work[west])


def test_a_sydney_day_is_sydney_s(tmp_path: Path, tiny_network: Network) -> None:
    """Every zone Australia/Sydney: a forecast posted Monday 10:00 Sydney is of
    Monday and stands after an order elsewhere (it was filed under New
    York's Sunday and dropped at the first order of Monday)."""
    import csv
    import shutil

    from tierflow.data.network import load_network

    folder = tmp_path / "net"
    assert tiny_network.source is not None
    shutil.copytree(tiny_network.source, folder)
    for name in ("nodes.csv", "destinations.csv"):
        with open(folder / name, newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            row["timezone"] = "Australia/Sydney"
        with open(folder / name, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=list(rows[0]))
            out.writeheader()
            out.writerows(rows)
    net = load_network(folder)
    forecaster = DayForecaster(net, DemandForecast.intraday())
    post = dt.datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    west = net.node_idx("WH-WEST")
    stamps = np.full(net.n_nodes, -np.inf)
    stamps[west] = post.timestamp()
    values = np.zeros(net.n_nodes)
    values[west] = 5000.0
    empty = TodayOrders(net)
    first = forecaster.estimate_from(empty, post)
    assert first.day == dt.date(2026, 12, 7)
    at = (post + dt.timedelta(minutes=5)).astimezone(dt.UTC)  # as the store has it
    orders = TodayOrders(net).add(confirmed_lines([at]))
    later = forecaster.estimate_from(orders, post + dt.timedelta(minutes=6))
    assert (later.day, later.observed_orders) == (dt.date(2026, 12, 7), 1)
    work, stands = explicit_standing(later, orders, values, stamps)
    assert stands[west] and work[west] == 5000.0


def test_the_east_s_orders_so_far_do_not_scale_down_the_west_s_evening(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A history of one order an hour to New York (100, WH-EAST's) and one to
    Los Angeles (900, WH-WEST's), and 60 of today's to New York by 10:00
    New York, none yet to the West (07:00 there): WH-WEST's rest of the day
    is the history's, 119 of its 217 orders later on their day's clock than
    10:00 (6 whole days of 17 of Los Angeles' 24 and 14 of New York's, and
    the week's partial first and last days: 8 + 9 and 5 + 9), one TEE each.
    Blended over the whole day by ``n / (n + 300)``, today's East orders
    stood for a sixth of it and WH-WEST's work came out 5/6 of that."""
    path = write_history(tmp_path / "history.csv", dests=("100", "900"))
    history = DemandForecast.from_history(read_orders(path, tiny_network), tiny_network)
    out = DayForecaster(tiny_network, history).estimate(
        confirmed_lines(_spread(60)), NOW
    )
    net = tiny_network
    tee = net.sku_complexity[net.sku_index["TEE"]]
    west = net.node_idx("WH-WEST")
    assert out.observed_orders == 60
    assert out.work[west] == pytest.approx(out.expected_orders * tee * 119 / 217)
    assert out.work.sum() == pytest.approx(out.expected_orders * tee)
