"""The CLI on corrupted input files: exit 0, or exit 1 with one line
(``Error: ...``) and no traceback, and no output file left behind."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import TINY_NETWORK
from tests.fuzz.contract import COUNTS, fuzz
from tests.fuzz.scratch import file_with, network_with
from tests.fuzz.seeds import (
    EVENTS,
    GAP,
    NETWORK_TABLES,
    ORDERS,
    SETTINGS,
    STOCK,
    network_table,
)
from tests.fuzz.strategies import (
    Corrupted,
    corrupted_event_lines,
    corrupted_json_object,
    corrupted_npz,
    corrupted_table,
    corrupted_tokens,
    corrupted_toml,
)
from tierflow.cli.main import cli
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)


def _train(folder: Path, with_quantity: bool) -> tuple[Path, str]:
    """A model trained on a synthetic log, and a small valid log to score."""
    log = generate_transactions(300, seed=5)
    if not with_quantity:
        log = log.drop(columns=["quantity"])
    write_transactions(log, folder / "train.csv")
    args = ["cltv", "train", "--transactions", str(folder / "train.csv")]
    args += ["--as-of", "2023-06-30", "--horizon-days", "90", "--no-backtest"]
    trained = CliRunner().invoke(cli, [*args, "--model-dir", str(folder / "m")])
    assert trained.exit_code == 0, trained.output
    return folder / "m", log.head(40).to_csv(index=False, date_format="%Y-%m-%d")


@pytest.fixture(scope="module")
def cltv_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A model trained once without ``quantity``, and a
    small valid log to corrupt for scoring."""
    return _train(tmp_path_factory.mktemp("cltv"), with_quantity=False)


def expect_clean_exit(
    command: str, result: Result, folder: Path, before: set[str]
) -> None:
    """Exit 0, or exit 1 with one ``Error:`` line, no traceback and nothing
    new in ``folder``."""
    assert isinstance(result.exception, SystemExit | None), result.exc_info
    assert result.exit_code in (0, 1), result.output
    outcome = f"exit {result.exit_code}"
    COUNTS[(command, outcome)] += 1
    if result.exit_code == 1:
        assert result.output.startswith("Error: "), result.output
        assert result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
        left = {p.name for p in folder.iterdir()}
        assert left == before, left - before


def test_cltv_score_without_the_quantity_it_was_trained_with(tmp_path: Path) -> None:
    model_dir, seed = _train(tmp_path, with_quantity=True)
    path = tmp_path / "log.csv"
    log = pd.read_csv(io.StringIO(seed), dtype=str).drop(columns=["quantity"])
    log.to_csv(path, index=False)
    args = ["cltv", "score", "--transactions", str(path), "--as-of", "2023-06-30"]
    args += ["--model-dir", str(model_dir), "--out", str(tmp_path / "scores.csv")]
    result = CliRunner().invoke(cli, args)
    expect_clean_exit(
        "tierflow cltv score", result, tmp_path, {p.name for p in tmp_path.iterdir()}
    )
    assert result.output == (
        f"Error: {path}: field 'quantity': the model was trained with a quantity "
        "column in the transactions; score with the same inputs\n"
    )  # the file it is missing from is named, as for every other bad input


@fuzz(short=10, long=500)
@given(table=st.sampled_from(NETWORK_TABLES), data=st.data())
def test_network_validate(table: str, data: st.DataObject) -> None:
    bad: Corrupted = data.draw(corrupted_table(network_table(table)))
    with network_with(f"{table}.csv", bad.data) as folder:
        before = {p.name for p in folder.iterdir()}
        result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
        expect_clean_exit("tierflow network validate", result, folder, before)


@fuzz(short=10, long=500)
@given(data=st.data(), npz=st.booleans())
def test_solve(data: st.DataObject, npz: bool) -> None:
    bad: Corrupted = data.draw(corrupted_npz() if npz else corrupted_tokens(GAP))
    with file_with(("p.npz" if npz else "gap.txt"), bad.data) as path:
        tmp = path.parent
        args = ["solve", str(path), "--engine", "greedy", "--time-limit", "1"]
        args += ["--format", "npz"] if npz else []
        result = CliRunner().invoke(cli, args)
        expect_clean_exit("tierflow solve", result, tmp, {path.name})


@fuzz(short=8, long=500)
@given(data=st.data())
def test_cltv_score(cltv_model: tuple[Path, str], data: st.DataObject) -> None:
    model_dir, seed = cltv_model
    bad: Corrupted = data.draw(corrupted_table(seed))
    with file_with("log.csv", bad.data) as path:
        tmp = path.parent
        args = ["cltv", "score", "--transactions", str(path), "--as-of", "2023-06-30"]
        args += ["--model-dir", str(model_dir), "--out", str(tmp / "scores.csv")]
        result = CliRunner().invoke(cli, args)
        expect_clean_exit("tierflow cltv score", result, tmp, {path.name})


