"""``highs``: the MIP solved by HiGHS branch-and-cut, model built from arrays."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import EXACT_ENGINE, BundledEngine, Hint
from tierflow.solver.highs_model import (
    model_status,
    new_highs,
    pass_model,
    run_highs,
    set_mip_start,
)
from tierflow.solver.matrix import MatrixModel, build_matrix
from tierflow.solver.params import SolveParams
from tierflow.solver.result import (
    Limit,
    SolveResult,
    Status,
    no_solution,
    solution_result,
)
from tierflow.solver.verify import refuse_broken

_M = highspy.HighsModelStatus

#: HiGHS model status -> (our status when an incumbent exists, without one, limit).
STATUS_MAP: dict[highspy.HighsModelStatus, tuple[Status, Status, Limit]] = {
    _M.kNotset: (Status.FEASIBLE, Status.ERROR, Limit.OTHER),
    _M.kLoadError: (Status.ERROR, Status.ERROR, Limit.NONE),
    _M.kModelError: (Status.ERROR, Status.ERROR, Limit.NONE),
    _M.kPresolveError: (Status.ERROR, Status.ERROR, Limit.NONE),
    _M.kSolveError: (Status.FEASIBLE, Status.ERROR, Limit.OTHER),
    _M.kPostsolveError: (Status.FEASIBLE, Status.ERROR, Limit.OTHER),
    _M.kModelEmpty: (Status.OPTIMAL, Status.OPTIMAL, Limit.NONE),
    _M.kOptimal: (Status.OPTIMAL, Status.ERROR, Limit.NONE),
    _M.kInfeasible: (Status.INFEASIBLE, Status.INFEASIBLE, Limit.NONE),
    _M.kUnboundedOrInfeasible: (Status.INFEASIBLE, Status.INFEASIBLE, Limit.NONE),
    _M.kUnbounded: (Status.ERROR, Status.ERROR, Limit.NONE),
    _M.kObjectiveBound: (Status.FEASIBLE, Status.NO_SOLUTION, Limit.OTHER),
    _M.kObjectiveTarget: (Status.FEASIBLE, Status.NO_SOLUTION, Limit.OTHER),
    _M.kTimeLimit: (Status.FEASIBLE, Status.NO_SOLUTION, Limit.TIME),
    _M.kIterationLimit: (Status.FEASIBLE, Status.NO_SOLUTION, Limit.ITERATION),
    _M.kUnknown: (Status.FEASIBLE, Status.ERROR, Limit.OTHER),
    _M.kSolutionLimit: (Status.FEASIBLE, Status.NO_SOLUTION, Limit.OTHER),
    _M.kInterrupt: (Status.FEASIBLE, Status.NO_SOLUTION, Limit.OTHER),
    _M.kMemoryLimit: (Status.FEASIBLE, Status.ERROR, Limit.OTHER),
    _M.__members__["kHighsInterrupt"]: (
        Status.FEASIBLE,
        Status.NO_SOLUTION,
        Limit.OTHER,
    ),
}


def _mip_bound(info: Any, n_items: int) -> float | None:
    """HiGHS's MIP dual bound, when it is a number (0 for an empty problem)."""
    if n_items == 0:
        return 0.0
    bound = float(info.mip_dual_bound)
    return bound if np.isfinite(bound) and abs(bound) < 1e300 else None


def _run_mip(
    problem: AssignmentProblem,
    params: SolveParams,
    warm_start: NDArray[np.int64] | None,
) -> tuple[Any, MatrixModel]:
    """The MIP of ``problem`` loaded into a quiet HiGHS, solved."""
    model = build_matrix(problem)
    h = new_highs(
        time_limit_s=params.time_limit_s, threads=params.threads, seed=params.seed
    )
    h.setOptionValue("mip_rel_gap", float(params.relative_gap))
    h.setOptionValue("mip_abs_gap", 1e-6)
    pass_model(h, model, integer=True)
    if warm_start is not None:
        columns = model.columns_from(np.asarray(warm_start, dtype=np.int64))
        set_mip_start(h, columns)
    run_highs(h)
    return h, model


