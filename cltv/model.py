"""The CLTV model: stacked as-of training, BTYD-anchored boosting, extrapolation to H.

Training. For cut-off days ``c`` before the as-of date ``A`` the features are
computed from the history up to ``c`` (a BG/NBD + Gamma-Gamma fit included)
and the target is the spend in ``(c, c + w]``; every target window ends on or
before ``A``, so nothing after ``A`` is ever read. The stacked rows train a
:class:`~tierflow.cltv.regressor.CLTVRegressor` whose offset is the BTYD spend forecast
for the same window: the boosting learns where, and by how much, the
probabilistic model is wrong.

Prediction for a horizon ``H`` longer than any window that fits before ``A``
(273 days on CDNOW): the offset column is set to the BTYD forecast for ``H``,
so the learned correction is carried to ``H`` along the BTYD time profile of
each customer (their own dropout and purchase-rate posterior), not by a flat
``H / w`` factor. With the ``to_as_of`` plan the window length is also a
feature, so the correction may differ between short and long horizons.

Level. The total spend of the whole base over the next ``H`` days is an
aggregate forecast that the stacked windows estimate poorly: their level moves
with the calendar (a July peak, a quiet August) and the holdout may contain a
season the history never showed. With ``level="baseline"`` (the default) the
predictions are rescaled to the BTYD aggregate forecast for ``H``: the model
decides *who* spends, BTYD how much in total. ``level="learned"`` keeps the
boosting's own level.

Calibration. Forecasts are judged by absolute error, and most customers buy
nothing in the horizon, so the conditional mean is not the best point
forecast: at a fixed total, absolute error falls when the forecast mass moves
towards the customers most likely to buy. With ``calibration="mae"`` (the
default) the forecasts ``p`` become ``p ** γ`` rescaled to the same total,
with ``γ >= 1`` fitted on the training windows themselves (the BTYD forecast
of each window, made before it, against what happened in it): a monotone
map, so rankings, capture rates and segments are unchanged.
``calibration="mean"`` keeps conditional means (``γ = 1``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.cltv.btyd import BetaGeoFit, GammaGammaFit
from tierflow.cltv.features import (
    BASE_FEATURES,
    BTYD_FEATURES,
    QUANTITY_FEATURES,
    BtydFit,
    CustomerData,
    FeatureSet,
    build_features,
    customer_history,
    fit_btyd,
    window_spend,
)
from tierflow.cltv.regressor import CLTVRegressor
from tierflow.data.errors import InputError
from tierflow.data.transactions import PROFILE_CATEGORICALS, day_to_date

FloatArray = NDArray[np.float64]
Plan = Literal["rolling", "to_as_of"]
FeatureChoice = Literal["all", "compact"]
Calibration = Literal["mae", "mean"]
Level = Literal["baseline", "learned"]

#: Segment names, best first.
SEGMENTS = ("platinum", "gold", "silver")
#: The offset: the BTYD spend forecast for the target window (or horizon); it
#: is also a feature, describing the window the features were computed for.
OFFSET_FEATURE = "btyd_expected_spend"
#: The window-length feature of the ``to_as_of`` plan.
WINDOW_FEATURE = "window_days"
#: The ``compact`` feature set: RFM, tenure and the BTYD posterior only
#: (profile and browsing features are added when present).
COMPACT_FEATURES = (
    "frequency",
    "recency_days",
    "tenure_days",
    "t_x_days",
    "total_spend",
    "monetary_mean",
    "monetary_max",
    *BTYD_FEATURES,
)
#: Exponents tried for ``calibration="mae"``.
SHARPNESS_GRID = tuple(round(1.0 + 0.05 * k, 2) for k in range(11))
#: Most categories kept per profile column (HistGradientBoosting's bin limit).
MAX_CATEGORIES = 250


@dataclass(frozen=True, slots=True)
class CLTVConfig:
    """Hyper-parameters of :class:`CLTVModel` (chosen by time-based CV).

    Parameters
    ----------
    plan
        ``rolling``: ``n_cutoffs`` cut-offs every ``cutoff_step_days`` days, each
        with a ``window_days`` target window, the latest ending at the as-of
        date. ``to_as_of``: cut-offs every ``cutoff_step_days`` days back from
        the as-of date, each window running to the as-of date (lengths
        ``window_days, window_days + step, ...``, at most ``n_cutoffs``), with
        the window length as a feature.
    feature_set
        ``all`` features, or ``compact`` (RFM, tenure, BTYD posterior).
    min_history_days
        A cut-off needs this many days of history after the first purchase in
        the log (a BTYD fit on a few days of data is meaningless).
    max_customers_per_cutoff
        Random customers sampled per cut-off (bounds training time at scale).
    level
        ``baseline``: total rescaled to the BTYD forecast; ``learned``: as fitted.
    calibration
        ``mae``: forecasts sharpened by the exponent fitted on the training
        windows (absolute-error optimal at a fixed total); ``mean``: as fitted.
    platinum_share, gold_share
        Segment sizes: top ``platinum_share`` of customers by predicted spend are
        platinum, the next ``gold_share`` gold, the rest silver.
    """

    plan: Plan = "to_as_of"
    window_days: int = 30
    n_cutoffs: int = 8
    cutoff_step_days: int = 30
    feature_set: FeatureChoice = "all"
    min_history_days: int = 30
    max_customers_per_cutoff: int | None = 100_000
    n_estimators: int = 5
    subsample: float = 0.8
    max_iter: int = 150
    learning_rate: float = 0.05
    max_leaf_nodes: int = 7
    min_samples_leaf: int = 400
    max_features: float = 0.7
    l2_regularization: float = 0.0
    n_jobs: int | None = None
    level: Level = "baseline"
    calibration: Calibration = "mae"
    platinum_share: float = 0.10
    gold_share: float = 0.30
    random_state: int = 0

    def __post_init__(self) -> None:
        positive = (
            "window_days",
            "n_cutoffs",
            "cutoff_step_days",
            "n_estimators",
            "max_iter",
            "min_samples_leaf",
        )
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise InputError("must be >= 1", field=name, value=getattr(self, name))
        if self.plan not in ("rolling", "to_as_of"):
            raise InputError(
                "must be 'rolling' or 'to_as_of'", field="plan", value=self.plan
            )
        if self.feature_set not in ("all", "compact"):
            raise InputError(
                "must be 'all' or 'compact'",
                field="feature_set",
                value=self.feature_set,
            )
        if self.calibration not in ("mae", "mean"):
            raise InputError(
                "must be 'mae' or 'mean'", field="calibration", value=self.calibration
            )
        if self.level not in ("baseline", "learned"):
            raise InputError(
                "must be 'baseline' or 'learned'", field="level", value=self.level
            )
        shares = (self.platinum_share, self.gold_share)
        if min(shares) < 0 or sum(shares) > 1:
            raise InputError(
                "segment shares must be >= 0 and sum to <= 1",
                field="platinum_share",
                value=shares,
            )

    def with_params(self, **changes: Any) -> CLTVConfig:
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_windows(
    config: CLTVConfig, as_of_day: int, first_day: int
) -> list[tuple[int, int]]:
    """The ``(cutoff_day, window_days)`` pairs to train on, latest first.

    Every window ends on or before ``as_of_day``; cut-offs earlier than
    ``first_day + min_history_days`` are dropped. Raises when none is left.
    """
    earliest = first_day + config.min_history_days
    windows: list[tuple[int, int]] = []
    for k in range(config.n_cutoffs):
        if config.plan == "rolling":
            width = config.window_days
            cutoff = as_of_day - width - k * config.cutoff_step_days
        else:
            width = config.window_days + k * config.cutoff_step_days
            cutoff = as_of_day - width
        if cutoff >= earliest:
            windows.append((cutoff, width))
    if not windows:
        need = config.min_history_days + config.window_days
        raise InputError(
            f"history too short to train: need at least {need} days between the "
            f"first purchase and the as-of date, have {as_of_day - first_day}",
            field="as_of",
            value=str(day_to_date(as_of_day).date()),
        )
    return windows


def assign_segments(
    predicted: FloatArray, platinum_share: float = 0.10, gold_share: float = 0.30
) -> NDArray[np.object_]:
    """Platinum/gold/silver by predicted-spend rank (ties share a segment).

    A customer is platinum when fewer than ``platinum_share`` of all customers
    predict strictly more, gold when fewer than ``platinum_share + gold_share``
    do, silver otherwise.
    """
    n = len(predicted)
    out = np.full(n, SEGMENTS[2], dtype=object)
    if n == 0:
        return out
    higher = n - np.searchsorted(np.sort(predicted), predicted, side="right")
    share = higher / n
    out[share < platinum_share + gold_share] = SEGMENTS[1]
    out[share < platinum_share] = SEGMENTS[0]
    return out


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-customer output of :meth:`CLTVModel.score`."""

    as_of_day: int
    horizon_days: int
    frame: pd.DataFrame  # customer_id, predicted_spend, p_active, segment
    baseline: FloatArray  # the BTYD spend forecast for the horizon

    @property
    def predicted(self) -> FloatArray:
        return np.asarray(self.frame["predicted_spend"].to_numpy(), dtype=np.float64)


