"""Solve a :class:`~tierflow.formulations.linear_program.LinearProgram` with HiGHS."""

from __future__ import annotations

import math
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
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
    #: What stopped the solve: ``finished``, ``time_limit`` or
    #: ``lp_iterations`` (``simplex_iteration_limit``), or ``error``.
    stop: str = "finished"


def solve_linear_program(
    lp: LinearProgram,
    *,
    time_limit_s: float | None = None,
    threads: int | None = None,
    method: str = "simplex",
    presolve: bool = True,
    iteration_limit: int | None = None,
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
    if iteration_limit is not None:
        h.setOptionValue("simplex_iteration_limit", int(iteration_limit))
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
    native = h.getModelStatus()
    stop = "finished" if status is Status.OPTIMAL else _STOPS.get(native, "error")
    runtime = time.perf_counter() - start
    return LpSolution(status, objective, x, runtime, row_dual, stop)


#: Model statuses of a solve a limit stopped: its duals, if any, still give a
#: proven bound (:func:`dual_bound`).
_STOPPED = (
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
)
_STOPS = {
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kIterationLimit: "lp_iterations",
}


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
#: branch and bound is started (forked by a server that, at a process's first
#: bound, is started and imports numpy, scipy and HiGHS) and,
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


#: A deterministic bound's budget per second of its limit (docs/allocation.md
#: "Deterministic CP-SAT"), like CP-SAT's deterministic time: simplex
#: iterations of the relaxation's LP, and limit checks of the branch and
#: bound after it (HiGHS's MIP reports to its interrupt callback at each
#: root cut round and each node, at the same points on any machine).
#: Measured on the demo day's relaxation (67,503 rows, 8.66 M nonzeros, one
#: thread): its LP 7,989 iterations in 3.6 s (2,221/s); its branch and bound
#: 2 checks in its first 10 s and 8 by 30 s (2/s, the first guess, sent that
#: day past the wall guard, so it was not reproducible). Early checks (the
#: root's cut rounds) are the slow ones: a small day's are faster, and its
#: budget then stops short of its seconds, still reproducible.
BOUND_LP_ITERATIONS_PER_S = 2000
BOUND_MIP_CHECKS_PER_S = 0.2
#: A deterministic bound still stops on the clock at this many times its
#: seconds (plus :data:`BOUND_OVERHEAD_S`), a guard for a machine far slower
#: than the rates assume; it then says ``wall_clock`` and is not reproducible.
BOUND_WALL_FACTOR = 4.0


@dataclass(frozen=True, slots=True)
class BoundBudget:
    """The work a deterministic bound may do: ``lp_iterations`` of dual
    simplex, then ``mip_checks`` limit checks of branch and bound (one
    thread), within ``wall_s`` of wall time as a guard."""

    seconds: float
    lp_iterations: int
    mip_checks: int
    wall_s: float

    @classmethod
    def for_seconds(cls, seconds: float) -> BoundBudget:
        """The budget of ``seconds`` (:data:`BOUND_LP_ITERATIONS_PER_S`,
        :data:`BOUND_MIP_CHECKS_PER_S`, :data:`BOUND_WALL_FACTOR`)."""
        seconds = max(float(seconds), 0.0)
        return cls(
            seconds=seconds,
            lp_iterations=max(math.ceil(seconds * BOUND_LP_ITERATIONS_PER_S), 1),
            mip_checks=math.ceil(seconds * BOUND_MIP_CHECKS_PER_S),
            wall_s=seconds * BOUND_WALL_FACTOR + BOUND_OVERHEAD_S,
        )

    def as_dict(self) -> dict[str, float | int]:
        """The budget for ``summary.json``."""
        return {
            "seconds": self.seconds,
            "lp_iterations": self.lp_iterations,
            "mip_checks": self.mip_checks,
            "wall_s": self.wall_s,
        }


@dataclass(frozen=True, slots=True)
class ProvenBound:
    """A proven lower bound (``None``: none proven) and what stopped the
    LP and the branch and bound (``None``: it did not run): ``finished``,
    ``time_limit``, ``lp_iterations``, ``mip_checks``, ``wall_clock`` or
    ``error``; ``budget`` when it ran on a deterministic one."""

    value: float | None
    lp_stop: str | None = None
    search_stop: str | None = None
    budget: BoundBudget | None = None

    def stops(self) -> dict[str, str | None]:
        """What stopped each phase, for ``summary.json``."""
        return {"lp": self.lp_stop, "branch_and_bound": self.search_stop}


def lower_bound(
    lp: LinearProgram,
    *,
    mip_time_s: float = 0.0,
    threads: int | None = None,
    time_limit_s: float | None = None,
) -> float | None:
    """A proven lower bound on ``lp``'s optimum with its integer columns
    (``None`` when HiGHS proves none): :func:`prove_lower_bound`'s value."""
    return prove_lower_bound(
        lp, mip_time_s=mip_time_s, threads=threads, time_limit_s=time_limit_s
    ).value


def prove_lower_bound(
    lp: LinearProgram,
    *,
    mip_time_s: float = 0.0,
    threads: int | None = None,
    time_limit_s: float | None = None,
    budget: BoundBudget | None = None,
) -> ProvenBound:
    """A proven lower bound on ``lp``'s optimum with its integer columns
    (value ``None`` when HiGHS proves none, not even from a cut-short LP).

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

    With ``budget`` (a deterministic run) neither clock applies: the LP
    stops after ``budget.lp_iterations`` simplex iterations and branch and
    bound, on one thread, after ``budget.mip_checks`` limit checks, and the
    bound is the one proven there, the same on any machine; only a run past
    ``budget.wall_s`` is stopped on the clock (``wall_clock``).
    """
    if budget is not None:
        return _deterministic_bound(lp, budget)
    if time_limit_s is not None and time_limit_s <= 0:
        return ProvenBound(None, "time_limit")
    start = time.perf_counter()
    deadline = math.inf if time_limit_s is None else start + time_limit_s
    relaxed = solve_linear_program(
        lp,
        threads=threads,
        time_limit_s=None if time_limit_s is None else max(time_limit_s, 1e-3),
        presolve=False,
    )
    value = _relaxed_bound(lp, relaxed)
    if value is None or lp.integer is None:
        return ProvenBound(value, relaxed.stop)
    budget_s = min(mip_time_s, deadline - time.perf_counter())
    if budget_s <= 0:
        return ProvenBound(
            value, relaxed.stop, "time_limit" if mip_time_s > 0 else None
        )
    proven, stop = _dual_bound_in_child(lp, budget_s, threads)
    if proven is None or not np.isfinite(proven):
        return ProvenBound(value, relaxed.stop, stop)
    return ProvenBound(max(value, proven), relaxed.stop, stop)


def _relaxed_bound(lp: LinearProgram, relaxed: LpSolution) -> float | None:
    """The LP's value when it finished, else what its last duals prove."""
    if relaxed.objective is not None:
        return relaxed.objective
    if relaxed.row_dual is not None:
        stopped = dual_bound(lp, relaxed.row_dual)
        return stopped if np.isfinite(stopped) else None
    return None


def _deterministic_bound(lp: LinearProgram, budget: BoundBudget) -> ProvenBound:
    """:func:`prove_lower_bound` on ``budget`` instead of the clock."""
    start = time.perf_counter()
    relaxed = solve_linear_program(
        lp,
        threads=1,
        time_limit_s=budget.wall_s,
        presolve=False,
        iteration_limit=budget.lp_iterations,
    )
    lp_stop = "wall_clock" if relaxed.stop == "time_limit" else relaxed.stop
    value = _relaxed_bound(lp, relaxed)
    if value is None or lp.integer is None or budget.mip_checks <= 0:
        return ProvenBound(value, lp_stop, None, budget)
    left = budget.wall_s - (time.perf_counter() - start)
    if left <= 0:
        return ProvenBound(value, lp_stop, "wall_clock", budget)
    proven, stop = _dual_bound_in_child(lp, left, 1, checks=budget.mip_checks)
    if proven is None or not np.isfinite(proven):
        return ProvenBound(value, lp_stop, stop, budget)
    return ProvenBound(max(value, proven), lp_stop, stop, budget)


def _dual_bound_in_child(
    lp: LinearProgram,
    time_limit_s: float,
    threads: int | None,
    *,
    checks: int | None = None,
) -> tuple[float | None, str]:
    """HiGHS's best dual bound of ``lp`` with its integer columns, from a
    child process given ``time_limit_s`` and stopped once it has passed, and
    what stopped it. With ``checks`` the child stops itself after that many
    limit checks and has no clock of its own: the bound is the final one it
    sends, or, if ``time_limit_s`` passes first, the last it sent
    (``wall_clock``)."""
    context = _child_context()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_branch_and_bound,
        args=(lp, time_limit_s, threads, BOUND_MIP_OPTIONS, send, checks),
        daemon=True,
    )
    deadline = time.perf_counter() + time_limit_s
    best: float | None = None
    stop = "wall_clock" if checks is not None else "time_limit"
    try:
        _start_shielded(child)
        send.close()
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or not receive.poll(left):
                break
            try:
                bound, final = receive.recv()
            except EOFError:  # the child is done
                break
            best = float(bound) if best is None else max(best, float(bound))
            if final is not None:
                stop = final
                break
    finally:
        if child.is_alive():
            child.kill()
        if child.pid is not None:
            child.join()
        send.close()
        receive.close()
    return best, stop


