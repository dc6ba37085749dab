"""``tierflow generate``: seeded synthetic inputs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from data.orlib_gap import format_orlib_gap, generate_chu_beasley


@click.group("generate")
def generate() -> None:
    """Seeded synthetic inputs (GAP instances, ...)."""


@generate.command("gap")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["C", "D", "E"], case_sensitive=False),
    required=True,
    help="Chu & Beasley instance type.",
)
@click.option("--agents", type=click.IntRange(min=1), required=True, help="m")
@click.option("--jobs", type=click.IntRange(min=1), required=True, help="n")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="OR-Library format file to write.",
)
def generate_gap(kind: str, agents: int, jobs: int, seed: int, out: Path) -> None:
    """Write a Chu & Beasley type C/D/E GAP instance in OR-Library format."""
    data = generate_chu_beasley(kind, agents, jobs, seed, name=out.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(format_orlib_gap([data]), encoding="utf-8")
    os.replace(tmp, out)
    click.echo(
        f"wrote {out} ({kind.upper()}, {agents} agents x {jobs} jobs, seed {seed})"
    )
