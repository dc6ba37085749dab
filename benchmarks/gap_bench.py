"""Engines side by side on GAP instances: gap to best known and to the LP bound.

Every engine, every problem, ``repeat`` seeds, the same time limit, every
solution verified; medians over repetitions. Protocol: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tierflow.data.errors import InputError, VerificationError
from tierflow.data.orlib_gap import BestKnown
from tierflow.data.wording import counted
from tierflow.formulations.gap import GapInstance
from tierflow.solver import solve, verify
from tierflow.solver.lp import lp_bound

#: Where the GAP files shipped with tierflow live.
GAP_DATA = Path(__file__).parent / "data" / "gap"


@dataclass(frozen=True, slots=True)
class GapRun:
    """One (instance, engine, repetition) measurement; a row of results.csv."""

    instance: str
    direction: str
    n_items: int
    n_agents: int
    engine: str
    repeat: int
    seed: int
    status: str
    feasible: bool
    objective: float | None
    bound: float | None
    lp_bound: float | None
    best_known: float | None
    best_known_proven: bool
    #: How much worse than the best known value / the LP bound the run is, in
    #: % of it (positive: worse), either direction: named for minimize; a
    #: maximize run's shortfall is in ``pct_below_*`` too.
    pct_above_best: float | None
    pct_above_lp: float | None
    runtime_s: float
    per_item_us: float
    #: Why ``verify`` refused the engine's solution ("" when it did not).
    error: str = ""
    #: A maximize run's shortfall below the best known value / the LP bound
    #: (``pct_above_*``'s values, named for their direction); ``None`` for a
    #: minimize run. Added after the fields above: files read by column name
    #: or position before them still read.
    pct_below_best: float | None = None
    pct_below_lp: float | None = None


def _pct(value: float | None, ref: float | None, maximize: bool) -> float | None:
    """How much worse ``value`` is than ``ref``, in % of ``|ref|``."""
    if value is None or ref is None or ref == 0:
        return None
    worse = (ref - value) if maximize else (value - ref)
    return 100.0 * worse / abs(ref)


#: Relative slack of the LP bound against a best-known value (HiGHS's
#: tolerances; GAP values are integers far above it).
_LP_BOUND_RTOL = 1e-6


def _better(value: float, than: float, maximize: bool) -> bool:
    """Whether ``value`` is better than ``than`` beyond :data:`_LP_BOUND_RTOL`
    of it (higher when maximizing)."""
    slack = _LP_BOUND_RTOL * max(1.0, abs(than))
    return value > than + slack if maximize else value < than - slack


def _check_best_known(
    inst: GapInstance, lp: float | None, bk: BestKnown | None
) -> None:
    """A best-known value no solution can reach (better than the LP bound)
    is a wrong table row or the wrong instance: every % above it would be
    measured from a value that does not exist."""
    if bk is None or lp is None:
        return
    if _better(bk.value, lp, inst.maximize):
        side = "above" if inst.maximize else "below"
        raise InputError(
            f"{side} the LP bound {lp:.10g} of {inst.name} ({inst.direction}): "
            "no solution reaches it",
            file=bk.file or None,
            row=bk.row,
            field="best_known",
            value=bk.value,
        )


def run_gap_bench(
    instances: Sequence[GapInstance],
    engines: Sequence[str],
    *,
    time_limit_s: float,
    repeat: int = 1,
    seed: int = 0,
    best_known: dict[tuple[str, str], BestKnown] | None = None,
    on_run: Callable[[GapRun], None] | None = None,
) -> list[GapRun]:
    """Run every engine on every instance ``repeat`` times; verify every solution."""
    best_known = best_known or {}
    lps = [inst.reported(lp_bound(inst.problem)) for inst in instances]
    for inst, lp in zip(instances, lps, strict=True):
        _check_best_known(inst, lp, best_known.get((inst.name, inst.direction)))
    runs: list[GapRun] = []
    for inst, lp in zip(instances, lps, strict=True):
        bk = best_known.get((inst.name, inst.direction))
        for engine in engines:
            for r in range(repeat):
                result = solve(
                    inst.problem, engine, time_limit_s=time_limit_s, seed=seed + r
                )
                feasible, error = False, ""
                if result.has_solution:
                    try:
                        verify(inst.problem, result)
                        feasible = True
                    except VerificationError as exc:
                        error = str(exc)
                objective = inst.reported(result.objective) if feasible else None
                to_best = _pct(
                    objective, None if bk is None else bk.value, inst.maximize
                )
                to_lp = _pct(objective, lp, inst.maximize)
                run = GapRun(
                    instance=inst.name,
                    direction=inst.direction,
                    n_items=inst.problem.n_items,
                    n_agents=inst.problem.n_agents,
                    engine=engine,
                    repeat=r,
                    seed=seed + r,
                    status=result.status.value,
                    feasible=feasible,
                    objective=objective,
                    bound=inst.reported(result.bound),
                    lp_bound=lp,
                    best_known=None if bk is None else bk.value,
                    best_known_proven=bool(bk and bk.proven),
                    pct_above_best=to_best,
                    pct_above_lp=to_lp,
                    runtime_s=result.runtime_s,
                    per_item_us=1e6 * result.runtime_s / max(inst.problem.n_items, 1),
                    error=error,
                    pct_below_best=to_best if inst.maximize else None,
                    pct_below_lp=to_lp if inst.maximize else None,
                )
                runs.append(run)
                if on_run is not None:
                    on_run(run)
    return runs


def verification_failures(runs: Sequence[GapRun]) -> VerificationError | None:
    """One error for every solution ``verify`` refused (``None`` when none):
    an engine bug, which the results would otherwise show as "not solved"."""
    failed = [r for r in runs if r.error]
    if not failed:
        return None
    first = failed[0]
    return VerificationError(
        f"{len(failed)} of {counted(len(runs), 'solution')} failed verify, e.g. "
        f"{first.instance} {first.engine} seed {first.seed}: {first.error}"
    )


def beaten_proofs(
    runs: Sequence[GapRun], best_known: dict[tuple[str, str], BestKnown]
) -> InputError | None:
    """The error for a best-known value given as a proven optimum that a
    checked solution beats (``None`` when none does): a wrong table row or
    the wrong instance, whose every "% above (below) best" was measured from a value
    that is not the optimum (the runs' reports are written first)."""
    for run in runs:
        bk = best_known.get((run.instance, run.direction))
        if bk is None or not bk.proven or run.objective is None:
            continue
        if _better(run.objective, bk.value, run.direction == "max"):
            return InputError(
                f"given as proven optimal, but {run.engine}'s checked solution "
                f"of {run.instance} ({run.direction}) is {run.objective:.10g}",
                file=bk.file or None,
                row=bk.row,
                field="best_known",
                value=bk.value,
            )
    return None


def _side(runs: Sequence[GapRun]) -> str:
    """Which way from the reference a worse run lies, in the reports' words:
    "above" when minimizing, "below" when maximizing (a maximize run's
    shortfall was reported "% above best"), "from" for a mix."""
    directions = {r.direction for r in runs}
    if directions == {"max"}:
        return "below"
    return "from" if "max" in directions else "above"


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_results_csv(runs: Sequence[GapRun], path: Path) -> None:
    """All runs, one row each."""
    fields = list(GapRun.__dataclass_fields__)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for run in runs:
            writer.writerow(asdict(run))
    tmp.replace(path)


def summary_markdown(
    runs: Sequence[GapRun], *, time_limit_s: float, repeat: int
) -> str:
    """Per-engine summary and the per-instance table (medians over repeats)."""
    engines = list(dict.fromkeys(r.engine for r in runs))
    instances = list(dict.fromkeys(r.instance for r in runs))
    side = _side(runs)
    profits = " (profits)" if side == "below" else ""
    lines = [
        "# GAP benchmark",
        "",
        f"Time limit {time_limit_s:g} s per solve, "
        f"{'1 repetition' if repeat == 1 else f'medians of {repeat} repetitions'}"
        f". % {side} best known / {side} the LP bound"
        f"{profits}: lower is better.",
        "",
        f"| engine | solved | mean % {side} best | max % {side} best | "
        f"mean % {side} LP | proven optimal | median time s | median µs/item |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_engine_row(engine, runs, instances) for engine in engines]
    lines += ["", "## Per instance", ""]
    lines += _instance_table(runs, engines, instances)
    lines += [
        "",
        f"% is {side} best known where one is given, otherwise {side} the LP bound.",
        "",
    ]
    return "\n".join(lines)


def _engine_row(engine: str, runs: Sequence[GapRun], instances: list[str]) -> str:
    """One engine over every instance (medians over repeats, then mean/max)."""
    mine = [r for r in runs if r.engine == engine]
    per_inst = [[r for r in mine if r.instance == name] for name in instances]
    best = [_median([r.pct_above_best for r in rs]) for rs in per_inst]
    best_v = [b for b in best if b is not None]
    lp = [_median([r.pct_above_lp for r in rs]) for rs in per_inst]
    lp_v = [v for v in lp if v is not None]
    proven = sum(1 for rs in per_inst if rs and all(r.status == "optimal" for r in rs))
    solved = sum(1 for rs in per_inst if rs and all(r.feasible for r in rs))
    return (
        f"| {engine} | {solved}/{len(instances)} "
        f"| {_f(statistics.mean(best_v) if best_v else None)} "
        f"| {_f(max(best_v) if best_v else None)} "
        f"| {_f(statistics.mean(lp_v) if lp_v else None)} "
        f"| {proven}/{len(instances)} "
        f"| {_f(statistics.median(r.runtime_s for r in mine))} "
        f"| {_f(statistics.median(r.per_item_us for r in mine), 1)} |"
    )


def _instance_table(
    runs: Sequence[GapRun], engines: list[str], instances: list[str]
) -> list[str]:
    """One row per instance: best known, LP bound, each engine's medians."""
    header = "| instance | n × m | best known | LP bound |"
    rule = "|---|---|---|---|"
    for engine in engines:
        header += f" {engine} obj | {engine} % | {engine} s |"
        rule += "---|---|---|"
    lines = [header, rule]
    for name in instances:
        rs = [r for r in runs if r.instance == name]
        first = rs[0]
        row = (
            f"| {name} | {first.n_items} × {first.n_agents} "
            f"| {_f(first.best_known, 0)} | {_f(first.lp_bound, 2)} |"
        )
        for engine in engines:
            mine = [r for r in rs if r.engine == engine]
            pct = _median([r.pct_above_best for r in mine])
            if pct is None:
                pct = _median([r.pct_above_lp for r in mine])
            row += (
                f" {_f(_median([r.objective for r in mine]), 1)} "
                f"| {_f(pct)} | {_f(_median([r.runtime_s for r in mine]))} |"
            )
        lines.append(row)
    return lines


def plot_gap_vs_time(runs: Sequence[GapRun], path: Path) -> None:
    """Scatter of % above (maximize: below) best known (or LP) against
    runtime, one colour per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotted = False
    for engine in dict.fromkeys(r.engine for r in runs):
        pts = [
            (
                r.runtime_s,
                r.pct_above_best if r.pct_above_best is not None else r.pct_above_lp,
            )
            for r in runs
            if r.engine == engine and r.feasible
        ]
        xy = [(t, max(g, 1e-3)) for t, g in pts if g is not None]
        if xy:
            ax.scatter(
                [t for t, _ in xy],
                [g for _, g in xy],
                label=engine,
                alpha=0.75,
                s=22,
            )
            plotted = True
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("runtime (s)")
    side = _side(runs)
    ax.set_ylabel(f"% {side} best known (or LP bound); floor 0.001")
    ax.set_title("GAP: solution quality vs time")
    ax.grid(True, which="both", alpha=0.3)
    if plotted:
        ax.legend()
    else:  # a legend of nothing made matplotlib warn on stderr
        ax.text(
            0.5,
            0.5,
            "no feasible solution to plot",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(
    runs: Sequence[GapRun], out: Path, *, time_limit_s: float, repeat: int
) -> str:
    """results.csv, summary.md and gap_vs_time.png in ``out``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    write_results_csv(runs, out / "results.csv")
    summary = summary_markdown(runs, time_limit_s=time_limit_s, repeat=repeat)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    plot_gap_vs_time(runs, out / "gap_vs_time.png")
    return summary
