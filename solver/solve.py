"""The one entry point: ``solve(problem, engine, ...) -> SolveResult``."""

from __future__ import annotations

import dataclasses
import time
import traceback

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import DEFAULT_RELATIVE_GAP
from tierflow.solver.greedy import greedy_assign
from tierflow.solver.lp import lp_bound
from tierflow.solver.registry import get_engine
from tierflow.solver.result import Limit, SolveResult, Status

#: Share of the time limit the greedy warm start may use.
WARM_START_SHARE = 0.1


def solve(
    problem: AssignmentProblem,
    engine: str = "cpsat",
    *,
    time_limit_s: float = 10.0,
    seed: int = 0,
    warm_start: NDArray[np.int64] | None = None,
    threads: int | None = None,
    relative_gap: float = DEFAULT_RELATIVE_GAP,
    fallback: bool = True,
) -> SolveResult:
    """Solve ``problem`` with the engine registered as ``engine``.

    Parameters
    ----------
    problem
        The validated instance.
    engine
        A name from :func:`tierflow.solver.registry.engine_names`.
    time_limit_s
        Wall-clock budget for the whole call, warm start included.
    seed
        Random seed passed to the backend, for reproducible runs.
    warm_start
        An assignment to start from; engines that use one get the greedy
        solution when none is given.
    threads
        Worker threads; ``None`` lets the engine use every core.
    relative_gap
        Stop, and call the result optimal, once ``(objective - bound) /
        max(|objective|, 1)`` is at most this (MathOpt's relative gap tolerance).
    fallback
        When the engine fails or stops without a solution (and has not proven
        infeasibility), answer with the greedy engine instead; the result says so
        in ``message``.

    Returns
    -------
    SolveResult
        Exact engines that cannot prove optimality report the LP bound when it
        is the better bound.
    """
    eng = get_engine(engine)
    start = time.perf_counter()
    if problem.n_items == 0:
        return SolveResult(
            engine=eng.name,
            status=Status.OPTIMAL,
            objective=0.0,
            bound=0.0,
            runtime_s=0.0,
            assignment=np.zeros(0, dtype=np.int64),
        )
    if warm_start is None and eng.uses_warm_start and eng.name != "greedy":
        hint, _ = greedy_assign(problem, time_limit_s=WARM_START_SHARE * time_limit_s)
        if problem.can_defer or (hint >= 0).all():
            warm_start = hint
    left = max(time_limit_s - (time.perf_counter() - start), 0.01)
    try:
        result = eng.solve(
            problem,
            time_limit_s=left,
            seed=seed,
            warm_start=warm_start,
            threads=threads,
            relative_gap=relative_gap,
        )
    except Exception as exc:  # an engine must never take the caller down
        result = SolveResult(
            engine=eng.name,
            status=Status.ERROR,
            objective=None,
            bound=None,
            runtime_s=time.perf_counter() - start,
            assignment=np.full(problem.n_items, -1, dtype=np.int64),
            message=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}",
        )
    if (
        eng.proves_bound
        and eng.name != "lp"
        and result.status is not Status.OPTIMAL
        and result.status is not Status.INFEASIBLE
    ):
        result = result.with_bound(lp_bound(problem, time_limit_s=max(left, 1.0)))
    if (
        fallback
        and eng.name != "greedy"
        and not result.has_solution
        and result.status is not Status.INFEASIBLE
    ):
        greedy = get_engine("greedy").solve(
            problem,
            time_limit_s=max(time_limit_s * WARM_START_SHARE, 0.05),
            seed=seed,
            warm_start=warm_start,
            threads=threads,
        )
        result = dataclasses.replace(
            greedy.with_bound(result.bound),
            runtime_s=time.perf_counter() - start,
            limit=result.limit if result.limit is not Limit.NONE else greedy.limit,
            message=f"fallback to greedy after {eng.name}: "
            f"{result.status.name} {result.message}".strip(),
        )
    return dataclasses.replace(result, runtime_s=time.perf_counter() - start)
