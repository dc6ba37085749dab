"""Text input files read so that every problem is located: UTF-8 decoding that
names the line (and CSV column) of a bad byte, and CSV parsing that keeps each
record's file line and rejects ragged rows and repeated headers."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError

_BOM = b"\xef\xbb\xbf"
#: The byte-order mark some editors put first, once decoded.
BOM_TEXT = _BOM.decode("utf-8")


#: Column names of whitespace-separated text, by the number of words on a line.
WordColumns = dict[int, tuple[str, ...]]


def read_utf8(
    path: Path,
    file: str,
    *,
    csv_columns: bool = False,
    word_columns: WordColumns | None = None,
) -> str:
    """The text of ``path``; a byte that is not UTF-8 raises an error naming
    the file line and, with ``csv_columns`` (or ``word_columns``, for text
    in whitespace-separated columns), the column and the cell it sits in."""
    return decode_utf8(
        path.read_bytes(), file, csv_columns=csv_columns, word_columns=word_columns
    )


def decode_utf8(
    data: bytes,
    file: str,
    *,
    csv_columns: bool = False,
    word_columns: WordColumns | None = None,
) -> str:
    """``data`` as text, a leading byte-order mark dropped; a byte that is not
    UTF-8 raises an error naming the file line (for a file or a whole stream)."""
    binary = _binary_format(data)
    if binary is not None:
        kind, advice = binary
        what = "CSV text" if csv_columns else "text"
        raise InputError(f"{kind}, not {what}: {advice}", file=file)
    data = _lines_of_cr(data)
    start = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(data, start, exc, file, csv_columns, word_columns) from None


def _workbook(data: bytes) -> str:
    """What a spreadsheet's own file format is, by its first bytes (an
    ``.xlsx`` is a ZIP archive, an ``.xls`` an OLE2 compound file), or "":
    given where a CSV file goes, it was "not UTF-8 text (invalid start
    byte)", which did not say what the file was or what to do."""
    if data.startswith(b"PK\x03\x04"):
        if b"xl/" in data:  # the workbook's parts: xl/workbook.xml, ...
            return "an Excel workbook (.xlsx)"
        return "a ZIP archive (a spreadsheet's own format?)"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "an Excel 97-2003 workbook (.xls) or another Office file"
    return ""


def _first_member(data: bytes) -> bytes:
    """The name of a ZIP archive's first member (its local header's)."""
    size = int.from_bytes(data[26:28], "little")
    return data[30 : 30 + size]


