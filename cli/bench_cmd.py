"""``tierflow bench``: solver comparisons (GAP now; allocation and online later)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from tierflow.cli.network_cmd import open_network
from tierflow.cli.options import (
    engines_option,
    examples,
    hindsight_time_limit_option,
    json_option,
    maximize_option,
    network_option,
    option,
    out_folder_option,
    parse_engines,
    repeat_option,
    seed_option,
    time_limit_option,
)
from tierflow.cli.param_types import WholeRange
from tierflow.cli.progress import progress_bar, progress_stage
from tierflow.data.errors import InputError
from tierflow.data.output_folder import StagedOutput

if TYPE_CHECKING:
    from tierflow.benchmarks.gap_bench import GapRun
    from tierflow.data.network import Network
    from tierflow.data.orlib_gap import BestKnown
    from tierflow.formulations.gap import GapInstance

#: Every name ``bench allocation`` writes in OUT, one day or ``--days``: a
#: run replaces them all, so the folder never mixes two runs' files (a
#: one-day run kept a two-day run's ``days/day01/``, a single day its
#: ``gap_by_day.png``).
ALLOCATION_BENCH_NAMES = (
    "results.csv",
    "summary.md",
    "summary.json",
    "orders.csv",
    "cost_gap.png",
    "utilization.png",
    "gap_by_day.png",
    "days",
    "sweep",
)

#: Every name ``bench gap`` writes in OUT: written whole or not at all (a
#: stop while they were written left the new results.csv beside the last
#: run's plot).
GAP_BENCH_NAMES = ("results.csv", "summary.md", "gap_vs_time.png")

#: gap1..gap12 files hold profit-maximization problems in OR-Library's gapinfo,
#: but their published min values are the project's reference too; the bench
#: solves as minimization unless ``--maximize``.


def _best_known_for(
    files: list[Path], explicit: Path | None
) -> dict[tuple[str, str], BestKnown]:
    from tierflow.benchmarks.gap_bench import GAP_DATA
    from tierflow.data.orlib_gap import read_best_known

    table: dict[tuple[str, str], BestKnown] = {}
    sources = [GAP_DATA / "best_known.csv"]
    sources += [f.parent / "best_known.csv" for f in files]
    if explicit is not None:
        sources.append(explicit)
    for src in dict.fromkeys(sources):
        if src.is_file():
            table.update(read_best_known(src))
    return table


@click.group(
    "bench",
    epilog=examples(
        "tierflow bench gap --engines cpsat,highs,greedy --time-limit 10 --out out/gap",
        "tierflow bench allocation --orders 5000 --utilization tight --out out/alloc",
        "tierflow bench online --requests 1000 --processes 8 --out out/online",
    ),
)
def bench() -> None:
    """Benchmarks: engines, allocation policies, checkout latency."""


@bench.command(
    "gap",
    epilog=examples(
        "tierflow bench gap --time-limit 10 --out out/bench-gap",
        "tierflow bench gap my-instances/*.txt --engines cpsat,greedy --repeat 3 --json",
    ),
)
@click.argument(
    "files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@engines_option("cpsat,highs,cbc,greedy,lp", "Comma-separated engine names.")
@time_limit_option(10.0, "Seconds per solve.")
@repeat_option(1)
@seed_option(0)
@maximize_option("Solve the files as profit maximization.")
@option(
    "--best-known",
    "best_known",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV of best-known values (instance,direction,best_known,"
    "proven_optimal); best_known.csv beside each file is read too.",
)
@out_folder_option(Path("out/bench-gap"), help="Folder for the results and plots.")
@json_option("Print every run (results.csv's rows) as JSON.")
def bench_gap(
    files: tuple[Path, ...],
    engines: str,
    time_limit: float,
    repeat: int,
    seed: int,
    maximize: bool,
    best_known: Path | None,
    out: Path,
    as_json: bool,
) -> None:
    """Every engine on every problem of FILES (default: the shipped GAP set)."""
    from tierflow.benchmarks.gap_bench import (
        GAP_DATA,
        beaten_proofs,
        run_gap_bench,
        verification_failures,
        write_reports,
    )
    from tierflow.formulations.gap import load_gap_file

    names = parse_engines(engines)
    paths = list(files) or sorted(GAP_DATA.glob("*.txt"))
    if not paths:
        raise InputError("no GAP files given and none shipped", file=str(GAP_DATA))
    instances: list[GapInstance] = []
    for path in paths:
        instances.extend(load_gap_file(path, maximize=maximize))
    table = _best_known_for(paths, best_known)
    total = len(instances) * len(names) * repeat
    with progress_bar("bench gap", total, show_item=True) as bar:

        def step(run: GapRun) -> None:
            bar.update(1, f"{run.instance} {run.engine}")

        runs = run_gap_bench(
            instances,
            names,
            time_limit_s=time_limit,
            repeat=repeat,
            seed=seed,
            best_known=table,
            on_run=step,
        )
    with StagedOutput(out, GAP_BENCH_NAMES).open() as work:
        summary = write_reports(runs, work.path, time_limit_s=time_limit, repeat=repeat)
    if as_json:
        rows = [dataclasses.asdict(run) for run in runs]
        click.echo(json.dumps({"runs": rows, "out": str(out)}, default=str))
    else:
        click.echo(summary)
        click.echo(
            f"wrote {out / 'results.csv'}, {out / 'summary.md'}, "
            f"{out / 'gap_vs_time.png'}"
        )
    failures = verification_failures(runs) or beaten_proofs(runs, table or {})
    if failures is not None:
        raise failures


@bench.command(
    "allocation",
    epilog=examples(
        "tierflow bench allocation --orders 5000 --utilization loose --out out/loose",
        "tierflow bench allocation --orders 5000 --utilization tight "
        "--engines cpsat,greedy --time-limit 2 --json",
        "tierflow bench allocation --days 10 --seed 1 --engines cpsat "
        "--forecast history --forecast perfect --forecast-sweep 0.5,1,2 "
        "--out out/days",
    ),
)
@network_option
@option(
    "--orders",
    "n_orders",
    type=WholeRange(1, 10_000_000),
    default=None,
    help="Orders in the generated day (with --days: the history's mean per "
    "day)  [default: 5000; with --days 3000]",
)
@seed_option(0)
@option(
    "--utilization",
    type=click.Choice(["loose", "tight"]),
    default=None,
    help="loose: workload = 70 % of capacity; tight: 95 % and a demand spike  "
    "[default: loose; with --days both]",
)
@engines_option(
    "cpsat,highs,greedy",
    "Micro-batch engines (each run with and without bid prices); with --days "
    "the first is the engine of every policy.",
)
@time_limit_option(2.0, "Seconds per batch solve.")
@hindsight_time_limit_option(60.0)
@option(
    "--days",
    "n_days",
    type=WholeRange(1, 1000),
    default=None,
    help="N generated days, each with its own 14-day history, reported as a "
    "distribution (median, p90, worst) instead of one day.",
)
@option(
    "--forecast",
    "forecasts",
    type=click.Choice(["history", "perfect"]),
    multiple=True,
    default=("history", "perfect"),
    show_default=True,
    help="With --days: 'history' is the default policy (forecast from the "
    "history only); 'perfect' adds the foresight reference row. Repeatable.",
)
@option(
    "--forecast-sweep",
    "sweep",
    default="",
    metavar="SCALES",
    help="With --days: also run day 0 tight with history means at these "
    "multiples of the true volume, e.g. 0.5,0.7,1,1.4,2.",
)
@option(
    "--staffing",
    type=click.Choice(["history", "day"]),
    default="history",
    show_default=True,
    help="With --days: 'history' staffs each day's capacities from its 14-day "
    "history's mean day of work at the utilization (as simulate does); 'day' "
    "scales them from the day's own workload (the old protocol: every day "
    "exactly that full, its total known before its end).",
)
@option(
    "--deterministic",
    is_flag=True,
    help="Reproducible runs, as allocate --deterministic: every policy's "
    "CP-SAT on deterministic time, the hindsight bound on a budget of work "
    "(--engines: cpsat, cpsat-plain, greedy).",
)
@out_folder_option(
    Path("out/bench-allocation"), help="Folder for the results and plots."
)
@json_option("Print summary.json and every policy's row as JSON.")
def bench_allocation(
    network_dir: Path | None,
    n_orders: int | None,
    seed: int,
    utilization: str | None,
    engines: str,
    time_limit: float,
    hindsight_time_limit: float,
    n_days: int | None,
    forecasts: tuple[str, ...],
    sweep: str,
    staffing: str,
    deterministic: bool,
    out: Path,
    as_json: bool,
) -> None:
    """Allocation policies against the hindsight bound: one generated day,
    or (--days N) N days as a distribution."""
    from tierflow.benchmarks.allocation_bench import run_allocation_bench
    from tierflow.benchmarks.allocation_bench import (
        write_reports as write_allocation_reports,
    )
    from tierflow.orchestration.allocation.settings import require_deterministic

    names = parse_engines(engines)
    if n_days is None:  # options of the many-day run, given to one day
        source = click.get_current_context().get_parameter_source
        given = [
            flag
            for name, flag in (
                ("forecasts", "--forecast"),
                ("sweep", "--forecast-sweep"),
                ("staffing", "--staffing"),
            )
            if source(name)
            in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
        ]
        if given:  # they were ignored without a word
            raise click.UsageError(
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} "
                "to a run of --days N only"
            )
    if deterministic:  # refused before the day is generated
        for name in names[:1] if n_days is not None else names:
            require_deterministic(name, baselines=False)  # no nearest
    net = open_network(network_dir)
    if n_days is not None:
        _bench_days(
            net, n_days, seed, n_orders, utilization, names[0], time_limit,
            hindsight_time_limit, forecasts, sweep, out, as_json,
            deterministic=deterministic, staffing=staffing,
        )  # fmt: skip
        return
    steps = [
        "hindsight",
        "nearest",
        *[f"{e}{b}" for e in names for b in ("", "+bid")],
        "outage",
    ]
    staged = StagedOutput(out, ALLOCATION_BENCH_NAMES)
    with (
        staged.open() as work,
        progress_bar("bench allocation", len(steps), show_item=True) as bar,
    ):
        runs, extra = run_allocation_bench(
            net,
            n_orders=n_orders or 5000,
            seed=seed,
            utilization=utilization or "loose",
            engines=names,
            time_limit_s=time_limit,
            hindsight_time_limit_s=hindsight_time_limit,
            workdir=work.path,
            deterministic=deterministic,
            on_step=lambda name: bar.update(1, name),
        )
        summary = write_allocation_reports(runs, extra, work.path)
    if as_json:
        rows = [dataclasses.asdict(run) for run in runs]
        click.echo(json.dumps({**extra, "runs": rows, "out": str(out)}, default=str))
        return
    click.echo(summary)
    click.echo(
        f"wrote {out / 'results.csv'}, {out / 'summary.md'}, "
        f"{out / 'cost_gap.png'}, {out / 'utilization.png'}"
    )


def _bench_days(
    net: Network,
    n_days: int,
    seed: int,
    n_orders: int | None,
    utilization: str | None,
    engine: str,
    time_limit: float,
    hindsight_time_limit: float,
    forecasts: tuple[str, ...],
    sweep: str,
    out: Path,
    as_json: bool,
    *,
    deterministic: bool = False,
    staffing: str = "history",
) -> None:
    """``bench allocation --days N``: the many-day benchmark and its reports."""
    from tierflow.benchmarks.allocation_days import RunConfig
    from tierflow.benchmarks.allocation_days_report import run_and_report

    config = RunConfig(
        engine=engine,
        time_limit_s=time_limit,
        hindsight_time_limit_s=hindsight_time_limit,
        forecast=forecasts,
        deterministic=deterministic,
        staffing=staffing,
    )
    utilizations = (utilization,) if utilization else ("loose", "tight")
    scales = parse_scales(sweep)
    n_steps = n_days * len(utilizations) * (3 + len(set(forecasts)))
    n_steps += 2 + len(scales) if scales else 0
    staged = StagedOutput(out, ALLOCATION_BENCH_NAMES)
    with (
        staged.open() as work,
        progress_bar("bench allocation", n_steps, show_item=True) as bar,
    ):
        text = run_and_report(
            net,
            n_days=n_days,
            seed=seed,
            per_day=n_orders or 3000,
            config=config,
            utilizations=utilizations,
            sweep_scales=scales,
            out=work.path,
            on_step=lambda name: bar.update(1, name),
        )
    if as_json:
        click.echo((out / "summary.json").read_text())
        return
    click.echo(text)
    click.echo(
        f"wrote {out / 'results.csv'}, {out / 'summary.md'}, "
        f"{out / 'summary.json'}, {out / 'gap_by_day.png'}"
    )


def parse_scales(text: str) -> tuple[float, ...]:
    """``0.5,0.7,1`` as positive floats (``--forecast-sweep``)."""
    scales = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = float(part)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise click.BadParameter(
                f"{part!r} is not a positive number", param_hint="--forecast-sweep"
            )
        scales.append(value)
    return tuple(scales)


@bench.command(
    "online",
    epilog=examples(
        "tierflow bench online --requests 1000 --processes 8 --out out/bench-online",
        "tierflow bench online --requests 200 --processes 2 --repeat 1 --json",
    ),
)
@option(
    "--requests",
    type=WholeRange(20, 10_000_000),
    default=2000,
    show_default=True,
    help="Checkouts timed in one process, and checkouts per process under contention.",
)
@option(
    "--processes",
    type=WholeRange(1, 256),
    default=8,
    show_default=True,
    help="Processes checking out concurrently on one store.",
)
@repeat_option(3)
@seed_option(7)
@network_option
@out_folder_option(Path("out/bench-online"), help="Folder for the results.")
@json_option("Print results.json.")
def bench_online(
    requests: int,
    processes: int,
    repeat: int,
    seed: int,
    network_dir: Path | None,
    out: Path,
    as_json: bool,
) -> None:
    """Checkout latency vs a nearest-node baseline; holds under contention."""
    from tierflow.benchmarks.online_bench import run

    open_network(network_dir)  # its warnings, once (the bench loads its own)
    with progress_stage("bench online"):
        run(
            out,
            requests=requests,
            processes=processes,
            repeat=repeat,
            seed=seed,
            network_dir=network_dir,
        )
    if as_json:
        click.echo((out / "results.json").read_text().strip())
        return
    click.echo((out / "summary.md").read_text())
    click.echo(
        f"wrote {out / 'results.json'}, {out / 'summary.md'}, {out / 'latency.csv'}, "
        f"{out / 'contention.csv'}"
    )
