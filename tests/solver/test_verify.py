"""verify() names the violated constraint and by how much."""

from __future__ import annotations

import numpy as np
import pytest

from tests.instances import defer_and_stock, fractional_lp
from tierflow.data.errors import VerificationError
from tierflow.solver import verify
from tierflow.solver.result import SolveResult, Status


def _result(
    assignment: list[int], objective: float, bound: float | None = None
) -> SolveResult:
    return SolveResult(
        engine="test",
        status=Status.FEASIBLE,
        objective=objective,
        bound=bound,
        runtime_s=0.0,
        assignment=np.array(assignment),
    )


def test_accepts_the_known_optimum() -> None:
    known = fractional_lp()
    assert verify(known.problem, _result([0, 1, 1], 7.0)) == 7.0


@pytest.mark.parametrize(
    ("assignment", "objective", "bound", "message"),
    [
        ([0, 0, 1], 4.0, None, r"test: capacity agent 0 \(load 4 > 3\) violated by 1"),
        ([0, 1, -1], 6.0, None, r"test: assignment item 2 unassigned violated by 1"),
        ([0, 1, 2], 0.0, None, r"test: agent index item 2 -> 2 violated by 2"),
        (
            [0, 1, 1],
            6.5,
            None,
            r"test: reported objective 6.5 but the assignment costs 7.0",
        ),
        ([0, 1, 1], 7.0, 7.5, r"test: bound 7.5 exceeds the objective 7.0"),
        # NaN compares false with everything: both claims passed the checks
        (
            [0, 1, 1],
            float("nan"),
            None,
            r"test: reported objective nan but the assignment costs 7.0",
        ),
        ([0, 1, 1], 7.0, float("nan"), r"test: bound nan is not a number"),
    ],
)
def test_violations_are_named(
    assignment: list[int], objective: float, bound: float | None, message: str
) -> None:
    with pytest.raises(VerificationError, match=message):
        verify(fractional_lp().problem, _result(assignment, objective, bound))


def test_stock_violation_names_node_and_resource() -> None:
    problem = defer_and_stock().problem
    with pytest.raises(
        VerificationError,
        match=r"stock agent 0 resource 0 \(used 2 > 1\) violated by 1",
    ):
        verify(problem, _result([0, 0, 1], 5.0))


def test_eligibility_violation() -> None:
    from tierflow.formulations.problem import AssignmentProblem

    problem = AssignmentProblem(
        cost=[[1.0, np.inf]], weight=[[1.0, 1.0]], capacity=[1.0, 1.0]
    )
    with pytest.raises(VerificationError, match=r"eligibility item 0 -> agent 1"):
        verify(problem, _result([1], 0.0))


def test_no_solution_cannot_be_verified() -> None:
    result = SolveResult(
        engine="x",
        status=Status.NO_SOLUTION,
        objective=None,
        bound=None,
        runtime_s=0.0,
        assignment=np.array([-1]),
    )
    with pytest.raises(VerificationError, match="no solution to verify"):
        verify(fractional_lp().problem, result)


def test_rows_in_small_units_are_held_to_their_own_scale() -> None:
    """A capacity of 1e-7 taking three items of 1e-7 (HiGHS's "optimal"
    answer of 3.0 where the optimum is 201) passed: the slack was 1e-6
    whatever the row's units. Rows whose capacity (stock) and weights (uses)
    are all below 1 are held to 1e-6 of their own scale."""
    from tierflow.formulations.problem import AssignmentProblem

    small = AssignmentProblem(
        cost=[[1.0, 100.0]] * 3,
        weight=[[1e-7, 1.0]] * 3,
        capacity=[1e-7, 10.0],
    )
    with pytest.raises(
        VerificationError,
        match=r"^test: capacity agent 0 \(load 3e-07 > 1e-07\) violated by 2e-07$",
    ):
        verify(small, _result([0, 0, 0], 3.0))
    assert verify(small, _result([0, 1, 1], 201.0)) == 201.0
    stock = AssignmentProblem(
        cost=[[1.0, 100.0]] * 2,
        weight=[[1.0, 1.0]] * 2,
        capacity=[10.0, 10.0],
        use=[[0.5e-6], [0.5e-6]],
        stock=[[0.5e-6], [1.0]],
    )
    with pytest.raises(
        VerificationError,
        match=r"^test: stock agent 0 resource 0 \(used 1e-06 > 5e-07\) violated by 5e-07$",
    ):
        verify(stock, _result([0, 0], 2.0))
    # the slack of a row in whole units is as before: 1e-6 of max(1, capacity)
    whole = AssignmentProblem(cost=[[1.0]], weight=[[1.0 + 5e-7]], capacity=[1.0])
    assert verify(whole, _result([0], 1.0)) == 1.0


def test_rows_in_whole_units_are_held_to_the_unit() -> None:
    """A capacity of 1e9 with a load of 1e9 + 1 passed: the slack was 1e-6
    of the capacity, a thousand units (HiGHS and CBC called that solution of
    an OR-Library GAP "optimal" at a profit of 15 where 7 is). A row whose
    capacity (stock) and weights (uses) are whole numbers sums exactly: any
    excess is an overload."""
    from tierflow.formulations.problem import AssignmentProblem

    billion = AssignmentProblem(
        cost=[[-5.0, -1.0], [-1.0, -5.0], [-5.0, -1.0]],
        weight=[[1.0, 1e9], [1.0, 1.0], [1e9, 1.0]],
        capacity=[1e9, 1.0],
    )
    with pytest.raises(
        VerificationError,
        match=r"^test: capacity agent 0 \(load 1e\+09 > 1e\+09\) violated by 1$",
    ):
        verify(billion, _result([0, 1, 0], -15.0))
    assert verify(billion, _result([0, 0, 1], -7.0)) == -7.0
    full = billion.replace(capacity=[1e9 + 1, 1.0])  # exactly full: no excess
    assert verify(full, _result([0, 1, 0], -15.0)) == -15.0
    stock = AssignmentProblem(
        cost=[[1.0, 100.0]] * 2,
        weight=[[1.0, 1.0]] * 2,
        capacity=[10.0, 10.0],
        use=[[1e9], [1.0]],
        stock=[[1e9], [1e9]],
    )
    with pytest.raises(
        VerificationError,
        match=r"^test: stock agent 0 resource 0 \(used 1e\+09 > 1e\+09\) violated by 1$",
    ):
        verify(stock, _result([0, 0], 2.0))
