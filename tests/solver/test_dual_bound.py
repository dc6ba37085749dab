"""The bound of an LP from any row duals (weak duality): equal to the optimum
at optimal duals, below it at any others; a time-limited relaxation now
proves a bound from where its dual simplex stopped instead of none."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierflow.data.network import Network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.formulations.hindsight_relaxation import DayInputs, hindsight_relaxation
from tierflow.formulations.linear_program import LinearProgram
from tierflow.formulations.tiers import TierPolicy
from tierflow.solver.highs_model import highs_lp, new_highs, run_highs
from tierflow.solver.linear_program import (
    dual_bound,
    lower_bound,
    solve_linear_program,
)
from tierflow.solver.result import Status


def _optimum(lp: LinearProgram) -> tuple[float, np.ndarray]:
    """HiGHS's optimum of ``lp`` and its row duals (dual simplex, no presolve)."""
    h = new_highs()
    h.setOptionValue("presolve", "off")
    h.passModel(highs_lp(lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper))
    run_highs(h)
    assert h.getModelStatus().name == "kOptimal"
    return h.getInfo().objective_function_value, np.array(h.getSolution().row_dual)


def _known() -> LinearProgram:
    """min x1 + 2 x2 s.t. x1 + x2 >= 3, x1 <= 1: x = (1, 2), value 5."""
    return LinearProgram(
        c=np.array([1.0, 2.0]),
        matrix=sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0]])),
        row_lower=np.array([3.0, -np.inf]),
        row_upper=np.array([np.inf, 1.0]),
        col_upper=np.full(2, np.inf),
    )


def test_highs_row_duals_have_the_sign_the_bound_expects() -> None:
    """HiGHS's duals of the known LP are (2, -1): 2 on the >= row at its
    lower bound, -1 on the <= row at its upper; the bound is 2·3 - 1·1."""
    value, y = _optimum(_known())
    assert value == 5.0
    assert y.tolist() == [2.0, -1.0]
    assert dual_bound(_known(), y) == 5.0
    # read with the other sign both multipliers sit on open sides: dropped,
    # which leaves the zero duals' bound, 0
    assert dual_bound(_known(), -y) == 0.0


def test_zero_duals_give_the_least_cost_over_the_column_bounds() -> None:
    lp = LinearProgram(
        c=np.array([3.0, -2.0, -1.5]),
        matrix=sp.csr_matrix(np.array([[1.0, 1.0, 0.0]])),
        row_lower=np.array([-np.inf]),
        row_upper=np.array([4.0]),
        col_upper=np.array([np.inf, 5.0, 2.0]),
    )
    # x2 <= 5 is its own bound (the row would imply 4), x3 <= 2
    assert dual_bound(lp, np.zeros(1)) == -2.0 * 5.0 - 1.5 * 2.0


def test_an_open_column_of_negative_reduced_cost_proves_nothing() -> None:
    """x1 has no upper bound of its own: at zero duals its reduced cost -2
    is unbounded below, so no bound (the rows are not searched for one)."""
    lp = LinearProgram(
        c=np.array([-2.0, 1.0]),
        matrix=sp.csr_matrix(np.array([[1.0, 1.0]])),
        row_lower=np.array([0.0]),
        row_upper=np.array([4.0]),
        col_upper=np.full(2, np.inf),
    )
    assert dual_bound(lp, np.zeros(1)) == -np.inf
    # the dual of the row at its upper side prices x1 at 0: -2·4
    assert dual_bound(lp, np.array([-2.0])) == -8.0


@st.composite
def bounded_lps(draw: st.DrawFn) -> LinearProgram:
    """A feasible LP with a finite optimum: rows hold around a point ``x0``
    inside the column bounds, and a cap row of nonnegative entries over every
    column, whose bound each column also gets as its own where it had none
    (the hindsight relaxation's builders do the same)."""
    seed = draw(st.integers(0, 2**32 - 1))
    m, n = draw(st.integers(1, 8)), draw(st.integers(1, 10))
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.6)
    upper = np.where(rng.random(n) < 0.5, rng.uniform(0.5, 5, n), np.inf)
    x0 = rng.uniform(0, np.where(np.isinf(upper), 3.0, upper))
    act = a @ x0
    kind = rng.integers(0, 4, m)  # =, >=, <=, ranged
    lower = np.where(kind == 2, -np.inf, act - np.where(kind == 0, 0, rng.random(m)))
    upper_row = np.where(kind == 1, np.inf, act + np.where(kind == 0, 0, rng.random(m)))
    c = rng.normal(size=n)
    # a cap row of nonnegative entries over every column: bounded below
    a = np.vstack([a, np.ones(n)])
    lower = np.append(lower, -np.inf)
    upper_row = np.append(upper_row, x0.sum() + 1.0)
    upper = np.where(np.isinf(upper), x0.sum() + 1.0, upper)
    return LinearProgram(
        c=c,
        matrix=sp.csr_matrix(a),
        row_lower=lower,
        row_upper=upper_row,
        col_upper=upper,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bounded_lps())
