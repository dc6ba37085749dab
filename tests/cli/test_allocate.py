"""`tierflow allocate` end to end: the contract, bad input, crash and resume,
and the same code on a Dask cluster."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tests.allocation_checks import assert_rows_verify
from tests.conftest import DATA_DIR, ROOT
from tests.dask_local import local_cluster
from tests.postgres import run_sql, set_schema_version
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.cli.main import cli
from tierflow.data.network import load_network
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.store import SCHEMA_VERSION, StateStore, open_store
from tierflow.data.store_location import is_postgres_url
from tierflow.data.wording import counted
from tierflow.formulations.problem import AssignmentProblem
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.hindsight import hindsight_proof
from tierflow.orchestration.allocation.outputs import OUTPUT_FILES
from tierflow.solver import SolveParams, Status, linear_program
from tierflow.solver.engine import BundledEngine, Capabilities, Hint
from tierflow.solver.result import SolveResult
from tierflow.solver.verify import check_allocation_rows

TINY = DATA_DIR / "tiny_network"
SUMMARY_FIELDS = {
    "n_orders",
    "n_allocated",
    "n_deferred",
    "n_unfillable",
    "total_cost",
    "shipping_cost",
    "handling_cost",
    "penalty_cost",
    "split_orders",
    "rerouted",
    "platinum_on_time_rate",
    "service_level_by_tier",
    "max_node_utilization",
    "runtime_s",
    "batch_solve_p95_s",
    "engine",
    "lp_bound",
    "repriced_total_cost",
    "forecast",
}
COLUMNS = [
    "order_id",
    "sku",
    "quantity",
    "node_id",
    "service",
    "ship_date",
    "promised_date",
    "cost",
    "batch",
    "status",
    "reason",
]


def _write_orders(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` single-line orders on the tiny network over a day, seeded."""
    rng = np.random.default_rng(seed)
    dests = ["100", "606", "900", "981", "331"]
    tiers = ["platinum", "gold", "silver", "overflow"]
    lines = ["order_id,created_at,customer_id,dest,tier,sku,quantity"]
    for i in range(n):
        minute = int(i * 1000 / n)
        stamp = f"2026-01-05T{6 + minute // 60:02d}:{minute % 60:02d}:00-05:00"
        sku = "TEE" if rng.random() < 0.8 else "MUG"
        lines.append(
            f"O{i:05d},{stamp},C{i % 37},{dests[i % 5]},{tiers[rng.integers(4)]},"
            f"{sku},{1 + int(rng.integers(2))}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _allocate(orders: Path, out: Path, *options: str) -> Result:
    """``tierflow allocate`` on the tiny network, in process."""
    return CliRunner().invoke(
        cli,
        [
            "allocate",
            "--network",
            str(TINY),
            "--orders",
            str(orders),
            *options,
            "--out",
            str(out),
        ],
    )


def test_allocate_writes_the_contract(tmp_path: Path) -> None:
    orders = _write_orders(tmp_path / "orders.csv", 60)
    out = tmp_path / "out"
    result = _allocate(
        orders, out, "--engine", "cpsat", "--batch-minutes", "60", "--time-limit", "2",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= SUMMARY_FIELDS
    assert summary["n_orders"] == 60 and summary["engine"] == "cpsat"
    assert summary["forecast"] == "intraday"  # no --history, no override
    assert summary["repriced_total_cost"] == pytest.approx(
        summary["total_cost"], abs=0.005
    )
    assert summary["repricing_problems"] == 0
    rows = pd.read_csv(out / "allocations.csv", dtype={"node_id": str})
    assert list(rows.columns[: len(COLUMNS)]) == COLUMNS
    # then what each line's cost is made of, adding up to it
    assert list(rows.columns[-3:]) == ["shipping", "handling", "penalty"]
    placed = rows[rows["status"] == "allocated"]
    assert len(placed) > 0
    parts = placed[["shipping", "handling", "penalty"]].sum(axis=1)
    assert np.allclose(parts, placed["cost"], atol=0.01)
    # no floating-point residue passed off as a penalty (1e-15, even -1e-15)
    penalty = placed["penalty"].abs()
    assert ((penalty == 0) | (penalty > 1e-6)).all(), placed["penalty"].tolist()
    assert json.loads((out / "summary.json").read_text())["n_orders"] == 60
    net = load_network(TINY)
    problems = check_allocation_rows(
        rows.astype(object).fillna(""),
        node_ids=net.node_ids,
        sku_ids=net.sku_ids,
        capacity=net.capacity,
        inventory=net.inventory,
        sku_complexity=net.sku_complexity,
        order_lines=read_orders(orders, net).to_frame()[
            ["order_id", "sku", "quantity"]
        ],
    )
    assert problems == []
    assert not (out / "allocations.partial.csv").exists()


def test_an_unknown_reserved_node_exits_1_naming_its_row(tmp_path: Path) -> None:
    """A line reserved at checkout at a node the network lacks (the store's
    export's ``node_id``) is refused: its units were taken elsewhere."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity,node_id\n"
        "A,2026-01-05T10:00:00-05:00,C1,100,platinum,TEE,1,WH-EAST\n"
        "B,2026-01-05T10:00:00-05:00,C2,100,platinum,TEE,1,WH-NORTH\n"
    )
    out = tmp_path / "out"
    result = _allocate(orders, out)
    assert result.exit_code == 1
    assert (
        "orders.csv: row 3: field 'node_id': value 'WH-NORTH': unknown node"
        in result.output
    )
    assert "Traceback" not in result.output
    assert not out.exists()


class _MisReporting(BundledEngine):
    """An engine that places every item at the first node and reports a
    cost of 0: ``verify`` refuses its answer, inside the batch."""

    name = "greedy"
    capabilities = Capabilities(deterministic=True)

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        return SolveResult(
            engine=self.name,
            status=Status.FEASIBLE,
            objective=0.0,
            bound=None,
            runtime_s=0.0,
            assignment=np.zeros(problem.n_items, dtype=np.int64),
        )


def test_an_error_inside_a_batch_names_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine's answer ``verify`` refuses stops the run with one line
    naming the batch (its index and window) before the error, exit 1: it
    named an item or cost of a problem nobody could see, and not where the
    day stopped (until 2026-12-06)."""
    from tierflow.solver import registry

    monkeypatch.setitem(registry._ENGINES, "greedy", _MisReporting())
    orders = _write_orders(tmp_path / "orders.csv", 60)
    result = _allocate(orders, tmp_path / "out", "--engine", "greedy")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(
        "Error: batch 0 of 60 (orders of 2026-01-05T11:00:00Z to "
        "2026-01-05T11:15:00Z): greedy: reported objective 0.0 but the "
        "assignment costs "
    ), line


def test_bad_orders_exit_1_and_write_nothing(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,0\n"
    )
    out = tmp_path / "out"
    result = _allocate(orders, out)
    assert result.exit_code == 1
    assert "orders.csv: row 2: field 'quantity': value '0'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_hindsight_with_events_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """A hindsight plan has no batch boundary to apply events at: the events
    were dropped without a word, and the plan used a node after its outage
    (QA). Refused as a usage error; so is a capacity scale past its range
    (1e6 passed the flag and failed as node 0's capacity)."""
    orders = tmp_path / "orders.csv"
    orders.write_text(_HEADER + _ROW + "1\n")
    events = tmp_path / "ev.jsonl"
    events.write_text("")
    out = tmp_path / "out"
    result = _allocate(orders, out, "--hindsight", "--events", str(events))
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "Error: --events are applied at batch boundaries; --hindsight plans the "
        "whole day as one problem, with none: give one or the other\n"
    )
    scaled = _allocate(orders, out, "--capacity-scale", "1e6")
    assert scaled.exit_code == 2, scaled.output
    assert "Invalid value for '--capacity-scale'" in scaled.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:8786"],
         "Error: --scheduler is the Dask cluster of --backend dask; with "
         "--backend none it would be ignored: give --backend dask or drop it\n"),
        (["--backend", "loky", "--scheduler", "tcp://127.0.0.1:8786"],
         "Error: --scheduler is the Dask cluster of --backend dask; with "
         "--backend loky it would be ignored: give --backend dask or drop it\n"),
        (["--jobs", "4"],
         "Error: --jobs sets the parallel partitions of --backend loky or "
         "threading; with --backend none it would be ignored: give one of "
         "them or drop it\n"),
    ],
)  # fmt: skip
def test_flags_the_backend_would_ignore_are_refused(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    """``--scheduler ADDR`` without ``--backend dask`` (and ``--jobs N``
    without a backend that runs jobs) ran a single-process allocation
    without a word: the address was never even checked. A usage error,
    as for the other combinations that cannot both apply; nothing written."""
    orders = _write_orders(tmp_path / "orders.csv", 5)
    out = tmp_path / "out"
    result = _allocate(orders, out, "--engine", "greedy", *flags)
    assert result.exit_code == 2, result.output
    assert result.output.endswith(message)
    assert not out.exists()


def test_batch_minutes_and_batch_size_together_are_refused(tmp_path: Path) -> None:
    """``--batch-minutes 30 --batch-size 5`` ran 12 batches of 5 orders: the
    size replaced the windows without a word (the synopsis offers one or the
    other). Both on the command line are a usage error; a window from the
    settings file or the environment still gives way to a --batch-size."""
    orders = _write_orders(tmp_path / "orders.csv", 60)
    out = tmp_path / "out"
    both = ["--batch-minutes", "30", "--batch-size", "5"]
    result = _allocate(orders, out, "--engine", "greedy", *both)
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "Error: --batch-minutes and --batch-size are two ways to cut the day "
        "into batches: give one\n"
    )
    assert not out.exists()
    runner = CliRunner(env={"TIERFLOW_ALLOCATE_BATCH_MINUTES": "30"})
    by_size = runner.invoke(
        cli,
        [
            "allocate", "--network", str(TINY), "--orders", str(orders),
            "--engine", "greedy", "--batch-size", "5", "--out", str(out), "--json",
        ],
    )  # fmt: skip
    assert by_size.exit_code == 0, by_size.output
    assert json.loads(by_size.stdout)["n_batches"] == 12


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


