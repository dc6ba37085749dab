"""What every table inherits from ``read_table``: range checks before the
cast (no int64 wrap-around, a bound for every number), date windows, file
lines through blank lines and quoted newlines, located non-UTF-8 bytes,
ragged rows and repeated column names."""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import TINY_NETWORK
from tierflow.cli.main import cli
from tierflow.data.errors import InputError
from tierflow.data.limits import DATA_WINDOW, now
from tierflow.data.network import SKU_COLUMNS, load_network
from tierflow.data.orders import read_orders
from tierflow.data.table_reader import Column, read_table
from tierflow.data.transactions import read_transactions

HUGE = "99999999999999999999999"
COLUMNS = (
    Column("id"),
    Column("count", "int", min=0),
    Column("x", "float", required=False, default=0.0),
    Column("day", "date", required=False, default=None, allow_empty=True),
)


def _table(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


BAD_TABLES = [
    ("id,count\na,1\nb," + HUGE + "\n",
     rf"^t\.csv: row 3: field 'count': value '{HUGE}': must be <= 1e\+12$"),
    ("id,count\na,-" + HUGE + "\n",
     rf"^t\.csv: row 2: field 'count': value '-{HUGE}': must be >= 0$"),
    ("id,count,x\na,1,1e13\n", r"^t\.csv: row 2: field 'x': value '1e13': must be <= 1e\+12$"),
    ("id,count,x\na,1,-inf\n", r"^t\.csv: row 2: field 'x': value '-inf': not a number$"),
    ("id,count,x\na,1,NaN\n", r"^t\.csv: row 2: field 'x': value 'NaN': not a number$"),
    ("id,count\n\n\na,1\n\nb,x\n", r"^t\.csv: row 6: field 'count': value 'x': not a number$"),
    ('id,count\n"a\nb",1\nc,x\n', r"^t\.csv: row 4: field 'count': value 'x': not a number$"),
    ("id,count,count\na,1,2\n", r"^t\.csv: row 1: field 'count': column named twice$"),
    (
        "id,count\na,1\nb,2,3\n",
        r"^t\.csv: row 3: value 'b,2,3': 3 fields where the header has 2 \(extra: '3'\)$",
    ),
    (
        "id,count\na,1,3\n",
        r"^t\.csv: row 2: value 'a,1,3': 3 fields where the header has 2 \(extra: '3'\)$",
    ),
    # a short row: its values shifted left, and the column they shifted into
    # was blamed ("field 'count': value '2': ..."), or nothing was said
    ("id,count,day\na,1,2026-01-01\nb,2\n",
     r"^t\.csv: row 3: value 'b,2': 2 fields where the header has 3$"),
    ("id,count,day\nb\n", r"^t\.csv: row 2: value 'b': 1 field where the header has 3$"),
    # a quoted comma is no separator; the row's line counts quoted line breaks
    ('id,count,day\n"a\nb",1,2026-01-01\n"c,d",2\n',
     r"^t\.csv: row 4: value '\"c,d\",2': 2 fields where the header has 3$"),
    ("id,count,day\r\na,1,2026-01-01\r\nb,2\r\n",
     r"^t\.csv: row 3: value 'b,2': 2 fields where the header has 3$"),
    ('id,count\na,1\nb,"2\n', r"^t\.csv: row 3: quoted field never closed$"),
    ("\nid,count\na,1\n", r"^t\.csv: row 1: blank first line \(expected the header\)$"),
    ("", r"^t\.csv: file is empty$"),
    ("id,count,day\na,1,2200-01-01\n",
     r"^t\.csv: row 2: field 'day': value '2200-01-01': outside the allowed window "
     r"1926-06-01 \.\. 2126-06-01 \(100 years before to 100 years after now\)$"),
    ("id,count\n" + "x" * 1001 + ",1\n", r"^t\.csv: row 2: field 'id': value 'xxx.*: longer than 1000 characters$"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD_TABLES)
def test_bad_tables_are_located(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_table(_table(tmp_path, text), "t", COLUMNS)


def test_non_utf8_names_file_row_and_column(tmp_path: Path) -> None:
    text = b"id,count,x\na,1,2\nb\xe9,2,3\nc,3,\xff\n"
    with pytest.raises(
        InputError,
        match=r"^t\.csv: row 3: field 'id': value b'b\\xe9': not UTF-8 text "
        r"\(invalid continuation byte\)$",
    ):
        read_table(_table(tmp_path, text), "t", COLUMNS)
    text = b"id,count,x\na,1,2\nc,3,\xff\n"
    with pytest.raises(
        InputError, match=r"^t\.csv: row 3: field 'x': value b'\\xff': "
    ):
        read_table(_table(tmp_path, text), "t", COLUMNS)


def test_a_byte_order_mark_and_crlf_are_fine(tmp_path: Path) -> None:
    text = b"\xef\xbb\xbfid,count\r\na,1\r\n\r\nb,2\r\n"
    frame, _ = read_table(_table(tmp_path, text), "t", COLUMNS)
    assert frame["count"].tolist() == [1, 2]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_is_named(tmp_path: Path, encoding: str) -> None:
    """A UTF-16 export (PowerShell's ``>``, "Unicode" in some save dialogs)
    was "not UTF-8 text (invalid start byte)" at its first byte: it says
    which encoding the file is in, and what to do."""
    data = "id,count\na,1\n".encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    with pytest.raises(InputError) as caught:
        read_table(_table(tmp_path, data), "t", COLUMNS)
    assert str(caught.value) == (
        f"t.csv: row 1: value {data[:2]!r}: not UTF-8 text (UTF-16: it starts "
        "with UTF-16's byte-order mark; save it as UTF-8)"
    )


def _workbook_bytes(tmp_path: Path, parts: tuple[str, ...]) -> bytes:
    """A ZIP archive holding ``parts`` (an ``.xlsx`` holds ``xl/...``)."""
    path = tmp_path / "book.zip"
    with zipfile.ZipFile(path, "w") as book:
        for part in parts:
            book.writestr(part, "<x/>")
    return path.read_bytes()


@pytest.mark.parametrize(
    ("parts", "what"),
    [
        (("[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"),
         "an Excel workbook (.xlsx)"),
        (("mimetype", "content.xml"), "a ZIP archive (a spreadsheet's own format?)"),
    ],
)  # fmt: skip
def test_a_workbook_where_a_csv_goes_is_named(
    tmp_path: Path, parts: tuple[str, ...], what: str
) -> None:
    """An ``.xlsx`` saved as ``skus.csv`` was "not UTF-8 text (invalid start
    byte)" at some byte of its ZIP: it says what the file is, and what to do."""
    _table(tmp_path, _workbook_bytes(tmp_path, parts), "skus.csv")
    with pytest.raises(InputError) as caught:
        read_table(tmp_path, "skus", SKU_COLUMNS)
    assert str(caught.value) == (
        f"skus.csv: {what}, not CSV text: save it as CSV UTF-8 (comma delimited)"
    )


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("gzip", "a gzip-compressed file, not CSV text: decompress it first (gunzip)"),
        ("bzip2", "a compressed file (bzip2, xz or zstd), not CSV text: decompress "
         "it first"),
        ("parquet", "a Parquet file, not CSV text: name it .parquet (or, where "
         "the command has it, give --format parquet)"),
    ],
)  # fmt: skip
def test_a_compressed_or_parquet_log_where_a_csv_goes_is_named(
    tmp_path: Path, kind: str, what: str
) -> None:
    """``tx.csv.gz`` (read as CSV: its name does not end in .parquet) or a
    Parquet file named ``.csv`` was "row 1: value b'\\x8b': not UTF-8 text
    (invalid start byte)", which said neither what the file was nor what
    to do."""
    text = b"customer_id,order_date,amount\nc1,2026-05-01,3\n"
    path = tmp_path / "tx.csv"
    if kind == "gzip":
        path.write_bytes(gzip.compress(text))
    elif kind == "bzip2":
        path.write_bytes(bz2.compress(text))
    else:
        pd.DataFrame(
            {"customer_id": ["c1"], "order_date": ["2026-05-01"], "amount": [3.0]}
        ).to_parquet(path)
    with pytest.raises(InputError) as caught:
        read_transactions(path)
    assert str(caught.value) == f"{path}: {what}"


def test_a_workbook_as_a_network_table_exits_1_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    parts = ("[Content_Types].xml", "xl/workbook.xml")
    (folder / "inventory.csv").write_bytes(_workbook_bytes(tmp_path, parts))
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: inventory.csv: an Excel workbook (.xlsx), not CSV text: save it "
        "as CSV UTF-8 (comma delimited)\n"
    )