#: How far above HiGHS's reported objective the columns it returns may cost
#: before they are not taken as its incumbent: this share of the reported
#: objective (at least 1) plus this share of every column's cost (a binary
#: may sit off 0 or 1 by HiGHS's feasibility tolerance, 1e-6 by default).
STALE_TOLERANCE = 1e-6


def stale_columns(
    reported: float, recomputed: float, column_costs: float = 0.0
) -> bool:
    """Whether the columns HiGHS returned cost more than the incumbent it reports.

    HiGHS 1.16 does this with a MIP start that presolve reduces: it finds the
    start optimal in the reduced space, reports that optimum, and postsolve
    hands back the start's own columns ("Optimal" at 63.636 with columns
    costing 80.3 on a six-order instance: ``tests/solver/test_highs.py``).
    ``column_costs`` is the sum of the absolute costs of all columns. A
    start now runs with presolve off (:func:`set_mip_start`), which avoids
    it; the check stays, a guard for what another HiGHS may do.
    """
    slack = STALE_TOLERANCE * (max(1.0, abs(reported)) + column_costs)
    return recomputed > reported + slack


class HighsEngine(BundledEngine):
    """HiGHS MIP; a proven optimum is ``OPTIMAL``, a capped incumbent ``FEASIBLE``.

    A solution whose columns cost more than the objective HiGHS reports for
    it (:func:`stale_columns`) is solved again without the warm start, in
    the time left; if that happens again the solution is only ``FEASIBLE``.
    """

    name = "highs"
    capabilities = EXACT_ENGINE

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        start = time.perf_counter()
        result, claimed = self._run(problem, params, warm_start, start)
        if claimed is None:
            return result
        if warm_start is not None:
            left = max(params.time_limit_s - (time.perf_counter() - start), 0.01)
            cold = params.replace(time_limit_s=left)
            result, claimed = self._run(problem, cold, None, start)
            if claimed is None:
                return result
        return dataclasses.replace(
            result,
            status=Status.FEASIBLE,
            limit=Limit.OTHER,
            message=(
                f"{result.message}; its solution costs {result.objective:.10g}, "
                f"not the {claimed:.10g} it reports: not taken as proven"
            ),
        )

    def _run(
        self,
        problem: AssignmentProblem,
        params: SolveParams,
        warm_start: Hint,
        start: float,
    ) -> tuple[SolveResult, float | None]:
        """One HiGHS solve read into a result, and the objective HiGHS
        reports for its solution when its columns cost more
        (:func:`stale_columns`; None when they do not, or without one)."""
        h, model = _run_mip(problem, params, warm_start)
        native = model_status(h, model)
        info = h.getInfo()
        with_sol, without_sol, limit = STATUS_MAP.get(
            native, (Status.ERROR, Status.ERROR, Limit.OTHER)
        )
        has_sol = info.primal_solution_status == 2 or problem.n_items == 0
        runtime = time.perf_counter() - start
        message = f"HiGHS {h.modelStatusToString(native)}"
        bound = _mip_bound(info, problem.n_items)
        if not has_sol or with_sol is Status.INFEASIBLE:
            status = without_sol if not has_sol else with_sol
            return no_solution(
                self.name,
                problem.n_items,
                status,
                runtime,
                bound=None if status is Status.INFEASIBLE else bound,
                limit=limit,
                message=message,
            ), None
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        result = solution_result(
            self.name,
            problem,
            model.assignment_from(x, problem.n_items),
            with_sol,
            runtime,
            bound=bound,
            limit=limit if with_sol is not Status.OPTIMAL else Limit.NONE,
            message=message,
        )
        refused = refuse_broken(
            self.name, problem, result.assignment, runtime, bound=bound, message=message
        )
        if refused is not None:
            return refused, None
        reported = float(info.objective_function_value)
        recomputed = result.objective
        assert recomputed is not None  # a result with a solution
        if not stale_columns(reported, recomputed, float(np.abs(model.c).sum())):
            return result, None
        return result, reported