_HEADER = "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
_ROW = "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,"


_SCORES = "customer_id,predicted_spend,p_active,segment\nC1,10,0.5,gold\n"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished greedy run of ``_write_orders(..., 30)``, made once: each
    test takes a copy of its own."""
    folder = tmp_path_factory.mktemp("finished")
    out = folder / "existing"
    good = _write_orders(folder / "good.csv", 30)
    assert _allocate(good, out, "--engine", "greedy").exit_code == 0
    return out


@pytest.mark.parametrize(
    ("bad", "given", "message"),
    [
        ("quantity", "", "orders.csv: row 3: field 'quantity': value '99999999999999999999999'"),
        ("duplicate", "", "orders.csv: row 3: field 'customer_id': value 'C2'"),
        ("cltv", "customer_id,predicted_spend\nC1,lots\n",
         "scores.csv: row 2: field 'predicted_spend': value 'lots'"),
        ("cltv", _SCORES + "C2,-1,0.5,gold\n",
         "scores.csv: row 3: field 'predicted_spend': value '-1': must be >= 0"),
        ("cltv", _SCORES + "C1,12,0.5,gold\n",
         "scores.csv: row 3: field 'customer_id': value 'C1': duplicate customer_id"),
        ("cltv", _SCORES + "C2,12,,gold\n", "scores.csv: row 3: field 'p_active': value '': missing value"),
        # past the spend the allocator takes: refused after the store was
        # made, naming neither file nor row ("index 0", an order) (QA)
        ("cltv", _SCORES.replace("C1,10,", "C1,5e10,"),
         "scores.csv: row 2: field 'predicted_spend': value '5e10': must be <= 1e+09"),
        # fields left out, not empty: the row is short (was "missing value" at p_active)
        ("cltv", _SCORES + "C2,12\n", "scores.csv: row 3: value 'C2,12': 2 fields where the header has 4"),
        # a NUL in a customer id: a PostgreSQL store refused the scores
        ("cltv", _SCORES + "C\x002,12,0.5,gold\n",
         "scores.csv: row 3: field 'customer_id': value 'C\\x002': a control character ('\\x00')"),
        ("events", "", "events.jsonl: row 1"),
        # a staffing of 0.5 meant half the staff and was 0.5 % (QA 2026-12-06)
        ("events", '{"event_id": "s", "ts": "2026-01-05T09:00:00-05:00", "node_id": '
         '"WH-EAST", "type": "staffing", "value": 0.5}\n',
         "Error: events.jsonl: row 1: field 'value': value 0.5: staffing is a percent "
         "of planned staff (0-300): 0.5 means 0.5 %; for 50 % of the staff send 50\n"),
        ("history", _HEADER, "Error: history.csv: no orders to learn from (only a header)"),
        # a usage error (exit 2), from the command line or the environment
        ("option", "--time-limit nan", "Invalid value for '--time-limit': 'nan' is not a finite number."),
        ("option", "--batch-minutes inf", "Invalid value for '--batch-minutes': inf is not in the range 0.0<x<=1440.0."),
        ("option", "--capacity-scale nan", "Invalid value for '--capacity-scale': 'nan' is not a finite number."),
        ("option", "--release-minutes -inf", "Invalid value for '--release-minutes': -inf is not in the range 0.0<=x<=10080.0."),
        ("option", "--capacity-scale inf", "Invalid value for '--capacity-scale': inf is not in the range 0.0<=x<=1000.0."),
        ("env", "TIERFLOW_ALLOCATE_TIME_LIMIT=nan", "'nan' is not a finite number."),
    ],
)  # fmt: skip
def test_bad_inputs_leave_a_fresh_folder_empty_and_an_old_one_as_it_was(
    bad: str,
    given: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    finished_run: Path,
) -> None:
    good = _write_orders(tmp_path / "good.csv", 30)
    existing = tmp_path / "existing"
    shutil.copytree(finished_run, existing)  # a finished run, of ``good``
    before = _tree(existing)
    orders, options, code = good, [], 1
    if bad == "quantity":
        orders = tmp_path / "orders.csv"
        orders.write_text(
            _HEADER
            + _ROW
            + "1\n"
            + _ROW.replace("A,", "B,")
            + "99999999999999999999999\n"
        )
    elif bad == "duplicate":
        orders = tmp_path / "orders.csv"
        orders.write_text(
            _HEADER
            + _ROW
            + "1\n"
            + _ROW.replace("C1", "C2").replace("TEE", "MUG")
            + "1\n"
        )
    elif bad == "cltv":
        scores = tmp_path / "scores.csv"
        scores.write_text(given)
        options = ["--cltv-scores", str(scores)]
    elif bad == "events":
        events = tmp_path / "events.jsonl"
        events.write_text(given or '{"event_id": "e", "ts": "soon"}\n')
        options = ["--events", str(events)]
    elif bad == "history":
        history = tmp_path / "history.csv"
        history.write_text(given)
        options = ["--history", str(history)]
    elif bad == "option":
        options, code = given.split(), 2
    else:
        name, value = given.split("=")
        monkeypatch.setenv(name, value)
        code = 2
    for out in (tmp_path / "fresh" / "out", existing):
        result = _allocate(orders, out, "--engine", "greedy", *options)
        assert result.exit_code == code, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "fresh").exists()
    assert _tree(existing) == before


def _committed(db: Path | str) -> int:
    """Batches committed in the store ``db`` (0 before its tables exist)."""
    if is_postgres_url(db):
        try:
            ((n,),) = run_sql(db, "SELECT COUNT(*) FROM allocation_batches")
        except Exception:  # not made yet
            return 0
        return int(str(n))
    assert isinstance(db, Path)
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(
                conn.execute("SELECT COUNT(*) FROM allocation_batches").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


#: WH-EAST goes down at 06:30, two batches into the day: orders it had
#: not released yet are pulled back and rerouted before the kill.
OUTAGE = (
    '{"event_id": "down", "ts": "2026-01-05T06:30:00-05:00", "node_id": '
    '"WH-EAST", "type": "outage", "value": true}\n'
)
#: Summary fields that measure this process's time, not the run.
TIMINGS = ("runtime_s", "batch_solve_p95_s")


def _outage_args(folder: Path, n_orders: int) -> list[str]:
    """``allocate``'s arguments for ``n_orders`` generated orders (seed 2,
    in ``folder``) in greedy batches of 4 with :data:`OUTAGE`, without bid
    prices."""
    orders = _write_orders(folder / "orders.csv", n_orders, seed=2)
    events = folder / "events.jsonl"
    events.write_text(OUTAGE)
    args = ["allocate", "--network", str(TINY), "--orders", str(orders)]
    args += ["--engine", "greedy", "--no-bid-prices", "--batch-size", "4"]
    return [*args, "--events", str(events)]


def _outage_day(tmp_path: Path) -> tuple[list[str], dict[str, Any]]:
    """``allocate``'s arguments for 240 orders in 60 greedy batches with
    :data:`OUTAGE`, and the summary of the uninterrupted run (in ``clean``):
    4 orders rerouted, 5 lines pulled back, in batch 2 (400 orders until
    2026-12-06: 6 and 9 in batch 3, the same code path at 1.7x the CPU)."""
    args = _outage_args(tmp_path, 240)
    clean = tmp_path / "clean"
    result = CliRunner().invoke(cli, [*args, "--out", str(clean), "--json"])
    assert result.exit_code == 0, result.output
    whole: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert (whole["n_batches"], whole["rerouted"], whole["pulled_back"]) == (60, 4, 5)
    return args, whole


@pytest.fixture(scope="module")
def outage_day(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[str], dict[str, Any], Path]:
    """:func:`_outage_day` once for the module (its orders, events and
    ``clean`` run are only read): the arguments, the summary, the folder."""
    folder = tmp_path_factory.mktemp("outage-day")
    args, whole = _outage_day(folder)
    return args, whole, folder


def _kill_once_committed(args: list[str], state: Path | str, batches: int) -> None:
    """Run ``tierflow *args`` in a process and SIGKILL it once ``state``
    holds ``batches`` committed batches."""
    proc = _running_until_committed(args, state, batches)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _running_until_committed(
    args: list[str], state: Path | str, batches: int
) -> subprocess.Popen[bytes]:
    """``tierflow *args`` started in a process, still running once ``state``
    holds ``batches`` committed batches (within 120 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.main", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _committed(state) < batches:
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


#: ``tierflow *argv[1:]`` with SIGTERM sent to itself as ``summary.json``'s
#: staged copy is about to be moved in: after ``allocations.csv`` was moved
#: in, before the two others (an audit hook, Python's own; it sees the
#: move, it changes nothing).
_TERM_BETWEEN_MOVES = """
import os, signal, sys
def hook(event, args):
    if event == "os.rename" and str(args[0]).endswith("summary.json.tmp"):
        os.kill(os.getpid(), signal.SIGTERM)
sys.addaudithook(hook)
sys.argv = ["tierflow", *sys.argv[1:]]
from tierflow.cli.entry import main
main()
"""


def test_sigterm_while_the_outputs_are_moved_in_leaves_them_of_one_run(
    tmp_path: Path,
) -> None:
    """The three finished outputs are replaced together: a SIGTERM that
    lands once ``allocations.csv`` is moved in, before ``summary.json`` and
    ``batches.jsonl`` are, still leaves all three of one run (the stop is
    taken once they are all in; exit 143 as for any SIGTERM). Until
    2026-12-07 it stopped the run between the moves: the new run's
    allocations beside the previous run's summary."""
    out = tmp_path / "out"
    args = ["allocate", "--network", str(TINY), "--engine", "greedy"]
    args += ["--out", str(out), "--state", str(tmp_path / "state.db")]
    before = CliRunner().invoke(
        cli, [*args, "--orders", str(_write_orders(tmp_path / "a.csv", 8))]
    )
    assert before.exit_code == 0, before.output
    later = _write_orders(tmp_path / "b.csv", 12, seed=1)
    proc = subprocess.run(
        [sys.executable, "-c", _TERM_BETWEEN_MOVES, *args, "--orders", str(later)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.splitlines()[-1] == "tierflow: terminated"
    summary = json.loads((out / "summary.json").read_text())
    rows = pd.read_csv(out / "allocations.csv")
    stats = [json.loads(s) for s in (out / "batches.jsonl").read_text().splitlines()]
    assert rows["order_id"].nunique() == summary["n_orders"] == 12
    assert {s["run_id"] for s in stats} == {summary["run_id"]}


def test_a_run_resumed_in_a_folder_of_another_run_s_journal_starts_its_own(
    tmp_path: Path,
) -> None:
    """``allocations.partial.csv`` is the run in progress: a run resumed in
    a folder another run was killed in (another ``--state``) replaces that
    run's partial journals, as a run from batch 0 does. Until 2026-12-07
    it appended its rows to the other run's, one file of two days' orders."""
    ours = _write_orders(tmp_path / "ours.csv", 120, seed=2)
    theirs = tmp_path / "theirs.csv"
    theirs.write_text(ours.read_text().replace("\nO", "\nTHEIRS-"))
    args = ["allocate", "--network", str(TINY), "--engine", "greedy"]
    args += ["--no-bid-prices", "--batch-size", "4"]
    first, shared = tmp_path / "first", tmp_path / "shared"
    state, other = tmp_path / "ours.db", tmp_path / "theirs.db"
    mine = [*args, "--orders", str(ours), "--state", str(state)]
    _kill_once_committed([*mine, "--out", str(first)], state, 3)
    run = [*args, "--orders", str(theirs), "--state", str(other), "--out", str(shared)]
    _kill_once_committed(run, other, 3)
    assert (shared / "allocations.partial.csv").exists()
    _kill_once_committed([*mine, "--out", str(shared)], state, _committed(state) + 2)
    journal = pd.read_csv(shared / "allocations.partial.csv")
    assert not journal["order_id"].str.startswith("THEIRS-").any()
    assert journal["batch"].min() >= 3


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(
    tmp_path: Path, outage_day: tuple[list[str], dict[str, Any], Path]
) -> None:
    args, whole, day = outage_day
    assert whole["forecast"] == "none"  # no bid prices: none used (QA)
    clean = day / "clean"
    crashed = tmp_path / "crashed"
    _kill_once_committed([*args, "--out", str(crashed)], crashed / "state.db", 5)
    killed_at = _committed(crashed / "state.db")
    assert 5 <= killed_at < 60
    assert not (crashed / "allocations.csv").exists()

    result = CliRunner().invoke(cli, [*args, "--out", str(crashed), "--json"])
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout.strip().splitlines()[-1])
    n = resumed["resumed_batches"]
    assert n >= killed_at
    assert f"resuming: {n} of 60 batches already in {crashed / 'state.db'}" in (
        result.stderr
    )
    # the summary counts every batch of the run, as the uninterrupted run's does
    skip = (*TIMINGS, "resumed_batches")
    assert {k: v for k, v in resumed.items() if k not in skip} == {
        k: v for k, v in whole.items() if k not in skip
    }
    lines = (crashed / "batches.jsonl").read_text().splitlines()
    batches = [json.loads(line) for line in lines]
    assert [b["batch"] for b in batches] == list(range(60))
    a = pd.read_csv(crashed / "allocations.csv").sort_values(["order_id", "sku"])
    b = pd.read_csv(clean / "allocations.csv").sort_values(["order_id", "sku"])
    assert len(a) == len(b) == 240
    assert not a.duplicated(["order_id", "sku"]).any()
    pd.testing.assert_frame_equal(
        a[["order_id", "sku", "node_id", "status", "batch"]].reset_index(drop=True),
        b[["order_id", "sku", "node_id", "status", "batch"]].reset_index(drop=True),
    )


def test_a_run_killed_mid_way_resumes_with_another_jobs_and_backend(
    tmp_path: Path, outage_day: tuple[list[str], dict[str, Any], Path]
) -> None:
    """``--jobs`` and the backend were part of the run id: a run killed with
    ``--backend loky --jobs 2`` and run again with ``--jobs 3`` (or on
    threads) started again from batch 0, its batches left in the store.
    They only spread the same partitions, so it resumes now: the batches
    before the kill kept, the allocations those of an uninterrupted run
    (greedy is deterministic), under the same run id."""
    base, _, _ = outage_day
    clean = tmp_path / "clean"
    done = CliRunner().invoke(
        cli, [*base, "--backend", "threading", "--jobs", "1", "--out", str(clean)]
    )
    assert done.exit_code == 0, done.output
    whole = json.loads((clean / "summary.json").read_text())
    crashed = tmp_path / "crashed"
    killed = [*base, "--backend", "loky", "--jobs", "2", "--out", str(crashed)]
    _kill_once_committed(killed, crashed / "state.db", 5)
    killed_at = _committed(crashed / "state.db")
    assert 5 <= killed_at < 60
    again = [*base, "--backend", "threading", "--jobs", "3", "--out", str(crashed)]
    result = CliRunner().invoke(cli, again)
    assert result.exit_code == 0, result.output
    resumed = json.loads((crashed / "summary.json").read_text())
    n = resumed["resumed_batches"]
    assert n >= killed_at
    assert f"resuming: {n} of 60 batches already in {crashed / 'state.db'}" in (
        result.stderr
    )
    assert _committed(crashed / "state.db") == 60  # none run twice
    skip = (*TIMINGS, "resumed_batches")
    assert {k: v for k, v in resumed.items() if k not in skip} == {
        k: v for k, v in whole.items() if k not in skip
    }  # the run id included
    assert (crashed / "allocations.csv").read_bytes() == (
        clean / "allocations.csv"
    ).read_bytes()


#: Stock thin enough on the tiny network that 400 orders of TEE and MUG
#: pay stock bid prices (``docs/allocation.md``, stock bid prices).
THIN_STOCK = (
    "node_id,sku,on_hand\nWH-EAST,TEE,40\nWH-EAST,MUG,6\nWH-WEST,TEE,20\n"
    "ST-CHI,TEE,5\nST-CHI,MUG,2\n"
)


def _thin_network(folder: Path) -> Path:
    """The tiny network with :data:`THIN_STOCK`, in ``folder``."""
    net = folder / "thin"
    shutil.copytree(TINY, net)
    (net / "inventory.csv").write_text(THIN_STOCK)
    return net


@pytest.mark.parametrize(
    "engine",
    [
        ["--engine", "greedy"],
        ["--engine", "cpsat", "--deterministic", "--time-limit", "0.05"],
    ],
    ids=["greedy", "cpsat-deterministic"],
)
def test_a_run_with_stock_prices_killed_mid_way_resumes_to_the_same_bytes(
    tmp_path: Path, engine: list[str]
) -> None:
    """Stock bid prices are recomputed for every batch from the stock left
    and the orders of the batches before: a run killed after some batches
    and run again writes the allocations.csv of an uninterrupted run, byte
    for byte, on stock thin enough that the prices decide (without them the
    allocations differ). 120 orders in 30 batches: the stock runs out well
    within them, and the prices still decide."""
    net = _thin_network(tmp_path)
    orders = _write_orders(tmp_path / "orders.csv", 120, seed=2)
    args = ["allocate", "--network", str(net), "--orders", str(orders), *engine]
    args += ["--batch-size", "4"]
    runner = CliRunner()
    clean, myopic = tmp_path / "clean", tmp_path / "no-stock-prices"
    done = runner.invoke(cli, [*args, "--out", str(clean)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(cli, [*args, "--no-stock-bid-prices", "--out", str(myopic)])
    assert done.exit_code == 0, done.output
    whole = (clean / "allocations.csv").read_bytes()
    assert whole != (myopic / "allocations.csv").read_bytes()
    crashed = tmp_path / "crashed"
    _kill_once_committed([*args, "--out", str(crashed)], crashed / "state.db", 5)
    killed_at = _committed(crashed / "state.db")
    assert 5 <= killed_at < 30
    result = runner.invoke(cli, [*args, "--out", str(crashed), "--json"])
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout.strip().splitlines()[-1])
    assert resumed["resumed_batches"] >= killed_at
    assert (crashed / "allocations.csv").read_bytes() == whole


def _unfinished_run(state: Path) -> tuple[str, dict[str, Any], int]:
    """The one run in ``state``: its id, its params, its committed batches."""
    with sqlite3.connect(state) as conn:
        ((run_id, params),) = conn.execute(
            "SELECT run_id, params FROM allocation_runs"
        ).fetchall()
    return str(run_id), json.loads(params), _committed(state)


@pytest.mark.parametrize("started", ["with other settings", "before 2026-12-04"])
def test_an_unfinished_run_not_resumed_is_named(
    tmp_path: Path, outage_day: tuple[list[str], dict[str, Any], Path], started: str
) -> None:
    """The store's unfinished run of the same inputs, which this command
    cannot resume (other settings, or a run id of a tierflow before
    2026-12-04, which counted ``--jobs`` and the backend), was passed over
    without a word: the command started again from batch 0 where the user
    expected a resume. One warning now names the run and why; the run
    starts from batch 0 with nothing of the other's in its folder."""
    base, _, day = outage_day
    out = tmp_path / "out"
    _kill_once_committed(
        [*base, "--time-limit", "3", "--out", str(out)], out / "state.db", 5
    )
    old, params, kept = _unfinished_run(out / "state.db")
    if started == "before 2026-12-04":  # that tierflow's params of this command
        legacy = {k: v for k, v in params["settings"].items() if k != "partitioned"}
        legacy.update(time_limit_s=2.0, backend="none", n_jobs=2)
        del legacy["deterministic"]
        with sqlite3.connect(out / "state.db") as conn:
            conn.execute(
                "UPDATE allocation_runs SET params = ?",
                (json.dumps({**params, "settings": legacy}, sort_keys=True),),
            )
        why = (
            "it was started by a tierflow before 2026-12-04, whose run ids "
            "counted --jobs and --backend"
        )
    else:
        why = "it has other settings (time_limit_s)"
    result = CliRunner().invoke(cli, [*base, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        f"WARNING tierflow.cli.allocate: not resuming run {old[:12]} of these "
        f"inputs ({kept} batches committed): {why}; this run starts from "
        "batch 0" in result.stderr
    ), result.stderr
    assert "resuming:" not in result.stderr
    assert json.loads((out / "summary.json").read_text())["resumed_batches"] == 0
    assert (out / "allocations.csv").read_bytes() == (
        day / "clean" / "allocations.csv"
    ).read_bytes()
    assert not (out / "allocations.partial.csv").exists()


def _children(pid: int) -> dict[int, str]:
    """The live (not zombie) processes whose parent is ``pid``, by id: their
    command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(stat.parent.name)] = cmdline.replace(b"\0", b" ").decode()
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_loky_workers_end_with_a_run_killed_by_sigkill(tmp_path: Path) -> None:
    """``allocate --backend loky`` killed with SIGKILL left its loky workers
    (and loky's resource tracker) running for five minutes, loky's idle
    timeout. They see their parent go now, and end within seconds."""
    orders = _write_orders(tmp_path / "orders.csv", 240, seed=2)
    out = tmp_path / "out"
    args = ["allocate", "--network", str(TINY), "--orders", str(orders)]
    args += ["--engine", "greedy", "--no-bid-prices", "--batch-size", "4"]
    args += ["--backend", "loky", "--jobs", "2", "--out", str(out)]
    proc = _running_until_committed(args, out / "state.db", 5)
    children = _children(proc.pid)
    workers = [pid for pid, cmd in children.items() if "LokyProcess" in cmd]
    assert len(workers) == 2, children
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    while any(map(_alive, children)) and time.monotonic() - killed < 10:
        time.sleep(0.1)
    left = {pid: cmd for pid, cmd in children.items() if _alive(pid)}
    assert left == {}
    assert time.monotonic() - killed < 5


def test_a_run_resumed_in_another_folder_counts_the_reroutes_before_the_kill(
    tmp_path: Path, outage_day: tuple[list[str], dict[str, Any], Path]
) -> None:
    """Killed after the outage's reroutes, its folder gone with the machine
    that ran it, resumed from the same --state into a new folder: the
    summary counted none of the reroutes (6, 9 pulled back, +26.30 on the
    400-order day of then) the
    batches before the kill made, their figures being only journalled to the
    lost folder. They are committed with each batch now: every count is the
    uninterrupted run's."""
    base, whole, _ = outage_day
    state = tmp_path / "state.db"
    args = [*base, "--state", str(state)]
    lost = tmp_path / "lost"
    _kill_once_committed([*args, "--out", str(lost)], state, 8)
    assert 8 <= _committed(state) < 60  # the outage is batch 2's
    shutil.rmtree(lost)
    # a store whose batches kept no figures (committed by the code before
    # they were kept in the store): the summary cannot count them, and says so
    old = tmp_path / "old.db"
    with sqlite3.connect(state) as src, sqlite3.connect(old) as dst:
        src.backup(dst)
        dst.execute("UPDATE allocation_batches SET stats = NULL")
    lossy = [*base, "--state", str(old), "--out", str(tmp_path / "lossy")]
    result = CliRunner().invoke(cli, lossy)
    assert result.exit_code == 0, result.output
    assert "resumed batch(es) left no figures" in result.stderr

    again = tmp_path / "again"
    result = CliRunner().invoke(cli, [*args, "--out", str(again)])
    assert result.exit_code == 0, result.output
    resumed = json.loads((again / "summary.json").read_text())
    assert resumed["resumed_batches"] >= 8
    skip = (*TIMINGS, "resumed_batches")
    assert {k: v for k, v in resumed.items() if k not in skip} == {
        k: v for k, v in whole.items() if k not in skip
    }
    lines = (again / "batches.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["rerouted"] for line in lines) == 4
    assert "left no figures" not in result.stderr


def test_another_run_killed_mid_way_leaves_the_finished_outputs_whole(
    tmp_path: Path,
) -> None:
    """A new run in a folder holding a finished one, killed mid-way: the
    finished run's allocations.csv, summary.json and batches.jsonl are as they
    were, all of that run (its batches.jsonl was overwritten as the new run
    started, so the folder mixed two runs); the new run's progress is in the
    partial journals, and re-running it resumes and replaces all three."""
    args = ["allocate", "--network", str(TINY), "--engine", "greedy"]
    args += ["--no-bid-prices", "--batch-size", "4"]
    out = tmp_path / "out"
    first_orders = _write_orders(tmp_path / "first.csv", 40, seed=2)
    done = CliRunner().invoke(
        cli, [*args, "--orders", str(first_orders), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    finished = ("allocations.csv", "summary.json", "batches.jsonl")
    before = {name: (out / name).read_bytes() for name in finished}
    first_batches = _committed(out / "state.db")

    second_orders = _write_orders(tmp_path / "second.csv", 240, seed=3)
    command = [*args, "--orders", str(second_orders), "--out", str(out)]
    _kill_once_committed(command, out / "state.db", first_batches + 5)
    assert {name: (out / name).read_bytes() for name in finished} == before
    assert (out / "batches.partial.jsonl").exists()
    assert (out / "allocations.partial.csv").exists()

    resumed = CliRunner().invoke(cli, [*command, "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] != json.loads(before["summary.json"])["run_id"]
    lines = (out / "batches.jsonl").read_text().splitlines()
    assert {json.loads(line)["run_id"] for line in lines} == {summary["run_id"]}
    assert [json.loads(line)["batch"] for line in lines] == list(range(60))
    assert not (out / "batches.partial.jsonl").exists()
    assert not (out / "allocations.partial.csv").exists()


def test_outputs_are_replaced_all_three_or_none(tmp_path: Path) -> None:
    """A failure while the outputs were written left the folder with the new
    run's allocations.csv beside the old run's batches.jsonl and no
    summary.json. Now a failed write changes none of them; a folder in the
    way of one is refused before the run, naming it."""
    out = tmp_path / "out"
    assert _allocate(_write_orders(tmp_path / "a.csv", 40), out).exit_code == 0
    finished = {name: (out / name).read_bytes() for name in OUTPUT_FILES}
    other = _write_orders(tmp_path / "b.csv", 12, seed=1)
    (out / "batches.jsonl.tmp").mkdir()  # the last output cannot be written
    failed = _allocate(other, out)
    assert failed.exit_code == 1
    assert failed.output.endswith(
        f"Error: {out / 'batches.jsonl.tmp'}: Is a directory\n"
    )
    assert {name: (out / name).read_bytes() for name in OUTPUT_FILES} == finished
    assert not (out / "allocations.csv.tmp").exists()
    assert not (out / "summary.json.tmp").exists()
    (out / "batches.jsonl.tmp").rmdir()
    (out / "summary.json").unlink()
    (out / "summary.json").mkdir()
    before = _tree(out)
    refused = _allocate(other, out)
    assert refused.exit_code == 1
    assert refused.output == (
        f"Error: {out / 'summary.json'}: is in the way of the run's summary.json "
        "(not a file): move it away\n"
    )
    assert _tree(out) == before  # refused before the run: nothing written


def test_a_finished_run_rerun_prints_the_same_summary(tmp_path: Path) -> None:
    orders = _write_orders(tmp_path / "orders.csv", 60)
    out = tmp_path / "out"
    options = ("--engine", "greedy", "--batch-minutes", "60", "--json")
    first = _allocate(orders, out, *options)
    assert first.exit_code == 0, first.output
    assert "resuming" not in first.stderr
    again = _allocate(orders, out, *options)
    assert again.exit_code == 0, again.output
    n = json.loads(first.stdout.strip().splitlines()[-1])["n_batches"]
    assert f"resuming: {n} of {n} batches already in" in again.stderr
    a, b = (json.loads(r.stdout.strip().splitlines()[-1]) for r in (first, again))
    assert b["resumed_batches"] == n
    skip = ("runtime_s", "resumed_batches")
    assert {k: v for k, v in a.items() if k not in skip} == {
        k: v for k, v in b.items() if k not in skip
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_deterministic_runs_write_the_same_allocations(tmp_path: Path) -> None:
    """CP-SAT under --time-limit stops on the clock: two runs of one command
    could allocate otherwise. With --deterministic it stops on its
    deterministic time: the same allocations.csv, byte for byte, each time,
    also split by region. An engine that stops on the clock refuses it."""
    orders = _write_orders(tmp_path / "orders.csv", 300, seed=4)
    options = ["--engine", "cpsat", "--batch-size", "100", "--time-limit", "0.05"]
    options += ["--deterministic"]
    for extra in ([], ["--backend", "threading", "--jobs", "2"]):
        written = []
        for attempt in ("a", "b"):
            out = tmp_path / f"{attempt}{len(extra)}"
            done = _allocate(orders, out, *options, *extra)
            assert done.exit_code == 0, done.output
            written.append((out / "allocations.csv").read_bytes())
        assert written[0] == written[1]
    refused = _allocate(
        orders, tmp_path / "highs", "--engine", "highs", "--deterministic"
    )
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: field 'engine': value 'highs': stops on the clock, so it cannot "
        "solve deterministically (use cpsat, greedy, cpsat-plain, nearest)\n"
    )
    assert not (tmp_path / "highs").exists()


def test_bench_allocation_writes_every_policy(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "allocation",
            "--network",
            str(TINY),
            "--orders",
            "60",
            "--seed",
            "3",
            "--utilization",
            "tight",
            "--engines",
            "greedy",
            "--time-limit",
            "1",
            "--hindsight-time-limit",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "results.csv")
    assert frame["policy"].tolist() == [
        "hindsight",
        "nearest",
        "greedy",
        "greedy + bid prices",
    ]
    assert (frame["violations"] == 0).all()
    assert (frame["gap_pct"] >= -1e-6).all()
    extra = json.loads((out / "summary.json").read_text())
    assert extra["utilization"] == "tight"
    assert 0.9 < extra["workload"] / extra["capacity"] < 1.0
    for name in ("summary.md", "cost_gap.png", "utilization.png"):
        assert (out / name).stat().st_size > 0


def test_bench_allocation_over_days_reports_distributions(tmp_path: Path) -> None:
    out = tmp_path / "days"
    args = ["bench", "allocation", "--network", str(TINY), "--days", "2"]
    args += ["--orders", "30", "--seed", "2", "--engines", "greedy"]
    args += ["--time-limit", "1", "--hindsight-time-limit", "5", "--forecast"]
    args += ["history", "--forecast-sweep", "0.5,2", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "results.csv")
    days = frame[frame["run"] == "days"]
    assert sorted(days["day"].unique()) == [0, 1]
    assert set(days["utilization"]) == {"loose", "tight"}
    assert set(days["policy"]) == {"nearest", "myopic", "default", "hindsight plan"}
    assert (frame["gap_pct"] >= -1e-6).all()  # the bound is below every policy
    assert (frame["violations"] == 0).all()
    assert (frame["repriced_total_cost"] - frame["total_cost"]).abs().max() < 0.005
    sweep = frame[frame["run"] == "sweep"]
    assert sorted(sweep["forecast_scale"].dropna()) == [0.5, 2.0]
    summary = json.loads((out / "summary.json").read_text())
    tight = summary["distribution"]["tight"]["default"]
    gaps = days[(days["utilization"] == "tight") & (days["policy"] == "default")]
    assert tight["gap_worst_pct"] == pytest.approx(gaps["gap_pct"].max())
    assert tight["gap_median_pct"] == pytest.approx(gaps["gap_pct"].median())
    assert summary["targets"]["repriced_equals_reported_every_run"]["met"]
    assert "## Forecast-error sweep" in (out / "summary.md").read_text()
    # staffed from each day's history by default, and said so
    assert set(frame["staffing"]) == {"history"}
    assert summary["setup"]["staffing"] == "history"
    assert "staffed from the day's 14-day history" in (out / "summary.md").read_text()
    # the sweep's rows share one capacity: its day's, from its own history
    assert sweep["load_pct"].nunique() == 1
    assert sweep["load_pct"].iloc[0] == pytest.approx(
        days[(days["day"] == 0) & (days["utilization"] == "tight")]["load_pct"].iloc[0]
    )


def test_bench_allocation_days_say_which_bounds_were_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day whose bound's LP or branch and bound the hindsight time limit
    cut short has a bound below what the finished step proves, so its gaps
    are overstated; ``--days`` gave them as every other day's without a
    word. results.csv's new last column, summary.json's ``bounds`` and
    summary.md's line per utilization now say which days and why."""
    stops = iter(  # the hindsight plans in turn: day 0 loose, tight; day 1
        [
            ("time_limit", "time_limit"),
            ("finished", None),
            ("finished", "time_limit"),
            ("finished", "finished"),
        ]
    )

    def cut_short(*args: Any, **kwargs: Any) -> Any:
        lp, search = next(stops)
        proof = hindsight_proof(*args, **kwargs)
        return dataclasses.replace(proof, lp_stop=lp, search_stop=search)

    monkeypatch.setattr(
        "tierflow.orchestration.allocation.day_allocator.hindsight_proof", cut_short
    )
    out = tmp_path / "days"
    args = ["bench", "allocation", "--network", str(TINY), "--days", "2"]
    args += ["--orders", "20", "--seed", "2", "--engines", "greedy"]
    args += ["--time-limit", "0.2", "--hindsight-time-limit", "5"]
    args += ["--forecast", "history", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "results.csv")
    assert list(frame.columns[-3:]) == ["repriced_agrees", "run", "bound_stop"]
    expected = {
        (0, "loose"): "lp:time_limit",
        (0, "tight"): "finished",
        (1, "loose"): "branch_and_bound:time_limit",
        (1, "tight"): "finished",
    }
    for (day, utilization), rows in frame.groupby(["day", "utilization"]):
        assert set(rows["bound_stop"]) == {expected[day, utilization]}
    summary = json.loads((out / "summary.json").read_text())
    assert {
        (b["day"], b["utilization"]): b["bound_stop"] for b in summary["bounds"]
    } == expected
    bounds = frame.drop_duplicates(["day", "utilization"])["bound"]
    assert [b["bound"] for b in summary["bounds"]] == bounds.tolist()
    md = (out / "summary.md").read_text()
    loose, tight = md.split("## loose")[1].split("## tight")
    assert (
        "Days whose bound was cut short: 2 of 2 (results.csv `bound_stop`): "
        "the LP on 1 (a weak bound, what its last duals prove), branch and "
        "bound on 1 (the LP value, raised only so far); those days' gaps are "
        "overstated"
    ) in loose
    assert (
        "Days whose bound was cut short: 0 of 2 (results.csv `bound_stop`): "
        "every gap is to a bound whose LP and branch and bound finished."
    ) in tight


def test_bench_allocation_staffing_day_keeps_the_old_protocol(tmp_path: Path) -> None:
    """``--staffing day`` scales each day's capacities from its own workload
    (the protocol before 2026-12-06, kept for comparison): every day is
    exactly the utilization's share full, and results.csv says how."""
    out = tmp_path / "days"
    args = ["bench", "allocation", "--network", str(TINY), "--days", "1"]
    args += ["--orders", "20", "--seed", "1", "--utilization", "tight"]
    args += ["--engines", "greedy", "--time-limit", "1"]
    args += ["--hindsight-time-limit", "1", "--forecast", "history"]
    args += ["--staffing", "day", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "results.csv")
    assert set(frame["staffing"]) == {"day"}
    assert frame["load_pct"].to_numpy() == pytest.approx(95.0, rel=1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["setup"]["staffing"] == "day"
    assert "scaled from the day's own workload" in (out / "summary.md").read_text()


def _names(folder: Path) -> list[str]:
    """Every path under ``folder``, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_bench_allocation_replaces_every_file_of_an_earlier_run(
    tmp_path: Path,
) -> None:
    """An ``--out`` that held another bench's results kept the files this run
    does not write beside the new ones: a one-day run left a two-day run's
    ``days/day01/`` (results.csv has day 0 only), a single-day run its
    ``gap_by_day.png`` and ``days/``. The bench now works beside ``--out``
    and replaces every name it owns, so the folder is one run's."""
    out = tmp_path / "bench"
    common = ["bench", "allocation", "--network", str(TINY), "--orders", "30"]
    common += ["--seed", "1", "--utilization", "tight", "--engines", "greedy"]
    common += ["--time-limit", "1", "--hindsight-time-limit", "1"]
    common += ["--out", str(out)]
    (out / "days").mkdir(parents=True)
    (out / "notes.txt").write_text("mine\n")  # not the bench's: left alone
    for days in ("2", "1"):
        result = CliRunner().invoke(cli, [*common, "--days", days])
        assert result.exit_code == 0, result.output
    assert _names(out) == [
        "days", "days/day00", "days/day00/history.csv", "days/day00/orders.csv",
        "gap_by_day.png", "notes.txt", "results.csv", "summary.json", "summary.md",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, common)
    assert result.exit_code == 0, result.output
    assert _names(out) == [
        "cost_gap.png", "notes.txt", "orders.csv", "results.csv", "summary.json",
        "summary.md", "utilization.png",
    ]  # fmt: skip
    assert _names(tmp_path) == ["bench", *(f"bench/{n}" for n in _names(out))]


def _strict_json(text: str) -> Any:
    """``text`` as JSON, refusing the ``NaN`` and ``Infinity`` that
    ``json.dumps`` writes and no other JSON reader takes."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_bench_allocation_days_json_is_json(tmp_path: Path) -> None:
    """``--days --forecast-sweep``: the sweep's hindsight plan and nearest
    node rows have no forecast scale, and summary.json (which ``--json``
    prints) wrote it ``NaN``, which no JSON reader but Python's takes; it is
    null now, as results.csv leaves it empty."""
    out = tmp_path / "days"
    args = ["bench", "allocation", "--network", str(TINY), "--days", "1"]
    args += ["--orders", "30", "--seed", "2", "--engines", "greedy"]
    args += ["--utilization", "loose", "--time-limit", "0.2"]
    args += ["--hindsight-time-limit", "2", "--forecast", "history"]
    args += ["--forecast-sweep", "1", "--out", str(out), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    printed = _strict_json(result.stdout)
    assert printed == _strict_json((out / "summary.json").read_text())
    scales = {row["policy"]: row["forecast_scale"] for row in printed["sweep"]}
    assert scales == {"hindsight plan": None, "nearest": None, "default": 1.0}


def test_bench_allocation_days_without_a_bound_is_an_error(tmp_path: Path) -> None:
    """A hindsight time limit too short for the bound's LP to prove anything
    ended ``--days`` in a RuntimeError traceback ("the relaxation was not
    solved"); a bound of 0 would have divided by zero. Every figure of the
    many-day benchmark is a gap to that bound, so the run stops with one
    line naming the day and the option (exit 1), and --out is left as it was."""
    out = tmp_path / "days"
    args = ["bench", "allocation", "--network", str(TINY), "--days", "1"]
    args += ["--orders", "30", "--seed", "2", "--engines", "greedy"]
    args += ["--utilization", "loose", "--time-limit", "0.2"]
    args += ["--hindsight-time-limit", "0", "--forecast", "history"]
    args += ["--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert result.output.strip().splitlines()[-1] == (
        "Error: day 0 (loose): field '--hindsight-time-limit': value 0.0: the "
        "hindsight bound's LP stopped (time_limit) before it proved a bound "
        "above 0, so no gap to it can be measured (a longer "
        "--hindsight-time-limit gives one)"
    )
    assert not out.exists()


def test_bench_allocation_refuses_a_bad_sweep_scale(tmp_path: Path) -> None:
    args = ["bench", "allocation", "--network", str(TINY), "--days", "1"]
    args += ["--forecast-sweep", "0.5,-1", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "'-1' is not a positive number" in result.output


def test_allocate_stores_bid_prices_for_checkout(tmp_path: Path) -> None:
    from tierflow.data.store import SqliteStore

    orders = _write_orders(tmp_path / "orders.csv", 200, seed=4)
    out = tmp_path / "out"
    result = _allocate(
        orders, out, "--engine", "greedy", "--capacity-scale", "0.05",
        "--batch-minutes", "60",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with SqliteStore(out / "state.db") as store:
        prices = store.latest_bid_prices()
    assert prices is not None
    assert set(prices) == {"WH-EAST", "WH-WEST", "ST-CHI"}
    assert all(v >= 0 for v in prices.values())
    assert max(prices.values()) > 0  # 5 % capacity: something is scarce


def test_orders_over_more_than_a_day_are_said(tmp_path: Path) -> None:
    """The allocation plans one day's capacity: orders over several days
    (``generate orders --days 2``) would share it, so allocate says so on
    stderr, naming the span and the first later order; a day's orders pass
    without a word, also when the day runs from New York's midnight to Los
    Angeles' (more than 24 hours of UTC: the hours are the shoppers')."""
    orders = _write_orders(tmp_path / "orders.csv", 60)
    one_day = _allocate(orders, tmp_path / "a", "--engine", "greedy")
    assert one_day.exit_code == 0, one_day.output
    assert "more than a day" not in one_day.stderr
    text = orders.read_text().splitlines()
    across = tmp_path / "across.csv"
    across.write_text(
        "\n".join(
            [
                text[0],
                "E1,2026-01-05T00:10:00-05:00,C1,100,gold,TEE,1",
                "E2,2026-01-05T23:50:00-08:00,C2,900,gold,TEE,1",
            ]
        )
        + "\n"
    )
    coasts = _allocate(across, tmp_path / "c", "--engine", "greedy")
    assert coasts.exit_code == 0, coasts.output
    assert "more than a day" not in coasts.stderr
    text[-1] = text[-1].replace("2026-01-05T", "2026-01-07T")
    orders.write_text("\n".join(text) + "\n")
    two_days = _allocate(orders, tmp_path / "b", "--engine", "greedy")
    assert two_days.exit_code == 0, two_days.output
    assert (
        "orders.csv: the orders span more than a day (2026-01-05T03:33:00 .. "
        "2026-01-07T22:23:00, local time at each destination; order 'O00059' is "
        "over 24 h after the first): the allocation plans one day's capacity for "
        "all of them; allocate each day's orders on their own"
    ) in two_days.stderr


def test_an_order_left_waiting_for_cost_is_not_said_split_for_room(
    tmp_path: Path,
) -> None:
    """One 9-line Gold order alone on the sample network (four warehouses
    hold every line, nothing else is shipped): the optimizer leaves it
    waiting, as waiting is cheaper than shipping it whole ($180 against
    $337.80), and then ships six of its lines alone. Those said "no single
    node had the room for the whole order", the waiting ones "deferred:
    deferred by the optimizer"; the nearest node ships it whole."""
    made = CliRunner().invoke(
        cli,
        ["generate", "orders", "--orders", "1500", "--days", "1", "--seed", "5",
         "--out", str(tmp_path / "day.csv")],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    day = pd.read_csv(tmp_path / "day.csv", dtype=str)
    one = day[day["order_id"] == "O20260105-5-000547"]
    assert len(one) == 9 and set(one["tier"]) == {"gold"}
    one.to_csv(tmp_path / "one.csv", index=False)
    for engine in ("cpsat", "nearest"):
        result = CliRunner().invoke(
            cli,
            ["allocate", "--orders", str(tmp_path / "one.csv"), "--engine", engine,
             "--out", str(tmp_path / engine)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    nearest = pd.read_csv(tmp_path / "nearest" / "allocations.csv", dtype=str)
    assert set(nearest["status"]) == {"allocated"} and nearest["node_id"].nunique() == 1
    rows = pd.read_csv(tmp_path / "cpsat" / "allocations.csv", dtype=str)
    reasons = rows.groupby("status")["reason"].agg(set).to_dict()
    assert reasons == {
        "allocated": {
            "split: shipping these lines today was cheaper than the whole order waiting"
        },
        "deferred": {
            "deferred: the optimizer found the day cheaper with it waiting (its own "
            "cost, or the room it leaves to other orders)"
        },
    }
    # only what ships carries the "room" mark (every waiting line read
    # "room", and an order that shipped nothing counted as split)
    marks = rows.fillna("").groupby("status")["split"].agg(set).to_dict()
    assert marks == {"allocated": {"room"}, "deferred": {""}}


def test_a_history_holding_the_day_itself_is_refused(tmp_path: Path) -> None:
    """``--history`` is earlier days' orders: one holding the day allocated
    (or later days) was taken as given, and the forecast of the rest of the
    day then knew the day's own orders. The error names the row and the
    value as written (QA: it gave no row, and the instant in UTC, which the
    file does not hold)."""
    orders = _write_orders(tmp_path / "orders.csv", 60)
    result = _allocate(
        orders, tmp_path / "out", "--engine", "greedy", "--history", str(orders)
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: orders.csv: row 2: field 'created_at': value "
        "'2026-01-05T06:00:00-05:00': 60 "
        "orders of the day to allocate (2026-01-05, the date at each "
        "destination) or later: a history holds earlier days' orders (a forecast "
        "that sees the day it decides knows its future), this one is 'O00000'\n"
    )
    assert not (tmp_path / "out").exists()
    # the evening before in Los Angeles is the day before (06:30 UTC on the
    # day); New York's first minutes of the day, row 4, are the day
    past = tmp_path / "past.csv"
    past.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        "H1,2026-01-04T12:00:00-05:00,C1,100,gold,TEE,1\n"
        "H2,2026-01-04T22:30:00-08:00,C2,900,gold,TEE,1\n"
        "H3,2026-01-05T00:10:00-05:00,C3,100,gold,TEE,1\n"
    )
    result = _allocate(orders, tmp_path / "out", "--history", str(past))
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: past.csv: row 4: field 'created_at': value "
        "'2026-01-05T00:10:00-05:00': 1 order of the day to allocate "
    ), result.output
    assert result.output.endswith("this one is 'H3'\n")


def test_a_history_of_the_days_before_is_taken_up_to_the_first_order(
    tmp_path: Path,
) -> None:
    """The day before's evening in the West runs past New York's midnight,
    after the day's first order: such a history (``simulate``'s own too) was
    refused whole. Its orders of the day before are taken, those placed
    after the first order to allocate left out (not arrived yet), and said."""
    args = ["generate", "orders", "--orders"]
    made = [
        CliRunner().invoke(cli, [*args, "20", "--start", "2026-01-19", "--out",
                                 str(tmp_path / "day.csv")]),
        CliRunner().invoke(cli, [*args, "2000", "--days", "7", "--seed", "4",
                                 "--start", "2026-01-12",
                                 "--out", str(tmp_path / "past.csv")]),
    ]  # fmt: skip
    assert all(m.exit_code == 0 for m in made), made
    past = pd.read_csv(tmp_path / "past.csv", dtype=str)
    day = pd.read_csv(tmp_path / "day.csv", dtype=str)
    first = pd.to_datetime(day["created_at"], utc=True, format="ISO8601").min()
    placed = pd.to_datetime(past["created_at"], utc=True, format="ISO8601")
    after = past.loc[placed >= first, "order_id"].nunique()
    assert after > 0  # the case: evening orders of Jan 18 in the West
    result = CliRunner().invoke(
        cli,
        ["allocate", "--orders", str(tmp_path / "day.csv"), "--engine", "greedy",
         "--history", str(tmp_path / "past.csv"), "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stamp = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        f"past.csv: {counted(after, 'order')} of the day before, placed after "
        f"the first order to allocate ({stamp}), left out of the forecast: not arrived yet"
    ) in result.stderr


def test_a_run_stops_writing_once_its_store_is_migrated_past_its_schema(
    tmp_path: Path, outage_day: tuple[list[str], dict[str, Any], Path]
) -> None:
    """A newer tierflow migrating the store during a long allocation: the run
    kept writing batches of the old shape to the end (only servers followed
    the schema's version). It now reads the version before each write: the
    next batch is refused by name, exit 1, nothing written after."""
    args, _, _ = outage_day
    out = tmp_path / "run"
    state = out / "state.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.main", *args, "--out", str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _committed(state) < 5 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before the migration"
        time.sleep(0.01)
    set_schema_version(state, SCHEMA_VERSION + 1)  # a newer tierflow's
    at_bump = _committed(state)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    newer = (
        f"store schema {SCHEMA_VERSION + 1} is newer than this tierflow's "
        f"{SCHEMA_VERSION}: upgrade tierflow"
    )
    assert newer in stderr and "Traceback" not in stderr, stderr
    assert at_bump <= _committed(state) <= at_bump + 1 < 60  # one in flight
    assert not (out / "allocations.csv").exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_deterministic_hindsight_runs_report_the_same_bound(tmp_path: Path) -> None:
    """With --deterministic the hindsight bound's LP and branch and bound
    stop on a budget of work derived from the limit, not on the clock: two
    runs give the same lp_bound to the last digit. On this day (600 orders,
    the tiny network at 40 % of its capacity) branch and bound needs about
    8 s of its root alone, so on the clock the bound depended on where the
    deadline found it (496,093.65 and 496,095.36 in two runs)."""
    orders = _write_orders(tmp_path / "orders.csv", 600, seed=4)
    options = ["--engine", "greedy", "--hindsight", "--deterministic"]
    options += ["--time-limit", "6", "--capacity-scale", "0.4"]
    summaries = []
    for attempt in ("a", "b"):
        done = _allocate(orders, tmp_path / attempt, *options)
        assert done.exit_code == 0, done.output
        summaries.append(json.loads((tmp_path / attempt / "summary.json").read_text()))
    first, second = summaries
    assert first["lp_bound"] is not None
    assert repr(first["lp_bound"]) == repr(second["lp_bound"])
    assert first["lp_bound"] >= 496085.6  # the LP's value
    assert (
        first["lp_bound_stop"]
        == second["lp_bound_stop"]
        == {
            "lp": "finished",
            "branch_and_bound": "mip_checks",
        }
    )
    assert first["lp_bound_budget"] == {
        "seconds": 3.0,
        "lp_iterations": 3 * linear_program.BOUND_LP_ITERATIONS_PER_S,
        "mip_checks": math.ceil(3 * linear_program.BOUND_MIP_CHECKS_PER_S),
        "wall_s": 3.0 * linear_program.BOUND_WALL_FACTOR
        + linear_program.BOUND_OVERHEAD_S,
    }


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[None]:
    """A local Dask cluster of 2 single-thread worker processes, its client
    the default, for the module's tests of the Dask backend (the last of
    the module, so that it lives while they run only): started once, not
    once a test (about 2 s of CPU a start)."""
    with local_cluster(2, threads_per_worker=1):
        yield


def test_partitions_on_a_dask_local_cluster(tmp_path: Path, dask_cluster: None) -> None:
    net = load_network(TINY)
    orders = read_orders(_write_orders(tmp_path / "orders.csv", 80, seed=5), net)
    capacity = np.array([60.0, 40.0, 5.0])
    local, on_dask = (
        DayAllocator(
            net,
            orders,
            capacity=capacity,
            settings=AllocationSettings(
                engine="greedy", backend=backend, batch_minutes=120
            ),
        ).run()
        for backend in ("loky", "dask")
    )
    for out in (local, on_dask):
        assert_rows_verify(net, orders, out.rows, capacity)
    # same partitions, same deterministic engine: the same decisions
    pd.testing.assert_frame_equal(
        local.rows[["order_id", "node_id", "status"]].reset_index(drop=True),
        on_dask.rows[["order_id", "node_id", "status"]].reset_index(drop=True),
    )


def test_stock_prices_on_every_backend_give_the_same_partitions_answer(
    tmp_path: Path, dask_cluster: None
) -> None:
    """On thin stock, where the stock bid prices decide, loky, threads and
    a Dask cluster solve the same region partitions to the same decisions
    (the prices are added before the batch is split; ``--backend none``
    solves the batch unsplit, a different decomposition with or without
    stock prices). 120 orders in 30 batches: enough for the stock to run
    out and the prices to decide."""
    net = load_network(_thin_network(tmp_path))
    orders = read_orders(_write_orders(tmp_path / "orders.csv", 120, seed=2), net)

    def run(**settings: Any) -> pd.DataFrame:
        out = DayAllocator(
            net,
            orders,
            settings=AllocationSettings(engine="greedy", batch_size=4, **settings),
        ).run()
        return out.rows[["order_id", "sku", "node_id", "status"]]

    loky = run(backend="loky")
    assert not loky.equals(run(backend="loky", stock_bid_prices=False))
    pd.testing.assert_frame_equal(loky, run(backend="threading", n_jobs=1))
    pd.testing.assert_frame_equal(loky, run(backend="dask"))


def test_allocate_moves_the_checkout_work_of_the_lines_it_ships_elsewhere(
    tmp_path: Path,
) -> None:
    """Two TEEs confirmed at ST-CHI (1.0 each) and a TEE+MUG at WH-EAST
    (3.5), then ST-CHI closes before the batch: the live map has ST-CHI's
    2.0 at WH-EAST once the run committed, and the same command run again
    (resumed: nothing to write) moves nothing twice."""
    state = tmp_path / "state.db"
    with tiny_router(tmp_path, state=state) as router:
        for k, lines in enumerate(
            [[("TEE", 1)], [("TEE", 2), ("MUG", 1)], [("TEE", 1)]]
        ):
            now = MONDAY_10 + dt.timedelta(minutes=k)
            answer = router.generate_fulfillment_options(f"C{k}", lines, "606", now=now)
            assert router.select(answer.request_id, "gold", now=now).ok
            router.confirm(answer.request_id, now=now)
    with open_store(state) as store:
        assert _backlog(store) == {"WH-EAST": 3.5, "WH-WEST": 0.0, "ST-CHI": 2.0}
        write_orders(store.online_orders(), tmp_path / "orders.csv")
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event_id": "x", "ts": "2026-01-05T14:00:00Z", "node_id": "ST-CHI", '
        '"type": "outage", "value": true}\n'
    )
    args = ("--state", str(state), "--engine", "greedy", "--events", str(events))
    for run in range(2):
        result = _allocate(tmp_path / "orders.csv", tmp_path / "out", *args)
        assert result.exit_code == 0, result.output
        rows = pd.read_csv(tmp_path / "out" / "allocations.csv")
        assert set(rows["node_id"]) == {"WH-EAST"}
        with open_store(state) as store:
            assert _backlog(store) == {"WH-EAST": 5.5, "WH-WEST": 0.0, "ST-CHI": 0.0}
            logged = store.events_after(0)
            assert len(logged) == 3 + 4  # 2 moves of 2 orders
        # dated the batch's time on the orders' day, not the wall clock's (a
        # replayed day's map read "as of" the day the run was made)
        moves = [e.ts for e in logged if ":allocation:" in e.event_id]
        assert len(moves) == 4
        assert all(
            dt.datetime.fromisoformat(ts).date() == MONDAY_10.date() for ts in moves
        ), moves
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["resumed_batches"] == run


def test_a_run_resumed_after_another_says_the_backlog_stays_the_others(
    tmp_path: Path,
) -> None:
    """Run 1 (ST-CHI closed) moves ST-CHI's 2.0 to WH-EAST; run 2 (no
    outage, another run id) moves it back. Run 1's command again is run 1
    resumed: it writes nothing and moves nothing, so the backlog stays run
    2's, and it says so (it said only "resuming: 1 of 1 batches", and the
    docs' "a third deciding as the first moves them back" read as if it
    would)."""
    state = tmp_path / "state.db"
    with tiny_router(tmp_path, state=state) as router:
        for k, lines in enumerate(
            [[("TEE", 1)], [("TEE", 2), ("MUG", 1)], [("TEE", 1)]]
        ):
            now = MONDAY_10 + dt.timedelta(minutes=k)
            answer = router.generate_fulfillment_options(f"C{k}", lines, "606", now=now)
            assert router.select(answer.request_id, "gold", now=now).ok
            router.confirm(answer.request_id, now=now)
    with open_store(state) as store:
        write_orders(store.online_orders(), tmp_path / "orders.csv")
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event_id": "x", "ts": "2026-01-05T14:00:00Z", "node_id": "ST-CHI", '
        '"type": "outage", "value": true}\n'
    )
    closed = ("--state", str(state), "--engine", "greedy", "--events", str(events))
    first = _allocate(tmp_path / "orders.csv", tmp_path / "a", *closed)
    assert first.exit_code == 0, first.output
    assert "live backlog follows" not in first.stderr
    moved = {"WH-EAST": 5.5, "WH-WEST": 0.0, "ST-CHI": 0.0}
    with open_store(state) as store:
        assert _backlog(store) == moved
    open_ = ("--state", str(state), "--engine", "greedy")
    second = _allocate(tmp_path / "orders.csv", tmp_path / "b", *open_)
    assert second.exit_code == 0, second.output
    with open_store(state) as store:
        back = _backlog(store)
        assert back != moved
        second_run = store.latest_allocation_run()
    assert second_run is not None
    again = _allocate(tmp_path / "orders.csv", tmp_path / "c", *closed)
    assert again.exit_code == 0, again.output
    assert "resuming: 1 of 1 batches" in again.stderr
    assert (
        f"the live backlog follows run {second_run.run_id[:12]}, written after run "
    ) in again.stderr
    assert "move no work back" in again.stderr
    with open_store(state) as store:
        assert _backlog(store) == back
    # run 2 again is the latest to place the work: nothing to say
    latest = _allocate(tmp_path / "orders.csv", tmp_path / "d", *open_)
    assert latest.exit_code == 0, latest.output
    assert "live backlog follows" not in latest.stderr


def _backlog(store: StateStore) -> dict[str, float]:
    """The backlog per node of a capacity map rebuilt from the store's log."""
    monitor = CapacityMonitor.open(load_network(TINY), store)
    return {
        n: float(monitor.backlog[i]) for i, n in enumerate(monitor.network.node_ids)
    }


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--forecast", "perfect"], "--forecast applies"),
        (["--forecast-sweep", "0.5,1"], "--forecast-sweep applies"),
        (
            ["--staffing", "day", "--forecast", "history"],
            "--forecast, --staffing apply",
        ),
    ],
)
def test_bench_allocation_refuses_the_days_options_without_days(
    tmp_path: Path, given: list[str], said: str
) -> None:
    """``--forecast``, ``--forecast-sweep`` and ``--staffing`` shape a run of
    ``--days N``; given to one day they were ignored without a word (QA
    2026-12-07): now a usage error, nothing run or written."""
    out = tmp_path / "one"
    args = ["bench", "allocation", "--network", str(TINY), "--orders", "20"]
    args += ["--engines", "greedy", *given, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"Error: {said} to a run of --days N only" in result.stderr
    assert not out.exists()


def test_a_capacity_scale_past_the_allocator_s_bound_names_the_node_first(
    tmp_path: Path,
) -> None:
    """A node's capacity (2,000,000 units: within nodes.csv's 10⁹) times
    ``--capacity-scale 1000`` (within its range) is past the 10⁹ the
    allocator takes: the run made OUT/state.db, then stopped with "field
    'capacity': index 0: value 2000000000.0", an array's index. It is
    refused before anything is made, naming the option, the node and the
    file."""
    network = tmp_path / "network"
    shutil.copytree(TINY, network)
    nodes = network / "nodes.csv"
    nodes.write_text(nodes.read_text().replace(",1000,1.5,", ",2000000,1.5,"))
    orders = _write_orders(tmp_path / "orders.csv", 5)
    out = tmp_path / "fresh" / "out"
    args = ["allocate", "--network", str(network), "--orders", str(orders)]
    args += ["--engine", "greedy", "--capacity-scale", "1000", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.output.endswith(
        "Error: field '--capacity-scale': value 1000.0: scales node WH-EAST's "
        "capacity_units_per_day of 2,000,000 (nodes.csv) to 2,000,000,000, "
        "past the 1,000,000,000 units a node can have\n"
    ), result.output
    assert not (tmp_path / "fresh").exists()


def test_the_screen_line_writes_every_count_in_thousands() -> None:
    """The first count had its thousands separator and the rest none:
    "4,000 orders: 3958 allocated, 42 deferred" (found following
    docs/cli.md's 4,000-order example)."""
    from tierflow.cli.allocate_cmd import _screen

    summary = {
        "n_orders": 4000, "n_allocated": 3958, "n_deferred": 1040,
        "n_unfillable": 2002, "total_cost": 96019.2, "repriced_total_cost": 96019.2,
        "rerouted": 1234, "events_applied": 1500, "events_after_last_batch": 1200,
        "batch_solve_p95_s": 0.5,
    }  # fmt: skip
    line = _screen(summary, Path("out"))
    assert line.startswith(
        "4,000 orders: 3,958 allocated, 1,040 deferred, 2,002 unfillable; "
        "total cost 96,019.20 (re-priced 96,019.20); rerouted 1,234 "
        "(1,500 capacity events applied, 1,200 after the last batch); "
    ), line
