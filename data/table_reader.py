"""Typed, located reading of one network table (CSV or Parquet): each declared
column is range- and type-checked before it is cast, in vectorized form, and
the first bad cell raises an ``InputError`` naming file, row (file line;
header = 1), column and value. Limits every column inherits: ``docs/data.md``."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.calendar_days import no_such_day
from tierflow.data.delivery_calendar import timezone_problem
from tierflow.data.errors import InputError
from tierflow.data.limits import (
    ANY_DATE_WINDOW,
    CONTROL_CHARACTER,
    INVISIBLE_CHARACTER,
    MAX_MAGNITUDE,
    MAX_TEXT_LENGTH,
    TIME_OF_DAY,
    TimeWindow,
    control_character_error,
)
from tierflow.data.row_checks import cell_text
from tierflow.data.spreadsheet_cells import date_problem, number_problem, time_problem
from tierflow.data.text_files import (
    check_header_repeated,
    check_names_once,
    missing_column_hint,
    read_csv_records,
)

Kind = Literal["str", "int", "float", "bool", "hhmm", "timezone", "datetime", "date"]

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
#: A time of day, HH:MM or H:MM, or either with :SS (a database's TIME
#: column, a Parquet ``time64`` read as text, writes the seconds: ``17:00:00``
#: was "not a time"; a spreadsheet writes ``7:00``, which was too).
_HHMM = re.compile(rf"^{TIME_OF_DAY}(?::([0-5]\d))?$")


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
        Inclusive numeric bounds (``min_exclusive`` makes the lower one strict);
        an absent bound is ``-+MAX_MAGNITUDE`` (:mod:`tierflow.data.limits`).
    choices
        Allowed values for ``str`` columns.
    pattern
        Regular expression a ``str`` value must match in full.
    window
        Instants a ``datetime`` or ``date`` value may take, around now
        (default :data:`~tierflow.data.limits.ANY_DATE_WINDOW`).
    unmatched
        The error of a value ``pattern`` does not match, from the value
        (default ``must match <pattern>``).
    identifier
        Whether the column holds ids, which may hold no control character
        (:data:`~tierflow.data.limits.CONTROL_CHARACTER`).
    beyond
        The error of a number past ``min`` or ``max``, from the number and
        its text, when it says one ("": the default, ``must be <= max``):
        for a column whose binding bound is checked later, by a store, in
        its own words.
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
    window: TimeWindow | None = None
    unmatched: Callable[[str], str] | None = None
    identifier: bool = False
    beyond: Callable[[float, str], str] | None = None


def table_path(folder: Path, name: str) -> Path | None:
    """``folder/name.csv`` or ``folder/name.parquet``, whichever exists.

    Anything else of that name (a folder) is refused: it was taken as no
    file, so an optional table (holidays, zones, customers) was dropped
    without a word and a required one said "missing". So are both at once:
    the CSV was read without a word, and a stale one beside a new Parquet
    export won. A symbolic link whose target is gone (a share not
    mounted, a file moved) is refused too, naming the target: it was taken
    as no file, so a linked holidays.csv vanished without a word."""
    found = []
    for ext in (".csv", ".parquet"):
        path = folder / f"{name}{ext}"
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            raise InputError("not a file (a folder?)", file=str(path))
        elif path.exists():  # a link to /dev/null, a FIFO: "a folder?" misled
            raise InputError(
                "not a regular file but a pipe or device: write the table to a file",
                file=str(path),
            )
        elif path.is_symlink():
            raise InputError(
                f"a symbolic link to {path.readlink()}, which does not exist "
                "(or is a link that loops)",
                file=str(path),
            )
    if len(found) > 1:
        raise InputError(
            f"both {found[0].name} and {found[1].name} are here: keep the one to read",
            file=str(folder),
        )
    return found[0] if found else None


def _raw_frame(path: Path) -> pd.DataFrame:
    """Every cell as text; ``attrs["lines"]`` holds each row's file line."""
    if path.suffix == ".parquet":
        _parquet_names_once(path)
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types on corrupt files
            raise InputError(
                f"not a readable Parquet file ({_first_line(exc)})", file=path.name
            ) from None
        frame = _parquet_days(frame)
        frame = pd.DataFrame(
            {name: cell_text(frame[name]) for name in frame.columns}, index=frame.index
        ).where(frame.notna(), "")
        lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    else:
        frame, lines = read_csv_records(path, path.name)
        check_header_repeated(frame, lines, path.name)
    frame.attrs["lines"] = lines
    return frame


