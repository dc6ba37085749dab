"""Bid prices are re-planned as soon as the forecast of the day moves, not
only on schedule: an unannounced spike re-prices the nodes within the hour."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.orchestration.allocation.batch_bid_prices import remaining_cv
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
    MemorySink,
)
from tierflow.orchestration.demand import Moment

DAY = dt.date(2026, 1, 14)
#: Every 16 batches of 15 minutes: four hours between scheduled refreshes.
SCHEDULE = 16
#: The spike's start (13:00 in the generator's reference zone, New York).
SPIKE_UTC = np.datetime64("2026-01-14T18:00")


def _refreshes(tmp_path: Path, net: Network, shift: float) -> list[np.datetime64]:
    """When a day with a 3x spike from 13:00 (unknown to its history)
    re-planned its bid prices."""
    past = generate_orders(
        net, n_orders=2800, days=7, seed=4, start=DAY - dt.timedelta(days=7)
    )
    day = generate_orders(
        net, n_orders=400, days=1, seed=3, start=DAY, spike=Spike.parse("13:00,3")
    )
    history = read_orders(write_orders(past, tmp_path / "h.csv"), net)
    orders = read_orders(write_orders(day, tmp_path / "d.csv"), net)
    settings = AllocationSettings(
        engine="greedy", bid_refresh=SCHEDULE, bid_shift=shift
    )
    allocator = DayAllocator(
        net,
        orders,
        settings=settings,
        capacity=net.capacity * 0.1,
        forecast=DemandForecast.from_history(history, net),
    )
    allocator.run()
    return allocator.bids.refreshed_at


def test_a_spike_re_prices_the_nodes_before_the_next_scheduled_refresh(
    tmp_path: Path, tiny_network: Network
) -> None:
    on_schedule = _refreshes(tmp_path, tiny_network, float("inf"))
    early = _refreshes(tmp_path, tiny_network, 0.10)
    assert set(on_schedule) <= set(early)
    extra = sorted(set(early) - set(on_schedule))
    assert extra, "the spike moved the forecast but no refresh followed"
    # 13:00 New York is 18:00 UTC: noticed within the spike's hour, hours
    # before the next scheduled refresh
    noticed = [t for t in extra if SPIKE_UTC <= t < SPIKE_UTC + np.timedelta64(1, "h")]
    assert noticed
    assert not [
        t for t in on_schedule if SPIKE_UTC <= t < SPIKE_UTC + np.timedelta64(1, "h")
    ]


class _Crash(Exception):
    """A process killed after a committed batch."""


def test_a_resumed_run_prices_as_an_uninterrupted_one(
    tmp_path: Path, tiny_network: Network
) -> None:
    """Killed after batch 6 (bid prices refreshed at 4 and due at 8), then
    resumed: the same allocations, batch by batch. A resumed run refreshed
    its prices at its first batch, with a sample of its own random numbers:
    the prices, and from there the allocations, differed."""
    net = tiny_network
    past = generate_orders(
        net, n_orders=2800, days=7, seed=4, start=DAY - dt.timedelta(days=7)
    )
    day = generate_orders(net, n_orders=400, days=1, seed=3, start=DAY)
    history = read_orders(write_orders(past, tmp_path / "h.csv"), net)
    orders = read_orders(write_orders(day, tmp_path / "d.csv"), net)
    forecast = DemandForecast.from_history(history, net)
    settings = AllocationSettings(engine="greedy", bid_refresh=4)

    def allocator(sink: MemorySink, on_batch: Any = None) -> DayAllocator:
        return DayAllocator(
            net, orders, settings=settings, capacity=net.capacity * 0.1,
            forecast=forecast, sink=sink, on_batch=on_batch,
        )  # fmt: skip

    whole = MemorySink()
    allocator(whole).run()

    def crash(done: int, _: int) -> None:
        if done == 7:  # batches 0..6 committed
            raise _Crash

    resumed = MemorySink()
    with pytest.raises(_Crash):
        allocator(resumed, crash).run()
    again = allocator(resumed)
    again.run()
    assert [s.batch for s in resumed.stats] == [s.batch for s in whole.stats]
    assert max(s.bid_price_max for s in whole.stats) > 0  # prices at work
    assert [s.bid_prices for s in resumed.stats] == [s.bid_prices for s in whole.stats]
    key = ["order_id", "sku"]
    a = whole.committed_rows().sort_values(key).reset_index(drop=True)
    b = resumed.committed_rows().sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_the_scenarios_day_factor_narrows_as_the_day_comes_in() -> None:
    """The bid prices' demand scenarios draw the day's volume with the
    Gamma–Poisson posterior's spread: the prior's (0.25) before any order,
    ``1 / sqrt(16 + n)`` once ``n`` orders have come (0.02 by 2,484)."""
    day = dt.date(2026, 3, 14)
    assert remaining_cv(0.25, Moment(day, 0.0, 0)) == 0.25
    assert remaining_cv(0.25, Moment(day, 3600.0, 84)) == pytest.approx(0.1)
    assert remaining_cv(0.25, Moment(day, 72000.0, 2484)) == pytest.approx(0.02)
