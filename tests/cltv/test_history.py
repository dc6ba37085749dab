"""The history guard of the daily retrain: a truncated feed is refused.

The champion is trained as of 2023-06-30 on the rows of that day's feed; the
next day's feed (rows to 2023-07-01) comes clean, corrected, or broken in
the ways real feeds break. Both recipes are backtested on the same day's
data, so only the guard tells a broken feed from a clean one.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tierflow.cltv.features import CustomerData
from tierflow.cltv.history import (
    UNIT_MIN_ROWS,
    HistorySummary,
    compare_history,
    summarize_history,
    unit_change,
)
from tierflow.cltv.lifecycle import SAME_CONFIG, CsvScoreSink, RetrainResult, retrain
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
    assert first.promoted and first.history is None  # no champion to guard yet
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


def test_a_clean_next_day_is_promoted(feed: pd.DataFrame, shop: Shop) -> None:
    result = shop.retrain(_day(feed, NEXT))
    assert result.promoted and not result.refused, result.reason
    assert result.reason == SAME_CONFIG
    assert shop.registry.current() == result.challenger
    check = result.to_json()["history_check"]
    assert check["status"] == "passed" and check["as_of"] == AS_OF
    assert check["champion"] == check["today"] == _figures(feed)
    assert check["lost"] == {"rows": 0, "customers": 0, "spend": 0.0}
    assert check["weeks"] == []
    # the new champion records its own history, to be guarded tomorrow
    stored = shop.registry.metadata(result.champion)["data"]["history"]
    assert stored["as_of"] == NEXT
    assert stored["rows"] == _figures(feed, NEXT)["rows"]


def _segment(frame: pd.DataFrame) -> pd.DataFrame:
    """One customer segment's rows missing (ids ending in 3: a tenth)."""
    return frame.loc[~frame["customer_id"].str.endswith("3")]


def _last_week(frame: pd.DataFrame) -> pd.DataFrame:
    """The last seven days of rows missing."""
    return frame.loc[frame["order_date"] < "2023-06-25"]


