"""Region partitions with an engine registered in the calling process only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import get_engine, verify
from tierflow.solver.engine import BundledEngine, Capabilities, Hint
from tierflow.solver.params import SolveParams
from tierflow.solver.partition import solve_partitioned
from tierflow.solver.result import SolveResult


class _PlugIn(BundledEngine):
    """A plug-in from outside tierflow: greedy's answer under its own name."""

    name = "plug-in"
    capabilities = Capabilities()

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        answer = get_engine("greedy").solve(problem, params)
        return dataclasses.replace(answer, engine=self.name)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_a_registered_plug_in_solves_the_regions_in_any_worker(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The regions ran ``solve(sub, name)`` in the workers, whose registry
    held only tierflow's engines: a plug-in registered in the caller was
    ``unknown engine 'plug-in'; choose one of cpsat, ...`` on ``loky`` (and
    Dask), and solved on ``threading`` alone."""
    from tierflow.solver import register, registry

    monkeypatch.setattr(registry, "_ENGINES", dict(registry._ENGINES))
    register(_PlugIn())
    rng = np.random.default_rng(0)
    problem = AssignmentProblem(
        cost=rng.random((20, 4)),
        weight=np.ones((20, 4)),
        capacity=[6.0, 6.0, 6.0, 6.0],
        defer_cost=np.full(20, 10.0),
    )
    result = solve_partitioned(
        problem,
        np.arange(20) % 2,
        np.array([0, 0, 1, 1]),
        engine="plug-in",
        params=SolveParams(time_limit_s=2.0),
        backend=backend,
        n_jobs=2,
    )
    assert result.engine == "plug-in" and result.has_solution
    verify(problem, result)
