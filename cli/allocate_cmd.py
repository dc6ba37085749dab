"""``tierflow allocate``: a day's orders to nodes, in micro-batches."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from tierflow.cli.config import tier_policy
from tierflow.cli.network_cmd import open_network
from tierflow.cli.option_values import (
    BACKENDS,
    ENGINE_NAMES,
    MAX_BATCH_MINUTES,
    MAX_RELEASE_MINUTES,
    NEAREST,
)
from tierflow.cli.options import (
    cltv_scores_option,
    engine_option,
    examples,
    history_option,
    json_option,
    network_option,
    option,
    orders_file_option,
    out_folder_option,
    seed_option,
    time_limit_option,
)
from tierflow.cli.param_types import FiniteFloatRange, WholeRange
from tierflow.cli.progress import progress_bar
from tierflow.cli.state_location import STATE_LOCATION, open_state
from tierflow.data.extras import require
from tierflow.data.wording import counted

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tierflow.capacity.demand_forecast import DemandForecast
    from tierflow.capacity.events import CapacityEvent
    from tierflow.data.network import Network
    from tierflow.data.orders import Orders
    from tierflow.data.store import AllocationRun, StateStore
    from tierflow.orchestration.allocation.batch_plan import BatchPlan
    from tierflow.orchestration.allocation.day_allocator import (
        AllocationOutcome,
        AllocationSettings,
    )
    from tierflow.orchestration.allocation.starting_stock import StartingStock

_log = logging.getLogger("tierflow.cli.allocate")


#: The largest ``--capacity-scale`` (a thousand times the network's capacity;
#: 1e6 passed the flag and failed as node 0's "capacity" after it).
MAX_CAPACITY_SCALE = 1000.0


@dataclass(frozen=True, slots=True)
class AllocateRequest:
    """The options of ``tierflow allocate``, parsed (names as click gives them)."""

    network_dir: Path | None
    orders_path: Path
    state_path: Path | None
    cltv_path: Path | None
    engine: str
    batch_minutes: float
    batch_size: int | None
    no_bid_prices: bool
    no_stock_bid_prices: bool
    hindsight: bool
    time_limit: float
    events_path: Path | None
    capacity_scale: float
    release_minutes: float
    expected_orders: int | None
    history_path: Path | None
    backend: str
    scheduler: str | None
    n_jobs: int
    seed: int
    out_dir: Path
    deterministic: bool = False

    def settings(self) -> AllocationSettings:
        """How the day is allocated."""
        from tierflow.orchestration.allocation.day_allocator import AllocationSettings

        return AllocationSettings(
            engine=self.engine,
            time_limit_s=self.time_limit,
            batch_minutes=self.batch_minutes,
            batch_size=self.batch_size,
            use_bid_prices=not self.no_bid_prices,
            stock_bid_prices=not self.no_stock_bid_prices,
            hindsight=self.hindsight,
            release_minutes=self.release_minutes,
            expected_orders=self.expected_orders,
            seed=self.seed,
            backend=self.backend,
            n_jobs=self.n_jobs,
            deterministic=self.deterministic,
        )


@click.command(
    "allocate",
    epilog=examples(
        "tierflow allocate --orders orders.csv --engine cpsat --time-limit 2 --out out/alloc",
        "tierflow allocate --orders orders.csv --engine nearest --out out/nearest --json",
        "tierflow allocate --orders orders.csv --backend dask --scheduler tcp://scheduler:8786 "
        "--out out/alloc   # needs tierflow[dask]",
    ),
)
@network_option
@orders_file_option("orders.csv (or .parquet), one row per order line.")
@option(
    "--state",
    "state_path",
    type=STATE_LOCATION,
    default=None,
    help="State store: a SQLite file or a postgresql:// URL (default: "
    "OUT/state.db). Committed batches live here; re-running the same "
    "command resumes. Its live stock, where it holds a position, is the "
    "day's starting stock (else inventory.csv's).",
)
@cltv_scores_option(
    "cltv_path",
    "customer_id,predicted_spend,... (tierflow cltv score); default: "
    "the store's latest scores, else every customer equal.",
)
@engine_option(
    [*ENGINE_NAMES, NEAREST],
    f"Engine per batch; '{NEAREST}' is the nearest-node-with-stock baseline.",
)
@option(
    "--batch-minutes",
    type=FiniteFloatRange(0.0, MAX_BATCH_MINUTES, min_open=True),
    default=15.0,
    show_default=True,
    help="Micro-batch time window.",
)
@option(
    "--batch-size",
    type=WholeRange(1, 1_000_000),
    default=None,
    help="Micro-batches of N orders instead of time windows.",
)
@option("--no-bid-prices", is_flag=True, help="Myopic batches (no LP duals).")
@option(
    "--no-stock-bid-prices",
    is_flag=True,
    help="Bid prices on node capacity only, none on stock (docs/allocation.md).",
)
@option(
    "--hindsight",
    is_flag=True,
    help="The whole day as one problem: LP bound and best solution.",
)
@time_limit_option(2.0, "Seconds per batch solve.")
@option(
    "--events",
    "events_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Capacity events (JSON lines) applied at batch boundaries.",
)
@option(
    "--capacity-scale",
    type=FiniteFloatRange(0.0, MAX_CAPACITY_SCALE),
    default=1.0,
    show_default=True,
    help="Multiply every node's nominal capacity.",
)
@option(
    "--release-minutes",
    type=FiniteFloatRange(0.0, MAX_RELEASE_MINUTES),
    default=60.0,
    show_default=True,
    help="Minutes until an allocation is released to its node "
    "(until then a capacity event may reroute it).",
)
@history_option(
    "the bid prices' demand forecast learns volume by hour and the order mix "
    "from them (default: from today's orders as they arrive)."
)
@option(
    "--expected-orders",
    type=WholeRange(1, 100_000_000),
    default=None,
    help="What-if override of today's order count in the bid-price "
    "forecast (default: the forecast's own).",
)
@option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="none",
    show_default=True,
    help="Solve region partitions in parallel with joblib (dask: on a "
    "cluster, see --scheduler).",
)
@option("--scheduler", default=None, help="Dask scheduler address (--backend dask).")
@option(
    "--jobs",
    "n_jobs",
    type=WholeRange(1, 256),
    default=2,
    show_default=True,
    help="Parallel partitions.",
)
@seed_option(0)
@option(
    "--deterministic",
    is_flag=True,
    help="Reproducible CP-SAT: --time-limit counts its deterministic time, "
    "not seconds, so the same command gives the same allocations anywhere "
    "(cpsat, cpsat-plain, greedy, nearest).",
)
@out_folder_option(
    dest="out_dir", help="Folder for allocations.csv, summary.json and the state."
)
@json_option("Print summary.json.")
def allocate_command(as_json: bool, **options: Any) -> None:
    """Allocate ORDERS to nodes; write OUT/allocations.csv and OUT/summary.json."""
    request = AllocateRequest(**options)
    source = click.get_current_context().get_parameter_source
    if (
        source("batch_minutes") is ParameterSource.COMMANDLINE
        and source("batch_size") is ParameterSource.COMMANDLINE
    ):
        # the size replaced the windows without a word (QA); a window from
        # the settings file or the environment still gives way to a size
        raise click.UsageError(
            "--batch-minutes and --batch-size are two ways to cut the day "
            "into batches: give one"
        )
    if request.hindsight and request.events_path is not None:
        # the events were dropped without a word: the plan used a node
        # after its outage (QA)
        raise click.UsageError(
            "--events are applied at batch boundaries; --hindsight plans the "
            "whole day as one problem, with none: give one or the other"
        )
    if source("scheduler") is ParameterSource.COMMANDLINE and request.backend != "dask":
        # the address was never even checked: a one-process run (QA)
        raise click.UsageError(
            f"--scheduler is the Dask cluster of --backend dask; with "
            f"--backend {request.backend} it would be ignored: give "
            "--backend dask or drop it"
        )
    if source("n_jobs") is ParameterSource.COMMANDLINE and request.backend not in (
        "loky",
        "threading",
    ):  # the partitions of none are one, of dask the cluster's threads
        raise click.UsageError(
            f"--jobs sets the parallel partitions of --backend loky or "
            f"threading; with --backend {request.backend} it would be "
            "ignored: give one of them or drop it"
        )
    if request.backend == "dask":
        require("dask.distributed", feature="dask backend", extra="dask")
        if not request.scheduler:
            raise click.UsageError("--backend dask needs --scheduler ADDR")
    summary = run_allocate(request)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(_screen(summary, request.out_dir))


def run_allocate(request: AllocateRequest) -> dict[str, Any]:
    """Allocate the day, write the outputs; returns ``summary.json``'s content.

    Every input is read and checked before the output folder and the state
    store are created: a bad input writes nothing. The output folder is
    made once the store has taken the run, so a store that stays locked by
    another process (:func:`~tierflow.cli.state_location.open_state`) leaves
    no folder behind either; the store is closed however the run ends.
    """
    from tierflow.orchestration.allocation.day_allocator import DayAllocator
    from tierflow.orchestration.allocation.outputs import (
        StoreSink,
        check_output_folder,
        line_work,
        load_predicted_spend,
        run_identity,
        write_outputs,
    )

    check_output_folder(request.out_dir)
    net = open_network(request.network_dir)
    orders = _read_orders(request.orders_path, net)
    forecast = _forecast(request.history_path, net, orders)
    events = _read_events(request.events_path, net)
    capacity = _scaled_capacity(net, request.capacity_scale)
    given = (
        None if request.cltv_path is None
        else load_predicted_spend(orders, request.cltv_path, None)
    )  # fmt: skip
    settings = request.settings()
    location = request.state_path or request.out_dir / "state.db"
    # the cluster is an input too: reached and checked before the store
    # (an unreachable one must not leave OUT/state.db behind)
    with _cluster(request), open_state(location) as store:
        # an input of the run's identity: read before the run is named
        stock = _starting_stock(store, net, orders)
        run_id, params = run_identity(
            request.orders_path, net, settings, events_path=request.events_path,
            cltv_path=request.cltv_path, capacity_scale=request.capacity_scale,
            history_path=request.history_path, stock=stock.identity(),
        )  # fmt: skip
        spend, note = given or load_predicted_spend(orders, None, store, tier_policy())
        if note:
            _log.warning("%s", note)
        passed_over = store.latest_allocation_run()
        sink = StoreSink(
            store,
            run_id,
            params,
            journal=request.out_dir / "allocations.partial.csv",
            stats=request.out_dir / "batches.partial.jsonl",
            final_stats=request.out_dir / "batches.jsonl",
            line_work=line_work(orders, net),
        )
        request.out_dir.mkdir(parents=True, exist_ok=True)
        resumed = sink.resumed_batches
        if resumed:
            total = len(_batches(orders, settings, events))
            _log_resume(resumed, total, location, run_id)
            _warn_work_placed_since(store, run_id)
        elif passed_over is not None:
            _warn_not_resumed(store, passed_over, run_id, params)
        with progress_bar("allocate", 1) as bar:

            def step(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            allocator = DayAllocator(
                net, orders, settings=settings, policy=tier_policy(),
                predicted_spend=spend, events=events,
                capacity=capacity, sink=sink,
                stock=stock.units if stock.from_store else None,
                on_batch=step, publish_bid_prices=sink.publisher(net.node_ids),
                forecast=forecast,
            )  # fmt: skip
            outcome = allocator.run()
        sink.finish()
        summary = outcome.summary()
        summary |= {
            "run_id": run_id,
            "resumed_batches": resumed,
            "network_warnings": list(net.warnings),
            "stock": stock.summary(),
        }
        write_outputs(outcome, summary, request.out_dir)
    _warn_repricing(outcome)
    _warn_unrecorded(outcome)
    return summary


def _starting_stock(store: StateStore, net: Network, orders: Orders) -> StartingStock:
    """The day's starting stock: the store's live stock where it holds the
    position, the network's elsewhere (QA: a count of 0 in the store was
    ignored and its units shipped from inventory.csv's); one stderr line
    when the store gave some."""
    from tierflow.orchestration.allocation.starting_stock import starting_stock

    stock = starting_stock(store, net, orders)
    if stock.from_store:
        _log.info("starting stock: %s", stock.describe(), extra=stock.summary())
    return stock


def _read_orders(path: Path, net: Network) -> Orders:
    """The day's orders, with a warning when they span more than a day."""
    from tierflow.data.orders import read_orders

    orders = read_orders(path, net)
    spread = orders.more_than_a_day(net)
    if spread:
        _log.warning("%s: %s", path.name, spread)
    return orders


