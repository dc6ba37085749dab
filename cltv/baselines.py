"""The baselines every CLTV forecast is compared with, in the same run.

* ``bgnbd_gg``: BG/NBD x Gamma-Gamma expected spend (the field's standard);
* ``naive_run_rate``: each customer's repeat spend so far (all spend after the
  first purchase day) per day of age, times the horizon.

Each is also calibrated exactly like our model (``<name>_calibrated``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tierflow.cltv.features import BtydFit, CustomerHistory

FloatArray = NDArray[np.float64]

BASELINES = ("bgnbd_gg", "naive_run_rate")
#: Suffix of a forecast after the shape and level calibration.
CALIBRATED = "_calibrated"


def calibrated_name(name: str) -> str:
    return f"{name}{CALIBRATED}"


def naive_run_rate(history: CustomerHistory, horizon_days: int) -> FloatArray:
    """Repeat spend to date per day since the first purchase, times the horizon."""
    frame = history.frame
    repeat_spend = frame["total_spend"].to_numpy() - frame["first_value"].to_numpy()
    age = frame["tenure_days"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(age > 0, repeat_spend / age, 0.0)
    return np.asarray(np.maximum(rate, 0.0) * horizon_days, dtype=np.float64)


def baseline_forecasts(
    history: CustomerHistory, btyd: BtydFit, horizon_days: float
) -> dict[str, FloatArray]:
    """Every baseline's forecast for the next ``horizon_days``, by name."""
    return {
        "bgnbd_gg": btyd.expected_spend(history, horizon_days),
        "naive_run_rate": naive_run_rate(history, int(horizon_days)),
    }
