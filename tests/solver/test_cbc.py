"""CBC's executable without writing into site-packages."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tierflow.solver.cbc import _executable_copy, cbc_binary


def test_a_binary_without_its_execute_bit_is_copied_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    installed = tmp_path / "site-packages" / "cbc"
    installed.parent.mkdir()
    installed.write_bytes(b"#!/bin/sh\necho cbc\n")
    installed.chmod(0o444)
    installed.parent.chmod(0o555)  # a read-only install
    try:
        copy = _executable_copy(installed)
        assert (
            copy is not None and Path(copy).parent.parent.parent == tmp_path / "cache"
        )
        assert os.access(copy, os.X_OK)
        assert Path(copy).read_bytes() == installed.read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o444  # left as it was
        assert _executable_copy(installed) == copy  # made once
    finally:
        installed.parent.chmod(0o755)


def test_the_bundled_binary_runs() -> None:
    path = cbc_binary()
    assert path is not None and os.access(path, os.X_OK)


def test_a_solution_over_capacity_in_small_units_is_not_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CBC's absolute feasibility tolerance let an item of 1e-8 into a
    capacity of 0 (the only agent it may go to): "Optimal" at 3.0 on an
    infeasible problem. The engine's answer is no solution, naming the row.
    (The matrix now scales such rows to 1, and CBC proves them infeasible:
    unscaled here.)"""
    import numpy as np

    from tierflow.formulations.problem import AssignmentProblem
    from tierflow.solver import Status, matrix, solve
    from tierflow.solver.cbc import CbcEngine
    from tierflow.solver.params import SolveParams

    problem = AssignmentProblem(
        cost=[[1.0, np.inf], [np.inf, 2.0]],
        weight=[[3e-8, 1e-8], [1e-8, 1e-8]],
        capacity=[4e-7, 0.0],
    )
    assert solve(problem, "cbc", time_limit_s=5.0).status is Status.INFEASIBLE
    monkeypatch.setattr(
        matrix, "_row_scale", lambda rows, values, upper: np.ones(upper.size)
    )
    own = CbcEngine().solve(problem, SolveParams(time_limit_s=5.0))
    assert own.status is Status.NO_SOLUTION
    assert own.message == (
        "PuLP status Optimal, solution Optimal Solution Found; its solution "
        "breaks capacity agent 1 (load 1e-08 > 0) violated by 1e-08: not taken"
    )
    result = solve(problem, "cbc", time_limit_s=5.0)
    assert result.fallback_from == "cbc"
    assert not result.has_solution
