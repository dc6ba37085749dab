"""Customer features as of a date, computed from the history up to that date only.

Purchases follow the BTYD convention: all rows of a customer on one day form one
purchase (their amounts summed); a day with only returns (negative amounts) is
not a purchase but still counts in spend and return share. Zero-value rows are
purchases. The population as of day ``A`` is every customer with a purchase on
or before ``A``; nothing after ``A`` is read, so appending later transactions
cannot change a feature (tested).

All arithmetic is vectorized over customers (``np.add.reduceat`` over the rows
sorted by customer and day), so a million customers take seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.cltv.btyd import (
    LOG_PARAM_BOUND,
    BetaGeoFit,
    GammaGammaFit,
    fit_bgnbd,
    fit_gamma_gamma,
)
from tierflow.cltv.sampling import content_sample
from tierflow.data.errors import InputError
from tierflow.data.transactions import (
    BrowsingLog,
    CustomerProfiles,
    ReadReport,
    TransactionFormat,
    TransactionLog,
    as_of_error,
    day_to_date,
    read_browsing,
    read_profiles,
    read_transactions,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Trailing windows (days) for the trend features.
TREND_WINDOWS = (30, 90, 180)
#: Trailing windows (days) for browsing aggregates.
BROWSING_WINDOWS = (30, 90)
#: The BTYD time unit (weeks, as in the literature and the published fits).
BTYD_UNIT_DAYS = 7.0

#: Features from transactions alone, in model order.
BASE_FEATURES = (
    "frequency",
    "recency_days",
    "tenure_days",
    "t_x_days",
    "n_purchase_days",
    "total_spend",
    "monetary_mean",
    "monetary_median",
    "monetary_max",
    "first_value",
    "repeat_mean",
    "ipt_mean",
    "ipt_std",
    "ipt_last",
    "recency_over_ipt",
    *(f"purchases_{w}d" for w in TREND_WINDOWS),
    *(f"spend_{w}d" for w in TREND_WINDOWS),
    "return_share",
    "zero_value_share",
)
QUANTITY_FEATURES = ("quantity_mean", "unit_price_mean")
BTYD_FEATURES = (
    "btyd_p_alive",
    "btyd_expected_purchases",
    "btyd_p_any",
    "gg_expected_value",
    "btyd_expected_spend",
)
#: The customer's own season: the same calendar window one year earlier
#: (NaN where the log does not reach back that far).
SEASONAL_FEATURES = ("spend_year_ago", "purchases_year_ago")
#: One seasonal lag.
YEAR_DAYS = 365
BROWSING_FEATURES = (
    *(f"{name}_{w}d" for w in BROWSING_WINDOWS for name in ("sessions", "views")),
    *(f"cart_adds_{w}d" for w in BROWSING_WINDOWS),
    "days_since_session",
)


@dataclass(frozen=True, slots=True, eq=False)
class CustomerHistory:
    """Per-customer summary as of ``as_of_day`` (arrays aligned with ``codes``).

    ``codes`` index the log's ``customer_ids``; day quantities are in days.
    """

    as_of_day: int
    customer_ids: NDArray[np.object_]
    codes: IntArray
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    repeat_mean: FloatArray
    frame: pd.DataFrame
    #: Each customer's first purchase day's quantity (None: the log has none;
    #: not a feature: :func:`typical_first_order` reads it).
    first_quantity: FloatArray | None = None

    @property
    def n_customers(self) -> int:
        return len(self.codes)


def _group_starts(keys: IntArray) -> IntArray:
    """Start index of each run of equal values in a sorted key array."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).astype(np.int64)


def _sum(values: NDArray[np.generic], starts: IntArray) -> FloatArray:
    """Sum of ``values`` over the groups starting at ``starts``."""
    if len(starts) == 0:
        return np.zeros(0)
    return np.add.reduceat(values.astype(np.float64), starts)


