"""Transaction logs (CSV, Parquet, CDNOW text): the validated reader and the
immutable :class:`TransactionLog` the CLTV model trains on.

Validation, ``skip_bad_rows`` and row numbering are described in
``docs/data.md``; the profile and browsing readers live in
:mod:`tierflow.data.customer_tables` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.customer_tables import (
    BROWSING_COLUMNS,
    BROWSING_COUNTS,
    PROFILE_CATEGORICALS,
    PROFILE_COLUMNS,
    BrowsingLog,
    CustomerProfiles,
    read_browsing,
    read_profiles,
)
from tierflow.data.day_numbers import EPOCH, day_number, day_to_date
from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_AMOUNT, MAX_TX_QUANTITY
from tierflow.data.log_files import TransactionFormat, read_cdnow, read_log_table
from tierflow.data.readonly import freeze_arrays
from tierflow.data.row_checks import (
    ReadReport,
    RowChecks,
    blank_cells,
    cell_text,
    check_dates,
    check_ids,
    check_numbers,
    check_repeats,
    check_unicode_twins,
    first_of_key,
    key_codes,
)

__all__ = [
    "BROWSING_COLUMNS",
    "BROWSING_COUNTS",
    "OPTIONAL_TRANSACTION_COLUMNS",
    "PROFILE_CATEGORICALS",
    "PROFILE_COLUMNS",
    "TRANSACTION_COLUMNS",
    "BrowsingLog",
    "CustomerProfiles",
    "ReadReport",
    "TransactionFormat",
    "TransactionLog",
    "day_number",
    "day_to_date",
    "read_browsing",
    "read_profiles",
    "read_transactions",
    "stray_text",
]

#: Columns a transaction file must have, and the ones it may have.
TRANSACTION_COLUMNS = ("customer_id", "order_date", "amount")
#: ``currency`` is only checked to hold one currency (:func:`_check_one_currency`).
OPTIONAL_TRANSACTION_COLUMNS = ("quantity", "order_id", "currency")
#: Rows dated more than this many days after every other row, together
#: under :data:`STRAY_SHARE` of the log's rows, are a stray tail (a year
#: typed 2008 for 1998), not where the data ends
#: (:attr:`TransactionLog.data_last_day`). A judgement: a shop closed for a
#: season and reopened a few days before the log's end reads so too, and is
#: then only judged more carefully (a holdout over the gap counts as partial).
STRAY_GAP_DAYS = 90
#: The largest share of the rows a stray tail holds (below it, strictly).
STRAY_SHARE = 0.01


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class TransactionLog:
    """A validated transaction log, rows sorted by (customer, day).

    ``customer`` indexes ``customer_ids`` (sorted unique strings); ``day`` is
    days since 1970-01-01. Arrays are read-only; ``quantity`` is ``None`` when
    the source has no quantity column.
    """

    customer_ids: NDArray[np.object_]
    customer: NDArray[np.int64]
    day: NDArray[np.int64]
    amount: NDArray[np.float64]
    quantity: NDArray[np.float64] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.customer)
        for name in ("day", "amount"):
            if len(getattr(self, name)) != n:
                raise InputError("length differs from customer", field=name)
        if self.quantity is not None and len(self.quantity) != n:
            raise InputError("length differs from customer", field="quantity")
        if n and (self.customer.min() < 0 or self.customer.max() >= self.n_customers):
            raise InputError("customer code out of range", field="customer")
        if not np.isfinite(self.amount).all():
            raise InputError("must be finite", field="amount")
        if n > 1:
            key_step = np.diff(self.customer)
            if (key_step < 0).any() or (
                (key_step == 0) & (np.diff(self.day) < 0)
            ).any():
                raise InputError("rows must be sorted by (customer, day)")
        freeze_arrays(self)

    @classmethod
    def from_columns(
        cls,
        customer_id: Sequence[str] | NDArray[np.object_] | pd.Series,
        order_date: Sequence[object] | NDArray[np.datetime64] | pd.Series,
        amount: Sequence[float] | NDArray[np.float64],
        quantity: Sequence[float] | NDArray[np.float64] | None = None,
        *,
        source: str = "",
    ) -> TransactionLog:
        """Build a log from parallel columns (ids as strings, dates date-like)."""
        return _sorted_log(customer_id, order_date, amount, quantity, source)[0]

    @property
    def n_rows(self) -> int:
        return len(self.customer)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def first_day(self) -> int:
        return int(self.day.min())

    @property
    def last_day(self) -> int:
        return int(self.day.max())

    @property
    def data_last_day(self) -> int:
        """The last day of the rows but a stray tail: the latest rows, under
        :data:`STRAY_SHARE` of the log, dated more than
        :data:`STRAY_GAP_DAYS` after every earlier row. One row with a typed
        year ten years on made :attr:`last_day` a decade late, and a holdout
        the data covered for 5 days was judged complete on it.

        Kept per log with its :attr:`stray_rows`, as :meth:`fingerprint` is:
        the evaluation, the stale-log note and the backtest each ask, and a
        pass over 10 M rows' days takes ~80 ms."""
        return self._data_end()[0]

    @property
    def stray_rows(self) -> int:
        """The rows of the stray tail, after :attr:`data_last_day` (0: none)."""
        return self._data_end()[1]

    def _data_end(self) -> tuple[int, int]:
        """``(data_last_day, stray_rows)``, computed once per log."""
        known = _DATA_ENDS.get(self)
        if known is None:
            first = self.first_day
            rows = np.bincount(self.day - first)
            days = np.flatnonzero(rows)
            later = self.n_rows - np.cumsum(rows[days])  # rows after each day
            stray = (np.diff(days) > STRAY_GAP_DAYS) & (
                later[:-1] < STRAY_SHARE * self.n_rows
            )
            ends = np.flatnonzero(stray)
            at = int(ends[0]) if len(ends) else len(days) - 1
            known = _DATA_ENDS[self] = (first + int(days[at]), int(later[at]))
        return known

    def until(self, day: int) -> TransactionLog:
        """Rows on or before ``day`` (the customer vocabulary is kept)."""
        keep = self.day <= day
        return TransactionLog(
            customer_ids=self.customer_ids,
            customer=self.customer[keep],
            day=self.day[keep],
            amount=self.amount[keep],
            quantity=None if self.quantity is None else self.quantity[keep],
            source=self.source,
        )

    def fingerprint(self) -> str:
        """SHA-256 of the content (ids, days, amounts), independent of row order.

        Kept per log (its arrays are read-only): training, fitting and
        scoring each ask, and 10 M rows take 0.5 s to hash."""
        known = _FINGERPRINTS.get(self)
        if known is None:
            known = _FINGERPRINTS[self] = self._hash()
        return known

    def _hash(self) -> str:
        digest = hashlib.sha256()
        digest.update("\n".join(map(str, self.customer_ids)).encode())
        for array in (self.customer, self.day, self.amount):
            digest.update(np.ascontiguousarray(array).tobytes())
        if self.quantity is not None:
            digest.update(np.ascontiguousarray(self.quantity).tobytes())
        return digest.hexdigest()