def test_lines_ending_in_cr_alone_are_lines(tmp_path: Path) -> None:
    """Old Mac line ends (CR alone, Excel for Mac's "CSV (Macintosh)"): the
    file was one line, refused with Python's "new-line character seen in
    unquoted field - do you need to open the file in universal-newline
    mode?"; its rows are read and numbered as its lines, a bad byte's too."""
    path = _table(tmp_path, b"id,count\ra,1\r\rb,2\r")
    frame, _ = read_table(path, "t", COLUMNS)
    assert frame["id"].tolist() == ["a", "b"] and frame["count"].tolist() == [1, 2]
    with pytest.raises(InputError) as caught:
        read_table(_table(tmp_path, b"id,count\ra,1\rb,x\r"), "t", COLUMNS)
    assert str(caught.value) == "t.csv: row 3: field 'count': value 'x': not a number"
    with pytest.raises(InputError) as caught:
        read_table(_table(tmp_path, b"id,count\ra,1\rb\xe9,2\r"), "t", COLUMNS)
    assert str(caught.value) == (
        "t.csv: row 3: field 'id': value b'b\\xe9': not UTF-8 text "
        "(invalid continuation byte)"
    )


#: The error of a carriage return inside a line, outside quotes.
CR_INSIDE = (
    "a carriage return (\\r) inside a field (a Windows line end pasted "
    "mid-line?): delete it, or quote the field"
)


