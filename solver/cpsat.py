"""``cpsat``: the main engine, OR-Tools CP-SAT.

Variables exist only for eligible pairs; costs and weights are scaled to
integers (the scale is recorded and the reported objective is recomputed from
the float costs, so it is exact; the bound is corrected by the worst rounding
error so it stays valid). The greedy solution is passed as a hint, and the
LP relaxation's value is the bound whenever CP-SAT cannot prove a better one.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import DEFAULT_RELATIVE_GAP, Availability
from tierflow.solver.highs import HighsEngine
from tierflow.solver.lp import LpRelaxation, lp_relaxation, round_relaxation
from tierflow.solver.matrix import build_matrix
from tierflow.solver.result import Limit, SolveResult, Status, no_solution
from tierflow.solver.verify import check_assignment

#: CP-SAT status -> (ours, limit).
STATUS_MAP: dict[cp_model.CpSolverStatus, tuple[Status, Limit]] = {
    cp_model.OPTIMAL: (Status.OPTIMAL, Limit.NONE),
    cp_model.FEASIBLE: (Status.FEASIBLE, Limit.TIME),
    cp_model.INFEASIBLE: (Status.INFEASIBLE, Limit.NONE),
    cp_model.MODEL_INVALID: (Status.ERROR, Limit.NONE),
    cp_model.UNKNOWN: (Status.NO_SOLUTION, Limit.TIME),
}

_MAX_EXACT = 2.0**53
#: Seconds CP-SAT's Python layer needs per variable to build a model (measured
#: ~10 µs); a phase is skipped when building alone would eat its time.
_BUILD_S_PER_PAIR = 2e-5
#: From this many eligible pairs, a problem without a defer option ends with
#: the agent-subset LNS instead of one CP-SAT solve of the full model.
LNS_MIN_PAIRS = 10_000
#: Items freed per LNS move (about: whole agents are freed, at least 2 and at
#: most LNS_MAX_AGENTS of them), and the time limit of one move's sub-solve.
#: Around 40 items a sub-GAP (even type E) is solved to optimality in tens of ms.
LNS_ITEMS = 40
LNS_MAX_AGENTS = 4
LNS_MOVE_S = 0.5
#: Up to this many eligible pairs HiGHS gets the LP core (phase 3); beyond,
#: its MIP rarely improves the rounding in a share of the time, and the
#: LNS gets all of it.
CORE_MAX_PAIRS = 50_000


@dataclass(frozen=True, slots=True)
class IntegerScale:
    """How float data became integers for CP-SAT."""

    cost_scale: float
    weight_scale: float
    #: Worst absolute rounding error of the objective, in cost units.
    cost_error: float


def _decimal_scale(
    values: NDArray[np.float64], total_items: int
) -> tuple[float, float]:
    """Smallest power of ten (<= 1e6) making ``values`` integral; error per item."""
    values = values[np.isfinite(values)]
    biggest = float(np.abs(values).max()) if values.size else 0.0
    for digits in range(7):
        scale = 10.0**digits
        if biggest * scale * max(total_items, 1) >= _MAX_EXACT:
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


def integer_data(
    problem: AssignmentProblem,
) -> tuple[
    IntegerScale,
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64] | None,
]:
    """Scaled ``(cost, weight, capacity, defer_cost)``; weights round up, capacity down."""
    elig_costs = problem.cost[problem.eligible]
    all_costs = elig_costs
    if problem.defer_cost is not None:
        all_costs = np.concatenate([elig_costs, problem.defer_cost])
    cost_scale, per_item_err = _decimal_scale(all_costs, problem.n_items)
    w_scale, _ = _decimal_scale(
        np.concatenate([problem.weight[problem.eligible], problem.capacity]),
        problem.n_items,
    )
    cost = np.round(problem.cost * cost_scale).astype(np.int64)
    weight = np.ceil(problem.weight * w_scale - 1e-9).astype(np.int64)
    capacity = np.floor(problem.capacity * w_scale + 1e-9).astype(np.int64)
    defer = (
        None
        if problem.defer_cost is None
        else np.round(problem.defer_cost * cost_scale).astype(np.int64)
    )
    scale = IntegerScale(cost_scale, w_scale, per_item_err * problem.n_items)
    return scale, cost, weight, capacity, defer


def default_workers(threads: int | None) -> int:
    """CP-SAT workers: the given thread count, else at least 8 for a full portfolio.

    CP-SAT's portfolio (LNS and LP-based workers) is far stronger with 8 or
    more workers even on 2 cores; they are interleaved by the OS.
    """
    if threads is not None:
        return max(1, int(threads))
    return max(8, os.cpu_count() or 1)


def solve_model(
    problem: AssignmentProblem,
    *,
    time_limit_s: float,
    seed: int,
    warm_start: NDArray[np.int64] | None,
    workers: int,
    engine: str = "cpsat",
    relative_gap: float = DEFAULT_RELATIVE_GAP,
) -> SolveResult:
    """One CP-SAT solve of the full model (no portfolio around it)."""
    start = time.perf_counter()
    scale, cost, weight, capacity, defer = integer_data(problem)
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
        if defer is not None:
            di = model.new_bool_var(f"d{i}")
            d.append(di)
            model.add_exactly_one([*row, di])
        else:
            model.add_exactly_one(row)
    by_agent = np.argsort(pj, kind="stable")
    agent_ptr = np.searchsorted(pj[by_agent], np.arange(problem.n_agents + 1))
    pair_w = weight[pi, pj]
    for j in matrix.capacity_agent.tolist():
        cols = by_agent[agent_ptr[j] : agent_ptr[j + 1]]
        model.add(
            cp_model.LinearExpr.weighted_sum(
                [x[c] for c in cols], pair_w[cols].tolist()
            )
            <= int(capacity[j])
        )
    if problem.use is not None and problem.stock is not None:
        for j, k in zip(
            matrix.stock_agent.tolist(), matrix.stock_resource.tolist(), strict=True
        ):
            cols = by_agent[agent_ptr[j] : agent_ptr[j + 1]]
            units = problem.use[pi[cols], k]
            sel = cols[units > 0]
            need = np.ceil(problem.use[pi[sel], k] * scale.weight_scale - 1e-9)
            model.add(
                cp_model.LinearExpr.weighted_sum(
                    [x[c] for c in sel], need.astype(np.int64).tolist()
                )
                <= math.floor(problem.stock[j, k] * scale.weight_scale + 1e-9)
            )
    terms = [*x, *d]
    coeffs = cost[pi, pj].tolist() + ([] if defer is None else defer.tolist())
    model.minimize(cp_model.LinearExpr.weighted_sum(terms, coeffs))
    if warm_start is not None:
        hint = np.asarray(warm_start, dtype=np.int64)
        on = (hint[pi] == pj).tolist()
        for var, val in zip(x, on, strict=True):
            model.add_hint(var, val)
        for i, di in enumerate(d):
            model.add_hint(di, bool(hint[i] < 0))

    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = max(time_limit_s - (time.perf_counter() - start), 0.01)
    params.num_workers = workers
    params.random_seed = int(seed)
    params.relative_gap_limit = float(relative_gap)
    params.log_search_progress = False
    code = solver.solve(model)
    runtime = time.perf_counter() - start
    status, limit = STATUS_MAP.get(code, (Status.ERROR, Limit.NONE))
    message = f"CP-SAT {solver.status_name(code)}; cost scale {scale.cost_scale:g}"
    bound: float | None = None
    if status in (Status.OPTIMAL, Status.FEASIBLE, Status.NO_SOLUTION):
        raw = solver.best_objective_bound
        if math.isfinite(raw):
            bound = raw / scale.cost_scale - scale.cost_error
    if not status.has_solution:
        return no_solution(
            engine,
            problem.n_items,
            status,
            runtime,
            bound=bound,
            limit=limit,
            message=message,
        )
    values = np.fromiter((solver.boolean_value(v) for v in x), dtype=bool, count=len(x))
    assignment = np.full(problem.n_items, -1, dtype=np.int64)
    assignment[pi[values]] = pj[values]
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
    reasons = {
        int(i): "deferred by the optimizer" for i in np.flatnonzero(assignment < 0)
    }
    return SolveResult(
        engine=engine,
        status=status,
        objective=objective,
        bound=bound,
        runtime_s=runtime,
        assignment=assignment,
        unassigned_reason=reasons,
        limit=limit,
        message=message,
    )


class _Incumbent:
    """Best solution and best bound seen across the portfolio's phases."""

    def __init__(self, problem: AssignmentProblem, relative_gap: float) -> None:
        self.problem = problem
        self.relative_gap = relative_gap
        self.assignment: NDArray[np.int64] | None = None
        self.objective = np.inf
        self.bound = -np.inf
        self.notes: list[str] = []

    def offer(self, assignment: NDArray[np.int64]) -> None:
        """Keep ``assignment`` if it is complete (or deferral is allowed) and better."""
        if not self.problem.can_defer and (assignment < 0).any():
            return
        if check_assignment(self.problem, assignment):
            return
        value = self.problem.objective(assignment)
        if value < self.objective:
            self.assignment, self.objective = assignment.copy(), value

    def bound_from(self, bound: float | None) -> None:
        if bound is not None:
            self.bound = max(self.bound, bound)

    def take(self, result: SolveResult) -> None:
        """Fold in one phase's solution and bound."""
        if result.has_solution:
            self.offer(result.assignment)
        self.bound_from(result.bound)

    @property
    def closed(self) -> bool:
        """Whether the incumbent is proven within the relative gap."""
        return self.assignment is not None and (
            self.objective - self.bound
            <= self.relative_gap * max(1.0, abs(self.objective))
        )

    def result(self, engine: str, runtime_s: float) -> SolveResult:
        message = "; ".join(self.notes)
        bound = None if not np.isfinite(self.bound) else float(self.bound)
        if self.assignment is None:
            return no_solution(
                engine,
                self.problem.n_items,
                Status.NO_SOLUTION,
                runtime_s,
                bound=bound,
                limit=Limit.TIME,
                message=message,
            )
        closed = self.closed
        reasons = {
            int(i): "deferred by the optimizer"
            for i in np.flatnonzero(self.assignment < 0)
        }
        return SolveResult(
            engine=engine,
            status=Status.OPTIMAL if closed else Status.FEASIBLE,
            objective=float(self.objective),
            bound=None if bound is None else min(bound, float(self.objective)),
            runtime_s=runtime_s,
            assignment=self.assignment,
            unassigned_reason=reasons,
            limit=Limit.NONE if closed else Limit.TIME,
            message=message,
        )


