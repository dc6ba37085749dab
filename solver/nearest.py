"""``nearest``: the nearest-node-with-stock baseline, first come first served.

What order-management systems do by default: items in index (arrival)
order, each to the feasible node it prefers most, with no look-ahead and no
regret. "Prefers" is ``problem.preference`` (the allocator fills in the
distance to the order's destination), else ``cost``.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import BundledEngine, Capabilities, Hint
from tierflow.solver.params import SolveParams
from tierflow.solver.partial_assignment import INF, ItemResources, PartialAssignment
from tierflow.solver.result import SolveResult, heuristic_result


def first_come_assign(
    problem: AssignmentProblem, key: NDArray[np.float64]
) -> tuple[NDArray[np.int64], dict[int, str]]:
    """Items in index order, each to the feasible node with the lowest ``key``.

    An item with no feasible node stays unassigned, with the reason.
    """
    stock = ItemResources.of(problem)
    state = PartialAssignment.empty(problem)
    for i in range(problem.n_items):
        ok = state.options(problem, stock, i)
        if not ok.any():
            state.reasons[i] = state.no_option_reason(problem, stock, i)
            continue
        state.place(problem, i, int(np.argmin(np.where(ok, key[i], INF))))
    reasons = {
        int(i): state.reasons.get(int(i), "no feasible node")
        for i in np.flatnonzero(state.assignment < 0)
    }
    return state.assignment, reasons


class NearestEngine(BundledEngine):
    """First come, first served to the most preferred feasible node."""

    name = "nearest"
    capabilities = Capabilities(baseline=True, uses_preference=True, deterministic=True)

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        """Ignores ``params`` and ``warm_start``: the policy has no search."""
        start = time.perf_counter()
        key = problem.cost if problem.preference is None else problem.preference
        assignment, reasons = first_come_assign(problem, key)
        return heuristic_result(
            self.name, problem, assignment, reasons, time.perf_counter() - start
        )
