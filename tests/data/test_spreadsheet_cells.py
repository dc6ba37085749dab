"""Files as spreadsheets export them: numbers and dates (``1,234``, ``12,5``,
``$12.50``, ``12/06/2026``, an Excel serial day) every reader still
refuses, nothing guessed, its one line saying what to write instead; a
``;``- or tab-separated export and a header in other case are named so;
the empty columns right of the data are read past."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import TINY_NETWORK
from tierflow.capacity.events import read_event_file
from tierflow.cli.main import cli
from tierflow.cltv.scores_file import read_cltv_scores
from tierflow.data.customer_tables import read_profiles
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.orders import read_orders
from tierflow.data.spreadsheet_cells import date_problem, number_problem
from tierflow.data.store import open_store
from tierflow.data.table_reader import Column, read_table
from tierflow.data.transactions import read_transactions

NUMBERS = [
    ("1,234", "not a number (',' separates thousands or decimals: write 1234 "
     "or 1.234; the decimal point is '.', with no separators)"),
    ("12,345,678", "not a number (digits grouped with ',': write 12345678, with no separators)"),
    ("1,234.5", "not a number (digits grouped with ',': write 1234.5, with no separators)"),
    ("12,5", "not a number (a decimal comma? write 12.5: the decimal point is '.')"),
    ("1 234", "not a number (digits grouped with spaces: write 1234, with no separators)"),
    ("1\u00a0234,5", "not a number (digits grouped with spaces and a decimal comma: "
     "write 1234.5, with no separators)"),
    # a decimal comma after '.' groups, and apostrophe groups, are said as
    # such (QA: "1.234,56" read a bare "not a number", "1'234" "spaces")
    ("1.234,56", "not a number (digits grouped with '.' and a decimal comma: "
     "write 1234.56, with no separators)"),
    ("-12.345.678,9", "not a number (digits grouped with '.' and a decimal comma: "
     "write -12345678.9, with no separators)"),
    ("1.234.567", "not a number (digits grouped with '.': write 1234567, with no separators)"),
    ("1'234", "not a number (digits grouped with apostrophes: write 1234, with no separators)"),
    ("1\u2019234.50", "not a number (digits grouped with apostrophes: write 1234.50, "
     "with no separators)"),
    ("$12.50", "not a number (a currency sign: write 12.50, the number alone)"),
    ("-$12.50", "not a number (a currency sign: write -12.50, the number alone)"),
    ("12.50 EUR", "not a number (a currency sign: write 12.50, the number alone)"),
    ("$1,234.50", "not a number (a currency sign: write the number alone, digits and '.')"),
    # an accounting export's negatives (QA: a bare "not a number" until
    # 2026-12-07, the refund's row of a cltv log refused without a hint)
    ("(5.00)", "not a number (a negative in parentheses? write -5.00, with '-' "
     "before it)"),
    ("12.5-", "not a number (a negative with a trailing minus? write -12.5, with "
     "'-' before it)"),
    ("\u22125", "not a number (a negative with the minus sign U+2212? write -5, "
     "with '-' before it)"),
    # a share formatted as a percentage (QA: a bare "not a number" until
    # 2026-12-08); Excel holds 2.5% as 0.025
    ("2.5%", "not a number (a percentage: write 0.025 for 2.5%, with no '%')"),
    ("135 %", "not a number (a percentage: write 1.35 for 135 %, with no '%')"),
    ("100%", "not a number (a percentage: write 1 for 100%, with no '%')"),
    ("5%%", "not a number"),
    ("-5-", "not a number"),
    ("abc", "not a number"),
    ("1.2.3", "not a number"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), NUMBERS)
def test_a_spreadsheets_number_says_how_to_write_it(text: str, message: str) -> None:
    assert number_problem(text) == message


DATES = [
    ("12/06/2026", "day and month in either order (12/06/2026 is 12 June or "
     "6 December): write 2026-06-12 or 2026-12-06 (YYYY-MM-DD)"),
    ("12.06.2026", "day and month in either order (12.06.2026 is 12 June or "
     "6 December): write 2026-06-12 or 2026-12-06 (YYYY-MM-DD)"),
    ("31/05/2026", "not ISO 8601: write 2026-05-31 (YYYY-MM-DD)"),
    ("05/31/2026 10:00", "not ISO 8601: write 2026-05-31 (YYYY-MM-DD)"),
    ("5/5/2026", "not ISO 8601: write 2026-05-05 (YYYY-MM-DD)"),
    ("2026/05/31", "not ISO 8601: write 2026-05-31 (YYYY-MM-DD, with '-')"),
    ("46362", "an Excel serial day number? (46362 is 2026-12-06 in Excel's date "
     "system): format the column as a date and write 2026-12-06 (YYYY-MM-DD)"),
    ("46362.5", "an Excel serial day number? (46362 is 2026-12-06 in Excel's date "
     "system): format the column as a date and write 2026-12-06 (YYYY-MM-DD)"),
    ("13/13/2026", None),
    ("2026-12-06", None),
    ("1997", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), DATES)
def test_a_spreadsheets_date_says_how_to_write_it(
    text: str, message: str | None
) -> None:
    assert date_problem(text) == message


def _network_with(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("cutoff", "message"),
    [
        ("7:00 PM", "a 12-hour time: write 19:00 (24-hour HH:MM)"),
        ("12:30 a.m.", "a 12-hour time: write 00:30 (24-hour HH:MM)"),
        ("0.7916666667", "an Excel time as a fraction of a day? (0.7916666667 is "
         "19:00): format the column as text and write 19:00 (24-hour HH:MM)"),
        ("13:00 PM", "not a time HH:MM or H:MM (00:00-23:59)"),
        ("1.5", "not a time HH:MM or H:MM (00:00-23:59)"),
    ],
)  # fmt: skip
def test_a_cutoff_a_spreadsheet_wrote_says_how_to_write_it(
    tmp_path: Path, cutoff: str, message: str
) -> None:
    """Excel shows a US time cell as ``7:00 PM`` and exports a number-formatted
    one as its fraction of a day: both were a bare "not a time HH:MM"."""
    nodes = (
        (TINY_NETWORK / "nodes.csv").read_text().replace(",18:00,", f",{cutoff},", 1)
    )
    folder = _network_with(tmp_path, "nodes.csv", nodes)
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: nodes.csv: row 2: field 'cutoff_local': value '{cutoff}': {message}\n",
    )


def test_a_network_table_says_how_to_write_a_number(tmp_path: Path) -> None:
    """Through the CLI: exit 1, one line naming file, row, field and value,
    and what to write (it was a bare "not a number")."""
    stock = 'node_id,sku,on_hand\nWH-EAST,TEE,100\nWH-EAST,MUG,"1,234"\n'
    folder = _network_with(tmp_path, "inventory.csv", stock)
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        result.output.strip()
        .splitlines()[-1]
        .endswith(
            "inventory.csv: row 3: field 'on_hand': value '1,234': not a number "
            "(',' separates thousands or decimals: write 1234 or 1.234; the "
            "decimal point is '.', with no separators)"
        )
    )


def test_orders_say_how_to_write_a_number_and_an_instant(
    tmp_path: Path, tiny_network: Network
) -> None:
    head = "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
    path = tmp_path / "orders.csv"
    path.write_text(head + "o1,2026-05-30T10:00:00Z,c1,10001,gold,TEE,12 \n")
    assert read_orders(path, tiny_network).line_qty.tolist() == [12]
    path.write_text(head + "o1,2026-05-30T10:00:00Z,c1,10001,gold,TEE,1 234\n")
    with pytest.raises(InputError) as caught:
        read_orders(path, tiny_network)
    assert str(caught.value) == (
        "orders.csv: row 2: field 'quantity': value '1 234': not a number "
        "(digits grouped with spaces: write 1234, with no separators)"
    )
    path.write_text(head + "o1,12/06/2026 10:00,c1,10001,gold,TEE,1\n")
    with pytest.raises(InputError) as caught:
        read_orders(path, tiny_network)
    assert str(caught.value) == (
        "orders.csv: row 2: field 'created_at': value '12/06/2026 10:00': day and "
        "month in either order (12/06/2026 is 12 June or 6 December): write "
        "2026-06-12 or 2026-12-06 (an ISO 8601 date-time with its offset, "
        "YYYY-MM-DDTHH:MM:SSZ)"
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        # unquoted, the comma splits the cell: a field too many, not 125
        ("c1,2026-05-01,12,5", "value 'c1,2026-05-01,12,5': 4 fields where the "
         "header has 3 (extra: '5')"),
        ('c1,2026-05-01,"12,5"', "field 'amount': value '12,5': not a number "
         "(a decimal comma? write 12.5: the decimal point is '.')"),
        ("c1,2026-05-01,$12.50", "field 'amount': value '$12.50': not a number "
         "(a currency sign: write 12.50, the number alone)"),
        ('c1,2026-05-01,"1.234,56"', "field 'amount': value '1.234,56': not a "
         "number (digits grouped with '.' and a decimal comma: write 1234.56, "
         "with no separators)"),
        ("c1,2026-05-01,1'234", "field 'amount': value \"1'234\": not a number "
         "(digits grouped with apostrophes: write 1234, with no separators)"),
        ("c1,46173,12.50", "field 'order_date': value '46173': an Excel serial "
         "day number? (46173 is 2026-05-31 in Excel's date system): format the "
         "column as a date and write 2026-05-31 (YYYY-MM-DD)"),
    ],
)  # fmt: skip
def test_a_transaction_log_says_how_to_write_a_cell(
    tmp_path: Path, row: str, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("customer_id,order_date,amount\nc0,2026-05-01,3\n" + row + "\n")
    with pytest.raises(InputError) as caught:
        read_transactions(path)
    assert str(caught.value) == f"{path}: row 3: {message}"
    if message.startswith("field"):  # said alike when skipped and counted
        _, report = read_transactions(path, skip_bad_rows=True)
        assert report.n_bad == 1 and report.examples[0].endswith(message)


def test_a_scores_file_says_how_to_write_a_spend(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        'customer_id,predicted_spend,p_active,segment\nc1,"1,234.50",0.5,gold\n'
    )
    with pytest.raises(InputError) as caught:
        read_cltv_scores(path)
    assert str(caught.value) == (
        "scores.csv: row 2: field 'predicted_spend': value '1,234.50': not a "
        "number (digits grouped with ',': write 1234.50, with no separators)"
    )


def test_an_events_instant_says_how_to_write_it(
    tmp_path: Path, tiny_network: Network
) -> None:
    event = {"event_id": "e1", "ts": "31/05/2026 10:00", "node_id": "WH-EAST",
             "type": "staffing", "value": 85}  # fmt: skip
    path = tmp_path / "ev.jsonl"
    path.write_text(json.dumps(event) + "\n")
    with pytest.raises(InputError) as caught:
        read_event_file(path, tiny_network)
    assert str(caught.value) == (
        "ev.jsonl: row 1: field 'ts': value '31/05/2026 10:00': not ISO 8601: "
        "write 2026-05-31 (an instant, YYYY-MM-DDTHH:MM[:SS[.f]] and Z, "
        "±HH:MM, ±HHMM or ±HH)"
    )


COLUMNS = (Column("id"), Column("count", "int", min=0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id;count\na;1\n", "t.csv: row 1: field 'id': missing column (has "
         "['id;count']): the header is one column, its names separated by ';', "
         "not commas: save the file as CSV UTF-8 (comma delimited)"),
        ("id\tcount\na\t1\n", "t.csv: row 1: field 'id': missing column (has "
         "['id\\tcount']): the header is one column, its names separated by "
         "tabs, not commas: save the file as CSV UTF-8 (comma delimited)"),
        ("ID, Count\na,1\n", "t.csv: row 1: field 'id': missing column (has "
         "['ID', 'Count']): 'ID' is written otherwise (names are exact): name "
         "it 'id'"),
        ("id,count\na,1,,\n", "t.csv: row 2: value 'a,1,,': 4 fields where the "
         "header has 2 (extra: '', ''): empty fields past the last column, as a "
         "spreadsheet exports its empty columns; delete the trailing commas"),
        # an export meant for Excel: its separator hint was taken for the
        # header, and the real header was "row 2: 2 fields where the header
        # has 1"
        ("sep=,\r\nid,count\r\na,1\r\n", "t.csv: row 1: value 'sep=,': Excel's "
         "separator hint, not the header: delete this line (the column names "
         "must be line 1)"),
        # two exports joined (cat east.csv west.csv): the second header was
        # "row 3: field 'count': value 'count': not a number"
        ("id,count\r\na,1\r\n\ufeffid,count\r\nb,2\r\n", "t.csv: row 3: value "
         "'id,count': the header again (files joined one after another?): "
         "delete this line"),
        ('"sep=;"\nid;count\na;1\n', "t.csv: row 1: value '\"sep=;\"': Excel's "
         "separator hint, not the header: delete this line (the column names "
         "must be line 1)"),
    ],
)  # fmt: skip
def test_an_export_of_another_shape_says_what_to_do(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_table(path, "t", COLUMNS)
    assert str(caught.value) == message


def test_the_empty_columns_right_of_the_data_are_read_past(tmp_path: Path) -> None:
    """``id,count,,`` (a spreadsheet's touched, empty columns) was "column
    named twice" at ''; a nameless column holding a value stays an extra
    column, and a named one twice is still refused."""
    path = tmp_path / "t.csv"
    path.write_text("id,count,,\r\na,1,,\r\nb,2,,\r\n,,,\r\n")
    frame, _ = read_table(path, "t", COLUMNS)
    assert frame["count"].tolist() == [1, 2]
    assert list(frame.columns) == ["id", "count"]
    path.write_text("id,count,,\na,1,,x\n")
    frame, _ = read_table(path, "t", COLUMNS)
    assert frame["count"].tolist() == [1] and len(frame.columns) == 3
    path.write_text("id,count,count,,\na,1,2,,\n")
    with pytest.raises(InputError, match=r"field 'count': column named twice$"):
        read_table(path, "t", COLUMNS)
    log = tmp_path / "log.csv"
    log.write_text("customer_id,order_date,amount,,\nc1,2026-05-01,3,,\n")
    assert read_transactions(log)[1].n_rows == 1


def test_a_transaction_log_in_semicolons_or_other_case_says_so(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("sep=,\ncustomer_id,order_date,amount\nc1,2026-05-01,3\n")
    with pytest.raises(InputError, match="row 1: value 'sep=,': Excel's separator"):
        read_transactions(log)
    log.write_text("customer_id;order_date;amount\nc1;2026-05-01;3\n")
    with pytest.raises(InputError) as caught:
        read_transactions(log)
    assert str(caught.value) == (
        f"{log}: row 1: field 'customer_id': missing column (have: "
        "customer_id;order_date;amount: the header is one column, its names "
        "separated by ';', not commas: save the file as CSV UTF-8 (comma "
        "delimited))"
    )
    log.write_text("Customer ID,order_date,amount\nc1,2026-05-01,3\n")
    with pytest.raises(InputError) as caught:
        read_transactions(log)
    assert str(caught.value).endswith(
        "missing column (have: Customer ID, order_date, amount: 'Customer ID' "
        "is written otherwise (names are exact): name it 'customer_id')"
    )


@pytest.mark.parametrize(
    ("column", "written"),
    [("quantity", "Quantity"), ("order_id", "OrderID"), ("currency", "CURRENCY")],
)
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_an_optional_log_column_in_other_case_is_refused(
    tmp_path: Path, column: str, written: str, suffix: str
) -> None:
    """An optional column of the transaction log written otherwise was read
    as an extra column and dropped without a word: ``Quantity`` trained the
    model without the quantities, ``CURRENCY`` skipped the one-currency
    check (yen summed as dollars), ``OrderID`` the order-id checks; exit 0."""
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "order_date": ["2026-05-01", "2026-05-02"],
            "amount": ["3", "4"],
            written: ["1", "2"] if column != "currency" else ["USD", "JPY"],
        }
    )
    log = tmp_path / f"log.{suffix}"
    if suffix == "csv":
        frame.to_csv(log, index=False)
    else:
        frame.to_parquet(log)
    with pytest.raises(InputError) as caught:
        read_transactions(log)
    row = "row 1: " if suffix == "csv" else ""
    assert str(caught.value) == (
        f"{log}: {row}field '{written}': column '{written}' would be ignored: "
        f"the column is named '{column}' (names are exact): name it so, or "
        "rename it if it is another column"
    )
    frame.rename(columns={written: column}).to_csv(tmp_path / "right.csv", index=False)
    if column != "currency":  # named right, it is read (the yen row refused)
        assert read_transactions(tmp_path / "right.csv")[0].n_rows == 2


def test_a_profile_column_in_other_case_is_refused(tmp_path: Path) -> None:
    """A profile's ``Region`` was dropped without a word: the model trained
    without the feature, exit 0."""
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("customer_id,Region\nc1,north\n")
    with pytest.raises(InputError) as caught:
        read_profiles(profiles)
    assert str(caught.value) == (
        f"{profiles}: row 1: field 'Region': column 'Region' would be ignored: "
        "the column is named 'region' (names are exact): name it so, or rename "
        "it if it is another column"
    )
    profiles.write_text("customer_id,region,notes\nc1,north,x\n")
    assert read_profiles(profiles)[0].columns == ("region",)


def test_stock_load_of_a_european_export_stores_nothing(tmp_path: Path) -> None:
    """``stock load`` of a ';'-separated count with decimal commas: exit 1,
    one line, and the store's stock as it was."""
    state = tmp_path / "state.db"
    count = tmp_path / "count.csv"
    count.write_text("node_id;sku;on_hand\nWH-EAST;TEE;80\n")
    args = ["stock", "load", "--network", str(TINY_NETWORK), "--state", str(state)]
    result = CliRunner().invoke(cli, [*args, "--inventory", str(count)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: count.csv: row 1: field 'node_id': missing column (has "
        "['node_id;sku;on_hand']): the header is one column, its names "
        "separated by ';', not commas: save the file as CSV UTF-8 (comma "
        "delimited)"
    ]
    count.write_text('node_id,sku,on_hand\nWH-EAST,TEE,"1,234"\n')
    result = CliRunner().invoke(cli, [*args, "--inventory", str(count)])
    assert result.exit_code == 1
    assert "value '1,234': not a number (',' separates" in result.output
    with open_store(state) as store:
        assert len(store.inventory_frame()) == 0


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("123", "skus.csv has '00123': an id whose leading zeros were lost (a "
         "spreadsheet read it as a number): format the column as text and "
         "write 00123"),
        ("00123.0", "skus.csv has '00123': an id written as a number ('.0'): "
         "write 00123"),
        ("123.0", "skus.csv has '00123': an id whose leading zeros were lost (a "
         "spreadsheet read it as a number): format the column as text and "
         "write 00123"),
    ],
)  # fmt: skip
def test_an_id_a_spreadsheet_read_as_a_number_is_named(
    tmp_path: Path, written: str, hint: str
) -> None:
    """``00123`` in skus.csv and ``123`` (or ``123.0``) in inventory.csv:
    "unknown sku" beside a file that visibly holds it; never matched."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    skus = folder / "skus.csv"
    skus.write_text(skus.read_text() + "00123,0.3,30,25,3,false,false\n")
    stock = folder / "inventory.csv"
    stock.write_text(stock.read_text() + f"WH-EAST,{written},5\n")
    row = len(stock.read_text().splitlines())
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: inventory.csv: row {row}: field 'sku': value '{written}': "
        f"unknown sku (not in skus.csv); {hint}"
    )