def lp_core(
    problem: AssignmentProblem,
    relax: LpRelaxation,
    per_item: int,
    keep: NDArray[np.int64] | None = None,
) -> AssignmentProblem:
    """The problem restricted to each item's ``per_item`` best nodes by LP reduced cost.

    Reduced cost ``c_ij + bid_price_j * w_ij - item_dual_i`` ranks how far a
    pair is from being used by the LP optimum; near-optimal integer solutions
    almost only use pairs near the top (the "core" of the problem). The pairs
    of ``keep`` (an incumbent) stay eligible so it remains feasible.
    """
    reduced = (
        problem.cost
        + relax.bid_price[None, :] * problem.weight
        - relax.item_dual[:, None]
    )
    reduced = np.where(problem.eligible, reduced, np.inf)
    k = min(per_item, problem.n_agents)
    best = np.argpartition(reduced, k - 1, axis=1)[:, :k]
    mask = np.zeros_like(problem.eligible)
    np.put_along_axis(mask, best, True, axis=1)
    if keep is not None:
        rows = np.flatnonzero(keep >= 0)
        mask[rows, keep[rows]] = True
    return problem.replace(eligible=problem.eligible & mask)


def agent_lns(
    problem: AssignmentProblem,
    start: NDArray[np.int64],
    *,
    deadline: float,
    seed: int,
    workers: int,
    agents_per_move: int | None = None,
) -> tuple[NDArray[np.int64], int]:
    """Large-neighbourhood search over agent subsets; returns (best, moves kept).

    Each move frees every item of a few random agents and re-solves their
    assignment among those agents exactly (a small CP-SAT model, hinted with
    the current one). The rest of the solution does not change and the freed
    agents get their whole capacity and stock back, so every re-solve is
    feasible and the objective can only fall. This is the agent-subset
    neighbourhood of GAP local search; it reaches far more of a large
    instance in a few seconds than one CP-SAT solve of the full model.
    """
    rng = np.random.default_rng(seed)
    best = np.asarray(start, dtype=np.int64).copy()
    value = problem.objective(best)
    m = problem.n_agents
    if agents_per_move is None:
        per_agent = max(problem.n_items / max(m, 1), 1.0)
        agents_per_move = int(np.clip(round(LNS_ITEMS / per_agent), 2, LNS_MAX_AGENTS))
    k = min(agents_per_move, m)
    kept = 0
    if k < 2:
        return best, kept  # one agent alone cannot move anything
    while True:
        left = deadline - time.perf_counter()
        if left < 0.05:
            break
        chosen = np.zeros(m, dtype=bool)
        chosen[rng.choice(m, size=k, replace=False)] = True
        items = np.flatnonzero((best >= 0) & chosen[np.maximum(best, 0)])
        if items.size == 0:
            continue
        sub = problem.subset(items)
        sub = sub.replace(eligible=sub.eligible & chosen[None, :])
        result = solve_model(
            sub,
            time_limit_s=min(LNS_MOVE_S, left),
            seed=int(rng.integers(1 << 30)),
            warm_start=best[items],
            workers=workers,
        )
        if not result.has_solution:
            continue
        trial = best.copy()
        trial[items] = result.assignment
        trial_value = problem.objective(trial)
        if trial_value < value - 1e-9 * max(1.0, abs(value)):
            best, value = trial, trial_value
            kept += 1
    return best, kept


