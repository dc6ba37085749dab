"""Row-by-row validation of a log table: every bad cell is collected, then the
first one raises, or (``skip_bad_rows``) the bad rows are dropped and counted in
a :class:`ReadReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError

#: How many example messages a :class:`ReadReport` keeps.
_KEEP_MESSAGES = 3


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
class RowChecks:
    """Collects vectorized per-field checks, then raises or reports.

    ``rows`` are the file rows of the table's rows: 1-based lines for text
    files, 1-based records for Parquet (``record_label``), which has no lines.
    """

    file: str
    rows: NDArray[np.int64]
    record_label: bool = False
    failed: list[tuple[str, str, NDArray[np.bool_], pd.Series]] = field(
        default_factory=list
    )

    def add(
        self, name: str, message: str, mask: NDArray[np.bool_], values: pd.Series
    ) -> None:
        """Record that the cells of ``values`` where ``mask`` holds are bad."""
        if mask.any():
            self.failed.append((name, message, mask, values))

    def error(self, k: int, i: int) -> InputError:
        """The error of check ``k`` at table row ``i``."""
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
        if not skip:
            firsts = [int(np.argmax(mask)) for _, _, mask, _ in self.failed]
            k = min(range(len(firsts)), key=lambda j: (firsts[j], j))
            raise self.error(k, firsts[k])
        return ~bad, self._report(bad)

    def _report(self, bad: NDArray[np.bool_]) -> ReadReport:
        counts: dict[str, int] = {}
        for name, _, mask, _ in self.failed:
            counts[name] = counts.get(name, 0) + int(mask.sum())
        examples = []
        for i in np.flatnonzero(bad)[:_KEEP_MESSAGES]:
            k = next(j for j, f in enumerate(self.failed) if f[2][i])
            examples.append(str(self.error(k, int(i))))
        n_bad = int(bad.sum())
        by_field = tuple(counts.items())
        return ReadReport(self.file, len(self.rows), n_bad, by_field, tuple(examples))


def blank_cells(
    values: pd.Series, stripped: pd.Series | None = None
) -> NDArray[np.bool_]:
    """Missing or whitespace-only cells (typed columns: missing only)."""
    if values.dtype.kind in "fiubMm":
        return np.asarray(values.isna(), dtype=bool)
    text = values.astype("str").str.strip() if stripped is None else stripped
    return np.asarray(values.isna() | (text == ""), dtype=bool)


def check_ids(checks: RowChecks, values: pd.Series, name: str) -> pd.Series:
    """Stripped ids; a blank one is a missing value."""
    ids = values.astype("str").str.strip()
    checks.add(name, "missing value", blank_cells(values, ids), values)
    return ids


def check_dates(
    checks: RowChecks,
    values: pd.Series,
    name: str,
    *,
    required: bool = True,
    cdnow: bool = False,
) -> NDArray[np.datetime64]:
    """Parse ISO dates (a time of day is accepted and dropped), or CDNOW's
    ``YYYYMMDD``."""
    blank = blank_cells(values)
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
    unparsed = np.asarray(parsed.isna(), dtype=bool)
    message = f"not a date (expected {expected})"
    _check_parsed(checks, values, name, blank, unparsed, message, required=required)
    return out


def check_numbers(
    checks: RowChecks,
    values: pd.Series,
    name: str,
    *,
    required: bool = True,
    non_negative: bool = False,
) -> NDArray[np.float64]:
    """Parse finite numbers (``non_negative``: also >= 0)."""
    blank = blank_cells(values)
    if values.dtype.kind in "fiub":
        parsed = values.astype("float64")
    else:
        parsed = pd.to_numeric(values.astype("str").str.strip(), errors="coerce")
    out = np.asarray(parsed, dtype=np.float64)
    unparsed = np.isnan(out)
    _check_parsed(
        checks, values, name, blank, unparsed, "not a number", required=required
    )
    checks.add(name, "not a finite number", np.isinf(out), values)
    if non_negative:
        checks.add(name, "must be >= 0", out < 0, values)
    return out


def _check_parsed(
    checks: RowChecks,
    values: pd.Series,
    name: str,
    blank: NDArray[np.bool_],
    unparsed: NDArray[np.bool_],
    message: str,
    *,
    required: bool,
) -> None:
    """A blank cell is missing (when ``required``); a filled one that did not
    parse is ``message``."""
    if required:
        checks.add(name, "missing value", blank, values)
    checks.add(name, message, unparsed & ~blank, values)