def _sorted_log(
    customer_id: Sequence[str] | NDArray[np.object_] | pd.Series,
    order_date: Sequence[object] | NDArray[np.datetime64] | pd.Series,
    amount: Sequence[float] | NDArray[np.float64],
    quantity: Sequence[float] | NDArray[np.float64] | None,
    source: str,
) -> tuple[TransactionLog, NDArray[np.intp]]:
    """The log (rows by customer, then day) and, per log row, its input row."""
    ids = pd.Series(customer_id, dtype="str")
    codes, uniques = pd.factorize(ids, sort=True)
    del ids
    if isinstance(order_date, np.ndarray) and order_date.dtype.kind == "M":
        dates = order_date.astype("datetime64[D]", copy=False)
    else:
        dates = np.asarray(pd.to_datetime(pd.Series(order_date)), dtype="datetime64[D]")
    day = (dates - EPOCH).astype(np.int64)
    del dates
    amt = np.asarray(amount, dtype=np.float64)
    qty = None if quantity is None else np.asarray(quantity, dtype=np.float64)
    order = _row_order(codes, day, amt, qty)
    log = TransactionLog(
        customer_ids=np.asarray(uniques, dtype=object),
        customer=np.ascontiguousarray(codes[order], dtype=np.int64),
        day=day[order],
        amount=amt[order],
        quantity=None if qty is None else qty[order],
        source=source,
    )
    return log, order


