"""No allocation decision reads the future of the day being allocated: a
batch's rows stay the same when every order after it is changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)

DAY = dt.date(2026, 1, 14)
#: Decisions up to this UTC instant are compared (mid-afternoon in New York).
CUT = np.datetime64("2026-01-14T20:00:00")


def _read(frame: pd.DataFrame, path: Path, net: Network) -> Orders:
    return read_orders(write_orders(frame, path), net)


def _altered_future(frame: pd.DataFrame) -> pd.DataFrame:
    """The same day with every order after ``CUT`` different: half of them
    gone, the rest to another destination in ten times the quantity."""
    late = pd.to_datetime(frame["created_at"], utc=True) > pd.Timestamp(CUT, tz="UTC")
    ids = frame.loc[late, "order_id"].unique()
    changed = frame[~frame["order_id"].isin(ids[::2])].copy()
    moved = changed["order_id"].isin(ids[1::2])
    dests = sorted(frame["dest"].unique())
    changed.loc[moved, "dest"] = dests[0]
    changed.loc[moved, "quantity"] = changed.loc[moved, "quantity"] * 10
    return changed


@pytest.mark.parametrize("bid_refresh", [1, 4])
@pytest.mark.parametrize("with_history", [True, False])
def test_decisions_do_not_change_when_later_orders_do(
    tmp_path: Path, tiny_network: Network, with_history: bool, bid_refresh: int
) -> None:
    """Refreshed every batch, or on schedule and when the forecast moves."""
    net = tiny_network
    day = generate_orders(
        net, n_orders=240, days=1, seed=3, start=DAY, spike=Spike.parse("18:00,3")
    )
    forecast = None
    if with_history:
        past = generate_orders(
            net, n_orders=1400, days=7, seed=4, start=DAY - dt.timedelta(days=7)
        )
        forecast = DemandForecast.from_history(
            _read(past, tmp_path / "h.csv", net), net
        )
    settings = AllocationSettings(
        engine="greedy", batch_minutes=60, bid_refresh=bid_refresh
    )
    capacity = net.capacity * 0.06  # tight: bid prices and deferrals matter

    def run(frame: pd.DataFrame, name: str) -> pd.DataFrame:
        orders = _read(frame, tmp_path / name, net)
        out = DayAllocator(
            net, orders, settings=settings, capacity=capacity, forecast=forecast
        ).run()
        return out.rows

    before = run(day, "a.csv")
    after = run(_altered_future(day), "b.csv")
    created = pd.to_datetime(day.groupby("order_id")["created_at"].first(), utc=True)
    early = set(
        created.index[created <= pd.Timestamp(CUT, tz="UTC") - pd.Timedelta("1h")]
    )
    assert len(early) > 60

    def decided(rows: pd.DataFrame) -> pd.DataFrame:
        keep = rows[rows["order_id"].isin(early)]
        cols = ["order_id", "sku", "node_id", "service", "status", "cost", "batch"]
        return keep[cols].sort_values(["order_id", "sku"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(decided(before), decided(after))
    assert (before["status"] == "deferred").any() or before["node_id"].nunique() > 1
