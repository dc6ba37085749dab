"""Holdout evaluation of CLTV forecasts: our model and the baselines, same run.

Metric definitions (the CLI contract; every customer who purchased on or
before the as-of date counts, zeros included):

* ``mae``, ``rmse``: of predicted vs actual net spend in the holdout;
* ``spearman``: rank correlation (average ranks for ties);
* ``top10_capture``, ``top20_capture``: share (0..1) of the total actual
  holdout spend held by the top 10 % / 20 % of customers by prediction; a
  group of tied predictions straddling the cut counts pro rata;
* ``bias_pct``: ``(Σ predicted − Σ actual) / Σ actual`` in percent;
* ``n_customers``.

Baselines: ``bgnbd_gg``, BG/NBD × Gamma-Gamma expected spend (the field's
standard), and ``naive_run_rate``, each customer's repeat spend so far (all
spend after the first purchase day) per day of age, times the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import spearmanr

from tierflow.cltv.features import (
    CustomerData,
    CustomerHistory,
    customer_history,
    window_spend,
)
from tierflow.cltv.model import CLTVConfig, CLTVModel
from tierflow.data.errors import InputError
from tierflow.data.transactions import day_to_date

FloatArray = NDArray[np.float64]

METRICS = (
    "mae",
    "rmse",
    "spearman",
    "top10_capture",
    "top20_capture",
    "bias_pct",
    "n_customers",
)
#: Row names of the evaluation table, our model first.
MODEL_NAME = "cltv"
BASELINES = ("bgnbd_gg", "naive_run_rate")


def top_share_capture(predicted: ArrayLike, actual: ArrayLike, share: float) -> float:
    """Share of total actual spend held by the top ``share`` of customers by
    prediction; a tied group straddling the cut contributes pro rata."""
    pred = np.asarray(predicted, dtype=np.float64)
    act = np.asarray(actual, dtype=np.float64)
    total = act.sum()
    if len(pred) == 0 or total <= 0:
        return float("nan")
    order = np.argsort(-pred, kind="stable")
    p, a = pred[order], act[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    ends = np.r_[starts[1:], len(p)]
    sums = np.add.reduceat(a, starts)
    sizes = ends - starts
    take = np.clip(share * len(p) - starts, 0.0, sizes)
    return float(np.sum(sums * take / sizes) / total)


def holdout_metrics(predicted: ArrayLike, actual: ArrayLike) -> dict[str, float]:
    """The contract's metrics for one forecast (see the module docstring)."""
    pred = np.asarray(predicted, dtype=np.float64)
    act = np.asarray(actual, dtype=np.float64)
    if pred.shape != act.shape:
        raise InputError("predicted and actual differ in length")
    total = act.sum()
    if len(pred) > 1 and np.ptp(pred) > 0 and np.ptp(act) > 0:
        rho = float(spearmanr(pred, act).statistic)
    else:
        rho = float("nan")
    return {
        "mae": float(np.mean(np.abs(pred - act))) if len(act) else float("nan"),
        "rmse": float(np.sqrt(np.mean((pred - act) ** 2)))
        if len(act)
        else float("nan"),
        "spearman": rho,
        "top10_capture": top_share_capture(pred, act, 0.10),
        "top20_capture": top_share_capture(pred, act, 0.20),
        "bias_pct": float(100.0 * (pred.sum() - total) / total)
        if total
        else float("nan"),
        "n_customers": float(len(act)),
    }