@dataclass(frozen=True, slots=True, eq=False)
class _CustomerDays:
    """Rows up to the as-of date summed per customer-day (sorted by customer, day)."""

    customer: IntArray
    day: IntArray
    value: FloatArray
    gross: FloatArray
    returns: FloatArray
    purchase: NDArray[np.bool_]
    zero: NDArray[np.bool_]
    quantity: FloatArray | None

    @classmethod
    def of(cls, log: TransactionLog, as_of_day: int) -> _CustomerDays:
        keep = log.day <= as_of_day
        cust, day, amount = log.customer[keep], log.day[keep], log.amount[keep]
        day_key = cust * np.int64(1 << 24) + (day - day.min() if len(day) else day)
        ds = _group_starts(day_key)
        empty = np.zeros(0, bool)
        qty = None if log.quantity is None else log.quantity[keep]
        return cls(
            customer=cust[ds],
            day=day[ds],
            value=_sum(amount, ds),
            gross=_sum(np.where(amount > 0, amount, 0.0), ds),
            returns=_sum(np.where(amount < 0, -amount, 0.0), ds),
            purchase=np.maximum.reduceat(amount >= 0, ds).astype(bool)
            if len(ds)
            else empty,
            zero=np.maximum.reduceat(amount == 0, ds) if len(ds) else empty,
            quantity=None if qty is None else _sum(np.where(amount >= 0, qty, 0.0), ds),
        )


@dataclass(frozen=True, slots=True, eq=False)
class _Purchases:
    """Purchase days (days with no return-only rows) grouped by customer."""

    customer: IntArray
    day: IntArray
    value: FloatArray
    starts: IntArray  # first purchase day of each customer
    last: IntArray  # last purchase day of each customer
    codes: IntArray
    n: FloatArray

    @classmethod
    def of(cls, days: _CustomerDays) -> _Purchases:
        p = days.purchase
        customer = days.customer[p]
        starts = _group_starts(customer)
        ends = np.r_[starts[1:], len(customer)] if len(starts) else starts
        return cls(
            customer=customer,
            day=days.day[p],
            value=days.value[p],
            starts=starts,
            last=ends - 1,
            codes=customer[starts],
            n=np.diff(np.r_[starts, len(customer)]).astype(np.float64),
        )

    def sum(self, values: NDArray[np.generic]) -> FloatArray:
        return _sum(values, self.starts)


def _value_columns(pur: _Purchases) -> dict[str, FloatArray]:
    """Spend per purchase: mean, median, max, first and the repeat mean."""
    cs, n, x = pur.starts, pur.n, pur.n - 1.0
    value_sum = pur.sum(pur.value)
    first_value = pur.value[cs] if len(cs) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        repeat_mean = np.where(x > 0, (value_sum - first_value) / x, np.nan)
        mean = value_sum / n
    vmax = np.maximum.reduceat(pur.value, cs) if len(cs) else np.zeros(0)
    # median per customer: sort values within customer, take the middle ones
    sorted_v = pur.value[np.lexsort((pur.value, pur.customer))]
    lo = cs + (n.astype(np.int64) - 1) // 2
    hi = cs + n.astype(np.int64) // 2
    median = 0.5 * (sorted_v[lo] + sorted_v[hi]) if len(cs) else np.zeros(0)
    return {
        "monetary_mean": mean,
        "monetary_median": median,
        "monetary_max": vmax,
        "first_value": first_value,
        "repeat_mean": repeat_mean,
    }


def _ipt_columns(pur: _Purchases, recency: FloatArray) -> dict[str, FloatArray]:
    """Inter-purchase times: days between consecutive purchase days."""
    cs, last_idx, x = pur.starts, pur.last, pur.n - 1.0
    gaps = np.diff(pur.day).astype(np.float64)
    gaps = np.where(pur.customer[1:] == pur.customer[:-1], gaps, 0.0)
    gap_sum = np.r_[0.0, np.cumsum(gaps)]
    gap_sq = np.r_[0.0, np.cumsum(gaps**2)]
    g_sum = gap_sum[last_idx] - gap_sum[cs]
    g_sq = gap_sq[last_idx] - gap_sq[cs]
    last_day = pur.day[last_idx].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ipt_mean = np.where(x > 0, g_sum / x, np.nan)
        ipt_var = np.where(
            x > 1, (g_sq - x * ipt_mean**2) / np.maximum(x - 1, 1), np.nan
        )
        ipt_std = np.where(x > 1, np.sqrt(np.maximum(ipt_var, 0.0)), np.nan)
        prev_idx = np.maximum(last_idx - 1, 0)
        ipt_last = np.where(x > 0, last_day - pur.day[prev_idx], np.nan)
        recency_over_ipt = np.where(x > 0, recency / np.maximum(ipt_mean, 1.0), np.nan)
    return {
        "ipt_mean": ipt_mean,
        "ipt_std": ipt_std,
        "ipt_last": ipt_last,
        "recency_over_ipt": recency_over_ipt,
    }


