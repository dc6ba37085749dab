"""CLTVRegressor follows scikit-learn's estimator contract."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from tests.conftest import ROOT
from tierflow.cltv.regressor import CLTVRegressor

#: Checks that cannot pass, and why (nothing else is skipped).
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "members are fitted on random row subsamples, and HistGradientBoosting "
        "bins features on a weighted subsample: weights are not equivalent to "
        "repeated rows (scikit-learn marks HistGradientBoostingRegressor the same)"
    ),
}


@parametrize_with_checks(  # type: ignore[untyped-decorator]
    [CLTVRegressor(n_estimators=2, max_iter=20, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(
    estimator: CLTVRegressor, check: Callable[[Any], None]
) -> None:
    check(estimator)


def test_offset_column_learns_a_multiplicative_correction() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    baseline = rng.gamma(2.0, 5.0, size=n)
    group = rng.integers(0, 2, size=n).astype(float)
    truth = baseline * np.where(group == 1, 2.0, 0.5)  # the baseline is off
    y = rng.poisson(truth).astype(float)
    X = np.column_stack([group, baseline])
    model = CLTVRegressor(n_estimators=3, max_iter=100, offset_column=1, random_state=0)
    pred = model.fit(X, y).predict(X)
    ratio = pred / baseline
    assert np.median(ratio[group == 1]) == pytest.approx(2.0, rel=0.1)
    assert np.median(ratio[group == 0]) == pytest.approx(0.5, rel=0.1)
    # a longer horizon in the offset column scales the forecast with it
    longer = X.copy()
    longer[:, 1] *= 3.0
    np.testing.assert_allclose(model.predict(longer), 3.0 * pred, rtol=1e-9)


def test_negative_targets_are_clipped_and_fit_is_seeded() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3))
    y = np.maximum(rng.normal(loc=X[:, 0] + 1.0), -2.0)  # some net returns
    a = CLTVRegressor(n_estimators=2, max_iter=30, random_state=5).fit(X, y)
    b = CLTVRegressor(n_estimators=2, max_iter=30, random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert (a.predict(X) > 0).all()


def _customers(seed: int, n_customers: int = 600) -> tuple[Any, Any, Any]:
    """Rows of a CLTV-like design: a spend feature, a count, the baseline in
    the last column (the offset), mostly zero spend; 4 rows a customer."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_customers) * 7 + 3, 4)
    n = len(groups)
    baseline = rng.gamma(0.6, 20.0, size=n)
    spend = np.round(rng.gamma(1.5, 15.0, size=n) * (rng.random(n) < 0.5), 2)
    count = rng.integers(0, 5, size=n).astype(float)
    y = np.round(rng.poisson(baseline / 20.0) * rng.gamma(2.0, 10.0, size=n), 2)
    return np.column_stack([spend, count, baseline]), y, groups


def _fitted(X: Any, y: Any, groups: Any, seed: int) -> CLTVRegressor:
    return CLTVRegressor(
        n_estimators=2,
        max_iter=60,
        min_samples_leaf=20,
        n_folds=2,
        offset_column=2,
        random_state=seed,
    ).fit(X, y, groups=groups)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_renamed_customers_and_reordered_rows_fit_the_same_model(seed: int) -> None:
    """The customers' ids and the rows' order are not part of the seed: folds
    and subsamples are drawn by the rows' contents."""
    X, y, groups = _customers(seed)
    rng = np.random.default_rng(100 + seed)
    labels = np.unique(groups)
    renamed = dict(zip(labels, rng.permutation(labels) * 11 + 5, strict=True))
    new_groups = np.array([renamed[g] for g in groups])
    order = rng.permutation(len(y))
    a = _fitted(X, y, groups, seed)
    b = _fitted(X[order], y[order], new_groups[order], seed)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(
        a.predict_out_of_fold(X, groups), b.predict_out_of_fold(X, new_groups)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_amounts_in_cents_fit_the_same_model(seed: int) -> None:
    """Spend, its features and the baseline in cents: every forecast is the
    one in dollars, times 100 (the weights' unit is not the boosting's)."""
    X, y, groups = _customers(seed)
    cents = X.copy()
    cents[:, [0, 2]] *= 100.0
    a = _fitted(X, y, groups, seed)
    b = _fitted(cents, y * 100.0, groups, seed)
    np.testing.assert_allclose(b.predict(cents), 100.0 * a.predict(X), rtol=1e-9)
    np.testing.assert_allclose(
        b.predict_out_of_fold(cents, groups),
        100.0 * a.predict_out_of_fold(X, groups),
        rtol=1e-9,
    )


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        CLTVRegressor().predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="offset_column 5 is not a column index"):
        CLTVRegressor(offset_column=5).fit(np.ones((30, 2)), np.ones(30))
    with pytest.raises(ValueError, match="subsample must be in"):
        CLTVRegressor(subsample=0.0).fit(np.ones((30, 2)), np.ones(30))