def _cluster(request: AllocateRequest) -> Any:
    """The dask cluster of ``--backend dask`` (else nothing to enter)."""
    if request.backend != "dask":
        return contextlib.nullcontext()
    from tierflow.solver import dask_cluster

    return dask_cluster.connect(str(request.scheduler))


def _batches(
    orders: Orders, settings: AllocationSettings, events: list[CapacityEvent]
) -> BatchPlan:
    """The day's micro-batches (with those of events after its last order)."""
    from tierflow.orchestration.allocation.batch_plan import BatchPlan

    return BatchPlan.of(orders, settings, [e.ts for e in events])


def _log_resume(resumed: int, total: int, location: Path | str, run_id: str) -> None:
    """One stderr line: this run continues a run already in the store."""
    from tierflow.data.store.location import describe_location

    _log.info(
        "resuming: %d of %d batches already in %s (run %s)",
        resumed,
        total,
        describe_location(location),
        run_id[:12],
        extra={"run_id": run_id, "resumed_batches": resumed, "batches": total},
    )


def _warn_work_placed_since(store: StateStore, run_id: str) -> None:
    """One stderr line when the run resumed placed confirmed orders' work
    and another run placed some after it: the batches resumed are not
    written again, so their orders' work stays where that later run put it
    (the same command run again after another run's seemed to move the
    live backlog back, and moved nothing)."""
    later = store.work_placed_after(run_id)
    if later is not None:
        _log.warning(
            "the live backlog follows run %s, written after run %s: the "
            "batches resumed are not written again and move no work back "
            "(only a run of other inputs or settings decides again)",
            later[:12],
            run_id[:12],
            extra={"run_id": run_id, "work_placed_by": later},
        )


