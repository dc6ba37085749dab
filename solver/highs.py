"""``highs``: the MIP solved by HiGHS branch-and-cut, model built from arrays."""

from __future__ import annotations

import time

import highspy
import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import DEFAULT_RELATIVE_GAP, Availability
from tierflow.solver.highs_model import new_highs, pass_model
from tierflow.solver.matrix import build_matrix
from tierflow.solver.result import Limit, SolveResult, Status, no_solution

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


class HighsEngine:
    """HiGHS MIP; a proven optimum is ``OPTIMAL``, a capped incumbent ``FEASIBLE``."""

    name = "highs"
    exact = True
    proves_bound = True
    uses_warm_start = True

    def available(self) -> Availability:
        return Availability.AVAILABLE

    def solve(
        self,
        problem: AssignmentProblem,
        *,
        time_limit_s: float,
        seed: int,
        warm_start: NDArray[np.int64] | None,
        threads: int | None,
        relative_gap: float = DEFAULT_RELATIVE_GAP,
    ) -> SolveResult:
        start = time.perf_counter()
        model = build_matrix(problem)
        h = new_highs(time_limit_s=time_limit_s, threads=threads, seed=seed)
        h.setOptionValue("mip_rel_gap", float(relative_gap))
        h.setOptionValue("mip_abs_gap", 1e-6)
        pass_model(h, model, integer=True)
        if warm_start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = model.columns_from(np.asarray(warm_start, dtype=np.int64))
            h.setSolution(sol)
        h.run()
        native = h.getModelStatus()
        info = h.getInfo()
        with_sol, without_sol, limit = STATUS_MAP.get(
            native, (Status.ERROR, Status.ERROR, Limit.OTHER)
        )
        has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
        runtime = time.perf_counter() - start
        message = f"HiGHS {h.modelStatusToString(native)}"
        bound = float(info.mip_dual_bound)
        bound_known = np.isfinite(bound) and abs(bound) < 1e300
        if problem.n_items == 0:
            has_sol, bound, bound_known = True, 0.0, True
        if not has_sol or with_sol is Status.INFEASIBLE:
            status = without_sol if not has_sol else with_sol
            return no_solution(
                self.name,
                problem.n_items,
                status,
                runtime,
                bound=bound
                if bound_known and status is not Status.INFEASIBLE
                else None,
                limit=limit,
                message=message,
            )
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        assignment = model.assignment_from(x, problem.n_items)
        reasons = {
            int(i): "deferred by the optimizer" for i in np.flatnonzero(assignment < 0)
        }
        return SolveResult(
            engine=self.name,
            status=with_sol,
            objective=problem.objective(assignment),
            bound=bound if bound_known else None,
            runtime_s=runtime,
            assignment=assignment,
            unassigned_reason=reasons,
            limit=limit if with_sol is not Status.OPTIMAL else Limit.NONE,
            message=message,
        )