def test_a_carriage_return_inside_a_header_line_is_named(tmp_path: Path) -> None:
    """QA's case: a header pasted from a Windows file (``name\\r,kind``) was
    "not readable as CSV (new-line character seen in unquoted field - do
    you need to open the file in universal-newline mode?)", a mode the user
    cannot choose."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = folder / "nodes.csv"
    nodes.write_bytes(nodes.read_bytes().replace(b"name,", b"name\r,", 1))
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert result.output == f"Error: nodes.csv: row 1: value 'name\\r': {CR_INSIDE}\n"


def test_a_carriage_return_inside_an_order_s_field_is_named(tmp_path: Path) -> None:
    """A lone CR in an unquoted cell of a data row ended the record there
    for pandas, which blamed the next line's cells: "row 3: field 'dest':
    value '': missing value"."""
    orders = tmp_path / "orders.csv"
    orders.write_bytes(
        b"order_id,created_at,customer_id,dest,tier,sku,quantity\r\n"
        b"O1,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1\r\n"
        b"O2,2026-01-05T10:05:00-05:00,C\r2,606,gold,MUG,1\r\n"
    )
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: orders.csv: row 3: field 'customer_id': value 'C\\r2': {CR_INSIDE}\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"id,count\na\r,1\n", f"row 2: field 'id': value 'a\\r': {CR_INSIDE}"),
        # after a quoted cell of two lines: the file line, the column
        (
            b'id,count\n"a\nb",1\nc,\r2\n',
            f"row 4: field 'count': value '\\r2': {CR_INSIDE}",
        ),
        # in a quoted file, the unquoted CR is the one named
        (
            b'id,count\n"a\rb",1\nc\rd,2\n',
            f"row 3: field 'id': value 'c\\rd': {CR_INSIDE}",
        ),
        # two records run together (a line break lost but its CR)
        (
            b"id,count\na,1\nb,2\rc,3\n",
            f"row 3: field 'count': value '2\\rc': {CR_INSIDE}",
        ),
    ],
)
def test_a_carriage_return_outside_quotes_is_located(
    tmp_path: Path, text: bytes, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        read_table(_table(tmp_path, text), "t", COLUMNS)
    assert str(caught.value) == f"t.csv: {message}"


def test_carriage_returns_that_end_lines_or_are_quoted_pass(tmp_path: Path) -> None:
    """CRLF line ends, a doubled CR before one, a CR at the end of the file
    and a CR inside quotes (text) read as they did."""
    for text in (
        b"id,count\r\na,1\r\nb,2\r\n",
        b"id,count\r\r\na,1\r\r\n",
        b"id,count\na,1\nb,2\r",
        b'id,count\n"a\rb",1\n',
    ):
        frame, _ = read_table(_table(tmp_path, text), "t", COLUMNS)
        assert frame["count"].tolist()[0] == 1, text
    frame, _ = read_table(_table(tmp_path, b'id,count\n"a\rb",1\n'), "t", COLUMNS)
    assert frame["id"].tolist() == ["a\rb"]


def test_a_parquet_timestamp_at_midnight_is_a_date(tmp_path: Path) -> None:
    """A Parquet export's date column is often a timestamp (pandas writes
    ``pd.to_datetime`` as one): at midnight it is its date ('2026-06-09
    00:00:00' was "not a date YYYY-MM-DD", though transaction logs take it);
    one with a time of day is still no date, and an instant column keeps
    its time."""
    path = tmp_path / "t.parquet"
    days = pd.to_datetime(["2026-06-09", "2026-06-10"])
    pd.DataFrame({"id": ["a", "b"], "count": [1, 2], "day": days}).to_parquet(path)
    frame, _ = read_table(path, "t", COLUMNS)
    assert frame["day"].dt.strftime("%Y-%m-%d").tolist() == ["2026-06-09", "2026-06-10"]
    late = days + pd.to_timedelta([0, 5], unit="h")
    pd.DataFrame({"id": ["a", "b"], "count": [1, 2], "day": late}).to_parquet(path)
    with pytest.raises(InputError) as caught:
        read_table(path, "t", COLUMNS)
    assert str(caught.value) == (
        "t.parquet: row 3: field 'day': value '2026-06-10 05:00:00': not a date "
        "YYYY-MM-DD"
    )


def test_a_parquet_id_column_of_whole_floats_reads_as_whole_numbers(
    tmp_path: Path,
) -> None:
    """pandas writes an integer id column with a gap as float64: its ids were
    read '123.0', which matched no '123' of another table (a CSV's text)."""
    path = tmp_path / "t.parquet"
    ids = pd.Series([123, None, 7], dtype="Int64").astype("float64")
    pd.DataFrame({"id": ids.fillna(8.5), "count": [1, 2, 3]}).to_parquet(path)
    frame, _ = read_table(path, "t", COLUMNS)
    assert frame["id"].tolist() == ["123", "8.5", "7"]


def test_a_parquet_column_named_twice_is_named(tmp_path: Path) -> None:
    """pyarrow writes a column name twice; it was "not a readable Parquet
    file (Multiple matches for FieldRef.Name(id) ...)", and a transaction
    log's too. Both say what a CSV's header does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    table = pa.Table.from_arrays(
        [pa.array(["a"]), pa.array([1]), pa.array(["b"])], names=["id", "count", "id"]
    )
    pq.write_table(table, path)
    with pytest.raises(InputError) as caught:
        read_table(path, "t", COLUMNS)
    assert str(caught.value) == "t.parquet: row 1: field 'id': column named twice"
    table = pa.Table.from_arrays(
        [pa.array(["a"]), pa.array(["2024-01-01"]), pa.array([1.0]), pa.array([2.0])],
        names=["customer_id", "order_date", "amount", "amount"],
    )
    pq.write_table(table, path)
    with pytest.raises(InputError) as caught:
        read_transactions(path)
    assert str(caught.value) == f"{path}: field 'amount': column named twice"


def test_on_hand_overflow_is_an_error_not_a_wrap(tmp_path: Path) -> None:
    """Issue 17: 1e23 on hand passed the >= 0 check as -9.2e18 after the cast."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    inventory = (folder / "inventory.csv").read_text()
    (folder / "inventory.csv").write_text(inventory.replace("TEE,100", f"TEE,{HUGE}"))
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: inventory.csv: row 2: field 'on_hand': value '{HUGE}': "
        "must be <= 1e+09\n"
    )


