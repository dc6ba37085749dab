"""The level: how much the whole customer base will spend over the horizon.

Who spends (the shape) and how much in total (the level) are separate
questions; every calibrated forecast, ours and the baselines', is rescaled to
the same level. The level starts from the BG/NBD + Gamma-Gamma aggregate. Its
misses come from the calendar (a holiday quarter the history never showed),
so where the history holds the same calendar window 1 to 3 years earlier the
aggregate is corrected by how far off BTYD was then, pooled over those
windows (forecasts made that many years before the as-of date, from the data
up to that day, against what happened).
Only data before the as-of date is read. The evidence is in ``docs/cltv.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tierflow.cltv.features import (
    YEAR_DAYS,
    check_btyd_forecasts,
    customer_history,
    fit_btyd,
    window_spend,
)
from tierflow.data.errors import InputError
from tierflow.data.transactions import TransactionLog, day_to_date

LevelChoice = Literal["seasonal", "baseline", "learned"]
LEVELS: tuple[LevelChoice, ...] = ("seasonal", "baseline", "learned")
#: Years back searched for the same calendar window.
MAX_SEASONAL_YEARS = 3
#: History a year-ago BTYD fit needs before its cut-off.
SEASONAL_MIN_HISTORY_DAYS = 60
#: A seasonal correction outside this range, from a past cut-off with less
#: than a year of history, is noted (:func:`young_season_note`). The 13
#: documented splits' corrections are 0.89-1.23; the QA log's young fit gave
#: x2.26 (docs/cltv.md, "The level, honestly").
QUIET_RATIO_RANGE = (2 / 3, 1.5)


@dataclass(frozen=True, slots=True)
class PastWindow:
    """BTYD's aggregate forecast for one past window and what happened."""

    as_of_day: int
    forecast: float
    actual: float

    def as_dict(self) -> dict[str, object]:
        return {
            "as_of": str(day_to_date(self.as_of_day).date()),
            "forecast": self.forecast,
            "actual": self.actual,
            "ratio": self.actual / self.forecast,
        }


@dataclass(frozen=True, slots=True)
class Level:
    """The forecast total spend of the base over the horizon and its origin."""

    total: float
    btyd_total: float
    source: str
    seasonal: tuple[PastWindow, ...] = field(default=())

    @property
    def ratio(self) -> float:
        """The level over the BTYD aggregate."""
        return self.total / self.btyd_total if self.btyd_total > 0 else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "btyd_total": self.btyd_total,
            "ratio": self.ratio,
            "source": self.source,
            "seasonal_windows": [w.as_dict() for w in self.seasonal],
        }


def seasonal_windows(
    log: TransactionLog, as_of_day: int, horizon_days: int
) -> tuple[PastWindow, ...]:
    """The same calendar window 1, 2, ... years before ``as_of_day``, where the
    history holds it whole (it must end by ``as_of_day``) with at least
    :data:`SEASONAL_MIN_HISTORY_DAYS` of history before it."""
    found: list[PastWindow] = []
    for years in range(1, MAX_SEASONAL_YEARS + 1):
        cutoff = as_of_day - years * YEAR_DAYS
        if cutoff < log.first_day + SEASONAL_MIN_HISTORY_DAYS:
            break
        if cutoff + horizon_days > as_of_day:
            continue
        history = customer_history(log, cutoff)
        try:
            fit = fit_btyd(history)
            spend = fit.expected_spend(history, horizon_days)
            check_btyd_forecasts(spend, fit, log, cutoff)
        except InputError:  # no fit, or one whose forecasts mean nothing
            continue
        forecast = float(spend.sum())
        actual = float(window_spend(log, history, horizon_days).sum())
        if forecast > 0 and actual > 0:
            found.append(PastWindow(cutoff, forecast, actual))
    return tuple(found)


def seasonal_level(
    btyd_total: float, windows: tuple[PastWindow, ...], *, as_of_day: int
) -> Level:
    """The BTYD aggregate times its pooled miss in ``windows`` (none: as is),
    its source naming how many years before ``as_of_day`` each window is:
    "same window 2 years earlier" was said of two windows pooled."""
    if not windows:
        return Level(btyd_total, btyd_total, "btyd")
    ratio = sum(w.actual for w in windows) / sum(w.forecast for w in windows)
    return Level(
        btyd_total * ratio, btyd_total, _seasonal_source(windows, as_of_day), windows
    )


def _seasonal_source(windows: tuple[PastWindow, ...], as_of_day: int) -> str:
    """``btyd x same window 1 year earlier``, or ``... 1 and 2 years earlier,
    pooled``: the years back of each window, latest first."""
    years = sorted({round((as_of_day - w.as_of_day) / YEAR_DAYS) for w in windows})
    named = [str(y) for y in years]
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    plural = "year" if years == [1] else "years"
    pooled = ", pooled" if len(windows) > 1 else ""
    return f"btyd x same window {listed} {plural} earlier{pooled}"


def young_season_note(level: Level, first_day: int) -> str | None:
    """A note when the seasonal correction moves the level by a factor outside
    :data:`QUIET_RATIO_RANGE` and its latest past cut-off had less than a year
    of history (``first_day``: the log's first day), else ``None``.

    No rule on the data tells a young fit's miss from a real season (the
    docs' "The level, honestly"), so the level is left as it is: the note
    only puts the figures where a user sees them, with the way out.
    """
    if not level.seasonal:
        return None
    low, high = QUIET_RATIO_RANGE
    if low <= level.ratio <= high:
        return None
    latest = max(w.as_of_day for w in level.seasonal)
    history = latest - first_day
    if history >= YEAR_DAYS:
        return None
    return (
        f"the level is BTYD's x {level.ratio:.2f}, its miss in the same window "
        f"as of {day_to_date(latest).date()}, whose fit saw only {history} days "
        "of history: if your history is younger than the seasons it spans, "
        "that miss is the young fit's as much as the season's; try --level "
        "baseline (docs/cltv.md, 'The level, honestly')"
    )


def fit_level(
    choice: LevelChoice,
    log: TransactionLog,
    as_of_day: int,
    horizon_days: int,
    *,
    btyd_total: float,
    learned_total: float,
) -> Level:
    """The level of ``choice``: ``seasonal`` (the BTYD aggregate corrected by
    the same window in earlier years, where the history has it), ``baseline``
    (the BTYD aggregate) or ``learned`` (our regressor's own total)."""
    if choice == "learned":
        return Level(learned_total, btyd_total, "regressor")
    if choice == "baseline":
        return Level(btyd_total, btyd_total, "btyd")
    windows = seasonal_windows(log, as_of_day, horizon_days)
    return seasonal_level(btyd_total, windows, as_of_day=as_of_day)
