"""A seeded generator of CDNOW-like transaction logs at any scale (BG/NBD +
Gamma-Gamma with heavier tails, returns and zero amounts), vectorized over
customers. The recipe: ``docs/data.md``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.log_files import PARQUET_SUFFIXES


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """Parameters of :func:`generate_transactions` (per-week rates)."""

    start: str = "2022-01-01"
    acquisition_days: int = 540
    span_days: int = 1095
    r: float = 0.12
    alpha: float = 0.8
    a: float = 0.5
    b: float = 2.5
    p_value: float = 6.0
    q_value: float = 3.6
    v_value: float = 15.0
    extra_lines: float = 0.65
    return_rate: float = 0.02
    zero_rate: float = 0.001

    def __post_init__(self) -> None:
        if not 0 < self.acquisition_days <= self.span_days:
            raise InputError(
                "must be in (0, span_days]",
                field="acquisition_days",
                value=self.acquisition_days,
            )
        for name in ("r", "alpha", "a", "b", "p_value", "q_value", "v_value"):
            if getattr(self, name) <= 0:
                raise InputError("must be > 0", field=name, value=getattr(self, name))


def generate_transactions(
    n_customers: int, *, seed: int = 0, spec: SyntheticSpec | None = None
) -> pd.DataFrame:
    """``customer_id, order_date, amount, quantity, order_id`` rows, sorted by date.

    Deterministic for a given ``(n_customers, seed, spec)``.
    """
    if n_customers < 1:
        raise InputError("must be >= 1", field="n_customers", value=n_customers)
    s = spec or SyntheticSpec()
    rng = np.random.default_rng(seed)
    buyer, day, nu = _purchases(rng, s, n_customers)
    rows = _with_returns(rng, s, _order_lines(rng, s, buyer, day, nu))
    width = max(7, len(str(n_customers)))
    ids = np.char.add("C", np.char.zfill(rows.customer.astype(str), width))
    start = np.datetime64(s.start, "D")
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "order_date": start + rows.day.astype("timedelta64[D]"),
            "amount": rows.amount,
            "quantity": rows.quantity,
            "order_id": pd.Series(_order_ids(rows), dtype="str"),
        }
    )
    frame = frame.sort_values(["order_date", "customer_id"], kind="stable")
    return frame.reset_index(drop=True)


def _purchases(
    rng: np.random.Generator, s: SyntheticSpec, n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Buyer and day of every purchase (first, then repeats until dropout), and
    each customer's spend scale ``nu``."""
    acquired = rng.integers(0, s.acquisition_days, size=n)
    lam = rng.gamma(s.r, 1.0 / s.alpha, size=n) / 7.0  # per day
    p_drop = rng.beta(s.a, s.b, size=n)
    nu = rng.gamma(s.q_value, 1.0 / s.v_value, size=n)
    # repeat purchases: Poisson events in (acquired, span) cut at the dropout
    life = (s.span_days - acquired).astype(np.float64)
    k = rng.poisson(lam * life)
    repeats = np.minimum(k, rng.geometric(np.clip(p_drop, 1e-9, 1.0)))
    owner = np.repeat(np.arange(n), k)
    times = rng.random(len(owner)) * life[owner]
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    starts = np.r_[0, np.cumsum(k)[:-1]]
    rank = np.arange(len(owner)) - starts[owner]
    keep = rank < repeats[owner]
    buyer = np.r_[np.arange(n), owner[keep]]
    day = np.r_[
        acquired, acquired[owner[keep]] + np.floor(times[keep]).astype(np.int64)
    ]
    return buyer, day, nu


@dataclass(frozen=True, slots=True)
class _Rows:
    """Transaction rows: customer index, day, amount, quantity, purchase index
    and line number (1-based) within the purchase."""

    customer: NDArray[np.int64]
    day: NDArray[np.int64]
    amount: NDArray[np.float64]
    quantity: NDArray[np.int64]
    purchase: NDArray[np.int64]
    line: NDArray[np.int64]


def _order_ids(rows: _Rows) -> NDArray[np.str_]:
    """``O<purchase>-<line>``: one id per line (a return repeats its line's)."""
    purchase = np.char.add("O", np.char.zfill(rows.purchase.astype(str), 10))
    return np.char.add(np.char.add(purchase, "-"), rows.line.astype(str))


def _order_lines(
    rng: np.random.Generator,
    s: SyntheticSpec,
    buyer: NDArray[np.int64],
    day: NDArray[np.int64],
    nu: NDArray[np.float64],
) -> _Rows:
    """Each purchase's value, split over ``1 + Poisson(extra_lines)`` rows."""
    value = rng.gamma(s.p_value, 1.0, size=len(buyer)) / nu[buyer]
    lines = 1 + rng.poisson(s.extra_lines, size=len(buyer))
    row_purchase = np.repeat(np.arange(len(buyer)), lines)
    first_row = np.r_[0, np.cumsum(lines)[:-1]]
    line = np.arange(len(row_purchase)) - first_row[row_purchase] + 1
    amount = np.round(value[row_purchase] / lines[row_purchase], 2)
    quantity = 1 + rng.poisson(0.5, size=len(row_purchase))
    amount[rng.random(len(amount)) < s.zero_rate] = 0.0
    return _Rows(
        buyer[row_purchase], day[row_purchase], amount, quantity, row_purchase, line
    )


def _with_returns(rng: np.random.Generator, s: SyntheticSpec, rows: _Rows) -> _Rows:
    """Add a negative copy of some rows, a few days later (within the span)."""
    returned = np.flatnonzero(
        (rng.random(len(rows.amount)) < s.return_rate) & (rows.amount > 0)
    )
    return_day = rows.day[returned] + rng.integers(1, 30, size=len(returned))
    inside = return_day < s.span_days
    returned, return_day = returned[inside], return_day[inside]
    return _Rows(
        customer=np.r_[rows.customer, rows.customer[returned]],
        day=np.r_[rows.day, return_day],
        amount=np.r_[rows.amount, -rows.amount[returned]],
        quantity=np.r_[rows.quantity, -rows.quantity[returned]],
        purchase=np.r_[rows.purchase, rows.purchase[returned]],
        line=np.r_[rows.line, rows.line[returned]],
    )


def write_transactions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write to Parquet (``.parquet``/``.pq``) or CSV (ISO dates), atomically."""
    import os

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if out.suffix.lower() in PARQUET_SUFFIXES:
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%d")
    os.replace(tmp, out)
    return out
