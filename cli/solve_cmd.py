"""``tierflow solve``: one engine on every problem of a file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.cli.options import (
    engine_option,
    examples,
    json_option,
    maximize_option,
    option,
    seed_option,
    time_limit_option,
)
from tierflow.cli.param_types import WholeRange
from tierflow.data.errors import InputError, VerificationError
from tierflow.data.wording import counted

if TYPE_CHECKING:
    from tierflow.formulations.gap import GapInstance
    from tierflow.solver.result import SolveResult


def load_instances(
    path: Path, fmt: str, *, maximize: bool, instance: int | None
) -> list[GapInstance]:
    """Problems of ``path`` in ``fmt``, optionally only the ``instance``-th (1-based)."""
    from tierflow.formulations.gap import GapInstance, load_gap_file
    from tierflow.formulations.problem import AssignmentProblem

    if fmt == "orlib-gap":
        instances = load_gap_file(path, maximize=maximize)
    else:
        problem = AssignmentProblem.load_npz(path)
        if maximize:
            problem = problem.replace(cost=-problem.cost)
        instances = [GapInstance(problem.name or path.stem, problem, maximize)]
    if instance is not None:
        if not 1 <= instance <= len(instances):
            raise InputError(
                f"the file holds {counted(len(instances), 'problem')}",
                file=str(path),
                field="--instance",
                value=instance,
            )
        instances = [instances[instance - 1]]
    return instances


def result_record(inst: GapInstance, result: SolveResult) -> dict[str, Any]:
    """The JSON contract of ``tierflow solve --json`` for one problem."""
    from tierflow.solver import verify

    feasible = False
    error = None
    if result.has_solution:
        try:
            verify(inst.problem, result)
            feasible = True
        except VerificationError as exc:
            error = str(exc)
    objective = inst.reported(result.objective)
    bound = inst.reported(result.bound)
    record: dict[str, Any] = {
        "name": inst.name,
        "engine": result.engine,
        "status": result.status.value,
        "limit": result.limit.value,
        "objective": objective,
        "bound": bound,
        "gap": result.gap,
        "runtime_s": round(result.runtime_s, 6),
        "n_items": inst.problem.n_items,
        "n_agents": inst.problem.n_agents,
        "feasible": feasible,
        "assignment": result.assignment.tolist(),
    }
    if result.fallback_from:
        record["fallback_from"] = result.fallback_from
    if error:
        record["error"] = error
    if result.message:
        record["message"] = result.message
    return record


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


@click.command(
    "solve",
    epilog=examples(
        "tierflow solve benchmarks/data/gap/gap1.txt --maximize --engine highs",
        "tierflow solve problem.npz --format npz --engine cbc --time-limit 30 --json",
    ),
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@option(
    "--format",
    "fmt",
    type=click.Choice(["orlib-gap", "npz"]),
    default="orlib-gap",
    show_default=True,
    help="Input format.",
)
@option(
    "--instance",
    type=WholeRange(1, 1_000_000),
    default=None,
    help="Only the K-th problem of the file (1-based).",
)
@maximize_option("Treat the file's costs as profits (OR-Library gap1..gap12).")
@engine_option()
@time_limit_option(10.0, "Seconds per problem.")
@seed_option(0)
@option(
    "--threads",
    type=WholeRange(1, 1024),
    default=None,
    help="Solver threads (default: the engine's choice).",
)
@json_option("One JSON object per problem.")
def solve_command(
    file: Path,
    fmt: str,
    instance: int | None,
    maximize: bool,
    engine: str,
    time_limit: float,
    seed: int,
    threads: int | None,
    as_json: bool,
) -> None:
    """Solve every problem in FILE with ENGINE; verify each solution."""
    from tierflow.solver import solve

    instances = load_instances(file, fmt, maximize=maximize, instance=instance)
    failures = []
    if not as_json:
        click.echo(
            f"{'name':<12} {'engine':<11} {'status':<12} {'objective':>12} "
            f"{'bound':>12} {'gap %':>8} {'time s':>8} feasible"
        )
    for inst in instances:
        result = solve(
            inst.problem, engine, time_limit_s=time_limit, seed=seed, threads=threads
        )
        record = result_record(inst, result)
        if "error" in record:
            failures.append(record["error"])
        if as_json:
            click.echo(json.dumps(record))
        else:
            gap = None if record["gap"] is None else 100 * record["gap"]
            click.echo(
                f"{inst.name:<12} {record['engine']:<11} {record['status']:<12} "
                f"{_fmt(record['objective']):>12} {_fmt(record['bound']):>12} "
                f"{_fmt(gap, 3):>8} {record['runtime_s']:>8.3f} {record['feasible']}"
            )
    if failures:
        raise VerificationError("; ".join(failures))