class CpSatEngine:
    """OR-Tools CP-SAT, wrapped in a short LP-guided portfolio.

    1. The LP relaxation (HiGHS): a bound, and a rounded solution (LP-integral
       pairs kept, the rest placed greedily, then local search).
    2. CP-SAT on the full model for a short probe (``probe_share`` of the
       time): small and easy instances are proven optimal here.
    3. HiGHS on the *core* problem: each item restricted to its best few
       nodes by LP reduced cost, a much smaller MIP whose solutions are
       near-optimal for the full one (below :data:`CORE_MAX_PAIRS` pairs).
    4. CP-SAT on the full model again, hinted with the best solution so far,
       for the remaining time (its LNS workers improve it; its bound is valid
       for the full problem) — or, from :data:`LNS_MIN_PAIRS` eligible pairs
       and without a defer option,
       where one CP-SAT model of everything is too slow to improve in the
       time, :func:`agent_lns` (exact re-solves of a few agents at a time).

    Every phase stops the portfolio once the incumbent is within
    ``relative_gap`` of the best bound (then the result is ``OPTIMAL``, as
    MathOpt and CP-SAT report it). CP-SAT phases are skipped when building the
    model alone would eat most of their time (large micro-batches).

    ``plain=True`` skips the portfolio (one CP-SAT solve), for comparison.
    """

    exact = True
    proves_bound = True
    uses_warm_start = True

    def __init__(
        self,
        name: str = "cpsat",
        *,
        plain: bool = False,
        probe_share: float = 0.1,
        rounding_share: float = 0.1,
        core_share: float = 0.4,
        core_size: int = 3,
    ) -> None:
        self.name = name
        self.plain = plain
        self.probe_share = probe_share
        self.rounding_share = rounding_share
        self.core_share = core_share
        self.core_size = core_size

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
        deadline = start + time_limit_s
        workers = default_workers(threads)
        if self.plain:
            return solve_model(
                problem,
                time_limit_s=time_limit_s,
                seed=seed,
                warm_start=warm_start,
                workers=workers,
                engine=self.name,
            )
        track = _Incumbent(problem, relative_gap)
        if warm_start is not None:
            track.offer(np.asarray(warm_start, dtype=np.int64))
        n_pairs = int(problem.eligible.sum())
        # 1. The LP: a bound for early stopping, duals for the core, a rounding.
        relax = lp_relaxation(problem, time_limit_s=max(0.5 * time_limit_s, 0.01))
        if relax.status is Status.INFEASIBLE:
            return no_solution(
                self.name,
                problem.n_items,
                Status.INFEASIBLE,
                time.perf_counter() - start,
                message="LP relaxation infeasible",
            )
        track.bound_from(relax.objective)
        if relax.status is Status.OPTIMAL and not track.closed:
            rounded, _ = round_relaxation(
                problem, relax, time_limit_s=self.rounding_share * time_limit_s
            )
            track.offer(rounded)
            track.notes.append("LP rounding")
        # 2. A CP-SAT probe on the full model: proves small instances optimal.
        probe_limit = self.probe_share * time_limit_s
        if not track.closed and n_pairs * _BUILD_S_PER_PAIR < 0.25 * probe_limit:
            probe = solve_model(
                problem,
                time_limit_s=probe_limit,
                seed=seed,
                warm_start=track.assignment,
                workers=workers,
                engine=self.name,
                relative_gap=relative_gap,
            )
            if probe.status in (Status.INFEASIBLE, Status.ERROR):
                return dataclasses.replace(probe, runtime_s=time.perf_counter() - start)
            track.notes.append(f"probe {probe.status.name}")
            track.take(probe)
            if probe.status is Status.OPTIMAL:
                track.bound_from(probe.objective)
        # Large pure assignment problems end with the agent-subset LNS. With a
        # defer option (allocation batches, hindsight days) the LP is nearly
        # integral and HiGHS on the core closes it faster: no LNS there.
        use_lns = n_pairs >= LNS_MIN_PAIRS and not problem.can_defer
        # 3. HiGHS on the LP core: each item's best few nodes by reduced cost.
        left = deadline - time.perf_counter()
        if (
            relax.status is Status.OPTIMAL
            and left > 0.05
            and not track.closed
            and not (use_lns and n_pairs >= CORE_MAX_PAIRS)
        ):
            core = lp_core(problem, relax, self.core_size, keep=track.assignment)
            core_limit = min(self.core_share * time_limit_s, left)
            if not use_lns and n_pairs * _BUILD_S_PER_PAIR >= 0.25 * (
                left - core_limit
            ):
                core_limit = left  # too big for step 4 in what would be left
            core_result = HighsEngine().solve(
                core,
                time_limit_s=core_limit,
                seed=seed,
                warm_start=track.assignment,
                threads=threads,
                relative_gap=relative_gap,
            )
            track.notes.append(f"LP core HiGHS {core_result.status.name}")
            if core_result.has_solution:
                track.offer(core_result.assignment)
        # 4. Large instances: agent-subset LNS from the best solution so far.
        left = deadline - time.perf_counter()
        if not track.closed and track.assignment is not None and use_lns and left > 0.1:
            improved, kept = agent_lns(
                problem,
                track.assignment,
                deadline=deadline,
                seed=seed,
                workers=workers,
            )
            track.offer(improved)
            track.notes.append(f"agent LNS: {kept} improving moves")
        # 4'. Otherwise CP-SAT on the full model, hinted with the best so far.
        left = deadline - time.perf_counter()
        if (
            not track.closed
            and not use_lns
            and n_pairs * _BUILD_S_PER_PAIR < 0.25 * left
        ):
            final = solve_model(
                problem,
                time_limit_s=left,
                seed=seed + 1,
                warm_start=track.assignment,
                workers=workers,
                engine=self.name,
                relative_gap=relative_gap,
            )
            track.notes.append(f"final {final.status.name}")
            if final.status is Status.INFEASIBLE:
                return dataclasses.replace(final, runtime_s=time.perf_counter() - start)
            track.take(final)
            if final.status is Status.OPTIMAL:
                track.bound_from(final.objective)
        return track.result(self.name, time.perf_counter() - start)
