"""`tierflow simulate` reruns: a second run in the same folder starts fresh and
prints the same day; bad inputs write nothing; a killed run resumes to the
same day (small days on the sample network, given scores, the greedy engine
so that every run decides alike)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tests.conftest import ROOT, TINY_NETWORK
from tests.networks import network_in_zone
from tests.spend_scores import write_spend_scores
from tierflow.cli import simulate_cmd
from tierflow.cli.main import cli
from tierflow.data import text_files
from tierflow.orchestration.simulation import report
from tierflow.orchestration.simulation.day import SimulationResult
from tierflow.orchestration.simulation.report import write_report

#: A generous time limit per batch: the greedy engine's local search then
#: stops at its local optimum, not at the clock, so a busy machine still
#: repeats the day exactly (the runs compare byte for byte). 24 checkouts
#: are a whole day all the same (every tier, overflow taken, an upgrade,
#: deferred orders, the outage: ``first_run`` checks) in about half the
#: CPU time of 60 (4.0 s against 8.3 s a run): a run's time is mostly its
#: batches and their bid-price LPs (each over a fixed 1000-order sample,
#: about every fourth batch), and a smaller day has fewer batches.
DAY = [
    "--seed",
    "2",  # a day with every part at 24 (an upgrade confirmed is the rarest)
    "--checkouts",
    "24",
    "--engine",
    "greedy",
    "--time-limit",
    "30",
    "--hindsight-time-limit",
    "30",
]
#: Outputs compared byte for byte between runs.
SAME_BYTES = (
    "carts.csv",
    "checkouts.csv",
    "capacity_scores.csv",
    "cost.png",
    "service.png",
    "capacity.png",
    "overflow.png",
)


@pytest.fixture(scope="module")
def scores(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scores from each customer's historic spend (a stand-in CLTV model)."""
    return write_spend_scores(sample_dir, tmp_path_factory.mktemp("scores") / "s.csv")


def _args(scores: Path, out: Path, *extra: str) -> list[str]:
    return ["simulate", *DAY, "--cltv-scores", str(scores), *extra, "--out", str(out)]


def _simulate(scores: Path, out: Path, *extra: str) -> Result:
    result = CliRunner().invoke(cli, _args(scores, out, *extra))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def first_run(
    scores: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, str]:
    """A first run's folder, a copy of it, and what it printed."""
    out = tmp_path_factory.mktemp("first") / "sim"
    with pytest.MonkeyPatch.context() as patch:  # which files the run reads
        read = text_files.read_utf8

        def reading(path: Path, *args: Any, **kwargs: Any) -> str:
            _READS.append(Path(path).name)
            return read(path, *args, **kwargs)

        patch.setattr(text_files, "read_utf8", reading)
        printed = _simulate(scores, out).stdout
    # the reruns below compare a day with all its parts
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tier_mix"]) == {"platinum", "gold", "silver", "overflow"}
    assert summary["overflow_taken"] > 1 and summary["upgrades"]["confirmed"] > 0
    assert summary["outage_node"] is not None
    assert sum(p["n_deferred"] for p in summary["policies"].values()) > 0
    kept = out.with_name("kept")
    shutil.copytree(out, kept)
    return out, kept, printed


#: The text files ``first_run`` read, one name per read.
_READS: list[str] = []


def test_the_progress_counts_every_checkout(scores: Path, tmp_path: Path) -> None:
    """The progress moved along the checkouts every 50th only and never
    counted the step's end: a day of 24 checkouts read "3/29 (10 %),
    allocate: hindsight" with every checkout done (a day of 3,000 left its
    last 50 out). The allocations now start past every checkout."""
    args = ["--log-format", "json", *_args(scores, tmp_path / "sim")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    steps = [
        (r["step"], r["done"], r["total"])
        for r in records
        if r["logger"] == "tierflow.progress" and r["step"]
    ]
    allocating = [s for s in steps if s[0].startswith("allocate")]
    # cltv, carts and the 24 checkouts done, the hindsight plan started
    assert allocating[0] == ("allocate: hindsight", 2 + 24 + 1, 5 + 24)


def test_a_run_reads_the_customers_once(first_run: tuple[Path, Path, str]) -> None:
    """customers.csv was read three times (checked before the CLTV step,
    then again for the carts and for the history before the day)."""
    assert _READS.count("customers.csv") == 1


#: The solve times of ``summary.json``'s policies (the only figures that vary).
TIMINGS = {"batch_solve_p95_s", "runtime_s"}


def _without_timings(value: Any) -> Any:
    """``summary.json`` without its solve times."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    return value


def _page_without_timings(folder: Path) -> str:
    """``report.html`` without the policy table's last column (solve time:
    ``one solve, 18.6 s``, ``99 batches, 95 % within 0.017 s``)."""
    page = (folder / "report.html").read_text()
    return re.sub(r"<td>[^<]*[0-9.] s</td></tr>", "<td>t</td></tr>", page)


def _rows_without_ids(path: Path) -> list[str]:
    """A CSV's rows without ``order_id`` (a checkout's random request id), sorted."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return sorted(frame.drop(columns="order_id").to_csv(index=False).splitlines())


