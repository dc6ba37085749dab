"""Day numbers: days since 1970-01-01, the unit of every ``day`` in the logs."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Day 0.
EPOCH = np.datetime64("1970-01-01", "D")


def day_number(date: object) -> int:
    """Days since 1970-01-01 of a date-like value (the unit of every ``day``)."""
    stamp = np.datetime64(pd.Timestamp(date).date(), "D")
    return int((stamp - EPOCH) // np.timedelta64(1, "D"))


def day_to_date(day: int) -> pd.Timestamp:
    """Inverse of :func:`day_number`."""
    return pd.Timestamp(EPOCH + np.timedelta64(int(day), "D"))
