"""Row-by-row validation of a log table: every bad cell is collected (types,
ranges, date windows, repeated keys), then the first one raises, or
(``skip_bad_rows``) the bad rows are dropped and counted in a
:class:`ReadReport`."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.calendar_days import no_such_day
from tierflow.data.errors import InputError
from tierflow.data.limits import (
    CONTROL_CHARACTER,
    DATA_WINDOW,
    MAX_ID_LENGTH,
    TimeWindow,
    control_character_error,
)
from tierflow.data.spreadsheet_cells import date_problem, number_problem
from tierflow.data.wording import counted

#: What went wrong: one message for every bad cell, or one per row.
Message = str | NDArray[np.object_]

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
    #: What was kept but deserves a look (one line each, for stderr).
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the CLI, e.g. ``x.csv: skipped 2 bad rows of 10 (amount: 2)``."""
        if self.n_bad == 0:
            return f"{self.file}: read {self.n_rows} rows"
        fields = ", ".join(f"{name}: {count}" for name, count in self.by_field)
        first = f"; first: {self.examples[0]}" if self.examples else ""
        return (
            f"{self.file}: skipped {counted(self.n_bad, 'bad row')} of {self.n_rows:,} "
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
    failed: list[tuple[str, Message, NDArray[np.bool_], pd.Series]] = field(
        default_factory=list
    )

    def add(
        self, name: str, message: Message, mask: NDArray[np.bool_], values: pd.Series
    ) -> None:
        """Record that the cells of ``values`` where ``mask`` holds are bad
        (``message``: one text, or one per row)."""
        if mask.any():
            self.failed.append((name, message, mask, values))

    def earlier(
        self, message: str, first: NDArray[np.intp], where: NDArray[np.bool_]
    ) -> Message:
        """Per row (``where`` it holds), ``message`` naming row ``first[i]``,
        e.g. ``duplicate order_id (first at row 7)``."""
        if not where.any():
            return message
        out = np.full(len(first), message, dtype=object)
        label = "record" if self.record_label else "row"
        at = self.rows[first[where]].astype(str)
        out[where] = np.char.add(f"{message} (first at {label} ", at) + ")"
        return out

    def error(self, k: int, i: int) -> InputError:
        """The error of check ``k`` at table row ``i``."""
        name, messages, _, values = self.failed[k]
        message = messages if isinstance(messages, str) else str(messages[i])
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


def cell_text(values: pd.Series) -> pd.Series:
    """``values`` as a CSV holds them: a float column's whole numbers without
    ``.0`` (pandas writes an integer column with a gap as float64 to Parquet,
    and its ids ``123.0`` matched no ``123`` of a CSV table), every other
    value as ``str`` gives it."""
    if values.dtype.kind != "f":
        return values.astype("str")
    number = values.to_numpy(dtype=np.float64)
    whole = np.isfinite(number) & (number == np.floor(number))
    fits = whole & (np.abs(number) < 2.0**63)  # int64's text, no Python loop
    text = values.astype("str").to_numpy(dtype=object)
    text[fits] = number[fits].astype(np.int64).astype(str)
    text[whole & ~fits] = [str(int(v)) for v in number[whole & ~fits]]
    return pd.Series(text, index=values.index, dtype="str")


def check_ids(checks: RowChecks, values: pd.Series, name: str) -> pd.Series:
    """Stripped ids; a blank one is a missing value, a long one an error."""
    ids = cell_text(values).str.strip()
    checks.add(name, "missing value", blank_cells(values, ids), values)
    too_long = np.asarray(ids.str.len() > MAX_ID_LENGTH, dtype=bool)
    checks.add(name, f"longer than {MAX_ID_LENGTH} characters", too_long, values)
    control = np.asarray(ids.str.contains(CONTROL_CHARACTER), dtype=bool)
    if control.any():
        message = np.full(len(ids), "", dtype=object)
        message[control] = [control_character_error(v) for v in ids[control]]
        checks.add(name, message, control, values)
    return ids


def key_codes(keys: Sequence[pd.Series | NDArray[np.generic]]) -> NDArray[np.int64]:
    """One integer per distinct combination of ``keys`` (-1 where one is missing)."""
    codes = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        part, uniques = pd.factorize(pd.Series(key))
        missing = (codes < 0) | (part < 0)
        codes = np.where(missing, -1, codes * max(len(uniques), 1) + part)
    return codes


def first_of_key(
    codes: NDArray[np.int64], among: NDArray[np.bool_] | None = None
) -> NDArray[np.intp]:
    """Per row (``among`` them), the position of the first such row with the
    same code (:func:`key_codes`); -1 elsewhere and where the key is missing."""
    use = codes >= 0 if among is None else (codes >= 0) & among
    out = np.full(len(codes), -1, dtype=np.intp)
    rows = np.flatnonzero(use)
    if rows.size:
        first = np.full(int(codes[rows].max()) + 1, len(codes), dtype=np.intp)
        np.minimum.at(first, codes[rows], rows)
        out[rows] = first[codes[rows]]
    return out


def check_repeats(
    checks: RowChecks,
    first: NDArray[np.intp],
    name: str,
    values: pd.Series,
    what: str,
    *,
    among: NDArray[np.bool_] | None = None,
) -> None:
    """Rows (``among`` them) that are not the first with their key
    (``first`` from :func:`first_of_key`) are ``duplicate <what>``, naming
    the first row."""
    repeat = (first >= 0) & (first != np.arange(len(first)))
    if among is not None:
        repeat &= among
    if repeat.any():
        checks.add(
            name, checks.earlier(f"duplicate {what}", first, repeat), repeat, values
        )


def _unicode_form(text: str) -> str:
    """Which Unicode normal form ``text`` is in, for a message."""
    for form in ("NFC", "NFD"):
        if unicodedata.is_normalized(form, text):
            return form
    return "neither NFC nor NFD"


def check_unicode_twins(
    checks: RowChecks, ids: pd.Series, values: pd.Series, name: str, what: str
) -> None:
    """Rows whose id (``ids``, stripped) is an earlier row's written in other
    Unicode code points (``José`` with ``é`` as one code point and as ``e``
    and an accent look the same): an error naming both spellings' rows and
    forms, for tables where one id repeats (a log's rows of one customer);
    a table of unique ids refuses them as duplicates (``read_table``,
    :func:`tierflow.data.customer_tables.read_profiles`).

    Only non-ASCII ids are normalised (ASCII text is in every form), and
    only their distinct spellings, so an ASCII log pays one pass."""
    text = ids.to_numpy(dtype=object)
    other = ~np.asarray(ids.str.isascii(), dtype=bool)
    if not other.any():
        return
    codes, spellings = pd.factorize(text[other])
    nfc = np.array([unicodedata.normalize("NFC", v) for v in spellings], dtype=object)
    if (nfc == np.asarray(spellings, dtype=object)).all():
        return
    normal = text.copy()
    normal[other] = nfc[codes]
    first = first_of_key(np.where(text == "", -1, key_codes([normal])))
    twin = (first >= 0) & (text != text[np.maximum(first, 0)])
    label = "record" if checks.record_label else "row"
    message = np.full(len(text), "", dtype=object)
    message[twin] = [
        f"{what} {text[at]!r} of {label} {checks.rows[at]} in other Unicode code "
        f"points ({_unicode_form(here)} here, {_unicode_form(text[at])} there): "
        "the same id written two ways"
        for here, at in zip(text[twin], first[twin], strict=True)
    ]
    checks.add(name, message, twin, values)


#: A whole ISO date, optionally followed by a time of day and a UTC offset.
_ISO_DATE = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
#: CDNOW's dates: exactly eight digits.
_CDNOW_DATE = r"\d{8}"


def check_dates(
    checks: RowChecks,
    values: pd.Series,
    name: str,
    *,
    required: bool = True,
    cdnow: bool = False,
    window: TimeWindow = DATA_WINDOW,
) -> NDArray[np.datetime64]:
    """Parse ISO dates, or CDNOW's ``YYYYMMDD``; a date outside ``window`` is
    an error.

    The date is the calendar date as written: a time of day and a UTC offset
    are checked, then dropped (``1997-09-30T21:00-05:00`` is 1997-09-30, the
    day the customer bought; moved to UTC it would leak into the next day).
    An incomplete date (``1997-02``, ``1997``) is an error, not the 1st.
    """
    blank = blank_cells(values)
    expected = "YYYYMMDD" if cdnow else "YYYY-MM-DD"
    stripped = None
    if values.dtype.kind == "M":
        parsed = values
        if getattr(parsed.dt, "tz", None) is not None:  # the local wall time
            parsed = parsed.dt.tz_localize(None)
    else:
        text = values.astype("str").str.strip()
        stripped = text
        whole = text.str.fullmatch(_CDNOW_DATE if cdnow else _ISO_DATE)
        text = text.where(whole.fillna(False).astype(bool))
        day = text.str[:8] if cdnow else text.str[:10]
        parsed = pd.to_datetime(
            day, format="%Y%m%d" if cdnow else "%Y-%m-%d", errors="coerce"
        )
        timed = np.asarray(text.str.len() > 10, dtype=bool)
        if timed.any():  # the time and offset must be valid, if dropped
            when = pd.to_datetime(
                text[timed], format="ISO8601", errors="coerce", utc=True
            )
            parsed[timed & np.asarray(when.reindex(text.index).isna())] = pd.NaT
    out: NDArray[np.datetime64] = parsed.to_numpy(dtype="datetime64[D]")
    unparsed = np.asarray(parsed.isna(), dtype=bool)
    general = f"not a date (expected {expected})"
    message: Message = general
    if stripped is not None:  # text, not dates already
        message = _day_reasons(stripped, unparsed & ~blank, general, cdnow)
    _check_parsed(checks, values, name, blank, unparsed, message, required=required)
    lo, hi = (np.datetime64(t.date(), "D") for t in window.bounds())
    outside = ~unparsed & ((out < lo) | (out > hi))
    checks.add(name, window.describe(), outside, values)
    return out


def _day_reasons(
    text: pd.Series, bad: NDArray[np.bool_], general: str, compact: bool
) -> Message:
    """Per row, why a ``bad`` date names no day of the calendar
    (:func:`no_such_day`), else ``general``; ``general`` alone when no bad
    date is such a day."""
    if not bad.any():
        return general
    cells = text[bad]
    why = {
        v: no_such_day(v, compact=compact) or (None if compact else date_problem(v))
        for v in cells.unique()
    }
    reasons = cells.map(why)
    if reasons.isna().all():
        return general
    out = np.full(len(text), general, dtype=object)
    out[bad] = reasons.fillna(general).to_numpy(dtype=object)
    return out


def check_numbers(
    checks: RowChecks,
    values: pd.Series,
    name: str,
    *,
    required: bool = True,
    minimum: float | None = None,
    maximum: float,
) -> NDArray[np.float64]:
    """Parse finite numbers in ``[minimum, maximum]`` (``minimum`` defaults
    to ``-maximum``); booleans and text that is not a number are errors."""
    blank = blank_cells(values)
    if values.dtype.kind in "fiu":
        out = np.asarray(values.astype("float64"), dtype=np.float64)
    elif values.dtype.kind == "b":  # a boolean column is not a number
        out = np.full(len(values), np.nan)
    else:
        text = values.astype("str").str.strip()
        out = np.asarray(pd.to_numeric(text, errors="coerce"), dtype=np.float64)
    unparsed = np.isnan(out)
    message: Message = "not a number"
    if values.dtype.kind not in "fiub" and (unparsed & ~blank).any():
        # 1,234 or $12.50: say how to write it (each distinct text once)
        bad = values[unparsed & ~blank].astype("str")
        why = {v: number_problem(v) for v in bad.unique()}
        message = np.full(len(values), "not a number", dtype=object)
        message[unparsed & ~blank] = bad.map(why).to_numpy(dtype=object)
    _check_parsed(checks, values, name, blank, unparsed, message, required=required)
    checks.add(name, "not a finite number", np.isinf(out), values)
    low = -maximum if minimum is None else minimum
    checks.add(name, f"must be >= {low:g}", np.isfinite(out) & (out < low), values)
    too_big = np.isfinite(out) & (out > maximum)
    checks.add(name, f"must be <= {maximum:g}", too_big, values)
    return out


def _check_parsed(
    checks: RowChecks,
    values: pd.Series,
    name: str,
    blank: NDArray[np.bool_],
    unparsed: NDArray[np.bool_],
    message: Message,
    *,
    required: bool,
) -> None:
    """A blank cell is missing (when ``required``); a filled one that did not
    parse is ``message``."""
    if required:
        checks.add(name, "missing value", blank, values)
    checks.add(name, message, unparsed & ~blank, values)
