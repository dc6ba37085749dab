"""The CLTV model's configuration and the training windows it implies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from tierflow.cltv.level import LEVELS, LevelChoice
from tierflow.data.errors import InputError
from tierflow.data.limits import require_number
from tierflow.data.transactions import day_to_date

#: Bounds of the optional counts (``None``: automatic, or no sampling).
MAX_JOBS = 1024
MAX_CUSTOMERS_PER_CUTOFF = 1_000_000_000

Plan = Literal["rolling", "to_as_of"]
FeatureChoice = Literal["all", "compact"]
Calibration = Literal["mae", "mean"]


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
    n_folds
        Cross-fitting folds of the regressor (by customer; each fold a bag of
        ``n_estimators`` members): they give the out-of-fold forecasts of
        the training windows that the calibration is fitted on.
    level
        The total the forecasts are rescaled to (:mod:`tierflow.cltv.level`):
        ``seasonal``, the BTYD aggregate corrected by the same calendar window
        in earlier years where the history holds it; ``baseline``, the BTYD
        aggregate; ``learned``, the regressor's own total.
    calibration
        ``mae``: the shape (power and soft hurdle) fitted for absolute error on
        the training windows, for our model and every baseline alike
        (:mod:`tierflow.cltv.calibration`); ``mean``: conditional means.
    blend
        Publish the blend of the calibrated forecasts (ours and the
        baselines') with the least absolute error on the calibration windows
        (:func:`~tierflow.cltv.calibration.fit_blend`); ``False`` (the
        default): ours alone. Opt-in: on the synthetic purchase history the
        windows give BG/NBD all the weight, trading our ranking for its MAE
        (``docs/cltv.md``).
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
    n_estimators: int = 3
    n_folds: int = 2
    subsample: float = 0.8
    max_iter: int = 75
    learning_rate: float = 0.05
    max_leaf_nodes: int = 7
    min_samples_leaf: int = 400
    max_features: float = 0.7
    l2_regularization: float = 0.0
    n_jobs: int | None = None
    level: LevelChoice = "seasonal"
    calibration: Calibration = "mae"
    blend: bool = False
    platinum_share: float = 0.10
    gold_share: float = 0.30
    random_state: int = 0

    def __post_init__(self) -> None:
        positive = (
            "window_days",
            "n_cutoffs",
            "cutoff_step_days",
            "n_estimators",
            "n_folds",
            "max_iter",
            "min_samples_leaf",
        )
        for name in positive:  # int(nan) was a ValueError traceback
            require_number(getattr(self, name), name, 1, 100_000, integer=True)
        require_number(
            self.min_history_days, "min_history_days", 0, 100_000, integer=True
        )
        require_number(self.max_leaf_nodes, "max_leaf_nodes", 2, 100_000, integer=True)
        require_number(self.random_state, "random_state", 0, 2**32 - 1, integer=True)
        for name in ("subsample", "max_features"):
            require_number(getattr(self, name), name, 0, 1, low_open=True)
        require_number(self.learning_rate, "learning_rate", 0, 10, low_open=True)
        require_number(self.l2_regularization, "l2_regularization", 0, 1e6)
        for name in ("platinum_share", "gold_share"):  # NaN passed min() and sum()
            require_number(getattr(self, name), name, 0, 1)
        # read back from a champion's metadata.json unchecked: n_jobs "x" and
        # max_customers_per_cutoff -3 were tracebacks in the fit, 0 "no
        # purchases in any training window" of the log, and blend "yes" or
        # null was read as true or false without a word
        _optional_count(self.n_jobs, "n_jobs", MAX_JOBS, "null (automatic)")
        _optional_count(
            self.max_customers_per_cutoff,
            "max_customers_per_cutoff",
            MAX_CUSTOMERS_PER_CUTOFF,
            "null (no sampling)",
        )
        if not isinstance(self.blend, bool):
            raise InputError("must be true or false", field="blend", value=self.blend)
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
        if self.level not in LEVELS:
            raise InputError(
                "must be 'seasonal', 'baseline' or 'learned'",
                field="level",
                value=self.level,
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

    @property
    def min_training_days(self) -> int:
        """Days from the first purchase to the as-of date that training needs:
        ``min_history_days`` before the latest cut-off, then its
        ``window_days`` target window (:func:`training_windows`)."""
        return self.min_history_days + self.window_days


def _optional_count(value: object, name: str, high: int, none: str) -> None:
    """``value`` is ``None`` or an integer in ``[1, high]`` (``none`` says
    what ``None`` means), else an :class:`InputError` naming ``name``."""
    if value is None:
        return
    try:
        require_number(value, name, 1, high, integer=True)
    except InputError as exc:
        raise InputError(
            f"must be {none} or {exc.reason.removeprefix('must be ')}",
            field=name,
            value=value,
        ) from None


def training_windows(
    config: CLTVConfig, as_of_day: int, first_day: int, *, file: str | None = None
) -> list[tuple[int, int]]:
    """The ``(cutoff_day, window_days)`` pairs to train on, latest first.

    Every window ends on or before ``as_of_day``; cut-offs earlier than
    ``first_day + min_history_days`` are dropped. Raises when none is left
    (naming ``file``, the log's, when given).
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
        need = config.min_training_days
        have = (
            f"have {as_of_day - first_day}"
            if as_of_day >= first_day  # else "have -2587" said it backwards
            else f"the first purchase is on {day_to_date(first_day).date()}, after it"
        )
        raise InputError(
            f"history too short to train: need at least {need} days between the "
            f"first purchase and the as-of date, {have}",
            file=file,
            field="as_of",
            value=str(day_to_date(as_of_day).date()),
        )
    return windows


def calibration_windows(
    as_of_day: int, horizon_days: int, first_day: int, min_history_days: int
) -> list[tuple[int, int]]:
    """The ``(cutoff_day, window_days)`` pairs the calibration is fitted on:
    windows ending at ``as_of_day``, as long as the horizon where the history
    allows (``L``, ``2L/3`` and ``L/3`` days, ``L`` the longest), latest
    cut-off first; none when less than ``min_history_days`` is known."""
    longest = min(horizon_days, as_of_day - first_day - min_history_days)
    if longest < 1:
        return []
    widths = sorted({max(1, round(longest * f)) for f in (1.0, 2 / 3, 1 / 3)})
    return [(as_of_day - w, w) for w in widths]
