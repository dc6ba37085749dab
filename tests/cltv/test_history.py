"""The history guard of the daily retrain: a truncated feed is refused.

The champion is trained as of 2023-06-30 on the rows of that day's feed; the
next day's feed (rows to 2023-07-01) comes clean, corrected, or broken in
the ways real feeds break. Both recipes are backtested on the same day's
data, so only the guard tells a broken feed from a clean one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tierflow.cltv.features import CustomerData
from tierflow.cltv.history import (
    HistorySummary,
    compare_history,
    summarize_history,
)
from tierflow.cltv.lifecycle import CsvScoreSink, RetrainResult, retrain
from tierflow.cltv.model import CLTVConfig
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.errors import InputError
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number

#: Small and quick; the guard does not depend on model quality.
FAST = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
AS_OF = "2023-06-30"
NEXT = "2023-07-01"
HORIZON = 60


@pytest.fixture(scope="module")
def feed() -> pd.DataFrame:
    """Every row the shop will ever have (feeds are cut from it by date)."""
    return generate_transactions(700, seed=11)


def _day(feed: pd.DataFrame, date: str) -> pd.DataFrame:
    """The feed as it lands on ``date``: every row on or before it."""
    return feed.loc[feed["order_date"] <= date]


def _data(frame: pd.DataFrame) -> CustomerData:
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"], source="tx.csv"
    )
    return CustomerData(log)


def _figures(frame: pd.DataFrame, as_of: str = AS_OF) -> dict[str, float]:
    """Rows, customers and gross spend on or before ``as_of``, by pandas."""
    history = frame.loc[frame["order_date"] <= as_of]
    return {
        "rows": len(history),
        "customers": history["customer_id"].nunique(),
        "spend": round(float(history["amount"].clip(lower=0).sum()), 2),
    }


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Shop:
    """A registry whose champion was trained as of :data:`AS_OF`, and the
    CSV its scores were published to."""

    registry: ModelRegistry
    scores: Path
    champion: str

    def retrain(self, frame: pd.DataFrame, **options: Any) -> RetrainResult:
        """The daily job for :data:`NEXT` on ``frame``."""
        return retrain(
            _data(frame),
            day_number(NEXT),
            self.registry,
            horizon_days=HORIZON,
            config=FAST,
            sink=CsvScoreSink(self.scores),
            **options,
        )


@pytest.fixture(scope="module")
def trained(
    feed: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The first day's run, done once: the champion and its published scores."""
    root = tmp_path_factory.mktemp("shop")
    first = retrain(
        _data(_day(feed, AS_OF)),
        day_number(AS_OF),
        ModelRegistry(root / "models"),
        horizon_days=HORIZON,
        config=FAST,
        sink=CsvScoreSink(root / "scores.csv"),
    )
    assert first.promoted
    return root, first.champion


@pytest.fixture
def shop(trained: tuple[Path, str], tmp_path: Path) -> Shop:
    """A copy of the first day's shop for one test."""
    root, champion = trained
    shutil.copytree(root, tmp_path / "shop")
    return Shop(
        ModelRegistry(tmp_path / "shop" / "models"),
        tmp_path / "shop" / "scores.csv",
        champion,
    )


def test_the_champion_records_its_history(feed: pd.DataFrame, shop: Shop) -> None:
    stored = shop.registry.metadata(shop.champion)["data"]["history"]
    day = _day(feed, AS_OF)
    assert {k: stored[k] for k in ("rows", "customers", "spend")} == _figures(day)
    assert stored["as_of"] == AS_OF
    # week 0 is 2023-06-24..30, week 1 the seven days before, and so on
    ages = (pd.Timestamp(AS_OF) - pd.to_datetime(day["order_date"])).dt.days
    assert stored["weekly_rows"] == (ages // 7).value_counts().sort_index().tolist()


@pytest.mark.parametrize(
    ("max_loss", "exceeded"), [(0.0, True), (0.001, True), (0.0015, False)]
)
def test_the_tolerance_is_a_share_of_the_history(
    feed: pd.DataFrame, max_loss: float, exceeded: bool
) -> None:
    """Three rows of 3,923 lost (0.08 %), one customer of 700 (0.14 %) and
    0.12 % of the spend: the largest share counts; 0 refuses any loss."""
    day = _day(feed, AS_OF)
    as_of = day_number(AS_OF)
    champion = summarize_history(_data(day).transactions, as_of)
    fewer = day.drop(day.index[[100, 1500, 3000]])
    today = summarize_history(_data(fewer).transactions, as_of)
    check = compare_history(champion, today, max_loss)
    assert check.exceeded is exceeded
    assert check.lost()["rows"] == 3 and check.weeks == ()


def test_a_sparse_week_is_measured_on_the_usual_weeks_scale() -> None:
    """One row of a quiet week (1 of 5) is a correction; half a usual week
    (25 of 50) is a loss."""
    usual = (50,) * 9
    champion = HistorySummary("2023-06-30", 455, 100, 1000.0, (*usual, 5))
    quiet = HistorySummary("2023-06-30", 454, 100, 990.0, (*usual, 4))
    assert compare_history(champion, quiet, 0.01).weeks == ()
    busy = HistorySummary("2023-06-30", 430, 100, 950.0, (25, *usual[1:], 5))
    (week,) = compare_history(champion, busy, 0.2).weeks  # totals pass at 20 %
    assert (week.week_to, week.champion_rows, week.today_rows) == ("2023-06-30", 50, 25)


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ([1, 2], "not a JSON object"),
        ({"as_of": "2023-06-30", "rows": 3}, "not a history summary (KeyError"),
        (
            {"as_of": "2023-06-30", "rows": -1, "customers": 1, "spend": 1.0,
             "weekly_rows": [1]},
            "not a history summary (ValueError: -1 is not a count)",
        ),
        (
            {"as_of": "2023-06-30", "rows": 1, "customers": 1, "spend": np.nan,
             "weekly_rows": [1]},
            "value nan: spend must be finite and >= 0",
        ),
    ],
)  # fmt: skip
def test_a_damaged_summary_names_the_file(stored: Any, why: str) -> None:
    with pytest.raises(InputError) as caught:
        HistorySummary.from_json(stored, file="models/v/metadata.json")
    assert str(caught.value).startswith(
        f"models/v/metadata.json: field 'data.history': {why}"
    ), caught.value