@dataclass
class CLTVModel:
    """CLTV over a horizon: features → :class:`CLTVRegressor` → extrapolation.

    Fitted attributes end in ``_``; :meth:`score` raises before :meth:`fit`.
    """

    config: CLTVConfig = field(default_factory=CLTVConfig)
    as_of_day_: int | None = None
    horizon_days_: int | None = None
    features_: list[str] = field(default_factory=list)
    categories_: dict[str, list[str]] = field(default_factory=dict)
    windows_: list[tuple[int, int]] = field(default_factory=list)
    regressor_: CLTVRegressor | None = None
    btyd_: BtydFit | None = None
    n_training_rows_: int = 0
    sharpness_: float = 1.0
    uses_profiles_: bool = False
    uses_browsing_: bool = False

    # -- features -----------------------------------------------------------
    def _matrix(self, frame: pd.DataFrame, window_days: int) -> FloatArray:
        columns = []
        for name in self.features_:
            if name == WINDOW_FEATURE:
                columns.append(np.full(len(frame), float(window_days)))
            elif name in self.categories_:
                vocab = {v: float(i) for i, v in enumerate(self.categories_[name])}
                codes = frame[name].map(vocab).astype("float64")
                columns.append(codes.to_numpy())
            else:
                columns.append(frame[name].to_numpy(dtype=np.float64))
        return np.column_stack(columns) if columns else np.zeros((len(frame), 0))

    def _choose_features(self, frame: pd.DataFrame) -> None:
        names = [str(c) for c in frame.columns]
        if self.config.feature_set == "compact":
            transactional = {*BASE_FEATURES, *QUANTITY_FEATURES, *BTYD_FEATURES}
            names = [
                n for n in names if n in COMPACT_FEATURES or n not in transactional
            ]
        self.features_ = names + (
            [WINDOW_FEATURE] if self.config.plan == "to_as_of" else []
        )

    def _learn_categories(self, frames: list[pd.DataFrame]) -> None:
        self.categories_ = {}
        for name in PROFILE_CATEGORICALS:
            if name in self.features_:
                values = pd.concat([f[name] for f in frames])
                counts = values[values != ""].value_counts()
                self.categories_[name] = sorted(
                    counts.index[:MAX_CATEGORIES].astype(str)
                )

    # -- fit / score --------------------------------------------------------
    def fit(self, data: CustomerData, as_of_day: int, horizon_days: int) -> CLTVModel:
        """Train on stacked cut-offs whose target windows end by ``as_of_day``."""
        if horizon_days < 1:
            raise InputError("must be >= 1", field="horizon_days", value=horizon_days)
        cfg = self.config
        log = data.transactions
        self.windows_ = training_windows(cfg, as_of_day, log.first_day)
        self.uses_profiles_ = data.profiles is not None
        self.uses_browsing_ = data.browsing is not None
        rng = np.random.default_rng(cfg.random_state)
        # per usable window: sampled feature rows, window, BTYD offset, target
        parts: list[tuple[pd.DataFrame, int, FloatArray, FloatArray]] = []
        usable: list[tuple[int, int]] = []
        for cutoff, width in self.windows_:
            try:
                feats = build_features(data, cutoff, width)
            except InputError:
                continue  # too little history at this cut-off to fit BTYD
            usable.append((cutoff, width))
            rows = np.arange(feats.history.n_customers)
            cap = cfg.max_customers_per_cutoff
            if cap is not None and len(rows) > cap:
                rows = np.sort(rng.choice(rows, cap, replace=False))
            y = window_spend(log, feats.history, width)[rows]
            parts.append((feats.frame.iloc[rows], width, _offset(feats)[rows], y))
            del feats  # keep only the sampled rows of each window
        if not parts:
            raise InputError(
                "too little history before the as-of date to fit BG/NBD + "
                "Gamma-Gamma at any training cut-off",
                field="as_of",
                value=str(day_to_date(as_of_day).date()),
            )
        self.windows_ = usable
        self._choose_features(parts[0][0])
        self._learn_categories([frame for frame, _, _, _ in parts])
        X = np.vstack(
            [
                np.column_stack([self._matrix(frame, w), offset])
                for frame, w, offset, _ in parts
            ]
        )
        y = np.concatenate([target for _, _, _, target in parts])
        categorical = [i for i, n in enumerate(self.features_) if n in self.categories_]
        regressor = CLTVRegressor(
            n_estimators=cfg.n_estimators,
            subsample=cfg.subsample,
            max_iter=cfg.max_iter,
            learning_rate=cfg.learning_rate,
            max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=cfg.min_samples_leaf,
            l2_regularization=cfg.l2_regularization,
            max_features=cfg.max_features,
            offset_column=len(self.features_),
            categorical_features=categorical or None,
            n_jobs=cfg.n_jobs,
            random_state=cfg.random_state,
        )
        self.regressor_ = regressor.fit(X, y)
        self.sharpness_ = (
            fit_sharpness([(offset, target) for _, _, offset, target in parts])
            if cfg.calibration == "mae"
            else 1.0
        )
        self.n_training_rows_ = len(y)
        self.as_of_day_ = as_of_day
        self.horizon_days_ = horizon_days
        self.btyd_ = fit_btyd(customer_history(log, as_of_day))
        return self

    def _check_fitted(self) -> tuple[CLTVRegressor, int, int]:
        if (
            self.regressor_ is None
            or self.as_of_day_ is None
            or self.horizon_days_ is None
        ):
            raise InputError("the CLTV model is not fitted; call fit() first")
        return self.regressor_, self.as_of_day_, self.horizon_days_

    def score(
        self,
        data: CustomerData,
        as_of_day: int | None = None,
        horizon_days: int | None = None,
    ) -> Scores:
        """Predicted spend over the horizon, P(active) and segment per customer.

        Scores every customer who purchased on or before ``as_of_day`` (default:
        the training as-of). The BTYD fit is reused on the training as-of and
        refitted on the history up to any other day.
        """
        regressor, fit_day, fit_horizon = self._check_fitted()
        day = fit_day if as_of_day is None else as_of_day
        horizon = fit_horizon if horizon_days is None else horizon_days
        if (data.profiles is not None) != self.uses_profiles_:
            raise InputError(
                "the model was trained "
                + ("with" if self.uses_profiles_ else "without")
                + " a profile table; score with the same inputs",
                field="profiles",
            )
        if (data.browsing is not None) != self.uses_browsing_:
            raise InputError(
                "the model was trained "
                + ("with" if self.uses_browsing_ else "without")
                + " a browsing table; score with the same inputs",
                field="browsing",
            )
        reuse = self.btyd_ if day == fit_day else None
        feats = build_features(data, day, self._feature_window(horizon), btyd=reuse)
        baseline = feats.btyd.expected_spend(feats.history, horizon)
        X = np.column_stack([self._matrix(feats.frame, horizon), baseline])
        raw = regressor.predict(X)
        predicted = sharpen(raw, self.sharpness_)
        target_total = baseline.sum() if self.config.level == "baseline" else raw.sum()
        if predicted.sum() > 0:
            predicted = predicted * (target_total / predicted.sum())
        p_active = feats.btyd.p_any(feats.history, horizon)
        frame = pd.DataFrame(
            {
                "customer_id": feats.history.customer_ids,
                "predicted_spend": predicted,
                "p_active": p_active,
                "segment": assign_segments(
                    predicted, self.config.platinum_share, self.config.gold_share
                ),
            }
        )
        return Scores(day, horizon, frame, baseline)

    def _feature_window(self, horizon: int) -> int:
        """The window the BTYD features describe: as in training (``rolling``),
        or the horizon itself, matching the window-length feature (``to_as_of``).
        """
        return self.config.window_days if self.config.plan == "rolling" else horizon

    # -- description --------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for ``metadata.json``."""
        regressor, fit_day, horizon = self._check_fitted()
        assert self.btyd_ is not None
        bg: BetaGeoFit = self.btyd_.bgnbd
        gg: GammaGammaFit = self.btyd_.gamma_gamma
        return {
            "as_of": str(day_to_date(fit_day).date()),
            "horizon_days": horizon,
            "config": self.config.as_dict(),
            "features": list(self.features_),
            "categories": self.categories_,
            "training_windows": [
                {"cutoff": str(day_to_date(c).date()), "window_days": w}
                for c, w in self.windows_
            ],
            "n_training_rows": self.n_training_rows_,
            "sharpness": self.sharpness_,
            "btyd": {"bgnbd": bg.params(), "gamma_gamma": gg.params()},
            "regressor": {
                k: v for k, v in regressor.get_params().items() if _jsonable(v)
            },
        }


