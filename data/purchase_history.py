"""Synthetic customers and CDNOW-like purchase history for the sample network:
BG/NBD + Gamma-Gamma with CDNOW's fitted parameters, plus a holiday season.
The model and its parameters: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.geography import CENSUS_REGION

LOYALTY_TIERS = ("none", "silver", "gold", "platinum")
CHANNELS = ("organic", "paid_search", "social", "email", "referral", "affiliate")
CHANNEL_P = (0.34, 0.24, 0.16, 0.1, 0.1, 0.06)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_P = (0.12, 0.26, 0.22, 0.17, 0.14, 0.09)


@dataclass(frozen=True, slots=True)
class HistoryParams:
    """Generative parameters (defaults: the CDNOW fit, weeks)."""

    r: float = 0.2516
    alpha: float = 4.7889
    a: float = 0.7234
    b: float = 2.1611
    p: float = 6.2754
    q: float = 3.6245
    gamma: float = 14.9837
    holiday_boost: float = 1.6


def _season(
    days: NDArray[np.float64], start: dt.date, boost: float
) -> NDArray[np.float64]:
    dates = np.datetime64(start, "D") + days.astype("timedelta64[D]")
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    holiday = (doy >= 318) & (doy <= 357)  # about Nov 15 .. Dec 24
    return np.where(holiday, boost, 1.0)


def synthetic_customers(
    n: int,
    zip3: NDArray[np.str_] | list[str],
    zip3_state: list[str],
    population: NDArray[np.float64],
    *,
    start: dt.date,
    end: dt.date,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Customer profiles: id, signup date, home prefix, region, channel, age band.

    Home prefixes are drawn in proportion to population; signups spread over
    ``[start, end]`` with mild growth (later months a little busier).
    """
    span = (end - start).days + 1
    u = rng.random(n)
    offset = np.floor(span * (np.sqrt(1.0 + 3.0 * u) - 1.0)).astype(np.int64)
    signup = np.datetime64(start, "D") + np.sort(offset).astype("timedelta64[D]")
    w = np.asarray(population, dtype=np.float64)
    home = rng.choice(len(w), size=n, p=w / w.sum())
    states = np.asarray(zip3_state, dtype=object)[home]
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(1, n + 1)],
            "signup_date": pd.to_datetime(signup).strftime("%Y-%m-%d"),
            "home_zip3": np.asarray(zip3, dtype=object)[home],
            "region": [CENSUS_REGION.get(str(s), "other") for s in states],
            "acquisition_channel": rng.choice(np.array(CHANNELS), size=n, p=CHANNEL_P),
            "age_band": rng.choice(np.array(AGE_BANDS), size=n, p=AGE_P),
        }
    )


def synthetic_transactions(
    customers: pd.DataFrame,
    *,
    end: dt.date,
    rng: np.random.Generator,
    params: HistoryParams | None = None,
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """Purchase history of ``customers`` up to ``end`` (inclusive).

    Returns
    -------
    transactions, value
        ``customer_id, order_date, amount, quantity, order_id`` sorted by date,
        and each customer's latent expected weekly spend (for loyalty tiers).
    """
    prm = params or HistoryParams()
    n = len(customers)
    signup = pd.to_datetime(customers["signup_date"]).to_numpy().astype("datetime64[D]")
    origin = signup.min().astype(object)
    start_day = (signup - signup.min()).astype(np.float64)
    end_day = float((np.datetime64(end, "D") - signup.min()).astype(np.int64)) + 1.0
    lam = rng.gamma(prm.r, 1.0 / prm.alpha, size=n) / 7.0  # per day
    p_drop = rng.beta(prm.a, prm.b, size=n)
    nu = rng.gamma(prm.q, 1.0 / prm.gamma, size=n)

    who, day = _purchase_days(
        rng, start_day, end_day, lam, p_drop, origin=origin, boost=prm.holiday_boost
    )
    amount = rng.gamma(prm.p, 1.0 / nu[who])
    amount = np.maximum(np.round(amount, 2), 0.5)
    quantity = 1 + rng.poisson(np.minimum(amount / 30.0, 20.0))
    order = np.lexsort((who, day))
    who, day, amount, quantity = who[order], day[order], amount[order], quantity[order]
    dates = signup.min() + day.astype(np.int64).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[who],
            "order_date": pd.to_datetime(dates).strftime("%Y-%m-%d"),
            "amount": amount,
            "quantity": quantity,
            "order_id": [f"T{i:07d}" for i in range(1, len(who) + 1)],
        }
    )
    value = lam * 7.0 * prm.p / nu
    return frame, value


def _purchase_days(
    rng: np.random.Generator,
    start_day: NDArray[np.float64],
    end_day: float,
    lam: NDArray[np.float64],
    p_drop: NDArray[np.float64],
    *,
    origin: dt.date,
    boost: float,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Customer and day of every purchase: the first at signup, then BG/NBD
    repeats (thinned to the holiday season) until dropout or ``end_day``."""
    cust_idx: list[NDArray[np.int64]] = [np.arange(start_day.size)]
    day_list: list[NDArray[np.float64]] = [start_day]
    active = rng.random(start_day.size) >= p_drop  # drop-out after the first
    t = start_day.copy()
    idx = np.flatnonzero(active)
    while idx.size:
        t_i = t[idx] + rng.exponential(1.0 / (lam[idx] * boost))
        alive = t_i < end_day
        idx, t_i = idx[alive], t_i[alive]
        t[idx] = t_i
        accept = rng.random(idx.size) < _season(t_i, origin, boost) / boost
        bought = idx[accept]
        cust_idx.append(bought)
        day_list.append(np.floor(t[bought]))
        stay = rng.random(bought.size) >= p_drop[bought]
        idx = np.concatenate([idx[~accept], bought[stay]])
    return np.concatenate(cust_idx), np.concatenate(day_list)


def loyalty_tiers(
    value: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.str_]:
    """Loyalty tier per customer from a noisy rank of latent value."""
    noisy = np.log(value + 1e-9) + rng.normal(0.0, 1.0, size=value.size)
    rank = noisy.argsort().argsort() / max(value.size - 1, 1)
    tiers = np.select(
        [rank >= 0.97, rank >= 0.88, rank >= 0.65],
        ["platinum", "gold", "silver"],
        "none",
    )
    return np.asarray(tiers)
