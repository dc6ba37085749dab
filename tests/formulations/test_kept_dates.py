"""A tier configured with ``keeps_date`` has its date kept like a constraint
where it can: an option that delivers after the promise is never a strict
option, only the relaxed one a policy may use when no node with the stock and
room can be on time — even where the lateness penalty would have been cheaper
than the faster service. By default only Platinum's date is (guaranteed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tierflow.data.network import Network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.data.vocabulary import TIERS, Tier
from tierflow.formulations.order_pricing import OrderOptions, price_orders
from tierflow.formulations.tiers import TierPolicy

PRICED = TierPolicy()
KEPT = PRICED.with_changes(
    rules={t: dataclasses.replace(r, keeps_date=True) for t, r in PRICED.rules.items()}
)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory, sample_network: Network) -> Orders:
    frame = generate_orders(sample_network, n_orders=300, seed=3)
    path = tmp_path_factory.mktemp("kept") / "orders.csv"
    return read_orders(write_orders(frame, Path(path)), sample_network)


def _late_strict(options: OrderOptions) -> np.ndarray:
    return np.asarray(options.feasible & (options.delivery > options.promised[:, None]))


def test_only_the_guaranteed_tier_keeps_its_date_by_default() -> None:
    assert PRICED.date_kept(np.arange(len(TIERS))).tolist() == [
        t == Tier.PLATINUM for t in TIERS
    ]
    assert all(KEPT.date_kept(np.arange(len(TIERS))))


def test_no_strict_option_is_late_when_dates_are_kept(
    sample_network: Network, day: Orders
) -> None:
    idx = np.arange(day.n_orders)
    kept = price_orders(sample_network, day, idx, KEPT)
    priced = price_orders(sample_network, day, idx, PRICED)
    assert not _late_strict(kept).any()
    # the same day priced by lateness alone ships Gold late where that is
    # cheaper, so the rule above is what keeps the dates
    late = _late_strict(priced)
    assert late.any()
    gold = day.tier[np.nonzero(late)[0]] == TIERS.index(Tier.GOLD)
    assert gold.any()
    # the late options stay available as the relaxed fallback, no dearer
    # than lateness alone would have priced them
    relaxed = kept.relaxed_service >= 0
    assert relaxed[late].all()
    fallback = kept.relaxed_shipping + kept.relaxed_penalty
    assert (fallback[late] <= (priced.shipping + priced.penalty)[late] + 1e-9).all()


def test_an_allocated_day_keeps_gold_dates_only_when_configured(
    tmp_path: Path, sample_network: Network, day: Orders
) -> None:
    """The whole allocator on the day: with kept dates a late row is late
    only by the fallback (its reason says so, and the independent re-pricing
    agrees); priced by lateness alone, Gold ships late by choice."""
    from tierflow.orchestration.allocation.day_allocator import (
        AllocationSettings,
        DayAllocator,
    )
    from tierflow.orchestration.allocation.repricing import reprice_allocation

    settings = AllocationSettings(engine="greedy", batch_minutes=60)
    late_by_choice = {}
    for name, policy in (("kept", KEPT), ("priced", PRICED)):
        rows = (
            DayAllocator(sample_network, day, settings=settings, policy=policy)
            .run()
            .rows
        )
        shipped = rows[rows["status"] == "allocated"]
        late = shipped["delivery_date"].astype(str) > shipped["promised_date"].astype(
            str
        )
        chosen = late & ~shipped["reason"].astype(str).str.contains("late:")
        late_by_choice[name] = int(chosen.sum())
        audit = reprice_allocation(sample_network, day, rows, policy=policy)
        assert audit.problems == [] and audit.agrees, name
    assert late_by_choice["kept"] == 0
    assert late_by_choice["priced"] > 0