def _parquet_names_once(path: Path) -> None:
    """A column named twice in the schema is named (pyarrow refused the read
    with "Multiple matches for FieldRef.Name(...)", which said "not a
    readable Parquet file"); an unreadable schema is left to the read."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # pyarrow raises many types on corrupt files
        return
    check_names_once([str(n).strip() for n in names], path.name)


def _parquet_days(frame: pd.DataFrame) -> pd.DataFrame:
    """Naive Parquet timestamps at midnight as their dates (``2026-06-09``):
    a date column exported as a timestamp (pandas writes ``pd.to_datetime``
    so) was "not a date YYYY-MM-DD" at ``2026-06-09 00:00:00``. Any other
    timestamp keeps its text (a time of day is no date; a naive instant
    still has no offset)."""
    for name in frame.columns:
        values = frame[name]
        if values.dtype.kind == "M" and getattr(values.dt, "tz", None) is None:
            text = values.astype(str).astype(object)
            midnight = (values == values.dt.normalize()).to_numpy(dtype=bool)
            text[midnight] = values[midnight].dt.strftime("%Y-%m-%d")
            frame[name] = text.where(values.notna(), None)
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def file_line(frame: pd.DataFrame, pos: int) -> int:
    """File line of data row ``pos`` (0-based) of a frame :func:`read_table` made."""
    lines = frame.attrs.get("lines")
    if lines is None and "raw" in frame.attrs:
        lines = frame.attrs["raw"].attrs.get("lines")
    return int(lines[pos]) if lines is not None and pos < len(lines) else pos + 2


def cell_error(
    path: Path, frame: pd.DataFrame, pos: int, column: str, message: str
) -> InputError:
    """The error at data row ``pos`` (0-based) of ``column``, quoting its
    cell as the file has it (a frame of :func:`read_table` keeps the text:
    ``'1e12'``, not the number read, 1000000000000)."""
    raw = frame.attrs.get("raw")
    same_rows = (
        raw is not None and column in raw.columns and raw.index.equals(frame.index)
    )
    written = raw if same_rows else frame
    return InputError(
        message,
        file=path.name,
        row=file_line(frame, pos),
        field=column,
        value=written[column].iloc[pos],
    )


def first_error(
    path: Path,
    frame: pd.DataFrame,
    bad: NDArray[np.bool_],
    column: str,
    message: str,
) -> InputError:
    """:func:`cell_error` at the first row where ``bad`` holds."""
    return cell_error(path, frame, int(np.flatnonzero(bad)[0]), column, message)


@dataclass(frozen=True, slots=True)
class _Cells:
    """One column's stripped text, with what is needed to reject a cell."""

    path: Path
    frame: pd.DataFrame
    column: Column
    text: pd.Series
    empty: NDArray[np.bool_]

    def reject(self, bad: NDArray[np.bool_], message: str) -> None:
        """Raise at the first ``bad`` cell, if any."""
        if bad.any():
            raise first_error(self.path, self.frame, bad, self.column.name, message)


def _to_str(cells: _Cells) -> Any:
    col, text, empty = cells.column, cells.text, cells.empty
    too_long = (text.str.len() > MAX_TEXT_LENGTH).to_numpy(dtype=bool)
    cells.reject(too_long, f"longer than {MAX_TEXT_LENGTH} characters")
    if col.identifier:
        control = text.str.contains(CONTROL_CHARACTER).to_numpy(dtype=bool)
        if control.any():
            first = str(text.iloc[int(np.argmax(control))])
            cells.reject(control, control_character_error(first))
    if col.choices is not None:
        bad = ~text.isin(col.choices).to_numpy() & ~empty
        cells.reject(bad, f"must be one of {list(col.choices)}")
    if col.pattern is not None:
        bad = ~text.str.fullmatch(col.pattern).to_numpy(dtype=bool) & ~empty
        message = f"must match {col.pattern}"
        if col.unmatched is not None and bad.any():
            message = col.unmatched(str(text.iloc[int(np.argmax(bad))]))
        cells.reject(bad, message)
    return text.to_numpy(dtype=object)