def _assert_same_day(a: Path, b: Path) -> None:
    for name in SAME_BYTES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ("orders.csv", "allocations.csv"):
        assert _rows_without_ids(a / name) == _rows_without_ids(b / name), name
    summary_a = json.loads((a / "summary.json").read_text())
    summary_b = json.loads((b / "summary.json").read_text())
    assert _without_timings(summary_a) == _without_timings(summary_b)
    assert _page_without_timings(a) == _page_without_timings(b)


def _confirmed_in_store(folder: Path) -> int:
    with sqlite3.connect(f"file:{folder / 'state.db'}?mode=ro", uri=True) as conn:
        return int(
            conn.execute(
                "SELECT COUNT(DISTINCT order_id) FROM online_orders"
            ).fetchone()[0]
        )


def test_a_second_run_in_the_same_folder_starts_fresh(
    scores: Path, first_run: tuple[Path, Path, str]
) -> None:
    out, kept, printed = first_run
    (out / "notes.txt").write_text("not ours")
    second = _simulate(scores, out)
    assert second.stdout == printed
    assert "resum" not in second.stderr and "discarded" not in second.stderr
    _assert_same_day(kept, out)
    summary = json.loads((out / "summary.json").read_text())
    # the store holds this run's orders only (it was not the first run's store)
    assert _confirmed_in_store(out) == summary["confirmed"]
    assert (out / "notes.txt").read_text() == "not ours"
    assert not out.with_name(".sim.partial").exists()


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _bad_history(sample_dir: Path, folder: Path) -> Path:
    """The sample network with one transaction's amount made unreadable."""
    shutil.copytree(sample_dir, folder)
    path = folder / "transactions.csv"
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[5].split(",")
    header = lines[0].strip().split(",")
    cells[header.index("amount")] = "12..5"
    lines[5] = ",".join(cells)
    path.write_text("".join(lines))
    return folder


