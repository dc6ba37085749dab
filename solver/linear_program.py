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
from tierflow.solver.highs_model import new_highs, pass_lp, run_highs
from tierflow.solver.lp import LP_STATUS_MAP
from tierflow.solver.result import Status


@dataclass(frozen=True, slots=True)
class LpSolution:
    """What HiGHS found: status, objective (``None`` unless optimal), values.

    ``row_dual`` is HiGHS's row duals when a limit stopped the solve and it
    has some (``None`` otherwise): :func:`dual_bound` proves a bound from
    them."""

    status: Status
    objective: float | None
    x: NDArray[np.float64]
    runtime_s: float
    row_dual: NDArray[np.float64] | None = None


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
    pass_lp(h, lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper)
    if time_limit_s is not None:
        # HiGHS's clock starts with the run: the handoff (0.36 s of the demo
        # day's relaxation, 8.7 M nonzeros) is counted in the limit too
        spent = time.perf_counter() - start
        h.setOptionValue("time_limit", float(max(time_limit_s - spent, 1e-3)))
    run_highs(h)
    status = LP_STATUS_MAP.get(h.getModelStatus(), Status.ERROR)
    x = np.zeros(lp.n_cols)
    objective = None
    row_dual = None
    if status is Status.OPTIMAL:
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        objective = float(h.getInfo().objective_function_value) if lp.n_cols else 0.0
    elif h.getModelStatus() in _STOPPED and lp.n_rows:
        solution = h.getSolution()
        if solution.dual_valid:
            row_dual = np.asarray(solution.row_dual, dtype=np.float64)
    return LpSolution(status, objective, x, time.perf_counter() - start, row_dual)


#: Model statuses of a solve a limit stopped: its duals, if any, still give a
#: proven bound (:func:`dual_bound`).
_STOPPED = (
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
)


def dual_bound(lp: LinearProgram, row_dual: NDArray[np.float64]) -> float:
    """The Lagrangian bound of ``lp`` at row duals ``row_dual``: a proven
    lower bound on its optimum whatever the duals (weak duality), equal to
    it at optimal duals; ``-inf`` when they prove nothing.

    For ``y = row_dual`` (HiGHS's sign: ``c - Aᵀy`` are the reduced costs of
    a minimization, ``y > 0`` on a row at its lower bound) and any feasible
    ``x``: ``c·x = yᵀAx + (c - Aᵀy)·x``, and each term is at least its least
    value over the bounds, ``y_i · row_lower_i`` (``y_i > 0``) or
    ``y_i · row_upper_i`` (``y_i < 0``) per row and ``(c - Aᵀy)_j · u_j``
    per column of negative reduced cost (0 otherwise; ``x >= 0``). A
    multiplier on an open side of a row is dropped (set to 0: still a bound).
    A column of negative reduced cost with no upper bound proves nothing
    (``-inf``), and a dual simplex's duals, optimal ones too, leave reduced
    costs of -1e-14 to -5e-5 on columns: a program that wants a bound from
    a stopped simplex gives every column a finite upper bound (the hindsight
    relaxation gives each the one its rows imply).
    """
    y = np.asarray(row_dual, dtype=np.float64)
    lower, upper = lp.row_lower, lp.row_upper
    y = np.where(((y > 0) & np.isinf(lower)) | ((y < 0) & np.isinf(upper)), 0.0, y)
    rhs = np.zeros(y.size)
    rhs[y > 0] = lower[y > 0]
    rhs[y < 0] = upper[y < 0]
    reduced = lp.c - lp.matrix.T @ y
    below = reduced < 0
    bound = lp.col_upper[below]
    if np.isinf(bound).any():
        return -math.inf
    return float(y @ rhs + reduced[below] @ bound)


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
    (``None`` when HiGHS proves none, not even from a cut-short LP).

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
    bound is the last one reported. An LP the limit cuts short has no
    proven value, but the duals of its last iterate prove one
    (:func:`dual_bound`): that is the bound then, or ``None`` when HiGHS
    stopped without duals or they prove nothing finite.
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
    value = relaxed.objective
    if value is None and relaxed.row_dual is not None:
        stopped = dual_bound(lp, relaxed.row_dual)
        value = stopped if np.isfinite(stopped) else None
    if value is None or lp.integer is None:
        return value
    budget = min(mip_time_s, deadline - time.perf_counter())
    if budget <= 0:
        return value
    proven = _dual_bound_in_child(lp, budget, threads)
    if proven is None or not np.isfinite(proven):
        return value
    return max(value, proven)


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
    pass_lp(h, lp.c, lp.matrix, lp.row_lower, lp.row_upper, lp.col_upper)
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
