"""Train, score and the daily champion/challenger retrain, over a model registry.

The daily job (:func:`retrain`):

1. The challenger's recipe (today's data fingerprint, the as-of date, the
   horizon and the config) names its version. If the last retrain already
   completed that exact recipe, nothing is done (idempotent).
2. The challenger is fitted as of today and written (not yet current).
3. Champion and challenger *recipes* are backtested on the most recent complete
   holdout window ``(A − W, A]``: each config is refitted as of ``A − W`` on the
   same data and scored on what happened since. (Scoring the stored champion
   directly would let it see the window it is judged on.)
4. The challenger is promoted unless it is worse than the champion beyond
   ``tolerance`` on Spearman, top-10 % or top-20 % capture (absolute) or MAE
   (relative); the first model is always promoted.
5. Old versions are pruned (the champion is kept); the champion's scores are
   published to the configured :class:`ScoreSink`.

Scores leave through the :class:`ScoreSink` protocol, which the state store
implements; :class:`CsvScoreSink` writes them to a file.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tierflow.cltv.evaluate import evaluate_model
from tierflow.cltv.features import CustomerData
from tierflow.cltv.model import CLTVConfig, CLTVModel, Scores
from tierflow.cltv.registry import ModelRegistry, Recipe, library_versions
from tierflow.data.errors import InputError
from tierflow.data.transactions import day_to_date

#: Columns handed to a :class:`ScoreSink`, in this order.
SCORE_COLUMNS = ("customer_id", "predicted_spend", "p_active", "segment")
#: Metrics compared between champion and challenger; higher is better.
RANKING_METRICS = ("spearman", "top10_capture", "top20_capture")
#: Longest backtest window: most recent behaviour, enough buyers to rank.
MAX_BACKTEST_DAYS = 90


class ScoreSink(Protocol):
    """Where published CLTV scores go (implemented by the state store).

    ``scores`` has the columns of :data:`SCORE_COLUMNS`; the return value is
    the number of rows written. Writing the same ``(as_of, model_version)``
    twice must leave the same state (an upsert), so retries are safe.
    """

    def put_cltv_scores(
        self, scores: pd.DataFrame, *, as_of: datetime.date, model_version: str
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class CsvScoreSink:
    """A :class:`ScoreSink` writing a CSV (temp file + atomic rename)."""

    path: Path

    def put_cltv_scores(
        self, scores: pd.DataFrame, *, as_of: datetime.date, model_version: str
    ) -> int:
        write_scores_csv(scores, self.path)
        return len(scores)


def write_scores_csv(scores: pd.DataFrame, path: Path) -> None:
    """``customer_id,predicted_spend,p_active,segment``, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    scores.loc[:, list(SCORE_COLUMNS)].to_csv(tmp, index=False, float_format="%.6f")
    os.replace(tmp, path)


def backtest_days(horizon_days: int) -> int:
    """The backtest window: the horizon, at most :data:`MAX_BACKTEST_DAYS`."""
    return max(1, min(horizon_days, MAX_BACKTEST_DAYS))


def backtest(
    data: CustomerData, as_of_day: int, config: CLTVConfig, window_days: int
) -> dict[str, dict[str, float]]:
    """Metrics of ``config`` and the baselines, trained as of ``as_of_day −
    window_days`` and scored on the ``window_days`` up to ``as_of_day``."""
    evaluation, _ = evaluate_model(data, as_of_day - window_days, window_days, config)
    return evaluation.metrics


def _metadata(
    model: CLTVModel,
    recipe: Recipe,
    version: str,
    source: str,
    training_metrics: dict[str, Any],
) -> dict[str, Any]:
    return {
        "version": version,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data": {
            "fingerprint": recipe.fingerprint,
            "source": source,
            "profiles": recipe.profiles,
            "browsing": recipe.browsing,
        },
        **model.describe(),
        "training_metrics": training_metrics,
        "library_versions": library_versions(),
    }


@dataclass(frozen=True, slots=True)
class TrainResult:
    version: str
    created: bool
    metadata: dict[str, Any]


def _recipe(
    data: CustomerData, as_of_day: int, horizon_days: int, config: CLTVConfig
) -> Recipe:
    return Recipe(
        fingerprint=data.fingerprint(),
        as_of_day=as_of_day,
        horizon_days=horizon_days,
        config=config,
        profiles=data.profiles is not None,
        browsing=data.browsing is not None,
    )


def _fit_and_write(
    registry: ModelRegistry,
    data: CustomerData,
    recipe: Recipe,
    *,
    with_backtest: bool,
) -> TrainResult:
    version = recipe.version()
    if version in registry.versions():
        return TrainResult(version, False, registry.metadata(version))
    model = CLTVModel(recipe.config).fit(data, recipe.as_of_day, recipe.horizon_days)
    training: dict[str, Any] = {"n_training_rows": model.n_training_rows_}
    if with_backtest:
        window = backtest_days(recipe.horizon_days)
        training["backtest_window_days"] = window
        training["backtest"] = backtest(data, recipe.as_of_day, recipe.config, window)
    meta = _metadata(model, recipe, version, data.transactions.source, training)
    registry.write(model, version, meta)
    return TrainResult(version, True, meta)


