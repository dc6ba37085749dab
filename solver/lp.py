"""The LP relaxation: a lower bound, capacity duals (bid prices) and a rounding.

The bound every other engine falls back on, the duals the bid prices are
made of, and the ``lp`` engine (the relaxation, rounded). See ``docs/solver.md``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import BundledEngine, Capabilities, Hint
from tierflow.solver.greedy import greedy_assign
from tierflow.solver.highs_model import (
    model_status,
    new_highs,
    pass_model,
    run_highs,
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

#: HiGHS model status -> ours, for the relaxation.
LP_STATUS_MAP: dict[highspy.HighsModelStatus, Status] = {
    highspy.HighsModelStatus.kNotset: Status.ERROR,
    highspy.HighsModelStatus.kLoadError: Status.ERROR,
    highspy.HighsModelStatus.kModelError: Status.ERROR,
    highspy.HighsModelStatus.kPresolveError: Status.ERROR,
    highspy.HighsModelStatus.kSolveError: Status.ERROR,
    highspy.HighsModelStatus.kPostsolveError: Status.ERROR,
    highspy.HighsModelStatus.kModelEmpty: Status.OPTIMAL,
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: Status.ERROR,
    highspy.HighsModelStatus.kObjectiveBound: Status.NO_SOLUTION,
    highspy.HighsModelStatus.kObjectiveTarget: Status.NO_SOLUTION,
    highspy.HighsModelStatus.kTimeLimit: Status.NO_SOLUTION,
    highspy.HighsModelStatus.kIterationLimit: Status.NO_SOLUTION,
    highspy.HighsModelStatus.kUnknown: Status.ERROR,
    highspy.HighsModelStatus.kSolutionLimit: Status.NO_SOLUTION,
    highspy.HighsModelStatus.kInterrupt: Status.NO_SOLUTION,
    highspy.HighsModelStatus.kMemoryLimit: Status.ERROR,
    highspy.HighsModelStatus.__members__["kHighsInterrupt"]: Status.NO_SOLUTION,
}


@dataclass(frozen=True, slots=True)
class LpRelaxation:
    """Solution of the LP relaxation.

    Attributes
    ----------
    status
        ``OPTIMAL`` when solved; anything else means the other fields are empty.
    objective
        The relaxation's value: a lower bound on the integer optimum.
    x
        Column values (see :class:`tierflow.solver.matrix.MatrixModel`).
    bid_price
        ``(n_agents,)`` capacity duals, >= 0 (0 where capacity cannot bind).
    stock_dual
        ``(n_agents, n_resources)`` stock duals, >= 0.
    item_dual
        ``(n_items,)`` duals of the assignment rows (marginal cost of one item).
    method
        HiGHS's method: ``"simplex"`` (dual simplex) or ``"ipm"`` (interior
        point with crossover).
    """

    status: Status
    objective: float | None
    x: NDArray[np.float64]
    bid_price: NDArray[np.float64]
    stock_dual: NDArray[np.float64]
    item_dual: NDArray[np.float64]
    model: MatrixModel
    runtime_s: float
    method: str = "simplex"


#: Columns from which the LP relaxation may be solved by interior point +
#: crossover (when :func:`_most_capacities_bind`).
IPM_MIN_COLUMNS = 20_000
#: Share of the agents overloaded by every item at its cheapest agent above
#: which interior point is chosen (at :data:`IPM_MIN_COLUMNS` columns and up).
IPM_MIN_OVERLOADED = 0.5


def _most_capacities_bind(problem: AssignmentProblem) -> bool:
    """Whether more than :data:`IPM_MIN_OVERLOADED` of the agents are over
    capacity when every item goes to its cheapest eligible agent (or stays
    out, when that costs less): a cheap forecast of how many capacity rows
    the optimum binds, which is what the simplex's work grows with."""
    if problem.n_items == 0 or problem.n_agents == 0:
        return False
    cost = np.where(problem.eligible, problem.cost, np.inf)
    best = np.argmin(cost, axis=1)
    cheapest = cost[np.arange(problem.n_items), best]
    placed = np.isfinite(cheapest)
    if problem.defer_cost is not None:
        placed &= cheapest < problem.defer_cost
    load = problem.load(np.where(placed, best, -1))
    overloaded = np.count_nonzero(load > problem.capacity)
    return bool(overloaded > IPM_MIN_OVERLOADED * problem.n_agents)


