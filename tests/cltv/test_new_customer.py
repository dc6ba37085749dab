"""The new-customer prior: the model's published forecast of a customer
acquired on the as-of date, stored with the day's scores."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierflow.cltv.calibration import HURDLE_STEEPNESS
from tierflow.cltv.features import CustomerData
from tierflow.cltv.lifecycle import CsvScoreSink, ScoreSinks, retrain
from tierflow.cltv.model import MODEL_NAME, CLTVConfig, CLTVModel
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.store import open_store
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number

FAST = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
AS_OF = day_number("2023-06-30")
HORIZON = 60


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """800 generated customers from 2022-01-01 (most dormant by mid-2023)."""
    return generate_transactions(800, seed=4)


@pytest.fixture(scope="module")
def data(frame: pd.DataFrame) -> CustomerData:
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"]
    )
    return CustomerData(log)


@pytest.fixture(scope="module")
def model(data: CustomerData) -> CLTVModel:
    return CLTVModel(FAST).fit(data, AS_OF, HORIZON)


def _median_first_order(frame: pd.DataFrame) -> float:
    """The median of each customer's first purchase day's spend, by pandas."""
    known = frame[pd.to_datetime(frame["order_date"]) <= "2023-06-30"]
    by_day = known.groupby(["customer_id", "order_date"])["amount"].sum()
    return float(by_day.groupby(level="customer_id").first().median())


def test_the_prior_is_the_models_forecast_of_a_customer_acquired_that_day(
    frame: pd.DataFrame, data: CustomerData, model: CLTVModel
) -> None:
    """Recomputed here from its definition: the features of one purchase on
    the as-of date of the median first order (BG/NBD's x = t_x = T = 0),
    the regressor's forecast with the BTYD offset, then the published
    shape ``(p / max)**e / (1 + (t / p)**4)`` of the scored customers' raw
    forecasts and the level's total (``docs/cltv.md``)."""
    amount = _median_first_order(frame)
    assert model.btyd_ is not None
    bg, gg = model.btyd_.bgnbd, model.btyd_.gamma_gamma
    weeks = HORIZON / 7.0
    purchases = float(bg.expected_purchases(weeks, [0.0], [0.0], [0.0])[0])
    value = gg.p * gg.v / (gg.q - 1.0)  # Gamma-Gamma's mean of a one-time buyer
    row = {
        "frequency": 0.0, "recency_days": 0.0, "tenure_days": 0.0,
        "t_x_days": 0.0, "n_purchase_days": 1.0, "total_spend": amount,
        "monetary_mean": amount, "monetary_median": amount,
        "monetary_max": amount, "first_value": amount, "repeat_mean": np.nan,
        "ipt_mean": np.nan, "ipt_std": np.nan, "ipt_last": np.nan,
        "recency_over_ipt": np.nan, "purchases_30d": 1.0, "purchases_90d": 1.0,
        "purchases_180d": 1.0, "spend_30d": amount, "spend_90d": amount,
        "spend_180d": amount, "return_share": 0.0, "zero_value_share": 0.0,
        "btyd_p_alive": 1.0, "btyd_expected_purchases": purchases,
        "btyd_p_any": float(bg.p_any_purchase(weeks, [0.0], [0.0], [0.0])[0]),
        "gg_expected_value": value, "btyd_expected_spend": purchases * value,
        # the log starts 2022-01-01: a year back is in it, and it bought nothing
        "spend_year_ago": 0.0, "purchases_year_ago": 0.0,
        "window_days": float(HORIZON),
    }  # fmt: skip
    design = np.array([[row[name] for name in model.features_] + [purchases * value]])
    assert model.regressor_ is not None
    raw = float(model.regressor_.predict(design)[0])

    forecasts = model.forecast(data)
    assert model.blend_.weights == ((MODEL_NAME, 1.0),)  # ours alone, no blend
    shape = model.shapes_[MODEL_NAME]
    assert shape.hurdle > 0  # the fitted shape has a hurdle: the test covers it
    pop = np.maximum(forecasts.raw[MODEL_NAME], 0.0)
    top = pop.max()
    with np.errstate(divide="ignore"):
        t = top * np.exp(np.quantile(np.log(pop / top), shape.hurdle))

    def shaped(p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            out = (p / top) ** shape.exponent / (1.0 + (t / p) ** HURDLE_STEEPNESS)
        return np.asarray(out, dtype=np.float64)

    expected = shaped(np.array([raw]))[0] * forecasts.level.total / shaped(pop).sum()
    scores = model.score(data)
    assert scores.new_customer_spend == pytest.approx(expected, rel=1e-9)
    assert model.new_customer_spend(data, forecasts) == scores.new_customer_spend
    # the same map gives every scored customer its published score
    np.testing.assert_allclose(
        shaped(pop) * forecasts.level.total / shaped(pop).sum(),
        scores.predicted,
        rtol=1e-9,
        atol=1e-12,
    )


def test_the_prior_lies_above_the_median_score_of_a_dormant_base(
    data: CustomerData, model: CLTVModel
) -> None:
    """Most of the generated base is forecast near 0 (dormant): the median
    score prices a new shopper with them; a customer who bought today is
    worth more than that, and less than the best customers."""
    scores = model.score(data)
    predicted = scores.predicted
    assert (predicted < 1.0).mean() > 0.5
    assert scores.new_customer_spend is not None
    assert np.median(predicted) < 1.0 < scores.new_customer_spend
    assert scores.new_customer_spend < predicted.max()


def test_the_daily_job_stores_the_prior_with_the_scores(
    data: CustomerData, tmp_path: Path, state_location: Path | str
) -> None:
    """``retrain`` publishes the prior with the scores to the state store
    (beside a scores CSV, as ``cltv retrain --state --scores-out`` does)."""
    registry = ModelRegistry(tmp_path / "models")
    with open_store(state_location) as store:
        sinks = ScoreSinks([store, CsvScoreSink(tmp_path / "scores.csv")])
        result = retrain(
            data, AS_OF, registry, horizon_days=HORIZON, config=FAST, sink=sinks
        )
        assert result.promoted and result.published_rows == 800
        scores = registry.load(result.champion).model.score(data, AS_OF)
        assert scores.new_customer_spend is not None
        assert store.cltv_new_customer_spend() == pytest.approx(
            scores.new_customer_spend, rel=1e-12
        )


def test_a_longer_horizon_never_scores_anyone_lower(
    data: CustomerData, model: CLTVModel
) -> None:
    """Spend over a longer horizon includes the spend over a shorter one, so
    no customer's score (nor the new-customer prior) may fall as the
    horizon grows. The shape and level made anew for each horizon moved
    each customer's share of the total with it: 2,943 of CDNOW's 23,570
    customers got less over ten years than over five, and a prior of 34.0
    over a year was 24.1 over ten (QA, 2026-12-07). At the model's own
    horizon the scores are the published forecast; at another, each
    customer's is carried along their BG/NBD time profile."""
    horizons = [7, 30, HORIZON, 180, 365, 1825, 3650]
    scores = [model.score(data, horizon_days=h) for h in horizons]
    published = model.forecast(data).published()
    np.testing.assert_array_equal(scores[horizons.index(HORIZON)].predicted, published)
    for short, long in itertools.pairwise(scores):
        assert long.horizon_days > short.horizon_days
        falls = long.predicted < short.predicted
        assert not falls.any(), (short.horizon_days, long.horizon_days, falls.sum())
        assert (long.predicted > short.predicted).sum() > 0.5 * len(long.predicted)
        assert long.new_customer_spend is not None
        assert short.new_customer_spend is not None
        assert long.new_customer_spend > short.new_customer_spend
        # BG/NBD's own forecast and P(any purchase) are the horizon's
        assert (long.baseline >= short.baseline).all()
        assert (long.frame["p_active"] >= short.frame["p_active"]).all()
