"""Every reader on corrupted versions of a valid seed: it loads, or raises
``InputError`` naming the file (and the row or field when the corruption is
in a row), never another exception and never a warning."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import TINY_NETWORK
from tests.fuzz.contract import expect_contract, fuzz
from tests.fuzz.scratch import file_with, network_with
from tests.fuzz.seeds import (
    BROWSING,
    CDNOW,
    CLTV_SCORES,
    EVENTS,
    GAP,
    NETWORK_TABLES,
    ORDERS,
    PROFILES,
    SETTINGS,
    TRANSACTIONS,
    network_table,
)
from tests.fuzz.strategies import (
    Corrupted,
    corrupted_event,
    corrupted_event_lines,
    corrupted_npz,
    corrupted_parquet,
    corrupted_table,
    corrupted_tokens,
    corrupted_toml,
    python_values,
)
from tierflow.capacity.events import parse_event, read_event_file
from tierflow.cli.config import read_settings
from tierflow.cli.main import cli
from tierflow.cltv.scores_file import read_cltv_scores
from tierflow.data.network import Network, load_network
from tierflow.data.orders import read_orders
from tierflow.data.orlib_gap import read_orlib_gap
from tierflow.data.transactions import read_browsing, read_profiles, read_transactions
from tierflow.formulations.problem import AssignmentProblem

NETWORK_FILES = (*(f"{n}.csv" for n in NETWORK_TABLES), "inventory.parquet")
TINY = load_network(TINY_NETWORK)


@fuzz(short=40)
@given(table=st.sampled_from(NETWORK_TABLES), data=st.data())
def test_network_tables(table: str, data: st.DataObject) -> None:
    bad: Corrupted = data.draw(corrupted_table(network_table(table)))
    with network_with(f"{table}.csv", bad.data) as folder:
        expect_contract(
            "network tables (CSV)",
            partial(load_network, folder),
            NETWORK_FILES,
            located=bad.in_rows_only,
        )


@fuzz(short=10, long=1000)
@given(data=st.data())
def test_network_parquet_table(data: st.DataObject) -> None:
    seed = pd.read_csv(TINY_NETWORK / "inventory.csv")
    bad: Corrupted = data.draw(corrupted_parquet(seed))
    with network_with("inventory.parquet", bad.data, replace="inventory.csv") as folder:
        load = partial(load_network, folder)
        expect_contract("network tables (Parquet)", load, NETWORK_FILES)


@fuzz(short=30)
@given(data=st.data())
def test_orders(data: st.DataObject) -> None:
    bad: Corrupted = data.draw(corrupted_table(ORDERS))
    with file_with("orders.csv", bad.data) as path:
        expect_contract(
            "orders",
            partial(read_orders, path, TINY),
            ["orders.csv"],
            located=bad.in_rows_only,
        )


def _log_contract(
    reader: str, load: Any, name: str, bad: Corrupted, skip: bool
) -> None:
    with file_with(name, bad.data) as path:
        expect_contract(
            reader,
            partial(load, path, skip_bad_rows=skip),
            [name],
            located=bad.in_rows_only and not skip,
        )


CSV_LOGS = [
    ("transactions (CSV)", TRANSACTIONS, read_transactions, "tx.csv"),
    ("profiles", PROFILES, read_profiles, "profiles.csv"),
    ("browsing", BROWSING, read_browsing, "browsing.csv"),
]


@pytest.mark.parametrize(("reader", "seed", "load", "name"), CSV_LOGS)
@fuzz(short=20)
@given(data=st.data(), skip=st.booleans())
def test_csv_logs(
    reader: str, seed: str, load: Any, name: str, data: st.DataObject, skip: bool
) -> None:
    bad = data.draw(corrupted_table(seed))
    _log_contract(reader, load, name, bad, skip)


@fuzz(short=15, long=1000)
@given(data=st.data(), skip=st.booleans())
def test_transactions_parquet(data: st.DataObject, skip: bool) -> None:
    seed = pd.read_csv(pd.io.common.StringIO(TRANSACTIONS), dtype=str)
    bad = data.draw(corrupted_parquet(seed))
    _log_contract("transactions (Parquet)", read_transactions, "tx.parquet", bad, skip)


@fuzz(short=15)
@given(data=st.data(), skip=st.booleans())
def test_transactions_cdnow(data: st.DataObject, skip: bool) -> None:
    bad = data.draw(corrupted_tokens(CDNOW))

    def load(path: Path, skip_bad_rows: bool) -> object:
        return read_transactions(path, fmt="cdnow", skip_bad_rows=skip_bad_rows)

    _log_contract("transactions (CDNOW)", load, "cdnow.txt", bad, skip)


@fuzz(short=30)
@given(data=st.data())
def test_gap_files(data: st.DataObject) -> None:
    bad: Corrupted = data.draw(corrupted_tokens(GAP))
    with file_with("gap.txt", bad.data) as path:
        expect_contract("OR-Library GAP", partial(read_orlib_gap, path), ["gap.txt"])


@fuzz(short=25)
@given(bad=corrupted_npz())
def test_npz_problems(bad: Corrupted) -> None:
    with file_with("p.npz", bad.data) as path:
        load = partial(AssignmentProblem.load_npz, path)
        expect_contract("problem (.npz)", load, ["p.npz"])


@fuzz(short=40)
@given(bad=corrupted_event_lines(EVENTS))
def test_event_lines(bad: Corrupted) -> None:
    with file_with("ev.jsonl", bad.data) as path:
        expect_contract(
            "capacity events (JSON lines)",
            partial(read_event_file, path, TINY),
            ["ev.jsonl"],
            located=True,
        )


@fuzz(short=30)
@given(seed=st.sampled_from(EVENTS), data=st.data())
def test_event_objects(seed: dict[str, Any], data: st.DataObject) -> None:
    obj = data.draw(corrupted_event(seed, python_values()))
    network: Network = TINY
    expect_contract(
        "capacity events (objects)",
        lambda: parse_event(obj, network, file="request", row=1),
        ["request"],
        located=True,
    )


@fuzz(short=40)
@given(bad=corrupted_toml(SETTINGS))
def test_settings_files(bad: Corrupted) -> None:
    """The settings file as ``tierflow --config F`` reads it: its tables and
    keys against every command's options, ``[tiers]`` as a tier policy."""
    with file_with("tierflow.toml", bad.data) as path:
        error = expect_contract(
            "settings (TOML)",
            partial(read_settings, path, click.Context(cli)),
            ["tierflow.toml"],
            rejects=click.ClickException,
        )
        if error is not None:  # a key, or the line and column of the syntax
            message = str(error)  # or of the first byte that is not UTF-8
            assert (
                "key '" in message
                or "(at line " in message
                or ("not valid TOML" in message)
                or ("not UTF-8 text" in message and " at line " in message)
                or "UTF-16" in message
            ), message


@fuzz(short=20)
@given(data=st.data())
def test_cltv_scores(data: st.DataObject) -> None:
    bad: Corrupted = data.draw(corrupted_table(CLTV_SCORES))
    with file_with("scores.csv", bad.data) as path:
        expect_contract(
            "CLTV scores",
            partial(read_cltv_scores, path),
            ["scores.csv"],
            located=bad.in_rows_only,
        )
