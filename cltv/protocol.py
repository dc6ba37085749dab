"""Rolling-origin evaluation: several as-of dates, each scored on its own holdout.

A split trains, calibrates and selects on the data up to its as-of date only
(:func:`~tierflow.cltv.evaluate.evaluate_model` cuts the data there) and is
scored on the days after it. Every split runs several seeds; our model's
worst seed is what counts, against the best baseline row of each metric.
The protocol and its results: ``docs/cltv.md``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tierflow.cltv.evaluate import (
    BASELINE_ROWS,
    BIAS_BASELINE,
    MODEL_NAME,
    Evaluation,
    best_of,
    evaluate_model,
    metrics_json,
    target_checks,
)
from tierflow.cltv.features import CustomerData, purchasers_by, spend_between
from tierflow.cltv.model import CLTVConfig
from tierflow.data.errors import InputError
from tierflow.data.transactions import TransactionLog, day_to_date, stray_text

Metrics = dict[str, float]
#: History before the first as-of date that the protocol asks of any log,
#: its built-in data sets' too: half a year, so that the first split trains
#: on several windows and the calibration on some (``cltv evaluate`` alone
#: needs 60 days, ``CLTVConfig.min_training_days``: one training window).
PROTOCOL_MIN_HISTORY_DAYS = 180
#: Metrics summarized over seeds (``n_customers`` is the same for all).
SUMMARIZED = (
    "mae",
    "rmse",
    "spearman",
    "top10_capture",
    "top20_capture",
    "gains_area_30",
    "bias_pct",
)


@dataclass(frozen=True, slots=True)
class Split:
    """Train on the data up to ``as_of_day``; score ``(as_of, as_of + holdout]``."""

    name: str
    as_of_day: int
    holdout_days: int

    @property
    def as_of(self) -> str:
        return str(day_to_date(self.as_of_day).date())

    @property
    def holdout_end(self) -> str:
        return str(day_to_date(self.as_of_day + self.holdout_days).date())


def rolling_origins(
    first_day: int,
    last_day: int,
    *,
    holdout_days: int,
    step_days: int,
    n_origins: int,
    min_history_days: int,
) -> list[Split]:
    """As-of dates every ``step_days`` back from the last complete holdout,
    oldest first: the latest holdout ends on ``last_day``, no as-of date has
    less than ``min_history_days`` of history, at most ``n_origins`` of them.
    """
    if min(holdout_days, step_days, n_origins) < 1:
        raise InputError(
            "holdout_days, step_days and n_origins must be >= 1",
            value=(holdout_days, step_days, n_origins),
        )
    splits = []
    for k in range(n_origins):
        as_of = last_day - holdout_days - k * step_days
        if as_of - first_day < min_history_days:
            break
        splits.append(Split(f"rolling-{k + 1}", as_of, holdout_days))
    return splits[::-1]


def log_origins(
    log: TransactionLog,
    *,
    n_origins: int,
    holdout_days: int,
    min_history_days: int = PROTOCOL_MIN_HISTORY_DAYS,
) -> list[Split]:
    """``n_origins`` as-of dates one holdout apart, the latest one holdout
    before where the log's data ends (:attr:`TransactionLog.data_last_day`:
    a stray row years on put every holdout after the data, empty), oldest
    first: every holdout is complete and starts the day after its own as-of
    date, and the first as-of date has at least ``min_history_days`` of
    history.

    Raises
    ------
    InputError
        Naming the log's file, ``--origins`` and the days the log spans and
        would need, when it is too short for ``n_origins``; or naming the
        latest split whose holdout holds no transaction (a gap in the log).
    """
    if min(n_origins, holdout_days) < 1:
        raise InputError(
            "n_origins and holdout_days must be >= 1",
            value=(n_origins, holdout_days),
        )
    end = log.data_last_day
    have = end - log.first_day
    need = min_history_days + n_origins * holdout_days
    if have < need:
        fit = max(0, (have - min_history_days) // holdout_days)
        hint = (
            f"at most {fit} fit{'s' if fit == 1 else ''} (--origins {fit}, or a "
            "shorter --holdout-days)"
            if fit
            else "none fits (a shorter --holdout-days)"
        )
        span = f"{day_to_date(log.first_day).date()} to {day_to_date(end).date()}"
        if log.stray_rows:
            span += f"; {stray_text(log.stray_rows)}"
        raise InputError(
            f"the log spans {have} days ({span}): {n_origins} origin"
            f"{'s' if n_origins > 1 else ''} one {holdout_days}-day holdout apart "
            f"need {need}, {min_history_days} days of history before the first "
            f"as-of date (the protocol's minimum, its built-in data sets' too) "
            f"and {n_origins} holdout{'s' if n_origins > 1 else ''} after it; "
            f"{hint}",
            file=log.source or None,
            field="--origins",
            value=n_origins,
        )
    splits = rolling_origins(
        log.first_day,
        end,
        holdout_days=holdout_days,
        step_days=holdout_days,
        n_origins=n_origins,
        min_history_days=min_history_days,
    )
    # a gap in the log can empty a holdout, or leave only new customers (or
    # returns) in it: said before any split trains (evaluate_forecasts would
    # refuse that split after the older ones had trained and been written)
    empty: list[tuple[int, str]] = []
    for k, s in enumerate(splits):
        if not (
            (log.day > s.as_of_day) & (log.day <= s.as_of_day + s.holdout_days)
        ).any():
            empty.append((k, "holds no transactions"))
        elif (
            spend_between(
                log,
                purchasers_by(log, s.as_of_day),
                s.as_of_day,
                s.as_of_day + s.holdout_days,
            ).sum()
            <= 0
        ):
            empty.append(
                (
                    k,
                    "holds no spend by a customer known on its as-of date "
                    "(only new customers or returns)",
                )
            )
    if empty:
        k, what = empty[-1]
        split = splits[k]
        fit = len(splits) - k - 1
        raise InputError(
            f"split {split.name}'s holdout ({day_to_date(split.as_of_day + 1).date()} "
            f"to {split.holdout_end}) {what} to evaluate against; "
            + (
                f"the latest {fit} fit (--origins {fit}, or another --holdout-days)"
                if fit
                else "none fits (another --holdout-days)"
            ),
            file=log.source or None,
            field="--origins",
            value=n_origins,
        )
    return splits


def stray_origins_note(log: TransactionLog) -> str | None:
    """The note that :func:`log_origins` placed the latest holdout where the
    log's data ends, before its stray tail (said once, not per split);
    ``None`` without a stray tail."""
    if not log.stray_rows:
        return None
    where = f"{log.source}: " if log.source else ""
    return (
        f"{where}the latest holdout ends where the log's data does, on "
        f"{day_to_date(log.data_last_day).date()}, not on its latest row's "
        f"{day_to_date(log.last_day).date()} ({stray_text(log.stray_rows)})"
    )


def worst_seed(runs: Sequence[Metrics]) -> Metrics:
    """Per metric, the worst of the seeds: the lowest ranking metric, the
    highest error, the largest ``|bias|``."""
    return best_of(runs, worst=True)


@dataclass(frozen=True, slots=True)
class SeedRun:
    seed: int
    seconds: float
    metrics: dict[str, Metrics]


@dataclass(frozen=True, slots=True)
class SplitResult:
    """Every seed of one split on one data set."""

    dataset: str
    split: Split
    runs: tuple[SeedRun, ...]
    calibration: dict[str, object] = field(default_factory=dict)
    #: Why the targets are not judged on this holdout (``Evaluation.unjudged``:
    #: a net spend returns nearly cancel), or ``None``.
    unjudged: str | None = None

    def rows(self) -> list[str]:
        return list(self.runs[0].metrics)

    def worst(self, row: str = MODEL_NAME) -> Metrics:
        """``row``'s worst seed per metric."""
        return worst_seed([r.metrics[row] for r in self.runs])

    def best(self, row: str) -> Metrics:
        """``row``'s best seed per metric (the baselines' side of a check)."""
        return best_of([r.metrics[row] for r in self.runs])

    def mean(self, row: str) -> Metrics:
        return {
            k: statistics.fmean(r.metrics[row][k] for r in self.runs)
            for k in SUMMARIZED
        }

    def best_baseline(self) -> Metrics:
        """Per metric, the best baseline row (raw or calibrated) at its best seed."""
        return best_of([self.best(name) for name in BASELINE_ROWS])

    def checks(self, *, strict: bool) -> dict[str, bool]:
        """The targets: our worst seed against the best baseline row.

        ``strict`` (the standard split): the ranking metrics and MAE must be
        better, and ``|bias|`` no worse than BG/NBD's; otherwise top-10 % and
        top-20 % capture at least as good and MAE no worse.
        """
        bgnbd = self.best(BIAS_BASELINE)["bias_pct"]
        return target_checks(self.worst(), self.best_baseline(), bgnbd, strict=strict)

    def to_json(self, *, strict: bool) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "split": self.split.name,
            "as_of": self.split.as_of,
            "holdout_days": self.split.holdout_days,
            "holdout_end": self.split.holdout_end,
            "seeds": [
                {
                    "seed": r.seed,
                    "seconds": r.seconds,
                    "models": _models_json(r.metrics),
                }
                for r in self.runs
            ],
            "worst_seed": metrics_json(self.worst()),
            "mean": _models_json({row: self.mean(row) for row in self.rows()}),
            "best_baseline": metrics_json(self.best_baseline()),
            "calibration": self.calibration,
            **(
                {"targets": self.checks(strict=strict)}
                if self.unjudged is None
                else {"targets_not_judged": self.unjudged}
            ),
        }