def _half(frame: pd.DataFrame) -> pd.DataFrame:
    """The file cut in half (it is written in date order)."""
    return frame.iloc[: len(frame) // 2]


def _busiest_day(frame: pd.DataFrame) -> pd.DataFrame:
    """The busiest day's rows missing (2023-02-18, 25 rows: 0.6 % in total)."""
    return frame.loc[frame["order_date"] != pd.Timestamp("2023-02-18")]


HEAD = (
    "history up to the champion's as-of date 2023-06-30 was lost beyond "
    "tolerance (1 % in total, 10 % in a week), champion's -> today's: "
)
TAIL = "; the challenger was not trained, the champion and its published scores stay"
TRUNCATED = {
    "segment": (
        _segment,
        "rows 3923 -> 3592 (-8.44 %), customers 700 -> 630 (-10.00 %), spend "
        "76075.59 -> 69547.74 (-8.58 %); 27 weeks lost beyond 10 % of their "
        "rows: to 2023-03-10 91 -> 81, to 2023-02-10 57 -> 48, to 2023-02-03 "
        "66 -> 58 and 24 more",
    ),
    "last week": (
        _last_week,
        "rows 3923 -> 3872 (-1.30 %), customers 700 -> 700 (+0.00 %), spend "
        "76075.59 -> 75219.49 (-1.13 %); 1 week lost beyond 10 % of its rows: "
        "to 2023-06-30 69 -> 18",
    ),
    "half the file": (
        _half,
        "rows 3923 -> 1964 (-49.94 %), customers 700 -> 446 (-36.29 %), spend "
        "76075.59 -> 39436.41 (-48.16 %); 29 weeks lost beyond 10 % of their "
        "rows: to 2023-06-30 69 -> 0, to 2023-06-23 80 -> 0, to 2023-06-16 91 "
        "-> 0 and 26 more",
    ),
    # under 1 % in total: only the week shows it
    "a day": (
        _busiest_day,
        "rows 3923 -> 3898 (-0.64 %), customers 700 -> 700 (+0.00 %), spend "
        "76075.59 -> 75612.30 (-0.61 %); 1 week lost beyond 10 % of its rows: "
        "to 2023-02-24 83 -> 58",
    ),
}


@pytest.mark.parametrize("case", list(TRUNCATED))
def test_a_truncated_feed_is_refused(feed: pd.DataFrame, shop: Shop, case: str) -> None:
    cut, figures = TRUNCATED[case]
    broken = cut(_day(feed, NEXT))
    before = _snapshot(shop.registry.root)
    published = shop.scores.read_bytes()
    result = shop.retrain(broken)
    assert result.refused and not result.promoted
    assert result.reason == HEAD + figures + TAIL
    assert result.champion == result.champion_before == shop.champion
    # nothing trained, promoted, pruned, recorded or published
    assert _snapshot(shop.registry.root) == before
    assert shop.registry.current() == shop.champion
    assert shop.scores.read_bytes() == published
    assert result.published_rows is None and result.pruned == ()
    check = result.to_json()["history_check"]
    assert check["status"] == "refused"
    assert check["champion"] == _figures(feed)
    assert check["today"] == _figures(broken)
    lost = {k: round(_figures(feed)[k] - _figures(broken)[k], 2) for k in check["lost"]}
    assert check["lost"] == lost


def test_the_summary_records_a_digest_of_the_customer_ids(
    feed: pd.DataFrame, shop: Shop
) -> None:
    """SHA-256 of the sorted unique ids up to the as-of date, one a line:
    the same whatever the rows of those customers."""
    day = _day(feed, AS_OF)
    ids = sorted(day["customer_id"].unique())
    expected = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    stored = shop.registry.metadata(shop.champion)["data"]["history"]
    assert stored["customer_digest"] == expected
    # the next day's log, a row of a known customer added before the as-of
    # date, and one dropped (not its only one): the same customers
    later = pd.concat([_day(feed, NEXT), day.iloc[[5]]], ignore_index=True)
    later = later.drop(later.index[10])
    summary = summarize_history(_data(later).transactions, day_number(AS_OF))
    assert summary.customer_digest == expected
    assert summary.rows == len(day)


def _renumbered(frame: pd.DataFrame) -> pd.DataFrame:
    """Every customer id replaced (another customer base of the same size,
    or the ids renumbered): the rows, customers and spend of the original."""
    return frame.assign(customer_id="X" + frame["customer_id"])


REPLACED = (
    "the customers up to the champion's as-of date 2023-06-30 are another set "
    "than the champion's (700 on both sides, no rows or spend added, other "
    "ids: another customer base, or ids renumbered), champion's -> today's: "
    "rows 3923 -> 3923 (+0.00 %), customers 700 -> 700 (+0.00 %), spend "
    "76075.59 -> 76075.59 (+0.00 %)"
)


def test_a_log_of_other_customers_of_the_same_size_is_refused(
    feed: pd.DataFrame, shop: Shop
) -> None:
    """The counts alone passed it, and its challenger was promoted to
    publish scores of customers the champion never knew; the override goes
    on."""
    other = _renumbered(_day(feed, NEXT))
    before = _snapshot(shop.registry.root)
    result = shop.retrain(other)
    assert result.refused and not result.promoted
    assert result.reason == REPLACED + TAIL
    assert _snapshot(shop.registry.root) == before
    check = result.to_json()["history_check"]
    assert check["status"] == "refused" and check["customers_replaced"] is True
    assert check["lost"] == {"rows": 0, "customers": 0, "spend": 0.0}
    accepted = shop.retrain(other, accept_history_loss=True)
    assert accepted.promoted and not accepted.refused
    assert accepted.history is not None
    assert accepted.history.note == "going on as asked: " + REPLACED


def test_the_customer_digest_is_compared_only_where_both_sides_have_it(
    feed: pd.DataFrame,
) -> None:
    """A summary stored before the digest: the counts judge, as before; an
    added customer (an old purchase of a new customer) is a gain, and a
    loss together with other ids is named as both."""
    day = _day(feed, AS_OF)
    as_of = day_number(AS_OF)
    champion = summarize_history(_data(day).transactions, as_of)
    other = summarize_history(_data(_renumbered(day)).transactions, as_of)
    older = HistorySummary.from_json(
        {k: v for k, v in champion.to_json().items() if k != "customer_digest"}
    )
    assert older.customer_digest is None
    check = compare_history(older, other, 0.01)
    assert check.customers_replaced is None and not check.exceeded
    assert check.to_json()["customers_replaced"] is None
    late = pd.DataFrame(
        {
            "customer_id": ["C9999999"],
            "order_date": pd.to_datetime(["2023-06-02"]),
            "amount": [12.0],
        }
    )
    grown = summarize_history(
        _data(pd.concat([day, late], ignore_index=True)).transactions, as_of
    )
    assert grown.customer_digest != champion.customer_digest
    assert compare_history(champion, grown, 0.01).customers_replaced is False
    # other ids and a lost week: both named
    cut = summarize_history(_data(_renumbered(_last_week(day))).transactions, as_of)
    both = compare_history(champion, cut, 0.01)
    assert both.customers_replaced and both.lost_beyond
    assert both.message().endswith("; the customer ids differ too (as many customers)")


def test_a_small_correction_passes(feed: pd.DataFrame, shop: Shop) -> None:
    """Orders cancelled (one of a one-order customer), an amount fixed, a
    return dated back and a late row: the history moved, by less than the
    tolerance, and the day goes on."""
    day = _day(feed, NEXT)
    cancelled = day.index[[100, 1500, 3000]]
    corrected = day.drop(cancelled)
    fixed = corrected.index[2000]
    corrected.loc[fixed, "amount"] = round(corrected.loc[fixed, "amount"] / 2, 2)
    late = pd.DataFrame(
        {
            "customer_id": ["C0000012", "C0000012"],
            "order_date": pd.to_datetime(["2023-05-02", "2023-06-29"]),
            "amount": [-20.0, 35.5],  # a return dated back, a late purchase
        }
    )
    corrected = pd.concat([corrected, late], ignore_index=True)
    result = shop.retrain(corrected)
    assert result.promoted and not result.refused, result.reason
    assert shop.registry.current() == result.challenger
    check = result.to_json()["history_check"]
    assert check["status"] == "passed"
    assert check["today"] == _figures(corrected)
    assert check["lost"]["rows"] == 1  # three cancelled, two added
    assert check["lost"]["customers"] == 1  # a one-order customer's cancelled
    # another set of customers, as a count says: judged by the counts
    assert check["customers_replaced"] is False
    assert check["lost"]["spend"] == round(
        _figures(feed)["spend"] - _figures(corrected)["spend"], 2
    )
    assert 0 < check["lost_share"]["spend"] < 0.01


def test_the_override_promotes_and_reports_the_loss(
    feed: pd.DataFrame, shop: Shop
) -> None:
    published = shop.scores.read_bytes()
    result = shop.retrain(_last_week(_day(feed, NEXT)), accept_history_loss=True)
    assert result.promoted and not result.refused, result.reason
    assert shop.registry.current() == result.challenger
    assert shop.scores.read_bytes() != published  # today's scores went out
    assert result.history is not None and result.history.note == (
        "going on as asked: "
        + HEAD
        + "rows 3923 -> 3872 (-1.30 %), customers 700 -> 700 (+0.00 %), spend "
        "76075.59 -> 75219.49 (-1.13 %); 1 week lost beyond 10 % of its rows: "
        "to 2023-06-30 69 -> 18"
    )
    check = result.to_json()["history_check"]
    assert check["status"] == "accepted"
    assert check["lost"]["rows"] == 51


def test_a_looser_tolerance_lets_a_small_loss_through(
    feed: pd.DataFrame, shop: Shop
) -> None:
    """The last week is 1.3 % of the rows and all of one week's."""
    cut = _last_week(_day(feed, NEXT))
    result = shop.retrain(cut, max_history_loss=1.0)
    assert result.promoted, result.reason
    check = result.to_json()["history_check"]
    assert check["status"] == "passed"
    assert (check["max_history_loss"], check["max_week_loss"]) == (1.0, 1.0)
    assert check["lost"]["rows"] == _figures(feed)["rows"] - _figures(cut)["rows"]


def test_a_champion_saved_before_the_guard_is_not_checked(
    feed: pd.DataFrame, shop: Shop
) -> None:
    """A note, not an error; the model promoted then records its history, so
    the next day is guarded again."""
    meta = shop.registry.metadata(shop.champion)
    del meta["data"]["history"]
    shop.registry.write_metadata(shop.champion, meta)
    result = shop.retrain(_day(feed, NEXT))
    assert result.promoted, result.reason
    check = result.to_json()["history_check"]
    assert check["status"] == "skipped"
    assert check["note"] == (
        f"the champion {shop.champion} was saved without a history summary "
        "(before the history guard): history not checked; the next model "
        "promoted records one"
    )
    assert check["champion"] is None and check["lost"] is None
    later = retrain(
        _data(_half(_day(feed, "2023-07-02"))),
        day_number("2023-07-02"),
        shop.registry,
        horizon_days=HORIZON,
        config=FAST,
    )
    assert later.refused
    assert later.reason.startswith(
        "history up to the champion's as-of date 2023-07-01 was lost"
    )


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


_STORED = {
    "as_of": "2023-06-30", "rows": 3, "customers": 2, "spend": 10.0,
    "weekly_rows": [1, 2],
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ([1, 2], "field 'data.history': not a JSON object"),
        ({"customers": ...}, "field 'data.history.customers': missing"),
        ({"rows": -1}, "field 'data.history.rows': value -1: not a count (an "
         "integer >= 0)"),
        # True is an int, 1.0 a float: neither is what to_json writes
        ({"rows": True}, "field 'data.history.rows': value True: not a count "
         "(an integer >= 0)"),
        ({"customers": 2.0}, "field 'data.history.customers': value 2.0: not a "
         "count (an integer >= 0)"),
        ({"spend": "12.5"}, "field 'data.history.spend': value '12.5': not a "
         "finite number >= 0"),
        ({"spend": True}, "field 'data.history.spend': value True: not a "
         "finite number >= 0"),
        ({"spend": np.nan}, "field 'data.history.spend': value nan: not a "
         "finite number >= 0"),
        ({"spend": 1e400}, "field 'data.history.spend': value inf: not a "
         "finite number >= 0"),
        # beyond a float: it was an OverflowError in float()
        ({"spend": 10**400}, "field 'data.history.spend': value 1" + "0" * 116
         + "...: not a finite number >= 0"),
        ({"as_of": 5}, "field 'data.history.as_of': value 5: not a date "
         "(YYYY-MM-DD)"),
        ({"as_of": "20230630"}, "field 'data.history.as_of': value '20230630': "
         "not a date (YYYY-MM-DD)"),
        # an ISO week date, which date.fromisoformat reads
        ({"as_of": "2023-W26-5"}, "field 'data.history.as_of': value "
         "'2023-W26-5': not a date (YYYY-MM-DD)"),
        ({"as_of": "2023-06-31"}, "field 'data.history.as_of': value "
         "'2023-06-31': not a date (YYYY-MM-DD)"),
        ({"weekly_rows": "12"}, "field 'data.history.weekly_rows': value '12': "
         "not a list of counts"),
        ({"weekly_rows": [4, "1"]}, "field 'data.history.weekly_rows': index 1: "
         "value '1': not a count (an integer >= 0)"),
        ({"customer_digest": "ABC"}, "field 'data.history.customer_digest': "
         "value 'ABC': not a SHA-256 digest (64 lowercase hex digits)"),
        ({"customer_digest": None}, "field 'data.history.customer_digest': "
         "not a SHA-256 digest (64 lowercase hex digits)"),
    ],
)  # fmt: skip
def test_a_damaged_summary_names_the_file(
    change: dict[str, Any] | list[Any], why: str
) -> None:
    """Each field is what :meth:`HistorySummary.to_json` writes, or an
    error naming it: a spend of ``"12.5"`` or ``true`` was read as a number
    and an ``as_of`` of ``5`` as 1970-01-01."""
    stored: dict[str, Any] | list[Any] = change
    if isinstance(change, dict):  # ...: the field left out
        stored = {k: v for k, v in (_STORED | change).items() if v is not ...}
    with pytest.raises(InputError) as caught:
        HistorySummary.from_json(stored, file="models/v/metadata.json")
    assert str(caught.value) == f"models/v/metadata.json: {why}"


