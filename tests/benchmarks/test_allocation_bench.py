"""The one-day allocation benchmark's gap to the hindsight bound is measured
only to a bound that says something of a cost, as every other gap is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.benchmarks.allocation_bench import _row, generate_offered
from tierflow.data.network import Network
from tierflow.data.orders import read_orders, write_orders
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationSettings,
    DayAllocator,
)


def test_a_bound_of_0_or_below_gives_no_gap(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A hindsight LP cut short proves what its last duals prove, which may
    be 0 or below (the Lagrangian bound has no sign). ``None if not bound``
    left a bound below 0 a gap: -0.5 read a policy as tens of thousands of %
    *below* it. No gap is measured to such a bound now (as ``simulate``
    and ``--days`` measure none), and a bound above 0 keeps its gap."""
    orders = generate_offered(tiny_network, n_orders=20, days=1, seed=1)
    day = read_orders(write_orders(orders, tmp_path / "orders.csv"), tiny_network)
    settings = AllocationSettings(engine=NEAREST, use_bid_prices=False, seed=1)
    outcome = DayAllocator(tiny_network, day, settings=settings).run()
    cost = outcome.summary()["total_cost"]
    assert cost > 0
    for bound in (None, 0.0, -0.5, -1e-6):
        assert _row("nearest", outcome, bound, 0, set()).gap_pct is None, bound
    half = _row("nearest", outcome, cost / 2, 0, set())
    assert half.gap_pct == pytest.approx(100.0)
    assert half.total_cost == cost
