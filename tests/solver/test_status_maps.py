"""Every native status of every backend maps to one of ours (no silent default)."""

from __future__ import annotations

import highspy
import pulp
from ortools.sat.python import cp_model

from tierflow.solver import cbc, cpsat, highs, lp
from tierflow.solver.result import Status


def test_highs_mip_map_covers_every_model_status() -> None:
    natives = set(highspy.HighsModelStatus.__members__.values())
    assert natives == set(highs.STATUS_MAP)
    # a capped incumbent is never reported as optimal
    assert highs.STATUS_MAP[highspy.HighsModelStatus.kTimeLimit][0] is Status.FEASIBLE


def test_highs_lp_map_covers_every_model_status() -> None:
    assert set(highspy.HighsModelStatus.__members__.values()) == set(lp.LP_STATUS_MAP)


def test_cpsat_map_covers_every_solver_status() -> None:
    natives = {
        cp_model.OPTIMAL,
        cp_model.FEASIBLE,
        cp_model.INFEASIBLE,
        cp_model.MODEL_INVALID,
        cp_model.UNKNOWN,
    }
    assert natives == set(cpsat.STATUS_MAP)


def test_cbc_map_covers_every_pulp_solution_status() -> None:
    assert set(pulp.LpSolution) == set(cbc.STATUS_MAP)
    # PuLP says "Optimal" for a time-limited incumbent; its sol_status does not
    assert cbc.STATUS_MAP[pulp.LpSolutionIntegerFeasible][0] is Status.FEASIBLE