def train_model(
    data: CustomerData,
    as_of_day: int,
    horizon_days: int,
    registry: ModelRegistry,
    config: CLTVConfig | None = None,
    *,
    with_backtest: bool = True,
) -> TrainResult:
    """Fit, write a new version and make it current (an explicit train is a
    deliberate promotion; the daily job uses :func:`retrain`)."""
    recipe = _recipe(data, as_of_day, horizon_days, config or CLTVConfig())
    with registry.locked():
        result = _fit_and_write(registry, data, recipe, with_backtest=with_backtest)
        registry.set_current(result.version)
    return result


def score_model(
    data: CustomerData,
    registry: ModelRegistry,
    as_of_day: int,
    *,
    version: str | None = None,
    horizon_days: int | None = None,
) -> tuple[str, Scores]:
    """Scores of every customer as of ``as_of_day`` with a stored model."""
    stored = registry.load(version)
    return stored.version, stored.model.score(data, as_of_day, horizon_days)


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What one run of the daily job did."""

    as_of: str
    challenger: str
    champion_before: str | None
    champion: str
    promoted: bool
    reason: str
    noop: bool = False
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()
    published_rows: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "challenger": self.challenger,
            "champion_before": self.champion_before,
            "champion": self.champion,
            "promoted": self.promoted,
            "reason": self.reason,
            "noop": self.noop,
            "metrics": self.metrics,
            "pruned": list(self.pruned),
            "published_rows": self.published_rows,
        }


def compare(
    champion: dict[str, float], challenger: dict[str, float], tolerance: float
) -> tuple[bool, str]:
    """``(promote, reason)``: promote unless the challenger is worse by more
    than ``tolerance`` on a ranking metric (absolute) or on MAE (relative)."""
    worse = []
    for name in RANKING_METRICS:
        if challenger[name] < champion[name] - tolerance:
            worse.append(f"{name} {challenger[name]:.4f} < {champion[name]:.4f}")
    if challenger["mae"] > champion["mae"] * (1.0 + tolerance):
        worse.append(f"mae {challenger['mae']:.3f} > {champion['mae']:.3f}")
    if worse:
        return False, "challenger worse beyond tolerance: " + "; ".join(worse)
    return True, f"challenger not worse than champion within tolerance {tolerance}"


def retrain(
    data: CustomerData,
    as_of_day: int,
    registry: ModelRegistry,
    *,
    horizon_days: int | None = None,
    config: CLTVConfig | None = None,
    tolerance: float = 0.02,
    keep: int = 5,
    sink: ScoreSink | None = None,
) -> RetrainResult:
    """The daily job: challenger vs champion, promotion, pruning, publishing.

    ``horizon_days`` and ``config`` default to the champion's (or 365 days and
    the default config for the first model).
    """
    if keep < 1:
        raise InputError("must be >= 1", field="keep", value=keep)
    if tolerance < 0:
        raise InputError("must be >= 0", field="tolerance", value=tolerance)
    date = str(day_to_date(as_of_day).date())
    with registry.locked():
        before = registry.current()
        champ_meta = registry.metadata(before) if before else None
        horizon = horizon_days or (champ_meta["horizon_days"] if champ_meta else 365)
        cfg = config or (
            CLTVConfig(**champ_meta["config"]) if champ_meta else CLTVConfig()
        )
        recipe = _recipe(data, as_of_day, horizon, cfg)
        challenger = recipe.version()
        state = registry.read_retrain_state()
        if (
            state is not None
            and state.get("challenger") == challenger
            and state.get("completed")
            and (sink is None or state.get("published_rows") is not None)
            and challenger in registry.versions()
        ):
            return RetrainResult(
                date,
                challenger,
                before,
                before or challenger,
                False,
                "already done for this as-of date, data and config",
                noop=True,
                metrics=state.get("metrics", {}),
            )
        _fit_and_write(registry, data, recipe, with_backtest=False)
        metrics: dict[str, dict[str, float]] = {}
        if before is None:
            promoted, reason = True, "no champion yet"
        elif before == challenger:
            promoted, reason = False, "challenger is the champion"
        else:
            window = backtest_days(horizon)
            chall_bt = backtest(data, as_of_day, cfg, window)
            assert champ_meta is not None
            champ_cfg = CLTVConfig(**champ_meta["config"])
            champ_bt = (
                chall_bt
                if champ_cfg == cfg
                else backtest(data, as_of_day, champ_cfg, window)
            )
            metrics = {
                "challenger": chall_bt["cltv"],
                "champion": champ_bt["cltv"],
                "bgnbd_gg": chall_bt["bgnbd_gg"],
            }
            promoted, reason = compare(champ_bt["cltv"], chall_bt["cltv"], tolerance)
        if promoted:
            registry.set_current(challenger)
        champion = registry.current() or challenger
        pruned = tuple(registry.prune(keep))
        state = {
            "as_of": date,
            "challenger": challenger,
            "champion": champion,
            "promoted": promoted,
            "reason": reason,
            "metrics": metrics,
            "completed": True,
            "published_rows": None,
        }
        registry.write_retrain_state(state)
        published = None
        if sink is not None:
            _, scores = score_model(data, registry, as_of_day, version=champion)
            published = sink.put_cltv_scores(
                scores.frame.loc[:, list(SCORE_COLUMNS)],
                as_of=day_to_date(as_of_day).date(),
                model_version=champion,
            )
            state["published_rows"] = published
            registry.write_retrain_state(state)
    return RetrainResult(
        date,
        challenger,
        before,
        champion,
        promoted,
        reason,
        metrics=metrics,
        pruned=pruned,
        published_rows=published,
    )
