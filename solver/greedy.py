"""``greedy``: regret construction, repair and local search; the always-available engine.

Microseconds per item, so it is the fallback whenever another engine fails
or times out. The parts (:mod:`~tierflow.solver.construction`,
:mod:`~tierflow.solver.repair`, :mod:`~tierflow.solver.local_search`) and
how they combine: ``docs/solver.md``.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.construction import (
    BLEND_MUS,
    construct,
    cut_short,
    desirability_of,
    overfills,
)
from tierflow.solver.engine import BundledEngine, Capabilities, Hint
from tierflow.solver.local_search import improve
from tierflow.solver.nearest import first_come_assign
from tierflow.solver.params import SolveParams
from tierflow.solver.partial_assignment import (
    INF,
    TOL,
    ItemResources,
    PartialAssignment,
    item_costs,
    no_option_reasons,
)
from tierflow.solver.repair import repair
from tierflow.solver.result import (
    Limit,
    SolveResult,
    Status,
    heuristic_result,
    no_solution,
)

__all__ = [
    "BLEND_MUS",
    "GreedyEngine",
    "cheapest_feasible_node",
    "construct",
    "first_come_assign",
    "greedy_assign",
    "improve",
    "repair",
]

#: Starts (best first) that get the shift/swap local search, beyond
#: :data:`SMALL_PAIRS` items × nodes (below it every start does).
IMPROVED_STARTS = 3
SMALL_PAIRS = 10_000
#: From this many items a construction takes seconds: the measures that
#: overfill the nodes (:func:`~tierflow.solver.construction.overfills`)
#: are skipped, and the first complete start ends the search for others.
SCREENED_ITEMS = 20_000
#: From this many items × nodes a complete start ends the search for others.
FIRST_COMPLETE_PAIRS = 200_000


def _measures(problem: AssignmentProblem) -> list[str]:
    """Desirability measures to start from, most promising first.

    Beyond :data:`SCREENED_ITEMS` items, from the first (cost, then capacity
    priced ever higher) whose capacity-free choice does not overfill the
    nodes: by cost alone, the only measure tried there before, a Chu &
    Beasley type C, D or E GAP of 100 x 100,000 left 20-86 % of its items
    out, and the engine answered ``no_solution``.
    """
    if problem.can_defer:
        return ["cost"]
    measures = ["cost", *(f"blend:{mu:g}" for mu in BLEND_MUS), "cost_weight", "weight"]
    if problem.n_items <= SCREENED_ITEMS:
        return measures
    fits = (k for k, m in enumerate(measures) if not overfills(problem, m))
    return measures[next(fits, len(measures) - 1) :]


def _incomplete(state: PartialAssignment) -> bool:
    return bool((state.assignment < 0).any())


def _placeable_nowhere(problem: AssignmentProblem, state: PartialAssignment) -> bool:
    """Whether an item ``state`` left out fits no node even when every node
    is empty (no eligible node, none holding its stock, heavier than every
    eligible capacity): no restart can place it. The restarts ran to the
    deadline for it, 5 s of 5 s at 2,000 items with one such item, and the
    answer read ``limit: time`` for a problem no time could solve."""
    left_out = np.flatnonzero(state.assignment < 0)
    empty = np.full(problem.n_items, -1, dtype=np.int64)
    return bool((no_option_reasons(problem, empty, left_out) != "").any())


def _starts(
    problem: AssignmentProblem,
    warm_start: NDArray[np.int64] | None,
    stock: ItemResources | None,
    deadline: float,
) -> list[PartialAssignment]:
    """One constructed (and repaired) start per measure, the warm start first.

    Where deferring is allowed the constructions run to their end whatever
    ``deadline``: an item a construction cut short leaves unplaced, which
    such a problem reads as deferred, a wait the clock decided and not the
    costs (a 20,000-order ``--hindsight`` day at the default 2 s had every
    order wait). Without a defer option a cut-short start is incomplete,
    and the engine says ``no_solution``."""
    build_until = math.inf if problem.can_defer else deadline
    candidates: list[PartialAssignment] = []
    if warm_start is not None:
        state = PartialAssignment.of(problem, np.asarray(warm_start, dtype=np.int64))
        construct(problem, "cost", state, deadline=build_until)
        candidates.append(state)
    big = (
        problem.n_items > SCREENED_ITEMS
        or problem.n_items * problem.n_agents > FIRST_COMPLETE_PAIRS
    )
    for measure in _measures(problem):
        if candidates and time.perf_counter() > deadline:
            break
        state = construct(problem, measure, deadline=build_until)
        if _incomplete(state):
            repair(problem, state, stock, deadline=deadline)
            if measure != "cost" and _incomplete(state):
                construct(problem, "cost", state, deadline=deadline)
        candidates.append(state)
        complete = not problem.can_defer and not _incomplete(state)
        if complete and big:
            break  # a complete start on a big instance: skip the other measures
    return candidates


def _score(problem: AssignmentProblem, state: PartialAssignment) -> tuple[int, float]:
    """Items missing (when every item must be placed), then the cost of the rest."""
    a = state.assignment
    missing = 0 if problem.can_defer else int((a < 0).sum())
    return missing, float(item_costs(problem, a)[a >= 0].sum())


def _polish(
    problem: AssignmentProblem,
    candidates: list[PartialAssignment],
    stock: ItemResources | None,
    deadline: float,
) -> None:
    """Local search on every start of a small instance, the best few otherwise.

    On small instances it takes milliseconds and the best local optimum often
    comes from a worse start; on larger ones a swap round is O(n²) and
    polishing every start costs seconds for little.
    """
    candidates.sort(key=lambda s: _score(problem, s))
    small = problem.n_items * problem.n_agents <= SMALL_PAIRS
    for state in candidates if small else candidates[:IMPROVED_STARTS]:
        improve(problem, state, deadline=deadline)
        incomplete = _incomplete(state) and not problem.can_defer
        if incomplete and repair(problem, state, stock, deadline=deadline):
            improve(problem, state, deadline=deadline)


def _restart(
    problem: AssignmentProblem,
    stock: ItemResources | None,
    *,
    seed: int,
    max_restarts: int,
    deadline: float,
    improve_solution: bool,
) -> PartialAssignment | None:
    """Randomized restarts (perturbed desirabilities, then repair) until one is
    complete, ``max_restarts`` or the deadline; the complete one, if any."""
    rng = np.random.default_rng(seed)
    base: list[NDArray[np.float64]] = []
    for restart in range(max_restarts):
        if time.perf_counter() > deadline:
            break
        if not base:  # seconds at 100 x 500,000: not before the clock allows
            base = [desirability_of(problem, m) for m in ("cost", "weight")]
        noise = 1.0 + rng.random((problem.n_items, problem.n_agents))
        state = construct(
            problem, desirability=base[restart % 2] * noise, deadline=deadline
        )
        repair(problem, state, stock, deadline=deadline)
        if not _incomplete(state):
            if improve_solution:
                improve(problem, state, deadline=deadline)
            return state
    return None


def greedy_assign(
    problem: AssignmentProblem,
    *,
    time_limit_s: float = 10.0,
    warm_start: NDArray[np.int64] | None = None,
    improve_solution: bool = True,
    seed: int = 0,
    max_restarts: int = 500,
) -> tuple[NDArray[np.int64], dict[int, str]]:
    """Best greedy assignment found; returns ``(assignment, reasons)``.

    ``reasons`` explains each unassigned item. Without a defer option an
    unassigned item means no complete feasible assignment was found; in that
    case randomized restarts (perturbed desirabilities, then repair) run until
    one is complete, ``max_restarts`` or the time limit.

    The clock is looked at between steps, so the search ends past
    ``time_limit_s`` by at most the step under way: one array step or block
    of :data:`~tierflow.solver.construction.CLOCK_BLOCK_ITEMS` items of a
    construction (a construction cut short leaves the rest unassigned,
    :data:`~tierflow.solver.construction.CUT_SHORT`), one repair of an
    item, one shift round, or one block of a swap round's table
    (:data:`~tierflow.solver.local_search.SWAP_BLOCK_PAIRS` pairs) and its
    selection. ``docs/solver.md`` has the figures.
    """
    deadline = time.perf_counter() + max(time_limit_s, 0.0)
    stock = ItemResources.of(problem)
    candidates = _starts(problem, warm_start, stock, deadline)
    if improve_solution:
        _polish(problem, candidates, stock, deadline)
    best = min(candidates, key=lambda s: _score(problem, s))
    if (
        not problem.can_defer
        and _incomplete(best)
        and not _placeable_nowhere(problem, best)
    ):
        restarted = _restart(
            problem,
            stock,
            seed=seed,
            max_restarts=max_restarts,
            deadline=deadline,
            improve_solution=improve_solution,
        )
        best = restarted or best
    if problem.can_defer:
        best = min(candidates, key=lambda s: problem.objective(s.assignment))
    reasons = {
        i: best.reasons.get(i, "no feasible node found")
        for i in np.flatnonzero(best.assignment < 0).tolist()
    }
    return best.assignment, reasons


def cheapest_feasible_node(
    cost: NDArray[np.float64],
    eligible: NDArray[np.bool_],
    weight: float | NDArray[np.float64],
    residual: NDArray[np.float64],
) -> int:
    """The online decision for one item: cheapest eligible node with room, or -1.

    ``weight`` is the item's capacity use per node, or one number when it is
    the same everywhere (the checkout's case: three array operations, a few µs).
    """
    masked = np.where(eligible & (residual >= weight - TOL), cost, INF)
    j = int(masked.argmin())
    return j if masked[j] < INF else -1


class GreedyEngine(BundledEngine):
    """``greedy``: regret construction + repair + shift/swap local search."""

    name = "greedy"
    capabilities = Capabilities(uses_warm_start=True, fallback=True, deterministic=True)

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        start = time.perf_counter()
        assignment, reasons = greedy_assign(
            problem,
            time_limit_s=params.clock_limit_s,
            warm_start=warm_start,
            seed=params.seed,
        )
        if not problem.can_defer and cut_short(reasons):
            # the limit came before any complete assignment was constructed:
            # no solution, as the exact engines report a limit before one
            placed = int((assignment >= 0).sum())
            return no_solution(
                self.name,
                problem.n_items,
                Status.NO_SOLUTION,
                time.perf_counter() - start,
                limit=Limit.TIME,
                message=f"time limit {params.time_limit_s:g} s reached while "
                f"constructing: {placed:,} of {problem.n_items:,} items placed",
            )
        return heuristic_result(
            self.name,
            problem,
            assignment,
            reasons,
            time.perf_counter() - start,
            # deterministic: no clock, so a long run was not cut short
            time_limit_s=params.clock_limit_s,
        )