def _child_context() -> Any:
    """Where the bound's children come from: forked by a server process that
    imported this module (numpy, SciPy, HiGHS) once, at the first bound of
    the process. A spawned child imported them again at every bound: 0.6 to
    0.9 s of CPU before its first simplex iteration, at every day of
    ``bench allocation`` and every ``simulate`` run. A fork of the server is
    a fork of a process with no threads and no open store (never of the
    caller, whose solver and store threads a fork would copy mid-state)."""
    context = multiprocessing.get_context("forkserver")
    # heeded when this starts the server: a server another module started
    # first is used as it is (its children import what they lack)
    context.set_forkserver_preload(["__main__", __name__])
    return context


#: Signals that stop the command (Ctrl-C, ``kill``): held back while the
#: bound's child is sent its problem.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _start_shielded(child: BaseProcess) -> None:
    """Start ``child``, a stop signal that comes meanwhile raised once the
    child has its problem (the caller's cleanup then kills the child), not
    midway, when the child read a truncated pickle and printed its
    traceback under ``tierflow: interrupted`` (QA). Python runs handlers in
    the main thread only, and only it can set them: elsewhere the child
    starts unshielded."""
    if threading.current_thread() is not threading.main_thread():
        child.start()
        return
    caught: list[int] = []
    previous = {
        number: signal.signal(number, lambda n, _frame: caught.append(n))
        for number in _STOP_SIGNALS
    }
    try:
        child.start()
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


