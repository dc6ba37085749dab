"""Solve a :class:`~tierflow.formulations.linear_program.LinearProgram` with HiGHS."""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.linear_program import LinearProgram
from tierflow.solver.highs_model import highs_lp, new_highs, run_highs
from tierflow.solver.lp import LP_STATUS_MAP
from tierflow.solver.result import Status


@dataclass(frozen=True, slots=True)
class LpSolution:
    """What HiGHS found: status, objective (``None`` unless optimal), values."""

    status: Status
    objective: float | None
    x: NDArray[np.float64]
    runtime_s: float


def solve_linear_program(
    lp: LinearProgram,
    *,
    time_limit_s: float | None = None,
    threads: int | None = None,
    method: str = "simplex",
    presolve: bool = True,
) -> LpSolution:
    """Solve ``lp`` to optimality with HiGHS's ``method`` (``simplex``, ``ipm``
    or ``choose``); the objective is a proven optimum only when ``OPTIMAL``.
    Dual simplex is the default: on the hindsight relaxation (a few hundred
    thousand columns, one nonzero per row and column but the shared rows) it
    is about 5x faster than interior point."""
    start = time.perf_counter()
    h = new_highs(time_limit_s=time_limit_s, threads=threads)
    h.setOptionValue("solver", method)
    if not presolve:
        # the hindsight relaxation's presolve took 6 of its 7 s (4 M nonzeros)
        # and removed 7 % of the rows
        h.setOptionValue("presolve", "off")
    model = highs_lp(lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper)
    h.passModel(model)
    run_highs(h)
    status = LP_STATUS_MAP.get(h.getModelStatus(), Status.ERROR)
    x = np.zeros(lp.n_cols)
    objective = None
    if status is Status.OPTIMAL:
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        objective = float(h.getInfo().objective_function_value) if lp.n_cols else 0.0
    return LpSolution(status, objective, x, time.perf_counter() - start)


#: Seconds a bound's time limit may be passed by: the child process that runs
#: branch and bound is started (spawned: imports numpy, scipy and HiGHS) and,
#: at the deadline, stopped and reaped (docs/allocation.md).
BOUND_OVERHEAD_S = 2.0

#: HiGHS options of the branch and bound that raises the bound: only its dual
#: bound is used, so no primal heuristic runs (the feasibility jump held a
#: 2 s limit for 7 s on a 1,000-order day), and no presolve (4 s of the same
#: day's 6.6 s, unchecked against the limit).
BOUND_MIP_OPTIONS: dict[str, Any] = {
    "presolve": "off",
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
}


def lower_bound(
    lp: LinearProgram,
    *,
    mip_time_s: float = 0.0,
    threads: int | None = None,
    time_limit_s: float | None = None,
) -> float | None:
    """A proven lower bound on ``lp``'s optimum with its integer columns
    (``None`` when not even the LP relaxation is solved).

    The LP relaxation is solved first; when ``lp`` has integer columns and
    ``mip_time_s > 0``, HiGHS's branch and bound then raises the bound for up
    to ``mip_time_s`` more — its dual bound is proven whether or not it
    finishes. Only the dual bound: a search that ends "optimal" stops once
    its incumbent is within ``mip_rel_gap`` (1e-4) of it, so the incumbent's
    value may be above the optimum, and above a policy's cost.

    ``time_limit_s`` caps the whole call (LP and branch and bound) to within
    :data:`BOUND_OVERHEAD_S`: HiGHS does not check its own limit in every
    phase (its root LP of a 1,000-order day ran 5 s on a 2 s limit, its cut
    rounds 106 s on 15 s), so branch and bound runs in a child process that
    reports each dual bound it proves and is stopped at the deadline; the
    bound is the last one reported. An LP the limit cuts short gives ``None``:
    a simplex stopped early has no proven value.
    """
    if time_limit_s is not None and time_limit_s <= 0:
        return None
    start = time.perf_counter()
    deadline = math.inf if time_limit_s is None else start + time_limit_s
    relaxed = solve_linear_program(
        lp,
        threads=threads,
        time_limit_s=None if time_limit_s is None else max(time_limit_s, 1e-3),
        presolve=False,
    )
    if relaxed.objective is None or lp.integer is None:
        return relaxed.objective
    budget = min(mip_time_s, deadline - time.perf_counter())
    if budget <= 0:
        return relaxed.objective
    proven = _dual_bound_in_child(lp, budget, threads)
    if proven is None or not np.isfinite(proven):
        return relaxed.objective
    return max(relaxed.objective, proven)


def _dual_bound_in_child(
    lp: LinearProgram, time_limit_s: float, threads: int | None
) -> float | None:
    """HiGHS's best dual bound of ``lp`` with its integer columns, from a
    child process given ``time_limit_s`` and stopped once it has passed."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_branch_and_bound,
        args=(lp, time_limit_s, threads, BOUND_MIP_OPTIONS, send),
        daemon=True,
    )
    deadline = time.perf_counter() + time_limit_s
    child.start()
    send.close()
    best: float | None = None
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or not receive.poll(left):
                break
            try:
                best = float(receive.recv())
            except EOFError:  # the child is done
                break
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    return best


def _branch_and_bound(
    lp: LinearProgram,
    time_limit_s: float,
    threads: int | None,
    options: dict[str, Any],
    send: Any,
) -> None:
    """The child's run: each dual bound HiGHS proves goes to ``send`` as it
    rises, the final one last; the run interrupts itself at its limit."""
    h = new_highs(time_limit_s=time_limit_s, threads=threads)
    for name, value in options.items():
        h.setOptionValue(name, value)
    h.passModel(highs_lp(lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper))
    assert lp.integer is not None
    ints = np.flatnonzero(lp.integer).astype(np.int32)
    h.changeColsIntegrality(
        ints.size, ints, np.full(ints.size, highspy.HighsVarType.kInteger)
    )
    deadline = time.perf_counter() + time_limit_s
    sent = -math.inf

    def report(event: Any) -> None:
        nonlocal sent
        bound = float(event.data_out.mip_dual_bound)
        if np.isfinite(bound) and bound > sent:
            send.send(bound)
            sent = bound
        if time.perf_counter() > deadline:
            event.interrupt()

    h.cbMipInterrupt.subscribe(report)
    h.run()
    final = float(h.getInfo().mip_dual_bound)
    if np.isfinite(final) and final > sent:
        send.send(final)
    send.close()
