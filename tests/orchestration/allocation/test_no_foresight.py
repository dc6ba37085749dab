"""No allocation decision reads the future of the day being allocated: a
batch's rows stay the same when every order after it is changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.events import CapacityEvent
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
    settings = AllocationSettings(
        engine="greedy", batch_minutes=60, bid_refresh=bid_refresh
    )
    _same_decisions_before_the_cut(tmp_path, tiny_network, with_history, settings)


@pytest.mark.slow
def test_cpsat_decisions_do_not_change_when_later_orders_do(
    tmp_path: Path, tiny_network: Network
) -> None:
    """The same with CP-SAT's batches, on deterministic time (10 s)."""
    settings = AllocationSettings(
        engine="cpsat", batch_minutes=60, time_limit_s=1.0, deterministic=True
    )
    _same_decisions_before_the_cut(tmp_path, tiny_network, True, settings)


def _same_decisions_before_the_cut(
    tmp_path: Path, net: Network, with_history: bool, settings: AllocationSettings
) -> None:
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


def test_a_batch_is_decided_when_its_window_ends_not_at_its_last_order(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A (17:50 New York, Gold, next to WH-EAST whose cutoff is 18:00) opens a
    15-minute window. Whether another order comes by 18:05 is known only
    then, so A's batch cannot be decided earlier: A misses the cutoff
    whether or not B (18:03) comes. Decided at its last order's time, A
    alone made the cutoff and A with B did not: A's shipment depended on an
    order placed after it was decided."""
    a = "A,2026-01-05T17:50:00-05:00,C1,100,gold,TEE,1"
    b = "B,2026-01-05T18:03:00-05:00,C2,900,gold,TEE,1"
    header = "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
    settings = AllocationSettings(engine="greedy", use_bid_prices=False)

    def run(rows: list[str], name: str) -> pd.Series:
        path = tmp_path / name
        path.write_text(header + "\n".join(rows) + "\n")
        orders = read_orders(path, tiny_network)
        out = DayAllocator(tiny_network, orders, settings=settings).run().rows
        return out.set_index("order_id").loc["A"]

    alone, with_b = run([a], "a.csv"), run([a, b], "ab.csv")
    for field in ("node_id", "service", "ship_date", "released_at", "cost"):
        assert alone[field] == with_b[field], field
    assert str(alone["released_at"]).startswith("2026-01-05T23:05")


def test_decisions_before_a_capacity_event_do_not_know_of_it(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A node that goes down at 15:10 New York time changes no line
    released to its node before then (``release_minutes`` after its
    batch's close, ``released_at``): the allocator applies an event at the
    first batch that closes after it, never sooner. A line of 14:23 is not
    released by 15:10 and may move (until 2026-12-06 only whole orders
    did, and this test kept the day's five split lines of 14:23 at the
    node that failed)."""
    net = tiny_network
    day = generate_orders(
        net, n_orders=240, days=1, seed=3, start=DAY, spike=Spike.parse("18:00,3")
    )
    orders = _read(day, tmp_path / "a.csv", net)
    past = generate_orders(
        net, n_orders=1400, days=7, seed=4, start=DAY - dt.timedelta(days=7)
    )
    forecast = DemandForecast.from_history(_read(past, tmp_path / "h.csv", net), net)
    capacity = net.capacity * 0.2
    at = (CUT - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s")
    event = CapacityEvent("e1", float(at) + 600.0, 0, "outage", 1.0)
    before = pd.Timestamp(event.ts, unit="s", tz="UTC")

    def run(events: list[CapacityEvent]) -> pd.DataFrame:
        settings = AllocationSettings(engine="greedy", batch_minutes=60)
        return (
            DayAllocator(
                net,
                orders,
                settings=settings,
                capacity=capacity,
                events=events,
                forecast=forecast,
            )
            .run()
            .rows
        )

    def released(rows: pd.DataFrame) -> pd.DataFrame:
        when = pd.to_datetime(rows["released_at"], utc=True, errors="coerce")
        floor = when + pd.Timedelta(minutes=AllocationSettings().release_minutes)
        keep = rows[(rows["status"] == "allocated") & (floor <= before)]
        return keep.sort_values(["order_id", "sku"]).reset_index(drop=True)

    without, with_event = run([]), run([event])
    assert len(released(without)) > 15
    pd.testing.assert_frame_equal(released(without), released(with_event))
    # the event did change the day after it
    assert not without.equals(with_event)