def _warn_not_resumed(
    store: StateStore, last: AllocationRun, run_id: str, params: dict[str, Any]
) -> None:
    """One stderr line when this run starts from batch 0 beside the store's
    unfinished run of the same inputs, which it cannot resume: another run
    id was passed over without a word, where the user expected a resume
    (a run of a tierflow before 2026-12-04, whose run id counted
    ``--jobs`` and the backend, after an upgrade)."""
    if last.finished_at is not None or last.run_id == run_id:
        return
    theirs = dict(last.params)
    settings = theirs.pop("settings", None)
    ours = {k: v for k, v in params.items() if k != "settings"}
    # the store's stock is an input the user did not give: said, not silent
    restocked = theirs.pop("stock", None) != ours.pop("stock", None)
    if theirs != ours or not isinstance(settings, dict):
        return  # other inputs: another job
    committed = store.last_committed_batch(last.run_id)
    if committed is None:
        return  # nothing of it to resume
    if restocked:
        why = (
            "the store's stock is not what it was when it started (a count, "
            "a receipt or a checkout since)"
        )
    elif "n_jobs" in settings:  # AllocationSettings.params() before identity()
        why = (
            "it was started by a tierflow before 2026-12-04, whose run ids "
            "counted --jobs and --backend"
        )
    else:
        mine = params["settings"]
        differ = sorted(k for k in {*settings, *mine} if settings.get(k) != mine.get(k))
        why = f"it has other settings ({', '.join(differ)})"
    _log.warning(
        "not resuming run %s of these inputs (%s committed): %s; "
        "this run starts from batch 0",
        last.run_id[:12],
        counted(committed + 1, "batch", "batches"),
        why,
    )


