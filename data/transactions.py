"""Transaction logs (CSV, Parquet, CDNOW text) and the optional customer tables.

Every reader validates all rows before anything is returned. A bad row (missing
customer id, unparseable date, non-numeric amount, ...) raises an
:class:`~tierflow.data.errors.InputError` naming file, row, field and value; with
``skip_bad_rows=True`` it is dropped and counted in a :class:`ReadReport`
instead. Row numbers are 1-based file lines (the header is row 1) for text
files; Parquet has no lines, so its errors name the 1-based ``record``.

Negative amounts (returns) and zero amounts are valid input. ``order_id`` is
accepted and checked for presence only: the models count purchases per
customer-day (the BTYD convention), not per order.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError

TransactionFormat = Literal["auto", "csv", "parquet", "cdnow"]

#: Columns a transaction file must have, and the ones it may have.
TRANSACTION_COLUMNS = ("customer_id", "order_date", "amount")
OPTIONAL_TRANSACTION_COLUMNS = ("quantity", "order_id")
#: Profile columns used when present (all optional but ``customer_id``).
PROFILE_CATEGORICALS = ("loyalty_tier", "region", "acquisition_channel", "age_band")
PROFILE_COLUMNS = ("customer_id", "signup_date", *PROFILE_CATEGORICALS)
#: Browsing/session aggregates, one row per customer and day.
BROWSING_COLUMNS = ("customer_id", "date", "sessions", "product_views", "cart_adds")
BROWSING_COUNTS = ("sessions", "product_views", "cart_adds")

_EPOCH = np.datetime64("1970-01-01", "D")
#: How many example messages a :class:`ReadReport` keeps.
_KEEP_MESSAGES = 3


def day_number(date: object) -> int:
    """Days since 1970-01-01 of a date-like value (the unit of every ``day``)."""
    stamp = np.datetime64(pd.Timestamp(date).date(), "D")
    return int((stamp - _EPOCH) // np.timedelta64(1, "D"))


def day_to_date(day: int) -> pd.Timestamp:
    """Inverse of :func:`day_number`."""
    return pd.Timestamp(_EPOCH + np.timedelta64(int(day), "D"))


def _readonly(*arrays: NDArray[np.generic] | None) -> None:
    for array in arrays:
        if array is not None:
            array.setflags(write=False)


@dataclass(frozen=True, slots=True)
class ReadReport:
    """What a reader kept and what it skipped (with ``skip_bad_rows``)."""

    file: str
    n_rows: int
    n_bad: int = 0
    by_field: tuple[tuple[str, int], ...] = ()
    examples: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the CLI, e.g. ``x.csv: skipped 2 of 10 rows (amount: 2)``."""
        if self.n_bad == 0:
            return f"{self.file}: read {self.n_rows} rows"
        fields = ", ".join(f"{name}: {count}" for name, count in self.by_field)
        first = f"; first: {self.examples[0]}" if self.examples else ""
        return (
            f"{self.file}: skipped {self.n_bad} of {self.n_rows} bad rows "
            f"({fields}){first}"
        )


@dataclass
class _Checks:
    """Collects vectorized per-field checks, then raises or reports."""

    file: str
    rows: NDArray[np.int64]
    record_label: bool = False
    failed: list[tuple[str, str, NDArray[np.bool_], pd.Series]] = field(
        default_factory=list
    )

    def add(
        self, name: str, message: str, mask: NDArray[np.bool_], values: pd.Series
    ) -> None:
        if mask.any():
            self.failed.append((name, message, mask, values))

    def error(self, k: int, i: int) -> InputError:
        name, message, _, values = self.failed[k]
        raw = values.iloc[i]
        value = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else raw
        if isinstance(value, np.generic):
            value = value.item()
        where = int(self.rows[i])
        if self.record_label:
            return InputError(
                message,
                file=self.file,
                position=f"record {where}",
                field=name,
                value=value,
            )
        return InputError(message, file=self.file, row=where, field=name, value=value)

    def resolve(self, skip: bool) -> tuple[NDArray[np.bool_], ReadReport]:
        """Raise on the first bad row, or return the keep-mask and the report."""
        n = len(self.rows)
        bad = np.zeros(n, dtype=bool)
        for _, _, mask, _ in self.failed:
            bad |= mask
        if not bad.any():
            return ~bad, ReadReport(self.file, n)
        firsts = [int(np.argmax(mask)) for _, _, mask, _ in self.failed]
        if not skip:
            k = min(range(len(firsts)), key=lambda j: (firsts[j], j))
            raise self.error(k, firsts[k])
        counts: dict[str, int] = {}
        for name, _, mask, _ in self.failed:
            counts[name] = counts.get(name, 0) + int(mask.sum())
        bad_idx = np.flatnonzero(bad)[:_KEEP_MESSAGES]
        examples = []
        for i in bad_idx:
            k = next(j for j, f in enumerate(self.failed) if f[2][i])
            examples.append(str(self.error(k, int(i))))
        report = ReadReport(
            self.file, n, int(bad.sum()), tuple(counts.items()), tuple(examples)
        )
        return ~bad, report


