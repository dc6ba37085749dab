"""``tierflow simulate``: the whole day end to end (the main job of ``make demo``)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from tierflow.cli.network_cmd import network_option, open_network
from tierflow.orchestration.simulation.day import (
    SimulationSettings,
    daily_cltv_job,
    published_scores,
    simulate,
)
from tierflow.orchestration.simulation.report import write_report
from tierflow.solver.registry import engine_names


def _outage(value: str) -> dt.time | None:
    if value.lower() == "none":
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "HH:MM (New York time) or 'none'", param_hint="--outage"
        ) from None


@click.command("simulate")
@network_option
@click.option(
    "--checkouts", type=click.IntRange(min=1), default=3000, show_default=True
)
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-01-19",
    show_default=True,
    help="The simulated (local) day.",
)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option(
    "--utilization",
    type=click.FloatRange(min=0.05, max=2.0),
    default=0.92,
    show_default=True,
    help="Expected workload / network capacity.",
)
@click.option(
    "--outage",
    default="13:00",
    show_default=True,
    help="When the busiest node goes down (New York time), or 'none'.",
)
@click.option(
    "--engine", type=click.Choice(engine_names()), default="cpsat", show_default=True
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0.0),
    default=2.0,
    show_default=True,
    help="Seconds per allocation batch.",
)
@click.option(
    "--cltv-scores",
    "cltv_scores",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Publish these scores (tierflow cltv score output) instead of "
    "training the CLTV model on the network's purchase history.",
)
@click.option(
    "--hindsight-time-limit",
    type=click.FloatRange(min=0.0),
    default=20.0,
    show_default=True,
    help="Seconds for the whole-day hindsight solve.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/simulate"),
    show_default=True,
)
def simulate_command(
    network_dir: Path | None,
    checkouts: int,
    day: dt.datetime,
    seed: int,
    utilization: float,
    outage: str,
    engine: str,
    time_limit: float,
    cltv_scores: Path | None,
    hindsight_time_limit: float,
    out: Path,
) -> None:
    """One day on the network: CLTV, checkouts, choices, allocation, report."""
    net = open_network(network_dir)
    assert net.source is not None
    history = net.source / "transactions.csv"
    profiles = net.source / "customers.csv"
    if cltv_scores is None and not history.exists():
        raise click.ClickException(
            f"{net.source}: no transactions.csv to train the CLTV model on "
            "(or give --cltv-scores)"
        )
    out.mkdir(parents=True, exist_ok=True)
    settings = SimulationSettings(
        day=day.date(),
        checkouts=checkouts,
        seed=seed,
        utilization=utilization,
        outage_at=_outage(outage),
        engine=engine,
        time_limit_s=time_limit,
        hindsight_time_limit_s=hindsight_time_limit,
    )
    steps = [
        "cltv",
        "carts",
        "checkouts",
        "allocate: hindsight",
        f"allocate: {engine} + bid prices",
        "allocate: nearest",
    ]
    bar: Any
    with click.progressbar(
        length=len(steps) - 1 + checkouts,
        label="simulate",
        file=sys.stderr,
        show_pos=False,
    ) as bar:
        last = {"checkouts": 0}

        def step(name: str, n: int | None) -> None:
            if name == "checkouts" and n is not None and n <= checkouts:
                if n != checkouts:
                    bar.update(n - last["checkouts"], f"checkouts {n}")
                    last["checkouts"] = n
                return
            bar.update(1, name)

        result = simulate(
            net,
            out / "state.db",
            out,
            settings,
            publish_cltv=published_scores(cltv_scores)
            if cltv_scores is not None
            else daily_cltv_job(
                history, profiles if profiles.exists() else None, out / "cltv-models"
            ),
            on_step=step,
        )
    summary = write_report(result, out)
    click.echo(_screen(summary, out))


def _screen(s: dict[str, Any], out: Path) -> str:
    lines = [
        f"tierflow simulate — {s['day']}",
        f"  checkouts {s['checkouts']:,}: {s['confirmed']:,} confirmed, "
        f"{s['abandoned']} left, {s['cancelled']} cancelled; recommended taken "
        f"{s['recommended_taken_pct']:.1f} %",
        "  tiers     " + ", ".join(f"{k} {v}" for k, v in s["tier_mix"].items()),
        f"  Platinum offered {s['platinum_offered']}; overflow offered "
        f"{s['overflow_offered']}, taken {s['overflow_taken']}; outage at "
        f"{s['outage_node']}",
        f"  hindsight LP bound {s['lp_bound']:,.2f}" if s["lp_bound"] else "",
    ]
    for name, p in s["policies"].items():
        gap = p["gap_to_bound_pct"]
        lines.append(
            f"  {name:<22} cost {p['total_cost']:>12,.2f}  "
            f"{'' if gap is None else f'+{gap:.2f} %':>9}  deferred {p['n_deferred']:>4}"
            f"  rerouted {p['rerouted']:>3}  Platinum on time "
            f"{100 * (p['platinum_on_time_rate'] or 0):.1f} %"
        )
    lines.append(f"  report: {out / 'report.html'}")
    return "\n".join(line for line in lines if line)
