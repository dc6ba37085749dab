"""Region partitions solved in parallel (joblib locally, Dask on a cluster).

Each region's items over its own nodes, then the items no region could place
over all nodes (the spill-over). Why this is feasible: ``docs/solver.md``.
"""

from __future__ import annotations

import os
import threading
import time

import joblib
import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import UnknownEngineError
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import dask_cluster
from tierflow.solver.engine import Engine
from tierflow.solver.params import SolveParams
from tierflow.solver.result import Limit, SolveResult, Status
from tierflow.solver.solve import solve

#: joblib backends ``tierflow allocate --backend`` accepts.
BACKENDS = ("none", "loky", "threading", "dask")

#: Seconds between a loky worker's looks at whether its parent is alive.
PARENT_WATCH_S = 0.5


def _exit_with_parent(parent: int) -> None:
    """Run in each loky worker as it starts: end it once ``parent`` is gone.

    loky's workers end only after ``idle_worker_timeout`` (300 s) without a
    task, so a ``tierflow allocate`` killed with SIGKILL left its workers
    (and their memory) behind for five minutes, and one killed mid-solve
    left them solving. A shorter timeout would only respawn the pool
    between batches, and would not stop a worker in the middle of a task;
    a worker whose parent died is adopted by another process, which this
    thread sees within :data:`PARENT_WATCH_S` (CP-SAT releases the GIL while
    it searches).
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="tierflow-parent-watch", daemon=True).start()


def _backend_params(backend: str) -> dict[str, object]:
    """``joblib.parallel_config`` options of ``backend``: loky's workers end
    with this process (:func:`_exit_with_parent`)."""
    if backend != "loky":
        return {}
    return {"initializer": _exit_with_parent, "initargs": (os.getpid(),)}


def _region_problem(
    problem: AssignmentProblem, items: NDArray[np.intp], nodes: NDArray[np.bool_]
) -> AssignmentProblem:
    sub = problem.subset(items)
    return sub.replace(eligible=sub.eligible & nodes[None, :])


def _plug_in(engine: str) -> Engine | None:
    """The engine registered as ``engine`` when tierflow does not ship it:
    a worker process's registry holds only tierflow's own engines."""
    from tierflow.solver.registry import get_engine

    eng = get_engine(engine)
    return None if type(eng).__module__.startswith("tierflow.") else eng


def _solve_region(
    problem: AssignmentProblem,
    engine: str,
    plug_in: Engine | None,
    params: SolveParams,
) -> SolveResult:
    """``solve(problem, engine)`` in a worker, with the caller's plug-in
    registered there first: the regions of a plug-in registered in the
    caller were ``unknown engine`` on ``loky`` and Dask."""
    if plug_in is not None:
        from tierflow.solver.registry import get_engine, register

        try:
            known = get_engine(engine)
        except UnknownEngineError:
            known = None
        if known is not plug_in:
            register(plug_in)
    return solve(problem, engine, params=params)


def _solve_regions(
    problem: AssignmentProblem,
    item_region: NDArray[np.intp],
    node_region: NDArray[np.intp],
    *,
    engine: str,
    params: SolveParams,
    backend: str,
    n_jobs: int,
) -> tuple[NDArray[np.int64], int]:
    """Each region's items over its own nodes, in parallel (one thread each);
    the joint assignment and the number of regions."""
    parts = []
    for r in np.unique(item_region):
        items = np.flatnonzero(item_region == r).astype(np.intp)
        parts.append((items, _region_problem(problem, items, node_region == r)))
    one_thread = params.replace(threads=1)
    plug_in = _plug_in(engine)
    if backend == "dask":
        calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
            ((sub, engine, plug_in, one_thread), {}) for _, sub in parts
        ]
        results = dask_cluster.run_tasks(_solve_region, calls)
    else:
        with joblib.parallel_config(backend=backend, **_backend_params(backend)):
            results = joblib.Parallel(n_jobs=n_jobs)(
                joblib.delayed(_solve_region)(sub, engine, plug_in, one_thread)
                for _, sub in parts
            )
    assignment = np.full(problem.n_items, -1, dtype=np.int64)
    for (items, _), result in zip(parts, results, strict=True):
        assignment[items] = result.assignment
    return assignment, len(parts)


def _spill_over(
    problem: AssignmentProblem,
    assignment: NDArray[np.int64],
    *,
    engine: str,
    params: SolveParams,
) -> dict[int, str]:
    """Solve what the regions left unplaced over all nodes, with what is left;
    fills ``assignment`` in place and returns the reasons for what stays out."""
    rest = np.flatnonzero(assignment < 0).astype(np.intp)
    reasons: dict[int, str] = {}
    if not rest.size:
        return reasons
    left = problem.capacity - problem.load(assignment)
    kwargs = {}
    if problem.stock is not None:
        kwargs["stock"] = np.maximum(
            problem.stock - problem.resource_load(assignment), 0
        )
    spill = problem.subset(rest).replace(capacity=np.maximum(left, 0.0), **kwargs)
    result = solve(spill, engine, params=params)
    assignment[rest] = result.assignment
    for pos, why in result.unassigned_reason.items():
        reasons[int(rest[pos])] = why
    return reasons


def solve_partitioned(
    problem: AssignmentProblem,
    item_region: NDArray[np.intp],
    node_region: NDArray[np.intp],
    *,
    engine: str,
    params: SolveParams | None = None,
    backend: str = "loky",
    n_jobs: int = 2,
) -> SolveResult:
    """Solve ``problem`` region by region in parallel, then the spill-over.

    Parameters
    ----------
    item_region, node_region
        Region code of each item and of each node.
    params
        Each region's and the spill-over's solve parameters (a region solve
        runs on one thread).
    backend
        A joblib backend name (``loky``, ``threading``), or ``dask``: the
        partitions are tasks of the ``dask.distributed.Client`` active in
        the caller (:func:`~tierflow.solver.dask_cluster.run_tasks`).
    """
    start = time.perf_counter()
    if not problem.can_defer:
        raise ValueError("partitioned solves need a defer option (spill-over)")
    params = params or SolveParams()
    assignment, n_parts = _solve_regions(
        problem,
        item_region,
        node_region,
        engine=engine,
        params=params,
        backend=backend,
        n_jobs=n_jobs,
    )
    n_spill = int((assignment < 0).sum())
    reasons = _spill_over(problem, assignment, engine=engine, params=params)
    return SolveResult(
        engine=engine,
        status=Status.FEASIBLE,
        objective=problem.objective(assignment),
        bound=None,
        runtime_s=time.perf_counter() - start,
        assignment=assignment,
        unassigned_reason=reasons,
        limit=Limit.OTHER,
        message=f"{n_parts} region partitions ({backend}), "
        f"{n_spill} items to spill-over",
    )
