"""The CLTV model: stacked as-of training, BTYD-anchored boosting, extrapolation to H.

Training (:mod:`tierflow.cltv.training`): features at cut-offs before the
as-of date ``A`` and the spend in the window after each, every window ending
by ``A``. The stacked rows train a cross-fitted
:class:`~tierflow.cltv.regressor.CLTVRegressor` whose offset is the BTYD spend
forecast for the same window: the boosting learns where, and by how much, the
probabilistic model is wrong. The forecast for a horizon ``H`` sets the offset
to the BTYD forecast for ``H``, carrying the learned correction along each
customer's own BTYD time profile.

Publishing: the raw forecast gets a shape fitted for absolute error
(:mod:`tierflow.cltv.calibration`) and the total of the level model
(:mod:`tierflow.cltv.level`). Both are fitted the same way for the baselines,
on the same training windows, so :meth:`CLTVModel.forecast` returns every
forecaster raw and calibrated on equal terms. Design notes: ``docs/cltv.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.cltv.baselines import BASELINES, baseline_forecasts, calibrated_name
from tierflow.cltv.btyd import BetaGeoFit, GammaGammaFit
from tierflow.cltv.calibration import (
    MAX_SHAPE_ROWS,
    SHARPNESS_GRID,
    Blend,
    BlendWindow,
    Shape,
    at_total,
    fit_blend,
    fit_shape,
    fit_sharpness,
    sharpen,
)
from tierflow.cltv.config import (
    Calibration,
    CLTVConfig,
    FeatureChoice,
    Plan,
    calibration_windows,
    training_windows,
)
from tierflow.cltv.features import (
    BTYD_FEATURES,
    BtydFit,
    CustomerData,
    CustomerHistory,
    DegenerateFit,
    FeatureSet,
    build_features,
    check_btyd_forecasts,
    customer_history,
    fit_btyd,
    newcomer_features,
    require_purchases,
    window_spend,
)
from tierflow.cltv.level import Level, fit_level
from tierflow.cltv.regressor import CLTVRegressor
from tierflow.cltv.sampling import content_sample
from tierflow.cltv.segments import SEGMENTS, assign_segments
from tierflow.cltv.training import (
    COMPACT_FEATURES,
    OFFSET_FEATURE,
    WINDOW_FEATURE,
    FeatureEncoder,
    TrainingWindow,
    content_columns,
    stack_windows,
)
from tierflow.data.customer_tables import PROFILE_COLUMNS
from tierflow.data.errors import InputError
from tierflow.data.transactions import (
    TransactionLog,
    as_of_error,
    day_to_date,
    stray_text,
)

FloatArray = NDArray[np.float64]

__all__ = [
    "COMPACT_FEATURES",
    "MODEL_NAME",
    "OFFSET_FEATURE",
    "SEGMENTS",
    "SHARPNESS_GRID",
    "WINDOW_FEATURE",
    "CLTVConfig",
    "CLTVModel",
    "Calibration",
    "FeatureChoice",
    "Forecasts",
    "Plan",
    "Scores",
    "assign_segments",
    "fit_sharpness",
    "sharpen",
    "training_windows",
]

#: Our model's name among the forecasters.
MODEL_NAME = "cltv"
#: The regressor's forecast before shape and level.
RAW_NAME = "cltv_raw"


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-customer output of :meth:`CLTVModel.score`."""

    as_of_day: int
    horizon_days: int
    frame: pd.DataFrame  # customer_id, predicted_spend, p_active, segment
    baseline: FloatArray  # the BTYD spend forecast for the horizon
    #: The model's own as-of date: scores as of an earlier day come from
    #: training windows that saw the days they forecast.
    trained_as_of_day: int | None = None
    #: The published forecast of a customer acquired on the as-of date
    #: (:meth:`CLTVModel.new_customer_spend`): the new-customer prior.
    new_customer_spend: float | None = None
    #: The level the forecasts were rescaled to (its young-history note:
    #: :func:`~tierflow.cltv.level.young_season_note`).
    level: Level | None = None

    @property
    def predicted(self) -> FloatArray:
        return np.asarray(self.frame["predicted_spend"].to_numpy(), dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class Forecasts:
    """Every forecaster's forecast for one as-of date and horizon.

    ``raw`` holds our regressor's forecast (``cltv``) and each baseline's;
    :meth:`calibrated` gives any of them after its own shape and the common
    level; :meth:`published` is the blend of those (for ``cltv``: our model).
    """

    history: CustomerHistory
    horizon_days: int
    raw: dict[str, FloatArray]
    shapes: dict[str, Shape]
    level: Level
    p_active: FloatArray
    blend: Blend = field(default_factory=lambda: Blend(((MODEL_NAME, 1.0),)))
    #: The BTYD fit the forecasts were made with.
    btyd: BtydFit | None = None

    def calibrated(self, name: str, at: FloatArray | None = None) -> FloatArray:
        """``name``'s calibrated forecast; ``at``: the calibrated values of
        these raw forecasts of ``name``, by the same shape and level factor
        as the customers' (who are not changed by them)."""
        raw, shape = self.raw[name], self.shapes[name]
        if at is None:
            return at_total(shape.apply(raw), self.level.total)
        return at_total(shape.apply(raw), self.level.total, shape.apply(raw, at))

    def published_at(self, raw: dict[str, FloatArray]) -> FloatArray:
        """What :meth:`published` makes of other raw forecasts (one array per
        forecaster of the blend): each through its forecaster's calibration
        of these customers, then blended."""
        return self.blend.apply(
            {n: self.calibrated(n, raw[n]) for n, _ in self.blend.weights}
        )

    def published(self) -> FloatArray:
        """Our published forecast: the blend of the calibrated forecasts."""
        return self.blend.apply({n: self.calibrated(n) for n, _ in self.blend.weights})

    def table(self) -> dict[str, FloatArray]:
        """Named forecasts: ``cltv`` (published), the raw baselines, the
        calibrated baselines and ``cltv_raw``, in this order."""
        out = {MODEL_NAME: self.published()}
        out |= {name: self.raw[name] for name in BASELINES}
        out |= {calibrated_name(name): self.calibrated(name) for name in BASELINES}
        out[RAW_NAME] = self.raw[MODEL_NAME]
        return out


@dataclass
class CLTVModel:
    """CLTV over a horizon: features → :class:`CLTVRegressor` → shape and level.

    Fitted attributes end in ``_``; :meth:`score` raises before :meth:`fit`.
    """

    config: CLTVConfig = field(default_factory=CLTVConfig)
    as_of_day_: int | None = None
    horizon_days_: int | None = None
    encoder_: FeatureEncoder | None = None
    windows_: list[tuple[int, int]] = field(default_factory=list)
    regressor_: CLTVRegressor | None = None
    btyd_: BtydFit | None = None
    n_training_rows_: int = 0
    shapes_: dict[str, Shape] = field(default_factory=dict)
    blend_: Blend = field(default_factory=lambda: Blend(((MODEL_NAME, 1.0),)))
    level_: Level | None = None
    uses_profiles_: bool = False
    uses_browsing_: bool = False
    data_fingerprint_: str | None = None

    @property
    def features_(self) -> list[str]:
        return [] if self.encoder_ is None else list(self.encoder_.features)

    @property
    def categories_(self) -> dict[str, list[str]]:
        return {} if self.encoder_ is None else self.encoder_.categories

    @property
    def sharpness_(self) -> float:
        """The exponent of our model's shape."""
        return self.shapes_.get(MODEL_NAME, Shape()).exponent

    # -- fit ----------------------------------------------------------------
    def fit(self, data: CustomerData, as_of_day: int, horizon_days: int) -> CLTVModel:
        """Train on stacked cut-offs whose target windows end by ``as_of_day``."""
        if horizon_days < 1:
            raise InputError("must be >= 1", field="horizon_days", value=horizon_days)
        cfg = self.config
        log = data.transactions
        _require_learnable(log, as_of_day)
        plan = training_windows(cfg, as_of_day, log.first_day, file=log.source or None)
        btyd = _checked_as_of_btyd(log, as_of_day, horizon_days) if plan else None
        windows = stack_windows(
            data,
            plan,
            max_customers=cfg.max_customers_per_cutoff,
            rng=np.random.default_rng(cfg.random_state),
        )
        if not windows:
            raise as_of_error(
                "too little history before the as-of date to fit BG/NBD + "
                "Gamma-Gamma at any training cut-off",
                log,
                as_of_day,
            )
        if not any(float(np.sum(w.target)) > 0 for w in windows):
            # named where the data ends: a stray row years on is not its end
            end = day_to_date(log.data_last_day).date()
            stray = log.stray_rows
            ends = (
                f"the transactions' data ends on {end}; {stray_text(stray)}"
                if stray
                else f"the transactions end on {end}"
            )
            raise as_of_error(
                f"no purchases in any training window ({ends}): nothing to learn "
                "spend from",
                log,
                as_of_day,
            )
        self.windows_ = [(w.cutoff, w.width) for w in windows]
        self.uses_profiles_ = data.profiles is not None
        self.uses_browsing_ = data.browsing is not None
        self.uses_quantity_ = data.transactions.quantity is not None
        self.encoder_ = FeatureEncoder.fit(
            [w.frame for w in windows], cfg.feature_set, cfg.plan == "to_as_of"
        )
        self.as_of_day_ = self.btyd_ = self.level_ = None  # from an earlier fit
        self.data_fingerprint_ = data.fingerprint()
        self.regressor_ = self._fit_regressor(windows, log.source or None)
        self.shapes_, self.blend_ = self._fit_calibration(data, as_of_day, horizon_days)
        self.n_training_rows_ = sum(len(w.target) for w in windows)
        self.as_of_day_ = as_of_day
        self.horizon_days_ = horizon_days
        self.level_ = self._fit_level(data, btyd)
        return self

    def _fit_level(
        self, data: CustomerData, btyd: tuple[BtydFit, FloatArray] | None = None
    ) -> Level:
        """The BTYD fit as of the training day (``btyd``: the fit and its
        spend forecast, made already) and the level for the horizon."""
        _, as_of_day, horizon_days = self._fitted()
        log = data.transactions
        if btyd is None:
            btyd = _as_of_btyd(log, as_of_day, horizon_days)
        self.btyd_, spend = btyd
        if self.config.level == "learned":
            return self.forecast(data).level
        return fit_level(
            self.config.level,
            log,
            as_of_day,
            horizon_days,
            btyd_total=float(spend.sum()),
            learned_total=float("nan"),
        )

    def _fit_regressor(
        self, windows: list[TrainingWindow], source: str | None
    ) -> CLTVRegressor:
        cfg, encoder = self.config, self._encoder()
        X = np.vstack([encoder.design(w.frame, w.width, w.offset) for w in windows])
        y = np.concatenate([w.target for w in windows])
        customers = np.concatenate([w.codes for w in windows])
        regressor = CLTVRegressor(
            n_estimators=cfg.n_estimators,
            subsample=cfg.subsample,
            max_iter=cfg.max_iter,
            learning_rate=cfg.learning_rate,
            max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=cfg.min_samples_leaf,
            l2_regularization=cfg.l2_regularization,
            max_features=cfg.max_features,
            offset_column=len(encoder.features),
            categorical_features=encoder.categorical_columns or None,
            n_jobs=cfg.n_jobs,
            n_folds=cfg.n_folds,
            random_state=cfg.random_state,
            # the rows' own data tell them apart, not the BTYD fits' outputs
            # (nor the offset, a BTYD forecast): see CLTVRegressor
            key_columns=[
                i
                for i, name in enumerate(encoder.features)
                if name not in BTYD_FEATURES
            ],
        )
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, once
            regressor.fit(X, y, groups=customers)
        _require_finite_fit(regressor, X, y, source=source)
        return regressor

    def _fit_calibration(
        self, data: CustomerData, as_of_day: int, horizon_days: int
    ) -> tuple[dict[str, Shape], Blend]:
        """Each forecaster's shape, fitted the same way on the same windows
        (:func:`~tierflow.cltv.config.calibration_windows`), then the blend of
        the calibrated forecasts that we publish, fitted on the same windows.

        Every forecast of a window is made at its cut-off from the history up
        to it; ours by the members that never saw the customer
        (:meth:`CLTVRegressor.predict_out_of_fold`; in-sample with one fold).
        """
        names = (MODEL_NAME, *BASELINES)
        alone = Blend(((MODEL_NAME, 1.0),))
        if self.config.calibration != "mae":
            return dict.fromkeys(names, Shape()), alone
        log = data.transactions
        windows: list[BlendWindow] = []
        for cutoff, width in calibration_windows(
            as_of_day, horizon_days, log.first_day, self.config.min_history_days
        ):
            try:
                _, raw, actual = self._calibration_forecasts(data, cutoff, width)
            except InputError:
                continue  # too little history at this cut-off to fit BTYD
            windows.append((raw, actual))
        shapes = {
            n: fit_shape([(raw[n], actual) for raw, actual in windows]) for n in names
        }
        if not self.config.blend:
            return shapes, alone
        return shapes, fit_blend(windows, shapes)

    def _raw_forecasts(
        self, data: CustomerData, day: int, horizon: int, *, reuse_btyd: bool = False
    ) -> tuple[FeatureSet, dict[str, FloatArray]]:
        """Features as of ``day`` and every forecaster's raw forecast for the
        next ``horizon`` days. ``reuse_btyd``: the stored BTYD fit instead of
        one on ``data`` (only right for the training data as of the training
        day)."""
        feats, raw = self._baselines(data, day, horizon, reuse_btyd)
        design = self._encoder().design(feats.frame, horizon, raw["bgnbd_gg"])
        return feats, {MODEL_NAME: self._fitted_regressor().predict(design), **raw}

    def _calibration_forecasts(
        self, data: CustomerData, day: int, horizon: int
    ) -> tuple[FeatureSet, dict[str, FloatArray], FloatArray]:
        """A calibration window at ``day``: every forecaster's raw forecast
        (ours out of fold) and the spend of the next ``horizon`` days, on the
        fixed sample of customers :func:`_shape_rows`."""
        feats, raw = self._baselines(data, day, horizon, False)
        regressor = self._fitted_regressor()
        actual = window_spend(data.transactions, feats.history, horizon)
        folds = (
            regressor.folds_of(feats.history.codes)
            if regressor.n_folds > 1
            else np.zeros(feats.history.n_customers, dtype=np.int64)
        )
        rows = _shape_rows(feats, actual, folds)
        raw = {name: values[rows] for name, values in raw.items()}
        frame, codes = feats.frame.iloc[rows], feats.history.codes[rows]
        design = self._encoder().design(frame, horizon, raw["bgnbd_gg"])
        if regressor.n_folds > 1:
            ours = regressor.predict_out_of_fold(design, codes)
        else:
            ours = regressor.predict(design)
        return feats, {MODEL_NAME: ours, **raw}, actual[rows]

    def _fitted_regressor(self) -> CLTVRegressor:
        if self.regressor_ is None:
            raise InputError("the CLTV model is not fitted; call fit() first")
        return self.regressor_

    def _baselines(
        self, data: CustomerData, day: int, horizon: int, reuse_btyd: bool
    ) -> tuple[FeatureSet, dict[str, FloatArray]]:
        """Features as of ``day`` and the baselines' raw forecasts."""
        self._fitted_regressor()  # refused before any work
        reuse = self.btyd_ if reuse_btyd else None
        feats = build_features(data, day, self._feature_window(horizon), btyd=reuse)
        return feats, baseline_forecasts(feats.history, feats.btyd, horizon)

    # -- forecast / score ---------------------------------------------------
    def _blend(self) -> Blend:
        """The fitted blend (ours alone for a model stored before blends)."""
        return getattr(self, "blend_", None) or Blend(((MODEL_NAME, 1.0),))

    def _encoder(self) -> FeatureEncoder:
        if self.encoder_ is None:
            raise InputError("the CLTV model is not fitted; call fit() first")
        return self.encoder_

    def _fitted(self) -> tuple[CLTVRegressor, int, int]:
        if (
            self.regressor_ is None
            or self.as_of_day_ is None
            or self.horizon_days_ is None
        ):
            raise InputError("the CLTV model is not fitted; call fit() first")
        return self.regressor_, self.as_of_day_, self.horizon_days_

    def _check_inputs(self, data: CustomerData) -> None:
        """The tables given are the ones the model was trained with; a
        mismatch names the table given, or the transactions scored without
        it (it named no file)."""
        for name, used, given in (
            ("profiles", self.uses_profiles_, data.profiles),
            ("browsing", self.uses_browsing_, data.browsing),
        ):
            if used != (given is not None):
                table = "a profile table" if name == "profiles" else "a browsing table"
                file = data.transactions.source if given is None else given.source
                raise InputError(
                    "the model was trained "
                    + ("with" if used else "without")
                    + f" {table}; score with the same inputs",
                    file=file or None,
                    field=name,
                )
        self._check_profile_columns(data)
        used_quantity = getattr(self, "uses_quantity_", False)
        if used_quantity != (data.transactions.quantity is not None):
            raise InputError(
                "the model was trained "
                + ("with" if used_quantity else "without")
                + " a quantity column in the transactions; score with the same inputs",
                file=data.transactions.source or None,
                field="quantity",
            )

    def _check_profile_columns(self, data: CustomerData) -> None:
        """The profile columns the model learned from are in the given table
        (a table without ``signup_date`` once failed with a KeyError)."""
        if data.profiles is None or self.encoder_ is None:
            return
        learned = set(self.encoder_.features)
        feature = {"signup_date": "signup_tenure_days"}
        missing = [
            name
            for name in PROFILE_COLUMNS[1:]
            if feature.get(name, name) in learned and name not in data.profiles.columns
        ]
        if missing:
            raise InputError(
                f"missing column (the model learned from {', '.join(missing)}; "
                "score with the same inputs)",
                file=data.profiles.source or None,
                field=missing[0],
            )

    def forecast(
        self,
        data: CustomerData,
        as_of_day: int | None = None,
        horizon_days: int | None = None,
    ) -> Forecasts:
        """Every forecaster, raw, with its shape and the level, for every
        customer who purchased on or before ``as_of_day`` (default: the
        training as-of; data after it is not read)."""
        _, fit_day, fit_horizon = self._fitted()
        day = fit_day if as_of_day is None else as_of_day
        horizon = fit_horizon if horizon_days is None else horizon_days
        self._check_inputs(data)
        training = day == fit_day and self._fitted_on(data)
        feats, raw = self._raw_forecasts(data, day, horizon, reuse_btyd=training)
        stored = self.level_ if training and horizon == fit_horizon else None
        return Forecasts(
            history=feats.history,
            horizon_days=horizon,
            raw=raw,
            shapes=self.shapes_,
            level=stored or self._level(data, day, horizon, raw),
            p_active=feats.btyd.p_any(feats.history, horizon),
            blend=self._blend(),
            btyd=feats.btyd,
        )

    def new_customer_spend(
        self, data: CustomerData, forecasts: Forecasts, horizon_days: int | None = None
    ) -> float:
        """The published forecast of a customer acquired on the as-of date.

        A shopper with no history at checkout is about to become one: a
        first purchase today and nothing before (BG/NBD's ``x = t_x = T =
        0``) of the population's typical first order (the median first
        purchase day's amount of the customers as of the day,
        :func:`~tierflow.cltv.features.typical_first_order`). Its features
        come from :func:`~tierflow.cltv.features.newcomer_features` with the
        BTYD fit behind ``forecasts``; every forecaster's raw forecast of it
        is then calibrated by the shape and level factor the scored
        customers got (:meth:`Forecasts.published_at`), so it is published
        on the scores' own scale, and adding it changes no score.

        Parameters
        ----------
        data
            The customers ``forecasts`` were made for.
        forecasts
            :meth:`forecast`'s, for the as-of date and horizon wanted.
        horizon_days
            Another horizon: the forecast for ``forecasts.horizon_days``
            carried along the newcomer's BG/NBD time profile, as
            :meth:`score` carries the customers'.

        Returns
        -------
        float
            Predicted spend over ``horizon_days`` (default
            ``forecasts.horizon_days``).
        """
        btyd = forecasts.btyd
        if btyd is None:
            raise InputError("the forecasts carry no BTYD fit")
        horizon = forecasts.horizon_days
        feats = newcomer_features(
            data, forecasts.history, self._feature_window(horizon), btyd
        )
        raw = baseline_forecasts(feats.history, btyd, horizon)
        design = self._encoder().design(feats.frame, horizon, raw["bgnbd_gg"])
        raw[MODEL_NAME] = self._fitted_regressor().predict(design)
        with np.errstate(invalid="ignore", over="ignore"):
            spend = forecasts.published_at(raw)[0]
        if horizon_days is not None and horizon_days != horizon:
            spend = spend * time_profile(btyd, feats.history, horizon_days, horizon)[0]
        return float(spend)

    def _fitted_on(self, data: CustomerData) -> bool:
        """Whether ``data`` is the data the model was fitted on: the stored
        BTYD fit and level describe that data alone (another customer base at
        the training as-of once got the training base's total)."""
        fitted = getattr(self, "data_fingerprint_", None)  # None: stored before
        return fitted is not None and fitted == data.fingerprint()

    def _level(
        self, data: CustomerData, day: int, horizon: int, raw: dict[str, FloatArray]
    ) -> Level:
        """The level of ``data`` as of ``day`` for ``horizon``."""
        return fit_level(
            self.config.level,
            data.transactions,
            day,
            horizon,
            btyd_total=float(raw["bgnbd_gg"].sum()),
            learned_total=float(raw[MODEL_NAME].sum()),
        )

    def score(
        self,
        data: CustomerData,
        as_of_day: int | None = None,
        horizon_days: int | None = None,
    ) -> Scores:
        """Predicted spend over the horizon, P(active) and segment per customer.

        Scores every customer who purchased on or before ``as_of_day`` (default:
        the training as-of). The BTYD fit and the level are reused for the
        training data on the training as-of and refitted on the history up to
        the day for any other day or data.

        The shape and the level are fitted for the model's horizon ``H``. At
        another horizon ``h`` each customer's published forecast for ``H`` is
        carried along their own BG/NBD time profile (:func:`time_profile`),
        which grows with ``h`` for every customer: a shape and level made
        anew for ``h`` moved each customer's share of the total with the
        horizon, and 2,943 of CDNOW's 23,570 customers got less spend over
        ten years than over five (a model of 180 days as of 1997-09-30; QA,
        2026-12-07).
        """
        _, fit_day, fit_horizon = self._fitted()
        horizon = fit_horizon if horizon_days is None else horizon_days
        forecasts = self.forecast(data, as_of_day, fit_horizon)
        history, btyd = forecasts.history, forecasts.btyd
        with np.errstate(invalid="ignore", over="ignore"):
            predicted = forecasts.published()
        baseline, p_active = forecasts.raw["bgnbd_gg"], forecasts.p_active
        if horizon != fit_horizon and btyd is not None:
            predicted = predicted * time_profile(btyd, history, horizon, fit_horizon)
            baseline = btyd.expected_spend(history, horizon)
            p_active = btyd.p_any(history, horizon)
        if not np.isfinite(predicted).all():  # a model fitted before the check
            raise InputError(
                "the model's forecasts are not finite (fitted on spend too "
                "uneven to learn from: train it again)",
                file=data.transactions.source or None,
                field="amount",
            )
        frame = pd.DataFrame(
            {
                "customer_id": history.customer_ids,
                "predicted_spend": predicted,
                "p_active": p_active,
                "segment": assign_segments(
                    predicted, self.config.platinum_share, self.config.gold_share
                ),
            }
        )
        prior = self.new_customer_spend(data, forecasts, horizon)
        return Scores(
            history.as_of_day,
            horizon,
            frame,
            baseline,
            trained_as_of_day=fit_day,
            new_customer_spend=prior if math.isfinite(prior) else None,
            level=forecasts.level,
        )

    def _feature_window(self, horizon: int) -> int:
        """The window the BTYD features describe: as in training (``rolling``),
        or the horizon itself, matching the window-length feature (``to_as_of``).
        """
        return self.config.window_days if self.config.plan == "rolling" else horizon

    # -- description --------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for ``metadata.json``."""
        regressor, fit_day, horizon = self._fitted()
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
            "shapes": {name: shape.as_dict() for name, shape in self.shapes_.items()},
            "blend": self._blend().as_dict(),
            "level": None if self.level_ is None else self.level_.as_dict(),
            "btyd": {
                "bgnbd": bg.params(),
                "bgnbd_dropout": bg.dropout,
                "bgnbd_rate": bg.rate,
                "gamma_gamma": gg.params(),
            },
            "regressor": {
                k: v for k, v in regressor.get_params().items() if _jsonable(v)
            },
        }