def _to_number(cells: _Cells) -> Any:
    """Numbers checked finite, integral (``int``) and within bounds, then cast;
    a column without a bound of its own is held to +-``MAX_MAGNITUDE``, so
    the ``int64`` cast can never wrap."""
    col, empty = cells.column, cells.empty
    num = pd.to_numeric(cells.text.where(~empty, "nan"), errors="coerce").to_numpy(
        dtype=np.float64
    )
    unparsed = ~np.isfinite(num) & ~empty
    if unparsed.any():  # 1,234 or $12.50: say how to write it
        cells.reject(
            unparsed, number_problem(str(cells.text.iloc[np.argmax(unparsed)]))
        )
    if col.kind == "int":
        cells.reject((num != np.round(num)) & ~empty, "not an integer")
    low = -MAX_MAGNITUDE if col.min is None else col.min
    below = (num <= low) if col.min_exclusive else (num < low)
    op = ">" if col.min_exclusive else ">="
    _reject_beyond(cells, num, below & ~empty, f"must be {op} {low:g}")
    high = MAX_MAGNITUDE if col.max is None else col.max
    _reject_beyond(cells, num, (num > high) & ~empty, f"must be <= {high:g}")
    if col.default is not None:
        num = np.where(empty, float(col.default), num)
    return num.astype(np.int64) if col.kind == "int" else num


def _reject_beyond(
    cells: _Cells, num: NDArray[np.float64], bad: NDArray[np.bool_], message: str
) -> None:
    """Reject the first ``bad`` cell, a number past a bound, in the column's
    own words (``beyond``) when it has them, else ``message``."""
    if bad.any() and cells.column.beyond is not None:
        first = int(np.argmax(bad))
        said = cells.column.beyond(float(num[first]), str(cells.text.iloc[first]))
        message = said or message
    cells.reject(bad, message)


def _to_bool(cells: _Cells) -> Any:
    low = cells.text.str.lower()
    cells.reject(~low.isin(_TRUE | _FALSE).to_numpy(), "not a boolean (true/false/1/0)")
    return low.isin(_TRUE).to_numpy()


def _to_minutes(cells: _Cells) -> Any:
    parts = cells.text.str.extract(_HHMM)
    bad = parts[0].isna().to_numpy() & ~cells.empty
    message = "not a time HH:MM or H:MM (00:00-23:59)"
    if bad.any():  # a spreadsheet's 7:00 PM or 0.7916667 says what to write
        message = time_problem(str(cells.text.iloc[int(np.argmax(bad))])) or message
    cells.reject(bad, message)
    hours = pd.to_numeric(parts[0], errors="coerce").fillna(0).to_numpy()
    minutes = pd.to_numeric(parts[1], errors="coerce").fillna(0).to_numpy()
    seconds = pd.to_numeric(parts[2], errors="coerce").fillna(0).to_numpy()
    # a time of day is held in whole minutes (``Network.cutoff_minutes``, read
    # by ship dates, checkout promises and the simulated day alike): seconds
    # past the minute would be dropped without a word, so they are refused
    odd = seconds != 0
    if odd.any():
        first = int(np.argmax(odd))
        cells.reject(odd, _whole_minutes(int(hours[first]), int(minutes[first])))
    return (hours * 60 + minutes).astype(np.int64)


def _whole_minutes(hours: int, minutes: int) -> str:
    """Why a time with seconds past its minute is refused, with the minutes
    either side of it (the later one only before midnight)."""
    before = f"{hours:02d}:{minutes:02d}"
    later = hours * 60 + minutes + 1
    after = f" or {later // 60:02d}:{later % 60:02d}" if later < 24 * 60 else ""
    return f"seconds other than :00 (times of day are whole minutes: write {before}{after})"


