"""The optional customer tables beside a transaction log: static profiles and
per-day browsing aggregates, validated like the log (:mod:`.row_checks`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tierflow.data.day_numbers import EPOCH
from tierflow.data.limits import MAX_DAILY_COUNT
from tierflow.data.log_files import TransactionFormat, read_log_table
from tierflow.data.readonly import freeze_arrays
from tierflow.data.row_checks import (
    ReadReport,
    RowChecks,
    check_dates,
    check_ids,
    check_numbers,
    check_repeats,
    check_unicode_twins,
    first_of_key,
    key_codes,
)

#: Profile columns used when present (all optional but ``customer_id``).
PROFILE_CATEGORICALS = ("loyalty_tier", "region", "acquisition_channel", "age_band")
PROFILE_COLUMNS = ("customer_id", "signup_date", *PROFILE_CATEGORICALS)
#: Browsing/session aggregates, one row per customer and day.
BROWSING_COLUMNS = ("customer_id", "date", "sessions", "product_views", "cart_adds")
BROWSING_COUNTS = ("sessions", "product_views", "cart_adds")


@dataclass(frozen=True, slots=True, eq=False)
class CustomerProfiles:
    """Static customer attributes; ``signup_day`` is NaN where unknown."""

    customer_ids: NDArray[np.object_]
    signup_day: NDArray[np.float64] | None
    categoricals: tuple[tuple[str, NDArray[np.object_]], ...]
    source: str = ""

    def __post_init__(self) -> None:
        freeze_arrays(self)
        for _, values in self.categoricals:
            values.setflags(write=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """The optional profile columns present, in file order of the schema."""
        names = ("signup_date",) if self.signup_day is not None else ()
        return (*names, *(name for name, _ in self.categoricals))

    def fingerprint(self) -> str:
        """SHA-256 of the content (ids, signup days, each column by name),
        independent of row order: part of a model's identity."""
        order = np.argsort(self.customer_ids.astype(str), kind="stable")
        digest = hashlib.sha256()
        digest.update("\n".join(map(str, self.customer_ids[order])).encode())
        if self.signup_day is not None:
            digest.update(b"signup_date")
            digest.update(np.ascontiguousarray(self.signup_day[order]).tobytes())
        for name, values in self.categoricals:
            digest.update(f"\n{name}\n".encode())
            digest.update("\n".join(map(str, values[order])).encode())
        return digest.hexdigest()


def read_profiles(
    path: str | Path, *, fmt: TransactionFormat = "auto", skip_bad_rows: bool = False
) -> tuple[CustomerProfiles, ReadReport]:
    """Read a customer profile table (``customer_id`` + any profile column)."""
    file = str(path)
    frame, rows, is_parquet = read_log_table(
        Path(path), ("customer_id",), PROFILE_COLUMNS[1:], fmt
    )
    checks = RowChecks(file, rows, record_label=is_parquet)
    ids = check_ids(checks, frame["customer_id"], "customer_id")
    first = first_of_key(np.where(ids == "", -1, key_codes([ids])))
    check_repeats(checks, first, "customer_id", frame["customer_id"], "customer id")
    nfc = ids.str.normalize("NFC")
    if not nfc.equals(ids):  # alike to the eye: two profiles of one customer
        twin_first = first_of_key(np.where(ids == "", -1, key_codes([nfc])))
        own = first == np.arange(len(first))
        twin = own & (twin_first >= 0) & (twin_first != np.arange(len(first)))
        message = "duplicate customer id, in other Unicode code points"
        checks.add(
            "customer_id",
            checks.earlier(message, twin_first, twin),
            twin,
            frame["customer_id"],
        )
    signup = None
    if "signup_date" in frame.columns:
        dates = check_dates(checks, frame["signup_date"], "signup_date", required=False)
        signup = np.where(
            np.isnat(dates), np.nan, (dates - EPOCH).astype(np.int64).astype(float)
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
        freeze_arrays(self)

    def fingerprint(self) -> str:
        """SHA-256 of the content (ids, days, counts), independent of row
        order: part of a model's identity."""
        order = np.lexsort((self.day, self.customer_ids.astype(str)))
        digest = hashlib.sha256()
        digest.update("\n".join(map(str, self.customer_ids[order])).encode())
        for array in (self.day, self.sessions, self.product_views, self.cart_adds):
            digest.update(np.ascontiguousarray(array[order]).tobytes())
        return digest.hexdigest()


def read_browsing(
    path: str | Path, *, fmt: TransactionFormat = "auto", skip_bad_rows: bool = False
) -> tuple[BrowsingLog, ReadReport]:
    """Read browsing aggregates: ``customer_id, date, sessions, product_views,
    cart_adds``."""
    file = str(path)
    frame, rows, is_parquet = read_log_table(Path(path), BROWSING_COLUMNS, (), fmt)
    checks = RowChecks(file, rows, record_label=is_parquet)
    ids = check_ids(checks, frame["customer_id"], "customer_id")
    check_unicode_twins(checks, ids, frame["customer_id"], "customer_id", "customer id")
    dates = check_dates(checks, frame["date"], "date")
    first = first_of_key(np.where(ids == "", -1, key_codes([ids, dates])))
    what = "customer_id/date"
    check_repeats(checks, first, "date", frame["date"], what)
    counts = {
        name: check_numbers(
            checks, frame[name], name, minimum=0.0, maximum=MAX_DAILY_COUNT
        )
        for name in BROWSING_COUNTS
    }
    keep, report = checks.resolve(skip_bad_rows)
    log = BrowsingLog(
        customer_ids=ids.to_numpy(dtype=object)[keep],
        day=(dates[keep] - EPOCH).astype(np.int64),
        sessions=counts["sessions"][keep],
        product_views=counts["product_views"][keep],
        cart_adds=counts["cart_adds"][keep],
        source=file,
    )
    return log, report
