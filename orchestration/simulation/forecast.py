"""The simulated day's capacity prior: node capacities at the day's
utilization, and the work each node can still expect (shown to the capacity
monitor; how much of the day has passed comes from the history's
:class:`~tierflow.capacity.demand_forecast.DemandForecast`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import DemandForecast, local_order_dates
from tierflow.data.errors import InputError
from tierflow.data.network import Network

#: Weight, in days of demand, of the capacity-share prior in the forecast.
PRIOR_WEIGHT = 0.25


def check_scalable(network: Network) -> None:
    """A simulated day scales the nodes' capacities to its work: a network
    whose every node has capacity 0 cannot be (``network validate`` only
    warns of it), so it is refused, naming the column, before a run starts."""
    if not float(network.capacity.sum()) > 0:
        raise InputError(
            "every node has capacity 0: the simulated day scales the nodes' "
            "capacities to its work, so at least one node needs some",
            file="nodes.csv",
            field="capacity_units_per_day",
        )


def scaled_capacity(
    network: Network, workload: float, utilization: float
) -> NDArray[np.float64]:
    """Node capacities scaled so ``workload`` is ``utilization`` of the total
    (a network without any capacity cannot be scaled: :func:`check_scalable`)."""
    check_scalable(network)
    scale = workload / (utilization * float(network.capacity.sum()))
    return np.asarray(network.capacity * scale, dtype=np.float64)


def day_prior(
    network: Network,
    capacity: NDArray[np.float64],
    demand: DemandForecast,
    utilization: float,
) -> NDArray[np.float64]:
    """Each node's work the day is expected to bring, as known before it:
    the history's mean work per day (``demand``'s past orders over their
    local dates), spread by capacity share.

    Not ``capacity × utilization``: the simulated day's capacities are
    scaled from its own carts' workload (:func:`scaled_capacity`), so that
    product is the day's realized total, which the monitor cannot know in
    the morning. Without a history (``demand`` has no past orders) the plan's
    utilization of the capacity is all there is.
    """
    pool = demand.pool
    if pool is None or pool.orders.n_orders == 0:
        return np.asarray(capacity * utilization, dtype=np.float64)
    days = np.unique(local_order_dates(pool.orders, network)).size
    per_day = float(pool.orders.workload(network).sum()) / max(days, 1)
    share = capacity / max(float(capacity.sum()), 1e-12)
    return np.asarray(share * per_day, dtype=np.float64)


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
