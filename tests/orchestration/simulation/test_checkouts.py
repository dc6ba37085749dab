"""The simulated day's clockwork alone: forecast ticks and the outage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.simulation.checkouts import (
    ChoiceModel,
    ForecastTicks,
    Outage,
    run_checkouts,
)
from tierflow.orchestration.simulation.forecast import scaled_capacity
from tierflow.orchestration.simulation.settings import SimulationSettings, local_instant

DAY = dt.date(2026, 1, 19)
#: The tiny network's main zone (its destinations are mostly New York's).
NEW_YORK = "America/New_York"


class _Router:
    """Records the capacity events a router would apply."""

    def __init__(self, network: Network) -> None:
        self.monitor = CapacityMonitor(network)
        self.events: list[dict[str, Any]] = []

    def apply_capacity_events(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)

    def generate_fulfillment_options(self, *_args: Any, **_kw: Any) -> Any:
        """No option: every customer leaves (only the clockwork runs)."""
        customer = SimpleNamespace(segment="", predicted_spend=0.0)
        return SimpleNamespace(options=[], customer=customer, request_id="r")


def test_ticks_every_half_hour_up_to_now(tiny_network: Network) -> None:
    fake = _Router(tiny_network)
    first = local_instant(DAY, dt.time(9, 10), NEW_YORK)
    prior = np.array([100.0, 80.0, 10.0])
    demand = DemandForecast.intraday()
    ticks = ForecastTicks(
        tiny_network, cast(OnlineRouter, fake), prior, DAY, first, demand
    )
    ticks.catch_up(first - dt.timedelta(minutes=1), np.zeros(3))
    assert ticks.scores == [] and fake.events == []
    ticks.catch_up(local_instant(DAY, dt.time(10, 10), NEW_YORK), np.zeros(3))
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
    at = local_instant(DAY, dt.time(13), NEW_YORK)
    outage = Outage(tiny_network, at, np.array([1.0, 1.0, 8.0]))
    committed = np.array([5.0, 9.0, 1.0])
    outage.check(at - dt.timedelta(seconds=1), committed, router)
    assert outage.node is None and fake.events == []
    outage.check(at, committed, router)
    assert outage.node == "WH-WEST"
    assert outage.event is not None and outage.event.ts == at.timestamp()
    assert outage.event.node == tiny_network.node_idx("WH-WEST")
    outage.check(at + dt.timedelta(hours=1), np.array([9.0, 0.0, 0.0]), router)
    assert [e["node_id"] for e in fake.events] == ["WH-WEST"]
    never = Outage(tiny_network, None, np.ones(3))
    never.check(at, committed, router)
    assert never.node is None and never.event is None


def test_an_outage_before_any_work_takes_the_busiest_expected_node(
    tiny_network: Network,
) -> None:
    """Before the first confirmation every node's work was 0 and the
    network's first node went down, whatever the day expected of it."""
    fake = _Router(tiny_network)
    at = local_instant(DAY, dt.time(1, 30), NEW_YORK)
    outage = Outage(tiny_network, at, np.array([1.0, 2.0, 8.0]))
    outage.check(at, np.zeros(3), cast(OnlineRouter, fake))
    assert outage.node == tiny_network.node_ids[2]


