"""Features on a hand-made history with known values, and no leakage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierflow.cltv.btyd import LOG_PARAM_BOUND, BetaGeoFit, GammaGammaFit
from tierflow.cltv.features import (
    BASE_FEATURES,
    BTYD_FEATURES,
    BtydFit,
    CustomerData,
    build_features,
    customer_history,
    load_customer_data,
    seasonal_features,
    window_spend,
)
from tierflow.cltv.model import CLTVConfig, CLTVModel
from tierflow.data.errors import InputError
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import (
    STRAY_GAP_DAYS,
    BrowsingLog,
    CustomerProfiles,
    TransactionLog,
    day_number,
)

AS_OF = day_number("2024-02-29")

#: a: two rows on 01-01 (one purchase of 15), 01-11 (20), a return-only day
#:    01-31 (-5), 02-10 (40), and 100 after the as-of date;
#: b: a single free order (0) on 02-20; c: buys only after the as-of date.
ROWS = [
    ("a", "2024-01-01", 10.0),
    ("a", "2024-01-01", 5.0),
    ("a", "2024-01-11", 20.0),
    ("a", "2024-01-31", -5.0),
    ("a", "2024-02-10", 40.0),
    ("a", "2024-03-02", 100.0),
    ("b", "2024-02-20", 0.0),
    ("c", "2024-03-05", 30.0),
]


def _log(rows: list[tuple[str, str, float]]) -> TransactionLog:
    ids, dates, amounts = zip(*rows, strict=True)
    return TransactionLog.from_columns(list(ids), list(dates), list(amounts))


def _browsing() -> BrowsingLog:
    """a: 2 sessions 3 days before as-of, 50 the day after; b: one, 40 days before."""
    return BrowsingLog(
        customer_ids=np.array(["a", "a", "b"], dtype=object),
        day=np.array([AS_OF - 3, AS_OF + 1, AS_OF - 40]),
        sessions=np.array([2.0, 50.0, 1.0]),
        product_views=np.array([5.0, 50.0, 3.0]),
        cart_adds=np.array([1.0, 50.0, 0.0]),
    )


def test_hand_made_history_known_values() -> None:
    history = customer_history(_log(ROWS), AS_OF)
    f = history.frame
    assert list(f.index) == ["a", "b"]  # c has not bought by the as-of date
    a = f.loc["a"]
    expected_a = {
        "frequency": 2,  # purchase days 01-01, 01-11, 02-10
        "n_purchase_days": 3,
        "recency_days": 19,  # 02-10 -> 02-29
        "tenure_days": 59,  # 01-01 -> 02-29
        "t_x_days": 40,
        "total_spend": 70.0,  # 15 + 20 - 5 + 40
        "monetary_mean": 25.0,
        "monetary_median": 20.0,
        "monetary_max": 40.0,
        "first_value": 15.0,
        "repeat_mean": 30.0,
        "ipt_mean": 20.0,  # gaps 10 and 30
        "ipt_std": math.sqrt(200.0),
        "ipt_last": 30.0,
        "recency_over_ipt": 19 / 20,
        "purchases_30d": 1,
        "purchases_90d": 3,
        "spend_30d": 35.0,  # the return on 01-31 and 40 on 02-10
        "spend_90d": 70.0,
        "return_share": 5 / 75,
        "zero_value_share": 0.0,
    }
    for name, value in expected_a.items():
        assert a[name] == pytest.approx(value), name
    b = f.loc["b"]
    assert (b["frequency"], b["recency_days"], b["tenure_days"]) == (0, 9, 0 + 9)
    assert b["total_spend"] == 0.0 and b["zero_value_share"] == 1.0
    for name in ("repeat_mean", "ipt_mean", "ipt_std", "ipt_last"):
        assert math.isnan(b[name]), name
    np.testing.assert_allclose(history.x, [2, 0])
    np.testing.assert_allclose(history.t_x, [40, 0])
    np.testing.assert_allclose(history.T, [59, 9])


def test_window_spend_counts_only_the_window() -> None:
    log = _log(ROWS)
    history = customer_history(log, AS_OF)
    np.testing.assert_allclose(window_spend(log, history, 5), [100.0, 0.0])
    np.testing.assert_allclose(window_spend(log, history, 1), [0.0, 0.0])


def test_profile_and_browsing_features_ignore_the_future() -> None:
    log = _log(ROWS)
    profiles = CustomerProfiles(
        customer_ids=np.array(["a", "b"], dtype=object),
        signup_day=np.array([AS_OF - 100.0, AS_OF + 5.0]),
        categoricals=(("region", np.array(["north", "south"], dtype=object)),),
    )
    browsing = _browsing()
    btyd = BtydFit(
        BetaGeoFit(0.25, 4.8, 0.72, 2.16, 0.0, 2, True),
        GammaGammaFit(6.3, 3.6, 15.0, 0.0, 1, True),
    )  # two customers are too few to fit; the values are CDNOW's
    data = CustomerData(log, profiles, browsing)
    feats = build_features(data, AS_OF, 30, btyd=btyd)
    f = feats.frame
    assert f.loc["a", "signup_tenure_days"] == 100
    assert math.isnan(f.loc["b", "signup_tenure_days"])  # signs up after as-of
    assert f.loc["a", "region"] == "north"
    assert f.loc["a", "sessions_30d"] == 2.0  # the 50 after as-of are unseen
    assert f.loc["b", "sessions_30d"] == 0.0 and f.loc["b", "sessions_90d"] == 1.0
    assert f.loc["b", "days_since_session"] == 40


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return generate_transactions(1500, seed=3)


def test_no_leakage_features_and_model(synthetic: pd.DataFrame) -> None:
    """Appending transactions after as-of changes no feature and no prediction."""
    as_of = day_number("2023-06-30")
    dates = synthetic["order_date"].to_numpy(dtype="datetime64[D]")
    past = synthetic.loc[dates <= np.datetime64("2023-06-30")]

    def log_of(frame: pd.DataFrame) -> TransactionLog:
        return TransactionLog.from_columns(
            frame["customer_id"], frame["order_date"], frame["amount"]
        )

    full = log_of(synthetic)
    assert full.n_rows > log_of(past).n_rows  # there is a future to leak
    only_past = CustomerData(log_of(past))
    with_future = CustomerData(full)
    a = build_features(only_past, as_of, 60).frame
    b = build_features(with_future, as_of, 60).frame
    pd.testing.assert_frame_equal(a, b)
    assert set(BASE_FEATURES) | set(BTYD_FEATURES) <= set(a.columns)

    config = CLTVConfig(n_estimators=2, max_iter=20, min_samples_leaf=20)
    horizon = 120
    s1 = CLTVModel(config).fit(only_past, as_of, horizon).score(only_past)
    s2 = CLTVModel(config).fit(with_future, as_of, horizon).score(with_future)
    pd.testing.assert_frame_equal(s1.frame, s2.frame)


def test_customer_data_until_keeps_only_what_was_known() -> None:
    browsing = _browsing()
    data = CustomerData(_log(ROWS), None, browsing)
    known = data.until(AS_OF)
    assert known.transactions.last_day <= AS_OF < data.transactions.last_day
    assert known.transactions.n_rows == 6  # the two rows after as-of are gone
    assert known.browsing is not None
    assert list(known.browsing.sessions) == [2.0, 1.0]
    assert (known.browsing.day <= AS_OF).all()
    np.testing.assert_array_equal(
        known.transactions.customer_ids, data.transactions.customer_ids
    )


def test_seasonal_features_read_the_same_window_a_year_earlier() -> None:
    rows = [
        ("a", "2023-03-01", 10.0),  # in (as-of - 365, + 30]: counted
        ("a", "2023-03-01", 5.0),  # same day: one purchase day
        ("a", "2023-03-20", -3.0),  # a return: spend, not a purchase day
        ("a", "2023-04-15", 50.0),  # after the 30-day window
        ("b", "2023-02-01", 7.0),  # before it
        ("a", "2024-02-20", 1.0),
        ("b", "2024-02-25", 1.0),
    ]
    log = _log(rows)
    as_of = day_number("2024-02-28")  # a year back: 2023-02-28
    history = customer_history(log, as_of)
    f = seasonal_features(log, history, 30)
    assert f.loc["a"].tolist() == [12.0, 1.0]
    assert f.loc["b"].tolist() == [0.0, 0.0]
    # a window longer than a year stops at the as-of date
    long = seasonal_features(log, history, 400)
    assert long.loc["a", "spend_year_ago"] == 63.0
    assert long.loc["b", "spend_year_ago"] == 1.0
    # the log does not reach a year back: unknown, not zero
    young = customer_history(log, day_number("2023-06-30"))
    assert seasonal_features(log, young, 30).isna().all().all()
    # nobody bought in the window (2023-02-25, 2023-02-28]: zeros, not an error
    quiet = customer_history(log, day_number("2024-02-25"))
    assert seasonal_features(log, quiet, 3).to_numpy().sum() == 0.0
    assert seasonal_features(log, quiet, 5).loc["a"].tolist() == [15.0, 1.0]


def test_fitting_long_after_the_history_ends_says_so(synthetic: pd.DataFrame) -> None:
    """Every training window after the last purchase has no spend to learn."""
    log = TransactionLog.from_columns(
        synthetic["customer_id"], synthetic["order_date"], synthetic["amount"]
    )
    last = str(pd.Timestamp(synthetic["order_date"].max()).date())
    config = CLTVConfig(n_estimators=2, max_iter=20, min_samples_leaf=20)
    as_of = day_number(str(pd.Timestamp(last) + pd.Timedelta(days=1500)))
    with pytest.raises(InputError) as err:
        CLTVModel(config).fit(CustomerData(log), as_of, 120)
    assert (
        f"no purchases in any training window (the transactions end on {last})"
        in str(err.value)
    )


def test_no_purchases_in_training_names_where_the_data_ends(
    synthetic: pd.DataFrame,
) -> None:
    """A stray row years after the rest (a typed year) is not where the log
    ends: the error names the data's last day and the stray row, not the
    stray row's date as the log's end."""
    last = str(pd.Timestamp(synthetic["order_date"].max()).date())
    typo = synthetic.iloc[[0]].assign(
        order_date=pd.Timestamp(last) + pd.Timedelta(days=3000)
    )
    rows = pd.concat([synthetic, typo], ignore_index=True)
    log = TransactionLog.from_columns(
        rows["customer_id"], rows["order_date"], rows["amount"]
    )
    assert log.stray_rows == 1
    config = CLTVConfig(n_estimators=2, max_iter=20, min_samples_leaf=20)
    as_of = day_number(str(pd.Timestamp(last) + pd.Timedelta(days=1500)))
    with pytest.raises(InputError) as err:
        CLTVModel(config).fit(CustomerData(log), as_of, 120)
    assert (
        "no purchases in any training window (the transactions' data ends on "
        f"{last}; 1 row dated after it, over {STRAY_GAP_DAYS} days past the "
        "rest, is not counted as the log's end: a typo?): nothing to learn "
        "spend from"
    ) in str(err.value)


def test_a_degenerate_btyd_fit_is_a_one_line_error() -> None:
    """A few weeks of history can drive BG/NBD's a and b to ~0 (history-3 of
    the protocol to 2024-02-09: a = 2.2e-16, b = 9.4e-16); eq. 10 then
    diverges for customers with one repeat purchase. Features refuse such a
    fit, so a training cut-off on it is skipped like one with too little
    history instead of handing infinities to the regressor."""
    rows = [*ROWS, ("d", "2024-01-05", 12.0), ("d", "2024-02-01", 18.0)]
    data = CustomerData(_log(rows))
    degenerate = BtydFit(
        BetaGeoFit(0.186, 4.17, 2.2e-16, 9.4e-16, 0.0, 3, True),
        GammaGammaFit(7.6, 2.5, 8.2, 0.0, 2, True),
    )
    with pytest.raises(InputError) as err:
        build_features(data, AS_OF, 30, btyd=degenerate)
    message = str(err.value)
    assert "degenerate (a = 2.2e-16, b = 9.4e-16)" in message
    assert "2024-02-29" in message and "\n" not in message
    sane = BtydFit(
        BetaGeoFit(0.19, 4.2, 0.8, 2.4, 0.0, 3, True),
        GammaGammaFit(7.6, 2.5, 8.2, 0.0, 2, True),
    )
    # spend too heavy-tailed (q <= 1): the message names the largest amount
    # before the day, where the check starts (it said "check the largest
    # amounts" and named none)
    heavy = BtydFit(sane.bgnbd, GammaGammaFit(7.2e6, 0.67, 2.9e-6, 0.0, 2, True))
    with pytest.raises(InputError) as err:
        build_features(data, AS_OF, 30, btyd=heavy)
    assert "(q = 0.67 <= 1: " in str(err.value)
    assert str(err.value).endswith(
        "check the largest amounts (the largest, field 'amount' = 40.00, is "
        "customer a's on 2024-02-10)"
    )
    feats = build_features(data, AS_OF, 30, btyd=sane)
    assert np.isfinite(feats.frame["btyd_expected_spend"].to_numpy()).all()


def test_a_bgnbd_fit_with_a_and_b_at_their_upper_bound_is_used() -> None:
    """a, b -> infinity at a fixed a / (a + b) is one dropout probability
    every customer shares, a limit eq. 10 computes: a young history's fit
    (2022-04-22, 150 customers) stopped at a = 2e6 on one CPU and at the
    bound (b = 7.2e10) on another, with forecasts 3 % apart, and the second
    was refused as degenerate, ending a daily retrain. The lower bound of a
    or b, and either bound of r or alpha, are still refused."""
    data = CustomerData(_log([*ROWS, ("d", "2024-01-05", 12.0)]))
    gg = GammaGammaFit(7.6, 2.5, 8.2, 0.0, 2, True)
    top = math.exp(LOG_PARAM_BOUND)
    ridge = BtydFit(BetaGeoFit(0.09, 0.73, 1.35e10, top, 0.0, 4, True), gg)
    # the same dropout probability, spread 10,000 times as wide
    moderate = BtydFit(BetaGeoFit(0.09, 0.73, 1.35e6, top / 1e4, 0.0, 4, True), gg)
    at_bound = build_features(data, AS_OF, 30, btyd=ridge).frame
    inside = build_features(data, AS_OF, 30, btyd=moderate).frame
    spend = "btyd_expected_spend"
    np.testing.assert_allclose(at_bound[spend], inside[spend], rtol=1e-4)
    for fit in (
        BetaGeoFit(0.09, 0.73, 1 / top, 1.11e7, 0.0, 4, True),
        BetaGeoFit(0.09, 1 / top, 1.35e6, 7.2e6, 0.0, 4, True),
    ):
        with pytest.raises(InputError, match="at the bounds of what it can compute"):
            build_features(data, AS_OF, 30, btyd=BtydFit(fit, gg))


def test_a_no_dropout_bgnbd_fit_is_used() -> None:
    """The no-dropout limit fit_bgnbd publishes on the ridge a -> 0, b -> inf
    (a = 0: the NBD, every customer alive) is a model, not a fit at a
    bound: the check took log(0) of it. Its forecasts are the limit of
    eq. 10's as a -> 0."""
    data = CustomerData(_log([*ROWS, ("d", "2024-01-05", 12.0)]))
    gg = GammaGammaFit(7.6, 2.5, 8.2, 0.0, 2, True)
    limit = BtydFit(BetaGeoFit(0.5, 8.7, 0.0, 1.0, 0.0, 4, True), gg)
    near = BtydFit(BetaGeoFit(0.5, 8.7, 1e-9, 1.0, 0.0, 4, True), gg)
    spend = "btyd_expected_spend"
    at_limit = build_features(data, AS_OF, 30, btyd=limit).frame
    np.testing.assert_allclose(
        at_limit[spend],
        build_features(data, AS_OF, 30, btyd=near).frame[spend],
        rtol=1e-6,
    )
    assert (at_limit["btyd_p_alive"] == 1.0).all()


