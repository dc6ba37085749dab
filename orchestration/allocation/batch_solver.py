"""How one compiled batch is solved: the chosen engine (whole, by region in
parallel, or the nearest-node baseline), then the independent check."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.fulfillment import CompiledBatch
from tierflow.formulations.problem import AssignmentProblem
from tierflow.orchestration.allocation.settings import AllocationSettings
from tierflow.solver.params import SolveParams
from tierflow.solver.partition import solve_partitioned
from tierflow.solver.registry import get_engine
from tierflow.solver.result import SolveResult
from tierflow.solver.solve import solve
from tierflow.solver.verify import verify


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
        ``relative_gap``, ``backend`` and ``n_jobs``. The ``nearest`` baseline is
        an engine like the others (it ranks nodes by distance, the problem's
        ``preference``) and is never split by region.
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
        caps = get_engine(s.engine).capabilities
        params = SolveParams(
            time_limit_s=s.time_limit_s,
            seed=s.seed,
            threads=s.threads,
            relative_gap=s.relative_gap,
            deterministic=s.deterministic,
        )
        problem = compiled.problem
        if caps.uses_preference:
            dest = self.orders.dest[compiled.options.orders]
            problem = problem.replace(preference=self.network.distance_mi[:, dest].T)
        if s.backend != "none" and problem.n_items > 1 and not caps.baseline:
            result = self._by_region(compiled, problem, params)
        else:
            result = solve(problem, s.engine, params=params)
        elapsed = time.perf_counter() - start
        verify(compiled.problem, result)
        return BatchSolution(result, elapsed, fallback=result.fallback_from is not None)

    def _by_region(
        self, compiled: CompiledBatch, problem: AssignmentProblem, params: SolveParams
    ) -> SolveResult:
        """Region partitions solved in parallel, items in their nearest node's region."""
        dest = self.orders.dest[compiled.options.orders]
        nearest = np.argmin(self.network.distance_mi[:, dest], axis=0)
        return solve_partitioned(
            problem,
            self.node_region[nearest],
            self.node_region,
            engine=self.settings.engine,
            # regions run on one thread each, the spill-over as the engine likes
            params=params.replace(threads=None),
            backend=self.settings.backend,
            n_jobs=self.settings.n_jobs,
        )