def test_the_monitor_prior_is_the_history_not_the_day_total(
    tmp_path: Path, tiny_network: Network
) -> None:
    """The day's capacities were scaled from its own carts' workload (until
    2026-12-04; now from the history), so capacity x utilization was the
    day's realized total: the monitor's prior came from it and knew, at the
    first tick, how busy the day would be. Whatever the capacities, the
    prior is the history's: two days alike at 09:00 and one twice as heavy
    later must show the monitor the same forecast then, the history's mean
    day."""
    past = generate_orders(
        tiny_network, n_orders=14 * 50, days=14, seed=3, start=DAY - dt.timedelta(14)
    )
    history = read_orders(write_orders(past, tmp_path / "h.csv"), tiny_network)
    demand = DemandForecast.from_history(history, tiny_network)
    settings = SimulationSettings(day=DAY, checkouts=2, outage_at=None)

    def cart(oid: str, at: dt.time, qty: int) -> dict[str, Any]:
        return {
            "order_id": oid,
            "created_at": pd.Timestamp(local_instant(DAY, at, NEW_YORK)),
            "customer_id": "C1",
            "dest": "100",
            "sku": "TEE",
            "quantity": qty,
        }

    def first_forecast(carts: pd.DataFrame, workload: float) -> list[float]:
        fake = _Router(tiny_network)
        capacity = scaled_capacity(tiny_network, workload, settings.utilization)
        run_checkouts(
            tiny_network, cast(OnlineRouter, fake), carts, capacity, settings, demand
        )
        return [
            e["value"] for e in fake.events if e["event_id"].startswith("sim-fc-0-")
        ]

    light = pd.DataFrame([cart("A", dt.time(9), 1), cart("B", dt.time(20), 1)])
    heavy = pd.DataFrame([cart("A", dt.time(9), 1), cart("B", dt.time(20), 9)])
    seen = first_forecast(light, 2.0)
    assert seen == first_forecast(heavy, 10.0)
    per_day = float(history.workload(tiny_network).sum()) / 14
    assert sum(seen) > 0.5 * per_day  # the morning expects most of a day


def test_the_choice_model_draws_a_stream_apart_from_the_carts() -> None:
    """Seeded with the day's seed alone it drew the cart generator's numbers
    in the same order (the k-th shopper's leave-or-stay was the k-th
    customer's home draw): same seed, now unrelated draws."""
    settings = SimulationSettings(day=DAY, checkouts=2, outage_at=None)
    for seed in (0, 7):
        choices = ChoiceModel(settings, seed).rng.random(2_000)
        carts = np.random.default_rng(seed).random(2_000)
        assert abs(np.corrcoef(choices, carts)[0, 1]) < 0.1
        again = ChoiceModel(settings, seed).rng.random(2_000)
        assert np.array_equal(choices, again)  # still a pure function of the seed


def test_new_york_times_follow_daylight_saving_time() -> None:
    """The outage's ``13:00`` is New York's on every day of a US network: a
    fixed UTC-5 put it at 14:00 EDT from March to November."""
    assert local_instant(dt.date(2026, 1, 19), dt.time(13), NEW_YORK) == dt.datetime(
        2026, 1, 19, 18, tzinfo=dt.UTC
    )
    assert local_instant(dt.date(2026, 3, 10), dt.time(13), NEW_YORK) == dt.datetime(
        2026, 3, 10, 17, tzinfo=dt.UTC
    )
    assert local_instant(dt.date(2026, 11, 2), dt.time(13), NEW_YORK) == dt.datetime(
        2026, 11, 2, 18, tzinfo=dt.UTC
    )


def test_an_outage_after_the_last_cart_still_happens(tiny_network: Network) -> None:
    """``--outage 23:00`` on a day whose last cart came at 20:00: the outage
    fired only when a cart came at or after it, so it never happened (the
    summary said "outage at none") and the allocation run got no event to
    reroute what was not yet released."""
    fake = _Router(tiny_network)
    settings = SimulationSettings(day=DAY, checkouts=2, outage_at=dt.time(23))
    carts = pd.DataFrame(
        [
            {
                "order_id": oid,
                "created_at": pd.Timestamp(local_instant(DAY, at, NEW_YORK)),
                "customer_id": "C1",
                "dest": "100",
                "sku": "TEE",
                "quantity": 1,
            }
            for oid, at in (("A", dt.time(9)), ("B", dt.time(20)))
        ]
    )
    capacity = scaled_capacity(tiny_network, 2.0, settings.utilization)
    demand = DemandForecast.intraday()
    _, scores, node, event = run_checkouts(
        tiny_network, cast(OnlineRouter, fake), carts, capacity, settings, demand
    )
    at = local_instant(DAY, dt.time(23), NEW_YORK)
    assert node is not None
    assert event is not None and event.ts == at.timestamp()
    assert [e["node_id"] for e in fake.events if e["type"] == "outage"] == [node]
    # the half-hourly scores run up to the outage, as before one mid-day
    assert pd.Timestamp(scores["at"].iloc[-1]).to_pydatetime() <= at
    assert pd.Timestamp(scores["at"].iloc[-1]).to_pydatetime() > at - dt.timedelta(
        minutes=30
    )
