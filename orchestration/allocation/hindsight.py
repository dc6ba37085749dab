"""The hindsight bound: the value of the day's relaxation
(:mod:`tierflow.formulations.hindsight_relaxation`), a proven lower bound on
the cost of every allocation policy of the day."""

from __future__ import annotations

from tierflow.formulations.hindsight_relaxation import DayInputs, hindsight_relaxation
from tierflow.solver.linear_program import solve_linear_program


def hindsight_bound(
    day: DayInputs, *, time_limit_s: float | None = None
) -> float | None:
    """The relaxation's optimum (``None`` when HiGHS does not prove one)."""
    solution = solve_linear_program(
        hindsight_relaxation(day), time_limit_s=time_limit_s
    )
    return solution.objective