@pytest.mark.parametrize(
    "bad", ["scores", "repeated customer", "history", "late day", "early day"]
)
def test_bad_inputs_write_nothing(
    bad: str,
    scores: Path,
    sample_dir: Path,
    first_run: tuple[Path, Path, str],
    tmp_path: Path,
) -> None:
    given = tmp_path / "scores.csv"
    if bad == "scores":
        given.write_text(scores.read_text() + "C-NEW,12..5,0.5,gold\n")
        args = ["--cltv-scores", str(given)]
        message = "scores.csv: row "
    elif bad == "repeated customer":
        lines = scores.read_text().splitlines(keepends=True)
        given.write_text("".join([*lines, lines[5]]))
        args = ["--cltv-scores", str(given)]
        customer = lines[5].split(",")[0]
        message = (
            f"scores.csv: row {len(lines) + 1}: field 'customer_id': "
            f"value '{customer}': duplicate customer_id"
        )
    elif bad == "history":
        args = ["--network", str(_bad_history(sample_dir, tmp_path / "net"))]
        message = "transactions.csv: row 6: field 'amount': value '12..5'"
    elif bad == "late day":
        # TIERFLOW_NOW is 2026-06-01: the day's capacity events must be in
        # the event log's window, a year ahead at most
        args = ["--day", "2027-06-01"]
        message = (
            "Error: field '--day': value '2027-06-01 (its events run into "
            "2027-06-02)': outside the allowed window "
            "2016-06-01 .. 2027-06-01 (10 years before to 1 year after now)"
        )
    else:
        # the sample's purchase history starts in 2024: nothing to train on
        args = ["--day", "2023-06-01"]
        message = (
            "transactions.csv: field 'as_of': value '2023-05-31': history too "
            "short to train"
        )
    fresh = tmp_path / "runs" / "fresh"
    existing = tmp_path / "existing"
    shutil.copytree(first_run[1], existing)
    before = _tree(existing)
    for out in (fresh, existing):
        result = CliRunner().invoke(cli, ["simulate", *DAY, *args, "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
    assert _tree(existing) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _run_until(args: list[str], marker: Path) -> None:
    """Start ``tierflow ARGS`` and kill it (SIGKILL) once ``marker`` exists."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.main", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not marker.exists() and time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def killed(scores: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unfinished folder of a run of ``DAY`` killed during the checkouts
    (once its CLTV step is done): each test resumes or discards a copy of it
    beside its own ``sim`` (``--resume`` takes a folder of the same job
    wherever it is: the job is the settings and the inputs' digests)."""
    out = tmp_path_factory.mktemp("killed") / "sim"
    partial = out.with_name(".sim.partial")
    _run_until(_args(scores, out), partial / ".checkpoints" / "cltv.pkl")
    assert not out.exists()
    return partial


def test_a_killed_run_resumes_to_the_same_day(
    scores: Path, first_run: tuple[Path, Path, str], killed: Path, tmp_path: Path
) -> None:
    first, kept, printed = first_run
    out = tmp_path / "sim"
    # killed during the checkouts (they change the store: resume starts them
    # again from the store as the CLTV step left it)
    shutil.copytree(killed, tmp_path / ".sim.partial")
    resumed = _simulate(scores, out, "--resume")
    assert f"resuming {out}: done before: cltv" in resumed.stderr
    assert resumed.stdout == printed.replace(str(first), str(out))
    _assert_same_day(kept, out)
    assert not (tmp_path / ".sim.partial").exists()


def test_resume_refuses_another_job(scores: Path, killed: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    shutil.copytree(killed, tmp_path / ".sim.partial")
    other = CliRunner().invoke(cli, [*_args(scores, out, "--resume"), "--seed", "3"])
    assert other.exit_code == 1
    assert "field '--resume': the unfinished run there was started with other" in (
        other.output
    )
    # the batch policy without stock prices is another job too; the
    # default is not in the identity (runs from before the switch resume)
    other = CliRunner().invoke(
        cli, _args(scores, out, "--resume", "--no-stock-bid-prices")
    )
    assert other.exit_code == 1
    assert "field '--resume': the unfinished run there was started with other" in (
        other.output
    )
    identity = tmp_path / ".sim.partial" / ".checkpoints" / "identity.json"
    assert "stock_bid_prices" not in json.loads(identity.read_text())["settings"]
    assert (tmp_path / ".sim.partial" / ".checkpoints" / "cltv.pkl").exists()
    # a fresh run beside it discards it: the run of
    # test_no_stock_bid_prices_charges_the_batches_capacity_prices_only


def _network_copy(sample_dir: Path, folder: Path) -> Path:
    shutil.copytree(sample_dir, folder)
    return folder


def test_networks_validate_only_warns_about(
    scores: Path, sample_dir: Path, tmp_path: Path
) -> None:
    """Two networks ``network validate`` passes with a warning crashed the
    day with a traceback. No capacity anywhere cannot be scaled to the day's
    work: refused by name before anything is written. No stock anywhere is
    a day where nothing is confirmed: it runs, and the screen says n/a where
    there was nothing to count ("Platinum on time 0.0 %" before)."""
    no_capacity = _network_copy(sample_dir, tmp_path / "no-capacity")
    nodes = pd.read_csv(no_capacity / "nodes.csv")
    nodes["capacity_units_per_day"] = 0
    nodes.to_csv(no_capacity / "nodes.csv", index=False)
    out = tmp_path / "runs" / "a"
    args = ["simulate", "--checkouts", "8", "--engine", "greedy"]
    args += ["--cltv-scores", str(scores)]
    refused = CliRunner().invoke(
        cli, [*args, "--network", str(no_capacity), "--out", str(out)]
    )
    assert refused.exit_code == 1
    assert refused.output.endswith(
        "Error: nodes.csv: field 'capacity_units_per_day': every node has "
        "capacity 0: the simulated day scales the nodes' capacities to its "
        "work, so at least one node needs some\n"
    ), refused.output
    assert not (tmp_path / "runs").exists()

    no_stock = _network_copy(sample_dir, tmp_path / "no-stock")
    (no_stock / "inventory.csv").write_text(
        (no_stock / "inventory.csv").read_text().splitlines()[0] + "\n"
    )
    ran = CliRunner().invoke(
        cli, [*args, "--network", str(no_stock), "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["checkouts"], summary["confirmed"]) == (8, 0)
    assert "recommended taken n/a" in ran.stdout
    assert "Platinum on time n/a" in ran.stdout and "0.0 %" not in ran.stdout


def test_keep_capacity_runs_a_day_whose_every_node_has_capacity_0(
    scores: Path, sample_dir: Path, tmp_path: Path
) -> None:
    """``--keep-capacity`` scales nothing: a day on a network whose every
    node is at capacity 0 (every node closed) is a day where nothing can be
    offered, as one with no stock. It was refused, saying "the simulated day
    scales the nodes' capacities to its work", which that flag says it does
    not."""
    closed = _network_copy(sample_dir, tmp_path / "closed")
    nodes = pd.read_csv(closed / "nodes.csv")
    nodes["capacity_units_per_day"] = 0
    nodes.to_csv(closed / "nodes.csv", index=False)
    out = tmp_path / "runs" / "a"
    args = ["simulate", "--checkouts", "8", "--engine", "greedy", "--keep-capacity"]
    args += ["--cltv-scores", str(scores), "--network", str(closed), "--out", str(out)]
    ran = CliRunner().invoke(cli, args)
    assert ran.exit_code == 0, ran.output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["checkouts"], summary["confirmed"]) == (8, 0)
    assert summary["no_options"] == 8


def test_a_header_only_customers_table_is_refused_before_training(
    sample_dir: Path, tmp_path: Path
) -> None:
    """The carts' shoppers come from customers.csv, read when the carts are
    generated: a table with no rows was refused there, after the CLTV model
    had trained (half a minute on the sample). It is read with the network
    now: the one error line, no progress of any step, nothing written."""
    network = _network_copy(sample_dir, tmp_path / "no-customers")
    path = network / "customers.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    out = tmp_path / "runs" / "sim"
    args = ["simulate", "--checkouts", "20", "--engine", "greedy"]
    result = CliRunner().invoke(
        cli, [*args, "--network", str(network), "--out", str(out)]
    )
    assert result.exit_code == 1
    refused = (
        "Error: customers.csv: no customers (a header only): give some, or "
        "remove the file to generate customers\n"
    )
    assert result.output == refused
    assert not (tmp_path / "runs").exists()
    # and `network validate` says so of the folder (it said "OK")
    checked = CliRunner().invoke(cli, ["network", "validate", str(network)])
    assert (checked.exit_code, checked.output) == (1, refused)
    path.unlink()
    checked = CliRunner().invoke(cli, ["network", "validate", str(network), "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["customers"] is None


@pytest.mark.parametrize(
    ("table", "column", "written"),
    [
        ("customers.csv", "signup_date", "03/01/2024"),
        ("transactions.csv", "order_date", "01/15/2025"),
    ],
)
def test_validate_reads_the_purchase_history_as_simulate_trains_on_it(
    sample_dir: Path, tmp_path: Path, table: str, column: str, written: str
) -> None:
    """The day trains its CLTV model on the folder's transactions.csv with
    customers.csv's profile columns: a date written the American way in
    either was refused by ``simulate`` (nothing written) while ``network
    validate`` said "OK" of the folder. Both refuse it now, in one line."""
    network = _network_copy(sample_dir, tmp_path / "us-dates")
    frame = pd.read_csv(network / table, dtype=str, keep_default_na=False)
    frame.loc[1, column] = written
    frame.to_csv(network / table, index=False)
    out = tmp_path / "runs" / "sim"
    args = ["simulate", "--checkouts", "20", "--engine", "greedy"]
    result = CliRunner().invoke(
        cli, [*args, "--network", str(network), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {network / table}: row 3: field '{column}': value '{written}': "
    ), result.output
    assert not (tmp_path / "runs").exists()
    checked = CliRunner().invoke(cli, ["network", "validate", str(network)])
    assert (checked.exit_code, checked.output) == (1, result.output)


@pytest.mark.parametrize(
    ("table", "column", "written"),
    [
        ("customers", "signup_date", "03/01/2024"),
        ("transactions", "order_date", "01/15/2025"),
    ],
)
def test_the_purchase_history_may_be_parquet_as_every_network_table(
    sample_dir: Path, tmp_path: Path, table: str, column: str, written: str
) -> None:
    """A network table may be CSV or Parquet, but the purchase history was
    looked for under its ``.csv`` names only: a folder of Parquet tables
    validated "OK" with its transactions unread, ``simulate`` said "no
    transactions.csv", and the model trained without the profiles that
    ``generate orders`` drew its shoppers from. Both read them now, and
    refuse a bad cell in either alike."""
    network = _network_copy(sample_dir, tmp_path / "parquet-history")
    for name in ("customers", "transactions"):
        frame = pd.read_csv(network / f"{name}.csv", dtype=str, keep_default_na=False)
        if name == table:
            frame.loc[1, column] = written
        frame.to_parquet(network / f"{name}.parquet", index=False)
        (network / f"{name}.csv").unlink()
    out = tmp_path / "runs" / "sim"
    args = ["simulate", "--checkouts", "20", "--engine", "greedy"]
    result = CliRunner().invoke(
        cli, [*args, "--network", str(network), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {network / table}.parquet: record 2: field '{column}': "
        f"value '{written}': "
    ), result.output
    assert not (tmp_path / "runs").exists()
    checked = CliRunner().invoke(cli, ["network", "validate", str(network)])
    assert (checked.exit_code, checked.output) == (1, result.output)


def test_validate_counts_the_purchase_history(sample_dir: Path) -> None:
    """What ``simulate`` trains on is read and counted (the sample's log)."""
    checked = CliRunner().invoke(cli, ["network", "validate", "--json"])
    assert checked.exit_code == 0, checked.output
    log = pd.read_csv(sample_dir / "transactions.csv")
    assert json.loads(checked.stdout)["transactions"] == len(log) > 0


@pytest.mark.parametrize(
    "given",
    ["1300", "13:00:00", "13:00Z", "13:00+09:00", "25:00", "24:00", "7:60", "7"],
)
def test_the_outage_is_hh_mm(given: str, tmp_path: Path) -> None:
    """``--outage`` takes HH:MM, on the network's main zone's clock, as
    documented: an offset was taken and ignored (13:00+09:00 went down at
    13:00 New York), and 1300 passed too."""
    result = CliRunner().invoke(
        cli, ["simulate", "--outage", given, "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert result.output.endswith(  # the value named, as every bad value is
        f"Error: Invalid value for '--outage': '{given}': expected HH:MM (the "
        "network's main time zone) or 'none'\n"
    )
    assert not (tmp_path / "out").exists()


def test_the_outage_takes_a_single_digit_hour() -> None:
    """7:00, as a spreadsheet or a person writes it, was "expected HH:MM"."""
    assert simulate_cmd._outage("7:00") == dt.time(7, 0)
    assert simulate_cmd._outage("07:00") == dt.time(7, 0)
    assert simulate_cmd._outage("0:05") == dt.time(0, 5)
    assert simulate_cmd._outage("None") is None


@pytest.fixture(scope="module")
def berlin_kept(
    sample_dir: Path, scores: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The folder of a day of 10 checkouts on the sample network moved to
    Europe/Berlin, run with ``--keep-capacity`` (orders before 13:00, so a
    busiest node to take down): one run for the tests below, a run's
    fixed cost being most of a small day's."""
    folder = tmp_path_factory.mktemp("berlin")
    net = network_in_zone(sample_dir, folder / "net", "Europe/Berlin")
    out = folder / "sim"
    args = [*_args(scores, out), "--network", str(net), "--checkouts", "10"]
    result = CliRunner().invoke(cli, [*args, "--keep-capacity"])
    assert result.exit_code == 0, result.output
    return out


def test_a_berlin_network_s_day_runs_on_berlin_s_clock(berlin_kept: Path) -> None:
    """On a network in Europe/Berlin the outage's 13:00 and the report's
    times were New York's (the node went down at 19:00 Berlin, the axes
    read New York's clock); they are the network's main zone's now."""
    out = berlin_kept
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timezone"] == "Europe/Berlin"
    with sqlite3.connect(f"file:{out / 'state.db'}?mode=ro", uri=True) as conn:
        outage = conn.execute(
            "SELECT ts, node_id FROM capacity_events WHERE type = 'outage'"
        ).fetchall()
    assert outage == [("2026-01-19T12:00:00+00:00", summary["outage_node"])]
    assert "Times are Berlin local time (CET)." in (out / "report.html").read_text()


def test_a_berlin_day_s_capacities_are_logged_before_its_first_checkout(
    berlin_kept: Path,
) -> None:
    """The day's node capacities are dated at the start of its business day,
    Berlin's midnight (23:00 UTC the day before): they were dated 00:00 UTC,
    an hour into the day, so the state store's log set them after the
    checkouts they answered (15 of 500 on a QA day of 2026-10-25, 2026-12-07),
    and the log replayed in time order scored those on nodes.csv's
    capacities."""
    with sqlite3.connect(f"file:{berlin_kept / 'state.db'}?mode=ro", uri=True) as conn:
        opened = conn.execute(
            "SELECT DISTINCT ts FROM capacity_events WHERE type = 'nominal_capacity'"
        ).fetchall()
        asked = [
            json.loads(body)["request"]["now"]
            for (body,) in conn.execute("SELECT body FROM quotes")
        ]
    assert opened == [("2026-01-18T23:00:00+00:00",)]
    assert asked and all(
        dt.datetime.fromisoformat(now) >= dt.datetime.fromisoformat(opened[0][0])
        for now in asked
    )


def test_the_savings_line_of_a_day_dearer_than_the_nearest_node() -> None:
    """A day where the engine cost more than the nearest node (a network whose
    stock is all at one node) said "saved $-106 (-1.8 %)"."""
    from tierflow.cli.simulate_cmd import _savings_line

    v = {
        "policy": "cpsat + bid prices",
        "vs_nearest": -106.28,
        "vs_nearest_pct": -1.807,
        "above_bound": 532.1,
    }
    assert _savings_line(v) == (
        "  cpsat + bid prices: cost $106 (1.8 %) more than the nearest node; "
        "$532 above the hindsight bound"
    )
    v |= {"vs_nearest": 1381.7, "vs_nearest_pct": 16.58}
    assert _savings_line(v) == (
        "  cpsat + bid prices: saved $1,382 (16.6 %) against the nearest node; "
        "$532 above the hindsight bound"
    )


def test_a_tight_bound_is_not_above_the_costs_it_bounds(tmp_path: Path) -> None:
    """One checkout (seed 2: its one shopper's score given, so the tier is
    overflow) whose seven lines every policy defers at $3.234698188... each:
    the bound is the day's optimum. The policies' costs sum their lines'
    rounded costs (25.877584), the bound was the LP's value (25.8775855), and
    the screen printed "+-0.00 %" and "$-0 above the hindsight bound", the
    report "Left on the table, at most −$0", for a lower bound above every
    cost. The bound is now the cost it passes by rounding alone."""
    scores = tmp_path / "one.csv"
    scores.write_text(
        "customer_id,predicted_spend,p_active,segment\nC008023,3.15171,0.229384,gold\n"
    )
    out = tmp_path / "sim"
    args = ["simulate", "--seed", "2", "--checkouts", "1", "--engine", "greedy"]
    args += ["--deterministic", "--time-limit", "0.3", "--hindsight-time-limit", "2"]
    args += ["--cltv-scores", str(scores), "--out", str(out)]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "summary.json").read_text())
    costs = {name: p["total_cost"] for name, p in summary["policies"].items()}
    assert set(costs.values()) == {25.877584}
    assert summary["lp_bound"] == 25.877584
    gaps = {name: p["gap_to_bound_pct"] for name, p in summary["policies"].items()}
    assert set(gaps.values()) == {0.0}
    assert summary["savings"]["above_bound"] == 0.0
    assert "+-" not in done.output and "$-" not in done.output
    assert "$0 above the hindsight bound" in done.output
    assert "−$0" not in (out / "report.html").read_text()


def test_a_backtest_of_given_scores_is_refused(scores: Path, tmp_path: Path) -> None:
    """``--cltv-backtest`` backtests the model the day trains; with
    ``--cltv-scores`` none is trained, and the flag was dropped without a
    word (the run went on, no backtest in the report). A usage error, as
    ``allocate``'s combinations that cannot both apply; nothing written."""
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, _args(scores, out, "--cltv-backtest"))
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "Error: --cltv-backtest backtests the CLTV model the day trains; "
        "--cltv-scores publishes given scores, with no model: give one or "
        "the other\n"
    )
    assert not out.exists()


def test_keep_capacity_runs_on_the_network_s_own_capacities(
    sample_dir: Path, berlin_kept: Path
) -> None:
    """The day was always staffed to ``--utilization`` of its expected work,
    the network file's capacities rescaled: a retailer could not simulate
    its own staffing. ``--keep-capacity`` opens the day at nodes.csv's
    (before its first checkout; the day of ``berlin_kept``, whose network
    has the sample's capacities)."""
    out = berlin_kept
    nodes = pd.read_csv(sample_dir / "nodes.csv")
    expected = dict(zip(nodes["node_id"], nodes["capacity_units_per_day"], strict=True))
    with sqlite3.connect(f"file:{out / 'state.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT node_id, payload FROM capacity_events "
            "WHERE type = 'nominal_capacity' ORDER BY seq"
        ).fetchall()
    opened = {node: json.loads(payload)["value"] for node, payload in rows}
    assert opened == {node: float(cap) for node, cap in expected.items()}


def test_keep_capacity_and_utilization_are_refused_together(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        cli,
        ["simulate", "--keep-capacity", "--utilization", "0.8", "--out", str(out)],
    )
    assert result.exit_code == 2
    assert (
        "Error: --keep-capacity keeps the network's capacities, --utilization "
        "staffs them to a share of the expected work: give one\n"
    ) in result.output
    assert not out.exists()


def test_no_stock_bid_prices_charges_the_batches_capacity_prices_only(
    scores: Path, first_run: tuple[Path, Path, str], killed: Path, tmp_path: Path
) -> None:
    """``allocate --no-stock-bid-prices`` had no ``simulate`` switch: the
    day's batch policy always charged stock bid prices. With it, that policy
    runs on capacity bid prices only (``docs/allocation.md``, stock bid
    prices); the hindsight plan and the nearest node, which charge none, and
    the checkouts are the same day as without it.

    The run is also the fresh run beside an unfinished one (of another job,
    ``killed``; a run without ``--resume`` clears whatever it finds, the
    job unread): it says so, and discards it."""
    out = tmp_path / "sim"
    shutil.copytree(killed, tmp_path / ".sim.partial")
    kept: list[SimulationResult] = []

    def keeping(result: SimulationResult, path: Path) -> dict[str, Any]:
        kept.append(result)
        return write_report(result, path)

    with pytest.MonkeyPatch.context() as patch:
        # the command imports it when it runs, from its module
        patch.setattr(report, "write_report", keeping)
        fresh = _simulate(scores, out, "--no-stock-bid-prices")
    assert "starting fresh: the unfinished run" in fresh.stderr
    assert not (tmp_path / ".sim.partial").exists()
    (result,) = kept
    assert result.settings.stock_bid_prices is False
    used = {name: p.settings.stock_bid_prices for name, p in result.policies.items()}
    assert used == {"hindsight": True, "greedy + bid prices": False, "nearest": True}
    assert not result.policies["nearest"].settings.use_bid_prices
    before, _, _ = first_run
    assert (out / "checkouts.csv").read_bytes() == (
        before / "checkouts.csv"
    ).read_bytes()
    for name in ("allocations_nearest.csv", "allocations_hindsight.csv"):
        assert _rows_without_ids(out / name) == _rows_without_ids(before / name)


#: A small day on CP-SAT, whose clock-limited runs do not repeat: 0.3 s a
#: batch, 3 s for the hindsight plan and its bound. 24 checkouts (4.6 s of
#: CPU a run, 8.0 s at 60) still stop the bound's branch and bound on its
#: budget of MIP checks, the case the test pins.
CPSAT_DAY = [
    "--seed", "2", "--checkouts", "24", "--engine", "cpsat",
    "--time-limit", "0.3", "--hindsight-time-limit", "3",
]  # fmt: skip


def test_deterministic_runs_repeat_the_day_byte_for_byte(
    scores: Path, tmp_path: Path
) -> None:
    """``simulate`` had no ``--deterministic``: the batches' and the hindsight
    plan's CP-SAT stopped on the clock (two runs of a 60-checkout day gave
    the plan 1,713.45 and 1,713.50), and the orders' ids were random request ids, so
    no two runs' allocations compared. With it, every policy runs as
    ``allocate --deterministic`` and the checkout's request ids come from the
    seed: two runs write the same files, byte for byte, with the same costs
    and the same bound (on its budget of work)."""
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        args = ["simulate", *CPSAT_DAY, "--deterministic"]
        args += ["--cltv-scores", str(scores), "--out", str(out)]
        done = CliRunner().invoke(cli, args)
        assert done.exit_code == 0, done.output
    a, b = outs
    for name in (
        "orders.csv",
        "checkouts.csv",
        "allocations.csv",
        "allocations_hindsight.csv",
        "allocations_nearest.csv",
    ):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    first = json.loads((a / "summary.json").read_text())
    second = json.loads((b / "summary.json").read_text())
    assert _without_timings(first) == _without_timings(second)
    assert first["deterministic"] is True
    assert first["lp_bound"] is not None
    assert repr(first["lp_bound"]) == repr(second["lp_bound"])
    assert first["lp_bound_stop"] == {
        "lp": "finished",
        "branch_and_bound": "mip_checks",
    }
    assert first["lp_bound_budget"]["seconds"] == 1.5  # 3 s x (1 - PLAN_SHARE)
    costs = {name: p["total_cost"] for name, p in first["policies"].items()}
    assert costs == {name: p["total_cost"] for name, p in second["policies"].items()}


def test_deterministic_refuses_an_engine_on_the_clock(
    scores: Path, tmp_path: Path
) -> None:
    """``simulate --deterministic`` refuses HiGHS in ``allocate``'s words,
    before anything is written, suggesting only engines ``--engine`` takes
    (it suggested ``nearest``, which ``--engine`` then refused)."""
    out = tmp_path / "sim"
    args = ["simulate", "--checkouts", "20", "--engine", "highs", "--deterministic"]
    done = CliRunner().invoke(
        cli, [*args, "--cltv-scores", str(scores), "--out", str(out)]
    )
    assert done.exit_code == 1
    assert done.output.endswith(
        "Error: field 'engine': value 'highs': stops on the clock, so it cannot "
        "solve deterministically (use cpsat, greedy, cpsat-plain)\n"
    ), done.output
    assert "Traceback" not in done.output
    assert not out.exists() and not out.with_name(".sim.partial").exists()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("0", "0 is not in the range 1<=x<=1000000."),
        ("-5", "-5 is not in the range 1<=x<=1000000."),
        ("1.5", "'1.5' is not a valid integer."),
    ],
)
def test_history_checkouts_refuses_what_checkouts_refuses(
    given: str, message: str, tmp_path: Path
) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--history-checkouts", given, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert f"Invalid value for '--history-checkouts': {message}" in result.output
    assert not out.exists()


def test_history_checkouts_is_another_job_only_when_given() -> None:
    """A run started before ``--history-checkouts`` existed (the history at
    the day's checkouts) is still the same job for ``--resume``."""
    from tierflow.cli.simulate_cmd import SimulateRequest, _identity
    from tierflow.data.network import load_network
    from tierflow.formulations.tiers import TierPolicy

    net = load_network(TINY_NETWORK)
    options: dict[str, Any] = {
        "network_dir": None, "checkouts": 80, "day": dt.datetime(2026, 1, 19),
        "seed": 11, "utilization": 0.92, "keep_capacity": False,
        "outage": "13:00", "engine": "greedy", "time_limit": 1.0,
        "no_stock_bid_prices": False, "cltv_scores": None,
        "cltv_backtest": False, "hindsight_time_limit": 1.0, "out": Path("x"),
    }  # fmt: skip
    plain = _identity(net, SimulateRequest(**options), TierPolicy())
    assert "history_checkouts" not in plain["settings"]
    given = SimulateRequest(**options, history_checkouts=40)
    assert _identity(net, given, TierPolicy())["settings"]["history_checkouts"] == 40