def _spend_columns(
    days: _CustomerDays, pur: _Purchases, as_of_day: int
) -> dict[str, FloatArray]:
    """Spend over all days (returns included): totals, trends, return share."""
    cs_all = _group_starts(days.customer)
    pos = np.searchsorted(days.customer[cs_all], pur.codes)  # purchasers only
    gross = _sum(days.gross, cs_all)[pos]
    cols: dict[str, FloatArray] = {}
    for w in TREND_WINDOWS:
        in_w = (pur.day > as_of_day - w).astype(np.float64)
        cols[f"purchases_{w}d"] = pur.sum(in_w)
        in_all = days.day > as_of_day - w
        cols[f"spend_{w}d"] = _sum(np.where(in_all, days.value, 0.0), cs_all)[pos]
    cols["total_spend"] = _sum(days.value, cs_all)[pos]
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = _sum(days.returns, cs_all)[pos]
        cols["return_share"] = np.where(gross > 0, returns / gross, 0.0)
        zero = days.zero[days.purchase].astype(float)
        cols["zero_value_share"] = pur.sum(zero) / pur.n
    return cols


def _quantity_columns(days: _CustomerDays, pur: _Purchases) -> dict[str, FloatArray]:
    if days.quantity is None:
        return {}
    q_sum = pur.sum(days.quantity[days.purchase])
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_price = np.where(q_sum > 0, pur.sum(pur.value) / q_sum, np.nan)
    return {"quantity_mean": q_sum / pur.n, "unit_price_mean": unit_price}


def customer_history(log: TransactionLog, as_of_day: int) -> CustomerHistory:
    """Summarize every customer who purchased on or before ``as_of_day``."""
    days = _CustomerDays.of(log, as_of_day)
    pur = _Purchases.of(days)
    first_day = pur.day[pur.starts].astype(np.float64)
    last_day = pur.day[pur.last].astype(np.float64)
    x = pur.n - 1.0
    recency = as_of_day - last_day
    cols: dict[str, FloatArray] = {
        "frequency": x,
        "recency_days": recency,
        "tenure_days": as_of_day - first_day,
        "t_x_days": last_day - first_day,
        "n_purchase_days": pur.n,
        **_value_columns(pur),
        **_ipt_columns(pur, recency),
        **_spend_columns(days, pur, as_of_day),
        **_quantity_columns(days, pur),
    }
    quantity = QUANTITY_FEATURES if days.quantity is not None else ()
    ids = log.customer_ids[pur.codes]
    frame = pd.DataFrame(
        {name: cols[name] for name in (*BASE_FEATURES, *quantity)},
        index=pd.Index(ids, name="customer_id"),
    )
    repeat_mean = cols["repeat_mean"]
    return CustomerHistory(
        as_of_day=as_of_day,
        customer_ids=np.asarray(ids, dtype=object),
        codes=pur.codes,
        x=x,
        t_x=cols["t_x_days"],
        T=cols["tenure_days"],
        repeat_mean=np.where(np.isnan(repeat_mean), 0.0, repeat_mean),
        frame=frame,
        first_quantity=None
        if days.quantity is None
        else days.quantity[days.purchase][pur.starts],
    )


@dataclass(frozen=True, slots=True)
class BtydFit:
    """BG/NBD + Gamma-Gamma fitted on one history (time unit: weeks)."""

    bgnbd: BetaGeoFit
    gamma_gamma: GammaGammaFit

    def weeks(self, history: CustomerHistory) -> tuple[FloatArray, ...]:
        u = BTYD_UNIT_DAYS
        return history.x, history.t_x / u, history.T / u

    def expected_purchases(self, history: CustomerHistory, days: float) -> FloatArray:
        x, t_x, T = self.weeks(history)
        return self.bgnbd.expected_purchases(days / BTYD_UNIT_DAYS, x, t_x, T)

    def expected_spend(self, history: CustomerHistory, days: float) -> FloatArray:
        value = self.gamma_gamma.expected_value(history.x, history.repeat_mean)
        return self.expected_purchases(history, days) * value

    def p_any(self, history: CustomerHistory, days: float) -> FloatArray:
        x, t_x, T = self.weeks(history)
        return self.bgnbd.p_any_purchase(days / BTYD_UNIT_DAYS, x, t_x, T)

    def p_alive(self, history: CustomerHistory) -> FloatArray:
        return self.bgnbd.p_alive(*self.weeks(history))


