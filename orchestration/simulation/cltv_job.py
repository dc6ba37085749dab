"""The production CLTV daily job as the simulated day's CLTV step.

Its own module: it loads the model's whole stack (scikit-learn, SciPy, the
lifecycle), which a day run on ready-made scores (``--cltv-scores``,
:func:`~tierflow.orchestration.simulation.day.published_scores`) never needs.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from tierflow.cltv.config import CLTVConfig, training_windows
from tierflow.cltv.features import load_customer_data
from tierflow.cltv.lifecycle import (
    backtest,
    backtest_days,
    backtest_shortfall,
    retrain,
)
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.errors import InputError
from tierflow.data.store import ScoreStore
from tierflow.data.transactions import day_number
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.simulation.day import CltvStep, segment_sizes

_log = logging.getLogger("tierflow.simulate")


class _PublishedScores:
    """The store as the daily job's score sink, remembering the segment
    sizes of what it published (for the report)."""

    def __init__(self, store: ScoreStore) -> None:
        self.store = store
        self.segments: dict[str, dict[str, float]] = {}
        self.new_customer_spend: float | None = None

    def put_cltv_scores(
        self,
        scores: pd.DataFrame,
        *,
        as_of: dt.date,
        model_version: str,
        new_customer_spend: float | None = None,
    ) -> int:
        self.segments = segment_sizes(scores)
        self.new_customer_spend = new_customer_spend
        return self.store.put_cltv_scores(
            scores,
            as_of=as_of,
            model_version=model_version,
            new_customer_spend=new_customer_spend,
        )


def daily_cltv_job(
    transactions: Path,
    profiles: Path | None,
    model_dir: Path,
    *,
    horizon_days: int = 365,
    platinum_percentile: float = TierPolicy().platinum_percentile,
    backtest_first_model: bool = False,
    config: CLTVConfig | None = None,
    as_of: dt.date | None = None,
) -> CltvStep:
    """The production CLTV daily job (:func:`tierflow.cltv.lifecycle.retrain`) as a step:
    train as of the eve of the day, promote, publish every score to the store.

    The job backtests a challenger only against a champion; the first model
    has none, so its metrics stay empty unless ``backtest_first_model``
    (one more training, on the data up to the backtest window: about as
    long as the job itself). ``config``: the recipe to train (default: the
    champion's, else :class:`CLTVConfig`).

    The history is read and checked here, before the step runs: a bad row
    stops the run before any store or output is written; so does a history
    too short to train on as of ``as_of`` (the day the step will be run for,
    when known).
    """
    data, _ = load_customer_data(transactions, profiles=profiles)

    def trained_as_of(as_of: dt.date) -> int:
        # a day after the purchase history ends is trained as of its last day
        # (what was known then); the report says which day that was
        days = data.transactions.day
        last = int(days.max()) if days.size else day_number(as_of)
        return min(day_number(as_of), last)

    if as_of is not None:
        recipe = config or CLTVConfig()
        try:
            training_windows(recipe, trained_as_of(as_of), data.transactions.first_day)
        except InputError as exc:
            raise InputError(
                exc.reason, file=str(transactions), field=exc.field, value=exc.value
            ) from None

    def publish(store: ScoreStore, as_of: dt.date) -> dict[str, Any]:
        sink = _PublishedScores(store)
        registry = ModelRegistry(model_dir)
        day = trained_as_of(as_of)
        result = retrain(
            data,
            day,
            registry,
            horizon_days=horizon_days,
            config=config,
            sink=sink,
        )
        threshold = store.cltv_top_threshold(platinum_percentile * 100.0)
        # as the retrain had them (its metadata.json was read here again)
        recipe, horizon = result.champion_config, result.champion_horizon_days
        window = backtest_days(horizon)
        tested = None
        skipped = result.backtest_skipped
        if result.metrics:
            tested = {"window_days": window, "models": result.metrics}
        elif backtest_first_model and skipped is None:
            # a young history cannot hold the first model's backtest either:
            # said as retrain says it, not a failed day
            skipped = backtest_shortfall(data, day, [recipe], window)
            if skipped is None:
                models = backtest(data, day, recipe, window)
                tested = {"window_days": window, "models": models}
        if skipped is not None:
            _log.warning("cltv: %s", skipped.message())
        return {
            **result.to_json(),
            "backtest_skipped": None if skipped is None else skipped.to_json(),
            "platinum_threshold": threshold,
            "new_customer_spend": sink.new_customer_spend,
            "model_version": result.champion,
            "horizon_days": horizon,
            "segments": sink.segments,
            "backtest": tested,
        }

    return publish