def naive_run_rate(history: CustomerHistory, horizon_days: int) -> FloatArray:
    """Repeat spend to date per day since the first purchase, times the horizon."""
    frame = history.frame
    repeat_spend = frame["total_spend"].to_numpy() - frame["first_value"].to_numpy()
    age = frame["tenure_days"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(age > 0, repeat_spend / age, 0.0)
    return np.asarray(np.maximum(rate, 0.0) * horizon_days, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Metrics per model and the per-customer forecasts behind them."""

    as_of_day: int
    holdout_days: int
    metrics: dict[str, dict[str, float]]
    predictions: pd.DataFrame  # customer_id, actual_spend, one column per model
    complete: bool  # the log reaches the end of the holdout window

    def to_json(self) -> dict[str, object]:
        return {
            "as_of": str(day_to_date(self.as_of_day).date()),
            "holdout_days": self.holdout_days,
            "holdout_complete": self.complete,
            "models": {
                name: {k: _json_number(k, v) for k, v in row.items()}
                for name, row in self.metrics.items()
            },
        }

    def table(self) -> str:
        """A fixed-width text table, one row per model."""
        head = f"{'model':<16}{'mae':>9}{'rmse':>9}{'spearman':>10}"
        head += f"{'top10':>8}{'top20':>8}{'bias%':>8}{'n':>9}"
        lines = [head]
        for name, m in self.metrics.items():
            lines.append(
                f"{name:<16}{m['mae']:>9.2f}{m['rmse']:>9.2f}{m['spearman']:>10.4f}"
                f"{100 * m['top10_capture']:>7.1f}%{100 * m['top20_capture']:>7.1f}%"
                f"{m['bias_pct']:>+8.1f}{int(m['n_customers']):>9d}"
            )
        return "\n".join(lines)


def _json_number(key: str, value: float) -> float | int | None:
    if key == "n_customers":
        return int(value)
    return value if math.isfinite(value) else None


def evaluate_forecasts(
    data: CustomerData,
    as_of_day: int,
    holdout_days: int,
    forecasts: dict[str, FloatArray],
    history: CustomerHistory,
) -> Evaluation:
    """Score given per-customer forecasts (aligned with ``history``)."""
    log = data.transactions
    actual = window_spend(log, history, holdout_days)
    metrics = {name: holdout_metrics(pred, actual) for name, pred in forecasts.items()}
    frame = pd.DataFrame({"customer_id": history.customer_ids, "actual_spend": actual})
    for name, pred in forecasts.items():
        frame[name] = pred
    complete = as_of_day + holdout_days <= log.last_day
    return Evaluation(as_of_day, holdout_days, metrics, frame, complete)


def evaluate_model(
    data: CustomerData,
    as_of_day: int,
    holdout_days: int,
    config: CLTVConfig | None = None,
    *,
    model: CLTVModel | None = None,
) -> tuple[Evaluation, CLTVModel]:
    """Train as of ``as_of_day`` (unless ``model`` is given), forecast the next
    ``holdout_days`` and compare with what happened, baselines included."""
    log = data.transactions
    if as_of_day >= log.last_day:
        raise InputError(
            "no transactions after the as-of date to evaluate against",
            file=log.source or None,
            field="as_of",
            value=str(day_to_date(as_of_day).date()),
        )
    if model is None:
        model = CLTVModel(config or CLTVConfig()).fit(data, as_of_day, holdout_days)
    scores = model.score(data, as_of_day, holdout_days)
    history = customer_history(log, as_of_day)
    forecasts = {
        MODEL_NAME: scores.predicted,
        "bgnbd_gg": scores.baseline,
        "naive_run_rate": naive_run_rate(history, holdout_days),
    }
    return evaluate_forecasts(data, as_of_day, holdout_days, forecasts, history), model


def write_gains_chart(evaluation: Evaluation, path: Path) -> None:
    """Cumulative gains (lift) chart: share of holdout spend captured by the
    top x % of customers, per model, with the perfect ranking for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = evaluation.predictions
    actual = frame["actual_spend"].to_numpy(dtype=np.float64)
    shares = np.linspace(0.0, 1.0, 201)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    curves = {"perfect": actual, **{n: frame[n].to_numpy() for n in evaluation.metrics}}
    for name, pred in curves.items():
        ys = [top_share_capture(pred, actual, s) if s > 0 else 0.0 for s in shares]
        style = ":" if name == "perfect" else "-"
        ax.plot(100 * shares, 100 * np.asarray(ys), style, label=name)
    ax.plot([0, 100], [0, 100], "--", color="grey", label="random")
    ax.set_xlabel("customers, by predicted spend (top %)")
    ax.set_ylabel("share of actual holdout spend (%)")
    date = day_to_date(evaluation.as_of_day).date()
    ax.set_title(
        f"Cumulative gains, as of {date}, {evaluation.holdout_days}-day holdout"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    """``predictions.csv`` (``customer_id,predicted_spend``, then actual and
    baselines), ``gains.png`` and ``metrics.json`` into ``out_dir``."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    frame = evaluation.predictions
    table = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "predicted_spend": frame[MODEL_NAME],
            "actual_spend": frame["actual_spend"],
            **{name: frame[name] for name in BASELINES},
        }
    )
    csv_path = out_dir / "predictions.csv"
    table.to_csv(csv_path, index=False, float_format="%.4f")
    png_path = out_dir / "gains.png"
    write_gains_chart(evaluation, png_path)
    json_path = out_dir / "metrics.json"
    json_path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n")
    return [csv_path, png_path, json_path]