def _models_json(by_model: dict[str, Metrics]) -> dict[str, object]:
    """Each model's metrics as JSON has them (NaN ``null``: :func:`metrics_json`)."""
    return {name: metrics_json(m) for name, m in by_model.items()}


def run_split(
    data: CustomerData,
    dataset: str,
    split: Split,
    seeds: Sequence[int],
    config: CLTVConfig | None = None,
    *,
    on_seed: Callable[[int, Evaluation, float], None] | None = None,
) -> SplitResult:
    """Train and score ``split`` once per seed (the model's ``random_state``)."""
    if not seeds:
        raise InputError("need at least one seed", field="seeds")
    base = config or CLTVConfig()
    runs = []
    calibration: dict[str, object] = {}
    unjudged = None
    for seed in seeds:
        start = time.perf_counter()
        evaluation, _ = evaluate_model(
            data,
            split.as_of_day,
            split.holdout_days,
            base.with_params(random_state=seed),
        )
        seconds = time.perf_counter() - start
        runs.append(SeedRun(seed, seconds, evaluation.metrics))
        calibration = calibration or dict(evaluation.calibration or {})
        unjudged = unjudged or evaluation.unjudged()  # the data's, not the seed's
        if on_seed is not None:
            on_seed(seed, evaluation, seconds)
    return SplitResult(dataset, split, tuple(runs), calibration, unjudged)
