"""The problem as a sparse linear program, built once from arrays.

Columns are the eligible pairs (then a defer column per item), rows the
assignment, capacity and stock rows that can bind; HiGHS, CBC and the CP-SAT
model all build from it. Layout and why: ``docs/solver.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True, slots=True)
class MatrixModel:
    """Arrays of the LP/MIP: ``min c x  s.t.  row_lower <= A x <= row_upper``."""

    c: NDArray[np.float64]
    col_upper: NDArray[np.float64]
    matrix: sp.csr_matrix
    row_lower: NDArray[np.float64]
    row_upper: NDArray[np.float64]
    pair_item: NDArray[np.int64]
    pair_agent: NDArray[np.int64]
    defer_item: NDArray[np.int64]
    capacity_agent: NDArray[np.int64]
    stock_agent: NDArray[np.int64]
    stock_resource: NDArray[np.int64]
    #: What each row was divided by (:func:`_row_scale`; 1 for most):
    #: a row's dual in the problem's units is its dual here over this.
    row_scale: NDArray[np.float64]

    @property
    def n_cols(self) -> int:
        return int(self.c.shape[0])

    @property
    def n_pairs(self) -> int:
        return int(self.pair_item.shape[0])

    def assignment_from(
        self, x: NDArray[np.float64], n_items: int
    ) -> NDArray[np.int64]:
        """Integer assignment from a 0/1 column vector (largest x per item)."""
        out = np.full(n_items, -1, dtype=np.int64)
        on = x[: self.n_pairs] > 0.5
        out[self.pair_item[on]] = self.pair_agent[on]
        return out

    def columns_from(self, assignment: NDArray[np.int64]) -> NDArray[np.float64]:
        """0/1 column vector of an integer assignment (for warm starts)."""
        x = np.zeros(self.n_cols)
        pair_on = assignment[self.pair_item] == self.pair_agent
        x[: self.n_pairs] = pair_on
        if self.defer_item.size:
            x[self.n_pairs :] = assignment[self.defer_item] < 0
        return x


@dataclass(slots=True)
class _Rows:
    """Row blocks of the sparse matrix as coordinate lists, appended in order."""

    rows: list[NDArray[np.int64]] = field(default_factory=list)
    cols: list[NDArray[np.int64]] = field(default_factory=list)
    vals: list[NDArray[np.float64]] = field(default_factory=list)
    lower: list[NDArray[np.float64]] = field(default_factory=list)
    upper: list[NDArray[np.float64]] = field(default_factory=list)
    scale: list[NDArray[np.float64]] = field(default_factory=list)
    n_rows: int = 0

    def add(
        self,
        entries: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
        scale: NDArray[np.float64] | None = None,
    ) -> None:
        """Append a block: ``(row, col, value)`` entries, its row bounds and
        what its rows were divided by (default 1)."""
        row, col, val = entries
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(val)
        self.lower.append(lower)
        self.upper.append(upper)
        self.scale.append(np.ones(lower.size) if scale is None else scale)
        self.n_rows += lower.size

    def matrix(self, n_cols: int) -> sp.csr_matrix:
        """The rows as one CSR matrix of ``n_cols`` columns. SciPy is imported
        here, not with the module: its import (through ``scipy._lib``'s array
        API layer) was most of what the checkout's bid-price LP, which the
        server imports but runs only when it prices, cost each server start."""
        import scipy.sparse as sp

        return sp.csr_matrix(
            (
                np.concatenate(self.vals),
                (np.concatenate(self.rows), np.concatenate(self.cols)),
            ),
            shape=(self.n_rows, n_cols),
        )


#: A row with a coefficient above this is divided by its largest one.
LARGE_COEFFICIENT = 1e6


def _row_scale(
    rows: NDArray[np.int64], values: NDArray[np.float64], upper: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per row of a block (``rows`` numbered from 0), what to divide it by:
    its largest value (right-hand side included) where that is below 1; its
    largest coefficient where that is above :data:`LARGE_COEFFICIENT`; else
    1. HiGHS's and CBC's feasibility tolerances are absolute (1e-6), so a
    capacity of 2e-7 against items of 3e-7 and 2e-7 was called infeasible
    (its LP) or overfilled, and CBC called a GAP with weights in billions
    infeasible; rows in the units of GAP files and allocation batches are
    left as they are."""
    coefficient = np.zeros(upper.size)
    np.maximum.at(coefficient, rows, values)
    largest = np.maximum(coefficient, upper)
    small = (largest > 0) & (largest < 1.0)
    large = coefficient > LARGE_COEFFICIENT
    return np.where(small, largest, np.where(large, coefficient, 1.0))


