"""Independent re-check of a solution against every constraint of the problem.

This deliberately shares no code with the engines (as python-mip's
``check_optimization_results``): it recomputes loads and the objective from
the raw arrays, so an engine bug cannot hide behind its own bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import VerificationError
from tierflow.data.limits import MAX_EXACT_INT
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.result import Limit, SolveResult, Status, no_solution

#: Slack allowed on a capacity or stock row, relative to its scale
#: (:func:`_row_scale`: max(1, rhs)); none on a row of integers (:func:`_row_slack`).
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


def _row_scale(
    rhs: NDArray[np.float64], coefficients: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each row's scale, ``max(rhs, min(1, largest coefficient))``: max(1,
    rhs) unless the row's right-hand side and every coefficient are below 1,
    then its own units (a slack of 1e-6 let a capacity of 1e-7 take three
    items of 1e-7). ``coefficients`` has one row per row of ``rhs`` (its last
    axis the items)."""
    largest = coefficients.max(axis=-1, initial=0.0)
    scale: NDArray[np.float64] = np.maximum(rhs, np.minimum(1.0, largest))
    return scale


def _row_slack(
    rhs: NDArray[np.float64], coefficients: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each row's slack: :data:`FEASIBILITY_TOL` of its :func:`_row_scale`,
    none where the row is in whole units (``rhs`` and every coefficient
    integers, their sum exact in float64). A load of integers sums exactly,
    so any excess is an overload: 1e-6 of a capacity of 1e9 let jobs of 1
    and 1e9 share it (HiGHS and CBC, whose tolerances meet that row scaled
    by 1e9, called an OR-Library GAP "optimal" at 15 where 7 is)."""
    whole = (coefficients == np.round(coefficients)).all(axis=-1)
    exact = whole & (rhs == np.round(rhs))
    exact &= coefficients.sum(axis=-1) + rhs <= MAX_EXACT_INT
    slack: NDArray[np.float64] = np.where(
        exact, 0.0, FEASIBILITY_TOL * _row_scale(rhs, coefficients)
    )
    return slack


def refuse_broken(
    engine: str,
    problem: AssignmentProblem,
    assignment: NDArray[np.integer[Any]],
    runtime_s: float,
    *,
    bound: float | None,
    message: str,
) -> SolveResult | None:
    """A result without a solution when a MIP solver's ``assignment`` breaks
    a row of ``problem``, else None. HiGHS's and CBC's feasibility
    tolerances are absolute (1e-6): a row in small units (a capacity of
    1e-7, items of 1e-8 in a capacity of 0) may be overfilled within them
    and the solution called optimal; the bound stands, the solution is not
    taken (``solve()`` falls back)."""
    broken = check_assignment(problem, assignment)
    if not broken:
        return None
    return no_solution(
        engine,
        problem.n_items,
        Status.NO_SOLUTION,
        runtime_s,
        bound=bound,
        limit=Limit.OTHER,
        message=f"{message}; its solution breaks {broken[0]}: not taken",
    )


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
    out += _capacity_violations(problem, rows, cols)
    if problem.use is not None and problem.stock is not None:
        out += _stock_violations(problem.use, problem.stock, rows, cols)
    return out


def _capacity_violations(
    problem: AssignmentProblem, rows: NDArray[np.intp], cols: NDArray[Any]
) -> list[Violation]:
    """Agents loaded past their capacity by more than their slack."""
    load = np.zeros(problem.n_agents)
    np.add.at(load, cols, problem.weight[rows, cols])
    excess = load - problem.capacity
    over = np.flatnonzero(excess > 0)  # only a row over its bound needs its slack
    if over.size:
        weights = np.where(problem.eligible[:, over], problem.weight[:, over], 0.0).T
        over = over[excess[over] > _row_slack(problem.capacity[over], weights)]
    return [
        Violation(
            "capacity",
            f"agent {j} (load {load[j]:.6g} > {problem.capacity[j]:.6g})",
            float(excess[j]),
        )
        for j in over
    ]


def _stock_violations(
    use: NDArray[np.float64],
    stock: NDArray[np.float64],
    rows: NDArray[np.intp],
    cols: NDArray[Any],
) -> list[Violation]:
    """(agent, resource) stocks overdrawn by more than their slack."""
    used = np.zeros_like(stock)
    np.add.at(used, cols, use[rows])
    overdrawn = used - stock
    at, resource = np.nonzero(overdrawn > 0)
    if at.size:
        slack = _row_slack(stock[at, resource], use[:, resource].T)
        keep = overdrawn[at, resource] > slack
        at, resource = at[keep], resource[keep]
    return [
        Violation(
            "stock",
            f"agent {j} resource {k} (used {used[j, k]:.6g} > {stock[j, k]:.6g})",
            float(overdrawn[j, k]),
        )
        for j, k in zip(at, resource, strict=True)
    ]


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
    # "not <=": a NaN claim fails it (every comparison with NaN is false)
    if not abs(objective - reported) <= OBJECTIVE_RTOL * max(1.0, abs(objective)):
        raise VerificationError(
            f"{result.engine}: reported objective {reported!r} but the assignment "
            f"costs {objective!r}"
        )
    if result.bound is not None and math.isnan(result.bound):
        raise VerificationError(f"{result.engine}: bound nan is not a number")
    if result.bound is not None and result.bound > objective + OBJECTIVE_RTOL * max(
        1.0, abs(objective)
    ):
        raise VerificationError(
            f"{result.engine}: bound {result.bound!r} exceeds the objective "
            f"{objective!r} of its own solution"
        )
    return objective


def _line_coverage(rows: pd.DataFrame, order_lines: pd.DataFrame) -> list[str]:
    """Every order line once, with a valid status and its ordered quantity."""
    out: list[str] = []
    valid = {"allocated", "deferred", "unfillable"}
    bad_status = sorted(set(rows["status"]) - valid)
    if bad_status:
        out.append(f"unknown statuses {bad_status}")
    key = ["order_id", "sku"]
    counts = rows.groupby(key).size()
    dup = counts[counts > 1]
    if len(dup):
        out.append(f"{len(dup)} order lines appear more than once, e.g. {dup.index[0]}")
    want = order_lines.set_index(key)["quantity"]
    missing = want.index.difference(counts.index)
    if len(missing):
        out.append(f"{len(missing)} order lines missing, e.g. {missing[0]}")
    extra = counts.index.difference(want.index)
    if len(extra):
        out.append(f"{len(extra)} rows for unknown order lines, e.g. {extra[0]}")
    got = rows.groupby(key)["quantity"].first()
    common = want.index.intersection(got.index)
    wrong = want.loc[common].to_numpy() != got.loc[common].to_numpy()
    if wrong.any():
        out.append(f"{int(wrong.sum())} rows change the ordered quantity")
    return out


def _node_limits(
    n_idx: NDArray[np.intp],
    k_idx: NDArray[np.intp],
    qty: NDArray[np.float64],
    *,
    node_ids: Sequence[str],
    sku_ids: Sequence[str],
    capacity: NDArray[np.float64],
    inventory: NDArray[np.int64],
    sku_complexity: NDArray[np.float64],
) -> list[str]:
    """Allocated units within each node's inventory and capacity."""
    out: list[str] = []
    used = np.zeros_like(inventory, dtype=np.float64)
    np.add.at(used, (n_idx, k_idx), qty)
    over = used - inventory
    for j, k in zip(*map(lambda a: a.tolist(), np.nonzero(over > 1e-9)), strict=True):
        out.append(
            f"inventory: node {node_ids[j]} SKU {sku_ids[k]} allocated "
            f"{used[j, k]:g} > on hand {inventory[j, k]:g}"
        )
    load = np.bincount(
        n_idx, weights=qty * sku_complexity[k_idx], minlength=len(node_ids)
    )
    for j in map(int, np.flatnonzero(load > capacity * (1 + 1e-9) + 1e-9)):
        out.append(
            f"capacity: node {node_ids[j]} load {load[j]:.3f} > {capacity[j]:.3f}"
        )
    return out


def check_allocation_rows(
    rows: pd.DataFrame,
    *,
    node_ids: Sequence[str],
    sku_ids: Sequence[str],
    capacity: NDArray[np.float64],
    inventory: NDArray[np.int64],
    sku_complexity: NDArray[np.float64],
    order_lines: pd.DataFrame,
) -> list[str]:
    """Re-check an ``allocations.csv`` against the network, from the file alone.

    Every order line of ``order_lines`` (``order_id, sku, quantity``) must
    appear exactly once with a valid status; allocated units per (node, SKU)
    may not exceed the inventory and complexity-weighted units per node may
    not exceed ``capacity``. Returns the violations (empty when sound).
    """
    out = _line_coverage(rows, order_lines)
    alloc = rows[rows["status"] == "allocated"]
    nodes = alloc["node_id"].map({n: i for i, n in enumerate(node_ids)})
    skus = alloc["sku"].map({s: i for i, s in enumerate(sku_ids)})
    if nodes.isna().any() or skus.isna().any():
        out.append("allocated rows with unknown node or SKU")
        return out
    return out + _node_limits(
        nodes.to_numpy(dtype=np.intp),
        skus.to_numpy(dtype=np.intp),
        alloc["quantity"].to_numpy(dtype=np.float64),
        node_ids=node_ids,
        sku_ids=sku_ids,
        capacity=capacity,
        inventory=inventory,
        sku_complexity=sku_complexity,
    )
