"""The one entry point: ``solve(problem, engine, ...) -> SolveResult``.

Around the engine's own solve it adds what the engine's capabilities ask
for: a greedy warm start, the LP bound for a result that is not proven
optimal, and the fallback engine's answer when the engine fails.
"""

from __future__ import annotations

import dataclasses
import time
import traceback

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError, SolverError
from tierflow.data.extras import MissingExtraError
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import Availability, Engine
from tierflow.solver.greedy import greedy_assign
from tierflow.solver.lp import lp_bound
from tierflow.solver.params import SolveParams
from tierflow.solver.result import Limit, SolveResult, Status, no_solution
from tierflow.solver.verify import OBJECTIVE_RTOL

#: Share of the time limit the greedy warm start (and the fallback) may use.
WARM_START_SHARE = 0.1


def solve(
    problem: AssignmentProblem,
    engine: str = "cpsat",
    *,
    params: SolveParams | None = None,
    time_limit_s: float | None = None,
    seed: int | None = None,
    threads: int | None = None,
    relative_gap: float | None = None,
    warm_start: NDArray[np.int64] | None = None,
    fallback: bool = True,
) -> SolveResult:
    """Solve ``problem`` with the engine registered as ``engine``.

    Parameters
    ----------
    problem
        The validated instance.
    engine
        A name from :func:`tierflow.solver.registry.engine_names`.
    params
        Time limit (for the whole call, warm start included), seed, threads
        and relative gap; default :class:`SolveParams`.
    time_limit_s, seed, threads, relative_gap
        Override the field of ``params`` of the same name when given.
    warm_start
        An assignment to start from; else ``greedy_start`` engines get greedy's.
    fallback
        When the engine fails or stops without a solution (and has not proven
        infeasibility), answer with the fallback engine instead; the result
        names the engine in ``fallback_from`` and says so in ``message``.

    Returns
    -------
    SolveResult
        Engines that prove a bound but not optimality report the LP bound
        when it is the better bound.
    """
    _check_problem(problem)
    if params is not None and not isinstance(params, SolveParams):
        raise InputError("must be a SolveParams", field="params", value=params)
    if warm_start is not None:
        warm_start = _checked_start(problem, warm_start)
    params = _overridden(
        params or SolveParams(),
        time_limit_s=time_limit_s,
        seed=seed,
        threads=threads,
        relative_gap=relative_gap,
    )
    # the registry imports every engine: here, not with the module, which
    # the checkout imports (via this package) and never calls
    from tierflow.solver.registry import engines_with, get_engine

    eng, start = get_engine(engine), time.perf_counter()
    caps = eng.capabilities
    if params.deterministic and not caps.deterministic:
        raise InputError(
            "stops on the clock, so its answers are not reproducible: "
            f"deterministic solves use {', '.join(engines_with(deterministic=True))}",
            field="deterministic",
            value=eng.name,
        )
    if problem.n_items == 0:
        return _nothing_to_do(eng.name)
    if warm_start is None and caps.greedy_start:
        warm_start = _greedy_start(problem, params)
    left = params.time_limit_s  # deterministic time is the engine's own
    if not params.deterministic:
        left = max(params.time_limit_s - (time.perf_counter() - start), 0.01)
    result = _run(eng, problem, params.replace(time_limit_s=left), warm_start, start)
    composed = False  # whether a bound or an answer came from outside the engine
    if (
        caps.proves_bound
        and _unproven(result)
        and (not caps.bound_is_lp or result.bound is None)
    ):
        # an engine whose bound holds the LP's may still end without one
        # (the portfolio's LP phase cut off by its share of the time)
        bound = lp_bound(problem, time_limit_s=_time_left(params, start))
        own_bound = result.bound
        result = result.with_bound(bound)
        # the LP's bound raised it
        composed = result.bound is not None and (
            own_bound is None or result.bound > own_bound
        )
    if fallback and not caps.fallback and _rescue(result):
        result = _fall_back(eng.name, result, problem, params, warm_start, start)
        composed = True
    result = _bound_within_objective(problem, result)
    if composed:
        result = _proven_within_gap(result, params)
    return dataclasses.replace(result, runtime_s=time.perf_counter() - start)


def _check_problem(problem: object) -> None:
    """An ``AssignmentProblem``, else an ``InputError`` naming it: a
    ``GapInstance`` (``load_gap_file``'s) was an ``AttributeError`` on
    ``n_items`` from deep inside the solve."""
    if isinstance(problem, AssignmentProblem):
        return
    hint = " (a GapInstance holds one: .problem)" if hasattr(problem, "problem") else ""
    raise InputError(
        f"must be an AssignmentProblem, not {type(problem).__name__}{hint}",
        field="problem",
    )


