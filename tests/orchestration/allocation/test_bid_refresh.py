"""Bid prices are re-planned as soon as the forecast of the day moves, not
only on schedule: an unannounced spike re-prices the nodes within the hour."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)

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