def _as_of_btyd(
    log: TransactionLog, as_of_day: int, horizon_days: int
) -> tuple[BtydFit, FloatArray]:
    """The BTYD fit as of ``as_of_day`` and its spend forecast for the
    horizon, refused where scoring would refuse it
    (:func:`~tierflow.cltv.features.check_btyd_forecasts`)."""
    history = customer_history(log, as_of_day)
    fit = fit_btyd(history)
    spend = fit.expected_spend(history, horizon_days)
    check_btyd_forecasts(spend, fit, log, as_of_day)
    return fit, spend


def time_profile(
    btyd: BtydFit, history: CustomerHistory, horizon_days: int, base_days: int
) -> FloatArray:
    """Each customer's expected BG/NBD purchases over ``horizon_days`` as a
    multiple of those over ``base_days``: how a forecast for ``base_days``
    grows (or shrinks) with the horizon, customer by customer. It increases
    with ``horizon_days`` for every customer (expected purchases accumulate),
    and is 1 where none are expected over ``base_days``."""
    at = btyd.expected_purchases(history, float(horizon_days))
    base = btyd.expected_purchases(history, float(base_days))
    ok = base > 0.0
    return np.where(ok, at / np.where(ok, base, 1.0), 1.0)


def _checked_as_of_btyd(
    log: TransactionLog, as_of_day: int, horizon_days: int
) -> tuple[BtydFit, FloatArray]:
    """:func:`_as_of_btyd` before any training cut-off is fitted: a fit the
    as-of date refuses is said at once (it was said after fitting every
    cut-off, minutes on a large log).

    A fit that cannot be made at all (Gamma-Gamma on fewer than three repeat
    customers) is said too, naming the as-of date: it was taken for a
    history too short to fit, then either every cut-off failed as well and
    training said "too little history", the log a year long, or the level's
    fit of this same day failed once the cut-offs were trained.
    """
    try:
        return _as_of_btyd(log, as_of_day, horizon_days)
    except DegenerateFit:
        raise
    except InputError as exc:
        raise as_of_error(
            "BG/NBD + Gamma-Gamma, which the model builds on, cannot be "
            f"fitted on the history up to the as-of date ({exc.reason})",
            log,
            as_of_day,
        ) from None