def _blank(values: pd.Series, stripped: pd.Series | None = None) -> NDArray[np.bool_]:
    """Missing or whitespace-only cells (typed columns: missing only)."""
    if values.dtype.kind in "fiubMm":
        return np.asarray(values.isna(), dtype=bool)
    text = values.astype("str").str.strip() if stripped is None else stripped
    return np.asarray(values.isna() | (text == ""), dtype=bool)


def _check_ids(checks: _Checks, values: pd.Series, name: str) -> pd.Series:
    ids = values.astype("str").str.strip()
    checks.add(name, "missing value", _blank(values, ids), values)
    return ids


def _check_dates(
    checks: _Checks,
    values: pd.Series,
    name: str,
    *,
    required: bool = True,
    cdnow: bool = False,
) -> NDArray[np.datetime64]:
    """Parse ISO dates (a time of day is accepted and dropped), or CDNOW's
    ``YYYYMMDD``."""
    blank = _blank(values)
    expected = "YYYYMMDD" if cdnow else "YYYY-MM-DD"
    if values.dtype.kind == "M":
        parsed = values
    else:
        text = values.astype("str").str.strip()
        parsed = pd.to_datetime(
            text, format="%Y%m%d" if cdnow else "ISO8601", errors="coerce"
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    out: NDArray[np.datetime64] = parsed.to_numpy(dtype="datetime64[D]")
    bad = np.asarray(parsed.isna(), dtype=bool) & ~blank
    if required:
        checks.add(name, "missing value", blank, values)
    checks.add(name, f"not a date (expected {expected})", bad, values)
    return out


def _check_numbers(
    checks: _Checks,
    values: pd.Series,
    name: str,
    *,
    required: bool = True,
    non_negative: bool = False,
) -> NDArray[np.float64]:
    blank = _blank(values)
    if values.dtype.kind in "fiub":
        parsed = values.astype("float64")
    else:
        parsed = pd.to_numeric(values.astype("str").str.strip(), errors="coerce")
    out = np.asarray(parsed, dtype=np.float64)
    not_number = np.isnan(out) & ~blank
    if required:
        checks.add(name, "missing value", blank, values)
    checks.add(name, "not a number", not_number, values)
    checks.add(name, "not a finite number", np.isinf(out), values)
    if non_negative:
        checks.add(name, "must be >= 0", out < 0, values)
    return out


def _read_table(
    path: Path, columns: Sequence[str], optional: Sequence[str], fmt: str
) -> tuple[pd.DataFrame, NDArray[np.int64], bool]:
    """Read a CSV (all text) or Parquet table; return frame, row numbers, is_parquet."""
    file = str(path)
    is_parquet = fmt == "parquet" or (
        fmt == "auto" and path.suffix.lower() in {".parquet", ".pq"}
    )
    wanted = [*columns, *optional]
    try:
        if is_parquet:
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            present = [c for c in wanted if c in names]
            _require(file, columns, names)
            table = pq.read_table(path, columns=present)
            frame = table.to_pandas(date_as_object=False)
            rows = np.arange(1, len(frame) + 1, dtype=np.int64)
        else:
            head = pd.read_csv(path, nrows=0)
            names = [str(c).strip() for c in head.columns]
            _require(file, columns, names)
            with warnings.catch_warnings():
                # pandas only warns when a first data row is too long
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    dtype="str",
                    keep_default_na=False,
                    skip_blank_lines=False,
                    index_col=False,
                )
            frame.columns = [str(c).strip() for c in frame.columns]
            frame = frame.loc[:, [c for c in frame.columns if c in wanted]]
            rows = np.arange(2, len(frame) + 2, dtype=np.int64)
            blank_line = np.ones(len(frame), dtype=bool)
            for col in frame.columns:
                blank_line &= _blank(frame[col])
            if blank_line.any():
                frame = frame.loc[~blank_line].reset_index(drop=True)
                rows = rows[~blank_line]
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", file=file) from None
    except pd.errors.ParserWarning:
        raise InputError(
            "a row has more fields than the header", file=file, row=2
        ) from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = (int(g) for g in found.groups())
            raise InputError(
                f"expected {want} fields, found {saw}", file=file, row=line
            ) from None
        raise InputError(f"cannot parse ({_first_line(exc)})", file=file) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read file ({_first_line(exc)})", file=file) from None
    return frame, rows, is_parquet


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _require(file: str, columns: Sequence[str], names: Sequence[str]) -> None:
    for col in columns:
        if col not in names:
            raise InputError(
                f"missing column (have: {', '.join(map(str, names)) or 'none'})",
                file=file,
                field=col,
            )