def _to_timezone(cells: _Cells) -> Any:
    text = cells.text
    problems = {tz: timezone_problem(tz) for tz in text.unique()}
    bad = text.map(problems).notna().to_numpy(dtype=bool)
    if bad.any():
        cells.reject(bad, str(problems[text.iloc[int(np.argmax(bad))]]))
    return text.to_numpy(dtype=object)


#: A date-time's time of day, after its ``T`` (or space): what an offset follows.
_TIME = r"[T ]\d\d(?::?\d\d){0,2}(?:[.,]\d+)?"


def _to_datetime(cells: _Cells) -> Any:
    text, empty = cells.text, cells.empty
    if cells.column.kind == "datetime":
        # an offset after the time: Z, ±HH:MM, ±HHMM or ±HH (``-06`` was
        # parsed, then called "no timezone offset")
        has_tz = text.str.contains(_TIME + r"(?:Z|[+-]\d\d(?::?\d\d)?)$", regex=True)
        parsed = pd.to_datetime(
            text.where(~empty, None), utc=True, format="ISO8601", errors="coerce"
        )
        what = "an ISO 8601 date-time"
        form = "an ISO 8601 date-time with its offset, YYYY-MM-DDTHH:MM:SSZ"
    else:
        has_tz = pd.Series(True, index=text.index)
        parsed = pd.to_datetime(
            text.where(~empty, None), format="%Y-%m-%d", errors="coerce"
        )
        what = "a date YYYY-MM-DD"
        form = "YYYY-MM-DD"
    unparsed = parsed.isna().to_numpy() & ~empty
    if unparsed.any():  # the first is the error: say why, if it names no day
        first = str(text.iloc[int(np.argmax(unparsed))])
        instant = cells.column.kind == "datetime"  # 20260229T10:00Z too
        why = no_such_day(first, basic=instant) or date_problem(first, form=form)
        cells.reject(unparsed, why or f"not {what}")
    bad = ~has_tz.to_numpy(dtype=bool) & ~empty
    # an offset written otherwise (``-5``, ``+05:3``, a space before it) is
    # malformed, not missing: it was called "no timezone offset"
    if bad.any():
        first = str(text.iloc[int(np.argmax(bad))])
        cells.reject(
            bad,
            "a malformed timezone offset (write Z, +HH:MM, +HHMM or +HH right "
            "after the time)"
            if re.search(_TIME + r"\s*[-+Zz][\d:]*$", first)
            else "no timezone offset (add Z or +HH:MM)",
        )
    window = cells.column.window or ANY_DATE_WINDOW
    lo, hi = (pd.Timestamp(t) for t in window.bounds())
    if cells.column.kind == "date":  # naive dates: compare whole days
        lo, hi = lo.tz_localize(None).floor("D"), hi.tz_localize(None)
    outside = ((parsed < lo) | (parsed > hi)).to_numpy(dtype=bool)
    cells.reject(outside & ~empty, window.describe())
    return parsed


_CONVERTERS: dict[Kind, Callable[[_Cells], Any]] = {
    "str": _to_str,
    "int": _to_number,
    "float": _to_number,
    "bool": _to_bool,
    "hhmm": _to_minutes,
    "timezone": _to_timezone,
    "datetime": _to_datetime,
    "date": _to_datetime,
}


def _convert(path: Path, frame: pd.DataFrame, col: Column) -> Any:
    """Strip ``col``'s text in ``frame`` (kept for messages) and convert it."""
    text = frame[col.name].astype(str).str.strip()
    frame[col.name] = text
    cells = _Cells(path, frame, col, text, (text == "").to_numpy())
    if not col.allow_empty:
        cells.reject(cells.empty, "missing value")
    return _CONVERTERS[col.kind](cells)