def test_array_api_dispatch_with_numpy_inputs() -> None:
    """The one check scikit-learn skips in-process: it needs SCIPY_ARRAY_API=1
    before scipy is imported, so it runs in a fresh interpreter."""
    code = (
        "from sklearn.utils.estimator_checks import check_array_api_input\n"
        "from cltv.regressor import CLTVRegressor\n"
        "check_array_api_input('CLTVRegressor', CLTVRegressor(n_estimators=2, "
        "max_iter=20, random_state=0), array_namespace='numpy', "
        "expect_only_array_outputs=False)\n"
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode()


def test_cross_fitting_gives_out_of_fold_forecasts_by_group() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(200), 5)  # 200 customers, 5 rows each
    X = rng.normal(size=(1000, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    model = CLTVRegressor(n_estimators=2, max_iter=20, n_folds=2, random_state=0)
    model.fit(X, y, groups=groups)
    assert len(model.estimators_) == 4  # two folds, a bag of two each
    oof = model.predict_out_of_fold(X, groups)
    assert oof.shape == (1000,) and (oof > 0).all()
    # a row's out-of-fold forecast comes from one bag only: the one fitted
    # on the other fold, which never saw its customer
    binned = model._binned(X)  # what the members see: on the grid, binned
    bags = [
        np.exp(np.mean([np.log(m.predict(binned)) for m in bag], axis=0))
        for bag in (model.estimators_[:2], model.estimators_[2:])
    ]
    from_first = np.isclose(oof, bags[0])
    assert (from_first | np.isclose(oof, bags[1])).all()
    assert 0.3 < from_first.mean() < 0.7
    per_group = from_first.reshape(200, 5)  # a customer's rows share a fold
    assert (per_group.all(axis=1) | ~per_group.any(axis=1)).all()
    # a customer no member saw gets the forecast of all of them
    np.testing.assert_allclose(
        model.predict_out_of_fold(X[:3], [-1, 999, 10**6]), model.predict(X[:3])
    )
    with pytest.raises(ValueError, match="out-of-fold forecasts need n_folds >= 2"):
        CLTVRegressor(n_estimators=1, max_iter=5).fit(X, y).predict_out_of_fold(
            X, groups
        )
    with pytest.raises(ValueError, match="n_folds must be an int >= 1"):
        CLTVRegressor(n_folds=0).fit(X, y)
    with pytest.raises(ValueError, match="groups has 3 labels for 1000 rows"):
        CLTVRegressor(n_folds=2).fit(X, y, groups=[1, 2, 3])


@pytest.mark.parametrize("given", [1, 2])
def test_a_feature_almost_never_given_does_not_break_the_fit(given: int) -> None:
    """A browsing table of one or two customers among thousands: in a
    member's subsample the feature may have no value at all, and
    scikit-learn's binning failed on it ("window shape cannot be larger than
    input array shape"), a traceback from ``cltv train --browsing``."""
    rng = np.random.default_rng(0)
    X = rng.random((2000, 3))
    X[:, 1] = np.nan
    X[:given, 1] = [3.0, 1.0][:given]
    y = rng.poisson(2.0 * X[:, 0])
    model = CLTVRegressor(n_estimators=3, subsample=0.5, max_iter=10, random_state=0)
    forecasts = model.fit(X, y).predict(X)
    assert np.isfinite(forecasts).all() and (forecasts > 0).all()


def test_customers_all_alike_are_still_dealt_into_every_fold() -> None:
    """Folds are dealt by the customers' contents; when every customer is
    alike (300 buying $25 every week) one content went to one fold and the
    other fold's members were fitted on no row (a scikit-learn traceback
    from `cltv retrain`)."""
    X = np.tile([[3.0, 25.0, 10.0]], (600, 1))
    y = np.full(600, 25.0)
    groups = np.repeat(np.arange(300), 2)
    model = CLTVRegressor(
        n_estimators=1, max_iter=5, n_folds=2, offset_column=2, random_state=0
    ).fit(X, y, groups=groups)
    assert sorted(np.bincount(model.group_folds_).tolist()) == [150, 150]
    assert np.isfinite(model.predict_out_of_fold(X, groups)).all()


def test_out_of_fold_forecasts_go_by_the_folds_the_model_was_fitted_with() -> None:
    """``set_params`` after fitting changes the next fit, not the fitted
    members: out-of-fold forecasts still use the folds they were trained on
    (and a model fitted with one fold still refuses after ``n_folds=3``)."""
    X, y, groups = _customers(0, n_customers=200)
    model = _fitted(X, y, groups, 0)
    before = model.predict_out_of_fold(X, groups)
    model.set_params(n_folds=1)
    np.testing.assert_array_equal(model.predict_out_of_fold(X, groups), before)
    model.set_params(n_folds=3)
    np.testing.assert_array_equal(model.predict_out_of_fold(X, groups), before)
    one = CLTVRegressor(n_estimators=1, max_iter=5).fit(X, y)
    one.set_params(n_folds=3)
    with pytest.raises(ValueError, match="was fitted with n_folds=1"):
        one.predict_out_of_fold(X, groups)