def sharpen(predicted: FloatArray, exponent: float) -> FloatArray:
    """``predicted ** exponent`` at the same total (a monotone map)."""
    if exponent == 1.0 or predicted.sum() <= 0:
        return predicted
    scaled = predicted / predicted.max()  # no overflow; the total is restored
    out = scaled**exponent
    return np.asarray(out * (predicted.sum() / out.sum()), dtype=np.float64)


def fit_sharpness(windows: list[tuple[FloatArray, FloatArray]]) -> float:
    """The exponent of :data:`SHARPNESS_GRID` with the least absolute error of
    the windows' out-of-time BTYD forecasts, each window relative to ``γ = 1``.

    Each pair is a window's forecast (made at its cut-off) and its actual spend.
    """
    score = np.zeros(len(SHARPNESS_GRID))
    used = 0
    for forecast, actual in windows:
        base = float(np.mean(np.abs(forecast - actual)))
        if base <= 0 or forecast.sum() <= 0:
            continue
        used += 1
        for k, exponent in enumerate(SHARPNESS_GRID):
            score[k] += np.mean(np.abs(sharpen(forecast, exponent) - actual)) / base
    return float(SHARPNESS_GRID[int(np.argmin(score))]) if used else 1.0


def _offset(feats: FeatureSet) -> FloatArray:
    """The regressor's offset: the BTYD spend forecast for the feature window."""
    return np.asarray(feats.frame[OFFSET_FEATURE].to_numpy(), dtype=np.float64)


def _jsonable(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, int | str | bool | list)
