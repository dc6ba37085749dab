"""Independent re-check of a solution against every constraint of the problem.

This deliberately shares no code with the engines (as python-mip's
``check_optimization_results``): it recomputes loads and the objective from
the raw arrays, so an engine bug cannot hide behind its own bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from data.errors import VerificationError
from formulations.problem import AssignmentProblem
from solver.result import SolveResult

#: Absolute slack allowed on a capacity or stock row, relative to max(1, rhs).
FEASIBILITY_TOL = 1e-6
#: Relative tolerance between the reported and the recomputed objective.
OBJECTIVE_RTOL = 1e-6


@dataclass(frozen=True, slots=True)
class Violation:
    """One violated constraint: what, where, and by how much."""

    kind: str
    where: str
    amount: float

    def __str__(self) -> str:
        return f"{self.kind} {self.where} violated by {self.amount:.6g}"


def check_assignment(
    problem: AssignmentProblem, assignment: NDArray[np.integer[Any]]
) -> list[Violation]:
    """All violations of ``assignment`` (empty when it is feasible)."""
    a = np.asarray(assignment)
    out: list[Violation] = []
    if a.shape != (problem.n_items,):
        return [Violation("shape", f"assignment {a.shape}", float(problem.n_items))]
    out_of_range = (a < -1) | (a >= problem.n_agents)
    for i in np.flatnonzero(out_of_range)[:5]:
        out.append(Violation("agent index", f"item {i} -> {a[i]}", float(a[i])))
    if out:
        return out
    assigned = a >= 0
    if problem.defer_cost is None:
        for i in np.flatnonzero(~assigned)[:5]:
            out.append(Violation("assignment", f"item {i} unassigned", 1.0))
    rows = np.flatnonzero(assigned)
    cols = a[rows]
    bad = ~problem.eligible[rows, cols]
    for i in rows[bad][:5]:
        out.append(Violation("eligibility", f"item {i} -> agent {a[i]}", 1.0))
    load = np.zeros(problem.n_agents)
    np.add.at(load, cols, problem.weight[rows, cols])
    excess = load - problem.capacity
    tol = FEASIBILITY_TOL * np.maximum(1.0, problem.capacity)
    for j in np.flatnonzero(excess > tol):
        out.append(
            Violation(
                "capacity",
                f"agent {j} (load {load[j]:.6g} > {problem.capacity[j]:.6g})",
                float(excess[j]),
            )
        )
    if problem.use is not None and problem.stock is not None:
        used = np.zeros_like(problem.stock)
        np.add.at(used, cols, problem.use[rows])
        over = used - problem.stock
        tol2 = FEASIBILITY_TOL * np.maximum(1.0, problem.stock)
        for j, k in zip(*np.nonzero(over > tol2), strict=True):
            out.append(
                Violation(
                    "stock",
                    f"agent {j} resource {k} "
                    f"(used {used[j, k]:.6g} > {problem.stock[j, k]:.6g})",
                    float(over[j, k]),
                )
            )
    return out


def recompute_objective(
    problem: AssignmentProblem, assignment: NDArray[np.integer[Any]]
) -> float:
    """The objective of ``assignment``, summed from the raw arrays."""
    a = np.asarray(assignment)
    total = 0.0
    for i, j in enumerate(a.tolist()):
        if j >= 0:
            total += float(problem.cost[i, j])
        elif problem.defer_cost is not None:
            total += float(problem.defer_cost[i])
    return total


def verify(problem: AssignmentProblem, result: SolveResult) -> float:
    """Recheck ``result`` against ``problem``; return the recomputed objective.

    Raises
    ------
    VerificationError
        When a constraint is violated (the message names the node/resource and
        by how much) or the reported objective or bound disagrees with the
        recomputed one.
    """
    if not result.has_solution:
        raise VerificationError(
            f"{result.engine}: no solution to verify (status {result.status.name})"
        )
    violations = check_assignment(problem, result.assignment)
    if violations:
        shown = "; ".join(str(v) for v in violations[:5])
        more = f" (+{len(violations) - 5} more)" if len(violations) > 5 else ""
        raise VerificationError(f"{result.engine}: {shown}{more}")
    objective = recompute_objective(problem, result.assignment)
    reported = result.objective
    assert reported is not None  # has_solution guarantees it
    if abs(objective - reported) > OBJECTIVE_RTOL * max(1.0, abs(objective)):
        raise VerificationError(
            f"{result.engine}: reported objective {reported!r} but the assignment "
            f"costs {objective!r}"
        )
    if result.bound is not None and result.bound > objective + OBJECTIVE_RTOL * max(
        1.0, abs(objective)
    ):
        raise VerificationError(
            f"{result.engine}: bound {result.bound!r} exceeds the objective "
            f"{objective!r} of its own solution"
        )
    return objective
