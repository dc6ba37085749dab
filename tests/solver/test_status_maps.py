"""Every native status of every backend maps to one of ours (no silent default).

The native statuses are enumerated from the backends' own enums, so a status
a new backend version adds fails here until it is mapped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import highspy
import numpy as np
import pulp
from ortools.sat.python import cp_model

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import cbc, cpsat, highs, lp
from tierflow.solver.result import Limit, Status


def _pulp_solution_statuses() -> set[int]:
    """PuLP's ``LpSolution*`` constants (its solution-status "enum")."""
    return {
        getattr(pulp, name)
        for name in dir(pulp)
        if name.startswith("LpSolution") and isinstance(getattr(pulp, name), int)
    }


def _ours(values: Iterable[Any]) -> None:
    for value in values:
        parts = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(p, Status | Limit) for p in parts), value


def test_highs_mip_map_covers_every_model_status() -> None:
    assert set(highspy.HighsModelStatus.__members__.values()) == set(highs.STATUS_MAP)
    _ours(highs.STATUS_MAP.values())
    # a capped incumbent is never reported as optimal
    assert highs.STATUS_MAP[highspy.HighsModelStatus.kTimeLimit][0] is Status.FEASIBLE


def test_highs_lp_map_covers_every_model_status() -> None:
    assert set(highspy.HighsModelStatus.__members__.values()) == set(lp.LP_STATUS_MAP)
    _ours(lp.LP_STATUS_MAP.values())


def test_cpsat_map_covers_every_solver_status() -> None:
    natives = set(cp_model.CpSolverStatus.__members__.values())
    assert natives == set(cpsat.status_map())
    _ours(cpsat.status_map().values())
    # CP-SAT's FEASIBLE is an incumbent stopped by a limit, never a proof
    assert cpsat.status_map()[cp_model.CpSolverStatus.FEASIBLE] == (
        Status.FEASIBLE,
        Limit.TIME,
    )


def test_cbc_map_covers_every_pulp_solution_status() -> None:
    assert _pulp_solution_statuses() == set(pulp.LpSolution) == set(cbc.STATUS_MAP)
    _ours(cbc.STATUS_MAP.values())
    # PuLP says "Optimal" for a time-limited incumbent; its sol_status does not
    assert cbc.STATUS_MAP[pulp.LpSolutionIntegerFeasible][0] is Status.FEASIBLE


def test_cbc_proven_infeasibility_is_read_from_pulps_status() -> None:
    # "Integer infeasible" comes with sol_status LpSolutionNoSolutionFound
    assert pulp.LpStatusInfeasible == cbc.PULP_STATUS_INFEASIBLE
    stopped = pulp.LpSolutionNoSolutionFound
    assert cbc.cbc_status(pulp.LpStatusInfeasible, stopped) == (
        Status.INFEASIBLE,
        Limit.NONE,
    )
    assert cbc.cbc_status(pulp.LpStatusNotSolved, stopped) == (
        Status.NO_SOLUTION,
        Limit.TIME,
    )


def test_cpsat_without_a_solution_reports_no_bound() -> None:
    """CP-SAT stopped before any solution (UNKNOWN) answers a bound of 0, its
    response's default: with negative costs that is above the optimum, and
    through the fallback it was reported as a proven bound with gap 0."""
    problem = AssignmentProblem(
        cost=-np.arange(1.0, 41.0).reshape(20, 2),
        weight=np.ones((20, 2)),
        capacity=[10.0, 10.0],
    )
    cp = cpsat.build_model(problem, None)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 0.0
    code = solver.solve(cp.model)
    assert code == cp_model.UNKNOWN and solver.best_objective_bound == 0.0
    result = cpsat._cp_result(
        cp, solver, code, problem, engine="cpsat-plain", runtime_s=0.0,
        relative_gap=0.0,
    )  # fmt: skip
    assert result.status is Status.NO_SOLUTION and result.bound is None
