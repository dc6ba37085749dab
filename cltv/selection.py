"""Choosing the model's configuration by time-based cross-validation.

Only the training period is used: for fold ``j`` the pseudo as-of date is
``A − j·step`` and the fold's holdout is the ``min(H, j·step)`` days after it,
so every holdout ends on or before the real as-of date ``A``. Each candidate
is trained as of the pseudo date (with its own stacked cut-offs before it) and
scored on its holdout next to the BG/NBD + Gamma-Gamma baseline of the same
fold.

The score is what tiering asks of the model: a better top of the ranking
than the best baseline row (raw or calibrated) without a worse MAE, i.e. per
fold ``Δtop10 + Δtop20 + Δgains30 − max(0, ΔMAE / MAE_best)``, averaged
over folds. Level is not scored: every calibrated row has the same total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tierflow.cltv.evaluate import BASELINE_ROWS, MODEL_NAME, best_row, evaluate_model
from tierflow.cltv.features import CustomerData
from tierflow.cltv.model import CLTVConfig
from tierflow.data.errors import InputError
from tierflow.data.transactions import as_of_error, day_to_date

#: The ranking metrics scored (tiers are cut at the top 10 % and 30 %).
SCORED = ("top10_capture", "top20_capture", "gains_area_30")

#: The candidates tried by default: the plan, the boosting length, tree size
#: and regularization, the feature set; the first one is the shipped default.
#: It won this CV (the mean fold score) on the CDNOW training period to
#: 1997-09-30 (``make bench-cltv-cv``) and on the sample purchase history's to
#: 2025-09-30; the numbers are in ``docs/cltv.md``.
DEFAULT_CANDIDATES: dict[str, CLTVConfig] = {
    "iter75": CLTVConfig(),
    "rolling_w30": CLTVConfig(plan="rolling", n_cutoffs=3, max_iter=150),
    "iter150": CLTVConfig(max_iter=150),
    "leaves15": CLTVConfig(max_iter=150, max_leaf_nodes=15),
    "leaf100": CLTVConfig(max_iter=150, min_samples_leaf=100),
    "iter300": CLTVConfig(max_iter=300),
    "compact": CLTVConfig(max_iter=150, feature_set="compact"),
}


@dataclass(frozen=True, slots=True)
class FoldResult:
    candidate: str
    as_of: str
    holdout_days: int
    score: float
    metrics: dict[str, float]
    baseline: dict[str, float]  # the best baseline row of each metric


def fold_score(model: dict[str, float], baseline: dict[str, float]) -> float:
    """Ranking gain over ``baseline`` (the best baseline row of each metric)
    minus the relative MAE loss."""
    gain = sum(model[k] - baseline[k] for k in SCORED)
    mae_loss = max(0.0, (model["mae"] - baseline["mae"]) / baseline["mae"])
    return float(gain - mae_loss)


def cv_folds(
    as_of_day: int, horizon_days: int, n_folds: int, step_days: int
) -> list[tuple[int, int]]:
    """``(pseudo_as_of_day, holdout_days)`` pairs inside the training period."""
    return [
        (as_of_day - j * step_days, min(horizon_days, j * step_days))
        for j in range(1, n_folds + 1)
    ]


def select_config(
    data: CustomerData,
    as_of_day: int,
    horizon_days: int,
    candidates: dict[str, CLTVConfig] | None = None,
    *,
    n_folds: int = 3,
    step_days: int = 30,
) -> tuple[str, list[FoldResult]]:
    """The best candidate by mean fold score (ties: the earlier candidate)."""
    pool = candidates or DEFAULT_CANDIDATES
    results: list[FoldResult] = []
    latest: tuple[int, int, InputError] | None = None  # the first fold's failure
    for pseudo, holdout in cv_folds(as_of_day, horizon_days, n_folds, step_days):
        for name, config in pool.items():
            try:
                evaluation, _ = evaluate_model(data, pseudo, holdout, config)
            except InputError as exc:
                # not enough history before this fold for this plan, or no
                # spend in its holdout
                latest = latest or (pseudo, holdout, exc)
                continue
            ours = evaluation.metrics[MODEL_NAME]
            rival = best_row(evaluation.metrics, BASELINE_ROWS)
            date = str(day_to_date(pseudo).date())
            score = fold_score(ours, rival)
            results.append(FoldResult(name, date, holdout, score, ours, rival))
    if not results:
        # the folds' own reason: "history too short" alone was said of a
        # 2.5-year log whose 20 customers bought nothing in its last 90 days
        why = ""
        if latest is not None:
            fold_day, fold_holdout, failure = latest
            why = (
                f" (the latest, as of {day_to_date(fold_day).date()} with a "
                f"{fold_holdout}-day holdout: {failure.reason})"
            )
        raise as_of_error(
            f"time-based cross-validation could not score any fold{why}; "
            "drop --tune to use the default configuration",
            data.transactions,
            as_of_day,
        )
    means = {
        name: float(np.mean([r.score for r in results if r.candidate == name]))
        for name in pool
        if any(r.candidate == name for r in results)
    }
    best = max(means, key=lambda n: (means[n], -list(pool).index(n)))
    return best, results


def tuned_config(
    data: CustomerData,
    as_of_day: int,
    horizon_days: int,
    base: CLTVConfig | None = None,
) -> tuple[str, CLTVConfig]:
    """The CV-selected candidate, with ``base``'s seed and segment shares."""
    keep = base or CLTVConfig()
    pool = {
        name: config.with_params(
            random_state=keep.random_state,
            platinum_share=keep.platinum_share,
            gold_share=keep.gold_share,
        )
        for name, config in DEFAULT_CANDIDATES.items()
    }
    best, _ = select_config(data, as_of_day, horizon_days, pool)
    return best, pool[best]
