"""The greedy construction looks at the clock while it places items, and
large GAPs start from a measure whose capacity-free choice fits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.solver.unplaceable import REASONS, one_item_fits_nowhere
from tierflow.data.orlib_gap import generate_chu_beasley
from tierflow.formulations.gap import gap_instance
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import construction
from tierflow.solver.construction import CUT_SHORT, construct, cut_short, overfills
from tierflow.solver.greedy import greedy_assign
from tierflow.solver.result import Limit, Status
from tierflow.solver.solve import solve
from tierflow.solver.verify import verify


def _tight(n: int, m: int, seed: int) -> AssignmentProblem:
    rng = np.random.default_rng(seed)
    return AssignmentProblem(
        cost=rng.uniform(1.0, 50.0, (n, m)),
        weight=rng.integers(1, 6, (n, m)).astype(float),
        capacity=np.full(m, 3.0 * n / m),
        eligible=rng.random((n, m)) < 0.8,
    )


def test_a_construction_past_its_deadline_places_nothing_and_says_why() -> None:
    problem = _tight(50, 4, seed=1)
    state = construct(problem, "blend:1", deadline=time.perf_counter() - 1.0)
    assert (state.assignment == -1).all()
    assert state.reasons == dict.fromkeys(range(50), CUT_SHORT)
    assert cut_short(state.reasons)
    done = construct(problem, "blend:1")
    assert (done.assignment >= 0).sum() > 40 and not cut_short(done.reasons)


def test_a_construction_by_blocks_is_the_construction_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocks of 7 items and 3 pairs (between looks at the clock) place every
    item where one block of each does: results do not depend on the blocks."""
    problem = _tight(60, 5, seed=2)
    whole = {m: construct(problem, m).assignment for m in ("cost", "blend:0.5")}
    monkeypatch.setattr(construction, "CLOCK_BLOCK_ITEMS", 7)
    monkeypatch.setattr(construction, "CLOCK_BLOCK_PAIRS", 3)
    for measure, assignment in whole.items():
        blocks = construct(problem, measure, deadline=time.perf_counter() + 60.0)
        np.testing.assert_array_equal(blocks.assignment, assignment)


def test_greedy_cut_while_constructing_a_large_gap_keeps_to_its_limit() -> None:
    """100 x 100,000 (a construction of seconds): the time limit came before
    the first construction ended, which went on to its end (1.4 s at a 1 s
    limit, 5.7 s at 100 x 500,000). Now the search stops within a block of
    items: no solution, ``limit`` time, as the exact engines answer."""
    problem = gap_instance(generate_chu_beasley("C", 100, 100_000, seed=1)).problem
    limit = 0.2
    result = solve(problem, "greedy", time_limit_s=limit, fallback=False)
    assert (result.status, result.limit) == (Status.NO_SOLUTION, Limit.TIME)
    assert result.objective is None and (result.assignment == -1).all()
    assert "reached while constructing" in result.message
    assert limit <= result.runtime_s < limit + 0.6, result.runtime_s


@pytest.mark.parametrize("kind", ["C", "D", "E"])
def test_a_large_chu_beasley_gap_gets_a_complete_greedy_answer(kind: str) -> None:
    """By cost alone (the one measure tried beyond 20,000 items) each type
    asks more capacity than there is: 20-86 % of the items were left out,
    and the answer was the random restarts' (a perturbed cost or weight),
    if any: at 40 x 25,000 C 298,942 after 32 s, E 21,525,264 at the 60 s
    limit. The first measure that does not overfill the nodes is complete,
    and the local search on it beats every complete blended start (C
    268,754 in 6.3 s, E 2,907,464 in 0.9 s)."""
    problem = gap_instance(generate_chu_beasley(kind, 40, 25_000, seed=2)).problem
    assert overfills(problem, "cost")
    result = solve(problem, "greedy", time_limit_s=3.0, fallback=False)
    assert result.status is Status.FEASIBLE, result.message
    objective = verify(problem, result)
    starts = [construct(problem, f"blend:{mu}").assignment for mu in (0.25, 1, 4)]
    best = min(problem.objective(a) for a in starts if (a >= 0).all())
    assert objective <= best, (objective, best)


def _deferrable(n: int, m: int, seed: int) -> AssignmentProblem:
    """Ample room and a deferral dearer than every node: nothing should wait."""
    rng = np.random.default_rng(seed)
    return AssignmentProblem(
        cost=rng.uniform(5.0, 30.0, (n, m)),
        weight=np.ones((n, m)),
        capacity=np.full(m, 2.0 * n / m),
        defer_cost=np.full(n, 500.0),
    )


def test_a_greedy_that_may_defer_finishes_its_construction_past_the_limit() -> None:
    """Where deferring is allowed, an item a construction cut short left
    unplaced reads as deferred: the limit, not the costs, decided it. At
    ``--hindsight`` with the default 2 s, a 20,000-order day had every order
    wait (10.5 million against greedy's 382,000, each row saying the
    optimizer found waiting cheaper). The construction now runs to its end."""
    problem = _deferrable(300, 6, seed=3)
    assignment, reasons = greedy_assign(problem, time_limit_s=0.0)
    assert not cut_short(reasons)
    assert (assignment >= 0).all(), reasons


@pytest.mark.parametrize("engine", ["cpsat", "highs", "lp"])
def test_an_engine_answers_no_worse_than_its_warm_start_on_a_deferrable_problem(
    engine: str,
) -> None:
    """20,000 items x 50 nodes at 0.5 s: the warm start's construction had
    a tenth of it and was cut short, and the engine (or the greedy fallback
    it fell back to, at 0.05 s) returned it: cpsat 15,904 items deferred,
    highs all 20,000, lp 11,808, where greedy alone deferred none."""
    problem = _deferrable(20_000, 50, seed=0)
    result = solve(problem, engine, time_limit_s=0.5)
    objective = verify(problem, result)
    assert (result.assignment >= 0).all(), (result.status, result.message)
    greedy = construct(problem, "cost").assignment
    assert objective <= problem.objective(greedy) + 1e-6


@pytest.mark.parametrize("why", REASONS)
def test_no_restarts_for_an_item_that_fits_no_empty_node(why: str) -> None:
    """An item no node could take even empty can be placed by no restart:
    the 500 randomized restarts ran to the deadline for it (a 1 s limit
    took 1 s at 400 x 10, 5 s of 5 s at 2,000 x 20) and the answer read
    ``limit: time`` for a problem no time could solve."""
    problem = one_item_fits_nowhere(why, 400, 10)
    result = solve(problem, "greedy", time_limit_s=1.0)
    assert result.status is Status.NO_SOLUTION
    assert result.limit is Limit.OTHER, result.runtime_s
    assert result.runtime_s < 0.8
    assert list(result.unassigned_reason) == [5]