def _require_learnable(log: TransactionLog, as_of_day: int) -> None:
    """Raise, naming the real cause, when the history up to ``as_of_day``
    holds nothing to learn from; each case otherwise ends in the same
    'too little history' after every cut-off has failed to fit.

    Raises
    ------
    InputError
        No purchase by then (:func:`require_purchases`), no positive amount,
        a single customer, or no customer who bought on two days.
    """
    require_purchases(log, as_of_day)
    known = log.day <= as_of_day
    if not (known & (log.amount > 0)).any():
        raise as_of_error(
            "no customer has a positive purchase on or before the as-of date "
            "(every amount is zero or negative): nothing to learn spend from",
            log,
            as_of_day,
        )
    buyers = np.unique(log.customer[known & (log.amount >= 0)])
    if len(buyers) == 1:
        raise as_of_error(
            f"only one customer ({log.customer_ids[buyers[0]]!r}) purchased on or "
            "before the as-of date: the model learns from differences between "
            "customers",
            log,
            as_of_day,
        )
    paid = known & (log.amount > 0)
    customer, day = log.customer[paid], log.day[paid]  # sorted by both
    if not np.any((customer[1:] == customer[:-1]) & (day[1:] != day[:-1])):
        # said "too little history ... at any training cut-off", the log a year long
        raise as_of_error(
            "no customer bought on two days on or before the as-of date: "
            "BG/NBD + Gamma-Gamma, which the model builds on, learn from "
            "repeat purchases",
            log,
            as_of_day,
        )


