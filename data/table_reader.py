"""Typed, located reading of one CSV or Parquet table.

Every network file goes through :func:`read_table`: the file is read as
text, each declared column is converted in vectorized form, and the first bad
cell raises an :class:`~tierflow.data.errors.InputError` naming the file, the row, the
column and the value. Rows are 1-based *file line numbers* (header = row 1,
first data row = row 2); for Parquet, which has no header line, row ``i + 2``
is data row ``i`` (0-based), so the numbering is the same as for the
equivalent CSV.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tierflow.data.delivery_calendar import is_timezone
from tierflow.data.errors import InputError

Kind = Literal["str", "int", "float", "bool", "hhmm", "timezone", "datetime", "date"]

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Column:
    """One declared column: its name, type and allowed values.

    Parameters
    ----------
    name
        Column header.
    kind
        How the text is parsed (``hhmm`` gives minutes since midnight).
    required
        Whether the column must be present (absent optional columns are
        filled with ``default``).
    default
        Value of an absent optional column, or of an empty cell when
        ``allow_empty``.
    allow_empty
        Whether an empty cell is valid (it then takes ``default``).
    min, max
        Inclusive numeric bounds (``min_exclusive`` makes the lower one strict).
    choices
        Allowed values for ``str`` columns.
    pattern
        Regular expression a ``str`` value must match in full.
    """

    name: str
    kind: Kind = "str"
    required: bool = True
    default: Any = None
    allow_empty: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None


def table_path(folder: Path, name: str) -> Path | None:
    """``folder/name.csv`` or ``folder/name.parquet``, whichever exists."""
    for ext in (".csv", ".parquet"):
        path = folder / f"{name}{ext}"
        if path.is_file():
            return path
    return None


def _raw_frame(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types on corrupt files
            raise InputError(
                f"not a readable Parquet file ({exc})", file=path.name
            ) from None
        frame = frame.astype(object).where(frame.notna(), "")
        return frame.astype(str)
    try:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError:
        raise InputError("empty file (no header)", file=path.name) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV file ({exc})", file=path.name) from None


def _fail(
    path: Path, frame: pd.DataFrame, bad: np.ndarray, col: str, message: str
) -> None:
    pos = int(np.flatnonzero(bad)[0])
    raise InputError(
        message, file=path.name, row=pos + 2, field=col, value=frame[col].iloc[pos]
    )


def _convert(path: Path, frame: pd.DataFrame, col: Column) -> Any:
    text = frame[col.name].astype(str).str.strip()
    frame[col.name] = text
    empty = (text == "").to_numpy()
    if empty.any() and not col.allow_empty:
        _fail(path, frame, empty, col.name, "missing value")
    kind = col.kind
    values: Any
    if kind == "str":
        values = text.to_numpy(dtype=object)
        if col.choices is not None:
            bad = ~text.isin(col.choices).to_numpy() & ~empty
            if bad.any():
                _fail(path, frame, bad, col.name, f"must be one of {list(col.choices)}")
        if col.pattern is not None:
            bad = ~text.str.fullmatch(col.pattern).to_numpy(dtype=bool) & ~empty
            if bad.any():
                _fail(path, frame, bad, col.name, f"must match {col.pattern}")
    elif kind in ("int", "float"):
        num = pd.to_numeric(text.where(~empty, "nan"), errors="coerce").to_numpy(
            dtype=np.float64
        )
        bad = ~np.isfinite(num) & ~empty
        if bad.any():
            _fail(path, frame, bad, col.name, "not a number")
        if kind == "int":
            bad = (num != np.round(num)) & ~empty
            if bad.any():
                _fail(path, frame, bad, col.name, "not an integer")
        if col.min is not None:
            bad = ((num <= col.min) if col.min_exclusive else (num < col.min)) & ~empty
            if bad.any():
                op = ">" if col.min_exclusive else ">="
                _fail(path, frame, bad, col.name, f"must be {op} {col.min:g}")
        if col.max is not None:
            bad = (num > col.max) & ~empty
            if bad.any():
                _fail(path, frame, bad, col.name, f"must be <= {col.max:g}")
        if col.default is not None:
            num = np.where(empty, float(col.default), num)
        values = num.astype(np.int64) if kind == "int" else num
    elif kind == "bool":
        low = text.str.lower()
        bad = ~low.isin(_TRUE | _FALSE).to_numpy()
        if bad.any():
            _fail(path, frame, bad, col.name, "not a boolean (true/false/1/0)")
        values = low.isin(_TRUE).to_numpy()
    elif kind == "hhmm":
        parts = text.str.extract(_HHMM)
        bad = parts[0].isna().to_numpy() & ~empty
        if bad.any():
            _fail(path, frame, bad, col.name, "not a time HH:MM (00:00-23:59)")
        hours = pd.to_numeric(parts[0], errors="coerce").fillna(0).to_numpy()
        minutes = pd.to_numeric(parts[1], errors="coerce").fillna(0).to_numpy()
        values = (hours * 60 + minutes).astype(np.int64)
    elif kind == "timezone":
        known = {tz: is_timezone(tz) for tz in text.unique()}
        bad = ~text.map(known).to_numpy(dtype=bool)
        if bad.any():
            _fail(path, frame, bad, col.name, "not an IANA timezone")
        values = text.to_numpy(dtype=object)
    elif kind in ("datetime", "date"):
        if kind == "datetime":
            has_tz = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
            parsed = pd.to_datetime(
                text.where(~empty, None), utc=True, format="ISO8601", errors="coerce"
            )
        else:
            has_tz = pd.Series(True, index=text.index)
            parsed = pd.to_datetime(
                text.where(~empty, None), format="%Y-%m-%d", errors="coerce"
            )
        bad = parsed.isna().to_numpy() & ~empty
        if bad.any():
            what = (
                "an ISO 8601 date-time" if kind == "datetime" else "a date YYYY-MM-DD"
            )
            _fail(path, frame, bad, col.name, f"not {what}")
        bad = ~has_tz.to_numpy(dtype=bool) & ~empty
        if bad.any():
            _fail(path, frame, bad, col.name, "no timezone offset (add Z or +HH:MM)")
        values = parsed
    else:  # pragma: no cover - Kind is closed
        raise AssertionError(kind)
    return values


def read_table(
    folder_or_path: Path,
    name: str,
    columns: Sequence[Column],
    *,
    unique: Iterable[Sequence[str]] = (),
) -> tuple[pd.DataFrame, Path]:
    """Read and type-check table ``name`` (CSV or Parquet).

    Parameters
    ----------
    folder_or_path
        The network folder (the file is ``name.csv`` or ``name.parquet`` in it)
        or the file itself.
    name
        Table name, used to find the file.
    columns
        Declared columns; extra columns are kept as text.
    unique
        Column groups whose value combinations must not repeat; the error
        points at the second occurrence.

    Returns
    -------
    frame, path
        Converted columns (numbers as numpy dtypes, ``hhmm`` as minutes,
        datetimes as UTC timestamps) and the file that was read; the cells as
        read (text) are in ``frame.attrs["raw"]`` for later error messages.

    Raises
    ------
    InputError
        Missing file or column, or the first bad cell, located.
    """
    if folder_or_path.is_dir():
        path = table_path(folder_or_path, name)
        if path is None:
            raise InputError(
                f"missing required file {name}.csv (or {name}.parquet)",
                file=str(folder_or_path),
            )
    else:
        path = folder_or_path
        if not path.is_file():
            raise InputError("no such file", file=str(path))
    raw = _raw_frame(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    out = pd.DataFrame(index=raw.index)
    for col in columns:
        if col.name not in raw.columns:
            if col.required:
                raise InputError(
                    f"missing column (has {list(raw.columns)})",
                    file=path.name,
                    row=1,
                    field=col.name,
                )
            out[col.name] = [col.default] * len(raw)
            continue
        out[col.name] = _convert(path, raw, col)
    for extra in raw.columns:
        if extra not in out.columns:
            out[extra] = raw[extra].astype(str)
    for group in unique:
        dup = out.duplicated(subset=list(group), keep="first").to_numpy()
        if dup.any():
            col_name = group[-1]
            pos = int(np.flatnonzero(dup)[0])
            raise InputError(
                f"duplicate {'/'.join(group)}",
                file=path.name,
                row=pos + 2,
                field=col_name,
                value=raw[col_name].iloc[pos],
            )
    out.attrs["raw"] = raw
    return out, path


def check_reference(
    frame: pd.DataFrame,
    path: Path,
    column: str,
    known: Iterable[str],
    known_file: str,
) -> None:
    """Referential integrity: every ``column`` value must be in ``known``.

    Raises
    ------
    InputError
        At the first row whose value is unknown, naming the file it should
        have come from.
    """
    bad = ~frame[column].isin(list(known)).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"unknown {column} (not in {known_file})",
            file=path.name,
            row=pos + 2,
            field=column,
            value=frame[column].iloc[pos],
        )
