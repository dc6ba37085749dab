"""A state store restored from a backup (PostgreSQL's ``pg_restore --clean
--single-transaction``, SQLite's ``.restore``) under a running ``tierflow
allocate``: the run stops before its next write and says so, and the same
command run again resumes from what the restored store holds. It went on
writing its batches into the restored store, which lacked those committed
between the backup and the restore, and marked the run finished: a finished
run with batches missing. A run with bid prices publishes none into the
restored store either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.cli.test_allocate import (
    TIMINGS,
    TINY,
    _committed,
    _outage_args,
    _write_orders,
)
from tests.cli.test_follow_restored import _backup_and_restore
from tests.conftest import ROOT
from tests.postgres import NewState, run_sql
from tierflow.cli.main import cli
from tierflow.data.errors import StoreRestored
from tierflow.data.network import load_network
from tierflow.data.orders import read_orders
from tierflow.data.store import BidPriceRun, open_store
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.outputs import StoreSink

#: Batches of :func:`long_day`: long enough (about 6 s on one core) that a
#: dump and a restore land while it runs.
_BATCHES = 300


@pytest.fixture(scope="module")
def long_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """``allocate``'s arguments for 1200 orders in :data:`_BATCHES` greedy
    batches with :data:`OUTAGE`, and the folder of its uninterrupted run:
    run once for both backends (about 3 s; no store of the tests')."""
    folder = tmp_path_factory.mktemp("long_day")
    args = _outage_args(folder, 1200)
    clean = folder / "clean"
    result = CliRunner().invoke(cli, [*args, "--out", str(clean)])
    assert result.exit_code == 0, result.output
    assert json.loads((clean / "summary.json").read_text())["n_batches"] == _BATCHES
    return args, clean


def _batches(state: Path | str) -> list[int]:
    """The committed batch numbers in ``state``, in order."""
    rows = run_sql(state, "SELECT batch FROM allocation_batches ORDER BY batch")
    return [int(str(b)) for (b,) in rows]


def _wait_committed(proc: subprocess.Popen[str], state: Path | str, n: int) -> None:
    """Until ``state`` holds ``n`` committed batches (the run still going)."""
    deadline = time.monotonic() + 120
    while _committed(state) < n:
        assert proc.poll() is None, "the run finished before the restore"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_store_restored_under_a_run_stops_it_and_a_rerun_resumes_it(
    backend: str,
    new_state: NewState,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    long_day: tuple[list[str], Path],
) -> None:
    args, clean = long_day
    state = new_state()
    backup, restore = _backup_and_restore(backend, state, tmp_path, request)
    out = tmp_path / "run"
    command = [*args, "--state", str(state), "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.main", *command],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_committed(proc, state, 5)
        backup()
        _wait_committed(proc, state, _committed(state) + 10)
        had = _committed(state)
        restore()
        dumped = _batches(state)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # failed before the run ended
            proc.kill()
            proc.communicate()
    assert dumped == list(range(len(dumped))), dumped
    assert 5 <= len(dumped) < had, (dumped, had)
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    # nothing written after the restore: the restored store's batches, the
    # run not finished
    assert _batches(state) == dumped
    ((finished,),) = run_sql(state, "SELECT finished_at FROM allocation_runs")
    assert finished is None
    assert not (out / "allocations.csv").exists()
    said = [line for line in err.splitlines() if "restored under this run" in line]
    assert len(said) == 1, err
    assert f"the restored store holds batches up to {len(dumped) - 1};" in said[0]
    assert said[0].endswith(
        f"nothing more is written: run the same command again to resume from "
        f"batch {len(dumped)}"
    ), said

    again = CliRunner().invoke(cli, [*command, "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["resumed_batches"] == len(dumped)
    # the summary counts every batch, as the uninterrupted run's does
    whole = json.loads((clean / "summary.json").read_text())
    skip = (*TIMINGS, "resumed_batches")
    assert {k: v for k, v in summary.items() if k not in skip} == {
        k: v for k, v in whole.items() if k not in skip
    }
    assert _batches(state) == list(range(_BATCHES))
    assert (out / "allocations.csv").read_bytes() == (
        clean / "allocations.csv"
    ).read_bytes()


def test_a_store_restored_under_a_run_gets_none_of_its_later_bid_prices(
    backend: str, new_state: NewState, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The run with bid prices, as ``allocate`` wires it (a :class:`StoreSink`
    and its publisher), refreshed every batch: a backup after batch 1, a
    restore after batch 3. Batch 4's refresh publishes before the batch is
    written; that publish is refused (``StoreRestored``), so the restored
    store's newest prices are still the backup's, not batch 4's (they were
    published there, the batch's write refused only after)."""
    net = load_network(TINY)
    orders = read_orders(_write_orders(tmp_path / "orders.csv", 200, seed=2), net)
    settings = AllocationSettings(engine="greedy", batch_size=20, bid_refresh=1)
    state = new_state()
    backup, restore = _backup_and_restore(backend, state, tmp_path, request)
    with open_store(state) as store:
        backed_up: list[BidPriceRun | None] = []

        def restore_after_batch_3(done: int, _: int) -> None:
            if done == 2:
                backup()
                backed_up.append(store.latest_bid_price_run())
            elif done == 4:
                restore()

        sink = StoreSink(store, "run", {})
        run = DayAllocator(
            net, orders, settings=settings, sink=sink,
            on_batch=restore_after_batch_3,
            publish_bid_prices=sink.publisher(net.node_ids),
        )  # fmt: skip
        with pytest.raises(StoreRestored, match="restored under this run"):
            run.run()
        assert len(run.bids.refreshed_at) == 5  # batch 4's prices were made
        (kept,) = backed_up
        assert kept is not None
        assert pd.Timestamp(kept.as_of) == pd.Timestamp(run.plan.times[1], tz="UTC")
        assert store.latest_bid_price_run() == kept
        assert store.last_committed_batch("run") == 1
