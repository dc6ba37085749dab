"""Greedy per-item cost on generated GAPs (``make bench-gap``).

argmin (the baseline), construction, the whole engine and the online
decision, in µs per item, medians of ``--repeat``. Protocol:
``docs/benchmarks.md``.

Run: ``python -m tierflow.benchmarks.greedy_speed --out out/bench-gap/greedy``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from tierflow.benchmarks.arguments import whole
from tierflow.data.orlib_gap import generate_chu_beasley
from tierflow.formulations.gap import gap_instance
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.greedy import cheapest_feasible_node, construct, greedy_assign
from tierflow.solver.verify import check_assignment

SIZES = ((1_000, 20), (5_000, 50), (20_000, 100))


def _median_s(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _decision_us(problem: AssignmentProblem, samples: int) -> tuple[float, float]:
    """p50 / p99 of one online decision (µs), over rows of the instance."""
    weight = np.asarray(problem.weight)
    residual = np.asarray(problem.capacity, dtype=np.float64)
    cost = np.asarray(problem.cost)
    eligible = np.asarray(problem.eligible)
    laps = np.empty(samples)
    for k in range(samples):
        i = k % problem.n_items
        start = time.perf_counter_ns()
        cheapest_feasible_node(cost[i], eligible[i], weight[i], residual)
        laps[k] = time.perf_counter_ns() - start
    return float(np.percentile(laps, 50)) / 1e3, float(np.percentile(laps, 99)) / 1e3


def run(repeat: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind in ("C", "D"):
        for n, m in SIZES:
            problem = gap_instance(generate_chu_beasley(kind, m, n, seed=1)).problem
            cost = np.where(problem.eligible, problem.cost, np.inf)
            base = _median_s(partial(np.argmin, cost, axis=1), repeat)
            built = _median_s(partial(construct, problem, "cost"), repeat)
            start = time.perf_counter()
            assignment, _ = greedy_assign(problem, time_limit_s=10.0)
            full = time.perf_counter() - start
            violations = check_assignment(problem, assignment)
            p50, p99 = _decision_us(problem, 20_000)
            per = 1e6 / n
            rows.append(
                {
                    "type": kind,
                    "n_items": n,
                    "n_nodes": m,
                    "argmin_us_per_item": base * per,
                    "construct_us_per_item": built * per,
                    "construct_over_argmin": built / base,
                    "greedy_us_per_item": full * per,
                    "greedy_feasible": not violations,
                    "greedy_complete": bool((assignment >= 0).all()),
                    "decision_p50_us": p50,
                    "decision_p99_us": p99,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: list[dict[str, object]]) -> str:
    lines = [
        "# Greedy speed (median µs per item; argmin = the same-run baseline)",
        "",
        "| type | items × nodes | argmin | construct | ratio | full greedy "
        "| complete & feasible | decision p50 / p99 µs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok = "yes" if r["greedy_feasible"] and r["greedy_complete"] else "no"
        lines.append(
            f"| {r['type']} | {r['n_items']} × {r['n_nodes']} "
            f"| {r['argmin_us_per_item']:.3f} | {r['construct_us_per_item']:.2f} "
            f"| {r['construct_over_argmin']:.0f}× | {r['greedy_us_per_item']:.1f} "
            f"| {ok} | {r['decision_p50_us']:.1f} / {r['decision_p99_us']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=whole, default=5)
    parser.add_argument("--out", type=Path, default=Path("out/bench-gap/greedy"))
    args = parser.parse_args()
    rows = run(args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = summary(rows)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