def _proven_within_gap(result: SolveResult, params: SolveParams) -> SolveResult:
    """A ``FEASIBLE`` answer within ``params.relative_gap`` of a bound
    ``solve()`` put beside it (the failed engine's, kept by the fallback's
    answer, or the LP bound of step 4) is ``OPTIMAL``, as an engine calls
    its own: a greedy answer meeting the bound read ``feasible`` with a gap
    of 0.0. An engine's own answer keeps the status it gave (HiGHS's
    ``FEASIBLE`` for a claim it did not take as proven)."""
    gap = result.gap
    if result.status is not Status.FEASIBLE or gap is None:
        return result
    assert result.bound is not None and result.objective is not None  # a gap
    if result.bound > result.objective:
        # above the answer's cost: a wrong bound, no proof (verify says so)
        return result
    if gap > params.relative_gap:
        return result
    return dataclasses.replace(result, status=Status.OPTIMAL, limit=Limit.NONE)


#: A bound's floating-point resolution relative to the largest cost (double
#: precision's 2.2e-16 summed over up to ~4,500 terms).
BOUND_RESOLUTION = 1e-12


def _bound_within_objective(
    problem: AssignmentProblem, result: SolveResult
) -> SolveResult:
    """A bound above the objective by no more than the costs' floating-point
    resolution is the objective: HiGHS proved 0.0060120 on an optimum of
    0.006 among costs of 1e11 (its tolerances scale with the largest cost),
    and ``verify``, whose tolerance scales with the objective, refused it.
    A larger excess is left for ``verify`` to report as an engine bug."""
    if result.bound is None or result.objective is None:
        return result
    excess = result.bound - result.objective
    if excess <= 0:
        return result
    scale = float(np.abs(problem.cost).max(initial=0.0))
    if problem.defer_cost is not None:
        scale = max(scale, float(np.abs(problem.defer_cost).max(initial=0.0)))
    resolution = OBJECTIVE_RTOL * max(1.0, abs(result.objective))
    if excess <= resolution + BOUND_RESOLUTION * scale:
        return dataclasses.replace(result, bound=result.objective)
    return result


def _checked_start(
    problem: AssignmentProblem, warm_start: NDArray[np.int64]
) -> NDArray[np.int64]:
    """A start of one agent per item (-1: unassigned); a wrong length once
    broke an engine with numpy's broadcast error."""
    start = np.asarray(warm_start)
    if start.shape != (problem.n_items,) or start.dtype.kind not in "iu":
        raise InputError(
            f"must be {problem.n_items} integer agent indices, got shape "
            f"{start.shape} of {start.dtype}",
            field="warm_start",
        )
    bad = (start < -1) | (start >= problem.n_agents)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"must be -1 or an agent index below {problem.n_agents}",
            field="warm_start",
            index=k,
            value=int(start[k]),
        )
    return start.astype(np.int64, copy=False)


def _overridden(params: SolveParams, **overrides: float | None) -> SolveParams:
    """``params`` with every override that is given (not ``None``)."""
    return params.replace(**{k: v for k, v in overrides.items() if v is not None})


def _nothing_to_do(engine: str) -> SolveResult:
    """The result of a problem without items: optimal at 0."""
    return SolveResult(
        engine=engine,
        status=Status.OPTIMAL,
        objective=0.0,
        bound=0.0,
        runtime_s=0.0,
        assignment=np.zeros(0, dtype=np.int64),
    )


def _greedy_start(
    problem: AssignmentProblem, params: SolveParams
) -> NDArray[np.int64] | None:
    """The greedy solution, when it is one (complete, or deferral allowed)."""
    hint, _ = greedy_assign(
        problem, time_limit_s=WARM_START_SHARE * params.clock_limit_s
    )
    return hint if problem.can_defer or (hint >= 0).all() else None