def lp_relaxation(
    problem: AssignmentProblem,
    *,
    time_limit_s: float | None = None,
    threads: int | None = None,
    model: MatrixModel | None = None,
) -> LpRelaxation:
    """Solve the LP relaxation of ``problem`` with HiGHS.

    Dual simplex on small models and on large ones where few capacities
    bind; interior point with crossover (a vertex solution, as the rounding
    wants, and valid duals) from :data:`IPM_MIN_COLUMNS` columns when most
    would bind (:func:`_most_capacities_bind`). Each binding capacity costs
    the simplex pivots, and interior point does not care: on a tight GAP of
    1600 items × 80 agents interior point takes 0.8 s against 8.6 s, on the
    bid-price LP of 1,000 sampled orders × 52 nodes with a fifth of the
    capacities binding 0.25 s against 0.085 s (``docs/solver.md``).
    """
    start = time.perf_counter()
    model = model or build_matrix(problem)
    h = new_highs(time_limit_s=time_limit_s, threads=threads)
    method = "simplex"
    if model.n_cols >= IPM_MIN_COLUMNS and _most_capacities_bind(problem):
        method = "ipm"
        h.setOptionValue("run_crossover", "on")
    h.setOptionValue("solver", method)
    pass_model(h, model, integer=False)
    run_highs(h)
    status = LP_STATUS_MAP.get(model_status(h, model), Status.ERROR)
    bid = np.zeros(problem.n_agents)
    stock_dual = np.zeros((problem.n_agents, problem.n_resources))
    item_dual = np.zeros(problem.n_items)
    x = np.zeros(model.n_cols)
    objective = None
    if status is Status.OPTIMAL:
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=np.float64)
        objective = float(h.getInfo().objective_function_value)
        if problem.n_items == 0:
            objective = 0.0
        if sol.dual_valid:
            # duals of rows scaled in the matrix, back in the problem's units
            dual = np.asarray(sol.row_dual, dtype=np.float64) / model.row_scale
            n = problem.n_items
            n_cap = model.capacity_agent.size
            item_dual = dual[:n].copy()
            # HiGHS: a binding <= row of a minimization has a dual <= 0.
            bid[model.capacity_agent] = np.maximum(0.0, -dual[n : n + n_cap])
            stock_dual[model.stock_agent, model.stock_resource] = np.maximum(
                0.0, -dual[n + n_cap :]
            )
    return LpRelaxation(
        status=status,
        objective=objective,
        x=x,
        bid_price=bid,
        stock_dual=stock_dual,
        item_dual=item_dual,
        model=model,
        runtime_s=time.perf_counter() - start,
        method=method,
    )


def lp_bound(
    problem: AssignmentProblem, *, time_limit_s: float | None = None
) -> float | None:
    """The LP lower bound, or ``None`` when the relaxation is not solved."""
    relax = lp_relaxation(problem, time_limit_s=time_limit_s)
    return relax.objective if relax.status is Status.OPTIMAL else None


def round_relaxation(
    problem: AssignmentProblem, relax: LpRelaxation, *, time_limit_s: float
) -> tuple[NDArray[np.int64], dict[int, str]]:
    """Keep the LP's integral assignments, place the rest greedily, improve."""
    integral = np.where(relax.x >= 1.0 - 1e-6, 1.0, 0.0)
    start = relax.model.assignment_from(integral, problem.n_items)
    # Items the LP defers integrally stay deferred unless greedy finds better.
    return greedy_assign(problem, time_limit_s=time_limit_s, warm_start=start)


class LpEngine(BundledEngine):
    """``lp``: LP bound + capacity duals + a rounded solution (HiGHS)."""

    name = "lp"
    capabilities = Capabilities(proves_bound=True, bound_is_lp=True)

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        """Ignores ``warm_start``: the rounding starts from the LP's integral part."""
        start = time.perf_counter()
        relax = lp_relaxation(
            problem, time_limit_s=params.time_limit_s, threads=params.threads
        )
        if relax.status is not Status.OPTIMAL or relax.objective is None:
            limit = Limit.TIME if relax.status is Status.NO_SOLUTION else Limit.NONE
            return no_solution(
                self.name,
                problem.n_items,
                relax.status,
                time.perf_counter() - start,
                limit=limit,
                message=(
                    "LP relaxation infeasible"
                    if relax.status is Status.INFEASIBLE
                    else "LP relaxation not solved"
                ),
            )
        left = max(params.time_limit_s - (time.perf_counter() - start), 0.05)
        assignment, reasons = round_relaxation(problem, relax, time_limit_s=left)
        complete = problem.can_defer or bool((assignment >= 0).all())
        runtime = time.perf_counter() - start
        if not complete:
            result = no_solution(
                self.name,
                problem.n_items,
                Status.NO_SOLUTION,
                runtime,
                bound=relax.objective,
                message="LP rounding did not place every item",
            )
        else:
            result = self._rounded(problem, relax, assignment, reasons, runtime)
            if result.status is Status.FEASIBLE and runtime >= params.time_limit_s:
                # the rounding's improvement ran to the deadline
                result = dataclasses.replace(result, limit=Limit.TIME)
        return dataclasses.replace(
            result, bid_price=relax.bid_price, stock_dual=relax.stock_dual
        )

    def _rounded(
        self,
        problem: AssignmentProblem,
        relax: LpRelaxation,
        assignment: NDArray[np.int64],
        reasons: dict[int, str],
        runtime_s: float,
    ) -> SolveResult:
        """The rounding as a result: ``OPTIMAL`` when it meets the LP bound."""
        assert relax.objective is not None
        objective = problem.objective(assignment)
        bound = min(relax.objective, objective)
        proven = objective - bound <= 1e-9 * max(1.0, abs(objective))
        return solution_result(
            self.name,
            problem,
            assignment,
            Status.OPTIMAL if proven else Status.FEASIBLE,
            runtime_s,
            bound=bound,
            message=f"LP relaxation {relax.objective:.6g} in {relax.runtime_s:.3f}s",
            reasons=reasons,
        )
