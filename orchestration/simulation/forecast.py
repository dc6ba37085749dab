"""The simulated day's demand forecast: how much of the day has passed, and
the work each node can still expect (shown to the capacity monitor)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.order_generator import HOURLY_PROFILE
from tierflow.orchestration.simulation.settings import new_york

#: Weight, in days of demand, of the capacity-share prior in the forecast.
PRIOR_WEIGHT = 0.25


def scaled_capacity(
    network: Network, workload: float, utilization: float
) -> NDArray[np.float64]:
    """Node capacities scaled so ``workload`` is ``utilization`` of the total."""
    scale = workload / (utilization * float(network.capacity.sum()))
    return np.asarray(network.capacity * scale, dtype=np.float64)


def intraday_share(at: dt.datetime, day: dt.date) -> float:
    """Share of ``day``'s orders placed before ``at`` (New York clock), from the
    historical intraday profile the order generator also follows (0 before
    the day, 1 after it)."""
    midnight = new_york(day, dt.time(0))
    hours = min(max((at - midnight).total_seconds() / 3600.0, 0.0), 24.0)
    cumulative = (
        np.concatenate([[0.0], np.cumsum(HOURLY_PROFILE)]) / HOURLY_PROFILE.sum()
    )
    return float(np.interp(hours, np.arange(25), cumulative))


def rest_of_day_forecast(
    committed: NDArray[np.float64], prior: NDArray[np.float64], elapsed: float
) -> NDArray[np.float64]:
    """Work each node can still expect today: a run-rate shrunk toward a prior.

    The day's total is ``(committed + w · prior) / (elapsed + w)`` (early in
    the day the prior — capacity share × utilization — dominates; later the
    observed run rate), times the share of the day still to come.
    """
    total = (committed + PRIOR_WEIGHT * prior) / (elapsed + PRIOR_WEIGHT)
    return np.asarray(np.maximum(total * (1.0 - elapsed), 0.0), dtype=np.float64)