def _run(
    eng: Engine,
    problem: AssignmentProblem,
    params: SolveParams,
    warm_start: NDArray[np.int64] | None,
    start: float,
) -> SolveResult:
    """The engine's own solve; an exception becomes an ``ERROR`` result (an
    engine whose extra is missing says which one installs it: a traceback
    told the user nothing they could act on). So is an answer that is no
    result for ``problem``: a plug-in returning ``None`` was an
    ``AttributeError`` from inside ``solve()``, and an assignment of another
    length came back ``optimal`` for the caller to index out of bounds."""
    # an engine saying it cannot run here is not run (a plug-in's import
    # error came back as a traceback): answered as a bundled engine whose
    # extra is missing is
    why = _unavailable(eng)
    if not why:
        try:
            result = eng.solve(problem, params, warm_start=warm_start)
        except MissingExtraError as exc:
            why = _not_installed(eng.name, exc.extra)
        except Exception as exc:  # an engine must never take the caller down
            why = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        else:
            why = _malformed(eng.name, problem, result)
            if not why:
                return result
    return no_solution(
        eng.name,
        problem.n_items,
        Status.ERROR,
        time.perf_counter() - start,
        message=why,
    )


def _unavailable(eng: Engine) -> str:
    """Why ``eng`` cannot run here, by its own :meth:`~Engine.available`
    ("" when it can): not installed (with the pip extra that installs it,
    when the engine names one, as ``cbc`` does) or broken."""
    try:
        availability = eng.available()
    except Exception as exc:  # an engine must never take the caller down
        return f"the {eng.name} engine could not say whether it is installed: " + (
            f"{type(exc).__name__}: {exc}"
        )
    if availability is Availability.NOT_INSTALLED:
        return _not_installed(eng.name, getattr(eng, "extra", None))
    if availability is Availability.BROKEN:
        return f"the {eng.name} engine is installed but broken: it cannot run here"
    return ""


def _not_installed(name: str, extra: str | None) -> str:
    """That engine ``name`` is not installed, with the pip extra that
    installs it when there is one."""
    how = f" (pip install 'tierflow[{extra}]' installs it)" if extra else ""
    return f"the {name} engine is not installed{how}"


def _malformed(name: str, problem: AssignmentProblem, result: object) -> str:
    """Why an engine's answer is no result for ``problem`` ("" when it is)."""
    if not isinstance(result, SolveResult):
        return f"{name} returned {type(result).__name__}, not a SolveResult"
    if result.assignment.shape != (problem.n_items,):
        return (
            f"{name} returned an assignment of shape {result.assignment.shape} "
            f"for {problem.n_items} items"
        )
    return ""


def _time_left(params: SolveParams, start: float) -> float:
    """Seconds for the LP bound after the engine: what is left of the call's
    limit, and at least the warm start's share of it when the engine spent it
    all (as the fallback gets), so the call ends within that share of it."""
    used = time.perf_counter() - start
    share = WARM_START_SHARE * params.time_limit_s
    return max(params.time_limit_s - used, share, 0.01)


def _unproven(result: SolveResult) -> bool:
    """Neither proven optimal nor proven infeasible: a better bound may help."""
    return result.status not in (Status.OPTIMAL, Status.INFEASIBLE)


def _rescue(result: SolveResult) -> bool:
    """No solution, yet not proven infeasible: the fallback should answer."""
    return not result.has_solution and result.status is not Status.INFEASIBLE


def _fall_back(
    failed: str,
    result: SolveResult,
    problem: AssignmentProblem,
    params: SolveParams,
    warm_start: NDArray[np.int64] | None,
    start: float,
) -> SolveResult:
    """The fallback engine's answer, keeping the failed engine's bound and limit.

    The fallback is an engine like any other (a plug-in may register one):
    its exception or malformed answer is an ``ERROR`` saying both failures,
    and without a fallback engine the failed result stands; either was
    raised from ``solve()`` itself."""
    from tierflow.solver.registry import fallback_engine

    try:
        backup = fallback_engine()
    except SolverError as exc:
        return dataclasses.replace(
            result, message=f"{result.message}; {exc}".lstrip("; ")
        )
    answer = _run(
        backup,
        problem,
        params
        if params.deterministic  # greedy runs to its end
        else params.replace(
            time_limit_s=max(params.time_limit_s * WARM_START_SHARE, 0.05)
        ),
        warm_start,
        time.perf_counter(),
    )
    failure = f"{result.status.name} {result.message}".strip()
    if answer.status is Status.ERROR:
        failure += f"; {backup.name} failed too: {answer.message}"
    return dataclasses.replace(
        answer.with_bound(result.bound),
        runtime_s=time.perf_counter() - start,
        limit=result.limit if result.limit is not Limit.NONE else answer.limit,
        message=f"fallback to {backup.name} after {failed}: {failure}",
        fallback_from=failed,
    )
