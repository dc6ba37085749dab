"""Samples of customers drawn by their contents, not by their ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tierflow.cltv.model as model_module
from tierflow.cltv.config import calibration_windows
from tierflow.cltv.features import CustomerData, customer_history, fit_btyd
from tierflow.cltv.model import CLTVConfig, CLTVModel
from tierflow.cltv.sampling import content_sample, row_keys
from tierflow.data.customer_tables import CustomerProfiles
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number


def test_a_sample_is_the_same_rows_whatever_their_order_and_unit() -> None:
    rng = np.random.default_rng(0)
    spend = np.round(rng.gamma(1.5, 20.0, size=1000), 2)
    count = rng.integers(0, 6, size=1000).astype(float)
    rows = content_sample((spend, count), 100)
    assert len(rows) == 100 and (np.diff(rows) > 0).all()
    order = rng.permutation(1000)
    again = content_sample((spend[order], count[order]), 100)
    assert sorted(zip(spend[order][again], count[order][again], strict=True)) == (
        sorted(zip(spend[rows], count[rows], strict=True))
    )
    cents = content_sample((np.round(spend * 100.0), count), 100)
    np.testing.assert_array_equal(cents, rows)
    # no more rows than asked for: all of them, in order
    np.testing.assert_array_equal(content_sample((spend[:50],), 100), np.arange(50))


def test_row_keys_tell_rows_apart_by_content_alone() -> None:
    a = np.array([1.0, 2.0, 2.0, np.nan, -0.0])
    b = np.array([5.0, 7.0, 7.0, 1.0, 3.0])
    keys = row_keys([a, b])
    assert keys[1] == keys[2] and len(set(keys.tolist())) == 4
    np.testing.assert_array_equal(
        row_keys([a[::-1] * 100.0, b[::-1]]), keys[::-1]
    )  # order and unit


def test_the_btyd_fit_on_a_sample_of_customers_is_not_chosen_by_their_ids() -> None:
    """Above its sample size the BTYD fit took a fixed-seed sample of the
    customers by position, i.e. by id: renamed customers fitted otherwise."""
    frame = generate_transactions(900, seed=5)
    as_of = day_number("2023-06-30")

    def fit(ids: object) -> tuple[float, ...]:
        log = TransactionLog.from_columns(ids, frame["order_date"], frame["amount"])
        btyd = fit_btyd(customer_history(log, as_of), max_customers=300)
        return (*btyd.bgnbd.params().values(), *btyd.gamma_gamma.params().values())

    renamed = "Z" + frame["customer_id"].str[::-1]
    np.testing.assert_allclose(fit(renamed), fit(frame["customer_id"]), rtol=1e-12)


def test_the_calibration_sample_is_not_chosen_by_the_customers_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above its sample size a calibration window took its customers by a key
    of their history and spend alone: the many customers alike in those (one
    order, nothing since) but not in what they bought were drawn in id order,
    so renamed customers got another shape: hurdle 0.9 against 0.85 and
    every forecast 86 % off here (150 customers a window; QA, 2026-12-07)."""
    monkeypatch.setattr(model_module, "MAX_SHAPE_ROWS", 150)
    frame = generate_transactions(800, seed=4)
    as_of = day_number("2023-06-30")
    config = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)

    def published(ids: pd.Series) -> pd.Series:
        data = CustomerData(
            TransactionLog.from_columns(ids, frame["order_date"], frame["amount"])
        )
        scores = CLTVModel(config).fit(data, as_of, 60).score(data).frame
        return scores.set_index("customer_id")["predicted_spend"]

    ids = frame["customer_id"].unique()
    relabel = dict(zip(ids, np.random.default_rng(1).permutation(ids), strict=True))
    original = published(frame["customer_id"])
    renamed = published(frame["customer_id"].map(relabel))
    renamed.index = renamed.index.map({new: old for old, new in relabel.items()})
    pd.testing.assert_series_equal(
        renamed.loc[original.index], original, check_exact=False, rtol=1e-9
    )


