"""Solve a :class:`~tierflow.formulations.linear_program.LinearProgram` with HiGHS."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.linear_program import LinearProgram
from tierflow.solver.highs_model import highs_lp, new_highs
from tierflow.solver.lp import LP_STATUS_MAP
from tierflow.solver.result import Status


@dataclass(frozen=True, slots=True)
class LpSolution:
    """What HiGHS found: status, objective (``None`` unless optimal), values."""

    status: Status
    objective: float | None
    x: NDArray[np.float64]
    runtime_s: float


def solve_linear_program(
    lp: LinearProgram,
    *,
    time_limit_s: float | None = None,
    threads: int | None = None,
    method: str = "simplex",
) -> LpSolution:
    """Solve ``lp`` to optimality with HiGHS's ``method`` (``simplex``, ``ipm``
    or ``choose``); the objective is a proven optimum only when ``OPTIMAL``.
    Dual simplex is the default: on the hindsight relaxation (a few hundred
    thousand columns, one nonzero per row and column but the shared rows) it
    is about 5x faster than interior point."""
    start = time.perf_counter()
    h = new_highs(time_limit_s=time_limit_s, threads=threads)
    h.setOptionValue("solver", method)
    model = highs_lp(lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper)
    h.passModel(model)
    h.run()
    status = LP_STATUS_MAP.get(h.getModelStatus(), Status.ERROR)
    x = np.zeros(lp.n_cols)
    objective = None
    if status is Status.OPTIMAL:
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        objective = float(h.getInfo().objective_function_value) if lp.n_cols else 0.0
    return LpSolution(status, objective, x, time.perf_counter() - start)
