"""Each order's CLTV for the allocation: scores from a file or the store, and
a customer without a score counted as checkout counts a new shopper."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierflow.data.store import SqliteStore
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.outputs import load_predicted_spend

from .conftest import MakeOrders

_ROWS = [
    "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",
    "B,2026-01-05T10:05:00-05:00,NEW7,100,gold,TEE,1",
]


def _scores(store: SqliteStore, prior: float | None) -> None:
    store.put_cltv_scores(
        pd.DataFrame(
            {"customer_id": ["C1", "C2", "C3"], "predicted_spend": [80.0, 4.0, 0.0],
             "p_active": 0.5, "segment": "silver"}
        ),
        as_of=dt.date(2026, 1, 4), model_version="m", new_customer_spend=prior,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("prior", "counted", "why"),
    [
        (12.5, 12.5, "the CLTV model's forecast of a customer acquired on 2026-01-04"),
        (None, 4.0, "50% percentile of the latest scores"),  # scores without one
    ],
)
def test_an_unscored_customer_counts_the_stores_new_customer_prior(
    tmp_path: Path,
    make_orders: MakeOrders,
    prior: float | None,
    counted: float,
    why: str,
) -> None:
    """The checkout gave a shopper without a score the new-customer prior;
    the allocation of the same order counted it 0 (below every scored
    customer)."""
    orders = make_orders(_ROWS)
    with SqliteStore(tmp_path / "state.db") as store:
        _scores(store, prior)
        spend, note = load_predicted_spend(orders, None, store, TierPolicy())
    np.testing.assert_array_equal(spend, [80.0, counted])
    assert note == (
        "1 of 2 orders have no CLTV score (counted as the new-customer prior "
        f"({why}): {counted:g})"
    )


def test_a_scores_file_has_no_prior_and_counts_an_unscored_customer_0(
    tmp_path: Path, make_orders: MakeOrders
) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("customer_id,predicted_spend\nC1,80\n")
    spend, note = load_predicted_spend(make_orders(_ROWS), path, None, TierPolicy())
    np.testing.assert_array_equal(spend, [80.0, 0.0])
    assert note == "1 of 2 orders have no CLTV score (counted 0)"