def test_optimal_duals_prove_the_optimum(lp: LinearProgram) -> None:
    value, y = _optimum(lp)
    assert dual_bound(lp, y) == pytest.approx(value, rel=1e-7, abs=1e-7)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bounded_lps(), st.integers(0, 2**32 - 1), st.floats(0.01, 100.0))
def test_any_duals_prove_a_bound_below_the_optimum(
    lp: LinearProgram, seed: int, scale: float
) -> None:
    value, optimal = _optimum(lp)
    rng = np.random.default_rng(seed)
    for y in (
        rng.normal(scale=scale, size=lp.n_rows),
        optimal + rng.normal(scale=scale * 1e-3, size=lp.n_rows),
        np.zeros(lp.n_rows),
    ):
        assert dual_bound(lp, y) <= value + 1e-9 * max(1.0, abs(value))


@pytest.fixture(scope="module")
def generated_day(
    sample_network: Network, tmp_path_factory: pytest.TempPathFactory
) -> LinearProgram:
    """The hindsight relaxation of a generated 1,000-order day on the sample
    network (15,121 rows, 100,452 columns; dual simplex 2,420 iterations)."""
    frame = generate_orders(sample_network, n_orders=1000, days=1, seed=0)
    path = write_orders(frame, tmp_path_factory.mktemp("day") / "orders.csv")
    orders = read_orders(path, sample_network)
    return hindsight_relaxation(
        DayInputs(
            sample_network,
            orders,
            TierPolicy(),
            np.zeros(orders.n_orders),
            sample_network.capacity,
            sample_network.inventory.astype(np.int64),
        )
    )


def test_a_relaxation_cut_short_still_proves_a_bound(
    generated_day: LinearProgram,
) -> None:
    """The dual simplex stopped at its limit (1 ms) is not solved, yet the
    duals of its last iterate prove a bound, below the optimum: it used to
    be ``None``, and ``make demo`` under load showed no bound at all."""
    lp = generated_day
    optimum = solve_linear_program(lp, presolve=False).objective
    assert optimum is not None
    stopped = solve_linear_program(lp, time_limit_s=1e-3, presolve=False)
    assert stopped.status is Status.NO_SOLUTION
    assert stopped.row_dual is not None
    bound = lower_bound(lp, time_limit_s=1e-3)
    assert bound is not None and np.isfinite(bound)
    assert bound <= optimum + 1e-9 * optimum


def test_a_relaxation_with_no_time_has_no_bound(generated_day: LinearProgram) -> None:
    assert lower_bound(generated_day, time_limit_s=0) is None


def test_the_duals_of_a_dual_simplex_stopped_early_prove_its_objective(
    generated_day: LinearProgram,
) -> None:
    """Stopped after 500 iterations (deterministic, unlike a time limit) the
    dual simplex's iterate is dual feasible, and its duals prove the dual
    objective HiGHS reports for it: well above 0, below the optimum."""
    lp = generated_day
    optimum, _ = _optimum(lp)
    h = new_highs()
    h.setOptionValue("presolve", "off")
    h.setOptionValue("simplex_iteration_limit", 500)
    h.passModel(highs_lp(lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper))
    run_highs(h)
    assert h.getModelStatus().name == "kIterationLimit"
    assert h.getSolution().dual_valid
    bound = dual_bound(lp, np.array(h.getSolution().row_dual))
    reported = h.getInfo().objective_function_value
    assert 0 < bound <= optimum
    assert bound == pytest.approx(reported, rel=1e-9)


def test_every_column_of_a_day_is_bounded_so_a_stopped_lp_proves_a_bound(
    generated_day: LinearProgram,
) -> None:
    """The relaxation bounds every column itself (no search of its rows),
    so the duals of its dual simplex stopped anywhere prove a finite bound,
    rising towards the optimum: before, shipping columns and load chains
    had none, their reduced costs of -1e-11 to -5e-5 proved nothing, and
    the demo day (8.7 M nonzeros, too large to search) had no bound."""
    lp = generated_day
    assert np.isfinite(lp.col_upper).all()
    optimum, _ = _optimum(lp)
    bounds = []
    for limit in (50, 500, 1500):
        h = new_highs()
        h.setOptionValue("presolve", "off")
        h.setOptionValue("simplex_iteration_limit", limit)
        h.passModel(highs_lp(lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper))
        run_highs(h)
        assert h.getModelStatus().name == "kIterationLimit"
        bounds.append(dual_bound(lp, np.array(h.getSolution().row_dual)))
    assert np.isfinite(bounds).all()
    assert bounds == sorted(bounds)
    assert bounds[-1] <= optimum
