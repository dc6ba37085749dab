"""``tierflow allocate``: a day's orders to nodes, in micro-batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tierflow.capacity.events import parse_event_lines
from tierflow.cli.network_cmd import network_option, open_network
from tierflow.cli.state_location import STATE_LOCATION
from tierflow.data.errors import InputError
from tierflow.data.orders import read_orders
from tierflow.data.store import open_store
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.outputs import (
    StoreSink,
    load_predicted_spend,
    run_identity,
    write_outputs,
)
from tierflow.solver.partition import BACKENDS
from tierflow.solver.registry import engine_names


@click.command("allocate")
@network_option
@click.option(
    "--orders",
    "orders_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="orders.csv (or .parquet), one row per order line.",
)
@click.option(
    "--state",
    "state_path",
    type=STATE_LOCATION,
    default=None,
    help="State store (default: OUT/state.db). Committed "
    "batches live here; re-running the same command resumes.",
)
@click.option(
    "--cltv-scores",
    "cltv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="customer_id,predicted_spend,... (tierflow cltv score); default: "
    "the store's latest scores, else every customer equal.",
)
@click.option(
    "--engine",
    type=click.Choice([*engine_names(), NEAREST]),
    default="cpsat",
    show_default=True,
    help=f"Engine per batch; '{NEAREST}' is the nearest-node-with-stock baseline.",
)
@click.option(
    "--batch-minutes",
    type=click.FloatRange(min=0.0, min_open=True),
    default=15.0,
    show_default=True,
    help="Micro-batch time window.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Micro-batches of N orders instead of time windows.",
)
@click.option("--no-bid-prices", is_flag=True, help="Myopic batches (no LP duals).")
@click.option(
    "--hindsight",
    is_flag=True,
    help="The whole day as one problem: LP bound and best solution.",
)
@click.option(
    "--time-limit",
    "time_limit",
    type=click.FloatRange(min=0.0),
    default=2.0,
    show_default=True,
    help="Seconds per batch solve.",
)
@click.option(
    "--events",
    "events_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Capacity events (JSON lines) applied at batch boundaries.",
)
@click.option(
    "--capacity-scale",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="Multiply every node's nominal capacity.",
)
@click.option(
    "--release-minutes",
    type=click.FloatRange(min=0.0),
    default=60.0,
    show_default=True,
    help="Minutes until an allocation is released to its node "
    "(until then a capacity event may reroute it).",
)
@click.option(
    "--expected-orders",
    type=click.IntRange(min=1),
    default=None,
    help="Expected orders today, for bid prices (default: the file's).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="none",
    show_default=True,
    help="Solve region partitions in parallel with joblib (dask: on a "
    "cluster, see --scheduler).",
)
@click.option(
    "--scheduler", default=None, help="Dask scheduler address (--backend dask)."
)
@click.option(
    "--jobs",
    "n_jobs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Parallel partitions.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print summary.json.")
def allocate_command(
    network_dir: Path | None,
    orders_path: Path,
    state_path: Path | None,
    cltv_path: Path | None,
    engine: str,
    batch_minutes: float,
    batch_size: int | None,
    no_bid_prices: bool,
    hindsight: bool,
    time_limit: float,
    events_path: Path | None,
    capacity_scale: float,
    release_minutes: float,
    expected_orders: int | None,
    backend: str,
    scheduler: str | None,
    n_jobs: int,
    seed: int,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Allocate ORDERS to nodes; write OUT/allocations.csv and OUT/summary.json."""
    if backend == "dask" and not scheduler:
        raise click.UsageError("--backend dask needs --scheduler ADDR")
    net = open_network(network_dir)
    orders = read_orders(orders_path, net)
    events = []
    if events_path is not None:
        with open(events_path, encoding="utf-8") as fh:
            events = parse_event_lines(fh, net, file=events_path.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(state_path or out_dir / "state.db")
    spend, note = load_predicted_spend(orders, cltv_path, store)
    if note:
        click.echo(f"warning: {note}", err=True)
    settings = AllocationSettings(
        engine=engine,
        time_limit_s=time_limit,
        batch_minutes=batch_minutes,
        batch_size=batch_size,
        use_bid_prices=not no_bid_prices,
        hindsight=hindsight,
        release_minutes=release_minutes,
        expected_orders=expected_orders,
        seed=seed,
        backend=backend,
        n_jobs=n_jobs,
    )
    run_id, params = run_identity(
        orders_path,
        net,
        settings,
        events_path=events_path,
        cltv_path=cltv_path,
        capacity_scale=capacity_scale,
    )
    sink = StoreSink(store, run_id, params, journal=out_dir / "allocations.partial.csv")
    resumed = sink.resumed_batches
    if resumed:
        click.echo(
            f"resuming run {run_id[:12]}: {resumed} batch(es) already committed",
            err=True,
        )
    bar: Any
    with click.progressbar(
        length=1, label="allocate", file=sys.stderr, show_pos=True
    ) as bar:

        def step(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        allocator = DayAllocator(
            net,
            orders,
            settings=settings,
            policy=TierPolicy(),
            predicted_spend=spend,
            events=events,
            capacity=net.capacity * capacity_scale,
            sink=sink,
            on_batch=step,
            publish_bid_prices=sink.publisher(net.node_ids),
        )
        if backend == "dask":
            outcome = _run_on_dask(allocator, str(scheduler))
        else:
            outcome = allocator.run()
    sink.finish()
    summary = outcome.summary()
    summary["run_id"] = run_id
    summary["resumed_batches"] = resumed
    write_outputs(outcome, summary, out_dir)
    store.close()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{summary['n_orders']} orders: {summary['n_allocated']} allocated, "
            f"{summary['n_deferred']} deferred, {summary['n_unfillable']} unfillable; "
            f"total cost {summary['total_cost']:,.2f}; rerouted {summary['rerouted']}; "
            f"p95 batch solve {summary['batch_solve_p95_s']:.3f}s; wrote "
            f"{out_dir / 'allocations.csv'} and {out_dir / 'summary.json'}"
        )


def _run_on_dask(allocator: DayAllocator, scheduler: str) -> Any:
    """Run with joblib's dask backend against the scheduler at ``scheduler``."""
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - dask is a declared dependency
        raise InputError(
            "dask.distributed is not installed", field="--backend", value="dask"
        ) from None
    try:
        client = Client(scheduler, timeout=10)  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler ({exc})",
            field="--scheduler",
            value=scheduler,
        ) from None
    with client:
        return allocator.run()
