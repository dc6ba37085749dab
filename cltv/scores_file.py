"""The CLTV scores file (``tierflow cltv score`` output), read and checked once.

``allocate --cltv-scores`` and ``simulate --cltv-scores`` both take it: one
reader holds both to the same rules (a spend is a finite number from 0 to
10⁹, the allocator's bound, a customer appears once, a row is complete), so
a file one accepts the other does not refuse for a different reason.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tierflow.cltv.segments import SEGMENTS
from tierflow.data.limits import MAX_AMOUNT
from tierflow.data.table_reader import Column, read_table


def read_cltv_scores(path: Path, *, complete: bool = True) -> pd.DataFrame:
    """The scores of ``path``, one row per customer.

    Parameters
    ----------
    path
        A CSV or Parquet file with the columns ``tierflow cltv score``
        writes (:data:`tierflow.cltv.lifecycle.SCORE_COLUMNS`).
    complete
        Whether ``p_active`` and ``segment`` must be there (to publish the
        scores to a store); without them only the spend is used. Where they
        are there, every row must fill them.

    Raises
    ------
    InputError
        Missing column, bad cell or repeated customer, with file, row, field
        and value.
    """
    columns = [
        Column("customer_id", identifier=True),
        # the allocator's bound on a spend (it refused one past it with an
        # order's index, after its store was made): here, by file and row
        Column("predicted_spend", "float", min=0.0, max=MAX_AMOUNT),
        Column("p_active", "float", min=0.0, max=1.0, required=complete),
        Column("segment", choices=SEGMENTS, required=complete),
    ]
    frame, _ = read_table(path, path.stem, columns, unique=[("customer_id",)])
    return frame