#: Customers a BTYD fit uses at most: the estimates from a uniform sample of
#: this size are as precise as anyone needs, and a fit on millions of distinct
#: histories would take minutes.
BTYD_FIT_CUSTOMERS = 200_000


def fit_btyd(
    history: CustomerHistory, *, max_customers: int | None = BTYD_FIT_CUSTOMERS
) -> BtydFit:
    """Fit BG/NBD on every customer and Gamma-Gamma on repeat customers.

    Above ``max_customers`` the fit uses a fixed-seed uniform sample of them.
    """
    if history.n_customers == 0:
        raise InputError("no customer purchased on or before the as-of date")
    x, t_x, T = history.x, history.t_x / BTYD_UNIT_DAYS, history.T / BTYD_UNIT_DAYS
    m = history.repeat_mean
    if max_customers is not None and history.n_customers > max_customers:
        rows = content_sample((x, t_x, T, m), max_customers)  # not by id
        x, t_x, T, m = x[rows], t_x[rows], T[rows], m[rows]
    bg = fit_bgnbd(x, t_x, T)
    gg = fit_gamma_gamma(x, m)
    return BtydFit(bg, gg)


def btyd_features(
    history: CustomerHistory, fit: BtydFit, horizon_days: float
) -> pd.DataFrame:
    """BTYD posterior quantities for the next ``horizon_days`` as features."""
    purchases = fit.expected_purchases(history, horizon_days)
    value = fit.gamma_gamma.expected_value(history.x, history.repeat_mean)
    return pd.DataFrame(
        {
            "btyd_p_alive": fit.p_alive(history),
            "btyd_expected_purchases": purchases,
            "btyd_p_any": fit.p_any(history, horizon_days),
            "gg_expected_value": value,
            "btyd_expected_spend": purchases * value,
        },
        index=history.frame.index,
    )


def seasonal_features(
    log: TransactionLog, history: CustomerHistory, window_days: int
) -> pd.DataFrame:
    """Spend and purchase days in ``(A - 365, A - 365 + window]`` (never past
    ``A``, the as-of date), or NaN when the log starts after ``A - 365``."""
    lo = history.as_of_day - YEAR_DAYS
    hi = min(lo + window_days, history.as_of_day)
    out = pd.DataFrame(index=history.frame.index)
    if lo < log.first_day:
        for name in SEASONAL_FEATURES:
            out[name] = np.nan
        return out
    keep = (log.day > lo) & (log.day <= hi)
    cust, day, amount = log.customer[keep], log.day[keep], log.amount[keep]
    spend = np.bincount(cust, weights=amount, minlength=log.n_customers)
    bought = amount >= 0
    cust, day = cust[bought], day[bought]
    # rows are sorted by (customer, day): a purchase day starts where either changes
    change = (cust[1:] != cust[:-1]) | (day[1:] != day[:-1])
    first = np.concatenate([np.ones(min(len(cust), 1), dtype=bool), change])
    days = np.bincount(cust[first], minlength=log.n_customers).astype(np.float64)
    out["spend_year_ago"] = spend[history.codes]
    out["purchases_year_ago"] = days[history.codes]
    return out


def profile_features(
    history: CustomerHistory, profiles: CustomerProfiles
) -> pd.DataFrame:
    """Signup tenure (NaN if unknown or after as-of) and categorical labels."""
    table = pd.DataFrame(index=pd.Index(profiles.customer_ids, name="customer_id"))
    if profiles.signup_day is not None:
        tenure = history.as_of_day - profiles.signup_day
        table["signup_tenure_days"] = np.where(tenure >= 0, tenure, np.nan)
    for name, values in profiles.categoricals:
        table[name] = pd.Series(values, index=table.index, dtype="str")
    out = table.reindex(history.frame.index)
    for name, _ in profiles.categoricals:
        out[name] = out[name].astype("str").where(out[name].notna(), "")
    return out


