"""The history guard of the daily retrain: a purchase history only grows.

A real transaction log is append-only: the rows on or before a past date may
be corrected (a cancelled order deleted, an amount fixed, a late row added),
but they do not disappear in bulk. The daily job compares both recipes on the
same day's data, so a truncated feed (a customer segment missing, a day or a
week of rows lost, a file cut in half) backtests the same for both and would
be promoted; the summary of the champion's training history, taken again on
the day's data, shows the loss instead.

:func:`summarize_history` records rows, customers, gross spend, rows per
week and a digest of the customer ids up to an as-of date (stored with
every model version);
:func:`compare_history` measures what the day's data lost of it. The rule
and its default are in ``docs/cltv.md`` ("Daily retrain and the model
registry").
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.json_objects import (
    FieldKinds,
    field_problem,
    is_count,
    is_iso_date,
    is_number,
)
from tierflow.data.transactions import TransactionLog, day_number, day_to_date

#: Default share of the champion's rows, customers or spend the day's data
#: may lack: a few corrections a day stay far below it, a lost segment or
#: half a file far above it.
DEFAULT_MAX_HISTORY_LOSS = 0.01
#: Share of a week's rows a week may lose (at least; the total tolerance when
#: that is larger). A lost day is about a seventh of its week, a lost week all
#: of it, while corrections are a few rows here and there; a week is measured
#: against the larger of its rows and the median week's, so one row taken
#: from a quiet week is not an alarm.
WEEK_LOSS_SHARE = 0.10
#: Weeks named in the message (the most recent); the JSON lists every one.
WEEKS_SHOWN = 3
#: A log whose amounts average more than this many times those of a model's
#: training log (or less than its inverse) is taken to be in another unit:
#: another unit is a factor of 100 or 1,000; another week or customer base
#: is not 20. ``cltv score`` notes it, ``cltv retrain`` refuses the day.
UNIT_NOTE_RATIO = 20.0
#: Rows a period of the newest rows must hold for :func:`unit_change` to
#: judge its average. One order moves the average of n rows by its excess
#: over the usual order divided by n: to move 100 rows 20-fold it must be
#: over 1,900 times the average order (CDNOW's largest is 36 times its
#: mean; one order in a million of a lognormal with sigma 2, a coefficient
#: of variation of 7, is 1,800 times its mean), and 100 rows drawn from
#: CDNOW at random averaged 0.65 to 1.56 times its mean (20,000 draws). A
#: few new rows judged alone would refuse one big order (or a few small
#: ones) as another unit.
UNIT_MIN_ROWS = 100
#: Share of the largest rows (one at least) left out of the day's own
#: version of a model's history when a period of the newest rows is judged
#: against it too (:func:`unit_change`): a unit changes every row, while a
#: few rows of the history (an amount typed without its decimal point,
#: refunded since) moved the model's average, not its unit.
UNIT_TRIM_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """The transactions on or before ``as_of``, in figures that only grow.

    ``spend`` is gross (positive amounts only): a return dated back into the
    history is a new row, not lost spend. ``weekly_rows[k]`` counts the rows
    of the seven days ending ``7 k`` days before ``as_of`` (most recent first;
    the oldest week may be partial, the same for both sides).
    ``customer_digest`` is :func:`customer_digest` of the customers on or
    before ``as_of`` (``None``: a summary stored before it was recorded):
    the counts alone passed a log of other customers of the same size.
    """

    as_of: str
    rows: int
    customers: int
    spend: float
    weekly_rows: tuple[int, ...]
    customer_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "as_of": self.as_of,
            "rows": self.rows,
            "customers": self.customers,
            "spend": self.spend,
            "weekly_rows": list(self.weekly_rows),
        }
        if self.customer_digest is not None:
            stored["customer_digest"] = self.customer_digest
        return stored

    @classmethod
    def from_json(cls, value: Any, *, file: str | None = None) -> HistorySummary:
        """The summary stored in ``metadata.json``; a field missing or not
        of the kind :meth:`to_json` writes is an :class:`InputError` naming
        ``file`` and the field (a hand edit should not turn the guard off
        silently: a spend of ``"12.5"`` or ``true`` was read as a number,
        and the day refused as "another unit")."""
        where = "data.history"
        if not isinstance(value, dict):
            raise InputError("not a JSON object", file=file, field=where)
        found = field_problem(value, SUMMARY_FIELDS)
        index = None
        if found is None:
            weeks = value["weekly_rows"]
            index = next((k for k, n in enumerate(weeks) if not is_count(n)), None)
            if index is not None:
                found = f"not {_COUNT}", "weekly_rows", weeks[index]
        if found is None and "customer_digest" in value:
            found = field_problem(value, DIGEST_FIELD)
        if found is not None:
            problem, key, bad = found
            raise InputError(
                problem, file=file, field=f"{where}.{key}", index=index, value=bad
            )
        return cls(
            as_of=value["as_of"],
            rows=value["rows"],
            customers=value["customers"],
            spend=float(value["spend"]),
            weekly_rows=tuple(value["weekly_rows"]),
            customer_digest=value.get("customer_digest"),
        )


_COUNT = "a count (an integer >= 0)"


def _is_spend(value: object) -> bool:
    """A finite number >= 0 (an int too: JSON does not tell them apart)."""
    return is_number(value) and 0 <= value <= sys.float_info.max  # type: ignore[operator]


#: The fields of a stored :class:`HistorySummary`, with what
#: :meth:`HistorySummary.to_json` writes in them (each week's rows a count).
SUMMARY_FIELDS: FieldKinds = {
    "as_of": ("a date (YYYY-MM-DD)", is_iso_date),
    "rows": (_COUNT, is_count),
    "customers": (_COUNT, is_count),
    "spend": ("a finite number >= 0", _is_spend),
    "weekly_rows": ("a list of counts", lambda value: isinstance(value, list)),
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: ``customer_digest``, absent from summaries stored before it was recorded.
DIGEST_FIELD: FieldKinds = {
    "customer_digest": (
        "a SHA-256 digest (64 lowercase hex digits)",
        lambda value: isinstance(value, str) and bool(_SHA256.fullmatch(value)),
    ),
}


def customer_digest(ids: NDArray[np.object_]) -> str:
    """SHA-256 of a log's customer ids up to an as-of date, sorted and
    unique, one per line: equal for the same set of customers whatever
    their rows. Joined in one call: 0.37 s for 1 M customers (median of 9,
    2026-12-07)."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def summarize_history(log: TransactionLog, as_of_day: int) -> HistorySummary:
    """The :class:`HistorySummary` of ``log`` on or before ``as_of_day``.

    Spend is summed exactly (``math.fsum``), so the figure does not depend
    on the row order or on rows after ``as_of_day`` (a loss of 0 is exactly
    0), whatever the unit: summed in whole 1e-8 of the unit, a log whose
    amounts are below that (1e-9 an order) held no spend, and a switch to it
    read as a history loss of all spend (which ``--accept-history-loss``
    would publish), not as another unit; summed in whole cents, a log in
    thousands (0.004) did. One pass over the log; the digest reads the ids
    at the customers' first rows: 10 M rows of 1 M customers took 0.66 s
    (median of 9, a shared 2-core machine at a load average of 4-6,
    2026-12-07; 2.0 s when the digest made a second pass over the ids).
    """
    keep = log.day <= as_of_day
    customer = log.customer[keep]
    amount = log.amount[keep]
    rows = int(customer.size)
    # rows are sorted by customer: a customer starts where the code changes
    # (and ``customer_ids`` are sorted, so the starts' ids are too)
    starts = np.ones(rows, dtype=bool)
    starts[1:] = customer[1:] != customer[:-1]
    first = customer[starts]
    weeks = np.bincount((as_of_day - log.day[keep]) // 7, minlength=0)
    return HistorySummary(
        as_of=str(day_to_date(as_of_day).date()),
        rows=rows,
        customers=int(first.size),
        spend=math.fsum(amount[amount > 0]),
        weekly_rows=tuple(int(n) for n in weeks),
        customer_digest=customer_digest(log.customer_ids[first]),
    )


@dataclass(frozen=True, slots=True)
class UnitChange:
    """Gross spend a row of a model's training log (``trained``) and of the
    day's log up to ``as_of`` (``today``), :data:`UNIT_NOTE_RATIO` or more
    apart: two currency units (a log switched to cents: x100).

    ``since`` is ``None`` when ``today`` averages the whole log; otherwise
    it averages the ``rows`` newest rows, from ``since`` to ``as_of``, while
    the whole log averaged ``log_mean`` (a feed switched yesterday: a day
    at x100 moved the average of two years by a few per cent).
    """

    trained: float
    today: float
    as_of: str
    since: str | None = None
    rows: int | None = None
    log_mean: float | None = None

    @property
    def ratio(self) -> float:
        return self.today / self.trained

    def describe(self, model: str) -> str:
        """``amounts average ... of the log <model> was trained on: another
        currency unit?``, naming the period of the newest rows averaged."""
        where = f"up to {self.as_of}"
        if self.since is not None:
            period = (
                f"on {self.as_of}"
                if self.since == self.as_of
                else f"from {self.since} to {self.as_of}"
            )
            where = (
                f"{period} ({self.rows} rows, the newest; "
                f"{self.log_mean:.4g} over the whole log)"
            )
        return (
            f"amounts average {self.today:.4g} a row {where}, "
            f"{self.ratio:.3g} times the {self.trained:.4g} of the log {model} "
            "was trained on: another currency unit?"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "trained_mean": self.trained,
            "today_mean": self.today,
            "ratio": self.ratio,
            "since": self.since,
            "rows": self.rows,
            "log_mean": self.log_mean,
        }


def unit_change(
    trained: HistorySummary, log: TransactionLog, as_of_day: int
) -> UnitChange | None:
    """A :class:`UnitChange` when the amounts of ``log`` up to ``as_of_day``
    average more than :data:`UNIT_NOTE_RATIO` times ``trained``'s a row, or
    less than its inverse; ``None`` otherwise, or when either has no spend
    to average. The test of ``cltv score``'s note and of the retrain's guard.

    The whole log is judged first, then its newest rows: every period from
    a day to ``as_of_day`` that holds :data:`UNIT_MIN_ROWS` rows or more
    (the most extreme is named). A feed switched to cents yesterday added a
    day at x100 to two years in dollars, which moved the whole log's average
    by a few per cent; a period after the model's as-of date alone was
    diluted the same way by the weeks a champion was kept, and a shop of a
    few rows a day, promoted daily, never had 100 new rows after it.
    """
    today = summarize_history(log, as_of_day)
    if not (trained.rows and today.rows and trained.spend and today.spend):
        return None
    usual = trained.spend / trained.rows
    whole = today.spend / today.rows
    if not _same_unit(whole / usual):
        return UnitChange(usual, whole, today.as_of, rows=today.rows, log_mean=whole)
    keep = log.day <= as_of_day
    back = as_of_day - log.day[keep]  # days before as_of_day
    amount = log.amount[keep]
    gross = np.where(amount > 0, amount, 0.0)
    # rows and spend from as_of_day back to the day k days before it
    rows = np.cumsum(np.bincount(back))
    spend = np.cumsum(np.bincount(back, weights=gross))
    # a period starts on a day with rows; the whole log was judged above
    starts = np.flatnonzero(np.diff(rows, prepend=0) > 0)[:-1]
    starts = starts[(rows[starts] >= UNIT_MIN_ROWS) & (spend[starts] > 0)]
    if starts.size == 0:
        return None
    means = spend[starts] / rows[starts]
    # each period without its largest row as well: one row is no unit (an
    # amount typed without its decimal point among the newest rows of the
    # model the cltv train its refusal advised trained on refused the days
    # after it until some 164 rows had come, months of a small shop)
    largest = np.zeros(rows.size)
    np.maximum.at(largest, back, gross)
    largest = np.maximum.accumulate(largest)
    rest = (spend[starts] - largest[starts]) / (rows[starts] - 1)
    # a period differs from the model's average and from the model's
    # history as the day's log has it, its largest rows aside: a history
    # holding one amount typed without its decimal point (refunded, or
    # not) averaged 1.5e6 a row where its other 3,300 rows averaged 19,
    # every later day's newest rows read as a unit 1e-5 times the model's,
    # and the daily retrain was refused every day, after a new cltv train too
    typical = _typical_row(log, min(day_number(trained.as_of), as_of_day))
    references = [usual] if typical is None else [usual, typical]
    other = np.ones(starts.size, dtype=bool)
    apart = np.full(starts.size, np.inf)
    with np.errstate(divide="ignore"):  # a period whose one row held its spend
        for value in (means, rest):
            for reference in references:
                other &= ~_same_unit_all(value / reference)
                # named: the period furthest from every side (the switched
                # rows, not a longer period a huge row sets apart further)
                apart = np.minimum(apart, np.abs(np.log(value / reference)))
    if not other.any():
        return None
    judged = np.where(other, apart, -np.inf)
    k = int(starts[np.argmax(judged)])
    newest = back <= k
    mean = math.fsum(gross[newest]) / int(rows[k])  # exact, as the summaries
    if _same_unit(mean / usual):
        return None
    since = str(day_to_date(as_of_day - k).date())
    return UnitChange(usual, mean, today.as_of, since, int(rows[k]), whole)


def _same_unit(ratio: float) -> bool:
    """Whether one ratio of spends is within :data:`UNIT_NOTE_RATIO` either way."""
    return bool(_same_unit_all(np.array([ratio]))[0])


def _same_unit_all(ratios: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether each ratio of spends is within :data:`UNIT_NOTE_RATIO` either way."""
    return (ratios >= 1 / UNIT_NOTE_RATIO) & (ratios <= UNIT_NOTE_RATIO)


def _typical_row(log: TransactionLog, day: int) -> float | None:
    """Gross spend a row of ``log`` up to ``day`` without its largest
    :data:`UNIT_TRIM_SHARE` of rows (one at least); ``None`` under
    :data:`UNIT_MIN_ROWS` rows or without spend left."""
    amount = log.amount[log.day <= day]
    if amount.size < UNIT_MIN_ROWS:
        return None
    gross = np.where(amount > 0, amount, 0.0)
    trim = max(1, math.ceil(UNIT_TRIM_SHARE * gross.size))
    kept = np.partition(gross, gross.size - trim)[: gross.size - trim]
    spend = math.fsum(kept)
    return spend / kept.size if spend > 0 else None


@dataclass(frozen=True, slots=True)
class WeekLoss:
    """A week that lost more than the week tolerance allows."""

    week_to: str
    champion_rows: int
    today_rows: int

    def to_json(self) -> dict[str, Any]:
        return {
            "week_to": self.week_to,
            "champion_rows": self.champion_rows,
            "today_rows": self.today_rows,
        }


@dataclass(frozen=True, slots=True)
class HistoryCheck:
    """The champion's history summary against the same summary of the day's
    data (restricted to the champion's as-of date)."""

    champion: HistorySummary
    today: HistorySummary
    max_loss: float
    weeks: tuple[WeekLoss, ...]

    @property
    def week_share(self) -> float:
        """The tolerance of one week (:data:`WEEK_LOSS_SHARE` at least)."""
        return max(self.max_loss, WEEK_LOSS_SHARE)

    def lost(self) -> dict[str, float]:
        """Rows, customers and spend the day's data lacks (0 when it grew)."""
        return {
            "rows": max(0, self.champion.rows - self.today.rows),
            "customers": max(0, self.champion.customers - self.today.customers),
            # rounded past the float noise of a difference, not to cents: a
            # log in thousands (0.004 a row) lost its whole history to it
            "spend": max(0.0, round(self.champion.spend - self.today.spend, 8)),
        }

    def lost_share(self) -> dict[str, float]:
        """:meth:`lost` as a share of the champion's figure."""
        before = self._totals(self.champion)
        return {
            name: (loss / before[name] if before[name] else 0.0)
            for name, loss in self.lost().items()
        }

    @property
    def lost_beyond(self) -> bool:
        """Lost more than ``max_loss`` of a total, or a week beyond its own."""
        return bool(self.weeks) or any(
            loss > self.max_loss for loss in self.lost_share().values()
        )

    @property
    def customers_replaced(self) -> bool | None:
        """Whether the customer ids differ while the counts say the same
        customers and nothing added (as many customers, no more rows nor
        spend): another customer base of the same size, or ids renumbered.
        ``None`` when a side has no digest (a summary stored before it).

        A digest says equal or not, never how much: a correction that adds
        a customer's old purchase, or deletes a customer's only order,
        changes the set as well as a count, and is judged by the counts (a
        log of other customers that also changes a count is too)."""
        before, after = self.champion.customer_digest, self.today.customer_digest
        if before is None or after is None:
            return None
        return (
            before != after
            and self.today.customers == self.champion.customers
            and self.today.rows <= self.champion.rows
            and self.today.spend <= self.champion.spend
        )

    @property
    def exceeded(self) -> bool:
        """:attr:`lost_beyond`, or :attr:`customers_replaced`."""
        return self.lost_beyond or bool(self.customers_replaced)

    def figures(self) -> str:
        """``rows A -> B (±x %), customers ..., spend ...``: champion's, today's."""
        before, after = self._totals(self.champion), self._totals(self.today)
        parts = []
        money = money_format(before["spend"], after["spend"])
        for name, fmt in (("rows", "d"), ("customers", "d"), ("spend", money)):
            a, b = before[name], after[name]
            change = f"{100.0 * (b - a) / a:+.2f} %" if a else "n/a"
            parts.append(f"{name} {a:{fmt}} -> {b:{fmt}} ({change})")
        return ", ".join(parts)

    def message(self, whose: str = "the champion's", now: str = "today's") -> str:
        """Why the day's data is refused, with the figures (one line);
        ``whose`` and ``now`` name the two sides (a rollback's are the
        version's and the log's)."""
        sides = f"{whose.removeprefix('the ')} -> {now}: {self.figures()}"
        if not self.lost_beyond:
            return (
                f"the customers up to {whose} as-of date {self.champion.as_of} "
                f"are another set than {whose} ({self.champion.customers} on "
                "both sides, no rows or spend added, other ids: another "
                f"customer base, or ids renumbered), {sides}"
            )
        text = (
            f"history up to {whose} as-of date {self.champion.as_of} "
            f"was lost beyond tolerance ({_percent(self.max_loss)} in total, "
            f"{_percent(self.week_share)} in a week), {sides}"
        )
        if self.weeks:
            n = len(self.weeks)
            shown = ", ".join(
                f"to {w.week_to} {w.champion_rows} -> {w.today_rows}"
                for w in self.weeks[:WEEKS_SHOWN]
            )
            more = f" and {n - WEEKS_SHOWN} more" if n > WEEKS_SHOWN else ""
            noun = "week" if n == 1 else "weeks"
            their = "its" if n == 1 else "their"
            text += (
                f"; {n} {noun} lost beyond {_percent(self.week_share)} of "
                f"{their} rows: {shown}{more}"
            )
        if self.customers_replaced:
            text += "; the customer ids differ too (as many customers)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.champion.as_of,
            "max_history_loss": self.max_loss,
            "max_week_loss": self.week_share,
            "champion": self._totals(self.champion),
            "today": self._totals(self.today),
            "lost": self.lost(),
            "lost_share": {k: round(v, 6) for k, v in self.lost_share().items()},
            "weeks": [w.to_json() for w in self.weeks],
            "customers_replaced": self.customers_replaced,
        }

    @staticmethod
    def _totals(summary: HistorySummary) -> dict[str, float]:
        return {
            "rows": summary.rows,
            "customers": summary.customers,
            "spend": summary.spend,
        }


#: The most decimals :func:`money_format` writes out; past them, four
#: significant digits in scientific notation.
MAX_FIXED_DECIMALS = 12


def money_format(*amounts: float) -> str:
    """Two decimals, or as many more as show four digits of the smallest
    amount that is not 0 (spend 0.0123 of a log in thousands read 0.01):
    the format spec (``".2f"``) of amounts shown side by side. Past
    :data:`MAX_FIXED_DECIMALS` (amounts under 1e-9), ``".3e"``: a log in
    1e-300 of a unit printed some 300 zeros before each figure's digits."""
    shown = [abs(a) for a in amounts if a and math.isfinite(a)]
    if not shown:
        return ".2f"
    decimals = max(2, 3 - math.floor(math.log10(min(shown))))
    return ".3e" if decimals > MAX_FIXED_DECIMALS else f".{decimals}f"


def error_format(*errors: float, decimals: int = 2) -> str:
    """The format spec of errors in the log's unit (MAE, RMSE) shown side
    by side: ``decimals`` decimals, or more where the smallest that is not 0
    is below 0.1 (:func:`money_format`: four digits of it), as for a log
    whose amounts are in 0.0001 of a unit, which read 0.00 in every row."""
    shown = [abs(e) for e in errors if e and math.isfinite(e)]
    if not shown or min(shown) >= 0.1:
        return f".{decimals}f"
    return money_format(*shown)


def _percent(share: float) -> str:
    return f"{100.0 * share:g} %"


def compare_history(
    champion: HistorySummary, today: HistorySummary, max_loss: float
) -> HistoryCheck:
    """What ``today`` (summarized as of ``champion.as_of``) lost of ``champion``.

    Parameters
    ----------
    champion
        The summary stored with the champion when it was trained.
    today
        :func:`summarize_history` of the day's log as of the champion's date.
    max_loss
        Share of rows, customers or spend that may be lost in total (0: none
        at all; 1: any loss passes). A week may lose ``max(max_loss,``
        :data:`WEEK_LOSS_SHARE` ``)`` of the larger of its rows and the
        median week's: a sparse week is judged on the usual week's scale.

    Returns
    -------
    HistoryCheck
        The figures, and every week beyond its tolerance, most recent first.
    """
    if champion.as_of != today.as_of:
        raise ValueError(
            f"summaries as of {champion.as_of} and {today.as_of}: compare the "
            "same history"
        )
    n = max(len(champion.weekly_rows), len(today.weekly_rows))
    before = np.zeros(n, dtype=np.int64)
    after = np.zeros(n, dtype=np.int64)
    before[: len(champion.weekly_rows)] = champion.weekly_rows
    after[: len(today.weekly_rows)] = today.weekly_rows
    share = max(max_loss, WEEK_LOSS_SHARE)
    usual = float(np.median(before)) if n else 0.0
    lost = np.maximum(before - after, 0)
    beyond = np.flatnonzero(lost > share * np.maximum(before, usual))
    last = day_number(champion.as_of)
    weeks = tuple(
        WeekLoss(
            str(day_to_date(last - 7 * int(k)).date()), int(before[k]), int(after[k])
        )
        for k in beyond
    )
    return HistoryCheck(champion, today, max_loss, weeks)


@enum.unique
class GuardStatus(enum.StrEnum):
    """What the history guard did in one retrain."""

    #: Nothing lost beyond the tolerance.
    PASSED = "passed"
    #: Lost beyond it: nothing trained, promoted or published.
    REFUSED = "refused"
    #: Lost beyond it, promoted anyway on purpose (``accept_history_loss``).
    ACCEPTED = "accepted"
    #: The champion has no summary (saved before the guard): not checked.
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class HistoryGuard:
    """The guard's verdict in a retrain report (``check`` is ``None`` when
    it was skipped)."""

    status: GuardStatus
    check: HistoryCheck | None = None
    note: str | None = None
    #: The day's amounts in another unit than the champion's: refused
    #: whatever the history check says (``None``: the same unit).
    unit: UnitChange | None = None

    def to_json(self) -> dict[str, Any]:
        """``status``, ``note``, :meth:`HistoryCheck.to_json`'s keys (null
        when skipped) and ``unit_change``, the same keys whatever the status."""
        figures = (
            self.check.to_json()
            if self.check is not None
            else dict.fromkeys(_CHECK_KEYS)
        )
        unit = None if self.unit is None else self.unit.to_json()
        return {
            "status": str(self.status),
            "note": self.note,
            **figures,
            "unit_change": unit,
        }


#: The keys of :meth:`HistoryCheck.to_json`.
_CHECK_KEYS = (
    "as_of",
    "max_history_loss",
    "max_week_loss",
    "champion",
    "today",
    "lost",
    "lost_share",
    "weeks",
    "customers_replaced",
)
