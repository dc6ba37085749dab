"""``cpsat-plain``: one OR-Tools CP-SAT solve of the full model.

Costs and weights are scaled to integers (the objective is recomputed from
the float costs; the bound is corrected by the rounding error). Weights (and
SKU uses) that no power of ten up to 10^6 makes whole are rounded up, and
capacities (stock) down: that model is stricter than the problem, so its
solutions are feasible but its proofs are not the problem's (an
"infeasible" is no solution found, an "optimal" a feasible solution, and
its bound is dropped). The portfolio registered as ``cpsat`` and the agent
LNS call :func:`solve_model` too.

OR-Tools is imported when a model is first built, not with this module:
the engine registry imports every engine, and ``tierflow.solver.lp`` (the
checkout's bid-price LP, on HiGHS) imported the registry (it no longer
does: the package loads the registry on first use), so each ``tierflow
serve`` start paid its import (about 0.1 s of CPU: 1.62 -> 1.52 s a start,
median of 8) for a solver no request runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tierflow.data.stop_signals import stop_on_signal
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import EXACT_ENGINE, BundledEngine, Hint
from tierflow.solver.matrix import MatrixModel, build_matrix
from tierflow.solver.params import SolveParams
from tierflow.solver.result import (
    Limit,
    SolveResult,
    Status,
    no_solution,
    solution_result,
)

if TYPE_CHECKING:
    from ortools.sat.python import cp_model


@cache
def status_map() -> dict[cp_model.CpSolverStatus, tuple[Status, Limit]]:
    """CP-SAT status -> (ours, limit), made on first use (OR-Tools imported)."""
    from ortools.sat.python import cp_model

    return {
        cp_model.OPTIMAL: (Status.OPTIMAL, Limit.NONE),
        cp_model.FEASIBLE: (Status.FEASIBLE, Limit.TIME),
        cp_model.INFEASIBLE: (Status.INFEASIBLE, Limit.NONE),
        cp_model.MODEL_INVALID: (Status.ERROR, Limit.NONE),
        cp_model.UNKNOWN: (Status.NO_SOLUTION, Limit.TIME),
    }


_MAX_EXACT = 2.0**53
#: Seconds CP-SAT's Python layer needs per variable to build a model (measured
#: ~10 µs); a phase is skipped when building alone would eat its time.
BUILD_S_PER_PAIR = 2e-5


@dataclass(frozen=True, slots=True)
class IntegerScale:
    """How float data became integers for CP-SAT."""

    cost_scale: float
    weight_scale: float
    #: Worst absolute rounding error of the objective, in cost units.
    cost_error: float
    #: The scale of the SKU uses and stock (their own: a use of 0.5 against
    #: weights of 1 was rounded up to 1).
    stock_scale: float = 1.0
    #: Whether the scaled weights and uses are whole: then the integer rows
    #: (capacity and stock rounded down) take exactly the assignments the
    #: problem takes; otherwise fewer, and CP-SAT's proofs are not the problem's.
    rows_exact: bool = True


@dataclass(frozen=True, slots=True)
class IntegerData:
    """The problem's numbers as CP-SAT integers; weights round up, capacity down."""

    scale: IntegerScale
    cost: NDArray[np.int64]
    weight: NDArray[np.int64]
    capacity: NDArray[np.int64]
    defer_cost: NDArray[np.int64] | None


def _decimal_scale(
    values: NDArray[np.float64],
    total_items: int,
    bounds: NDArray[np.float64] | None = None,
) -> tuple[float, float]:
    """Smallest power of ten (<= 1e6) making ``values`` integral; error per
    item. ``bounds`` (the right-hand sides of rows whose coefficients are
    ``values``) need not become whole, but must stay within integer range."""
    values = values[np.isfinite(values)]
    # a row sums up to total_items values; its bound is one number
    biggest = float(np.abs(values).max()) if values.size else 0.0
    biggest *= max(total_items, 1)
    if bounds is not None and bounds.size:
        finite = bounds[np.isfinite(bounds)]
        biggest = max(biggest, float(np.abs(finite).max(initial=0.0)))
    for digits in range(7):
        scale = 10.0**digits
        if biggest * scale >= _MAX_EXACT:
            scale = 10.0 ** max(digits - 1, 0)
            break
        scaled = values * scale
        if np.all(
            np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1, np.abs(scaled))
        ):
            return scale, 0.0
    scaled = values * scale
    return scale, float(
        np.abs(scaled - np.round(scaled)).max() / scale
    ) if values.size else 0.0