def browsing_features(history: CustomerHistory, browsing: BrowsingLog) -> pd.DataFrame:
    """Session, view and cart-add counts in trailing windows up to as-of."""
    keep = browsing.day <= history.as_of_day
    frame = pd.DataFrame(
        {
            "customer_id": browsing.customer_ids[keep],
            "age": history.as_of_day - browsing.day[keep],
            "sessions": browsing.sessions[keep],
            "views": browsing.product_views[keep],
            "cart_adds": browsing.cart_adds[keep],
        }
    )
    out = pd.DataFrame(index=history.frame.index)
    for w in BROWSING_WINDOWS:
        recent = frame.loc[frame["age"] < w]
        sums = recent.groupby("customer_id")[["sessions", "views", "cart_adds"]].sum()
        for name in ("sessions", "views", "cart_adds"):
            out[f"{name}_{w}d"] = sums[name].reindex(out.index).fillna(0.0).to_numpy()
    active = frame.loc[frame["sessions"] > 0]
    last = active.groupby("customer_id")["age"].min()
    out["days_since_session"] = last.reindex(out.index).astype("float64").to_numpy()
    return out[list(BROWSING_FEATURES)]


def window_spend(
    log: TransactionLog, history: CustomerHistory, days: int
) -> FloatArray:
    """Net spend of each customer of ``history`` in ``(as_of, as_of + days]``."""
    return spend_between(
        log, history.codes, history.as_of_day, history.as_of_day + days
    )


def spend_between(log: TransactionLog, codes: IntArray, lo: int, hi: int) -> FloatArray:
    """Net spend in ``(lo, hi]`` of each customer of ``codes`` (the log's)."""
    keep = (log.day > lo) & (log.day <= hi)
    totals = np.bincount(
        log.customer[keep], weights=log.amount[keep], minlength=log.n_customers
    )
    return np.asarray(totals[codes], dtype=np.float64)