def _warn_unrecorded(outcome: AllocationOutcome) -> None:
    """One stderr line when resumed batches left no figures (committed by a
    tierflow that kept them only in the folder, and the folder is not this
    one): summary.json's reroute figures miss theirs, said, not silent."""
    from tierflow.orchestration.allocation.day_allocator import UNRECORDED

    lost = sum(stat.status == UNRECORDED for stat in outcome.stats)
    if lost:
        _log.warning(
            "%d resumed batch(es) left no figures (committed before the store "
            "kept them, journalled in another --out): summary.json's rerouted, "
            "pulled_back and reroute_cost_delta leave theirs out; batches.jsonl "
            "marks them %s",
            lost,
            UNRECORDED,
        )


def _warn_repricing(outcome: AllocationOutcome) -> None:
    """One warning record when the independent re-pricing disagrees (a log
    record, as every command's warnings: ``--log-format json`` reads it)."""
    if outcome.repriced is not None and outcome.repriced.problems:
        _log.warning(
            "re-pricing found %s: %s",
            counted(len(outcome.repriced.problems), "problem"),
            "; ".join(outcome.repriced.problems[:3]),
        )


def _forecast(path: Path | None, net: Network, orders: Orders) -> DemandForecast | None:
    """The demand forecast learned from ``--history`` (``None`` without one):
    earlier days' orders, those that had arrived by the first of ``orders``."""
    import numpy as np

    from tierflow.capacity.demand_forecast import DemandForecast, local_order_dates

    if path is None:
        return None
    if not orders.n_orders:
        return DemandForecast.from_history_file(path, net)[0]
    first = orders.created_at.min()
    day = local_order_dates(orders, net).min().astype(dt.date)
    forecast, left_out = DemandForecast.from_history_file(
        path, net, day=day, before=first
    )
    if left_out:  # the usual case for a history of whole earlier days
        _log.info(
            "%s: %s of the day before, placed after the first order "
            "to allocate (%s), left out of the forecast: not arrived yet",
            path.name,
            counted(left_out, "order"),
            np.datetime_as_string(first, unit="s", timezone="UTC"),
        )
    return forecast