def _branch_and_bound(
    lp: LinearProgram,
    time_limit_s: float,
    threads: int | None,
    options: dict[str, Any],
    send: Any,
    checks: int | None = None,
) -> None:
    """The child's run: each dual bound HiGHS proves goes to ``send`` as it
    rises, as ``(bound, None)``, and the final one last, as ``(bound,
    stop)``; the run interrupts itself at its limit, or at its ``checks``-th
    limit check (then with no time limit: the same stop on any machine)."""
    h = new_highs(
        time_limit_s=None if checks is not None else time_limit_s, threads=threads
    )
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
    seen = 0

    def report(event: Any) -> None:
        nonlocal sent, seen
        seen += 1
        bound = float(event.data_out.mip_dual_bound)
        if checks is not None:
            if seen >= checks:
                event.interrupt()
            return  # only the final bound, proven at the budget's end
        if np.isfinite(bound) and bound > sent:
            send.send((bound, None))
            sent = bound
        if time.perf_counter() > deadline:
            event.interrupt()

    h.cbMipInterrupt.subscribe(report)
    h.run()
    final = float(h.getInfo().mip_dual_bound)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        stop = "finished"
    elif checks is not None and status == highspy.HighsModelStatus.kInterrupt:
        stop = "mip_checks"
    elif status in (
        highspy.HighsModelStatus.kTimeLimit,
        highspy.HighsModelStatus.kInterrupt,
    ):
        stop = "time_limit"
    else:
        stop = "error"
    send.send((final if np.isfinite(final) else -math.inf, stop))
    send.close()
