"""The studies behind ``docs/cltv.md``: why the naive run rate has the higher
Spearman, and what the history can and cannot tell about the level."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import rankdata, spearmanr

from tierflow.cltv.evaluate import gains_area, top_share_capture
from tierflow.cltv.features import (
    CustomerData,
    customer_history,
    fit_btyd,
    window_spend,
)
from tierflow.cltv.level import seasonal_level, seasonal_windows
from tierflow.cltv.protocol import Split
from tierflow.data.errors import InputError

FloatArray = NDArray[np.float64]
#: Columns of predictions.csv compared (``cltv_raw`` ranks as ``cltv`` does,
#: and keeps the precision the published column loses in the CSV).
RANKERS = ("cltv_raw", "bgnbd_gg", "naive_run_rate")


def _spearman(pred: FloatArray, actual: FloatArray) -> float:
    return float(spearmanr(pred, actual).statistic)


def _auc(pred: FloatArray, bought: NDArray[np.bool_]) -> float:
    """P(a random buyer is ranked above a random non-buyer), ties half."""
    ranks = rankdata(pred)
    n1, n0 = int(bought.sum()), int((~bought).sum())
    return float((ranks[bought].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _collapse_bottom(pred: FloatArray, share: float) -> FloatArray:
    """``pred`` with its lowest ``share`` of customers tied at 0."""
    out = pred.copy()
    cut = np.quantile(pred, share)
    out[pred <= cut] = 0.0
    return out


def _break_ties(primary: FloatArray, secondary: FloatArray) -> FloatArray:
    """Ranks of ``primary`` with its ties ordered by ``secondary``."""
    order = np.lexsort((secondary, primary))
    ranks = np.empty(len(primary))
    ranks[order] = np.arange(len(primary))
    return ranks


@dataclass(frozen=True, slots=True)
class RankerStudy:
    spearman: float
    spearman_buyers: float
    auc_buyer: float
    top10: float
    top20: float
    gains30: float


@dataclass(frozen=True, slots=True)
class SpearmanStudy:
    n: int
    share_no_purchase: float
    naive_zero_share: float
    naive_zero_no_purchase: float
    other_no_purchase: float
    rows: dict[str, RankerStudy]
    cltv_bottom_tied: float
    naive_ties_broken_by_cltv: float


def spearman_study(frame: pd.DataFrame) -> SpearmanStudy:
    """The numbers of the Spearman study for one predictions table."""
    actual = frame["actual_spend"].to_numpy(dtype=np.float64)
    bought = actual > 0
    naive = frame["naive_run_rate"].to_numpy(dtype=np.float64)
    ours = frame["cltv_raw"].to_numpy(dtype=np.float64)
    zero = naive <= 0
    rows = {}
    for name in RANKERS:
        pred = frame[name].to_numpy(dtype=np.float64)
        rows[name] = RankerStudy(
            spearman=_spearman(pred, actual),
            spearman_buyers=_spearman(pred[bought], actual[bought]),
            auc_buyer=_auc(pred, bought),
            top10=top_share_capture(pred, actual, 0.10),
            top20=top_share_capture(pred, actual, 0.20),
            gains30=gains_area(pred, actual, 0.30),
        )
    return SpearmanStudy(
        n=len(actual),
        share_no_purchase=float((~bought).mean()),
        naive_zero_share=float(zero.mean()),
        naive_zero_no_purchase=float((~bought[zero]).mean()),
        other_no_purchase=float((~bought[~zero]).mean()),
        rows=rows,
        cltv_bottom_tied=_spearman(_collapse_bottom(ours, float(zero.mean())), actual),
        naive_ties_broken_by_cltv=_spearman(_break_ties(naive, ours), actual),
    )


#: The columns of predictions.csv the study reads.
STUDY_COLUMNS = ("actual_spend", *RANKERS)


def read_predictions(path: Path) -> pd.DataFrame:
    """The study's columns of a ``cltv evaluate`` predictions.csv, as floats.

    Raises
    ------
    InputError
        Naming the file, and the row (file line) and value of the first cell
        that is not a finite number, or the column that is missing: another
        CSV given by mistake (a transaction log) raised a bare ``KeyError``.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"not a predictions.csv: {exc}", file=str(path)) from exc
    have = ", ".join(map(str, frame.columns))
    out = {}
    for name in STUDY_COLUMNS:
        if name not in frame.columns:
            raise InputError(
                f"missing column (have: {have}); give the predictions.csv "
                "that tierflow cltv evaluate --out writes",
                file=str(path),
                row=1,
                field=name,
            )
        text = frame[name]
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                "not a finite number",
                file=str(path),
                row=i + 2,  # the header is row 1
                field=name,
                value=text.iloc[i],
            )
        out[name] = values
    if not len(frame):
        raise InputError("no customers (a header alone)", file=str(path))
    return pd.DataFrame(out)