def _capacity_rows(
    problem: AssignmentProblem,
    out: _Rows,
    pair_agent: NDArray[np.int64],
    pair_w: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Capacity rows where the eligible load could exceed capacity; their agents."""
    potential = np.bincount(pair_agent, weights=pair_w, minlength=problem.n_agents)
    capacity_agent = np.flatnonzero(potential > problem.capacity + 1e-9)
    row_of_agent = np.full(problem.n_agents, -1, dtype=np.int64)
    row_of_agent[capacity_agent] = out.n_rows + np.arange(capacity_agent.size)
    keep = row_of_agent[pair_agent] >= 0
    rows, values = row_of_agent[pair_agent[keep]], pair_w[keep]
    upper = problem.capacity[capacity_agent]
    scale = _row_scale(rows - out.n_rows, values, upper)
    out.add(
        (rows, np.flatnonzero(keep), values / scale[rows - out.n_rows]),
        np.full(capacity_agent.size, -np.inf),
        upper / scale,
        scale,
    )
    return capacity_agent


def _stock_rows(
    problem: AssignmentProblem,
    out: _Rows,
    pair_item: NDArray[np.int64],
    pair_agent: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Stock rows per (agent, resource) that could be overdrawn; their keys."""
    if problem.use is None or problem.stock is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_res = problem.n_resources
    # what every item eligible at an agent would take of each resource: a
    # row is needed only where that can exceed the stock (the bid-price
    # LP's sample holds hundreds of SKUs: the pairs' uses gathered whole,
    # (n_pairs, K), took seconds)
    demand = problem.eligible.T.astype(np.float64) @ problem.use
    binding = demand > problem.stock + 1e-9
    # each item's nonzero use of a resource binding somewhere, at each agent
    # where it binds and the item is eligible: the rows' entries, in the
    # order of the pairs (the LP's columns), then of the resources
    ui, kk = np.nonzero(problem.use * binding.any(axis=0))
    at = problem.eligible[ui] & binding[:, kk].T  # (nonzeros, n_agents)
    nz, jj = np.nonzero(at)
    pair_of = np.full(problem.eligible.shape, -1, dtype=np.int64)
    pair_of[pair_item, pair_agent] = np.arange(pair_item.size)
    pi = pair_of[ui[nz], jj]
    kk = kk[nz]
    order = np.lexsort((kk, pi))
    pi, jj, kk = pi[order], jj[order], kk[order]
    uval = problem.use[pair_item[pi], kk]
    stock_agent, stock_resource = (v.astype(np.int64) for v in np.nonzero(binding))
    row_id = np.full((problem.n_agents, n_res), -1, dtype=np.int64)
    row_id[stock_agent, stock_resource] = out.n_rows + np.arange(stock_agent.size)
    r = row_id[jj, kk]
    upper = problem.stock[stock_agent, stock_resource]
    scale = _row_scale(r - out.n_rows, uval, upper)
    out.add(
        (r, pi, uval / scale[r - out.n_rows]),
        np.full(stock_agent.size, -np.inf),
        upper / scale,
        scale,
    )
    return stock_agent, stock_resource


def build_matrix(problem: AssignmentProblem) -> MatrixModel:
    """Compile ``problem`` into a :class:`MatrixModel` (vectorized, no Python loops)."""
    n = problem.n_items
    pair_item, pair_agent = (v.astype(np.int64) for v in np.nonzero(problem.eligible))
    n_pairs = pair_item.size
    defer_item = (
        np.arange(n, dtype=np.int64)
        if problem.defer_cost is not None
        else np.zeros(0, dtype=np.int64)
    )
    n_cols = n_pairs + defer_item.size
    c = np.concatenate(
        [
            problem.cost[pair_item, pair_agent],
            problem.defer_cost if problem.defer_cost is not None else np.zeros(0),
        ]
    )
    out = _Rows()
    # Assignment rows: one per item, over its pairs and its defer column.
    out.add(
        (
            np.concatenate([pair_item, defer_item]),
            np.arange(n_cols),
            np.ones(n_cols),
        ),
        np.ones(n),
        np.ones(n),
    )
    pair_w = problem.weight[pair_item, pair_agent]
    capacity_agent = _capacity_rows(problem, out, pair_agent, pair_w)
    stock_agent, stock_resource = _stock_rows(problem, out, pair_item, pair_agent)
    return MatrixModel(
        c=c,
        col_upper=np.ones(n_cols),
        matrix=out.matrix(n_cols),
        row_lower=np.concatenate(out.lower),
        row_upper=np.concatenate(out.upper),
        pair_item=pair_item,
        pair_agent=pair_agent,
        defer_item=defer_item,
        capacity_agent=capacity_agent,
        stock_agent=stock_agent,
        stock_resource=stock_resource,
        row_scale=np.concatenate(out.scale),
    )