@dataclass(frozen=True, slots=True, eq=False)
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
        _readonly(
            self.customer_ids, self.customer, self.day, self.amount, self.quantity
        )

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
        ids = pd.Series(customer_id, dtype="str")
        codes, uniques = pd.factorize(ids, sort=True)
        del ids
        if isinstance(order_date, np.ndarray) and order_date.dtype.kind == "M":
            dates = order_date.astype("datetime64[D]", copy=False)
        else:
            dates = np.asarray(
                pd.to_datetime(pd.Series(order_date)), dtype="datetime64[D]"
            )
        day = (dates - _EPOCH).astype(np.int64)
        del dates
        amt = np.asarray(amount, dtype=np.float64)
        qty = None if quantity is None else np.asarray(quantity, dtype=np.float64)
        order = np.lexsort((day, codes))
        return cls(
            customer_ids=np.asarray(uniques, dtype=object),
            customer=np.ascontiguousarray(codes[order], dtype=np.int64),
            day=day[order],
            amount=amt[order],
            quantity=None if qty is None else qty[order],
            source=source,
        )

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
        """SHA-256 of the content (ids, days, amounts), independent of row order."""
        digest = hashlib.sha256()
        digest.update("\n".join(map(str, self.customer_ids)).encode())
        for array in (self.customer, self.day, self.amount):
            digest.update(np.ascontiguousarray(array).tobytes())
        if self.quantity is not None:
            digest.update(np.ascontiguousarray(self.quantity).tobytes())
        return digest.hexdigest()