def test_a_stored_summary_reads_back_as_written() -> None:
    summary = HistorySummary("2023-06-30", 455, 100, 1000.0, (3, 0, 5))
    assert HistorySummary.from_json(summary.to_json()) == summary
    digested = replace(summary, customer_digest="0" * 64)
    assert HistorySummary.from_json(digested.to_json()) == digested
    # a whole spend is a JSON number as well
    assert HistorySummary.from_json(_STORED | {"spend": 10}).spend == 10.0


@pytest.mark.parametrize(
    ("factor", "accept"),
    [(100.0, False), (100.0, True), (0.001, False), (1e-10, False), (1e-10, True)],
)
def test_a_log_in_another_unit_is_refused(
    feed: pd.DataFrame, shop: Shop, factor: float, accept: bool
) -> None:
    """The day's log switched to cents (every amount x 100): the history
    guard compared spend, which only grew, and the challenger trained in
    cents was promoted and published forecasts in cents. Refused as a loss
    is, naming both averages (the test of ``cltv score``'s unit note); a
    deliberate correction of the history (``accept_history_loss``) does not
    let it through. In thousands (x 0.001) it is the unit that is named, not
    the spend lost; so below 1e-8 of the unit (x 1e-10), whose spend was
    summed to 0 and refused as a loss of all of it, which
    ``accept_history_loss`` let through to publish forecasts in the new unit."""
    day = _day(feed, NEXT).copy()
    day["amount"] = (day["amount"] * factor).round(5 if factor >= 1e-3 else 20)
    before = _snapshot(shop.registry.root)
    published = shop.scores.read_bytes()
    result = shop.retrain(day, accept_history_loss=accept)
    assert result.refused and not result.promoted
    trained = _figures(feed)["spend"] / _figures(feed)["rows"]
    now = day["amount"].clip(lower=0).sum() / len(day)
    ratio = now / trained
    assert 0.99 * factor < ratio < 1.01 * factor
    assert result.reason == (
        f"amounts average {now:.4g} a row up to {NEXT}, {ratio:.3g} times the "
        f"{trained:.4g} of the log the champion {shop.champion} was trained "
        "on: another currency unit? A challenger trained on it would forecast "
        "and publish spend in its unit" + TAIL
    )
    assert result.champion == shop.champion
    assert _snapshot(shop.registry.root) == before
    assert shop.scores.read_bytes() == published
    assert result.published_rows is None
    check = result.to_json()["history_check"]
    assert check["status"] == "refused"
    assert check["unit_change"] == {
        "as_of": NEXT,
        "trained_mean": pytest.approx(trained, rel=1e-12),
        "today_mean": pytest.approx(now, rel=1e-12),
        "ratio": pytest.approx(ratio, rel=1e-12),
        "since": None,  # the whole log
        "rows": len(day),
        "log_mean": pytest.approx(now, rel=1e-12),
    }


