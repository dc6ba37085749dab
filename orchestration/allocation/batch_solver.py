"""How one compiled batch is solved: the chosen engine (whole, by region in
parallel, or the nearest-node baseline), then the independent check."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.fulfillment import CompiledBatch
from tierflow.orchestration.allocation.settings import AllocationSettings
from tierflow.solver.greedy import first_come_assign
from tierflow.solver.partition import solve_partitioned
from tierflow.solver.result import SolveResult, Status
from tierflow.solver.solve import solve
from tierflow.solver.verify import verify

#: The baseline policy: each order, in arrival order, to the nearest node that
#: has its stock and room (what order-management systems do by default).
NEAREST = "nearest"


@dataclass(frozen=True, slots=True, eq=False)
class BatchSolution:
    """A verified solution of one batch.

    Attributes
    ----------
    result
        The engine's answer (assignment per item, reasons for the unassigned).
    solve_s
        Wall time of the solve.
    fallback
        The engine failed and the greedy fallback answered.
    """

    result: SolveResult
    solve_s: float
    fallback: bool


class BatchSolver:
    """Solves compiled batches with the settings' engine.

    Parameters
    ----------
    network, orders
        The nodes (distances, regions) and the orders (destinations).
    settings
        ``engine``, ``time_limit_s``, ``seed``, ``threads``,
        ``relative_gap``, ``backend`` and ``n_jobs``.
    """

    def __init__(
        self, network: Network, orders: Orders, settings: AllocationSettings
    ) -> None:
        self.network = network
        self.orders = orders
        self.settings = settings
        _, codes = np.unique(np.asarray(network.node_regions), return_inverse=True)
        self.node_region = codes.astype(np.intp)

    def solve(self, compiled: CompiledBatch) -> BatchSolution:
        """Solve ``compiled`` and check the answer with :func:`~tierflow.solver.verify.verify`."""
        s = self.settings
        start = time.perf_counter()
        if s.engine == NEAREST:
            result = self._nearest(compiled, start)
        elif s.backend != "none" and compiled.problem.n_items > 1:
            result = self._by_region(compiled)
        else:
            result = solve(
                compiled.problem,
                s.engine,
                time_limit_s=s.time_limit_s,
                seed=s.seed,
                threads=s.threads,
                relative_gap=s.relative_gap,
            )
        elapsed = time.perf_counter() - start
        verify(compiled.problem, result)
        return BatchSolution(
            result, elapsed, fallback=result.message.startswith("fallback")
        )

    def _nearest(self, compiled: CompiledBatch, start: float) -> SolveResult:
        """Each item, in order, to the nearest node with its stock and room."""
        dest = self.orders.dest[compiled.options.orders]
        distance = self.network.distance_mi[:, dest].T
        assignment, reasons = first_come_assign(compiled.problem, distance)
        return SolveResult(
            engine=NEAREST,
            status=Status.FEASIBLE,
            objective=compiled.problem.objective(assignment),
            bound=None,
            runtime_s=time.perf_counter() - start,
            assignment=assignment,
            unassigned_reason=reasons,
        )

    def _by_region(self, compiled: CompiledBatch) -> SolveResult:
        """Region partitions solved in parallel, items in their nearest node's region."""
        s = self.settings
        dest = self.orders.dest[compiled.options.orders]
        nearest = np.argmin(self.network.distance_mi[:, dest], axis=0)
        return solve_partitioned(
            compiled.problem,
            self.node_region[nearest],
            self.node_region,
            engine=s.engine,
            time_limit_s=s.time_limit_s,
            seed=s.seed,
            relative_gap=s.relative_gap,
            backend=s.backend,
            n_jobs=s.n_jobs,
        )