def _binary_format(data: bytes) -> tuple[str, str] | None:
    """What a spreadsheet's own, compressed or Parquet file is, by its first
    bytes, and what to do, or ``None``: an ``.xlsx``, a ``tx.csv.gz`` or a
    Parquet file named ``.csv`` was "not UTF-8 text (invalid start byte)" at
    row 1, which said neither."""
    if data.startswith(b"PK\x03\x04") and _first_member(data).endswith(b".npy"):
        # np.savez's (AssignmentProblem.save): a ZIP of .npy arrays, which
        # `tierflow solve` without --format npz was told to save as CSV
        return "a NumPy archive (.npz)", ("where the command has it, give --format npz")
    workbook = _workbook(data)
    if workbook:
        return workbook, "save it as CSV UTF-8 (comma delimited)"
    if data.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file", "decompress it first (gunzip)"
    if data.startswith((b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")):
        return "a compressed file (bzip2, xz or zstd)", "decompress it first"
    if data.startswith(b"PAR1") and data.endswith(b"PAR1"):
        return "a Parquet file", (
            "name it .parquet (or, where the command has it, give --format parquet)"
        )
    return None


def _lines_of_cr(data: bytes) -> bytes:
    """Old Mac line ends (a CR alone ends every line, as Excel for Mac's "CSV
    (Macintosh)" writes) as LF: with no LF anywhere, the file was one line,
    and its CSV was refused with Python's "new-line character seen in
    unquoted field"; a file with LFs is left as it is (a CR inside its
    quoted cells is text)."""
    if b"\r" in data and b"\n" not in data:
        return data.replace(b"\r", b"\n")
    return data


def _decode_error(
    data: bytes,
    start: int,
    exc: UnicodeDecodeError,
    file: str,
    csv_columns: bool,
    word_columns: WordColumns | None,
) -> InputError:
    """The error at the first bad byte: its line, and with the columns known,
    the column's name and the whole cell (the byte alone is hard to find)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return InputError(
            "not UTF-8 text (UTF-16: it starts with UTF-16's byte-order mark; "
            "save it as UTF-8)",
            file=file,
            row=1,
            value=data[:2],
        )
    at = start + exc.start
    line = data.count(b"\n", 0, at) + 1
    begin = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at)
    row = data[begin : len(data) if end < 0 else end].rstrip(b"\r")
    field, value = None, data[at : start + exc.end]
    if csv_columns and line > 1:
        header = data[start : data.find(b"\n", start)].decode("utf-8", "replace")
        field, cell = _csv_cell(header, row, at - begin)
        value = value if cell is None else cell
    elif word_columns is not None:
        field, value = _word_cell(word_columns, row, at - begin)
    return InputError(
        f"not UTF-8 text ({exc.reason})",
        file=file,
        row=line,
        field=field,
        value=value,
    )


def _csv_cell(header: str, row: bytes, at: int) -> tuple[str | None, bytes | None]:
    """The header name and the bytes of the CSV cell of ``row`` holding byte
    ``at`` (``None`` for what is not known)."""
    text = row.decode("utf-8", "surrogateescape")
    before = row[:at].decode("utf-8", "surrogateescape")
    try:
        names = next(csv.reader([header.rstrip("\r")]), [])
        index = max(len(next(csv.reader([before]), [])), 1) - 1
        cells = next(csv.reader([text]), [])
    except csv.Error:
        return None, None
    name = names[index].strip() if index < len(names) else None
    cell = cells[index] if index < len(cells) else None
    return name, None if cell is None else cell.encode("utf-8", "surrogateescape")


def _word_cell(columns: WordColumns, row: bytes, at: int) -> tuple[str | None, bytes]:
    """The column name (by the line's number of words) and the word of
    ``row`` holding byte ``at``."""
    words = row.split()
    index = len(row[:at].split()) - (0 if row[:at][-1:].isspace() else 1)
    index = max(index, 0)
    names = columns.get(len(words), ())
    return (names[index] if index < len(names) else None), words[index]


def read_csv_records(
    path: Path, file: str, *, skip_initial_space: bool = True
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """Every cell of a CSV file as text, and each record's file line.

    Blank lines are dropped (lines keep counting them); a record with fewer
    or more fields than the header (:func:`wrong_field_count`), a repeated
    column name, an unterminated quote or an empty file is an error naming
    the file and, where known, the line.
    """
    text = read_utf8(path, file, csv_columns=True)
    if not text.strip():
        raise InputError("file is empty", file=file)
    check_carriage_returns(text, file, skip_initial_space=skip_initial_space)
    header = _check_header(text, file, skip_initial_space)
    frame = _parse(text, file, skip_initial_space)
    lines, fields = _records(text, len(frame), skip_initial_space)
    _check_short(file, text, header, frame, lines, fields, skip_initial_space)
    frame = _without_empty_columns(frame, header)
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else None
    if blank is not None and blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    return frame, lines


def check_header_repeated(
    frame: pd.DataFrame, lines: NDArray[np.int64], file: str
) -> None:
    """Refuse a record that is the header again: files joined one after
    another (``cat east.csv west.csv``) keep the second one's header as a
    row, which was blamed for its first cell that is no number or date
    ("field 'on_hand': value 'on_hand': not a number"). For the tables
    read whole (a log read with ``--skip-bad-rows`` drops it as a bad row).
    One vectorized comparison of the first column; whole records only where
    it matches."""
    names = [str(c) for c in frame.columns]
    if not names or len(frame) == 0:
        return
    first = frame.iloc[:, 0].astype(str).str.strip().str.lstrip(BOM_TEXT)
    for pos in np.flatnonzero((first == names[0]).to_numpy(dtype=bool)):
        cells = [str(v).strip().lstrip(BOM_TEXT) for v in frame.iloc[int(pos)]]
        if all(
            c == n
            for c, n in zip(cells, names, strict=True)
            if n and not n.startswith("Unnamed: ")
        ):
            raise InputError(
                "the header again (files joined one after another?): delete this line",
                file=file,
                row=int(lines[pos]),
                value=",".join(cells).rstrip(","),
            )


#: A carriage return inside a line: followed by a character that ends none.
_CR_IN_LINE = re.compile(r"\r[^\r\n]")
#: What stands for a carriage return while a line is split into its cells.
_CR_MARK = "\ue000"
#: Excel's delimiter hint (``sep=;``, ``"sep=,"``), a line some exports
#: meant for Excel write before the header.
_SEPARATOR_HINT = re.compile(r'"?sep=.?"?', re.IGNORECASE)


def check_carriage_returns(
    text: str, file: str, *, skip_initial_space: bool = True
) -> None:
    """Refuse a carriage return inside a line of CSV ``text``, outside
    quotes, naming its line, column and cell: one pasted from a Windows
    file (``created_at\\r,customer_id``) was Python's "new-line character
    seen in unquoted field - do you need to open the file in
    universal-newline mode?", a mode the user cannot choose, or pandas
    ended the record there and blamed the next line's cells. A quoted
    field's carriage return is text; CRLF line ends and a file of CRs
    alone (:func:`decode_utf8` made them LFs) pass."""
    if "\r" not in text:  # memchr: 40 MB in 3 ms, the search below in 60
        return
    found = _CR_IN_LINE.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    if '"' in text:  # a CR in quotes is text: csv knows which are
        reader = csv.reader(io.StringIO(text), skipinitialspace=skip_initial_space)
        try:
            for _ in reader:
                pass
        except csv.Error as err:
            if "new-line character" not in str(err):
                return  # another error, named by the reader that meets it
            line = reader.line_num
        else:
            return
    lines = text.split("\n")
    record = lines[line - 1]
    field, cell = _cell_of_cr(record, lines[0], line, skip_initial_space)
    raise InputError(
        "a carriage return (\\r) inside a field (a Windows line end pasted "
        "mid-line?): delete it, or quote the field",
        file=file,
        row=line,
        field=field,
        value=record if cell is None else cell,
    )


def _cell_of_cr(
    record: str, header: str, line: int, skip_initial_space: bool
) -> tuple[str | None, str | None]:
    """The column name (None on the header line) and the cell of ``record``
    holding its first carriage return outside quotes (None: not found)."""

    def cells(text: str) -> list[str]:
        marked = text.replace("\r", _CR_MARK).removesuffix(_CR_MARK)
        try:
            row = next(csv.reader([marked], skipinitialspace=skip_initial_space), [])
        except csv.Error:  # a quote opened on a line before
            return []
        return [cell.replace(_CR_MARK, "\r") for cell in row]

    quoted = False
    for at, char in enumerate(record):
        if char == '"':
            quoted = not quoted
        elif char == "\r" and not quoted and at + 1 < len(record):
            break
    else:
        return None, None
    index = len(cells(record[:at] + "x")) - 1
    row = cells(record)
    cell = row[index] if 0 <= index < len(row) else None
    if line == 1:
        return None, cell
    names = cells(header.rstrip("\r"))
    name = names[index].strip() if 0 <= index < len(names) else None
    return name, cell


def _parse(text: str, file: str, skip_initial_space: bool) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # pandas only warns when the first data row is too long
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                skipinitialspace=skip_initial_space,
            )
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        raise _parse_error(text, file, exc, skip_initial_space) from None
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", file=file) from None


def _parse_error(
    text: str, file: str, exc: Exception, skip_initial_space: bool
) -> InputError:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if found:
        want, line, saw = (int(g) for g in found.groups())
        return wrong_field_count(file, line, want, saw, text, skip_initial_space)
    found = re.search(r"EOF inside string starting at row (\d+)", str(exc))
    if found:  # pandas counts records from 0 (the header)
        line = int(found.group(1)) + 1
        return InputError("quoted field never closed", file=file, row=line)
    reader = csv.reader(io.StringIO(text), skipinitialspace=skip_initial_space)
    try:
        width = len(next(reader))
        for record in reader:
            if len(record) > width:
                return wrong_field_count(
                    file, reader.line_num, width, len(record), text, skip_initial_space
                )
    except csv.Error as err:
        message = f"not readable as CSV ({err})"
        return InputError(message, file=file, row=reader.line_num)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
    return InputError(f"not readable as CSV ({first})", file=file)


def wrong_field_count(
    file: str,
    row: int,
    want: int,
    saw: int,
    text: str | None = None,
    skip_initial_space: bool = True,
) -> InputError:
    """A record (line ``row`` of ``text``) of ``saw`` fields where the header
    has ``want``, quoting the line; a long one with the values past the last
    column (the header names none of them). A short one names no column:
    which field is missing is unknown, and its values shifted left, so the
    column they shifted into was blamed (``field 'lat': value 'WH'``)."""
    lines = [] if text is None else text.split("\n")
    record = lines[row - 1].rstrip("\r") if row <= len(lines) else None
    extra = ""
    if record is not None and saw > want:
        try:
            cells = next(csv.reader([record], skipinitialspace=skip_initial_space))
        except (csv.Error, StopIteration):
            cells = []
        if len(cells) > want:
            extra = f" (extra: {', '.join(map(repr, cells[want:]))})"
            if not any(cell.strip() for cell in cells[want:]):
                extra += (
                    ": empty fields past the last column, as a spreadsheet "
                    "exports its empty columns; delete the trailing commas"
                )
    return InputError(
        f"{saw} field{'s' if saw != 1 else ''} where the header has {want}{extra}",
        file=file,
        row=row,
        value=record,
    )


def check_dict_row(
    record: dict[Any, Any], want: int, file: str, row: int, text: str
) -> None:
    """A :class:`csv.DictReader` record of ``want`` fields, else
    :func:`wrong_field_count`: the reader fills a short record's missing
    fields with ``None`` and files a long one's extra fields under ``None``,
    without a word."""
    saw = sum(v is not None for k, v in record.items() if k is not None)
    saw += len(record.get(None) or ())
    if saw != want:
        raise wrong_field_count(file, row, want, saw, text)


def _check_short(
    file: str,
    text: str,
    header: list[str],
    frame: pd.DataFrame,
    lines: NDArray[np.int64],
    fields: NDArray[np.int64] | None,
    skip_initial_space: bool,
) -> None:
    """Refuse the first record with fewer fields than the header (pandas
    fills the missing ones with "" and says nothing). A blank line (spaces
    only) is no record, and a record may leave out the nameless columns at
    the end of the header (a trailing comma there, a spreadsheet's empty
    column).

    Only records whose last named column is empty can be short: their
    fields are counted (``fields``, from quoted text's csv pass, or their
    lines), so a file with none pays one vectorized comparison."""
    named = max((i + 1 for i, name in enumerate(header) if name), default=0)
    if named == 0 or len(frame) == 0:
        return
    maybe = np.flatnonzero((frame.iloc[:, named - 1] == "").to_numpy(dtype=bool))
    if maybe.size == 0:
        return
    if fields is not None:
        counts = fields[maybe]
    elif '"' in text or text.count("\r") != text.count("\r\n"):
        return  # records not matched to lines (a CR alone ends one for pandas)
    else:
        text_lines = text.split("\n")
        counts = np.array(
            [text_lines[line - 1].count(",") + 1 for line in lines[maybe]],
            dtype=np.int64,
        )
    few = counts < named
    maybe, counts = maybe[few], counts[few]
    if maybe.size == 0:
        return
    cells = frame.iloc[maybe].astype(str)
    blank = cells.apply(lambda column: column.str.strip() == "").all(axis=1)
    short = np.flatnonzero(~blank.to_numpy(dtype=bool))
    if short.size:
        at = int(short[0])
        raise wrong_field_count(
            file,
            int(lines[maybe[at]]),
            len(header),
            int(counts[at]),
            text,
            skip_initial_space,
        )


def _without_empty_columns(frame: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """``frame`` without the columns of no name and no value: a spreadsheet
    exports the empty columns right of its data (``a,b,,``) when a cell
    there was ever touched, and two of them were "column named twice" at
    ''. A nameless column holding a value stays (pandas calls it
    ``Unnamed: 2``), an extra column, ignored as any other."""
    if len(header) != len(frame.columns):
        return frame
    empty = [
        i
        for i, name in enumerate(header)
        if not name and bool((frame.iloc[:, i].str.strip() == "").all())
    ]
    return frame.drop(columns=frame.columns[empty]) if empty else frame


def _check_header(text: str, file: str, skip_initial_space: bool) -> list[str]:
    """Line 1 is the header, and names each column once (a nameless column,
    a spreadsheet's empty one, names none); its names, stripped. Not
    Excel's ``sep=,`` line: taken for the header, it made the real header
    line 2, "11 fields where the header has 2"."""
    first = text.split("\n", 1)[0].strip()
    if _SEPARATOR_HINT.fullmatch(first):
        raise InputError(
            "Excel's separator hint, not the header: delete this line (the "
            "column names must be line 1)",
            file=file,
            row=1,
            value=first,
        )
    reader = csv.reader(io.StringIO(text), skipinitialspace=skip_initial_space)
    try:
        names = [name.strip() for name in next(reader, [])]
    except csv.Error as err:
        raise InputError(f"not readable as CSV ({err})", file=file, row=1) from None
    if not any(names):
        raise InputError("blank first line (expected the header)", file=file, row=1)
    check_names_once([name for name in names if name], file)
    return names


def missing_column_hint(column: str, names: list[str]) -> str:
    """Why a header lacks ``column`` when it is there written otherwise:
    names separated by ``;`` or tabs (European Excel's "CSV" and a
    tab-separated export read as one column), or ``column`` in other case
    or spacing (``Node_ID``; names are exact, as the docs say). "" else."""
    if len(names) == 1:
        for mark, what in ((";", "';'"), ("\t", "tabs")):
            if mark in names[0]:
                return (
                    f": the header is one column, its names separated by {what}, "
                    "not commas: save the file as CSV UTF-8 (comma delimited)"
                )
        return ""
    want = re.sub(r"[\W_]+", "", column).casefold()
    for name in names:
        if re.sub(r"[\W_]+", "", name).casefold() == want:
            return (
                f": {name!r} is written otherwise (names are exact): name it {column!r}"
            )
    return ""


def written_otherwise(column: str, names: Sequence[str]) -> str | None:
    """The name of ``names`` that is ``column`` in other case, spacing or
    punctuation (``Quantity``, ``OrderID`` for ``order_id``), ``None`` when
    none is (``column`` itself is not "otherwise")."""
    want = re.sub(r"[\W_]+", "", column).casefold()
    for name in names:
        if name != column and re.sub(r"[\W_]+", "", name).casefold() == want:
            return name
    return None


def check_names_once(names: list[str], file: str, row: int | None = 1) -> None:
    """Each column named once (a CSV's header, a Parquet file's schema,
    which pyarrow writes with a name twice)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError("column named twice", file=file, row=row, field=name)
        seen.add(name)


def _records(
    text: str, n_records: int, skip_initial_space: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64] | None]:
    """File line of each parsed record (header = line 1) and, for quoted
    text, its number of fields (``None``: unquoted text, whose records are
    its lines, or records that could not be matched to pandas' ones)."""
    plain = np.arange(2, n_records + 2, dtype=np.int64)
    if '"' not in text:
        return plain, None
    reader = csv.reader(io.StringIO(text), skipinitialspace=skip_initial_space)
    starts: list[int] = []
    counts: list[int] = []
    try:
        next(reader)
        before = reader.line_num
        for record in reader:
            starts.append(before + 1)
            counts.append(len(record))
            before = reader.line_num
    except csv.Error:
        return plain, None
    if len(starts) != n_records:
        return plain, None
    return np.array(starts, dtype=np.int64), np.array(counts, dtype=np.int64)