def _read_cdnow(path: Path) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """CDNOW text: ``id date cds dollars`` (+ header) or the 5-column sample."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file ({_first_line(exc)})", file=file) from None
    lines = text.splitlines()
    tokens = [line.split() for line in lines]
    numbered = [(i + 1, t) for i, t in enumerate(tokens) if t]
    if not numbered:
        raise InputError("file is empty", file=file)
    first = numbered[0][1]
    if not first[0].isdigit():
        numbered = numbered[1:]
        ncols = len(first)
    else:
        ncols = len(first)
    if ncols not in (4, 5):
        raise InputError(
            "expected 4 columns (id date cds dollars) or 5 (master_id sample_id "
            f"date cds dollars), found {ncols}",
            file=file,
            row=numbered[0][0] if numbered else 1,
        )
    for lineno, parts in numbered:
        if len(parts) != ncols:
            raise InputError(
                f"expected {ncols} fields, found {len(parts)}", file=file, row=lineno
            )
    rows = np.array([lineno for lineno, _ in numbered], dtype=np.int64)
    matrix = [parts for _, parts in numbered]
    if ncols == 5:
        matrix = [[p[0], p[2], p[3], p[4]] for p in matrix]
    frame = pd.DataFrame(
        matrix, columns=["customer_id", "order_date", "quantity", "amount"], dtype="str"
    )
    return frame, rows


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
    p = Path(path)
    file = str(path)
    is_parquet = False
    if fmt == "cdnow":
        frame, rows = _read_cdnow(p)
    else:
        frame, rows, is_parquet = _read_table(
            p, TRANSACTION_COLUMNS, OPTIONAL_TRANSACTION_COLUMNS, fmt
        )
    checks = _Checks(file, rows, record_label=is_parquet)
    ids = _check_ids(checks, frame["customer_id"], "customer_id")
    if fmt == "cdnow":
        dates = _check_dates(checks, frame["order_date"], "date", cdnow=True)
        quantity: NDArray[np.float64] | None = _check_numbers(
            checks, frame["quantity"], "number_of_cds"
        )
        amount = _check_numbers(checks, frame["amount"], "dollar_value")
    else:
        dates = _check_dates(checks, frame["order_date"], "order_date")
        amount = _check_numbers(checks, frame["amount"], "amount")
        quantity = None
        if "quantity" in frame.columns:
            quantity = _check_numbers(
                checks, frame["quantity"], "quantity", required=False
            )
        if "order_id" in frame.columns:
            order_id = frame["order_id"]
            checks.add("order_id", "missing value", _blank(order_id), order_id)
    keep, report = checks.resolve(skip_bad_rows)
    del checks, frame  # the raw text columns are no longer needed
    if not keep.any():
        raise InputError("no valid transactions", file=file)
    if quantity is not None:
        quantity = np.where(np.isnan(quantity), 1.0, quantity)
    everything = bool(keep.all())
    log = TransactionLog.from_columns(
        ids if everything else ids[keep].reset_index(drop=True),
        dates if everything else dates[keep],
        amount if everything else amount[keep],
        quantity if everything or quantity is None else quantity[keep],
        source=file,
    )
    return log, report


@dataclass(frozen=True, slots=True, eq=False)
class CustomerProfiles:
    """Static customer attributes; ``signup_day`` is NaN where unknown."""

    customer_ids: NDArray[np.object_]
    signup_day: NDArray[np.float64] | None
    categoricals: tuple[tuple[str, NDArray[np.object_]], ...]
    source: str = ""

    def __post_init__(self) -> None:
        _readonly(self.customer_ids, self.signup_day)
        for _, values in self.categoricals:
            _readonly(values)

    @property
    def columns(self) -> tuple[str, ...]:
        """The optional profile columns present, in file order of the schema."""
        names = ("signup_date",) if self.signup_day is not None else ()
        return (*names, *(name for name, _ in self.categoricals))


def read_profiles(
    path: str | Path, *, fmt: TransactionFormat = "auto", skip_bad_rows: bool = False
) -> tuple[CustomerProfiles, ReadReport]:
    """Read a customer profile table (``customer_id`` + any profile column)."""
    file = str(path)
    frame, rows, is_parquet = _read_table(
        Path(path), ("customer_id",), PROFILE_COLUMNS[1:], fmt
    )
    checks = _Checks(file, rows, record_label=is_parquet)
    ids = _check_ids(checks, frame["customer_id"], "customer_id")
    dup = np.asarray(ids.duplicated(keep="first"), dtype=bool)
    checks.add("customer_id", "duplicate customer id", dup, frame["customer_id"])
    signup = None
    if "signup_date" in frame.columns:
        dates = _check_dates(
            checks, frame["signup_date"], "signup_date", required=False
        )
        signup = np.where(
            np.isnat(dates), np.nan, (dates - _EPOCH).astype(np.int64).astype(float)
        )
    keep, report = checks.resolve(skip_bad_rows)
    cats = []
    for name in PROFILE_CATEGORICALS:
        if name in frame.columns:
            text = frame[name].astype("str").str.strip().to_numpy(dtype=object)[keep]
            cats.append((name, text))
    profiles = CustomerProfiles(
        customer_ids=ids.to_numpy(dtype=object)[keep],
        signup_day=None if signup is None else signup[keep],
        categoricals=tuple(cats),
        source=file,
    )
    return profiles, report


@dataclass(frozen=True, slots=True, eq=False)
class BrowsingLog:
    """Per customer-day session aggregates (counts are >= 0)."""

    customer_ids: NDArray[np.object_]
    day: NDArray[np.int64]
    sessions: NDArray[np.float64]
    product_views: NDArray[np.float64]
    cart_adds: NDArray[np.float64]
    source: str = ""

    def __post_init__(self) -> None:
        _readonly(self.customer_ids, self.day, self.sessions)
        _readonly(self.product_views, self.cart_adds)


def read_browsing(
    path: str | Path, *, fmt: TransactionFormat = "auto", skip_bad_rows: bool = False
) -> tuple[BrowsingLog, ReadReport]:
    """Read browsing aggregates: ``customer_id, date, sessions, product_views,
    cart_adds``."""
    file = str(path)
    frame, rows, is_parquet = _read_table(Path(path), BROWSING_COLUMNS, (), fmt)
    checks = _Checks(file, rows, record_label=is_parquet)
    ids = _check_ids(checks, frame["customer_id"], "customer_id")
    dates = _check_dates(checks, frame["date"], "date")
    counts = {
        name: _check_numbers(checks, frame[name], name, non_negative=True)
        for name in BROWSING_COUNTS
    }
    keep, report = checks.resolve(skip_bad_rows)
    log = BrowsingLog(
        customer_ids=ids.to_numpy(dtype=object)[keep],
        day=(dates[keep] - _EPOCH).astype(np.int64),
        sessions=counts["sessions"][keep],
        product_views=counts["product_views"][keep],
        cart_adds=counts["cart_adds"][keep],
        source=file,
    )
    return log, report
