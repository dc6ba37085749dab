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

DAY = dt.date(2026, 12, 7)  # a Monday


def _in_zone(sample_dir: Path, folder: Path, zone: str) -> Network:
    """The sample network with every node and destination in ``zone``."""
    return load_network(network_in_zone(sample_dir, folder, zone))


def _orders(net: Network, folder: Path, n: int, days: int, start: dt.date) -> Orders:
    frame = generate_orders(net, n_orders=n, days=days, seed=days, start=start)
    return read_orders(write_orders(frame, folder / f"o{days}.csv"), net)


def _outlook(
    net: Network, folder: Path, zone: str, hours: tuple[int, ...]
) -> list[tuple[float, float, int]]:
    """(multiplier, forecast still to come, actually still to come) at each
    local hour of ``zone`` on DAY."""
    history = _orders(net, folder, 7000, 7, DAY - dt.timedelta(days=7))
    day = _orders(net, folder, 1000, 1, DAY)
    forecast = DemandForecast.from_history(history, net)
    start = business_day_start(DAY, net)
    out = []
    for h in hours:
        at = dt.datetime.combine(DAY, dt.time(h), ZoneInfo(zone))
        at64 = np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "s")
        offset = float((at64 - start).astype(np.int64))
        seen = int((day.created_at < at64).sum())
        multiplier = forecast.multiplier(DAY, offset, seen)
        assert multiplier is not None
        rest = forecast.remaining(DAY, offset, seen)
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