def _row_order(
    codes: NDArray[np.intp],
    day: NDArray[np.int64],
    amount: NDArray[np.float64],
    quantity: NDArray[np.float64] | None,
) -> NDArray[np.intp]:
    """Rows by customer and day, and within one customer's day by amount
    (then quantity): the log's order is its content's, not the file's. Rows
    of one customer-day kept their file order, so a file exported in
    another order had another fingerprint (a retrain promoted a "new" model
    of the same data) and summed its days in another order (forecasts moved
    by up to 10). Only the rows of days with several are sorted again."""
    order = np.lexsort((day, codes))
    same = (np.diff(codes[order]) == 0) & (np.diff(day[order]) == 0)
    if not same.any():
        return order
    tied = np.zeros(len(order), dtype=bool)
    tied[:-1] |= same
    tied[1:] |= same
    rows = order[tied]  # whole customer-days, in (customer, day) order
    keys = [amount[rows], day[rows], codes[rows]]
    if quantity is not None:
        keys.insert(0, quantity[rows])
    order[tied] = rows[np.lexsort(keys)]
    return order


def stray_text(rows: int) -> str:
    """Why ``rows`` stray rows (:attr:`TransactionLog.stray_rows`) are not the
    log's end, for a message that names where its data ends ("" for 0):
    every decision taken on the log's end says it the same way."""
    if not rows:
        return ""
    return (
        f"{rows} row{'' if rows == 1 else 's'} dated after it, over "
        f"{STRAY_GAP_DAYS} days past the rest, {'is' if rows == 1 else 'are'} "
        "not counted as the log's end: a typo?"
    )


def as_of_error(
    message: str,
    log: TransactionLog,
    as_of_day: int,
    *,
    kind: type[InputError] = InputError,
) -> InputError:
    """What is wrong at an as-of date, named as every CLTV command names it:
    the log's file, the field ``as_of`` and the date (an ``InputError``, or
    the subclass ``kind``)."""
    return kind(
        message,
        file=log.source or None,
        field="as_of",
        value=str(day_to_date(as_of_day).date()),
    )