def purchasers_by(log: TransactionLog, day: int) -> IntArray:
    """The customers (sorted codes) with a purchase on or before ``day``: a
    row of a non-negative amount, as :func:`customer_history` counts a
    purchase day, without building the history."""
    bought = (log.day <= day) & (log.amount >= 0)
    return np.asarray(np.unique(log.customer[bought]), dtype=np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class CustomerData:
    """Everything known about the customers: transactions plus optional tables."""

    transactions: TransactionLog
    profiles: CustomerProfiles | None = None
    browsing: BrowsingLog | None = None

    def fingerprint(self) -> str:
        """Content hash of the transactions (the model's training data identity)."""
        return self.transactions.fingerprint()

    def until(self, day: int) -> CustomerData:
        """What was known at the end of ``day``: transactions and browsing on or
        before it (profiles are static attributes and kept whole)."""
        browsing = self.browsing
        if browsing is not None:
            keep = browsing.day <= day
            browsing = BrowsingLog(
                customer_ids=browsing.customer_ids[keep],
                day=browsing.day[keep],
                sessions=browsing.sessions[keep],
                product_views=browsing.product_views[keep],
                cart_adds=browsing.cart_adds[keep],
                source=browsing.source,
            )
        return CustomerData(self.transactions.until(day), self.profiles, browsing)


@dataclass(frozen=True, slots=True, eq=False)
class FeatureSet:
    """Features of every customer as of one day, with the BTYD fit behind them."""

    history: CustomerHistory
    btyd: BtydFit
    window_days: int
    frame: pd.DataFrame


def require_purchases(log: TransactionLog, as_of_day: int) -> None:
    """Raise unless some customer purchased on or before ``as_of_day``: an
    as-of date before the data has no one to score or train on, and the
    arithmetic on an empty population fails with a numpy error instead.

    Raises
    ------
    InputError
        Naming the log's file and the as-of date, and the first purchase day.
    """
    bought = log.day[log.amount >= 0]
    if not bought.size:
        raise InputError(
            "no purchase in the log: every amount is negative (returns only)",
            file=log.source or None,
            field="amount",
        )
    if int(bought.min()) <= as_of_day:
        return
    first = day_to_date(int(bought.min())).date()
    raise as_of_error(
        f"no purchase on or before the as-of date (the first purchase is on {first})",
        log,
        as_of_day,
    )


class DegenerateFit(InputError):
    """A BTYD fit whose forecasts nothing downstream can use (see
    :func:`check_btyd_forecasts`)."""


def check_btyd_forecasts(
    spend: NDArray[np.float64], fit: BtydFit, log: TransactionLog, as_of_day: int
) -> None:
    """Refuse a BTYD fit whose forecasts cannot be used: not finite or
    negative, or a BG/NBD fit at the bounds of its parameters (r or alpha at
    either, a or b at the lower one). a, b -> 0 (a
    few weeks of history, or purchases at a steady rate with no sign of
    dropout) makes eq. 10's hypergeometric term diverge or lose its
    precision: held at the bounds, a fit forecast $21.8 M a customer for 30
    days where $107 was right, or -1,710. A Gamma-Gamma q <= 1 (spend too
    heavy-tailed for a mean value to exist) makes a one-time buyer's value
    negative. Training checks the fit at its as-of date as scoring does (it
    made a model current that ``score`` then refused at the same date).

    Raises
    ------
    DegenerateFit
        Naming the model at fault, the log and the day.
    """
    bg, gg = fit.bgnbd, fit.gamma_gamma
    edge = LOG_PARAM_BOUND - 1e-6
    # a and b at their upper bound are the limit of one dropout probability
    # a / (a + b) every customer shares (the Beta mixing collapsed to a
    # point), which eq. 10 computes to its precision: where the likelihood
    # is that flat, an optimizer stops anywhere along the ridge, on one CPU
    # at a = 2e6, on another at the bound, with forecasts 3 % apart; a == 0
    # is the other limit, no dropout (the NBD, in closed form); a limit of
    # the mixing ("point", "two-point": a + b == 1, a two-point share of 0
    # or 1 on the parameter grid) is no Beta at its bounds (math.log(0) of
    # such an a or b ended `cltv score` in a traceback)
    beta = bg.dropout == "beta" and not bg.no_dropout
    bounded = any(abs(math.log(v)) >= edge for v in (bg.r, bg.alpha)) or (
        beta and any(math.log(v) <= -edge for v in (bg.a, bg.b))
    )
    if np.isfinite(spend).all() and (spend >= 0).all() and not bounded:
        return
    if gg.q <= 1.0:
        why = (
            "the Gamma-Gamma fit on the history up to this day is degenerate "
            f"(q = {gg.q:.2g} <= 1: spend too heavy-tailed for a customer's "
            "mean value to exist): its forecasts are negative; check the "
            f"largest amounts ({_largest_amount(log, as_of_day)})"
        )
    else:
        edge_note = " at the bounds of what it can compute" if bounded else ""
        why = (
            "the BG/NBD fit on the history up to this day is degenerate "
            f"(a = {bg.a:.2g}, b = {bg.b:.2g}){edge_note}: its forecasts are "
            "not finite, negative or meaningless; the model does not fit this "
            "history (too short, or no sign of customers dropping out)"
        )
    raise as_of_error(why, log, as_of_day, kind=DegenerateFit)


def _largest_amount(log: TransactionLog, as_of_day: int) -> str:
    """The log's largest amount before ``as_of_day``, its customer and date
    (where a check of the largest amounts starts)."""
    amounts = np.where(log.day < as_of_day, log.amount, -np.inf)
    k = int(np.argmax(amounts))
    return (
        f"the largest, field 'amount' = {log.amount[k]:,.2f}, is customer "
        f"{log.customer_ids[log.customer[k]]}'s on "
        f"{day_to_date(int(log.day[k])).date()}"
    )


def build_features(
    data: CustomerData,
    as_of_day: int,
    window_days: int,
    *,
    btyd: BtydFit | None = None,
) -> FeatureSet:
    """All features as of ``as_of_day``; BTYD ones describe the next ``window_days``.

    ``btyd`` reuses a fit made on the same history (refitted when ``None``).
    Profile categoricals are returned as strings; the model encodes them.
    """
    require_purchases(data.transactions, as_of_day)
    history = customer_history(data.transactions, as_of_day)
    try:
        fit = btyd if btyd is not None else fit_btyd(history)
    except InputError as exc:
        if exc.file is not None:
            raise
        # named no file, field or day ("Gamma-Gamma needs repeat customers
        # with positive spend, found 0" from `cltv score` on a small log)
        raise as_of_error(
            f"{exc.reason} (BG/NBD + Gamma-Gamma are fitted on the history up "
            "to this day, of the customers given)",
            data.transactions,
            as_of_day,
        ) from None
    posterior = btyd_features(history, fit, window_days)
    check_btyd_forecasts(
        posterior["btyd_expected_spend"].to_numpy(), fit, data.transactions, as_of_day
    )
    parts = [
        history.frame,
        posterior,
        seasonal_features(data.transactions, history, window_days),
    ]
    if data.profiles is not None:
        parts.append(profile_features(history, data.profiles))
    if data.browsing is not None:
        parts.append(browsing_features(history, data.browsing))
    frame = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    return FeatureSet(history, fit, window_days, frame)


#: The id the just-acquired customer's features are computed under (no
#: log's id: ids are never empty and this one starts with a NUL).
NEWCOMER_ID = "\x00new customer"


def typical_first_order(history: CustomerHistory) -> tuple[float, float]:
    """The median first order of ``history``'s customers: the median of each
    customer's first purchase day's net amount (``first_value``; at least 0:
    a first day returned in full is not an order), and of its quantity (NaN
    when the log has none). From the history already summed, not the log
    again."""
    amount = max(float(np.median(history.frame["first_value"].to_numpy())), 0.0)
    if history.first_quantity is None:
        return amount, float("nan")
    return amount, float(np.median(history.first_quantity))


def newcomer_features(
    data: CustomerData, population: CustomerHistory, window_days: int, btyd: BtydFit
) -> FeatureSet:
    """The features of a customer acquired on ``population``'s as-of day:
    one purchase that day of the population's :func:`typical_first_order`,
    nothing before it (BG/NBD's ``x = t_x = T = 0``).

    Computed by the functions that compute every customer's, on a log of
    that one purchase, with ``btyd`` (the population's fit) for the
    posterior. A year ago it bought nothing (0; NaN where the log does not
    reach back a year, as for everyone then); it has no profile row and no
    browsing (as a customer of the log without them).
    """
    log, as_of_day = data.transactions, population.as_of_day
    amount, quantity = typical_first_order(population)
    one = TransactionLog(
        customer_ids=np.array([NEWCOMER_ID], dtype=object),
        customer=np.zeros(1, dtype=np.int64),
        day=np.array([as_of_day], dtype=np.int64),
        amount=np.array([amount]),
        quantity=None if log.quantity is None else np.array([quantity]),
    )
    history = customer_history(one, as_of_day)
    year_ago = 0.0 if as_of_day - YEAR_DAYS >= log.first_day else np.nan
    seasonal = pd.DataFrame(
        dict.fromkeys(SEASONAL_FEATURES, year_ago), index=history.frame.index
    )
    parts = [history.frame, btyd_features(history, btyd, window_days), seasonal]
    if data.profiles is not None:
        parts.append(profile_features(history, data.profiles))
    if data.browsing is not None:
        counts = np.zeros(0)  # its browsing: none of the log's rows
        empty = BrowsingLog(
            np.zeros(0, dtype=object),
            np.zeros(0, dtype=np.int64),
            counts,
            counts,
            counts,
        )
        parts.append(browsing_features(history, empty))
    return FeatureSet(history, btyd, window_days, pd.concat(parts, axis=1))


def load_customer_data(
    transactions: str | Path,
    *,
    fmt: TransactionFormat = "auto",
    profiles: str | Path | None = None,
    browsing: str | Path | None = None,
    skip_bad_rows: bool = False,
) -> tuple[CustomerData, list[ReadReport]]:
    """Read and validate the transaction log and the optional tables."""
    log, report = read_transactions(transactions, fmt=fmt, skip_bad_rows=skip_bad_rows)
    reports = [report]
    profile_table = None
    if profiles is not None:
        profile_table, rep = read_profiles(profiles, skip_bad_rows=skip_bad_rows)
        reports.append(rep)
    browsing_log = None
    if browsing is not None:
        browsing_log, rep = read_browsing(browsing, skip_bad_rows=skip_bad_rows)
        reports.append(rep)
    for table in (profile_table, browsing_log):
        if table is not None:
            _require_common_customers(log, table.customer_ids, table.source)
    return CustomerData(log, profile_table, browsing_log), reports


def _require_common_customers(
    log: TransactionLog, ids: NDArray[np.object_], source: str
) -> None:
    """Raise unless a table's ``ids`` name one customer of ``log`` at least:
    with the ids' leading zeros lost (a spreadsheet's doing) no row matched,
    every profile or browsing feature was missing, and train and score went
    on without a word. Matched by a set: ``np.isin`` on object ids took
    40 s on the sample network's customers, pandas' ``Index.isin`` on its
    string ids 0.36 s (a Python loop), a set 2 ms."""
    if len(ids) == 0 or not set(log.customer_ids.tolist()).isdisjoint(ids.tolist()):
        return
    raise InputError(
        f"no id is one of the {log.n_customers} customers of {log.source} "
        f"(here {ids[0]!r}, there {log.customer_ids[0]!r}): write the ids "
        "alike, leading zeros included",
        file=source or None,
        field="customer_id",
    )