def test_a_training_windows_sample_is_not_chosen_by_the_customers_ids() -> None:
    """Above ``max_customers_per_cutoff`` a training window drew its customers
    by their numeric features and target: customers alike in those but in
    another region (here each customer and a twin of the same purchases)
    stood in id order, so renamed customers trained on other rows."""
    one = generate_transactions(400, seed=4)
    twin = one.assign(customer_id="T" + one["customer_id"])
    frame = pd.concat([one, twin], ignore_index=True)
    as_of = day_number("2023-06-30")
    config = CLTVConfig(
        n_estimators=1,
        max_iter=15,
        min_samples_leaf=20,
        n_cutoffs=3,
        max_customers_per_cutoff=200,
    )
    ids = frame["customer_id"].unique()
    drawn = np.random.default_rng(2).choice(["north", "south"], len(ids))
    regions = dict(zip(ids, drawn, strict=True))
    relabel = dict(zip(ids, np.random.default_rng(1).permutation(ids), strict=True))

    def published(named: dict[str, str]) -> pd.Series:
        log = TransactionLog.from_columns(
            frame["customer_id"].map(named), frame["order_date"], frame["amount"]
        )
        profiles = CustomerProfiles(
            np.asarray([named[i] for i in ids], dtype=object),
            None,
            (("region", np.asarray([regions[i] for i in ids], dtype=object)),),
        )
        data = CustomerData(log, profiles)
        scores = CLTVModel(config).fit(data, as_of, 60).score(data).frame
        back = {new: old for old, new in named.items()}
        return scores.set_index("customer_id")["predicted_spend"].rename(back)

    original = published({i: i for i in ids})
    renamed = published(relabel)
    pd.testing.assert_series_equal(
        renamed.loc[original.index], original, check_exact=False, rtol=1e-9
    )


def test_the_calibration_sample_breaks_its_last_ties_by_fold_not_by_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Customers alike to a calibration window's cut-off and in its total
    spend, but not in when they bought in it, may be in different
    cross-fitting folds: their out-of-fold forecasts differ, and which of
    them a sample drew went by id (a window's sampled forecasts up to 11.7
    apart under renaming here)."""
    monkeypatch.setattr(model_module, "MAX_SHAPE_ROWS", 150)
    one = generate_transactions(300, seed=4)
    # a twin of each customer, its purchases of May-June in two halves a week apart
    twin = one.assign(customer_id="T" + one["customer_id"])
    late = twin["order_date"] > "2023-05-01"
    twin.loc[late, "amount"] = twin.loc[late, "amount"] / 2
    half = twin[late].assign(
        order_date=twin.loc[late, "order_date"] + pd.Timedelta(days=7)
    )
    frame = pd.concat(
        [one, twin, half[half["order_date"] <= "2023-06-30"]], ignore_index=True
    )
    as_of = day_number("2023-06-30")
    config = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
    ids = frame["customer_id"].unique()
    relabel = dict(zip(ids, np.random.default_rng(1).permutation(ids), strict=True))

    def calibration_forecasts(named: dict[str, str]) -> list[np.ndarray]:
        log = TransactionLog.from_columns(
            frame["customer_id"].map(named), frame["order_date"], frame["amount"]
        )
        data = CustomerData(log)
        model = CLTVModel(config).fit(data, as_of, 60)
        windows = calibration_windows(as_of, 60, log.first_day, config.min_history_days)
        return [
            np.sort(model._calibration_forecasts(data, cutoff, width)[1]["cltv"])
            for cutoff, width in windows
        ]

    original = calibration_forecasts({i: i for i in ids})
    renamed = calibration_forecasts(relabel)
    assert len(original) == 3
    for ours, theirs in zip(original, renamed, strict=True):
        np.testing.assert_allclose(theirs, ours, rtol=1e-9)
