"""Log files read as text frames that remember each row's place in the file:
CSV (all text), Parquet (typed columns) and CDNOW's whitespace-separated text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.row_checks import blank_cells
from tierflow.data.text_files import (
    check_names_once,
    missing_column_hint,
    read_csv_records,
    read_utf8,
    written_otherwise,
)

TransactionFormat = Literal["auto", "csv", "parquet", "cdnow"]
#: File suffixes read (and written) as Parquet under ``fmt="auto"``.
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


def read_log_table(
    path: Path,
    columns: Sequence[str],
    optional: Sequence[str],
    fmt: str,
    *,
    one_column_hint: str = "",
) -> tuple[pd.DataFrame, NDArray[np.int64], bool]:
    """Read a CSV (all text) or Parquet table; return frame, row numbers, is_parquet.

    Only ``columns`` (required) and ``optional`` are kept. CSV rows are file
    lines (the header is line 1; blank lines are dropped), Parquet rows are
    1-based records. ``one_column_hint`` ends the missing column's error of a
    CSV whose header is one column of space- or tab-separated names (what
    else the file may be: CDNOW's text for a transaction log).
    """
    is_parquet = fmt == "parquet" or (
        fmt == "auto" and path.suffix.lower() in PARQUET_SUFFIXES
    )
    with _read_errors(str(path)):
        if is_parquet:
            frame, rows = _read_parquet(path, columns, optional)
        else:
            frame, rows = _read_csv(path, columns, optional, one_column_hint)
    return frame, rows, is_parquet


def _read_parquet(
    path: Path, columns: Sequence[str], optional: Sequence[str]
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    import pyarrow.parquet as pq

    wanted = [*columns, *optional]
    try:
        names = pq.read_schema(path).names
        check_names_once(names, str(path), row=None)
        present = [c for c in wanted if c in names]
        _require(str(path), columns, names)
        _refuse_optional_otherwise(str(path), optional, names, row=None)
        frame = pq.read_table(path, columns=present).to_pandas(date_as_object=False)
    except (InputError, OSError):
        raise
    except Exception as exc:  # pyarrow raises many types on corrupt files
        message = f"not a readable Parquet file ({_first_line(exc)})"
        raise InputError(message, file=str(path)) from None
    return frame, np.arange(1, len(frame) + 1, dtype=np.int64)


def _read_csv(
    path: Path, columns: Sequence[str], optional: Sequence[str], one_column_hint: str
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    wanted = [*columns, *optional]
    frame, rows = read_csv_records(path, str(path), skip_initial_space=False)
    names = list(frame.columns)
    _require(str(path), columns, names, row=1, hint=one_column_hint)
    _refuse_optional_otherwise(str(path), optional, names, row=1)
    frame = frame.loc[:, [c for c in frame.columns if c in wanted]]
    blank_line = np.ones(len(frame), dtype=bool)
    for col in frame.columns:
        blank_line &= blank_cells(frame[col])
    if blank_line.any():
        frame = frame.loc[~blank_line].reset_index(drop=True)
        rows = rows[~blank_line]
    return frame, rows


@contextmanager
def _read_errors(file: str) -> Iterator[None]:
    """What the OS raises on a file it cannot read, as an ``InputError``."""
    try:
        yield
    except OSError as exc:
        raise InputError(f"cannot read file ({_first_line(exc)})", file=file) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _require(
    file: str,
    columns: Sequence[str],
    names: Sequence[str],
    *,
    row: int | None = None,
    hint: str = "",
) -> None:
    """Every column of ``columns`` is among ``names``; ``row``: the header's
    line, named as every table reader names it (a Parquet file has none).

    A header of one column holding several space- or tab-separated names
    (CDNOW's text read as CSV, a TSV) is said to be one, with ``hint``: its
    names listed as they were ("have: customer_id  date ...") read as if the
    missing column were there."""
    for col in columns:
        if col in names:
            continue
        if len(names) == 1 and len(str(names[0]).split()) > 1:
            have = (
                f"have one column, {str(names[0])!r}: the header's names are "
                "separated by spaces or tabs, not commas"
            ) + (f"; {hint}" if hint else "")
        else:
            have = f"have: {', '.join(map(str, names)) or 'none'}"
            have += missing_column_hint(col, [str(name) for name in names])
        raise InputError(f"missing column ({have})", file=file, row=row, field=col)


def _refuse_optional_otherwise(
    file: str, optional: Sequence[str], names: Sequence[str], *, row: int | None
) -> None:
    """An optional column absent but there in other case or punctuation
    (``Quantity``, ``OrderID``, ``Currency``, a profile's ``Region``) is an
    error: it was read as an extra column and dropped without a word, so a
    log's quantities, its order-id checks or its one-currency check, or a
    profile's feature, were lost and the model trained without them, exit 0.
    Names are exact, as the required columns' error already says."""
    header = [str(name) for name in names]
    for col in optional:
        if col in header:
            continue
        name = written_otherwise(col, header)
        if name is not None:
            raise InputError(
                f"column {name!r} would be ignored: the column is named {col!r} "
                "(names are exact): name it so, or rename it if it is another column",
                file=file,
                row=row,
                field=name,
            )


#: CDNOW's columns (as the errors name them), by the number on a line.
CDNOW_COLUMNS = {
    4: ("customer_id", "date", "number_of_cds", "dollar_value"),
    5: ("customer_id", "sample_id", "date", "number_of_cds", "dollar_value"),
}


def read_cdnow(path: Path) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """CDNOW text: ``id date cds dollars`` (+ header) or the 5-column sample.

    Returns the columns ``customer_id, order_date, quantity, amount`` as text
    and each row's file line.
    """
    file = str(path)
    with _read_errors(file):
        text = read_utf8(path, file, word_columns=CDNOW_COLUMNS)
    tokens = [line.split() for line in text.split("\n")]
    numbered = [(i + 1, t) for i, t in enumerate(tokens) if t]
    if not numbered:
        raise InputError("file is empty", file=file)
    first = numbered[0][1]
    if not first[0].isdigit():
        numbered = numbered[1:]  # a header line
    # counted on the first row, not the header: a column name with a space
    # in it made every row "expected 6 fields, found 4"
    ncols = len(numbered[0][1] if numbered else first)
    if ncols not in (4, 5):
        raise InputError(
            "expected 4 columns (id date cds dollars) or 5 (master_id sample_id "
            f"date cds dollars), found {ncols}",
            file=file,
            row=numbered[0][0] if numbered else 1,
        )
    for lineno, parts in numbered:
        if len(parts) != ncols:
            raise InputError(  # the missing or extra column is unknown
                f"expected {ncols} fields, found {len(parts)}",
                file=file,
                row=lineno,
                value=" ".join(parts),
            )
    rows = np.array([lineno for lineno, _ in numbered], dtype=np.int64)
    matrix = [parts for _, parts in numbered]
    if ncols == 5:
        matrix = [[p[0], p[2], p[3], p[4]] for p in matrix]
    frame = pd.DataFrame(
        matrix, columns=["customer_id", "order_date", "quantity", "amount"], dtype="str"
    )
    return frame, rows
