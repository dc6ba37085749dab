"""The hindsight bound: the LP value of the whole day as one problem."""

from __future__ import annotations

import numpy as np

from tierflow.orchestration.allocation.batch_compiler import CompiledStages
from tierflow.solver.lp import lp_relaxation


def hindsight_bound(day: CompiledStages) -> float | None:
    """LP bound of the day compiled as one batch (``None``: LP not solved).

    Orders a node could fill whole this morning are items; the lines of the
    others are items too (extra-shipment cost); both share every node's
    capacity and stock. Items no node can take can only wait and add their
    deferral cost. Lines of SKUs out of stock everywhere are unfillable under
    every policy and add nothing.
    """
    compiled = day.whole_day()
    if compiled is None:
        return 0.0
    problem = compiled.problem
    ok = problem.eligible.any(axis=1)
    assert problem.defer_cost is not None
    total = float(problem.defer_cost[~ok].sum())  # they can only wait
    if ok.any():
        relax = lp_relaxation(problem.subset(np.flatnonzero(ok)))
        if relax.objective is None:
            return None
        total += relax.objective
    return total