def _scaled_capacity(net: Network, scale: float) -> NDArray[np.float64]:
    """The nodes' capacities times ``--capacity-scale``, held to the
    allocator's bound on a node before the store is made: each is within
    its own (a capacity up to 10⁹, a scale up to 1,000), their product may
    not be, and the allocator refused it after making OUT/state.db, naming
    an array's index."""
    from tierflow.data.errors import InputError
    from tierflow.data.limits import MAX_UNITS

    capacity = net.capacity * scale
    over = capacity > MAX_UNITS
    if over.any():
        k = int(over.argmax())
        raise InputError(
            f"scales node {net.node_ids[k]}'s capacity_units_per_day of "
            f"{net.capacity[k]:,.0f} (nodes.csv) to {capacity[k]:,.0f}, past the "
            f"{MAX_UNITS:,.0f} units a node can have",
            field="--capacity-scale",
            value=scale,
        )
    return capacity


def _read_events(path: Path | None, net: Network) -> list[CapacityEvent]:
    from tierflow.capacity.events import read_event_file

    if path is None:
        return []
    return read_event_file(path, net)


def _screen(summary: dict[str, Any], out_dir: Path) -> str:
    return (
        f"{counted(summary['n_orders'], 'order')}: {summary['n_allocated']:,} "
        f"allocated, {summary['n_deferred']:,} deferred, "
        f"{summary['n_unfillable']:,} unfillable; "
        f"total cost {summary['total_cost']:,.2f} "
        f"(re-priced {summary['repriced_total_cost']:,.2f}); "
        f"rerouted {summary['rerouted']:,}{_events_note(summary)}; "
        f"p95 batch solve {summary['batch_solve_p95_s']:.3f}s; wrote "
        f"{out_dir / 'allocations.csv'} and {out_dir / 'summary.json'}"
    )


def _events_note(summary: dict[str, Any]) -> str:
    """How many events the run applied, and how many came after its last
    batch of orders (nothing when it had none)."""
    applied = summary["events_applied"]
    if not applied:
        return ""
    late = summary["events_after_last_batch"]
    noun = "event" if applied == 1 else "events"
    return f" ({applied:,} capacity {noun} applied, {late:,} after the last batch)"
