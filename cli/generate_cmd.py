"""``tierflow generate``: seeded synthetic data (orders, GAP instances)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.cli.config import tier_policy
from tierflow.cli.network_cmd import open_network, resolve_network_dir
from tierflow.cli.option_values import DEFAULT_START
from tierflow.cli.options import (
    examples,
    json_option,
    network_option,
    option,
    out_file_option,
    seed_option,
)
from tierflow.cli.param_types import Day, WholeRange, refuse_network_table_as_output
from tierflow.data.errors import InputError, listed
from tierflow.data.wording import counted

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tierflow.data.order_generator import Spike
    from tierflow.data.orlib_gap import GapData

_log = logging.getLogger("tierflow.cli.generate")


@click.group(
    "generate",
    epilog=examples(
        "tierflow generate orders --orders 20000 --days 1 --seed 7 --out orders.csv",
        "tierflow generate gap --type D --agents 10 --jobs 100 --out d10100.txt",
    ),
)
def generate() -> None:
    """Generate seeded synthetic data."""


class _SpikeType(click.ParamType["Spike"]):
    """``HH:MM,FACTOR`` checked where the value is read, so a bad one from
    the settings file or ``TIERFLOW_GENERATE_ORDERS_SPIKE`` is named as such
    (it was reported as the flag)."""

    name = "spike"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Spike:
        from tierflow.data.order_generator import Spike

        if isinstance(value, Spike):
            return value
        try:
            return Spike.parse(str(value))
        except InputError as exc:
            self.fail(f"{value!r}: {exc.reason}", param, ctx)


@generate.command(
    "orders",
    epilog=examples(
        "tierflow generate orders --orders 20000 --days 1 --seed 7 --out orders.csv",
        "tierflow generate orders --orders 56000 --days 14 --start 2026-01-05 "
        "--spike 12:00,3 --json --out history.csv",
    ),
)
@network_option
@option(
    "--orders",
    "n_orders",
    type=WholeRange(1, 10_000_000),
    required=True,
    help="Orders to generate (each of one or more lines).",
)
@option(
    "--days",
    type=WholeRange(1, 3660),
    default=1,
    show_default=True,
    help="Days the orders span.",
)
@seed_option(0)
@option(
    "--start",
    type=Day(),
    default=DEFAULT_START.isoformat(),
    show_default=True,
    help="First local day of the orders.",
)
@option(
    "--spike",
    type=_SpikeType(),
    default=None,
    metavar="HH:MM,FACTOR",
    help="Daily promotion spike: the hour from HH:MM on the clock of the "
    "network's main time zone (its destinations' zone of most demand: "
    "America/New_York for the sample) FACTOR times as busy as the other "
    "hours' profile makes it. --orders stays the total: the hour's extra "
    "orders are taken from the rest of the day, not added.",
)
@out_file_option("orders.csv (or .parquet) to write.")
@json_option("Print what was written as JSON.")
def orders_command(
    network_dir: Path | None,
    n_orders: int,
    days: int,
    seed: int,
    start: dt.datetime,
    spike: Spike | None,
    out: Path,
    as_json: bool,
) -> None:
    """Generate orders (one row per line) for the network.

    An order drawn Platinum that checkout could not have offered Platinum
    when it was placed (no node holding its items delivers by the promised
    date: an evening past the cutoffs, a Sunday, a holiday) is Gold."""
    from tierflow.data.order_generator import generate_orders
    from tierflow.data.orders import write_orders
    from tierflow.orchestration.checkout.offerable import checkout_tiers

    refuse_network_table_as_output(out, resolve_network_dir(network_dir))
    net = open_network(network_dir)
    try:
        frame = generate_orders(
            net, n_orders=n_orders, days=days, seed=seed, start=start.date(),
            spike=spike,
        )  # fmt: skip
    except InputError as exc:
        if exc.field not in ("--orders", "--days", "--start"):
            raise
        # an option's value, refused with the others': a usage error (exit 2)
        raise click.BadParameter(
            f"{exc.value}: {exc.reason}", param_hint=exc.field
        ) from None
    frame, made_gold = checkout_tiers(frame, net, tier_policy())
    write_orders(frame, out)
    if as_json:
        record = {"orders": n_orders, "lines": len(frame), "days": days}
        record["platinum_made_gold"] = made_gold
        click.echo(json.dumps({**record, "seed": seed, "out": str(out)}))
        return
    click.echo(
        f"{counted(n_orders, 'order')}, {counted(len(frame), 'line')} over "
        f"{counted(days, 'day')} written to {out}"
    )
    if made_gold:
        click.echo(
            f"{made_gold} drawn Platinum are Gold: checkout could not have "
            "offered Platinum when they were placed (docs/data.md)"
        )


@generate.command(
    "gap",
    epilog=examples(
        "tierflow generate gap --type D --agents 10 --jobs 100 --seed 1 --out d10100.txt"
    ),
)
@option(
    "--type",
    "kind",
    type=click.Choice(["C", "D", "E"], case_sensitive=False),
    required=True,
    help="Chu & Beasley instance type.",
)
@option(
    "--agents",
    type=WholeRange(2, 10_000),
    required=True,
    help="Agents (m, the nodes; one could never take every job).",
)
@option(
    "--jobs",
    type=WholeRange(1, 1_000_000),
    required=True,
    help="Jobs (n, the items).",
)
@seed_option(0)
@out_file_option("OR-Library format file to write.")
@json_option("Print what was written as JSON.")
def generate_gap(
    kind: str, agents: int, jobs: int, seed: int, out: Path, as_json: bool
) -> None:
    """Write a Chu & Beasley type C/D/E GAP instance in OR-Library format.

    The published formulas are kept; an instance with a job no agent can
    take alone is written all the same, with a warning on stderr: it is
    infeasible (``docs/cli.md``)."""
    from tierflow.data.orlib_gap import (
        generate_chu_beasley,
        jobs_fitting_no_agent,
        write_orlib_gap,
    )

    try:
        data = generate_chu_beasley(kind, agents, jobs, seed, name=out.stem)
    except InputError as exc:
        if exc.field != "size":
            raise
        # each flag in its range, their product too large: a usage error, as
        # a value out of either range is (it was exit 1 naming 'size')
        raise click.BadParameter(
            f"{agents} x {jobs}: {exc.reason}", param_hint="--agents x --jobs"
        ) from None
    write_orlib_gap(out, [data])
    misfits = jobs_fitting_no_agent(data)
    if misfits.size:
        _log.warning("%s", _infeasible_note(out, data, misfits))
    if as_json:
        record = {"type": kind.upper(), "agents": agents, "jobs": jobs, "seed": seed}
        record["jobs_fitting_no_agent"] = [int(j) + 1 for j in misfits]
        click.echo(json.dumps({**record, "out": str(out)}))
        return
    click.echo(
        f"wrote {out} ({kind.upper()}, {counted(agents, 'agent')} x "
        f"{counted(jobs, 'job')}, seed {seed})"
    )


def _infeasible_note(out: Path, data: GapData, misfits: NDArray[np.intp]) -> str:
    """The warning for an instance with jobs no agent can take alone: the
    jobs (1-based, as they come in the file), and the first one's resource
    against each agent's capacity (the first three)."""
    first = int(misfits[0])
    pairs = [
        f"{w:g} > {b:g} at agent {i + 1}"
        for i, (w, b) in enumerate(zip(data.weight[first], data.capacity, strict=True))
    ]
    noun = "job" if misfits.size == 1 else "jobs"
    return (
        f"{out} is infeasible: {noun} {listed([str(j + 1) for j in misfits])} "
        f"fit{'s' if misfits.size == 1 else ''} no agent even alone "
        f"(job {first + 1}'s resource against each capacity: {listed(pairs, 3)}); "
        "the published formula's capacities are too small for so few jobs"
    )
