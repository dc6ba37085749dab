"""A linear program in row form, validated once: ``min c·x`` subject to
``row_lower <= A x <= row_upper`` and ``0 <= x <= col_upper``.

Models that are not assignment problems (the hindsight relaxation with its
whole-or-split choice per order) are built as one of these and solved by
:func:`tierflow.solver.linear_program.solve_linear_program`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from tierflow.data.errors import InputError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class LinearProgram:
    """``min c·x`` s.t. ``row_lower <= matrix @ x <= row_upper``, ``0 <= x <= col_upper``.

    Attributes
    ----------
    c
        ``(n,)`` objective coefficients (finite).
    matrix
        ``(m, n)`` constraint matrix (sparse; CSC is handed to HiGHS as it
        is, any other format converted first).
    row_lower, row_upper
        ``(m,)`` row bounds (``-inf``/``inf`` where a side is open).
    col_upper
        ``(n,)`` column upper bounds (``inf`` where open).
    integer
        ``(n,)`` integer columns, or ``None``.
    name
        For messages.
    """

    c: FloatArray
    matrix: sp.csr_matrix | sp.csc_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    col_upper: FloatArray
    name: str = "lp"
    #: Columns that must take integer values when the program is solved as
    #: a MIP (``None``: none); its LP relaxation ignores them.
    integer: NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        m, n = self.matrix.shape
        for field, arr, size in (
            ("c", self.c, n),
            ("row_lower", self.row_lower, m),
            ("row_upper", self.row_upper, m),
            ("col_upper", self.col_upper, n),
        ):
            if arr.shape != (size,):
                raise InputError(
                    f"{self.name}: shape {arr.shape}, expected ({size},)", field=field
                )
        if not np.isfinite(self.c).all():
            bad = int(np.flatnonzero(~np.isfinite(self.c))[0])
            raise InputError(
                f"{self.name}: index {bad}: not finite", field="c", value=self.c[bad]
            )
        if (self.row_lower > self.row_upper).any():
            bad = int(np.flatnonzero(self.row_lower > self.row_upper)[0])
            raise InputError(
                f"{self.name}: row {bad}: lower bound above upper bound",
                field="row_lower",
                value=self.row_lower[bad],
            )

    @property
    def n_cols(self) -> int:
        """Number of variables."""
        return int(self.matrix.shape[1])

    @property
    def n_rows(self) -> int:
        """Number of constraints."""
        return int(self.matrix.shape[0])
