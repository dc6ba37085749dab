"""Region partitions solved in parallel (joblib locally, Dask on a cluster).

A batch is split by *region*: each item goes to the region of the node
nearest its destination, and a region's sub-problem may only use that
region's nodes. Node sets are disjoint, so the partitions' solutions are
jointly feasible and can be solved independently — on joblib's process pool,
or on a Dask cluster through joblib's ``dask`` backend (the same code; the
caller opens a ``dask.distributed.Client``).

**Spill-over.** Items a partition could not place (its region lacks the
stock, the service or the capacity) are re-solved together in a final
stage over *all* nodes with what the partitions left, so cross-region
shipments still happen when they must.
"""

from __future__ import annotations

import time

import joblib
import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.result import Limit, SolveResult, Status
from tierflow.solver.solve import solve

#: joblib backends ``tierflow allocate --backend`` accepts.
BACKENDS = ("none", "loky", "threading", "dask")


def _region_problem(
    problem: AssignmentProblem, items: NDArray[np.intp], nodes: NDArray[np.bool_]
) -> AssignmentProblem:
    sub = problem.subset(items)
    return sub.replace(eligible=sub.eligible & nodes[None, :])


def solve_partitioned(
    problem: AssignmentProblem,
    item_region: NDArray[np.intp],
    node_region: NDArray[np.intp],
    *,
    engine: str,
    time_limit_s: float,
    seed: int = 0,
    relative_gap: float = 1e-4,
    backend: str = "loky",
    n_jobs: int = 2,
) -> SolveResult:
    """Solve ``problem`` region by region in parallel, then the spill-over.

    Parameters
    ----------
    item_region, node_region
        Region code of each item and of each node.
    backend
        A joblib backend name (``loky``, ``threading``, ``dask``); with ``dask``
        a ``dask.distributed.Client`` must be active in the caller.
    """
    start = time.perf_counter()
    if not problem.can_defer:
        raise ValueError("partitioned solves need a defer option (spill-over)")
    regions = np.unique(item_region)
    parts = []
    for r in regions:
        items = np.flatnonzero(item_region == r).astype(np.intp)
        parts.append((items, _region_problem(problem, items, node_region == r)))
    with joblib.parallel_config(backend=backend):
        results = joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(solve)(
                sub,
                engine,
                time_limit_s=time_limit_s,
                seed=seed,
                threads=1,
                relative_gap=relative_gap,
            )
            for _, sub in parts
        )
    assignment = np.full(problem.n_items, -1, dtype=np.int64)
    for (items, _), result in zip(parts, results, strict=True):
        assignment[items] = result.assignment
    # Spill-over: everything a region left unplaced, over all nodes.
    rest = np.flatnonzero(assignment < 0).astype(np.intp)
    reasons: dict[int, str] = {}
    if rest.size:
        left = problem.capacity - problem.load(assignment)
        kwargs = {}
        if problem.stock is not None:
            kwargs["stock"] = np.maximum(
                problem.stock - problem.resource_load(assignment), 0
            )
        spill = problem.subset(rest).replace(capacity=np.maximum(left, 0.0), **kwargs)
        result = solve(
            spill,
            engine,
            time_limit_s=time_limit_s,
            seed=seed,
            relative_gap=relative_gap,
        )
        assignment[rest] = result.assignment
        for pos, why in result.unassigned_reason.items():
            reasons[int(rest[pos])] = why
    return SolveResult(
        engine=engine,
        status=Status.FEASIBLE,
        objective=problem.objective(assignment),
        bound=None,
        runtime_s=time.perf_counter() - start,
        assignment=assignment,
        unassigned_reason=reasons,
        limit=Limit.OTHER,
        message=f"{len(parts)} region partitions ({backend}), "
        f"{rest.size} items to spill-over",
    )