def _locate(folder_or_path: Path, name: str) -> Path:
    """The file of table ``name``: in a folder, or the path itself."""
    if not folder_or_path.is_dir():
        if folder_or_path.exists() and not folder_or_path.is_file():
            # a shell's <(zcat orders.csv.gz), /dev/stdin: read once, and a
            # table may be read again (allocate digests its orders file)
            raise InputError(
                "not a regular file but a pipe or device: "
                "write it to a file and give that file",
                file=str(folder_or_path),
            )
        if not folder_or_path.is_file():
            raise InputError("no such file", file=str(folder_or_path))
        return folder_or_path
    path = table_path(folder_or_path, name)
    if path is None:
        raise InputError(
            f"missing required file {name}.csv (or {name}.parquet)",
            file=str(folder_or_path),
        )
    return path


def _check_unique(
    path: Path, out: pd.DataFrame, raw: pd.DataFrame, group: Sequence[str]
) -> None:
    """No two rows alike in ``group``; nor alike once their text is in one
    Unicode form (NFC): ``CAFÉ`` with ``É`` as one code point and as ``E``
    and an accent look the same, and were two SKUs (two nodes, two
    customers), which an order's reference could not tell apart."""
    what = f"duplicate {'/'.join(group)}"
    dup = out.duplicated(subset=list(group), keep="first").to_numpy()
    if dup.any():
        raise first_error(path, raw, dup, group[-1], what)
    keys = out[list(group)]
    texts = [c for c in group if pd.api.types.is_string_dtype(keys[c])]
    normal = keys.copy()
    for c in texts:
        # each distinct text normalized once: an inventory of millions of
        # rows holds a few thousand ids, and normalizing went row by row
        codes, distinct = pd.factorize(keys[c].astype(str))
        nfc = pd.Index(distinct).str.normalize("NFC")
        if not (nfc == distinct).all():
            normal[c] = nfc.to_numpy(dtype=object)[codes]
    if not texts or normal.equals(keys):
        return
    twin = normal.duplicated(keep="first").to_numpy()
    if twin.any():
        at = int(np.argmax(twin))
        same = (normal == normal.iloc[at]).all(axis=1).to_numpy()
        first = int(np.argmax(same))
        column = next(
            c for c in reversed(group) if keys[c].iloc[at] != keys[c].iloc[first]
        )
        raise first_error(
            path,
            raw,
            twin,
            column,
            f"{what} (row {file_line(raw, first)} has {keys[column].iloc[first]!r}, "
            "the same text in other Unicode code points)",
        )


def _spelling(name: str) -> str:
    """A column name without case, spaces and punctuation: ``Zip_3`` is ``zip3``."""
    return re.sub(r"[\W_]+", "", name).casefold()


#: How alike (:class:`difflib.SequenceMatcher` ratio, case, spaces and
#: punctuation aside) an extra column and an absent optional one must be for
#: the extra one to be a misspelling of it: ``popularty`` (0.95),
#: ``promise_date`` (0.96), ``regions`` (0.92) are; ``zip`` against ``zip3``
#: (0.86: a full ZIP code, another column), ``subregion``,
#: ``popularity_rank`` (0.83), ``notes``, ``city`` and ``state`` are not.
NEAR_MISS = 0.86