#: Rows checked for a diverged fit: those of the largest targets (where a
#: boosting step overshoots) and as many drawn at random.
_DIVERGENCE_ROWS = 1000
#: How far (natural log) past the largest training rate a training row's
#: fitted rate may go before the fit counts as diverged (a factor of 1,000).
_OVERSHOOT = float(np.log(1000.0))
#: The largest log whose exp is a finite double.
_LOG_FLOAT_MAX = float(np.log(np.finfo(np.float64).max))


def _require_finite_fit(
    regressor: CLTVRegressor, X: FloatArray, y: FloatArray, *, source: str | None
) -> None:
    """Refuse a fit whose forecasts are not finite: a few purchases many
    orders of magnitude above the rest (1e8 among tens of dollars) make the
    Poisson boosting's steps overshoot until ``exp`` overflows, and every
    customer was then scored 0 or NaN and called platinum, exit 0."""
    n = len(y)
    k = min(n, _DIVERGENCE_ROWS)
    rows = np.union1d(
        np.argpartition(y, n - k)[n - k :],
        np.random.default_rng(0).choice(n, size=k, replace=False),
    )
    with np.errstate(over="ignore", invalid="ignore"):
        logs = regressor.predict_log_rate(X[rows])
    # the forecasts are capped at the largest training rate: a fit whose
    # steps overshot far past it (or to inf) is refused, not served capped
    top = getattr(regressor, "log_rate_max_", np.inf) + _OVERSHOOT
    if np.isfinite(logs).all() and (logs <= top).all():
        return
    if not (logs < _LOG_FLOAT_MAX).all():
        positive = y[y > 0]
        raise InputError(
            "the model cannot learn from spend this uneven: its forecasts overflow "
            f"(the largest window's spend is {float(positive.max()):.6g}, "
            f"{float(positive.max() / np.median(positive)):.3g} times the median "
            "of those that spent); check the largest amounts",
            file=source,
            field="amount",
        )
    # finite, yet far past every training window's rate: seen on a log with
    # months of no purchases, where BG/NBD (which the model corrects)
    # forecasts near 0 for most customers; its raw forecasts reached 1e173
    factor = float(np.exp(np.max(logs) - (top - _OVERSHOOT)))
    raise InputError(
        "the model cannot learn from this log: its fitted corrections of "
        f"BG/NBD overshoot the largest a training window showed {factor:.3g} "
        "times (months with no purchase put BG/NBD's forecasts near 0 for most "
        "customers); check the log for gaps",
        file=source,
    )


def _shape_rows(
    feats: FeatureSet, actual: FloatArray, folds: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The customers a calibration window is fitted on: all, or a fixed-seed
    sample of :data:`MAX_SHAPE_ROWS` (the same for every forecaster), drawn
    by the customers' histories and spend, and among customers alike in
    those by the rest of their features and by ``folds`` (the fold whose
    members forecast each out of fold, dealt by content: alike to the
    cut-off and in the window's total, two customers may have been dealt
    to different folds by when in the window they bought), not by their
    ids."""
    history = feats.history
    if history.n_customers <= MAX_SHAPE_ROWS:  # no sample: no tie-break to build
        return np.arange(history.n_customers, dtype=np.int64)
    return content_sample(
        (history.x, history.t_x, history.T, history.repeat_mean, actual),
        MAX_SHAPE_ROWS,
        tiebreak=[*content_columns(feats.frame, actual), folds],
    )


def _jsonable(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, int | str | bool | list)
