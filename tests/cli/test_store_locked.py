"""A batch command whose state store another process holds locked (a
``sqlite3`` shell, another job's commit) waits ``$TIERFLOW_STORE_WAIT_S``
(default: the store's 60 s), then stops with one line naming the store and
the wait, exit 1, and writes nothing. It used to wait the minute and say only
"database is locked"."""

from __future__ import annotations

import inspect
import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.cli.test_allocate import _tree, _write_orders
from tests.conftest import TINY_NETWORK
from tests.demand_history import write_history
from tests.locked_store import HOLDERS, locked_by_another_process
from tierflow.cli.main import cli
from tierflow.cli.state_location import STORE_WAIT_ENV, store_wait_s
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.store import SqliteStore
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)

#: The wait the tests ask for (a batch command's own is a minute).
WAIT = "0.5"


def _locked(db: Path) -> str:
    return (
        f"Error: {db}: locked by another process; gave up after waiting {WAIT} s "
        "for its write lock\n"
    )


def _invoke(args: list[str]) -> tuple[Result, float]:
    start = time.monotonic()
    result = CliRunner().invoke(cli, args)
    return result, time.monotonic() - start


def _rows(db: Path) -> dict[str, int]:
    """Rows of every table (read-only: what a failed command must not change)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        ]
        return {
            t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables
        }


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """An allocation folder holding a finished run and its state store."""
    orders = _write_orders(tmp_path / "first.csv", 60)
    out = tmp_path / "out"
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    done = CliRunner().invoke(cli, [*args, "--engine", "greedy", "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


@pytest.mark.parametrize("holder", HOLDERS)
def test_allocate_on_a_locked_store_names_it_and_leaves_the_folder_as_it_was(
    finished: Path, tmp_path: Path, holder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_WAIT_ENV, WAIT)
    db = finished / "state.db"
    before, rows = _tree(finished), _rows(db)
    orders = _write_orders(tmp_path / "second.csv", 60, seed=1)
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    args += ["--engine", "greedy"]
    fresh = tmp_path / "fresh"
    with locked_by_another_process(db, holder):
        again, took = _invoke([*args, "--out", str(finished)])
        elsewhere, _ = _invoke([*args, "--out", str(fresh), "--state", str(db)])
    for result in (again, elsewhere):
        assert result.exit_code == 1, result.output
        assert result.stderr.endswith(_locked(db)), result.output
        assert "Traceback" not in result.output
    assert took < 30, took  # the wait asked for, not the store's minute
    # no output of the new run, no partial journal, the store's rows as they were
    after = {k: v for k, v in _tree(finished).items() if k in before}
    assert after == before and set(_tree(finished)) - set(before) <= {
        "state.db-wal",
        "state.db-shm",
    }
    assert _rows(db) == rows
    assert not fresh.exists()
    # the lock gone, the same command runs
    done, _ = _invoke([*args, "--out", str(finished), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["n_orders"] == 60


def _capacity(command: str, tmp_path: Path) -> list[str]:
    """``capacity ingest`` or ``capacity forecast``, storing events."""
    if command == "ingest":
        events = tmp_path / "events.jsonl"
        events.write_text(
            '{"event_id": "e1", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", '
            '"type": "backlog", "value": 10}\n'
        )
        return ["capacity", "ingest", "--events", str(events)]
    history = write_history(tmp_path / "history.csv")
    return ["capacity", "forecast", "--orders", str(history)]


@pytest.mark.parametrize("command", ["ingest", "forecast"])
def test_capacity_on_a_locked_store_names_it(
    finished: Path, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_WAIT_ENV, WAIT)
    db = finished / "state.db"
    args = [*_capacity(command, tmp_path), "--network", str(TINY_NETWORK)]
    args += ["--state", str(db)]
    rows = _rows(db)
    with locked_by_another_process(db):
        result, took = _invoke(args)
    assert result.exit_code == 1, result.output
    assert result.output == _locked(db)
    assert took < 30, took
    assert _rows(db) == rows
    assert CliRunner().invoke(cli, args).exit_code == 0


def test_cltv_retrain_on_a_locked_store_names_it_and_makes_nothing_current(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scores go to the store before the challenger is made current: no
    champion whose scores never went out, no ``RETRAIN.json`` saying the day
    is done; the trained version stays, not current, and the next run uses
    it."""
    monkeypatch.setenv(STORE_WAIT_ENV, WAIT)
    db = finished / "state.db"
    transactions = tmp_path / "tx.csv"
    write_transactions(generate_transactions(300, seed=5), transactions)
    models = tmp_path / "models"
    args = ["cltv", "retrain", "--transactions", str(transactions)]
    args += ["--model-dir", str(models), "--as-of", "2023-06-30"]
    args += ["--horizon-days", "60", "--state", str(db)]
    rows = _rows(db)
    with locked_by_another_process(db):
        result, _ = _invoke(args)
    assert result.exit_code == 1, result.output
    assert result.stderr.endswith(_locked(db)), result.output
    assert "Traceback" not in result.output
    assert not (models / "CURRENT").exists()
    assert not (models / "RETRAIN.json").exists()
    assert _rows(db) == rows
    (trained,) = ModelRegistry(models).versions()
    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    record = json.loads(again.stdout)
    assert (record["noop"], record["promoted"]) == (False, True)
    assert record["champion"] == trained
    assert record["published_rows"] == 300


@pytest.mark.parametrize(
    "given", ["abc", "-1", "nan", "inf", "86401", "1e400", "3_0", "٣٠"]
)
def test_a_bad_wait_is_one_line_before_anything_is_written(
    tmp_path: Path, given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_WAIT_ENV, given)
    orders = _write_orders(tmp_path / "orders.csv", 10)
    out = tmp_path / "out"
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: field '{STORE_WAIT_ENV}': value '{given}': not a number of "
        "seconds from 0 to 86400\n"
    )
    assert not out.exists()


def test_without_the_variable_a_batch_command_waits_the_store_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batch jobs wait out another job's commit: a minute on SQLite."""
    monkeypatch.delenv(STORE_WAIT_ENV, raising=False)
    assert store_wait_s() is None
    monkeypatch.setenv(STORE_WAIT_ENV, "  ")
    assert store_wait_s() is None
    monkeypatch.setenv(STORE_WAIT_ENV, "0")
    assert store_wait_s() == 0.0
    assert inspect.signature(SqliteStore).parameters["timeout_s"].default == 60.0
