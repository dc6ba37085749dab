"""Stacked as-of training windows and the design matrix the regressor reads.

For each cut-off ``c`` before the as-of date ``A`` the features are computed
from the history up to ``c`` (a BG/NBD + Gamma-Gamma fit included) and the
target is the spend in ``(c, c + w]``; every window ends on or before ``A``,
so nothing after ``A`` is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.cltv.config import FeatureChoice
from tierflow.cltv.features import (
    BASE_FEATURES,
    BTYD_FEATURES,
    QUANTITY_FEATURES,
    SEASONAL_FEATURES,
    CustomerData,
    DegenerateFit,
    build_features,
    window_spend,
)
from tierflow.cltv.sampling import content_sample
from tierflow.data.errors import InputError
from tierflow.data.transactions import PROFILE_CATEGORICALS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

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
#: Most categories kept per profile column (HistGradientBoosting's bin limit).
MAX_CATEGORIES = 250


@dataclass(frozen=True, slots=True, eq=False)
class TrainingWindow:
    """The sampled customers of one cut-off: features and targets."""

    cutoff: int
    width: int
    frame: pd.DataFrame
    codes: IntArray
    target: FloatArray

    @property
    def offset(self) -> FloatArray:
        """The regressor's offset: the BTYD spend forecast for the window."""
        return np.asarray(self.frame[OFFSET_FEATURE].to_numpy(), dtype=np.float64)


def stack_windows(
    data: CustomerData,
    windows: Sequence[tuple[int, int]],
    *,
    max_customers: int | None,
    rng: np.random.Generator,
) -> list[TrainingWindow]:
    """One :class:`TrainingWindow` per ``(cutoff, width)`` with enough history
    to fit BTYD, each on at most ``max_customers`` random customers."""
    out: list[TrainingWindow] = []
    degenerate: DegenerateFit | None = None
    for cutoff, width in windows:
        try:
            feats = build_features(data, cutoff, width)
        except DegenerateFit as exc:
            degenerate = exc  # said if no cut-off is left (not "too little history")
            continue
        except InputError:
            continue  # too little history at this cut-off to fit BTYD
        target = window_spend(data.transactions, feats.history, width)
        rows = np.arange(feats.history.n_customers)
        if max_customers is not None and len(rows) > max_customers:
            rows = content_sample(
                _own_columns(feats.frame, target),
                max_customers,
                rng,
                tiebreak=label_columns(feats.frame),  # profiles alike but for these
            )
        out.append(
            TrainingWindow(
                cutoff=cutoff,
                width=width,
                frame=feats.frame.iloc[rows],
                codes=feats.history.codes[rows],
                target=target[rows],
            )
        )
        del feats  # keep only the sampled rows of each window
    if not out and degenerate is not None:
        raise DegenerateFit(
            f"at every training cut-off (as of {degenerate.value}, for one), "
            f"{degenerate.reason}",
            file=degenerate.file,
        )
    return out


def _all_missing(frames: Sequence[pd.DataFrame], column: object) -> bool:
    if str(column) in PROFILE_CATEGORICALS:
        return False
    return all(bool(frame[column].isna().all()) for frame in frames)


@dataclass(frozen=True, slots=True, eq=False)
class FeatureEncoder:
    """Feature frames as float matrices: the chosen columns, categories coded."""

    features: tuple[str, ...]
    categories: dict[str, list[str]]

    @classmethod
    def fit(
        cls, frames: Sequence[pd.DataFrame], feature_set: FeatureChoice, window: bool
    ) -> FeatureEncoder:
        """The columns of ``feature_set`` (plus the window length when
        ``window``) and the categories seen in ``frames``. A numeric column
        that is missing in every frame (say, last year's spend when the log
        is younger than a year) has nothing to teach and is left out."""
        names = [str(c) for c in frames[0].columns if not _all_missing(frames, c)]
        if feature_set == "compact":
            transactional = {
                *BASE_FEATURES,
                *QUANTITY_FEATURES,
                *BTYD_FEATURES,
                *SEASONAL_FEATURES,
            }
            names = [
                n for n in names if n in COMPACT_FEATURES or n not in transactional
            ]
        features = (*names, *((WINDOW_FEATURE,) if window else ()))
        categories: dict[str, list[str]] = {}
        for name in PROFILE_CATEGORICALS:
            if name in features:
                values = pd.concat([f[name] for f in frames])
                counts = values[values != ""].value_counts()
                categories[name] = sorted(counts.index[:MAX_CATEGORIES].astype(str))
        return cls(features, categories)

    @property
    def categorical_columns(self) -> list[int]:
        return [i for i, n in enumerate(self.features) if n in self.categories]

    def matrix(self, frame: pd.DataFrame, window_days: int) -> FloatArray:
        """The features of ``frame`` (``window_days`` as the window feature)."""
        columns = []
        for name in self.features:
            if name == WINDOW_FEATURE:
                columns.append(np.full(len(frame), float(window_days)))
            elif name in self.categories:
                vocab = {v: float(i) for i, v in enumerate(self.categories[name])}
                codes = frame[name].map(vocab).astype("float64")
                columns.append(codes.to_numpy())
            else:
                columns.append(frame[name].to_numpy(dtype=np.float64))
        return np.column_stack(columns) if columns else np.zeros((len(frame), 0))

    def design(
        self, frame: pd.DataFrame, window_days: int, offset: FloatArray
    ) -> FloatArray:
        """The regressor's input: the features, then the offset column."""
        return np.column_stack([self.matrix(frame, window_days), offset])


def _own_columns(frame: pd.DataFrame, target: FloatArray) -> list[FloatArray]:
    """A window's customers as :func:`~tierflow.cltv.sampling.content_sample`
    tells them apart: their numeric features but the BTYD fit's outputs
    (which its rounding moves in another currency unit), and the target."""
    numeric = frame.drop(columns=[c for c in BTYD_FEATURES if c in frame.columns])
    numeric = numeric.select_dtypes("number")
    return [
        *(np.asarray(numeric[c].to_numpy(), dtype=np.float64) for c in numeric.columns),
        target,
    ]


def label_columns(frame: pd.DataFrame) -> list[FloatArray]:
    """The feature frame's text columns (profile categoricals) as the rank of
    each value among the column's values: what :func:`_own_columns` leaves
    out, put in a form :func:`~tierflow.cltv.sampling.content_sample`'s
    ``tiebreak`` takes, with no part from the customers' ids."""
    labels = frame.select_dtypes(exclude="number")
    return [
        np.unique(labels[c].astype(str).to_numpy(), return_inverse=True)[1]
        .reshape(-1)
        .astype(np.float64)
        for c in labels.columns
    ]


def content_columns(frame: pd.DataFrame, target: FloatArray) -> list[FloatArray]:
    """Everything of a window's customers the model reads but the BTYD fit's
    outputs: their numeric features, their labels and ``target``."""
    return [*_own_columns(frame, target), *label_columns(frame)]