#: TransactionLog.fingerprint's answers, dropped with their logs.
_FINGERPRINTS: weakref.WeakKeyDictionary[TransactionLog, str] = (
    weakref.WeakKeyDictionary()
)
#: TransactionLog.data_last_day's and stray_rows' answers, dropped with
#: their logs.
_DATA_ENDS: weakref.WeakKeyDictionary[TransactionLog, tuple[int, int]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class _Columns:
    """The checked columns of a transaction file, before bad rows are dropped."""

    ids: pd.Series
    dates: NDArray[np.datetime64]
    amount: NDArray[np.float64]
    quantity: NDArray[np.float64] | None
    #: one code per distinct order_id (-1 blank), when the file has the column
    order: NDArray[np.int64] | None = None


def _check_customers(checks: RowChecks, frame: pd.DataFrame) -> pd.Series:
    """The stripped customer ids; one customer's id in two Unicode forms is
    an error (it was two customers)."""
    ids = check_ids(checks, frame["customer_id"], "customer_id")
    check_unicode_twins(checks, ids, frame["customer_id"], "customer_id", "customer id")
    return ids


def _check_cdnow(checks: RowChecks, frame: pd.DataFrame) -> _Columns:
    return _Columns(
        ids=_check_customers(checks, frame),
        dates=check_dates(checks, frame["order_date"], "date", cdnow=True),
        quantity=check_numbers(
            checks, frame["quantity"], "number_of_cds", maximum=MAX_TX_QUANTITY
        ),
        amount=check_numbers(
            checks, frame["amount"], "dollar_value", maximum=MAX_AMOUNT
        ),
    )


def _check_one_currency(checks: RowChecks, values: pd.Series) -> None:
    """A ``currency`` column (not read otherwise) names one currency: the
    amounts are summed as one unit, and a feed that added yen rows to a
    dollar log had them summed as dollars, without a word. A row of another
    currency than the first row's (blank: not said, not checked) is bad."""
    code = cell_text(values).str.strip().str.upper()
    given = np.asarray(code != "", dtype=bool)
    if not given.any():
        return
    first = int(np.flatnonzero(given)[0])
    other = given & np.asarray(code != code.iloc[first], dtype=bool)
    label = "record" if checks.record_label else "row"
    checks.add(
        "currency",
        f"another currency than {label} {checks.rows[first]}'s "
        f"{values.iloc[first]!r}: amounts are summed as one unit; convert "
        "them to one currency first",
        other,
        values,
    )


def _check_table(checks: RowChecks, frame: pd.DataFrame) -> _Columns:
    ids = _check_customers(checks, frame)
    dates = check_dates(checks, frame["order_date"], "order_date")
    amount = check_numbers(checks, frame["amount"], "amount", maximum=MAX_AMOUNT)
    # "-0" was read as an integer 0, its sign lost, where "-0.00" kept it: a
    # zero written negative is a return of nothing either way
    negative = np.asarray(cell_text(frame["amount"]).str.strip().str.startswith("-"))
    amount = np.where((amount == 0) & negative, -0.0, amount)
    quantity = None
    if "quantity" in frame.columns:
        quantity = check_numbers(
            checks,
            frame["quantity"],
            "quantity",
            required=False,
            maximum=MAX_TX_QUANTITY,
        )
    if "currency" in frame.columns:
        _check_one_currency(checks, frame["currency"])
    columns = _Columns(ids, dates, amount, quantity)
    if "order_id" in frame.columns:
        order = _check_order_ids(checks, frame, columns)
        columns = replace(columns, order=order)
    return columns


def _check_order_ids(
    checks: RowChecks, frame: pd.DataFrame, rows: _Columns
) -> NDArray[np.int64]:
    """An ``order_id`` is one customer's: one purchase row (amount >= 0) and
    any returns of it (amount < 0), none dated before the purchase. Returns
    the order codes (-1 where blank)."""
    values = frame["order_id"]
    order_id = check_ids(checks, values, "order_id")
    codes = np.where(blank_cells(values, order_id), -1, key_codes([order_id]))
    first = first_of_key(codes)
    customer = key_codes([rows.ids])
    other = (first >= 0) & (customer != customer[np.maximum(first, 0)])
    message = checks.earlier("order_id used for another customer", first, other)
    checks.add("order_id", message, other, values)
    void = _void_returns(rows)
    purchase = (codes >= 0) & ~other & (rows.amount >= 0) & ~void
    bought = first_of_key(codes, among=purchase)
    check_repeats(checks, bought, "order_id", values, "order_id", among=purchase)
    returned = (rows.amount < 0) | void
    _check_returns(checks, frame["order_date"], rows.dates, first, purchase, returned)
    return codes


def _void_returns(rows: _Columns) -> NDArray[np.bool_]:
    """Returns of nothing: an amount of zero written negative (``-0.00`` or ``-0``, as
    ``-price * quantity`` of a free item prints) or with a negative
    quantity. Neither spend nor a purchase: they were purchase rows (amount
    >= 0), so a free gift's return was refused as a second purchase of its
    order ("duplicate order_id"), and without order ids it made its day a
    purchase day."""
    void = (rows.amount == 0) & np.signbit(rows.amount)
    if rows.quantity is not None:
        void |= (rows.amount == 0) & (rows.quantity < 0)
    return np.asarray(void, dtype=bool)


def _check_returns(
    checks: RowChecks,
    values: pd.Series,
    dates: NDArray[np.datetime64],
    first: NDArray[np.intp],
    purchase: NDArray[np.bool_],
    returned: NDArray[np.bool_],
) -> None:
    """A return (``returned``: amount < 0, or a return of nothing) may not be
    dated before its order's purchase row (``values``: the date cells, quoted
    in the message)."""
    n = len(first)
    bought = np.full(n, n, dtype=np.intp)  # per order (its first row): purchase row
    np.minimum.at(bought, first[purchase], np.flatnonzero(purchase))
    at = np.where(first >= 0, bought[np.maximum(first, 0)], n)
    has = (at < n) & returned
    padded = np.append(dates, np.datetime64("NaT", "D"))
    early = has & (dates < padded[at])
    message = checks.earlier("return dated before its purchase", at, early)
    checks.add("order_date", message, early, values)


def _repeat_candidates(
    log: TransactionLog, order_codes: NDArray[np.int64] | None
) -> NDArray[np.intp]:
    """Log rows whose customer, day, amount, quantity and order code (per log
    row, when the file has order ids) equal another row's: every exact repeat
    is among them, found on numbers alone (the log is sorted by customer and
    day, so only runs of one customer-day compete)."""
    same_day = (np.diff(log.customer) == 0) & (np.diff(log.day) == 0)
    in_run = np.zeros(log.n_rows, dtype=bool)
    in_run[1:] |= same_day
    in_run[:-1] |= same_day
    rows = np.flatnonzero(in_run)
    if not rows.size:
        return rows
    # per row, its run (customer and day) in the high 32 bits and a mix of its
    # amount, quantity and order code in the low ones: equal rows get equal
    # keys, so no repeat is missed (a rare collision only adds a row for the
    # cell comparison to clear); the keys come nearly sorted (runs are short),
    # so a stable sort takes ~0.1 s for 8 M rows where a hash table took 1.2 s
    golden = np.uint64(0x9E3779B97F4A7C15)
    mix = (log.amount[rows] + 0.0).view(np.uint64)  # -0.0 as 0.0
    for part in (log.quantity, order_codes):
        if part is not None:  # in place: each new 8 M-row array costs page faults
            np.multiply(mix, golden, out=mix)
            np.bitwise_xor(mix, part[rows].view(np.uint64), out=mix)
    np.multiply(mix, golden, out=mix)
    np.right_shift(mix, np.uint64(32), out=mix)
    run = np.cumsum(~np.r_[False, same_day], dtype=np.uint64)[rows]
    np.left_shift(run, np.uint64(32), out=run)
    key = np.bitwise_or(run, mix, out=run)
    by_key = np.argsort(key, kind="stable")
    equal = key[by_key[1:]] == key[by_key[:-1]]
    repeat = np.zeros(rows.size, dtype=bool)
    repeat[by_key[1:][equal]] = True
    repeat[by_key[:-1][equal]] = True
    return rows[repeat]


def _duplicate_note(
    frame: pd.DataFrame,
    keep: NDArray[np.bool_],
    checks: RowChecks,
    log: TransactionLog,
    order: NDArray[np.intp],
    order_codes: NDArray[np.int64] | None,
) -> str | None:
    """A warning when kept rows repeat an earlier one cell for cell: valid
    (one customer may buy the same thing twice in a day), but a file
    appended twice doubles the spend silently; ``None`` when none does.

    ``order`` maps log rows to kept rows, ``order_codes`` are per input row;
    the cells are compared only for rows that :func:`_repeat_candidates`
    finds (a read of 10 M rows compared every text cell for 7 s)."""
    kept = np.flatnonzero(keep)[order]  # per log row, its input row
    codes = None if order_codes is None else order_codes[kept]
    candidates = _repeat_candidates(log, codes)
    if not candidates.size:
        return None
    at_input = np.sort(kept[candidates])
    cells = frame.iloc[at_input]
    repeat = np.asarray(cells.duplicated(keep="first"), dtype=bool)
    if not repeat.any():
        return None
    group = cells.groupby(list(cells.columns), dropna=False, sort=False).ngroup()
    same = group.to_numpy()
    at = int(np.argmax(repeat))
    first = int(np.argmax(same == same[at]))
    rows = checks.rows[at_input]
    label = "record" if checks.record_label else "row"
    n = int(repeat.sum())
    return (
        f"{checks.file}: {n} {'row repeats' if n == 1 else 'rows repeat'} an "
        f"earlier row exactly (first: {label} {rows[at]}, same as {label} "
        f"{rows[first]}); kept, each as a purchase of its own"
    )


def read_transactions(
    path: str | Path,
    *,
    fmt: TransactionFormat = "auto",
    skip_bad_rows: bool = False,
) -> tuple[TransactionLog, ReadReport]:
    """Read and validate a transaction file.

    Parameters
    ----------
    path
        CSV or Parquet with ``customer_id, order_date, amount`` (+ optional
        ``quantity``, ``order_id``), or CDNOW text (``fmt="cdnow"``).
    fmt
        ``auto`` picks Parquet for ``.parquet``/``.pq`` files and CSV otherwise.
    skip_bad_rows
        Drop bad rows and count them in the report instead of raising.

    Raises
    ------
    InputError
        On the first bad row (file, row, field, value), a missing column, or
        when no valid row is left.
    """
    file = str(path)
    is_parquet = False
    if fmt == "cdnow":
        frame, rows = read_cdnow(Path(path))
    else:
        frame, rows, is_parquet = read_log_table(
            Path(path),
            TRANSACTION_COLUMNS,
            OPTIONAL_TRANSACTION_COLUMNS,
            fmt,
            one_column_hint="CDNOW's text format is read with --format cdnow",
        )
    checks = RowChecks(file, rows, record_label=is_parquet)
    columns = (_check_cdnow if fmt == "cdnow" else _check_table)(checks, frame)
    keep, report = checks.resolve(skip_bad_rows)
    keep = keep & ~_void_returns(columns)  # validated, then left out
    if not keep.any():
        raise InputError("no valid transactions", file=file)
    quantity = columns.quantity
    if quantity is not None:
        quantity = np.where(np.isnan(quantity), 1.0, quantity)
    everything = bool(keep.all())
    log, order = _sorted_log(
        columns.ids if everything else columns.ids[keep].reset_index(drop=True),
        columns.dates if everything else columns.dates[keep],
        columns.amount if everything else columns.amount[keep],
        quantity if everything or quantity is None else quantity[keep],
        file,
    )
    notes = (
        _duplicate_note(frame, keep, checks, log, order, columns.order),
        _stray_note(frame, keep, checks, log, order, fmt == "cdnow"),
    )
    if any(notes):
        report = replace(report, notes=(*report.notes, *filter(None, notes)))
    return log, report


def _stray_note(
    frame: pd.DataFrame,
    keep: NDArray[np.bool_],
    checks: RowChecks,
    log: TransactionLog,
    order: NDArray[np.intp],
    cdnow: bool,
) -> str | None:
    """A warning naming the first row (in the file's order) of a stray tail
    (:attr:`TransactionLog.data_last_day`), with how far it lies after the
    rest; ``None`` without one. Kept: the date may be right."""
    end = log.data_last_day
    if end == log.last_day:
        return None
    kept = np.flatnonzero(keep)[order]  # per log row, its input row
    at = int(kept[log.day > end].min())
    day = int(log.day[np.flatnonzero(kept == at)[0]])
    label = "record" if checks.record_label else "row"
    n = int((log.day > end).sum())
    more = "" if n == 1 else f"; {n} rows that far out"
    cell = frame["order_date"].iloc[at]  # as written; a Parquet date as ISO
    written = cell.strip() if isinstance(cell, str) else day_to_date(day).date()
    return (
        f"{checks.file}: {label} {checks.rows[at]}: field "
        f"'{'date' if cdnow else 'order_date'}': value '{written}' is "
        f"{day - end:,} days after the rest of the log, which ends on "
        f"{day_to_date(end).date()} (a typo?{more}): kept as written; cltv "
        "takes the log's end to be where the rest ends"
    )
