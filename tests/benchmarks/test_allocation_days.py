"""The many-day allocation benchmark's days are independent draws."""

from __future__ import annotations

from pathlib import Path

from tierflow.benchmarks.allocation_days import DaySpec, make_day
from tierflow.data.network import Network


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