def _gross_mean(frame: pd.DataFrame) -> float:
    """Gross spend a row (returns count as rows, not as spend)."""
    return float(frame["amount"].clip(lower=0).sum()) / len(frame)


def _busy_next_day(feed: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The feed of :data:`NEXT` with 150 more orders on that day (the last
    150 of the champion's history again), that day's amounts x ``factor``."""
    day = _day(feed, NEXT)
    more = _day(feed, AS_OF).tail(150).assign(order_date=pd.Timestamp(NEXT))
    day = pd.concat([day, more], ignore_index=True)
    on_next = day["order_date"] == NEXT
    day.loc[on_next, "amount"] = (day.loc[on_next, "amount"] * factor).round(2)
    return day


def test_a_feed_switched_to_cents_yesterday_is_refused(
    feed: pd.DataFrame, shop: Shop
) -> None:
    """Two years in dollars and one busy day (156 rows) in cents: the log's
    average moved under 5-fold, within the 20 of the whole-log test, and the
    challenger trained on the mixed log was promoted and published. The
    newest rows alone are judged too: refused naming their day and both
    averages."""
    day = _busy_next_day(feed, 100.0)
    before = _snapshot(shop.registry.root)
    published = shop.scores.read_bytes()
    result = shop.retrain(day)
    trained = _gross_mean(_day(feed, AS_OF))
    newest = day.loc[day["order_date"] == NEXT]
    now, whole = _gross_mean(newest), _gross_mean(day)
    assert whole / trained < 5  # what the whole-log test saw
    ratio = now / trained
    assert ratio > 20  # 100 times that day's own orders in dollars
    assert result.refused and not result.promoted
    assert result.reason == (
        f"amounts average {now:.4g} a row on {NEXT} ({len(newest)} rows, the "
        f"newest; {whole:.4g} over the whole log), {ratio:.3g} times the "
        f"{trained:.4g} of the log the champion {shop.champion} was trained "
        "on: another currency unit? A challenger trained on it would forecast "
        "and publish spend in its unit" + TAIL
    )
    assert _snapshot(shop.registry.root) == before
    assert shop.scores.read_bytes() == published
    assert result.to_json()["history_check"]["unit_change"] == {
        "as_of": NEXT,
        "trained_mean": pytest.approx(trained, rel=1e-12),
        "today_mean": pytest.approx(now, rel=1e-12),
        "ratio": pytest.approx(ratio, rel=1e-12),
        "since": NEXT,
        "rows": 156,
        "log_mean": pytest.approx(whole, rel=1e-12),
    }


def test_one_big_order_among_few_new_rows_is_not_a_unit_change(
    feed: pd.DataFrame, shop: Shop
) -> None:
    """One genuine order 1,500 times the average among the 7 rows of the day
    after the champion's: those rows alone average over 200 times the
    champion's, but a period of the newest rows is judged only with
    :data:`UNIT_MIN_ROWS` rows, where one order moves the average 16-fold."""
    trained = _gross_mean(_day(feed, AS_OF))
    day = _day(feed, NEXT)
    big = day.tail(1).assign(amount=round(1500 * trained, 2))
    day = pd.concat([day, big], ignore_index=True)
    new = day.loc[day["order_date"] == NEXT]
    assert len(new) < UNIT_MIN_ROWS and _gross_mean(new) / trained > 200
    result = shop.retrain(day)
    assert not result.refused, result.reason
    check = result.to_json()["history_check"]
    assert check["status"] == "passed"
    assert check["unit_change"] is None


def test_the_newest_rows_are_judged_apart_from_older_new_ones(
    feed: pd.DataFrame,
) -> None:
    """A model trained as of 2023-03-31 (a champion kept since, or a model
    that scores daily), the feed switched to cents on its last, busy day:
    the rows after the model's as-of date (16 weeks in dollars, a day in
    cents) average under 20 times the model's; the newest day is judged on
    its own."""
    log = _day(feed, "2023-07-20")
    last = log["order_date"] == "2023-07-20"
    busy = pd.concat([log.loc[last]] * -(-UNIT_MIN_ROWS // last.sum()))
    busy["amount"] *= 100
    log = pd.concat([log.loc[~last], busy], ignore_index=True)
    trained = summarize_history(_data(feed).transactions, day_number("2023-03-31"))
    usual = trained.spend / trained.rows
    assert _gross_mean(log.loc[log["order_date"] > "2023-03-31"]) / usual < 20
    change = unit_change(trained, _data(log).transactions, day_number("2023-07-20"))
    assert change is not None
    assert (change.since, change.rows) == ("2023-07-20", len(busy))
    assert change.today == pytest.approx(_gross_mean(busy), rel=1e-12)
    assert change.ratio > 20


def _with_typo(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` and an order typed without its decimal point (999,999,999
    for 9,999,999.99 cents, say) on 2023-02-01, refunded in full on 2023-02-03."""
    who = frame["customer_id"].iloc[0]
    typo = pd.DataFrame(
        {
            "customer_id": [who, who],
            "order_date": pd.to_datetime(["2023-02-01", "2023-02-03"]),
            "amount": [999_999_999.0, -999_999_999.0],
        }
    )
    return pd.concat([frame.loc[:, list(typo.columns)], typo], ignore_index=True)


def test_one_huge_row_of_the_history_is_not_a_unit_change(feed: pd.DataFrame) -> None:
    """One amount typed without its decimal point, refunded since, in the
    history a model was trained on: its 3,900 other rows average some 20
    and the model's history 256,000 a row, so every later day's newest rows
    read as a unit 1e-4 times the model's, and the daily retrain was refused
    every day ("another currency unit?"), after the cltv train its message
    advised too. The newest rows are judged against the day's own version of
    the model's history, its largest rows aside, as well: the same unit."""
    log = _with_typo(_day(feed, NEXT))
    trained = summarize_history(_data(log).transactions, day_number(AS_OF))
    assert trained.spend / trained.rows > 1e4 * _gross_mean(_day(feed, AS_OF))
    assert unit_change(trained, _data(log).transactions, day_number(NEXT)) is None
    # a feed switched to cents on its last, busy day is still one
    busy = _with_typo(_busy_next_day(feed, 100.0))
    change = unit_change(trained, _data(busy).transactions, day_number(NEXT))
    assert change is not None
    assert (change.since, change.rows) == (NEXT, 156)


def test_one_huge_row_among_the_newest_is_not_a_unit_change(
    feed: pd.DataFrame,
) -> None:
    """The retrain refused a day whose log gained one amount typed without
    its decimal point ("another currency unit?"; the whole log's average
    moved 13,000-fold) and advised a cltv train on it; the model so trained
    held the row among its newest 100, which averaged 40 times the model's
    own average, and every following day was refused again until enough
    rows had come. A period of the newest rows is judged without its
    largest row too: one row is no unit."""
    log = _day(feed, NEXT).copy()
    who = log["customer_id"].iloc[0]
    typo = pd.DataFrame(
        {
            "customer_id": [who],
            "order_date": [pd.Timestamp("2023-06-28")],
            "amount": [999_999_999.0],
        }
    )
    log = pd.concat([log.loc[:, list(typo.columns)], typo], ignore_index=True)
    trained = summarize_history(_data(log).transactions, day_number(AS_OF))
    newest = log.loc[log["order_date"] >= "2023-06-20"]
    assert len(newest) >= UNIT_MIN_ROWS
    assert _gross_mean(newest) > 20 * trained.spend / trained.rows
    assert unit_change(trained, _data(log).transactions, day_number(NEXT)) is None


def test_a_clean_day_has_no_unit_change(feed: pd.DataFrame, shop: Shop) -> None:
    result = shop.retrain(_day(feed, NEXT))
    assert result.promoted, result.reason
    assert result.to_json()["history_check"]["unit_change"] is None


def test_a_log_of_small_amounts_keeps_its_spend(feed: pd.DataFrame) -> None:
    """A log in thousands (an order of 4 is 0.004): spend was summed in
    whole cents, so the history held 0 spend, and a tenth of the rows'
    amounts halved lost none of it. Summed exactly now: the loss is seen."""
    day = _day(feed, AS_OF).copy()
    day["amount"] = (day["amount"] / 5000).round(7)
    as_of = day_number(AS_OF)
    champion = summarize_history(_data(day).transactions, as_of)
    total = float(day["amount"].clip(lower=0).sum())
    assert champion.spend == pytest.approx(total, rel=1e-12)
    halved = day.copy()
    rows = halved.index[::10]
    halved.loc[rows, "amount"] = (halved.loc[rows, "amount"] / 2).round(7)
    today = summarize_history(_data(halved).transactions, as_of)
    check = compare_history(champion, today, 0.01)
    lost = total - float(halved["amount"].clip(lower=0).sum())
    assert check.lost()["spend"] == pytest.approx(lost, rel=1e-9)
    assert check.exceeded and check.lost()["rows"] == 0
    share = 100 * (today.spend - champion.spend) / champion.spend
    assert check.figures() == (
        f"rows 3923 -> 3923 (+0.00 %), customers 700 -> 700 (+0.00 %), spend "
        f"{champion.spend:.2f} -> {today.spend:.2f} ({share:+.2f} %)"
    )
    # four digits of the smaller total under 1, not 0.01 -> 0.01
    small = [HistorySummary(AS_OF, 3, 2, spend, (3,)) for spend in (0.0123, 0.0061)]
    assert compare_history(small[0], small[1], 0.01).figures() == (
        "rows 3 -> 3 (+0.00 %), customers 2 -> 2 (+0.00 %), spend 0.012300 -> "
        "0.006100 (-50.41 %)"
    )
