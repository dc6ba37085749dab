"""Shared HiGHS plumbing: a quiet ``Highs`` instance and a model from arrays."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from tierflow.solver.matrix import MatrixModel

_banner_lock = threading.Lock()
_banner_shown = False


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
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    return h


def pass_model(h: Any, model: MatrixModel, *, integer: bool) -> None:
    """Load ``model`` into ``h`` column-wise, straight from the arrays.

    For the LP (``integer=False``) columns have no upper bound: ``x <= 1`` is
    implied by the assignment rows, and leaving it out keeps the duals unique
    (a column at an explicit bound would let item duals float).
    """
    lp = highspy.HighsLp()
    inf = highspy.kHighsInf
    lp.num_col_ = model.n_cols
    lp.num_row_ = int(model.matrix.shape[0])
    lp.col_cost_ = model.c
    lp.col_lower_ = np.zeros(model.n_cols)
    lp.col_upper_ = model.col_upper if integer else np.full(model.n_cols, inf)
    lp.row_lower_ = np.where(np.isinf(model.row_lower), -inf, model.row_lower)
    lp.row_upper_ = np.where(np.isinf(model.row_upper), inf, model.row_upper)
    csc = sp.csc_matrix(model.matrix)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * model.n_cols
    h.passModel(lp)