@fuzz(short=10, long=500)
@given(bad=corrupted_event_lines(EVENTS))
def test_capacity_ingest(bad: Corrupted) -> None:
    with file_with("ev.jsonl", bad.data) as path:
        tmp = path.parent
        args = ["capacity", "ingest", "--network", str(TINY_NETWORK)]
        args += ["--state", str(tmp / "state.db"), "--events", str(path)]
        result = CliRunner().invoke(cli, args)
        expect_clean_exit("tierflow capacity ingest", result, tmp, {path.name})


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def allocated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished ``tierflow allocate`` folder (the seed orders)."""
    folder = tmp_path_factory.mktemp("allocated")
    (folder / "orders.csv").write_text(ORDERS)
    result = CliRunner().invoke(cli, _allocate(folder / "orders.csv", folder / "out"))
    assert result.exit_code == 0, result.output
    return folder / "out"


def _allocate(orders: Path, out: Path) -> list[str]:
    return [
        "allocate", "--network", str(TINY_NETWORK), "--orders", str(orders),
        "--engine", "greedy", "--time-limit", "1", "--out", str(out),
    ]  # fmt: skip


@fuzz(short=10, long=500)
@given(data=st.data())
def test_allocate(allocated: Path, data: st.DataObject) -> None:
    """Corrupted orders: nothing written into a new ``--out`` folder, and a
    finished one (its store, allocations and summary) left byte-identical."""
    bad: Corrupted = data.draw(corrupted_table(ORDERS))
    with file_with("orders.csv", bad.data) as path:
        tmp = path.parent
        result = CliRunner().invoke(cli, _allocate(path, tmp / "out"))
        expect_clean_exit("tierflow allocate", result, tmp, {path.name})
        existing = tmp / "existing"
        shutil.copytree(allocated, existing)
        before = _tree(existing)
        again = CliRunner().invoke(cli, _allocate(path, existing))
        assert again.exit_code == result.exit_code, again.output
        if again.exit_code == 1:
            assert _tree(existing) == before


@fuzz(short=6, long=500)
@given(bad=corrupted_toml(SETTINGS))
def test_settings(bad: Corrupted) -> None:
    """``tierflow --config F solve``: the file's ``[solve]`` values checked
    as the command line's are, every other table and ``[tiers]`` as read."""
    with file_with("tierflow.toml", bad.data) as path:
        tmp = path.parent
        (tmp / "gap.txt").write_text(GAP)
        before = {p.name for p in tmp.iterdir()}
        args = ["--config", str(path), "solve", str(tmp / "gap.txt")]
        result = CliRunner().invoke(cli, args)
        expect_clean_exit("tierflow --config F solve", result, tmp, before)
        if result.exit_code == 1:  # a bad file is named
            assert "tierflow.toml" in result.output, result.output


def _stock_load(path: Path, state: Path) -> list[str]:
    return [
        "stock", "load", "--network", str(TINY_NETWORK), "--state", str(state),
        "--inventory", str(path),
    ]  # fmt: skip


def _stock_shown(state: Path) -> str:
    args = ["stock", "show", "--network", str(TINY_NETWORK), "--state", str(state)]
    shown = CliRunner().invoke(cli, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    return shown.output


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store the seed cycle count was loaded into."""
    folder = tmp_path_factory.mktemp("stocked")
    (folder / "count.csv").write_text(STOCK)
    result = CliRunner().invoke(cli, _stock_load(folder / "count.csv", folder / "s.db"))
    assert result.exit_code == 0, result.output
    return folder / "s.db"


@fuzz(short=3, long=500)
@given(data=st.data())
def test_stock_load(stocked: Path, data: st.DataObject) -> None:
    """A corrupted stock file: no store made where there was none, and a
    loaded store's stock unchanged."""
    bad: Corrupted = data.draw(corrupted_table(STOCK))
    with file_with("count.csv", bad.data) as path:
        tmp = path.parent
        result = CliRunner().invoke(cli, _stock_load(path, tmp / "state.db"))
        expect_clean_exit("tierflow stock load", result, tmp, {path.name})
        if result.exit_code == 1:
            assert "count.csv" in result.output, result.output
        existing = tmp / "existing"
        existing.mkdir()
        shutil.copy(stocked, existing / "s.db")
        before = _stock_shown(existing / "s.db")
        again = CliRunner().invoke(cli, _stock_load(path, existing / "s.db"))
        assert again.exit_code == result.exit_code, again.output
        if again.exit_code == 1:
            assert _stock_shown(existing / "s.db") == before


@fuzz(short=2, long=500)
@given(data=st.data(), current=st.booleans())
def test_cltv_score_model_dir(
    cltv_model: tuple[Path, str], data: st.DataObject, current: bool
) -> None:
    """``cltv score`` with a damaged model folder: its version's
    ``metadata.json``, or ``CURRENT``, corrupted."""
    model_dir, seed = cltv_model
    version = (model_dir / "CURRENT").read_text().strip()
    if current:
        bad: Corrupted = data.draw(corrupted_tokens(version + "\n"))
        name = "CURRENT"
    else:
        meta = json.loads((model_dir / version / "metadata.json").read_text())
        bad = data.draw(corrupted_json_object(meta))
        name = "metadata.json"
    with file_with("log.csv", seed.encode()) as path:
        tmp = path.parent
        models = tmp / "models"
        shutil.copytree(model_dir, models)
        damaged = models / "CURRENT" if current else models / version / name
        damaged.write_bytes(bad.data)
        args = ["cltv", "score", "--transactions", str(path), "--as-of", "2023-06-30"]
        args += ["--model-dir", str(models), "--out", str(tmp / "scores.csv")]
        result = CliRunner().invoke(cli, args)
        expect_clean_exit(
            "tierflow cltv score (model folder)", result, tmp, {path.name, "models"}
        )
        if result.exit_code == 1:  # the damaged file is named
            assert name in result.output, result.output
