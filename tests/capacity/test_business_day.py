"""The rest-of-day forecast counts one business day
(``capacity/demand_forecast.py``, :class:`BusinessDay`): a day's orders are
those of its date at their destination, its hours run from the network's
first local midnight to its last, and the profile, the orders seen and the
hours into the day all use it. Measured on generated days with the
history's volume (a week of 7,000 orders, then a Monday of 1,000), so the
day's multiplier is about 1 at every hour, and the forecast of what is
still to come is about what came."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.networks import network_in_zone
from tierflow.capacity.demand_forecast import (
    BusinessDay,
    DemandForecast,
    business_day_start,
)
from tierflow.data.network import Network, load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.day_forecast import DayForecaster, TodayOrders
from tierflow.orchestration.demand import DemandOutlook

DAY = dt.date(2026, 12, 7)  # a Monday


def _in_zone(sample_dir: Path, folder: Path, zone: str) -> Network:
    """The sample network with every node and destination in ``zone``."""
    return load_network(network_in_zone(sample_dir, folder, zone))


def _orders(net: Network, folder: Path, n: int, days: int, start: dt.date) -> Orders:
    frame = generate_orders(net, n_orders=n, days=days, seed=days, start=start)
    return read_orders(write_orders(frame, folder / f"o{days}.csv"), net)


def _outlook(
    net: Network,
    folder: Path,
    zone: str,
    hours: tuple[int, ...],
    *,
    on: dt.date = DAY,
    per_day: int = 1000,
) -> list[tuple[float, float, int]]:
    """(multiplier, forecast still to come, actually still to come) at each
    local hour of ``zone`` on ``on``, after a week of ``per_day`` orders a
    day and ``per_day`` that day."""
    week = _orders(net, folder, 7 * per_day, 7, on - dt.timedelta(days=7))
    day = _orders(net, folder, per_day, 1, on)
    forecast = DemandForecast.from_history(week, net)
    start = business_day_start(on, net)
    out = []
    for h in hours:
        at = dt.datetime.combine(on, dt.time(h), ZoneInfo(zone))
        at64 = np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "s")
        offset = float((at64 - start).astype(np.int64))
        seen = int((day.created_at < at64).sum())
        multiplier = forecast.multiplier(on, offset, seen)
        assert multiplier is not None
        rest = forecast.remaining(on, offset, seen)
        out.append((multiplier, rest, day.n_orders - seen))
    return out


def test_a_us_day_of_the_history_volume_is_as_expected_from_its_first_hours(
    sample_network: Network, tmp_path: Path
) -> None:
    """At 03:00 and 09:00 New York the multiplier is about 1 and the forecast
    about what came (the profile per UTC hour from New York's midnight counted
    the West's evening of the day before, the orders seen did not: 0.34 and
    0.71, the rest a third and two thirds of what came)."""
    rows = _outlook(sample_network, tmp_path, "America/New_York", (3, 9, 15, 21))
    for multiplier, _, _ in rows:
        assert 0.8 < multiplier < 1.2
    for _, rest, came in rows[:2]:  # 30 orders by 03:00: a Poisson count
        assert rest == pytest.approx(came, rel=0.35)  # (it was a third)


def test_a_berlin_day_is_berlin_s(sample_dir: Path, tmp_path: Path) -> None:
    """Every zone Europe/Berlin: the day is Berlin's (it was New York's:
    at 03:00 Berlin no share of the day had passed, multiplier 4.6, 11,000
    orders to come of 1,000)."""
    net = _in_zone(sample_dir, tmp_path / "net", "Europe/Berlin")
    calendar = BusinessDay.of(net)
    assert calendar.start(DAY) == np.datetime64("2026-12-06T23:00:00")
    assert calendar.hours(DAY) == 24.0
    rows = _outlook(net, tmp_path, "Europe/Berlin", (3, 9, 15, 21))
    for multiplier, rest, came in rows:
        assert 0.8 < multiplier < 1.2
        assert rest == pytest.approx(came, rel=0.2)


def test_the_us_business_day_runs_from_new_york_to_honolulu(
    sample_network: Network,
) -> None:
    """00:00 New York to 24:00 Honolulu: 29 hours in winter, 30 in summer."""
    calendar = BusinessDay.of(sample_network)
    assert calendar.start(DAY) == np.datetime64("2026-12-07T05:00:00")
    assert calendar.end(DAY) == np.datetime64("2026-12-08T10:00:00")
    assert calendar.hours(dt.date(2026, 7, 6)) == 30.0
    assert calendar.longest(DAY) == 30


def test_without_history_each_zone_s_day_is_flat(
    sample_network: Network, tmp_path: Path
) -> None:
    """No history: the run rate over each zone's own local day. At 23:59 New
    York the West's evening is still to come (a flat 24 hours from New York's
    midnight said 1.3 more orders of 1,000 where some 55 came)."""
    day = _orders(sample_network, tmp_path, 1000, 1, DAY)
    forecast = DemandForecast.intraday(sample_network)
    at = dt.datetime.combine(DAY, dt.time(23, 59), ZoneInfo("America/New_York"))
    at64 = np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "s")
    offset = float((at64 - business_day_start(DAY, sample_network)).astype(np.int64))
    seen = int((day.created_at < at64).sum())
    came = day.n_orders - seen
    assert 30 < came < 90
    assert forecast.remaining(DAY, offset, seen) == pytest.approx(came, rel=0.5)
    assert forecast.share_before(DAY, 0.0) == 0.0
    assert forecast.share_before(DAY, 30 * 3600.0) == 1.0


SPRING, AUTUMN = dt.date(2026, 3, 29), dt.date(2026, 10, 25)  # Berlin's changes


def test_the_day_s_clock_is_its_first_zone_s_wall_clock(
    sample_dir: Path, tmp_path: Path
) -> None:
    """In Berlin the clocks go 02:00 -> 03:00 on 2026-03-29 (9 hours in,
    10:00 has struck) and 03:00 -> 02:00 on 2026-10-25 (02:30 strikes twice:
    its first pass is the one read back); other days the two agree."""
    calendar = BusinessDay.of(_in_zone(sample_dir, tmp_path / "net", "Europe/Berlin"))
    hour = 3600
    assert calendar.clock(SPRING, 1.5 * hour) == 1.5 * hour
    assert calendar.clock(SPRING, 9.0 * hour) == 10.0 * hour
    back = calendar.elapsed(SPRING, np.array([1, 2.5, 10, 24]) * hour)
    assert back.tolist() == [1 * hour, 2 * hour, 9 * hour, 23 * hour]
    assert calendar.clock(AUTUMN, 2.5 * hour) == 2.5 * hour
    assert calendar.clock(AUTUMN, 3.5 * hour) == 2.5 * hour
    assert calendar.clock(AUTUMN, 10.0 * hour) == 9.0 * hour
    back = calendar.elapsed(AUTUMN, np.array([2.5, 9, 24]) * hour)
    assert back.tolist() == [2.5 * hour, 10 * hour, 25 * hour]
    assert calendar.clock(DAY, 9.0 * hour) == 9.0 * hour
    assert calendar.elapsed(DAY, np.array([9 * hour])).tolist() == [9 * hour]
    dates = np.array([SPRING, AUTUMN, DAY], dtype="datetime64[D]")
    elapsed = np.array([9, 10, 9], dtype=np.int64) * hour
    assert calendar.clocks(dates, elapsed).tolist() == [10 * hour, 9 * hour, 9 * hour]


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_a_day_the_clocks_change_is_forecast_as_any_other(
    sample_dir: Path, tmp_path: Path, day: dt.date
) -> None:
    """Shoppers order by their wall clocks: the profile is read at the day's
    clock. Read at the hours elapsed, Berlin's spring day was forecast 25-60 %
    high from 09:00 on (an hour more of the profile had arrived than the
    hours said) and its autumn day 20-50 % low."""
    net = _in_zone(sample_dir, tmp_path / "net", "Europe/Berlin")
    rows = _outlook(net, tmp_path, "Europe/Berlin", (9, 15, 21), on=day, per_day=3000)
    for _, rest, came in rows:  # a Sunday of 3,000 orders after a week of 21,000
        assert rest == pytest.approx(came, rel=0.15)


def test_the_orders_to_come_are_drawn_at_their_wall_clock_time(
    sample_dir: Path, tmp_path: Path
) -> None:
    """The sample of the orders to come on Berlin's spring day holds the
    history's orders later on the clock than now (09:00), each released at
    its own wall-clock time (they came an hour late: the history's 08:xx
    orders at 09:xx)."""
    net = _in_zone(sample_dir, tmp_path / "net", "Europe/Berlin")
    week = _orders(net, tmp_path, 7000, 7, SPRING - dt.timedelta(days=7))
    day = _orders(net, tmp_path, 1000, 1, SPRING)
    forecast = DemandForecast.from_history(week, net)
    outlook = DemandOutlook(net, day, TierPolicy(), np.ones(day.n_orders), forecast)
    at = dt.datetime.combine(SPRING, dt.time(9), ZoneInfo("Europe/Berlin"))
    now = np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "s")
    seen = np.flatnonzero(day.created_at < now)
    moment = outlook.moment(now, seen)
    parts = outlook._to_come(
        np.random.default_rng(0),
        moment,
        np.empty(0, dtype=np.intp),  # none of today's orders stands in
        seen,
        np.full(net.n_nodes, 1e9),
        np.full((net.n_nodes, net.n_skus), 10**6, dtype=np.int64),
    )
    assert len(parts) == 1
    batch = parts[0]
    released = _berlin_clock(batch.options.release)
    placed = _berlin_clock(week.created_at[batch.options.orders])
    assert released.min() >= 9 * 3600
    assert (released == placed).all()


def test_the_service_s_mix_to_come_is_read_on_the_day_s_clock(
    sample_dir: Path, tmp_path: Path
) -> None:
    """The work per order still to come that a server's outlook puts on
    each node at 09:00 Berlin, no order of the day seen yet, is the
    history's orders after 09:00 on the clock on the spring day as on the
    Sunday before (it took the orders after 08:00 on the spring day)."""
    net = _in_zone(sample_dir, tmp_path / "net", "Europe/Berlin")
    week = _orders(net, tmp_path, 7000, 7, SPRING - dt.timedelta(days=14))
    forecaster = DayForecaster(net, DemandForecast.from_history(week, net))

    def per_order(day: dt.date) -> np.ndarray:
        at = dt.datetime.combine(day, dt.time(9), ZoneInfo("Europe/Berlin"))
        outlook = forecaster.estimate_from(TodayOrders(net), at)
        assert outlook.day == day and outlook.expected_orders > 0
        return np.asarray(outlook.work / outlook.expected_orders)

    normal = per_order(SPRING - dt.timedelta(days=7))
    assert normal.sum() > 0
    np.testing.assert_allclose(per_order(SPRING), normal, rtol=1e-12)


def _berlin_clock(instants: np.ndarray) -> np.ndarray:
    """Seconds since local midnight of each UTC instant, in Berlin."""
    zone = ZoneInfo("Europe/Berlin")
    out = []
    for t in instants.astype("datetime64[s]").astype(dt.datetime):
        local = t.replace(tzinfo=dt.UTC).astimezone(zone)
        out.append(local.hour * 3600 + local.minute * 60 + local.second)
    return np.array(out)
