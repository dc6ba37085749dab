"""Shared HiGHS plumbing: a quiet ``Highs`` instance and a model from arrays."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray

from tierflow.data.stop_signals import held_stop_signals
from tierflow.solver.matrix import MatrixModel
from tierflow.solver.params import mip_threads

_banner_lock = threading.Lock()
_banner_shown = False

#: The thread count of the task scheduler HiGHS runs this thread's solves on
#: (``threads``; 0 is HiGHS's default): HiGHS starts one per calling thread,
#: with the ``threads`` option of the thread's first run, and a later run
#: there asking for another count fails ("HiGHS Not Set") unless it is reset.
_scheduler = threading.local()


def new_highs(
    *, time_limit_s: float | None = None, threads: int | None = None, seed: int = 0
) -> Any:
    """A silent ``highspy.Highs`` with the common parameters set.

    The first ``Highs()`` of a process prints a banner to stdout before any
    option can be set, which would corrupt ``--json`` output; it is swallowed
    here at the file-descriptor level, once.
    """
    global _banner_shown
    with _banner_lock:
        if not _banner_shown:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                h = highspy.Highs()  # type: ignore[no-untyped-call]
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            _banner_shown = True
        else:
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", int(seed))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(max(time_limit_s, 1e-3)))
    threads = mip_threads(threads)
    if threads is not None:
        h.setOptionValue("threads", threads)
    return h


def set_mip_start(h: Any, columns: NDArray[np.float64]) -> None:
    """Give ``h`` a MIP start (``columns``), with HiGHS's presolve off.

    HiGHS 1.16 with a MIP start and presolve on never returned from some
    runs: in the root's reduced-cost sub-MIP, its presolve
    (``strengthenInequalities``) ran on past any time limit and past
    Ctrl-C, which its interrupt checks never reach. The hindsight plan's
    LP core of ``bench allocation`` day 0 at tight capacity hung with 4 of
    6 seeds (over 15 minutes against a 10.8 s limit); without the start, or
    with the start and presolve off, every seed solved it optimally in
    2.4-4.6 s (``tests/data/highs/README.md``). The same pairing also
    misreports a start's cost (:func:`tierflow.solver.highs.stale_columns`).
    """
    h.setOptionValue("presolve", "off")
    sol = highspy.HighsSolution()
    sol.col_value = columns
    h.setSolution(sol)


def run_highs(h: Any) -> None:
    """``h.run()``, on a scheduler with the thread count ``h`` asks for
    (this thread's, restarted when it runs another count)."""
    wanted = int(h.getOptionValue("threads")[1])
    started = getattr(_scheduler, "threads", None)
    if started is not None and wanted not in (0, started):
        highspy.Highs.resetGlobalScheduler(True)
        started = None
    if started is None:
        _scheduler.threads = wanted
    # HiGHS runs in C++, where Python's handler cannot run: a Ctrl-C waited
    # for the end of the run, the whole time limit (25 s of a 30 s solve).
    # Its interrupt checks (simplex, IPM, MIP) run Python on this thread,
    # where the stop signal is taken (held_stop_signals); the run stops at
    # the next check, and the handler the signal was taken from gets it as
    # the run returns (KeyboardInterrupt), so no caller goes on with the
    # interrupted run's result
    with held_stop_signals() as held:

        def interrupt(event: Any) -> None:
            if held.taken is not None:
                event.interrupt()

        checks = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt)
        watched = checks if held.handlers else ()
        for check in watched:
            check.subscribe(interrupt)
        try:
            h.run()
        finally:
            for check in watched:
                check.unsubscribe(interrupt)
    held.deliver()


def model_status(h: Any, model: MatrixModel) -> Any:
    """HiGHS's model status of ``model`` after a run, with one correction: a
    model without columns is ``kModelEmpty`` to HiGHS whatever its rows say,
    yet a row that needs a nonzero activity (an item that must be assigned
    and has no eligible agent) makes it infeasible."""
    native = h.getModelStatus()
    if (
        native == highspy.HighsModelStatus.kModelEmpty
        and model.n_cols == 0
        and ((model.row_lower > 0).any() or (model.row_upper < 0).any())
    ):
        return highspy.HighsModelStatus.kInfeasible
    return native


def _highs_bounds(
    col_upper: NDArray[np.float64],
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Column upper, row lower and row upper bounds with numpy's infinities
    as HiGHS's (``kHighsInf``)."""
    inf = highspy.kHighsInf
    return (
        np.where(np.isinf(col_upper), inf, col_upper).astype(np.float64),
        np.where(np.isinf(row_lower), -inf, row_lower).astype(np.float64),
        np.where(np.isinf(row_upper), inf, row_upper).astype(np.float64),
    )


def highs_lp(
    c: NDArray[np.float64],
    matrix: Any,
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
    col_upper: NDArray[np.float64],
) -> Any:
    """A column-wise ``HighsLp`` from arrays (``x >= 0``; infinite bounds as
    HiGHS's infinity), built straight from the sparse matrix."""
    lp = highspy.HighsLp()
    n_cols = int(matrix.shape[1])
    lp.num_col_ = n_cols
    lp.num_row_ = int(matrix.shape[0])
    lp.col_cost_ = c
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_, lp.row_lower_, lp.row_upper_ = _highs_bounds(
        col_upper, row_lower, row_upper
    )
    import scipy.sparse as sp  # on first use, as in tierflow.solver.matrix

    csc = sp.csc_matrix(matrix)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    return lp


def pass_lp(
    h: Any,
    c: NDArray[np.float64],
    matrix: Any,
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
    col_upper: NDArray[np.float64],
) -> Any:
    """Load the LP of :func:`highs_lp` into ``h`` through ``passModel``'s
    array form: HiGHS copies each array once in C++. Setting a ``HighsLp``'s
    fields converts them element by element in Python (0.8 s of the 1.2 s
    handoff of the demo day's hindsight relaxation, 8.7 M nonzeros); a
    CSC matrix is passed as it is, without a conversion or a copy. Returns
    ``passModel``'s status."""
    import scipy.sparse as sp  # on first use, as in tierflow.solver.matrix

    csc = sp.csc_matrix(matrix)
    n_rows, n_cols = (int(n) for n in csc.shape)
    return h.passModel(
        n_cols,
        n_rows,
        int(csc.indptr[-1]),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        np.ascontiguousarray(c, dtype=np.float64),
        np.zeros(n_cols),
        *_highs_bounds(col_upper, row_lower, row_upper),
        csc.indptr.astype(np.int32, copy=False),
        csc.indices.astype(np.int32, copy=False),
        csc.data.astype(np.float64, copy=False),
        # every column continuous: a null pointer cannot be passed here
        np.zeros(n_cols, dtype=np.int32),
    )


def pass_model(h: Any, model: MatrixModel, *, integer: bool) -> None:
    """Load ``model`` into ``h`` column-wise, straight from the arrays.

    For the LP (``integer=False``) columns have no upper bound: ``x <= 1`` is
    implied by the assignment rows, and leaving it out keeps the duals unique
    (a column at an explicit bound would let item duals float).
    """
    upper = model.col_upper if integer else np.full(model.n_cols, np.inf)
    lp = highs_lp(model.c, model.matrix, model.row_lower, model.row_upper, upper)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * model.n_cols
    h.passModel(lp)