@pytest.mark.parametrize("share", [1.0, 0.0])
def test_a_two_point_bgnbd_fit_of_share_all_or_none_is_used(share: float) -> None:
    """A two-point limit fit (a + b == 1) whose share lands on 1 or 0 on
    the parameter grid is a model, not a Beta at its bounds: the check took
    math.log(0) of its b or a and `cltv score` ended in a traceback
    (ValueError: math domain error; the fuzz's log of 2026-12-06). Its
    forecasts are finite; with every one-time repeat buyer gone (share 1)
    a customer of one repeat purchase is not alive."""
    data = CustomerData(_log([*ROWS, ("d", "2024-01-05", 12.0)]))
    gg = GammaGammaFit(7.6, 2.5, 8.2, 0.0, 2, True)
    fit = BetaGeoFit(0.5, 8.7, share, 1.0 - share, 0.0, 4, True, "two-point")
    frame = build_features(data, AS_OF, 30, btyd=BtydFit(fit, gg)).frame
    assert np.isfinite(frame["btyd_expected_spend"].to_numpy()).all()
    assert set(frame["btyd_p_alive"]) <= {0.0, 1.0}


@pytest.mark.parametrize("table", ["profiles", "browsing"])
def test_a_table_naming_none_of_the_customers_is_refused(
    tmp_path: Path, table: str
) -> None:
    """Customer ids with their leading zeros lost (a spreadsheet's doing) in
    the profile or browsing table: no row matched a customer, every
    profile feature was missing, and train and score went on without a
    word. Refused, naming the table and both ids."""
    tx = tmp_path / "tx.csv"
    tx.write_text(
        "customer_id,order_date,amount\n000017,2024-01-02,10\n000042,2024-01-05,12\n"
    )
    other = tmp_path / f"{table}.csv"
    other.write_text(
        "customer_id,signup_date,region\n17,2023-05-01,north\n42,2023-06-01,south\n"
        if table == "profiles"
        else "customer_id,date,sessions,product_views,cart_adds\n17,2024-01-02,1,3,0\n"
    )
    given = {"profiles": other} if table == "profiles" else {"browsing": other}
    with pytest.raises(InputError) as info:
        load_customer_data(
            tx, profiles=given.get("profiles"), browsing=given.get("browsing")
        )
    assert str(info.value) == (
        f"{other}: field 'customer_id': no id is one of the 2 customers of "
        f"{tx} (here '17', there '000017'): write the ids alike, leading "
        "zeros included"
    )
    # one customer in common is enough: a table may cover some customers
    other.write_text(other.read_text().replace("\n17,", "\n000017,"))
    data, _ = load_customer_data(
        tx, profiles=given.get("profiles"), browsing=given.get("browsing")
    )
    assert getattr(data, table) is not None