def integer_data(problem: AssignmentProblem) -> IntegerData:
    """Scaled ``cost``, ``weight``, ``capacity`` and ``defer_cost``."""
    elig_costs = problem.cost[problem.eligible]
    all_costs = elig_costs
    if problem.defer_cost is not None:
        all_costs = np.concatenate([elig_costs, problem.defer_cost])
    cost_scale, per_item_err = _decimal_scale(all_costs, problem.n_items)
    # whole weights make capacity's rounding down exact: a sum of whole
    # numbers is at most c exactly when it is at most floor(c)
    w_scale, w_err = _decimal_scale(
        problem.weight[problem.eligible], problem.n_items, problem.capacity
    )
    s_scale, s_err = 1.0, 0.0
    if problem.use is not None and problem.stock is not None:
        s_scale, s_err = _decimal_scale(
            problem.use[problem.use > 0], problem.n_items, problem.stock.ravel()
        )
    return IntegerData(
        scale=IntegerScale(
            cost_scale,
            w_scale,
            per_item_err * problem.n_items,
            stock_scale=s_scale,
            rows_exact=w_err == 0.0 and s_err == 0.0,
        ),
        cost=np.round(problem.cost * cost_scale).astype(np.int64),
        weight=np.ceil(problem.weight * w_scale - 1e-9).astype(np.int64),
        capacity=np.floor(problem.capacity * w_scale + 1e-9).astype(np.int64),
        defer_cost=None
        if problem.defer_cost is None
        else np.round(problem.defer_cost * cost_scale).astype(np.int64),
    )


def default_workers(threads: int | None) -> int:
    """CP-SAT workers: the given thread count, else at least 8 for a full portfolio.

    CP-SAT's portfolio (LNS and LP-based workers) is far stronger with 8 or
    more workers even on 2 cores; they are interleaved by the OS.
    """
    if threads is not None:
        return max(1, int(threads))
    return max(8, os.cpu_count() or 1)


@dataclass(slots=True)
class _CpModel:
    """The CP-SAT model of a problem: a bool per eligible pair (and per deferral)."""

    model: cp_model.CpModel
    x: list[cp_model.IntVar]
    d: list[cp_model.IntVar]
    matrix: MatrixModel
    data: IntegerData


def _agent_columns(matrix: MatrixModel, n_agents: int) -> list[NDArray[np.intp]]:
    """The pair columns of each agent."""
    pj = matrix.pair_agent
    by_agent = np.argsort(pj, kind="stable")
    agent_ptr = np.searchsorted(pj[by_agent], np.arange(n_agents + 1))
    return [by_agent[agent_ptr[j] : agent_ptr[j + 1]] for j in range(n_agents)]


def _add_resource_rows(cp: _CpModel, problem: AssignmentProblem) -> None:
    """A capacity row per agent that could overflow, a stock row per (agent, SKU)."""
    from ortools.sat.python import cp_model

    model, x, data, matrix = cp.model, cp.x, cp.data, cp.matrix
    pi, pj = matrix.pair_item, matrix.pair_agent
    cols_of = _agent_columns(matrix, problem.n_agents)
    pair_w = data.weight[pi, pj]
    for j in matrix.capacity_agent.tolist():
        cols = cols_of[j]
        model.add(
            cp_model.LinearExpr.weighted_sum(
                [x[c] for c in cols], pair_w[cols].tolist()
            )
            <= int(data.capacity[j])
        )
    if problem.use is None or problem.stock is None:
        return
    for j, k in zip(
        matrix.stock_agent.tolist(), matrix.stock_resource.tolist(), strict=True
    ):
        cols = cols_of[j]
        sel = cols[problem.use[pi[cols], k] > 0]
        need = np.ceil(problem.use[pi[sel], k] * data.scale.stock_scale - 1e-9)
        model.add(
            cp_model.LinearExpr.weighted_sum(
                [x[c] for c in sel], need.astype(np.int64).tolist()
            )
            <= math.floor(problem.stock[j, k] * data.scale.stock_scale + 1e-9)
        )


def build_model(
    problem: AssignmentProblem, warm_start: NDArray[np.int64] | None
) -> _CpModel:
    """The CP-SAT model of ``problem``, hinted with ``warm_start`` when given."""
    from ortools.sat.python import cp_model

    data = integer_data(problem)
    matrix = build_matrix(problem)  # for the binding rows only
    model = cp_model.CpModel()
    pi, pj = matrix.pair_item, matrix.pair_agent
    x = [
        model.new_bool_var(f"x{i}_{j}")
        for i, j in zip(pi.tolist(), pj.tolist(), strict=True)
    ]
    item_ptr = np.searchsorted(pi, np.arange(problem.n_items + 1))
    d: list[cp_model.IntVar] = []
    for i in range(problem.n_items):
        row = x[item_ptr[i] : item_ptr[i + 1]]
        if data.defer_cost is not None:
            d.append(model.new_bool_var(f"d{i}"))
            row = [*row, d[-1]]
        model.add_exactly_one(row)
    cp = _CpModel(model, x, d, matrix, data)
    _add_resource_rows(cp, problem)
    coeffs = data.cost[pi, pj].tolist()
    if data.defer_cost is not None:
        coeffs += data.defer_cost.tolist()
    model.minimize(cp_model.LinearExpr.weighted_sum([*x, *d], coeffs))
    if warm_start is not None:
        hint = np.asarray(warm_start, dtype=np.int64)
        for var, val in zip(x, (hint[pi] == pj).tolist(), strict=True):
            model.add_hint(var, val)
        for i, di in enumerate(d):
            model.add_hint(di, bool(hint[i] < 0))
    return cp


