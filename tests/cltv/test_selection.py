"""Time-based CV stays inside the training period and picks the best mean score."""

from __future__ import annotations

import statistics

import pytest

from tierflow.cltv.features import CustomerData
from tierflow.cltv.model import CLTVConfig
from tierflow.cltv.selection import cv_folds, fold_score, select_config
from tierflow.data.errors import InputError
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number, day_to_date


def test_folds_end_by_the_as_of_date() -> None:
    as_of = day_number("1997-09-30")
    folds = cv_folds(as_of, 273, 3, 30)
    assert [(str(day_to_date(d).date()), h) for d, h in folds] == [
        ("1997-08-31", 30),
        ("1997-08-01", 60),
        ("1997-07-02", 90),
    ]
    assert all(d + h <= as_of for d, h in folds)
    assert cv_folds(as_of, 45, 3, 30)[2][1] == 45  # never longer than the horizon


def test_fold_score_rewards_the_top_of_the_ranking_and_penalizes_mae() -> None:
    base = {
        "spearman": 0.3,
        "top10_capture": 0.5,
        "top20_capture": 0.6,
        "gains_area_30": 0.55,
        "mae": 10.0,
    }
    better = {**base, "top10_capture": 0.51, "gains_area_30": 0.56, "mae": 9.0}
    assert fold_score(better, base) == pytest.approx(0.02)
    worse_mae = {**better, "mae": 11.0}
    assert fold_score(worse_mae, base) == pytest.approx(0.02 - 0.1)
    # Spearman is not scored: tiering needs the top of the ranking
    assert fold_score({**base, "spearman": 0.9}, base) == 0.0


def test_select_config_uses_only_the_training_period() -> None:
    frame = generate_transactions(600, seed=2)
    as_of = day_number("2023-06-30")
    dates = frame["order_date"].dt.strftime("%Y-%m-%d")
    past = frame.loc[dates <= "2023-06-30"]
    log = TransactionLog.from_columns(
        past["customer_id"], past["order_date"], past["amount"]
    )
    # the level of BG/NBD's total (not the seasonal one, whose BG/NBD fits a
    # year before each fold's date, on a months-old history, are most of
    # the time): every fit sees only the history up to its fold's date
    # whichever the level (evaluate_model hands it no more), so the folds
    # are what is checked here
    small = CLTVConfig(
        n_estimators=1, min_samples_leaf=20, n_cutoffs=3, level="baseline"
    )
    candidates = {
        "tiny": small.with_params(max_iter=5),
        "small": small.with_params(max_iter=20),
    }
    best, results = select_config(CustomerData(log), as_of, 90, candidates)
    assert len(results) == 6  # 3 folds x 2 candidates
    means = {
        name: statistics.fmean(r.score for r in results if r.candidate == name)
        for name in candidates
    }
    assert best == max(means, key=lambda n: means[n])
    # what happened after the as-of date cannot change the choice or a score
    full = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"]
    )
    tiny = {"tiny": candidates["tiny"]}
    _, with_future = select_config(CustomerData(full), as_of, 90, tiny)
    assert [r.score for r in with_future] == [
        r.score for r in results if r.candidate == "tiny"
    ]


def test_no_fold_scored_says_why_the_latest_failed() -> None:
    """A log whose customers bought nothing in the folds' holdouts was
    refused as "history too short for time-based cross-validation", two
    years of it: the error now gives the latest fold's own reason."""
    frame = generate_transactions(300, seed=2)
    quiet = frame.loc[frame["order_date"] <= "2023-03-31"]
    log = TransactionLog.from_columns(
        quiet["customer_id"], quiet["order_date"], quiet["amount"]
    )
    small = CLTVConfig(n_estimators=1, min_samples_leaf=20, n_cutoffs=3)
    with pytest.raises(InputError) as caught:
        select_config(CustomerData(log), day_number("2023-06-30"), 90, {"s": small})
    assert caught.value.reason == (
        "time-based cross-validation could not score any fold (the latest, as "
        "of 2023-05-31 with a 30-day holdout: no transactions after the as-of "
        "date to evaluate against); drop --tune to use the default configuration"
    )
    assert caught.value.field == "as_of" and caught.value.value == "2023-06-30"