def test_network_limits_from_parquet(tmp_path: Path) -> None:
    import pandas as pd

    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    frame = pd.read_csv(folder / "inventory.csv")
    frame["on_hand"] = frame["on_hand"].astype(np.uint64)
    frame.loc[1, "on_hand"] = np.iinfo(np.uint64).max
    frame.to_parquet(folder / "inventory.parquet")
    (folder / "inventory.csv").unlink()
    with pytest.raises(
        InputError,
        match=r"^inventory\.parquet: row 3: field 'on_hand': "
        r"value '18446744073709551615': must be <= 1e\+09$",
    ):
        load_network(folder)


def test_now_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_NOW", "2030-02-03T04:05:06+01:00")
    assert now().isoformat() == "2030-02-03T03:05:06+00:00"
    monkeypatch.setenv("TIERFLOW_NOW", "yesterday")
    with pytest.raises(InputError, match=r"field 'TIERFLOW_NOW': value 'yesterday'"):
        now()
    monkeypatch.delenv("TIERFLOW_NOW")
    assert now().year >= 2026


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-02-29T10:00Z", "no such day: 2026 is not a leap year"),
        ("2026-04-31T10:00Z", "no such day: day 31 out of range for month 4 (1-30)"),
        ("yesterday", "not an ISO 8601 instant with offset in 1900-2200"),
        ("2026-02-28T10:00", "not an ISO 8601 instant with offset in 1900-2200"),
    ],
)
def test_tierflow_now_names_a_day_the_calendar_has_not(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    """``TIERFLOW_NOW=2026-02-29T10:00Z`` read "not an ISO 8601 instant",
    a format it has, where every other instant reader says why."""
    monkeypatch.setenv("TIERFLOW_NOW", value)
    with pytest.raises(InputError) as caught:
        now()
    assert str(caught.value) == f"field 'TIERFLOW_NOW': value {value!r}: {reason}"


def test_a_time_window_takes_whole_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window runs from the start of its first UTC day to the end of its
    last, as its message prints them: orders generated on the window's first
    day (the generator checks days) were refused by the reader when placed
    before the clock's time of day."""
    monkeypatch.setenv("TIERFLOW_NOW", "2026-12-01T12:28:00+00:00")
    lo, hi = DATA_WINDOW.bounds()
    assert (lo.isoformat(), hi.isoformat()) == (
        "1976-12-01T00:00:00+00:00",
        "2028-12-01T23:59:59.999999+00:00",
    )
    assert DATA_WINDOW.describe().startswith(
        "outside the allowed window 1976-12-01 .. 2028-12-01"
    )
    out = tmp_path / "old.csv"
    made = CliRunner().invoke(
        cli,
        ["generate", "orders", "--orders", "5", "--start", "1976-12-01",
         "--seed", "1", "--out", str(out)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert read_orders(out).n_orders == 5
    before = CliRunner().invoke(
        cli, ["generate", "orders", "--orders", "5", "--start", "1976-11-30",
              "--out", str(tmp_path / "older.csv")],
    )  # fmt: skip
    assert before.exit_code == 2 and "outside the allowed window" in before.output


def test_generated_orders_of_the_windows_last_day_are_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window ends with its last UTC day, and a US evening of that day
    falls on the next one: ``generate orders --start`` the window's last day
    wrote orders that the reader (``allocate``) refused, "row 116: field
    'created_at': value '2028-12-01T19:14:22-05:00': outside the allowed
    window". Refused by the generator now, saying why; the day before is
    written, and read."""
    monkeypatch.setenv("TIERFLOW_NOW", "2026-12-01T12:28:00+00:00")
    args = ["generate", "orders", "--orders", "300", "--seed", "1"]
    last = CliRunner().invoke(
        cli, [*args, "--start", "2028-12-01", "--out", str(tmp_path / "last.csv")]
    )
    assert last.exit_code == 2 and last.output.endswith(
        "Error: Invalid value for --start: 2028-12-01 (its last local hours "
        "fall on 2028-12-02 in UTC): outside the allowed window 1976-12-01 .. "
        "2028-12-01 (50 years before to 2 years after now)\n"
    ), last.output
    assert not (tmp_path / "last.csv").exists()
    out = tmp_path / "before.csv"
    made = CliRunner().invoke(cli, [*args, "--start", "2028-11-30", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert read_orders(out).n_orders == 300


@pytest.mark.parametrize("table", ["holidays", "skus"])
def test_a_folder_where_a_table_file_goes_is_refused(
    tmp_path: Path, table: str
) -> None:
    """An optional table (the calendar's holidays) given as a folder was
    dropped without a word, the network validated "OK"; a required one
    (skus) was said to be missing."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / f"{table}.csv").unlink(missing_ok=True)
    (folder / f"{table}.csv").mkdir()
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == f"{folder / table}.csv: not a file (a folder?)"


@pytest.mark.parametrize("table", ["holidays", "skus"])
def test_a_link_to_no_file_where_a_table_goes_is_refused(
    tmp_path: Path, table: str
) -> None:
    """A symbolic link whose target is gone (a share not mounted) was taken
    as no file: an optional table (holidays) vanished and the network
    validated "OK"; a required one (skus) was said to be missing."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / f"{table}.csv").unlink(missing_ok=True)
    gone = tmp_path / "share" / f"{table}.csv"
    (folder / f"{table}.csv").symlink_to(gone)
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == (
        f"{folder / table}.csv: a symbolic link to {gone}, which does not exist "
        "(or is a link that loops)"
    )
    gone.parent.mkdir()
    if table == "holidays":
        gone.write_text("date,service,action\n2026-12-24,*,closed\n")
    else:
        shutil.copy(TINY_NETWORK / f"{table}.csv", gone)
    assert load_network(folder).n_nodes == load_network(TINY_NETWORK).n_nodes


def test_a_device_where_a_table_file_goes_is_refused(tmp_path: Path) -> None:
    """A table linked to /dev/null (emptied so) or a FIFO was "not a file
    (a folder?)"."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "complexity.csv").symlink_to(os.devnull)
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == (
        f"{folder}/complexity.csv: not a regular file but a pipe or device: "
        "write the table to a file"
    )


def test_a_table_as_both_csv_and_parquet_is_refused(tmp_path: Path) -> None:
    """The CSV was read without a word: a stale inventory.csv beside a new
    inventory.parquet export won."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    pd.read_csv(folder / "inventory.csv").to_parquet(folder / "inventory.parquet")
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == (
        f"{folder}: both inventory.csv and inventory.parquet are here: keep the "
        "one to read"
    )
    (folder / "inventory.csv").unlink()
    assert load_network(folder).n_nodes == load_network(TINY_NETWORK).n_nodes


def test_a_customer_table_with_a_header_only_is_named(tmp_path: Path) -> None:
    """Orders drawn from no customers crashed in numpy (a traceback from
    ``generate orders`` and ``simulate``)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "customers.csv").write_text("customer_id,home_zip3\n")
    result = CliRunner().invoke(
        cli,
        ["generate", "orders", "--network", str(folder), "--orders", "5",
         "--out", str(tmp_path / "o.csv")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output == (
        "Error: customers.csv: no customers (a header only): give some, or "
        "remove the file to generate customers\n"
    )
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "skus.csv",
            "sku,weight_kg,length_cm,width_cm,height_cm,fragile,hazmat,Popularity\n"
            "TEE,0.3,30,25,3,false,false,0.9\nMUG,0.5,12,12,12,true,false,0.1\n",
            "skus.csv: row 1: field 'Popularity': column 'Popularity' would be "
            "ignored: the column is named 'popularity' (names are exact), and "
            "without it every row takes 1.0",
        ),
        (
            "orders.csv",
            "order_id,created_at,customer_id,dest,Tier,sku,quantity\n"
            "O1,2026-06-02T10:00:00-04:00,C1,100,platinum,TEE,1\n",
            "orders.csv: row 1: field 'Tier': column 'Tier' would be ignored: the "
            "column is named 'tier' (names are exact), and without it every row "
            "is left empty",
        ),
    ],
    ids=["skus-popularity", "orders-tier"],
)
def test_an_optional_column_written_otherwise_is_refused(
    tmp_path: Path, file: str, text: str, message: str
) -> None:
    """A spreadsheet's ``Popularity`` or ``Tier`` header was an extra column,
    dropped without a word: every SKU took popularity 1 (uniform demand),
    every order lost its tier. Case, spaces and underscores aside it is the
    optional column, so it is refused naming the header cell; the column as
    named, or another extra column, still reads."""
    _table(tmp_path, text, file)
    with pytest.raises(InputError) as caught:
        if file == "orders.csv":
            read_orders(tmp_path / file)
        else:
            read_table(tmp_path, "skus", SKU_COLUMNS)
    assert str(caught.value) == message
    header, rest = text.split("\n", 1)
    fixed = header.replace("Popularity", "popularity").replace("Tier", "tier")
    _table(tmp_path, f"{fixed},zip_code\n" + rest.replace("\n", ",02134\n"), file)
    if file == "orders.csv":
        assert read_orders(tmp_path / file).tier.tolist() == [0]
    else:
        frame, _ = read_table(tmp_path, "skus", SKU_COLUMNS)
        assert frame["popularity"].tolist() == [0.9, 0.1]


SKUS_HEADER = "sku,weight_kg,length_cm,width_cm,height_cm,fragile,hazmat"


@pytest.mark.parametrize(
    ("extra", "popularity"),
    [("popularty", "popularity"), ("Populairty", "popularity")],
)
def test_a_misspelled_optional_column_is_refused(
    tmp_path: Path, extra: str, popularity: str
) -> None:
    """``popularty`` was an ignored extra column, so every SKU took
    popularity 1 without a word; within ``NEAR_MISS`` of an absent optional
    column it is refused at its header cell, naming the column meant."""
    rest = "TEE,0.3,30,25,3,false,false,0.9\nMUG,0.5,12,12,12,true,false,0.1\n"
    _table(tmp_path, f"{SKUS_HEADER},{extra}\n{rest}", "skus.csv")
    with pytest.raises(InputError) as caught:
        read_table(tmp_path, "skus", SKU_COLUMNS)
    assert str(caught.value) == (
        f"skus.csv: row 1: field '{extra}': column '{extra}' would be ignored: "
        f"did you mean '{popularity}'? Without it every row takes 1.0 (if it is "
        "another column, rename it)"
    )


@pytest.mark.parametrize(
    ("file", "extra", "meant"),
    [
        ("orders.csv", "promise_date", "promised_date"),
        ("orders.csv", "tiers", "tier"),
        ("nodes.csv", "regions", "region"),
    ],
)
def test_a_near_miss_of_each_tables_optional_column_is_refused(
    tmp_path: Path, file: str, extra: str, meant: str
) -> None:
    """Orders' and nodes' optional columns too: ``tiers`` (0.89) is refused,
    where ``zip`` beside ``zip3`` (0.86, below) is not."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    message = (
        rf"^{file}: row 1: field '{extra}': column '{extra}' would be ignored: "
        rf"did you mean '{meant}'\?"
    )
    if file == "orders.csv":
        path = _table(
            folder,
            f"order_id,created_at,customer_id,dest,sku,quantity,{extra}\n"
            "O1,2026-06-02T10:00:00-04:00,C1,100,TEE,1,x\n",
            file,
        )
        with pytest.raises(InputError, match=message):
            read_orders(path)
    else:
        nodes = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
        nodes.rename(columns={meant: extra}).to_csv(folder / file, index=False)
        with pytest.raises(InputError, match=message):
            load_network(folder)


@pytest.mark.parametrize(
    "extras",
    [
        ("notes", "region", "owner", "city", "state"),
        ("popularity_rank", "popular_since", "category", "name"),
    ],
)
def test_other_extra_columns_still_read(
    tmp_path: Path, extras: tuple[str, ...]
) -> None:
    """Extra columns other than a near-miss are kept as text, as ever."""
    cells = ",".join("x" for _ in extras)
    _table(
        tmp_path,
        f"{SKUS_HEADER},{','.join(extras)}\nTEE,0.3,30,25,3,false,false,{cells}\n",
        "skus.csv",
    )
    frame, _ = read_table(tmp_path, "skus", SKU_COLUMNS)
    assert frame["popularity"].tolist() == [1.0]
    assert all(frame[e].tolist() == ["x"] for e in extras)


def test_a_full_zip_code_beside_a_node_is_not_its_zip3(tmp_path: Path) -> None:
    """``zip`` (a node's address) is as near ``zip3`` as a misspelling is
    short of ``NEAR_MISS``: it stays an extra column, as do ``city`` and
    ``state``, and the node's prefix is the nearest destination's."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = pd.read_csv(folder / "nodes.csv", dtype=str, keep_default_na=False)
    nodes = nodes.drop(columns=[c for c in ("zip3",) if c in nodes.columns])
    nodes.assign(zip="02134", city="Boston", state="MA").to_csv(
        folder / "nodes.csv", index=False
    )
    assert load_network(folder).n_nodes == len(nodes)


def test_the_first_bad_row_is_the_error_whatever_its_column(tmp_path: Path) -> None:
    """Row 3's ``id`` is too long and row 2's ``count`` is not a number: the
    columns were checked one after the other, so row 3 (of the first
    column) was the error, not the file's first bad row."""
    text = "id,count\na,x\n" + "y" * 1001 + ",1\n"
    with pytest.raises(
        InputError, match=r"^t\.csv: row 2: field 'count': value 'x': not a number$"
    ):
        read_table(_table(tmp_path, text), "t", COLUMNS)
    text = "id,count\na,x\n,1\n"  # row 3 has no id: row 2 still comes first
    with pytest.raises(InputError, match=r"^t\.csv: row 2: field 'count'"):
        read_table(_table(tmp_path, text), "t", COLUMNS)
    text = "id,count\n,x\n"  # one row, two bad cells: its first column's
    with pytest.raises(
        InputError, match=r"^t\.csv: row 2: field 'id': value '': missing value$"
    ):
        read_table(_table(tmp_path, text), "t", COLUMNS)


def test_a_pipe_given_as_a_table_is_named_a_pipe_not_missing(tmp_path: Path) -> None:
    """A table given as a pipe (a shell's ``<(zcat orders.csv.gz)``, a
    FIFO) or a device exists: it was refused as "no such file", sending the
    user to look for a typo in a path that was there. It is refused saying
    what it is (a table is read more than once: ``allocate`` digests its
    orders file for the run id), before anything is opened or written."""
    fifo = tmp_path / "count.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as caught:
        read_table(fifo, "inventory", COLUMNS)
    assert str(caught.value) == (
        f"{fifo}: not a regular file but a pipe or device: "
        "write it to a file and give that file"
    )
    state = tmp_path / "state.db"
    args = ["stock", "load", "--inventory", str(fifo), "--state", str(state)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.output.endswith(f"Error: {caught.value}\n"), result.output
    assert not state.exists()
