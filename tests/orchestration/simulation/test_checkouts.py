"""The simulated day's clockwork alone: forecast ticks and the outage."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import numpy as np

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.simulation.checkouts import ForecastTicks, Outage
from tierflow.orchestration.simulation.settings import new_york

DAY = dt.date(2026, 1, 19)


class _Router:
    """Records the capacity events a router would apply."""

    def __init__(self, network: Network) -> None:
        self.monitor = CapacityMonitor(network)
        self.events: list[dict[str, Any]] = []

    def apply_capacity_events(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)


def test_ticks_every_half_hour_up_to_now(tiny_network: Network) -> None:
    fake = _Router(tiny_network)
    first = new_york(DAY, dt.time(9, 10))
    prior = np.array([100.0, 80.0, 10.0])
    demand = DemandForecast.intraday()
    ticks = ForecastTicks(
        tiny_network, cast(OnlineRouter, fake), prior, DAY, first, demand
    )
    ticks.catch_up(first - dt.timedelta(minutes=1), np.zeros(3))
    assert ticks.scores == [] and fake.events == []
    ticks.catch_up(new_york(DAY, dt.time(10, 10)), np.zeros(3))
    assert [s["at"] for s in ticks.scores] == [
        first.isoformat(),
        (first + dt.timedelta(minutes=30)).isoformat(),
        (first + dt.timedelta(minutes=60)).isoformat(),
    ]
    assert [e["event_id"] for e in fake.events[:3]] == [
        "sim-fc-0-0",
        "sim-fc-0-1",
        "sim-fc-0-2",
    ]
    assert {e["type"] for e in fake.events} == {"forecast"}
    assert ticks.next_tick == first + dt.timedelta(minutes=90)


def test_the_busiest_node_goes_down_once(tiny_network: Network) -> None:
    fake = _Router(tiny_network)
    router = cast(OnlineRouter, fake)
    at = new_york(DAY, dt.time(13))
    outage = Outage(tiny_network, at)
    committed = np.array([5.0, 9.0, 1.0])
    outage.check(at - dt.timedelta(seconds=1), committed, router)
    assert outage.node is None and fake.events == []
    outage.check(at, committed, router)
    assert outage.node == "WH-WEST"
    assert outage.event is not None and outage.event.ts == at.timestamp()
    assert outage.event.node == tiny_network.node_idx("WH-WEST")
    outage.check(at + dt.timedelta(hours=1), np.array([9.0, 0.0, 0.0]), router)
    assert [e["node_id"] for e in fake.events] == ["WH-WEST"]
    never = Outage(tiny_network, None)
    never.check(at, committed, router)
    assert never.node is None and never.event is None
