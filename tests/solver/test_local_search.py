"""The local search's swap round looks at the clock while it scores, and
scoring block by block gives the table scored whole."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import local_search
from tierflow.solver.construction import construct
from tierflow.solver.local_search import swap_round
from tierflow.solver.partial_assignment import ItemResources, PartialAssignment


def test_a_swap_round_past_its_deadline_moves_nothing() -> None:
    """Each item sits on the other's cheap node and neither node has room
    for a second: only a swap improves. Past the deadline the round stops
    before its table (a whole round's O(n²) table once ran ~0.1 s past it
    at 1,900 items); with time left, the same round swaps."""
    problem = AssignmentProblem(
        cost=[[10.0, 1.0], [1.0, 10.0]], weight=np.ones((2, 2)), capacity=[1.0, 1.0]
    )
    state = PartialAssignment.of(problem, np.array([0, 1]))
    stock = ItemResources.of(problem)
    assert swap_round(problem, state, stock, deadline=time.perf_counter() - 1.0) == 0
    assert state.assignment.tolist() == [0, 1]
    assert swap_round(problem, state, stock) == 1
    assert state.assignment.tolist() == [1, 0]


def test_the_swap_table_by_blocks_is_the_table_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocks of a few rows (the last one short) give the same gains, to the
    bit, as one block of every row: results do not depend on the block size."""
    rng = np.random.default_rng(11)
    n, m = 60, 5
    problem = AssignmentProblem(
        cost=rng.uniform(1.0, 50.0, (n, m)),
        weight=rng.integers(1, 6, (n, m)).astype(float),
        capacity=np.full(m, 3.0 * n / m),
        eligible=rng.random((n, m)) < 0.8,
        defer_cost=np.full(n, 60.0),
    )
    state = construct(problem)
    idx = np.flatnonzero(state.assignment >= 0)
    assert idx.size > 40 and idx.size % 7  # the last block is short
    whole = local_search._swap_deltas(problem, state, idx)
    monkeypatch.setattr(local_search, "SWAP_BLOCK_PAIRS", 7 * idx.size)
    blocks = local_search._swap_deltas(problem, state, idx)
    assert whole is not None and blocks is not None
    np.testing.assert_array_equal(blocks[0], whole[0])
    np.testing.assert_array_equal(blocks[1], whole[1])
    assert np.isfinite(whole[0]).any()
