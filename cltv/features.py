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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.cltv.btyd import BetaGeoFit, GammaGammaFit, fit_bgnbd, fit_gamma_gamma
from tierflow.data.errors import InputError
from tierflow.data.transactions import (
    BrowsingLog,
    CustomerProfiles,
    ReadReport,
    TransactionFormat,
    TransactionLog,
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


def customer_history(log: TransactionLog, as_of_day: int) -> CustomerHistory:
    """Summarize every customer who purchased on or before ``as_of_day``."""
    keep = log.day <= as_of_day
    cust = log.customer[keep]
    day = log.day[keep]
    amount = log.amount[keep]
    qty = None if log.quantity is None else log.quantity[keep]

    # customer-day aggregation
    day_key = cust * np.int64(1 << 24) + (day - day.min() if len(day) else day)
    ds = _group_starts(day_key)
    d_cust = cust[ds]
    d_day = day[ds]
    d_value = _sum(amount, ds)
    d_gross = _sum(np.where(amount > 0, amount, 0.0), ds)
    d_returns = _sum(np.where(amount < 0, -amount, 0.0), ds)
    d_purchase = np.maximum.reduceat(amount >= 0, ds) if len(ds) else np.zeros(0, bool)
    d_zero = np.maximum.reduceat(amount == 0, ds) if len(ds) else np.zeros(0, bool)
    d_qty = None if qty is None else _sum(np.where(amount >= 0, qty, 0.0), ds)

    # spend and returns use every day; the purchase process uses purchase days
    cs_all = _group_starts(d_cust)
    all_codes = d_cust[cs_all]
    total_all = _sum(d_value, cs_all)
    gross_all = _sum(d_gross, cs_all)
    returns_all = _sum(d_returns, cs_all)

    p = d_purchase.astype(bool)
    p_cust, p_day, p_value = d_cust[p], d_day[p], d_value[p]
    p_zero = d_zero[p].astype(float)
    cs = _group_starts(p_cust)
    codes = p_cust[cs]
    n = np.diff(np.r_[cs, len(p_cust)]).astype(np.float64)
    last_idx = np.r_[cs[1:], len(p_cust)] - 1
    first_day = p_day[cs].astype(np.float64)
    last_day = p_day[last_idx].astype(np.float64)
    T = as_of_day - first_day
    t_x = last_day - first_day
    x = n - 1.0
    recency = as_of_day - last_day

    value_sum = _sum(p_value, cs)
    first_value = p_value[cs] if len(cs) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        repeat_mean = np.where(x > 0, (value_sum - first_value) / x, np.nan)
        mean = value_sum / n
    vmax = np.maximum.reduceat(p_value, cs) if len(cs) else np.zeros(0)
    # median per customer: sort values within customer, take the middle ones
    order = np.lexsort((p_value, p_cust))
    sorted_v = p_value[order]
    lo = cs + (n.astype(np.int64) - 1) // 2
    hi = cs + n.astype(np.int64) // 2
    median = 0.5 * (sorted_v[lo] + sorted_v[hi]) if len(cs) else np.zeros(0)

    # inter-purchase times (days between consecutive purchase days)
    gaps = np.diff(p_day).astype(np.float64)
    same = p_cust[1:] == p_cust[:-1]
    gaps = np.where(same, gaps, 0.0)
    gap_sum = np.r_[0.0, np.cumsum(gaps)]
    gap_sq = np.r_[0.0, np.cumsum(gaps**2)]
    g_sum = gap_sum[last_idx] - gap_sum[cs]
    g_sq = gap_sq[last_idx] - gap_sq[cs]
    with np.errstate(invalid="ignore", divide="ignore"):
        ipt_mean = np.where(x > 0, g_sum / x, np.nan)
        ipt_var = np.where(
            x > 1, (g_sq - x * ipt_mean**2) / np.maximum(x - 1, 1), np.nan
        )
        ipt_std = np.sqrt(np.maximum(ipt_var, 0.0))
        ipt_std = np.where(x > 1, ipt_std, np.nan)
        prev_idx = np.maximum(last_idx - 1, 0)
        ipt_last = np.where(x > 0, last_day - p_day[prev_idx], np.nan)
        recency_over_ipt = np.where(x > 0, recency / np.maximum(ipt_mean, 1.0), np.nan)

    pos = np.searchsorted(all_codes, codes)  # purchasers among all customers
    cols: dict[str, FloatArray] = {
        "frequency": x,
        "recency_days": recency,
        "tenure_days": T,
        "t_x_days": t_x,
        "n_purchase_days": n,
        "monetary_mean": mean,
        "monetary_median": median,
        "monetary_max": vmax,
        "first_value": first_value,
        "repeat_mean": repeat_mean,
        "ipt_mean": ipt_mean,
        "ipt_std": ipt_std,
        "ipt_last": ipt_last,
        "recency_over_ipt": recency_over_ipt,
    }
    for w in TREND_WINDOWS:
        in_w = (p_day > as_of_day - w).astype(np.float64)
        cols[f"purchases_{w}d"] = _sum(in_w, cs)
        in_all = d_day > as_of_day - w
        cols[f"spend_{w}d"] = _sum(np.where(in_all, d_value, 0.0), cs_all)[pos]
    cols["total_spend"] = total_all[pos]
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["return_share"] = np.where(
            gross_all[pos] > 0, returns_all[pos] / gross_all[pos], 0.0
        )
        cols["zero_value_share"] = _sum(p_zero, cs) / n
        if d_qty is not None:
            q_sum = _sum(d_qty[p], cs)
            cols["quantity_mean"] = q_sum / n
            cols["unit_price_mean"] = np.where(q_sum > 0, value_sum / q_sum, np.nan)
    names = [*BASE_FEATURES, *(QUANTITY_FEATURES if d_qty is not None else ())]
    ids = log.customer_ids[codes]
    frame = pd.DataFrame(
        {name: cols[name] for name in names}, index=pd.Index(ids, name="customer_id")
    )
    return CustomerHistory(
        as_of_day=as_of_day,
        customer_ids=np.asarray(ids, dtype=object),
        codes=codes,
        x=x,
        t_x=t_x,
        T=T,
        repeat_mean=np.where(np.isnan(repeat_mean), 0.0, repeat_mean),
        frame=frame,
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
        rows = np.random.default_rng(0).choice(
            history.n_customers, max_customers, replace=False
        )
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
    lo, hi = history.as_of_day, history.as_of_day + days
    keep = (log.day > lo) & (log.day <= hi)
    totals = np.bincount(
        log.customer[keep], weights=log.amount[keep], minlength=log.n_customers
    )
    return np.asarray(totals[history.codes], dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class CustomerData:
    """Everything known about the customers: transactions plus optional tables."""

    transactions: TransactionLog
    profiles: CustomerProfiles | None = None
    browsing: BrowsingLog | None = None

    def fingerprint(self) -> str:
        """Content hash of the transactions (the model's training data identity)."""
        return self.transactions.fingerprint()


@dataclass(frozen=True, slots=True, eq=False)
class FeatureSet:
    """Features of every customer as of one day, with the BTYD fit behind them."""

    history: CustomerHistory
    btyd: BtydFit
    window_days: int
    frame: pd.DataFrame


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
    history = customer_history(data.transactions, as_of_day)
    if history.n_customers == 0:
        raise InputError(
            "no customer purchased on or before the as-of date",
            file=data.transactions.source or None,
            value=str(day_to_date(as_of_day).date()),
        )
    fit = btyd if btyd is not None else fit_btyd(history)
    parts = [history.frame, btyd_features(history, fit, window_days)]
    if data.profiles is not None:
        parts.append(profile_features(history, data.profiles))
    if data.browsing is not None:
        parts.append(browsing_features(history, data.browsing))
    frame = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    return FeatureSet(history, fit, window_days, frame)


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
    return CustomerData(log, profile_table, browsing_log), reports
