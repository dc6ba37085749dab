"""The relaxation's bound from branch and bound is HiGHS's dual bound: a
search that stops "optimal" within its gap tolerance has an incumbent that
may be above the optimum, so it proves nothing below it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from tierflow.formulations.linear_program import LinearProgram
from tierflow.solver import linear_program
from tierflow.solver.highs_model import new_highs

#: The optimum of :func:`_cover` (HiGHS, mip_rel_gap 0, 4 s).
OPTIMUM = 30.906331526689204


def _cover(seed: int = 4, n: int = 120, m: int = 200) -> LinearProgram:
    """A random set-covering MIP whose root leaves a gap."""
    rng = np.random.default_rng(seed)
    a = (rng.random((m, n)) < 0.15).astype(float)
    a[np.arange(m), rng.integers(0, n, m)] = 1
    return LinearProgram(
        c=rng.uniform(1, 10, n),
        matrix=sp.csr_matrix(a),
        row_lower=np.ones(m),
        row_upper=np.full(m, np.inf),
        col_upper=np.ones(n),
        integer=np.ones(n, dtype=bool),
    )


def test_the_bound_is_the_dual_bound_when_the_search_stops_at_its_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a gap tolerance of 50 % HiGHS stops at its first good incumbent,
    31.14 on this instance, and calls it optimal: reported as the bound, it
    was above the optimum (any policy at the optimum would be below it)."""

    def loose(**kw: Any) -> Any:
        h = new_highs(**kw)
        h.setOptionValue("mip_rel_gap", 0.5)
        return h

    monkeypatch.setattr(linear_program, "new_highs", loose)
    lp = _cover()
    bound = linear_program.lower_bound(lp, mip_time_s=30)
    assert bound is not None
    assert bound <= OPTIMUM + 1e-9
    relaxed = linear_program.solve_linear_program(lp).objective
    assert relaxed is not None and bound >= relaxed - 1e-9