def _cp_result(
    cp: _CpModel,
    solver: cp_model.CpSolver,
    code: cp_model.CpSolverStatus,
    problem: AssignmentProblem,
    *,
    engine: str,
    runtime_s: float,
    relative_gap: float,
) -> SolveResult:
    """Map CP-SAT's answer to ours; the objective recomputed from float costs."""
    scale = cp.data.scale
    status, limit = status_map().get(code, (Status.ERROR, Limit.NONE))
    message = f"CP-SAT {solver.status_name(code)}; cost scale {scale.cost_scale:g}"
    bound: float | None = None
    if not scale.rows_exact and status in (Status.OPTIMAL, Status.INFEASIBLE):
        # proven for the stricter rounded rows only: a rounded-up third
        # made a feasible problem "infeasible", and its optimum no bound
        message += "; weights rounded up (not whole at scale 1e6): no proof"
        status, limit = (
            (Status.FEASIBLE, Limit.OTHER)
            if status is Status.OPTIMAL
            else (Status.NO_SOLUTION, Limit.OTHER)
        )
    # without a solution CP-SAT's bound is its response's default 0 when the
    # search never got to one (UNKNOWN): no proof, and above the optimum of
    # a problem with negative costs (or maximised), so it is not reported
    if scale.rows_exact and status in (Status.OPTIMAL, Status.FEASIBLE):
        raw = solver.best_objective_bound
        if math.isfinite(raw):
            bound = raw / scale.cost_scale - scale.cost_error
    if not status.has_solution:
        return no_solution(
            engine,
            problem.n_items,
            status,
            runtime_s,
            bound=bound,
            limit=limit,
            message=message,
        )
    x = cp.x
    values = np.fromiter((solver.boolean_value(v) for v in x), dtype=bool, count=len(x))
    assignment = np.full(problem.n_items, -1, dtype=np.int64)
    assignment[cp.matrix.pair_item[values]] = cp.matrix.pair_agent[values]
    objective = problem.objective(assignment)
    if bound is not None:
        bound = min(bound, objective)
    if (
        status is Status.OPTIMAL
        and scale.cost_error > 0
        and (
            bound is None or objective - bound > relative_gap * max(1.0, abs(objective))
        )
    ):
        # optimal for the rounded costs only, and the rounding matters
        status, limit = Status.FEASIBLE, Limit.OTHER
    return solution_result(
        engine,
        problem,
        assignment,
        status,
        runtime_s,
        bound=bound,
        limit=limit,
        message=message,
    )


def solve_model(
    problem: AssignmentProblem,
    params: SolveParams,
    *,
    warm_start: NDArray[np.int64] | None = None,
    engine: str = "cpsat",
) -> SolveResult:
    """One CP-SAT solve of the full model (no portfolio around it).

    Uses :func:`default_workers` of ``params.threads`` workers; with
    ``params.deterministic``, ``params.threads`` or one (not the machine's
    core count: the answer depends on the count).
    """
    from ortools.sat.python import cp_model

    start = time.perf_counter()
    cp = build_model(problem, warm_start)
    solver = cp_model.CpSolver()
    sat = solver.parameters
    if params.deterministic:
        # the work done, not the clock, ends the search: one worker, or
        # several interleaved (each batch of tasks waited for); CP-SAT's
        # parallel portfolio shares solutions as they come, and repeats
        # nothing (docs/allocation.md, "Deterministic CP-SAT")
        sat.max_deterministic_time = max(params.time_limit_s, 0.01)
        sat.num_workers = params.threads or 1
        sat.interleave_search = sat.num_workers > 1
    else:
        sat.max_time_in_seconds = max(
            params.time_limit_s - (time.perf_counter() - start), 0.01
        )
        sat.num_workers = default_workers(params.threads)
    sat.random_seed = int(params.seed)
    sat.relative_gap_limit = float(params.relative_gap)
    sat.log_search_progress = False
    # CP-SAT's own SIGINT handler would end the search as if on the time
    # limit (the caller going on with the result) and leave SIGINT at the
    # OS default after the solve (a later Ctrl-C killing the process with
    # no cleanup): a Ctrl-C (or SIGTERM) stops the search (stop_on_signal)
    # and Python's handler runs as the solve returns
    sat.catch_sigint_signal = False
    with stop_on_signal(solver.stop_search):
        code = solver.solve(cp.model)
    return _cp_result(
        cp,
        solver,
        code,
        problem,
        engine=engine,
        runtime_s=time.perf_counter() - start,
        relative_gap=params.relative_gap,
    )


class CpSatEngine(BundledEngine):
    """``cpsat-plain``: one CP-SAT solve of the full model, hinted with greedy."""

    name = "cpsat-plain"
    capabilities = dataclasses.replace(EXACT_ENGINE, deterministic=True)

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        return solve_model(problem, params, warm_start=warm_start, engine=self.name)
