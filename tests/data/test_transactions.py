"""Transaction readers: good files, and a table of bad ones."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow.data.errors import InputError
from tierflow.data.transactions import (
    TransactionFormat,
    TransactionLog,
    day_number,
    day_to_date,
    read_transactions,
)

HEADER = "customer_id,order_date,amount\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_roundtrip_with_returns_zeros_and_times(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "orders.csv",
        "customer_id,order_date,amount,quantity,order_id\n"
        "b,2024-01-03,10.5,2,o1\n"
        "a,2024-01-02 13:45:00,0,1,o2\n"
        "\n"
        "a,2024-01-01,-4.25,,o3\n",
    )
    log, report = read_transactions(path)
    assert report.n_rows == 3 and report.n_bad == 0
    assert list(log.customer_ids) == ["a", "b"]
    # sorted by (customer, day); the time of day is dropped
    assert [str(day_to_date(d).date()) for d in log.day] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]
    np.testing.assert_allclose(log.amount, [-4.25, 0.0, 10.5])
    assert log.quantity is not None
    np.testing.assert_allclose(log.quantity, [1.0, 1.0, 2.0])  # blank -> 1
    assert not log.amount.flags.writeable


def test_cdnow_master_has_header_and_known_totals(cdnow_dir: Path) -> None:
    log, _ = read_transactions(cdnow_dir / "CDNOW_master.txt", fmt="cdnow")
    assert (log.n_rows, log.n_customers) == (69_659, 23_570)
    assert round(float(log.amount.sum()), 2) == 2_500_315.63
    assert str(day_to_date(log.first_day).date()) == "1997-01-01"
    assert str(day_to_date(log.last_day).date()) == "1998-06-30"


def test_cdnow_sample_five_columns_uses_master_id(cdnow_dir: Path) -> None:
    log, _ = read_transactions(cdnow_dir / "CDNOW_sample.txt", fmt="cdnow")
    assert (log.n_rows, log.n_customers) == (6_919, 2_357)
    assert log.customer_ids[0] == "00004"
    assert day_number("1997-01-01") == log.first_day


@pytest.mark.parametrize(
    "header", ["customer id  order date  cds  dollars", "id date dollars"]
)
def test_cdnow_columns_are_counted_on_the_data_not_the_header(
    tmp_path: Path, header: str
) -> None:
    """A header line of another word count than the rows (a column name
    with a space in it) set the expected count: every row was refused,
    'row 2: ... expected 6 fields, found 4', the header being the odd one."""
    path = tmp_path / "cdnow.txt"
    path.write_text(
        f"{header}\n 00001 19970101  1   11.77\n 00002 19970112  2  12.00\n"
    )
    log, _ = read_transactions(path, fmt="cdnow")
    assert list(log.customer_ids) == ["00001", "00002"]
    np.testing.assert_allclose(log.amount, [11.77, 12.0])
    path.write_text(f"{header}\n 00001 19970101 11.77\n")
    with pytest.raises(InputError) as info:
        read_transactions(path, fmt="cdnow")
    assert str(info.value) == (
        f"{path}: row 2: expected 4 columns (id date cds dollars) or 5 "
        "(master_id sample_id date cds dollars), found 3"
    )


def test_parquet_typed_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [7, 8],
            "order_date": pd.to_datetime(["2024-02-01", "2024-02-03"]),
            "amount": [1.5, 2.5],
        }
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    log, _ = read_transactions(path)
    assert list(log.customer_ids) == ["7", "8"]
    np.testing.assert_allclose(log.amount, [1.5, 2.5])


def test_parquet_float_customer_ids_read_as_whole_numbers(tmp_path: Path) -> None:
    """An integer id column with a gap is float64 in pandas' Parquet: '7.0'
    and '7' were two customers, and no score or order matched '7.0'."""
    frame = pd.DataFrame(
        {
            "customer_id": [7.0, 8.0, 7.0, 2.0**53, 0.5],
            "order_date": pd.to_datetime(["2024-02-01"] * 5),
            "amount": [1.5, 2.5, 1.0, 1.0, 1.0],
        }
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    log, _ = read_transactions(path)
    assert sorted(log.customer_ids) == ["0.5", "7", "8", "9007199254740992"]


# (file name, content, expected message) — one bad thing per file
BAD_FILES = [
    (
        "orders.csv",
        HEADER + "c1,2024-01-01,5\nc2,2024-13-01,5\n",
        r"^orders\.csv: row 3: field 'order_date': value '2024-13-01': "
        r"no such day: month 13 out of range \(1-12\)$",
    ),
    (  # a day the calendar has not says why: it read "not a date"
        "orders.csv",
        HEADER + "c1,2024-02-29,5\nc2,2023-02-29,5\n",
        r"^orders\.csv: row 3: field 'order_date': value '2023-02-29': "
        r"no such day: 2023 is not a leap year$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-04-31T09:00-05:00,5\n",
        r"^orders\.csv: row 2: field 'order_date': value '2024-04-31T09:00-05:00': "
        r"no such day: day 31 out of range for month 4 \(1-30\)$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024/01/02,5\n",
        r"^orders\.csv: row 2: field 'order_date': value '2024/01/02': "
        r"not ISO 8601: write 2024-01-02 \(YYYY-MM-DD, with '-'\)$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,abc\n",
        r"^orders\.csv: row 2: field 'amount': value 'abc': not a number$",
    ),
    (  # a NUL in an id: PostgreSQL refused the scores, with a traceback
        "orders.csv",
        HEADER + "c1,2024-01-02,5\nc\x002,2024-01-02,5\n",
        r"^orders\.csv: row 3: field 'customer_id': value 'c\\x002': a control "
        r"character \('\\x00'\): an id is stored, logged and written to CSV "
        r"files as it is$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,5\n  ,2024-01-02,5\n",
        r"^orders\.csv: row 3: field 'customer_id': value '  ': missing value$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,\n",
        r"^orders\.csv: row 2: field 'amount': value '': missing value$",
    ),
    (  # the amount left out, not empty: the row is short
        "orders.csv",
        HEADER + "c1,2024-01-02\n",
        r"^orders\.csv: row 2: value 'c1,2024-01-02': 2 fields where the header "
        r"has 3$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,inf\n",
        r"^orders\.csv: row 2: field 'amount': value 'inf': not a finite number$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,1\n\n\nc1,,2\n",
        r"^orders\.csv: row 5: field 'order_date': value '': missing value$",
    ),
    (
        "orders.csv",
        "customer_id,order_date,amount,quantity\nc1,2024-01-02,1,two\n",
        r"^orders\.csv: row 2: field 'quantity': value 'two': not a number$",
    ),
    (
        "orders.csv",
        "customer_id,order_date\nc1,2024-01-02\n",
        r"^orders\.csv: row 1: field 'amount': missing column "
        r"\(have: customer_id, order_date\)$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,1\nc2,2024-01-02,1,5\n",
        r"^orders\.csv: row 3: value 'c2,2024-01-02,1,5': "
        r"4 fields where the header has 3 \(extra: '5'\)$",
    ),
    (
        "orders.csv",
        HEADER + "c1,2024-01-02,1,5\n",
        r"^orders\.csv: row 2: value 'c1,2024-01-02,1,5': "
        r"4 fields where the header has 3 \(extra: '5'\)$",
    ),
    ("orders.csv", "", r"^orders\.csv: file is empty$"),
    (  # an incomplete date is not the first of its month or year
        "orders.csv",
        HEADER + "c1,2024-01-01,5\nc2,1997-02,5\n",
        r"^orders\.csv: row 3: field 'order_date': value '1997-02': "
        r"not a date \(expected YYYY-MM-DD\)$",
    ),
    (
        "orders.csv",
        HEADER + "c1,1997,5\n",
        r"^orders\.csv: row 2: field 'order_date': value '1997': "
        r"not a date \(expected YYYY-MM-DD\)$",
    ),
    (
        "cdnow.txt",
        " 00001 19970101 1 11.77\n 00002 1997011 1 12.00\n",
        r"^cdnow\.txt: row 2: field 'date': value '1997011': "
        r"not a date \(expected YYYYMMDD\)$",
    ),
    (
        "cdnow.txt",
        "customer_id date number_of_cds dollar_value\n 00001 19970101 1 11.77\n"
        " 00002 19971301 1 12.00\n",
        r"^cdnow\.txt: row 3: field 'date': value '19971301': "
        r"no such day: month 13 out of range \(1-12\)$",
    ),
    (
        "cdnow.txt",
        " 00001 19970101 1 11.77\n 00002 19970229 1 12.00\n",
        r"^cdnow\.txt: row 2: field 'date': value '19970229': "
        r"no such day: 1997 is not a leap year$",
    ),
    (
        "cdnow.txt",
        " 00001 19970101 1 11.77\n 00002 19970102 1\n",
        r"^cdnow\.txt: row 2: value '00002 19970102 1': "
        r"expected 4 fields, found 3$",
    ),
    (
        "cdnow.txt",
        " 00001 19970101 1 11.77\n 00002 19970102 1 $12\n",
        r"^cdnow\.txt: row 2: field 'dollar_value': value '\$12': not a number "
        r"\(a currency sign: write 12, the number alone\)$",
    ),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES)
def test_bad_input_names_file_row_field_value(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = _write(tmp_path, name, text)
    fmt: TransactionFormat = "cdnow" if name.startswith("cdnow") else "csv"
    with pytest.raises(InputError) as info:
        read_transactions(path, fmt=fmt)
    # the file as given, then row, field, value and the problem
    text = str(info.value)
    assert text.startswith(f"{tmp_path}/")
    assert re.match(message, text[len(str(tmp_path)) + 1 :]), text


def test_cdnow_text_read_as_csv_says_its_header_is_one_column(tmp_path: Path) -> None:
    # CDNOW_master.txt without --format cdnow: the error said customer_id was
    # missing and listed "customer_id  date ..." as what the file has
    path = _write(
        tmp_path,
        "CDNOW_master.txt",
        " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n",
    )
    with pytest.raises(InputError) as info:
        read_transactions(path)
    assert str(info.value) == (
        f"{path}: row 1: field 'customer_id': missing column (have one column, "
        "'customer_id  date number_of_cds  dollar_value': the header's names "
        "are separated by spaces or tabs, not commas; CDNOW's text format is "
        "read with --format cdnow)"
    )


def test_a_tab_separated_table_says_its_header_is_one_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "orders.tsv", "customer_id\torder_date\tamount\n")
    with pytest.raises(InputError) as info:
        read_transactions(path)
    assert str(info.value) == (
        f"{path}: row 1: field 'customer_id': missing column (have one column, "
        "'customer_id\\torder_date\\tamount': the header's names are separated "
        "by spaces or tabs, not commas; CDNOW's text format is read with "
        "--format cdnow)"
    )


def test_parquet_errors_name_the_record(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "b"], "order_date": ["2024-01-01", "x"], "amount": [1, 2]}
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError, match=r"t\.parquet: record 2: field 'order_date'"):
        read_transactions(path)


def test_first_bad_row_wins_across_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "o.csv", HEADER + "c1,2024-01-01,1\nc2,2024-01-01,x\n,bad,1\n"
    )
    with pytest.raises(InputError, match=r"o\.csv: row 3: field 'amount'"):
        read_transactions(path)


def test_skip_bad_rows_counts_and_reports(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "o.csv",
        HEADER + "c1,2024-01-01,1\nc2,2024-01-01,x\n,2024-01-02,1\nc3,nope,y\n",
    )
    log, report = read_transactions(path, skip_bad_rows=True)
    assert log.n_rows == 1
    assert (report.n_rows, report.n_bad) == (4, 3)
    assert dict(report.by_field) == {"amount": 2, "customer_id": 1, "order_date": 1}
    assert report.summary().startswith(f"{path}: skipped 3 bad rows of 4")
    assert report.examples[0].endswith("row 3: field 'amount': value 'x': not a number")


def test_skipped_dates_say_each_why(tmp_path: Path) -> None:
    """Each skipped date keeps its own reason: a day the calendar has not
    says which, text that is no date says the format."""
    rows = "c1,2024-01-01,1\nc2,2023-02-29,1\nc3,nope,1\nc4,2024-06-31,1\n"
    path = _write(tmp_path, "o.csv", HEADER + rows)
    _, report = read_transactions(path, skip_bad_rows=True)
    assert [e.split(": ", 1)[1] for e in report.examples] == [
        "row 3: field 'order_date': value '2023-02-29': "
        "no such day: 2023 is not a leap year",
        "row 4: field 'order_date': value 'nope': not a date (expected YYYY-MM-DD)",
        "row 5: field 'order_date': value '2024-06-31': "
        "no such day: day 31 out of range for month 6 (1-30)",
    ]


def test_all_rows_bad_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "o.csv", HEADER + "c1,x,1\n")
    with pytest.raises(InputError, match=r"o\.csv: no valid transactions"):
        read_transactions(path, skip_bad_rows=True)


def test_customer_tables_are_re_exported() -> None:
    """``data.transactions`` keeps serving the names that moved out of it."""
    from tierflow.data import customer_tables, day_numbers, row_checks, transactions

    assert transactions.read_profiles is customer_tables.read_profiles
    assert transactions.read_browsing is customer_tables.read_browsing
    assert transactions.PROFILE_CATEGORICALS is customer_tables.PROFILE_CATEGORICALS
    assert transactions.ReadReport is row_checks.ReadReport
    assert transactions.day_to_date is day_numbers.day_to_date


KEYED = "customer_id,order_date,amount,order_id\n"
BAD_KEYS = [
    ("a,2024-01-01,10,o1\nb,2024-01-02,10,o1\n",
     r"row 3: field 'order_id': value 'o1': order_id used for another customer "
     r"\(first at row 2\)$"),
    ("a,2024-01-01,10,o1\na,2024-01-01,10,o1\n",
     r"row 3: field 'order_id': value 'o1': duplicate order_id \(first at row 2\)$"),
    ("a,2024-01-05,10,o1\na,2024-01-02,-10,o1\n",
     r"row 3: field 'order_date': value '2024-01-02': return dated before its "
     r"purchase \(first at row 2\)$"),
    ("a,2024-01-05,1e10,o1\n", r"row 2: field 'amount': value '1e10': must be <= 1e\+09$"),
    ("a,2099-01-05,10,o1\n",
     r"row 2: field 'order_date': value '2099-01-05': outside the allowed window "
     r"1976-06-01 \.\. 2028-06-01 \(50 years before to 2 years after now\)$"),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "message"), BAD_KEYS)
def test_order_ids_are_keys(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(
        InputError, match=r"^" + re.escape(str(tmp_path)) + r"/k\.csv: " + message
    ):
        read_transactions(_write(tmp_path, "k.csv", KEYED + rows))


def test_returns_and_skipped_duplicates(tmp_path: Path) -> None:
    rows = (
        "a,2024-01-01,10,o1\n"  # a purchase
        "a,2024-01-09,-4,o1\n"  # and two partial returns of it
        "a,2024-01-10,-6,o1\n"
        "a,2024-01-01,10,o1\n"  # the purchase again: dropped
        "b,2024-01-02,7,o1\n"  # the id of another customer: dropped
    )
    log, report = read_transactions(
        _write(tmp_path, "k.csv", KEYED + rows), skip_bad_rows=True
    )
    assert (log.n_rows, report.n_bad, dict(report.by_field)) == (3, 2, {"order_id": 2})
    assert log.amount.sum() == 0.0


def test_a_return_of_nothing_is_neither_a_purchase_nor_a_row(tmp_path: Path) -> None:
    """A free item's return, ``-0.00`` (``-price * quantity`` of a price of
    0) or 0 with a negative quantity, was a purchase row (amount >= 0): of
    an order with an id, a second purchase of it ("duplicate order_id"),
    the whole file refused; without ids, a purchase day of its own. It
    carries no spend and no purchase: validated (not before its purchase),
    then left out of the log."""
    header = "customer_id,order_date,amount,quantity,order_id\n"
    rows = "a,2024-01-01,10,2,o1\na,2024-01-02,5,1,o2\nb,2024-01-03,0,1,o3\n"
    voids = "a,2024-01-09,-0.00,-1,o1\na,2024-01-10,0,-1,o2\n"
    plain, _ = read_transactions(_write(tmp_path, "plain.csv", header + rows))
    log, report = read_transactions(_write(tmp_path, "v.csv", header + rows + voids))
    assert report.n_bad == 0
    assert log.fingerprint() == plain.fingerprint()
    assert log.n_rows == 3  # b's zero with a quantity of 1 is a purchase, as ever
    # without order ids, the return of nothing on a day of its own
    unkeyed = "customer_id,order_date,amount\na,2024-01-01,10\na,2024-01-09,-0\n"
    log, _ = read_transactions(_write(tmp_path, "u.csv", unkeyed))
    assert (log.n_rows, list(log.day)) == (1, [day_number("2024-01-01")])
    # dated before its purchase, it is an error as any return is
    early = header + "a,2024-01-05,10,1,o1\na,2024-01-04,-0.00,-1,o1\n"
    with pytest.raises(InputError, match="return dated before its purchase"):
        read_transactions(_write(tmp_path, "e.csv", early))


def test_dates_keep_the_calendar_day_as_written(tmp_path: Path) -> None:
    """A time and a UTC offset are dropped, not applied: 21:00 at -05:00 on
    Sept 30 is a Sept 30 purchase (in UTC it is Oct 1, inside a holdout
    starting then). Offsets may differ from row to row."""
    path = _write(
        tmp_path,
        "tz.csv",
        HEADER + "a,1997-09-30T21:00:00-05:00,500\n"
        "b,1997-09-30T23:30:00+09:00,5\n"
        "c,1997-09-30 01:00,1\n"
        "d,1997-09-30T00:30:00Z,2\n"
        "e,1997-09-30,3\n",
    )
    log, _ = read_transactions(path)
    assert [str(day_to_date(d).date()) for d in log.day] == ["1997-09-30"] * 5
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "order_date": pd.to_datetime(
                ["1997-09-30T21:00:00-05:00", "1997-09-30T23:59:00-05:00"]
            ),
            "amount": [1.0, 2.0],
        }
    )
    frame.to_parquet(tmp_path / "tz.parquet")
    log, _ = read_transactions(tmp_path / "tz.parquet")
    assert [str(day_to_date(d).date()) for d in log.day] == ["1997-09-30"] * 2
    # a bad time of day is still a bad date, though it is dropped
    bad = _write(tmp_path, "bad.csv", HEADER + "a,1997-09-30T25:00,1\n")
    with pytest.raises(InputError) as info:
        read_transactions(bad)
    assert str(info.value) == (
        f"{bad}: row 2: field 'order_date': value '1997-09-30T25:00': "
        "not a date (expected YYYY-MM-DD)"
    )


def test_cdnow_non_utf8_names_the_field_and_quotes_the_cell(tmp_path: Path) -> None:
    """The byte alone (b'\\xe9') is hard to find in a file: the word it sits
    in and its column are quoted, for either CDNOW layout."""
    path = tmp_path / "cdnow.txt"
    path.write_bytes(b" 00001 19970101 1 11.77\n Jos\xe9 19970102 1 2.00\n")
    with pytest.raises(InputError) as info:
        read_transactions(path, fmt="cdnow")
    assert str(info.value) == (
        f"{path}: row 2: field 'customer_id': value b'Jos\\xe9': "
        "not UTF-8 text (invalid continuation byte)"
    )
    path.write_bytes(b" 00001 0001 19970101 1 11.77\n 00002 0001 19970102 1 2.\xe9\n")
    with pytest.raises(InputError) as info:
        read_transactions(path, fmt="cdnow")
    assert str(info.value) == (
        f"{path}: row 2: field 'dollar_value': value b'2.\\xe9': "
        "not UTF-8 text (invalid continuation byte)"
    )


def test_exact_duplicate_rows_are_kept_with_a_note(tmp_path: Path) -> None:
    """A second identical row may be a second identical purchase: kept, but
    noted (a file appended twice would otherwise double the spend silently)."""
    path = _write(
        tmp_path,
        "o.csv",
        HEADER + "a,2024-01-01,5\nb,2024-01-01,5\na,2024-01-01,5\n"
        "a,2024-01-01,5\nb,2024-01-02,5\n",
    )
    log, report = read_transactions(path)
    assert log.n_rows == 5 and float(log.amount.sum()) == 25.0
    assert report.notes == (
        f"{path}: 2 rows repeat an earlier row exactly (first: row 4, same as "
        "row 2); kept, each as a purchase of its own",
    )
    _, clean = read_transactions(_write(tmp_path, "c.csv", HEADER + "a,2024-01-01,5\n"))
    assert clean.notes == ()


_CELLS = {
    "customer_id": ("a", "b"),
    "order_date": ("2024-01-01", "2024-01-02", "2024-01-01 10:00"),
    "amount": ("5", "5.0", "7", "0", "-0"),
    "quantity": ("", "1", "2"),
}


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.tuples(*(st.integers(0, len(v) - 1) for v in _CELLS.values())),
        min_size=1,
        max_size=14,
    ),
    with_quantity=st.booleans(),
    with_order_ids=st.booleans(),
)
def test_the_repeat_note_matches_a_cell_by_cell_comparison(
    tmp_path_factory: pytest.TempPathFactory,
    cells: list[tuple[int, ...]],
    with_quantity: bool,
    with_order_ids: bool,
) -> None:
    """The note finds repeats on numbers first, then compares cells: it must
    say what comparing every row's cells would (count, first repeat, its
    original), whatever the values' spellings (5 / 5.0, 0 / -0, blank
    quantity); unique order ids make every row a purchase of its own. A
    ``-0`` row is a return of nothing, left out of the log: no repeat."""
    columns = [c for c in _CELLS if with_quantity or c != "quantity"]
    columns += ["order_id"] if with_order_ids else []
    lines = []
    for i, row in enumerate(cells):
        values = [_CELLS[c][k] for c, k in zip(_CELLS, row, strict=True)]
        line = [v for c, v in zip(_CELLS, values, strict=True) if c in columns]
        lines.append(",".join([*line, f"o{i}"] if with_order_ids else line))
    path = tmp_path_factory.mktemp("repeat") / "r.csv"
    path.write_text(",".join(columns) + "\n" + "\n".join(lines) + "\n")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.loc[frame["amount"] != "-0"]
    if frame.empty:
        with pytest.raises(InputError, match="no valid transactions"):
            read_transactions(path)
        return
    _, report = read_transactions(path)
    repeat = frame.duplicated(keep="first").to_numpy()
    if not repeat.any():
        assert report.notes == ()
        return
    at = int(frame.index[int(np.argmax(repeat))])
    same = int(frame.index[int(np.argmax(frame.eq(frame.loc[at]).all(axis=1)))])
    n = int(repeat.sum())
    assert report.notes == (
        f"{path}: {n} {'row repeats' if n == 1 else 'rows repeat'} an earlier row "
        f"exactly (first: row {at + 2}, same as row {same + 2}); kept, each as a "
        "purchase of its own",
    )


def test_a_log_is_the_same_whatever_the_order_of_its_rows(cdnow_dir: Path) -> None:
    """The same rows in another order are the same log: rows and
    fingerprint. Rows of one customer-day kept their file order, so an
    export without a stable ORDER BY was another model version (a retrain
    promoted it) and summed its days in another order (forecasts moved)."""
    log = read_transactions(cdnow_dir / "CDNOW_sample.txt", fmt="cdnow")[0]
    frame = pd.DataFrame(
        {
            "customer_id": np.asarray(log.customer_ids)[log.customer],
            "order_date": [day_to_date(int(d)) for d in log.day],
            "amount": log.amount,
        }
    )
    size = frame.groupby(["customer_id", "order_date"])["amount"].transform("size")
    assert (size > 1).sum() > 100  # the case: customer-days of several rows
    first = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"]
    )
    for seed in (0, 1):
        shuffled = frame.sample(frac=1.0, random_state=seed)
        again = TransactionLog.from_columns(
            shuffled["customer_id"], shuffled["order_date"], shuffled["amount"]
        )
        assert again.fingerprint() == first.fingerprint()
        for name in ("customer", "day", "amount"):
            np.testing.assert_array_equal(getattr(again, name), getattr(first, name))


def test_a_customer_in_other_unicode_code_points_is_an_error(tmp_path: Path) -> None:
    """``José`` as one code point (NFC) and as ``e`` and an accent (NFD)
    look the same and were two customers; the log names both rows and
    forms, as the customer tables refuse such twins (a Kelvin sign ``K``
    is an ASCII ``K`` in NFC)."""
    path = _write(
        tmp_path,
        "t.csv",
        HEADER
        + "Jos\u00e9,2024-01-01,10\nb,2024-01-02,5\n"
        + "Jos\u00e9,2024-01-03,4\nJose\u0301,2024-01-04,7\n",
    )
    with pytest.raises(InputError) as caught:
        read_transactions(path)
    assert str(caught.value) == (
        f"{path}: row 5: field 'customer_id': value 'Jose\u0301': customer id "
        "'Jos\u00e9' of row 2 in other Unicode code points (NFD here, NFC "
        "there): the same id written two ways"
    )
    log, report = read_transactions(path, skip_bad_rows=True)
    assert list(log.customer_ids) == ["Jos\u00e9", "b"]
    assert (report.n_bad, dict(report.by_field)) == (1, {"customer_id": 1})
    kelvin = _write(
        tmp_path, "k.csv", HEADER + "K1,2024-01-01,1\n\u212a1,2024-01-02,1\n"
    )
    with pytest.raises(InputError) as caught:
        read_transactions(kelvin)
    assert str(caught.value) == (
        f"{kelvin}: row 3: field 'customer_id': value '\u212a1': customer id "
        "'K1' of row 2 in other Unicode code points (neither NFC nor NFD here, "
        "NFC there): the same id written two ways"
    )
    frame = pd.DataFrame(
        {
            "customer_id": ["Jose\u0301", "Jos\u00e9"],
            "order_date": ["2024-01-01", "2024-01-02"],
            "amount": [1.0, 2.0],
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"record 2: .* of record 1 in other Unicode"):
        read_transactions(tmp_path / "t.parquet")
    one_form = _write(tmp_path, "n.csv", HEADER + "Jos\u00e9,2024-01-01,1\n")
    assert list(read_transactions(one_form)[0].customer_ids) == ["Jos\u00e9"]


def test_a_row_dated_far_after_the_rest_is_noted_and_set_aside(
    tmp_path: Path,
) -> None:
    """A stray row (a year typed 2008 for 1998) made the log "end" ten years
    later: ``cltv evaluate`` judged a short holdout complete on it. The
    reader names it (file, row, field, value) and the log's data ends where
    the rest does; a log whose latest rows are many, or close, keeps its end."""

    def body(n: int) -> str:
        rows = (f"c{i % 40},1998-0{1 + i % 6}-1{i % 10},{i + 1}\n" for i in range(n))
        return "customer_id,order_date,amount\n" + "".join(rows)

    path = _write(tmp_path, "t.csv", body(200) + "c3,2008-06-30,5\n")
    log, report = read_transactions(path)
    assert log.last_day == day_number("2008-06-30")
    assert log.data_last_day == day_number("1998-06-19")
    assert report.notes == (
        f"{path}: row 202: field 'order_date': value '2008-06-30' is 3,664 days "
        "after the rest of the log, which ends on 1998-06-19 (a typo?): kept as "
        "written; cltv takes the log's end to be where the rest ends",
    )
    # 90 days after the rest or closer, or 1 % of the rows and more: data
    far = "c3,2008-06-30,5\nc4,2008-06-30,6\n"
    for text in (body(200) + "c3,1998-09-17,5\n", body(150) + far):
        path.write_text(text)
        log, report = read_transactions(path)
        assert log.data_last_day == log.last_day > day_number("1998-06-19")
        assert report.notes == ()
