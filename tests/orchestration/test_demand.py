"""The rest of the day as the bid-price LP sees it (``DemandOutlook``): the
history's orders of the hours to come, today's seen orders standing in for
some of them within their own destination zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.demand import (
    HISTORY_WEIGHT,
    SAMPLE_SIZE,
    DemandOutlook,
    Moment,
)

DAY = dt.date(2026, 1, 14)
#: 15:00 New York, 12:00 Los Angeles.
NOW = np.datetime64("2026-01-14T20:00:00", "s")
WEST = "America/Los_Angeles"  # the tiny network's zips 900 and 981


def _orders(net: Network, path: Path, n: int, days: int, start: dt.date) -> Orders:
    frame = generate_orders(net, n_orders=n, days=days, seed=days, start=start)
    return read_orders(write_orders(frame, path), net)


def _days(net: Network, tmp_path: Path) -> tuple[Orders, Orders]:
    """A week of history and the day after it."""
    week = _orders(net, tmp_path / "week.csv", 2800, 7, DAY - dt.timedelta(days=7))
    return week, _orders(net, tmp_path / "day.csv", 400, 1, DAY)


def _in_west(net: Network, orders: Orders) -> np.ndarray:
    zone = np.asarray(net.dest_timezones)[net.dest_tz[orders.dest]]
    return np.asarray(zone == WEST, dtype=bool)


def _outlook(net: Network, day: Orders, history: Orders) -> DemandOutlook:
    forecast = DemandForecast.from_history(history, net)
    return DemandOutlook(net, day, TierPolicy(), np.ones(day.n_orders), forecast)


def _room(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Capacity and stock no sampled order runs short of."""
    capacity = np.full(net.n_nodes, 1e9)
    return capacity, np.full((net.n_nodes, net.n_skus), 10**6, dtype=np.int64)


def test_the_orders_seen_do_not_stand_for_another_zone_s_rest_of_day(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A history whose orders all went West and a day whose orders so far all
    went East: the rest of the day is the West's, every row of the sample
    cheapest at WH-WEST (today's East orders, released now, were
    ``n / (n + 300)`` of the sample: the West's nodes priced as if its
    afternoon would not come)."""
    net = tiny_network
    week, day = _days(net, tmp_path)
    history = week.take(_in_west(net, week))
    today = day.take(~_in_west(net, day))
    seen = np.flatnonzero(today.created_at < NOW)
    assert seen.size > 100
    capacity, stock = _room(net)
    outlook = _outlook(net, today, history)
    sample = outlook.sample(NOW, seen, capacity=capacity, stock=stock)
    assert sample is not None
    assert sample.cost.shape[0] == 603  # the history's orders after now
    cheapest = np.asarray(net.node_ids)[np.argmin(sample.cost, axis=1)]
    assert set(cheapest) == {"WH-WEST"}


def test_today_s_orders_stand_in_within_their_zone_at_the_history_s_times(
    tmp_path: Path, tiny_network: Network
) -> None:
    """Of a zone's ``k`` draws from the history's orders after now,
    ``round(k * n / (n + 300 * p))`` are today's orders of that zone seen so
    far (``n`` of them, ``p`` the zone's share of the history), each at the
    time of the draw it replaces; the others are the history's own, later
    on the clock than now."""
    net = tiny_network
    week, day = _days(net, tmp_path)
    outlook = _outlook(net, day, week)
    seen = np.flatnonzero(day.created_at < NOW)
    at = outlook.moment(NOW, seen)
    assert at == Moment(DAY, 15 * 3600.0, seen.size)
    history, stand_ins = outlook._to_come(
        np.random.default_rng(0), at, seen, seen, *_room(net)
    )
    assert history.options.release.min() >= NOW
    assert stand_ins.options.release.min() >= NOW
    assert set(stand_ins.options.orders) <= set(seen)
    zone = net.dest_tz
    drawn = np.concatenate(
        [
            zone[week.dest[history.options.orders]],
            zone[day.dest[stand_ins.options.orders]],
        ]
    )
    assert drawn.size == SAMPLE_SIZE
    share = pd.Series(zone[week.dest]).value_counts(normalize=True)
    for z in np.unique(drawn):
        n = int((zone[day.dest[seen]] == z).sum())
        k = int((drawn == z).sum())
        expected = min(round(k * n / (n + HISTORY_WEIGHT * share[z])), n)
        assert int((zone[day.dest[stand_ins.options.orders]] == z).sum()) == expected


def test_an_unfillable_line_is_no_part_of_its_order_s_demand(
    tmp_path: Path, tiny_network: Network
) -> None:
    """With no node holding the SKU ``gone``, an order of it and other SKUs
    is forecast as the one shipment of its other lines, as the batches ship
    it (``fillable_lines``): some node can ship it, and its work is theirs;
    it was forecast whole, no node eligible, so its other lines took no
    node's room. An order of ``gone`` alone stays no node's."""
    net = tiny_network
    week, day = _days(net, tmp_path)
    outlook = _outlook(net, day, week)
    seen = np.flatnonzero(day.created_at < NOW)
    capacity, stock = _room(net)
    gone = int(np.bincount(week.line_sku).argmax())
    stock[:, gone] = 0
    history, _ = outlook._to_come(
        np.random.default_rng(0), outlook.moment(NOW, seen), seen, seen, capacity, stock
    )
    orders = history.options.orders
    counts = np.diff(week.line_start)[orders]
    owner = np.repeat(np.arange(orders.size), counts)
    lines = np.concatenate(
        [np.arange(week.line_start[o], week.line_start[o + 1]) for o in orders]
    )
    has_gone = np.bincount(
        owner, weights=week.line_sku[lines] == gone, minlength=orders.size
    )
    mixed = (has_gone > 0) & (has_gone < counts)
    alone = has_gone == counts
    assert mixed.sum() > 10 and alone.sum() > 10
    eligible = np.asarray(np.asarray(history.problem.eligible).any(axis=1))
    assert eligible[mixed].all()
    assert not eligible[alone].any()
    assert eligible[has_gone == 0].all()
    # the same draw with every line held: the mixed orders' work was more
    full, _ = outlook._to_come(
        np.random.default_rng(0), outlook.moment(NOW, seen), seen, seen, *_room(net)
    )
    assert np.array_equal(full.options.orders, orders)
    work, work_all = history.options.workload, full.options.workload
    assert (work[mixed] < work_all[mixed]).all()
    assert np.array_equal(work[~mixed], work_all[~mixed])
