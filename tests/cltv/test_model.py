"""The CLTV pipeline's pieces: training windows, segments, calibration, config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tierflow.cltv import model as model_module
from tierflow.cltv.features import CustomerData
from tierflow.cltv.model import (
    CLTVConfig,
    CLTVModel,
    assign_segments,
    training_windows,
)
from tierflow.data.errors import InputError
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number, day_to_date


def _dates(windows: list[tuple[int, int]]) -> list[tuple[str, int]]:
    return [(str(day_to_date(c).date()), w) for c, w in windows]


def test_training_windows_end_by_the_as_of_date() -> None:
    first, as_of = day_number("1997-01-01"), day_number("1997-09-30")
    to_as_of = training_windows(CLTVConfig(), as_of, first)
    assert _dates(to_as_of)[:3] == [
        ("1997-08-31", 30),
        ("1997-08-01", 60),
        ("1997-07-02", 90),
    ]
    assert all(c + w == as_of for c, w in to_as_of)
    assert min(c for c, _ in to_as_of) >= first + 30
    rolling = training_windows(
        CLTVConfig(plan="rolling", window_days=60, n_cutoffs=3), as_of, first
    )
    assert _dates(rolling) == [
        ("1997-08-01", 60),
        ("1997-07-02", 60),
        ("1997-06-02", 60),
    ]
    with pytest.raises(
        InputError,
        match=r"field 'as_of': value '1997-02-15': history too short to train: "
        r"need at least 60 days between the first purchase and the as-of date, "
        r"have 45",
    ):
        training_windows(CLTVConfig(), day_number("1997-02-15"), first)
    with pytest.raises(  # an as-of before the history said "have -2587"
        InputError,
        match=r"value '1996-06-01': history too short to train: need at least 60 "
        r"days between the first purchase and the as-of date, the first purchase "
        r"is on 1997-01-01, after it$",
    ):
        training_windows(CLTVConfig(), day_number("1996-06-01"), first)


def test_segments_by_rank_with_ties() -> None:
    predicted = np.array([10.0, 9.0, 8.0, 8.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    segments = assign_segments(predicted, 0.1, 0.3)
    assert list(segments) == ["platinum", "gold", "gold", "gold"] + ["silver"] * 6
    # a tie at the cut keeps both customers in the same (better) segment
    tied = assign_segments(np.array([3.0, 2.0, 2.0, 1.0]), 0.25, 0.25)
    assert list(tied) == ["platinum", "gold", "gold", "silver"]
    assert list(assign_segments(np.zeros(0))) == []


@pytest.mark.parametrize(("platinum", "gold"), [(0.2, 0.1), (0.1, 0.2)])
def test_segments_cut_at_the_shares_as_written(platinum: float, gold: float) -> None:
    # 0.2 + 0.1 is 0.30000000000000004 in binary floating point: the gold
    # cut took one customer in ten too many (81 gold of 800 with 0.2 / 0.1)
    for n in (10, 100, 800):
        segments = list(assign_segments(np.arange(float(n), 0.0, -1.0), platinum, gold))
        assert segments.count("platinum") == round(platinum * n)
        assert segments.count("gold") == round(gold * n)
        assert segments.count("silver") == n - round((platinum + gold) * n)
    # a share between two customers still takes the one it reaches into
    assert list(assign_segments(np.arange(7.0, 0.0, -1.0), 0.2, 0.1)).count("gold") == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"plan": "weekly"}, r"field 'plan': value 'weekly': must be"),
        ({"n_cutoffs": 0}, r"field 'n_cutoffs': value 0: must be an integer in \[1, 100,000\]$"),
        ({"window_days": float("nan")}, r"field 'window_days': value nan: must be an integer in"),
        ({"platinum_share": float("nan")}, r"field 'platinum_share': value nan: must be a number in \[0, 1\]$"),
        ({"learning_rate": 0.0}, r"field 'learning_rate': value 0\.0: must be a number in \(0, 10\]$"),
        ({"calibration": "median"}, r"field 'calibration': value 'median': must be"),
        ({"level": "flat"}, r"field 'level': value 'flat': must be 'seasonal'"),
        ({"n_folds": 0}, r"field 'n_folds': value 0: must be an integer in \[1, 100,000\]$"),
        (
            {"platinum_share": 0.8, "gold_share": 0.3},
            r"segment shares must be >= 0 and sum to <= 1",
        ),
    ],
)  # fmt: skip
def test_config_validation(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        CLTVConfig().with_params(**changes)


def test_the_level_is_the_scored_datas_at_the_training_as_of_and_horizon() -> None:
    """Another customer base scored at the model's own as-of and horizon gets
    its own level, as at any other horizon (it got the training base's total:
    300 of 2,357 CDNOW customers were forecast 22,554 at 90 days, 2,888 at 89);
    the training data keeps the stored level exactly."""
    frame = generate_transactions(700, seed=11)
    small = frame.loc[frame["customer_id"].isin(frame["customer_id"].unique()[:100])]

    def data_of(rows: pd.DataFrame) -> CustomerData:
        log = TransactionLog.from_columns(
            rows["customer_id"], rows["order_date"], rows["amount"]
        )
        return CustomerData(log)

    full, part = data_of(frame), data_of(small)
    as_of, horizon = day_number("2023-06-30"), 60
    config = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
    model = CLTVModel(config).fit(full, as_of, horizon)
    assert model.level_ is not None
    trained = model.forecast(full).level
    assert trained == model.level_
    assert model.score(full).predicted.sum() == pytest.approx(model.level_.total)

    totals = [model.score(part, as_of, h).predicted.sum() for h in (59, 60, 61)]
    # a day more or less moves the total of 100 customers by a few per cent
    assert totals[1] == pytest.approx(totals[0], rel=0.1)
    assert totals[1] == pytest.approx(totals[2], rel=0.1)
    assert totals[1] < 0.1 * model.level_.total  # a seventh of the customers


def test_renamed_customers_and_amounts_in_cents_forecast_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Customer ids are not part of the model's seed and the currency unit
    is not part of the model: every customer renamed (in another order) and
    the log's rows shuffled forecast exactly what the original log
    forecasts, customer by customer; amounts in cents forecast 100 times as
    much, but for the few customers a BTYD feature moved across a bin edge
    (the Gamma-Gamma fit's rounding in another unit, 1e-7). Before, renaming
    the customers dealt them into other folds (CDNOW's MAE 30.80 -> 31.20)
    and cents weighted the boosting otherwise (its raw total +1.5 %)."""
    frame = generate_transactions(900, seed=5)
    as_of, horizon = day_number("2023-06-30"), 60
    # the samples of customers taken above a size (training cut-offs,
    # calibration windows) are drawn by content too
    monkeypatch.setattr(model_module, "MAX_SHAPE_ROWS", 400)
    config = CLTVConfig(
        n_estimators=2,
        max_iter=30,
        min_samples_leaf=20,
        n_cutoffs=3,
        max_customers_per_cutoff=500,
    )

    def forecast(rows: pd.DataFrame, ids: pd.Series, scale: float) -> pd.DataFrame:
        log = TransactionLog.from_columns(
            ids, rows["order_date"], rows["amount"] * scale
        )
        data = CustomerData(log)
        forecasts = CLTVModel(config).fit(data, as_of, horizon).forecast(data)
        return pd.DataFrame(
            {"published": forecasts.published(), "raw": forecasts.raw["cltv"]},
            index=list(forecasts.history.customer_ids),
        ).sort_index()

    original = forecast(frame, frame["customer_id"], 1.0)
    shuffled = frame.sample(frac=1.0, random_state=3)
    renamed_ids = "Z" + shuffled["customer_id"].str[::-1]  # another id order
    renamed = forecast(shuffled, renamed_ids, 1.0)
    back = dict(zip(renamed_ids, shuffled["customer_id"], strict=True))
    renamed.index = [back[c] for c in renamed.index]
    pd.testing.assert_frame_equal(
        renamed.sort_index(), original, check_exact=False, rtol=1e-12
    )
    cents = forecast(frame, frame["customer_id"], 100.0) / 100.0
    same = np.isclose(cents["raw"], original["raw"], rtol=1e-6, atol=0.0)
    assert same.mean() >= 0.99, f"{same.mean():.1%} of the raw forecasts agree"
    assert cents["published"].sum() == pytest.approx(original["published"].sum())