def spearman_report(path: Path) -> list[str]:
    """The Spearman study of a predictions.csv, as text lines."""
    st = spearman_study(read_predictions(path))
    lines = [
        f"{st.n} customers; {100 * st.share_no_purchase:.1f} % spend nothing in the "
        f"holdout. The naive rule ties {100 * st.naive_zero_share:.1f} % at 0 (one "
        f"purchase day so far); {100 * st.naive_zero_no_purchase:.1f} % of them "
        f"spend nothing, against {100 * st.other_no_purchase:.1f} % of the others.",
        f"{'forecast':<16}{'spearman':>10}{'buyers':>8}{'AUC':>7}"
        f"{'top10':>8}{'top20':>8}{'gains30':>9}",
    ]
    for name, r in st.rows.items():
        lines.append(
            f"{name:<16}{r.spearman:>10.4f}{r.spearman_buyers:>8.4f}"
            f"{r.auc_buyer:>7.3f}{100 * r.top10:>7.1f}%"
            f"{100 * r.top20:>7.1f}%{100 * r.gains30:>8.1f}%"
        )
    lines.append(
        f"cltv_raw with its bottom {100 * st.naive_zero_share:.1f} % tied at 0: "
        f"spearman {st.cltv_bottom_tied:.4f}; naive with its ties ordered by "
        f"cltv_raw: {st.naive_ties_broken_by_cltv:.4f}"
    )
    return lines


def _purchase_days(
    data: CustomerData, codes: NDArray[np.int64], lo: int, hi: int
) -> int:
    """Distinct (customer, day) purchases in ``(lo, hi]`` of the given customers."""
    log = data.transactions
    keep = (log.day > lo) & (log.day <= hi) & (log.amount >= 0)
    in_base = np.zeros(log.n_customers, dtype=bool)
    in_base[codes] = True
    keep &= in_base[log.customer]
    pairs = log.customer[keep] * np.int64(1 << 24) + log.day[keep]
    return len(np.unique(pairs))


def level_row(data: CustomerData, split: Split) -> dict[str, float | str]:
    """BTYD's purchase count, value and spend against the holdout, and the
    seasonal level, for one split (fitted on the data up to its as-of)."""
    a, h = split.as_of_day, split.holdout_days
    known = data.until(a).transactions
    history = customer_history(known, a)
    fit = fit_btyd(history)
    purchases = float(fit.expected_purchases(history, h).sum())
    spend = float(fit.expected_spend(history, h).sum())
    actual = float(window_spend(data.transactions, history, h).sum())
    bought = _purchase_days(data, history.codes, a, a + h)
    level = seasonal_level(spend, seasonal_windows(known, a, h), as_of_day=a)
    return {
        "split": f"{split.as_of} +{h} d",
        "count": bought / purchases,
        "value": (actual / bought) / (spend / purchases),
        "spend": actual / spend,
        "level": level.total / actual,
        "source": level.source,
    }


def level_report(name: str, data: CustomerData, splits: list[Split]) -> list[str]:
    """The level study of one data set's splits, as text lines."""
    lines = [
        f"{name}: actual / BTYD forecast of purchase days (count), spend per "
        "purchase (value) and spend; then our level / actual"
    ]
    for split in splits:
        r = level_row(data, split)
        lines.append(
            f"  {r['split']:<18} count {r['count']:.3f}  value {r['value']:.3f}  "
            f"spend {r['spend']:.3f}  level/actual {r['level']:.3f} ({r['source']})"
        )
    return lines
