"""``cpsat``: the LP-guided portfolio of HiGHS, CP-SAT and agent-subset LNS.

Registered as ``cpsat`` (the name scripts and outputs have always used);
what runs is this portfolio, with CP-SAT as its main exact phase. The phases
and why they are in this order: ``docs/solver.md``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from numpy.typing import NDArray

from tierflow.data.limits import MAX_SEED
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.cpsat import BUILD_S_PER_PAIR, default_workers, solve_model
from tierflow.solver.engine import EXACT_ENGINE, BundledEngine, Hint
from tierflow.solver.highs import HighsEngine
from tierflow.solver.lns import agent_lns
from tierflow.solver.lp import LpRelaxation, lp_relaxation, round_relaxation
from tierflow.solver.params import SolveParams
from tierflow.solver.partial_assignment import ItemResources, no_option_reasons
from tierflow.solver.result import (
    Limit,
    SolveResult,
    Status,
    no_solution,
    solution_result,
)
from tierflow.solver.verify import FEASIBILITY_TOL, check_assignment

#: From this many eligible pairs, a problem without a defer option ends with
#: the agent-subset LNS instead of one CP-SAT solve of the full model.
LNS_MIN_PAIRS = 10_000
#: Up to this many eligible pairs HiGHS gets the LP core (phase 3); beyond,
#: its MIP rarely improves the rounding in a share of the time, and the
#: LNS gets all of it.
CORE_MAX_PAIRS = 50_000


class Incumbent:
    """Best solution and best bound seen across the portfolio's phases."""

    def __init__(self, problem: AssignmentProblem, relative_gap: float) -> None:
        self.problem = problem
        self.relative_gap = relative_gap
        self.assignment: NDArray[np.int64] | None = None
        self.objective = np.inf
        self.bound = -np.inf
        self.notes: list[str] = []
        #: What stops the run short of a proof: the time limit, unless the
        #: final CP-SAT phase finished without one for another reason
        #: (rounded weights or costs), where more time would not help.
        self.limit = Limit.TIME

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
        """Raise the best bound to ``bound`` if it is better."""
        if bound is not None:
            self.bound = max(self.bound, bound)

    def take(self, result: SolveResult) -> None:
        """Fold in one phase's solution and bound (its objective, if proven)."""
        if result.has_solution:
            self.offer(result.assignment)
        self.bound_from(result.bound)
        if result.status is Status.OPTIMAL:
            self.bound_from(result.objective)

    @property
    def closed(self) -> bool:
        """Whether the incumbent is proven within the relative gap."""
        return self.assignment is not None and (
            self.objective - self.bound
            <= self.relative_gap * max(1.0, abs(self.objective))
        )

    def result(self, engine: str, runtime_s: float) -> SolveResult:
        """The incumbent as a result: ``OPTIMAL`` when closed, else stopped by
        :attr:`limit` (the time limit, or ``OTHER`` when the final phase
        ended before it without a proof)."""
        message = "; ".join(self.notes)
        bound = None if not np.isfinite(self.bound) else float(self.bound)
        if self.assignment is None:
            return no_solution(
                engine,
                self.problem.n_items,
                Status.NO_SOLUTION,
                runtime_s,
                bound=bound,
                limit=self.limit,
                message=message,
            )
        closed = self.closed
        return solution_result(
            engine,
            self.problem,
            self.assignment,
            Status.OPTIMAL if closed else Status.FEASIBLE,
            runtime_s,
            bound=None if bound is None else min(bound, float(self.objective)),
            limit=Limit.NONE if closed else self.limit,
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


def _fits_empty(problem: AssignmentProblem) -> NDArray[np.bool_]:
    """``(n_items, n_agents)``: whether each item alone fits each node, by
    ``verify``'s slack at most (:data:`FEASIBILITY_TOL` of ``max(1, rhs)``),
    so an item refused here is refused by every check of a solution."""

    def within(
        need: NDArray[np.float64], have: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        ok: NDArray[np.bool_] = need <= have + FEASIBILITY_TOL * np.maximum(1.0, have)
        return ok

    fits: NDArray[np.bool_] = problem.eligible & within(
        problem.weight, problem.capacity[None, :]
    )
    resources = ItemResources.of(problem)
    if resources is not None and problem.stock is not None:
        # by the items' nonzero uses (a batch's SKUs are many, each item's few)
        slack = FEASIBILITY_TOL * np.maximum(1.0, problem.stock)
        fits &= resources.ok_matrix(problem.stock, problem.n_items, slack)
    return fits


@dataclasses.dataclass(frozen=True, slots=True)
class PortfolioShares:
    """How the portfolio splits its time limit, and the LP core's width."""

    probe: float = 0.1
    rounding: float = 0.1
    core: float = 0.4
    core_size: int = 3


class _Run:
    """One portfolio solve: the phases in order, sharing the incumbent.

    Each phase returns a result to stop with (infeasible, or an error), else
    ``None`` to go on; every phase is skipped once the incumbent is closed.
    """

    def __init__(
        self,
        name: str,
        shares: PortfolioShares,
        problem: AssignmentProblem,
        params: SolveParams,
    ) -> None:
        self.name, self.shares = name, shares
        self.problem, self.params = problem, params
        self.start = time.perf_counter()
        self.deadline = self.start + params.time_limit_s
        self.track = Incumbent(problem, params.relative_gap)
        self.n_pairs = int(problem.eligible.sum())
        # Large pure assignment problems end with the agent-subset LNS. With a
        # defer option (allocation batches, hindsight days) the LP is nearly
        # integral and HiGHS on the core closes it faster: no LNS there.
        self.use_lns = self.n_pairs >= LNS_MIN_PAIRS and not problem.can_defer
        self.relax: LpRelaxation | None = None

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def fits(self, seconds: float) -> bool:
        """Whether building the full CP-SAT model takes under a quarter of ``seconds``."""
        return self.n_pairs * BUILD_S_PER_PAIR < 0.25 * seconds

    def unplaceable(self) -> SolveResult | None:
        """0. An item that fits no node even empty (no eligible node, none
        holding its stock, heavier than every eligible capacity) and may not
        wait: infeasible, proven by that item. The LP takes a part of it at
        several nodes, and beyond the probe's size nothing else proved it:
        ``no_solution`` with limit ``time`` and the greedy fallback's answer,
        where ``highs`` says ``infeasible`` in half a second."""
        problem = self.problem
        if problem.can_defer:
            return None
        stuck = np.flatnonzero(~_fits_empty(problem).any(axis=1))
        if stuck.size == 0:
            return None
        first = int(stuck[0])
        empty = np.full(problem.n_items, -1, dtype=np.int64)
        reasons = no_option_reasons(problem, empty, stuck[:1])
        return no_solution(
            self.name,
            self.problem.n_items,
            Status.INFEASIBLE,
            self.elapsed(),
            message=f"item {first} fits no node ({reasons[0]})"
            + (f" and {stuck.size - 1} more" if stuck.size > 1 else ""),
        )

    def relaxation(self) -> SolveResult | None:
        """1. The LP: a bound for early stopping, duals for the core, a rounding."""
        limit = self.params.time_limit_s
        self.relax = relax = lp_relaxation(
            self.problem, time_limit_s=max(0.5 * limit, 0.01)
        )
        if relax.status is Status.INFEASIBLE:
            return no_solution(
                self.name,
                self.problem.n_items,
                Status.INFEASIBLE,
                self.elapsed(),
                message="LP relaxation infeasible",
            )
        self.track.bound_from(relax.objective)
        if relax.status is Status.OPTIMAL and not self.track.closed:
            rounded, _ = round_relaxation(
                self.problem, relax, time_limit_s=self.shares.rounding * limit
            )
            self.track.offer(rounded)
            self.track.notes.append("LP rounding")
        return None

    def probe(self) -> SolveResult | None:
        """2. A CP-SAT probe on the full model: proves small instances optimal."""
        limit = self.shares.probe * self.params.time_limit_s
        if self.track.closed or not self.fits(limit):
            return None
        probe = solve_model(
            self.problem,
            self.params.replace(time_limit_s=limit),
            warm_start=self.track.assignment,
            engine=self.name,
        )
        if probe.status in (Status.INFEASIBLE, Status.ERROR):
            return dataclasses.replace(probe, runtime_s=self.elapsed())
        self.track.notes.append(f"probe {probe.status.name}")
        self.track.take(probe)
        return None

    def core(self) -> SolveResult | None:
        """3. HiGHS on the LP core: each item's best few nodes by reduced cost."""
        relax, left = self.relax, self.left()
        if (
            relax is None
            or relax.status is not Status.OPTIMAL
            or left <= 0.05
            or self.track.closed
            or (self.use_lns and self.n_pairs >= CORE_MAX_PAIRS)
        ):
            return None
        core = lp_core(
            self.problem, relax, self.shares.core_size, keep=self.track.assignment
        )
        core_limit = min(self.shares.core * self.params.time_limit_s, left)
        if not self.use_lns and not self.fits(left - core_limit):
            core_limit = left  # too big for the final phase in what would be left
        result = HighsEngine().solve(
            core,
            self.params.replace(time_limit_s=core_limit),
            warm_start=self.track.assignment,
        )
        self.track.notes.append(f"LP core HiGHS {result.status.name}")
        if result.has_solution:
            self.track.offer(result.assignment)
        return None

    def lns(self) -> SolveResult | None:
        """4. Large instances: agent-subset LNS from the best solution so far."""
        start = self.track.assignment
        if self.track.closed or start is None or not self.use_lns or self.left() <= 0.1:
            return None
        improved, kept = agent_lns(
            self.problem,
            start,
            deadline=self.deadline,
            seed=self.params.seed,
            workers=default_workers(self.params.threads),
        )
        self.track.offer(improved)
        self.track.notes.append(f"agent LNS: {kept} improving moves")
        return None

    def final(self) -> SolveResult | None:
        """4'. Otherwise CP-SAT on the full model, hinted with the best so far;
        also for a large problem no phase found a solution for, where the LNS
        has none to start from: this may find one or prove none exists (the
        portfolio answered ``no_solution``, limit ``time``, with most of its
        time left, where ``cpsat-plain`` proved the problem infeasible)."""
        left = self.left()
        lns_ran = self.use_lns and self.track.assignment is not None
        if self.track.closed or lns_ran or not self.fits(left):
            return None
        final = solve_model(
            self.problem,
            self.params.replace(
                time_limit_s=left, seed=(self.params.seed + 1) % (MAX_SEED + 1)
            ),
            warm_start=self.track.assignment,
            engine=self.name,
        )
        self.track.notes.append(f"final {final.status.name}")
        if final.limit is Limit.OTHER:
            # CP-SAT finished its search on rounded data well before the
            # deadline: the run stopped for that reason, not for time
            self.track.limit = Limit.OTHER
            self.track.notes.append(
                f"stopped before the time limit, more time would not help "
                f"({final.message})"
            )
        if final.status is Status.INFEASIBLE:
            return dataclasses.replace(final, runtime_s=self.elapsed())
        self.track.take(final)
        return None


class PortfolioEngine(BundledEngine):
    """OR-Tools CP-SAT inside a short LP-guided portfolio (registered as ``cpsat``).

    1. the LP relaxation (HiGHS): a bound, and a rounded solution;
    2. a CP-SAT probe on the full model (``probe`` share of the time);
    3. HiGHS on the LP-reduced-cost core (each item's best few nodes);
    4. agent-subset LNS on large pure assignment problems, else CP-SAT on the
       full model hinted with the best solution so far.

    The portfolio stops once the incumbent is within ``relative_gap`` of the
    best bound (then the result is ``OPTIMAL``, as MathOpt and CP-SAT report
    it). CP-SAT phases are skipped when building the model alone would eat
    most of their time (large micro-batches).
    """

    #: Its bound holds its own LP relaxation's (phase 1): ``solve()`` need not
    #: solve the same LP again after an unproven result.
    capabilities = dataclasses.replace(
        EXACT_ENGINE, bound_is_lp=True, deterministic=True
    )

    def __init__(
        self, name: str = "cpsat", *, shares: PortfolioShares | None = None
    ) -> None:
        self.name = name
        self.shares = shares or PortfolioShares()

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        if params.deterministic:
            # the phases share the time limit by the clock (each stops
            # wherever it finds it): one CP-SAT solve on deterministic time
            return solve_model(problem, params, warm_start=warm_start, engine=self.name)
        run = _Run(self.name, self.shares, problem, params)
        if warm_start is not None:
            run.track.offer(np.asarray(warm_start, dtype=np.int64))
        phases = (run.unplaceable, run.relaxation, run.probe, run.core)
        for phase in (*phases, run.lns, run.final):
            stop = phase()
            if stop is not None:
                return stop
        return run.track.result(self.name, run.elapsed())
