"""The CLTV estimator: bagged Poisson gradient boosting of spend, on an offset.

Poisson loss (log link) for a zero-inflated, heavy-tailed target; a bag of
members on row subsamples, averaged geometrically; optionally a multiplicative
correction of a baseline forecast held in an offset column, and cross-fitting
by customer for out-of-fold forecasts. Why each: ``docs/cltv.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import threadpool_limits

from tierflow.cltv.sampling import mean_magnitude, mix, row_keys

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Bins per feature (HistGradientBoosting's default ``max_bins``).
MAX_BINS = 255
#: Below this many rows one OpenMP thread is faster than several.
SMALL_DATA_ROWS = 100_000
#: Smallest offset used, as a share of the training rows' median offset: a
#: baseline of 0 would give infinite weightless targets. (A model stored before
#: the floor was relative has an absolute floor of 1e-3: ``offset_floor_``.)
OFFSET_FLOOR_SHARE = 1e-4
#: The absolute floor of a model fitted before :data:`OFFSET_FLOOR_SHARE`.
LEGACY_OFFSET_FLOOR = 1e-3
#: Steps per mean magnitude of a feature before binning (:func:`_grid_steps`).
_FEATURE_GRID = float(2**30)


def _quantile_edges(X: FloatArray, categorical: list[int]) -> list[FloatArray | None]:
    """Per-feature bin edges: the 255-quantile cuts of the (unweighted) values.

    HistGradientBoosting bins features itself, but with sample weights and
    fewer than 200,000 rows it computes 254 weighted percentiles per feature
    one at a time, which dominates the fit on CDNOW-sized data. Binning first
    with unweighted quantiles (its own method without weights) leaves each
    feature at most 255 distinct values, which it then takes as they are.
    """
    edges: list[FloatArray | None] = []
    cuts = np.linspace(0.0, 100.0, MAX_BINS + 1)[1:-1]
    for j in range(X.shape[1]):
        column = X[:, j]
        column = column[~np.isnan(column)]
        if j in categorical or len(column) == 0:
            edges.append(None)
            continue
        distinct = np.unique(column)
        if len(distinct) <= MAX_BINS:
            edges.append(None)
            continue
        edges.append(
            np.unique(np.percentile(column, cuts, method="averaged_inverted_cdf"))
        )
    return edges


def _grid_steps(X: FloatArray, categorical: list[int]) -> FloatArray:
    """Each feature's grid step: its mean magnitude over 2**30 (NaN: left
    as it is, for a categorical or valueless feature).

    Values a rounding apart (a sum of amounts in dollars against the same
    sum in cents, divided back) fall on one grid point, so they are one
    value to the binning: bins cut between near-duplicates that only
    rounding made differ made another model of the same data in another
    currency unit.
    """
    steps = np.full(X.shape[1], np.nan)
    for j in range(X.shape[1]):
        if j in categorical:
            continue
        scale = mean_magnitude(X[:, j])
        if scale > 0.0:
            steps[j] = scale / _FEATURE_GRID
    return steps


def _on_grid(X: FloatArray, steps: FloatArray) -> FloatArray:
    """``X`` with each feature rounded to its grid (:func:`_grid_steps`)."""
    out = X.copy()
    for j, step in enumerate(steps):
        if np.isfinite(step):
            out[:, j] = np.round(X[:, j] / step) * step
    return out


def _apply_edges(X: FloatArray, edges: list[FloatArray | None]) -> FloatArray:
    """Replace each binned feature by its bin number (NaN stays NaN)."""
    if all(e is None for e in edges):
        return X
    out = X.copy()
    for j, cut in enumerate(edges):
        if cut is None:
            continue
        column = X[:, j]
        binned = np.searchsorted(cut, column, side="left").astype(np.float64)
        out[:, j] = np.where(np.isnan(column), np.nan, binned)
    return out


class CLTVRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Bagged Poisson gradient boosting of a non-negative target (spend).

    Parameters
    ----------
    n_estimators
        Bagged members; each has its own seed, row subsample and column subset.
    subsample
        Fraction of rows each member is fitted on (without replacement); 1.0
        uses all rows.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to each :class:`~sklearn.ensemble.HistGradientBoostingRegressor`
        (no early stopping: its random validation split would leak between the
        stacked cut-offs of one customer).
    max_features
        Fraction of features each split may consider.
    offset_column
        Index of a column of ``X`` holding a positive baseline forecast of ``y``;
        the model then learns ``y / baseline`` from the *other* columns (the
        offset is not a feature, so scaling it scales the forecast exactly).
        ``None``: plain Poisson boosting on all columns.
    categorical_features
        Indices of columns holding integer category codes (NaN = missing).
    n_jobs
        OpenMP threads while fitting and predicting. ``None``: one thread below
        :data:`SMALL_DATA_ROWS` rows (thread start-up costs more than it saves,
        and badly so on a shared machine), all cores above.
    n_folds
        Cross-fitting folds (by ``groups``; rows when none are given): each
        fold's ``n_estimators`` members are fitted on the other folds' rows,
        so :meth:`predict_out_of_fold` can forecast any row of a group with
        members that never saw it. 1: one bag on all rows.
    random_state
        Seed of the fold assignment, the member seeds and subsamples.
    key_columns
        Columns of ``X`` whose values (with the target and the weight) tell
        rows apart when folds and subsamples are drawn (:func:`~tierflow.cltv.sampling.row_keys`);
        ``None``: every column. Leave out columns fitted on the data as a
        whole (a BTYD forecast): the fit's rounding moves them between two
        runs on the same data in other units, and the draw would move too.

    Notes
    -----
    Negative targets (net returns in a window) are clipped to 0 when fitting:
    the model forecasts spend, which the Poisson loss requires to be >= 0.
    """

    def __init__(
        self,
        n_estimators: int = 5,
        subsample: float = 0.8,
        max_iter: int = 150,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_features: float = 0.7,
        offset_column: int | None = None,
        categorical_features: list[int] | None = None,
        n_jobs: int | None = None,
        n_folds: int = 1,
        random_state: int | None = None,
        key_columns: list[int] | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.subsample = subsample
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.offset_column = offset_column
        self.categorical_features = categorical_features
        self.n_jobs = n_jobs
        self.n_folds = n_folds
        self.random_state = random_state
        self.key_columns = key_columns

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.positive_only = True
        return tags

    def _check_params(self, n_features: int) -> None:
        if not isinstance(self.n_estimators, int | np.integer) or self.n_estimators < 1:
            raise ValueError(
                f"n_estimators must be an int >= 1, got {self.n_estimators!r}"
            )
        if not 0.0 < float(self.subsample) <= 1.0:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample!r}")
        if not isinstance(self.n_folds, int | np.integer) or self.n_folds < 1:
            raise ValueError(f"n_folds must be an int >= 1, got {self.n_folds!r}")
        for column in self.key_columns or ():
            if not 0 <= int(column) < n_features:
                raise ValueError(
                    f"key_columns {self.key_columns!r} holds {column!r}, not a "
                    f"column index of X with {n_features} features"
                )
        if self.offset_column is not None:
            if not 0 <= int(self.offset_column) < n_features:
                raise ValueError(
                    f"offset_column {self.offset_column!r} is not a column index of "
                    f"X with {n_features} features"
                )
            if n_features < 2:
                raise ValueError("X needs a feature besides the offset column")

    def _categorical(self) -> list[int] | None:
        """Categorical indices among the tree inputs (the offset removed)."""
        if not self.categorical_features:
            return None
        off = self.offset_column
        out = []
        for i in self.categorical_features:
            if off is not None and int(i) == int(off):
                raise ValueError("the offset column cannot be categorical")
            out.append(int(i) - (1 if off is not None and int(i) > int(off) else 0))
        return out

    def _features(self, X: FloatArray) -> FloatArray:
        if self.offset_column is None:
            return X
        return np.delete(X, int(self.offset_column), axis=1)

    def _binned(self, X: FloatArray) -> FloatArray:
        """What the members see of ``X``: its features on the fit's grid
        (none for a model stored before it), then binned."""
        steps = getattr(self, "feature_steps_", None)
        features = self._features(X)
        if steps is not None:
            features = _on_grid(features, steps)
        return _apply_edges(features, self.bin_edges_)

    def _offset_floor(self, X: FloatArray) -> float:
        """The smallest offset a fit on ``X`` uses: a share of its median
        positive offset (so it is in the offset's own unit; the median, so a
        few customers at $9e8 do not floor everyone else's)."""
        if self.offset_column is None:
            return LEGACY_OFFSET_FLOOR
        column = X[:, int(self.offset_column)]
        positive = column[column > 0.0]
        typical = float(np.median(positive)) if positive.size else 0.0
        if not np.isfinite(typical) or typical <= 0.0:
            return LEGACY_OFFSET_FLOOR
        return max(OFFSET_FLOOR_SHARE * typical, np.finfo(np.float64).tiny)

    def _offset(self, X: FloatArray) -> FloatArray:
        if self.offset_column is None:
            return np.ones(X.shape[0])
        column = X[:, int(self.offset_column)]
        if not np.isfinite(column).all():
            raise ValueError("offset column must be finite")
        floor = getattr(self, "offset_floor_", LEGACY_OFFSET_FLOOR)
        return np.maximum(column, floor)

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        groups: Any = None,
    ) -> CLTVRegressor:
        """Fit the bagged members on ``(X, y)``; returns ``self``.

        ``groups`` (one label per row, e.g. the customer) keeps every group's
        rows in one cross-fitting fold.
        """
        X, y = validate_data(
            self, X, y, dtype=np.float64, ensure_all_finite="allow-nan", y_numeric=True
        )
        self._check_params(X.shape[1])
        with threadpool_limits(limits=self._threads(X.shape[0]), user_api="openmp"):
            return self._fit(X, y, sample_weight, groups)

    def _threads(self, n_rows: int) -> int | None:
        if self.n_jobs is not None:
            return max(1, int(self.n_jobs))
        return 1 if n_rows < SMALL_DATA_ROWS else None

    def _folds(
        self,
        n_rows: int,
        groups: Any,
        keys: NDArray[np.uint64],
        rng: np.random.RandomState,
    ) -> IntArray:
        """The fold of each row: the groups' contents shuffled and dealt out
        round-robin.

        A group is known by its rows' keys (:func:`~tierflow.cltv.sampling.row_keys`), summed: groups
        with the same rows share a fold, and neither the groups' labels nor
        the rows' order changes which fold a group gets. Remembers each
        group's fold (``groups_``, ``group_folds_``).
        """
        k = int(self.n_folds)
        labels = np.arange(n_rows) if groups is None else np.asarray(groups)
        if len(labels) != n_rows:
            raise ValueError(f"groups has {len(labels)} labels for {n_rows} rows")
        self.groups_, codes = np.unique(labels, return_inverse=True)
        codes = codes.reshape(-1)
        if k == 1:
            self.group_folds_ = np.zeros(len(self.groups_), dtype=np.int64)
        else:
            content = np.zeros(len(self.groups_), dtype=np.uint64)
            np.add.at(content, codes, mix(keys))  # wraps: a sum modulo 2**64
            distinct, which = np.unique(content, return_inverse=True)
            dealt = rng.permutation(len(distinct)) % k
            self.group_folds_ = np.asarray(dealt[which.reshape(-1)], dtype=np.int64)
            if len(distinct) < k:
                # fewer different customers than folds (every customer alike):
                # deal them out in turn, or a fold would train on no row;
                # which of two alike customers goes where changes nothing
                self.group_folds_ = np.arange(len(self.groups_), dtype=np.int64) % k
        return np.asarray(self.group_folds_[codes], dtype=np.int64)

    def _member(self, seed: int) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            loss="poisson",
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            max_features=self.max_features,
            categorical_features=self._categorical(),
            early_stopping=False,
            random_state=seed,
        )

    def _fit(
        self, X: FloatArray, y: FloatArray, sample_weight: Any, groups: Any
    ) -> CLTVRegressor:
        given_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        weight = given_weight
        self.offset_floor_ = self._offset_floor(X)
        offset = self._offset(X)
        features = self._features(X)
        categorical = self._categorical() or []
        self.feature_steps_ = _grid_steps(features, categorical)
        features = _on_grid(features, self.feature_steps_)
        self.bin_edges_ = _quantile_edges(features, categorical)
        features = _apply_edges(features, self.bin_edges_)
        target = np.maximum(np.asarray(y, dtype=np.float64), 0.0) / offset
        weight = weight * offset
        # weights of median 1: the boosting's thresholds on a leaf's hessian are
        # absolute, so weights in the offset's currency unit (cents or
        # dollars) would fit another model
        # (the median, not the mean: two customers at $9e8 among tens of
        # dollars made every other weight ~1e-7, below those thresholds, and
        # the model forecast ~0 for all but them)
        positive = weight[weight > 0.0]
        unit = float(np.median(positive)) if positive.size else 0.0
        if unit > 0.0:
            weight = weight / unit
        # the largest rate any training row showed: a forecast's rate never
        # goes past it (:meth:`_forecast`)
        top = float(target.max()) if target.size else 0.0
        self.log_rate_max_ = float(np.log(top)) if top > 0 else 0.0
        rng = check_random_state(self.random_state)
        # the rows in an order of their contents: folds and subsamples drawn
        # by it are the same whatever the customers' ids or the log's order
        given = X if self.key_columns is None else X[:, list(self.key_columns)]
        keys = row_keys([*given.T, np.asarray(y, dtype=np.float64), given_weight])
        fold = self._folds(X.shape[0], groups, keys, rng)
        order = np.argsort(keys, kind="stable")
        members: list[HistGradientBoostingRegressor] = []
        for k in range(int(self.n_folds)):
            train = order[fold[order] != k] if self.n_folds > 1 else order
            members.extend(
                self._fit_member(features, target, weight, train, rng)
                for _ in range(int(self.n_estimators))
            )
        self.estimators_ = members
        # the folds the members were trained on: out-of-fold forecasts go by
        # these, not by a later ``set_params(n_folds=...)``
        self.n_folds_ = int(self.n_folds)
        self.n_iter_ = min(m.n_iter_ for m in members)
        return self

    def _fit_member(
        self,
        features: FloatArray,
        target: FloatArray,
        weight: FloatArray,
        train: IntArray,
        rng: np.random.RandomState,
    ) -> HistGradientBoostingRegressor:
        """One member on a random ``subsample`` of the ``train`` rows."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        n = len(train)
        size = max(1, round(float(self.subsample) * n))
        rows = (
            train
            if size >= n
            else train[
                np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
            ]
        )
        if np.dot(weight[rows], target[rows]) <= 0.0:
            rows = train  # Poisson needs some positive target mass
        X, w = features[rows], weight[rows]
        # a feature with no weighted value in these rows (a sparse browsing
        # table: one customer of thousands) is a constant here, which never
        # splits; scikit-learn's binning fails on it ("window shape cannot
        # be larger than input array shape": it handles one value, not none)
        valued = (~np.isnan(X) & (w[:, None] != 0)).any(axis=0)
        if not valued.all():
            X = X.copy()
            X[:, ~valued] = 0.0
        return self._member(seed).fit(X, target[rows], sample_weight=w)

    def predict(self, X: Any) -> FloatArray:
        """Geometric mean of the members' forecasts (times the offset, if any)."""
        X, logs = self._log_rates(X)
        return self._forecast(logs, X)

    def predict_log_rate(self, X: Any) -> FloatArray:
        """The members' mean log rate (the correction before the offset), not
        capped: how far a fit overshoots :attr:`log_rate_max_`."""
        return self._log_rates(X)[1]

    def _log_rates(self, X: Any) -> tuple[FloatArray, FloatArray]:
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        features = self._binned(X)
        with threadpool_limits(limits=self._threads(X.shape[0]), user_api="openmp"):
            logs = _bag_log_mean(self.estimators_, features)
        return X, logs

    def _forecast(self, logs: FloatArray, X: FloatArray) -> FloatArray:
        """``exp(logs)`` times the offset, the rate capped at the largest a
        training row showed: the Poisson boosting's steps can overshoot far
        past every target where the offsets are near the floor (a log with
        six months of no purchases: the BG/NBD baseline near 0 for most
        customers), and forecasts ran to 1e116 (a model stored before the
        cap has none)."""
        cap = getattr(self, "log_rate_max_", np.inf)
        with np.errstate(over="ignore"):
            return np.asarray(np.exp(np.minimum(logs, cap)) * self._offset(X))

    def predict_out_of_fold(self, X: Any, groups: Any) -> FloatArray:
        """Each row's forecast by the members that never saw its group: the
        bag of the group's fold, or every member for a group not in training.

        Requires the model to have been fitted with ``n_folds > 1`` (with one
        fold every member saw every group); the folds it was fitted with
        (``n_folds_``) count, not the ``n_folds`` parameter set since.
        """
        check_is_fitted(self)
        n_folds = int(getattr(self, "n_folds_", self.n_folds))
        if n_folds < 2:
            raise ValueError(
                "out-of-fold forecasts need n_folds >= 2 when fitted; "
                f"this model was fitted with n_folds={n_folds}"
            )
        X = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        labels = np.asarray(groups)
        if len(labels) != X.shape[0]:
            raise ValueError(f"groups has {len(labels)} labels for {X.shape[0]} rows")
        fold = self.folds_of(labels)
        features = self._binned(X)
        logs = np.zeros(X.shape[0])
        size = len(self.estimators_) // n_folds
        with threadpool_limits(limits=self._threads(X.shape[0]), user_api="openmp"):
            for k in range(-1, n_folds):
                rows = fold == k
                if rows.any():
                    bag = (
                        self.estimators_
                        if k < 0
                        else self.estimators_[k * size : (k + 1) * size]
                    )
                    logs[rows] = _bag_log_mean(bag, features[rows])
        return self._forecast(logs, X)

    def folds_of(self, groups: Any) -> IntArray:
        """The fold each group was left out of in training (-1: a group not in
        training), whose members :meth:`predict_out_of_fold` forecasts it
        by. Dealt by the groups' contents (:meth:`_folds`), not their labels,
        so a sample may tell rows alike in all else apart by it."""
        check_is_fitted(self)
        labels = np.asarray(groups)
        pos = np.minimum(np.searchsorted(self.groups_, labels), len(self.groups_) - 1)
        seen = self.groups_[pos] == labels
        return np.asarray(np.where(seen, self.group_folds_[pos], -1), dtype=np.int64)


def _bag_log_mean(
    members: list[HistGradientBoostingRegressor], features: FloatArray
) -> FloatArray:
    """Mean of the members' log-forecasts (a geometric mean under the log link)."""
    logs = np.zeros(features.shape[0])
    for member in members:
        logs += np.log(np.maximum(member.predict(features), 1e-300))
    return logs / len(members)
