"""The many-day allocation benchmark's days are independent draws, and the
allocation benchmarks' days hold only the Platinum orders checkout could
have offered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.promises import platinum_promise_achievable
from tierflow.benchmarks import allocation_bench as one_day_bench
from tierflow.benchmarks.allocation_bench import UTILIZATION
from tierflow.benchmarks.allocation_days import (
    HISTORY_DAYS,
    DaySpec,
    day_capacity,
    make_day,
)
from tierflow.capacity.demand_forecast import DemandForecast, business_day_start
from tierflow.data.network import Network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import write_orders
from tierflow.orchestration.simulation.forecast import (
    history_day_workload,
    staffed_capacity,
)


def test_no_two_days_share_a_random_stream(
    tmp_path: Path, tiny_network: Network
) -> None:
    """Day i's orders were generated with the seed of day i + 1's history:
    the same shoppers in the same order, so the days were not independent
    (on the sample network every one of day 0's customers was in day 1's
    history, against 42 % in its own)."""
    days = [
        make_day(tiny_network, DaySpec.draw(i, 1), 40, tmp_path / f"day{i}")
        for i in range(3)
    ]
    for i, day in enumerate(days):
        for j, other in enumerate(days):
            if i != j:
                shared = set(day.orders.customer_ids) & set(other.history.customer_ids)
                assert not shared, (i, j)
    seeds = [
        s
        for i in range(200)
        for spec in [DaySpec.draw(i, 1)]
        for s in (spec.seed, spec.history_seed, spec.orders_seed)
    ]
    assert len(seeds) == len(set(seeds))


def _drawn_platinum_made_gold(network: Network, drawn: Path, written: Path) -> int:
    """How many orders drawn Platinum in ``drawn`` checkout could not have
    offered Platinum; each is Gold in ``written`` and nothing else differs."""
    before = pd.read_csv(drawn, dtype=str, keep_default_na=False)
    after = pd.read_csv(written, dtype=str, keep_default_na=False)
    offerable = platinum_promise_achievable(network, drawn)
    refused = {o for o, ok in offerable.items() if not ok}
    made_gold = before["order_id"].isin(refused)
    expected = before.assign(tier=before["tier"].where(~made_gold, "gold"))
    pd.testing.assert_frame_equal(after, expected)
    assert all(platinum_promise_achievable(network, written).values())
    return len(refused)


def test_the_days_platinum_orders_are_ones_checkout_could_offer(
    tmp_path: Path, sample_network: Network
) -> None:
    """The benchmarks' days drew raw Platinum shares (``generate_orders``),
    while ``tierflow generate orders`` and simulate's history make Gold of a
    Platinum order checkout could not have offered when it was placed (an
    evening past the cutoffs, a Sunday): the many-day benchmark's history
    and day, and the one-day benchmark's day, now follow the same rule."""
    spec = DaySpec.draw(0, 1)
    day = make_day(sample_network, spec, 150, tmp_path / "day")
    history = generate_orders(
        sample_network,
        n_orders=150 * HISTORY_DAYS,
        days=HISTORY_DAYS,
        seed=spec.history_seed,
        start=spec.date - dt.timedelta(days=HISTORY_DAYS),
    )
    today = generate_orders(
        sample_network,
        n_orders=max(round(150 * spec.volume_factor), 1),
        days=1,
        seed=spec.orders_seed,
        start=spec.date,
        spike=spec.spike,
    )
    made_gold = [
        _drawn_platinum_made_gold(
            sample_network,
            write_orders(frame, tmp_path / f"drawn-{name}"),
            tmp_path / "day" / name,
        )
        for name, frame in (("history.csv", history), ("orders.csv", today))
    ]
    assert made_gold[0] > 0 and made_gold[1] > 0
    assert day.orders.n_orders == today["order_id"].nunique()
    one_day = tmp_path / "one-day"
    one_day.mkdir()
    one_day_bench.make_day(sample_network, 300, 4, "tight", one_day)
    drawn = generate_orders(
        sample_network,
        n_orders=300,
        days=1,
        seed=4,
        spike=Spike.parse(one_day_bench.TIGHT_SPIKE),
    )
    assert (
        _drawn_platinum_made_gold(
            sample_network,
            write_orders(drawn, tmp_path / "drawn.csv"),
            one_day / "orders.csv",
        )
        > 0
    )


def test_a_day_above_its_history_runs_above_the_plan_staffed_from_it(
    tmp_path: Path, tiny_network: Network
) -> None:
    """Every day's capacities were scaled from its own workload: a day drawn
    at 1.35x its history's mean ran at exactly 70 % / 95 % like any other,
    its total known to every batch before the day's end. Staffed from the
    history (``history``, the default: ``simulate``'s
    :func:`staffed_capacity`), it runs above the plan; ``day`` keeps the old
    protocol for comparison."""
    spec = DaySpec.draw(4, 1)
    assert round(spec.volume_factor, 2) == 1.35
    data = make_day(tiny_network, spec, 60, tmp_path / "day")
    load = float(data.orders.workload(tiny_network).sum())
    demand = DemandForecast.from_history(
        data.history,
        tiny_network,
        before=business_day_start(spec.date, tiny_network),
    )
    per_day = history_day_workload(tiny_network, demand)
    assert per_day is not None
    for utilization, share in UTILIZATION.items():
        own = day_capacity(tiny_network, data, utilization, "day")
        assert load / own.sum() == pytest.approx(share, rel=1e-12)
        staffed = day_capacity(tiny_network, data, utilization, "history")
        np.testing.assert_array_equal(
            staffed, staffed_capacity(tiny_network, demand, share)
        )
        assert load / staffed.sum() == pytest.approx(share * load / per_day)
        assert load / staffed.sum() > 1.2 * share