def _check_spelled_otherwise(
    path: Path, raw: pd.DataFrame, col: Column, known: Iterable[str]
) -> None:
    """Refuse an extra column that is optional ``col`` written otherwise
    (``Popularity``, ``ZIP 3``, ``Tier``) or misspelled (``popularty``,
    within :data:`NEAR_MISS`): read as an extra column, its values were
    dropped without a word and every row took the default. ``known`` are
    the declared names, which are no extra column."""
    default = "is left empty" if col.default == "" else f"takes {col.default!r}"
    extras = [name for name in raw.columns if name not in set(known)]
    for name in extras:
        if _spelling(name) == _spelling(col.name):
            raise InputError(
                f"column {name!r} would be ignored: the column is named "
                f"{col.name!r} (names are exact), and without it every row "
                f"{default}",
                file=path.name,
                row=1,
                field=name,
            )
    spelled = {_spelling(name): name for name in extras}
    near = difflib.get_close_matches(
        _spelling(col.name), list(spelled), n=1, cutoff=NEAR_MISS
    )
    if near:
        name = spelled[near[0]]
        raise InputError(
            f"column {name!r} would be ignored: did you mean {col.name!r}? "
            f"Without it every row {default} (if it is another column, rename it)",
            file=path.name,
            row=1,
            field=name,
        )


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
        Missing file or column, or the first bad cell (of the first bad
        row: the first of its columns in ``columns``' order), located.
    """
    path = _locate(folder_or_path, name)
    raw = _raw_frame(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    out = pd.DataFrame(index=raw.index)
    names = [col.name for col in columns]
    bad: list[InputError] = []  # each column's first bad cell
    for col in columns:
        if col.name in raw.columns:
            try:
                out[col.name] = _convert(path, raw, col)
            except InputError as exc:
                bad.append(exc)
        elif col.required:
            raise InputError(
                f"missing column (has {list(raw.columns)})"
                + missing_column_hint(col.name, list(raw.columns)),
                file=path.name,
                row=1,
                field=col.name,
            )
        else:
            _check_spelled_otherwise(path, raw, col, names)
            out[col.name] = [col.default] * len(raw)
    if bad:  # the first bad row's, not the first bad column's
        raise min(bad, key=lambda exc: exc.row or 0)
    for extra in raw.columns:
        if extra not in out.columns:
            out[extra] = raw[extra].astype(str)
    for group in unique:
        _check_unique(path, out, raw, group)
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
    known = list(known)
    bad = ~frame[column].isin(known).to_numpy()
    if bad.any():
        value = str(frame[column].iloc[int(np.flatnonzero(bad)[0])])
        raise first_error(
            path,
            frame,
            bad,
            column,
            f"unknown {column} (not in {known_file})"
            + unicode_twin(value, known, known_file),
        )


def unicode_twin(value: str, known: Iterable[str], where: str) -> str:
    """A hint when ``value`` is one of ``known`` written in other Unicode
    code points (``É`` as one character or as ``E`` and an accent): the two
    look the same, and "unknown sku 'CAFÉ-001'" beside a skus file that
    visibly holds it read as a contradiction. Else, when ``value`` is one
    of ``known`` in other case (``tee``, ``TEE``), that one: ids are
    case-sensitive. Or when ``value`` is one of ``known`` with an invisible
    character (a zero-width space pasted after ``WH-EWR``): the two look the
    same too. "" when none."""
    bare = re.sub(INVISIBLE_CHARACTER, "", value)
    if bare != value and bare in known:
        char = next(c for c in value if re.fullmatch(INVISIBLE_CHARACTER, c))
        name = unicodedata.name(char, "format")
        return (
            f"; {where} has {bare!r}: this one holds an invisible character "
            f"({char!r}, {name}): delete it"
        )
    nfc = unicodedata.normalize("NFC", value)
    folded = nfc.casefold()
    in_case = ""
    for k in known:
        if k == value:
            continue
        normal = unicodedata.normalize("NFC", k)
        if normal == nfc:
            return (
                f"; {where} has {k!r}, the same text in other Unicode code "
                "points: write both alike (NFC)"
            )
        if not in_case and normal.casefold() == folded:
            in_case = f"; {where} has {k!r}, which differs in case only (ids are case-sensitive)"
    return in_case or _number_twin(value, known, where)


def _number_twin(value: str, known: Iterable[str], where: str) -> str:
    """A hint when ``value`` is a known id a spreadsheet read as a number:
    its leading zeros lost (``123`` for ``00123``) or written as a float
    (``123.0``). "" else; the id is never matched for the writer."""
    if not value.isdigit() and not re.fullmatch(r"\d+\.0+", value):
        return ""
    whole = value.split(".")[0]
    for k in known:
        if k == whole and k != value:
            return f"; {where} has {k!r}: an id written as a number ('.0'): write {k}"
        if k.isdigit() and k != whole and k.lstrip("0") == whole.lstrip("0"):
            return (
                f"; {where} has {k!r}: an id whose leading zeros were lost (a "
                f"spreadsheet read it as a number): format the column as text "
                f"and write {k}"
            )
    return ""
