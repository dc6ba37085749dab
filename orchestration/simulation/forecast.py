"""The simulated day's capacity plan: node capacities staffed in the morning
from the history (its mean day of work at the day's utilization), and the work
each node can still expect (shown to the capacity monitor; how much of the day
has passed comes from the history's
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


def history_day_workload(network: Network, demand: DemandForecast) -> float | None:
    """The history's mean work per day: ``demand``'s past orders' workload
    over their days (their dates at their destinations); ``None`` without a
    history (no past orders)."""
    pool = demand.pool
    if pool is None or pool.orders.n_orders == 0:
        return None
    days = np.unique(local_order_dates(pool.orders, network)).size
    return float(pool.orders.workload(network).sum()) / max(days, 1)


def staffed_capacity(
    network: Network, demand: DemandForecast, utilization: float
) -> NDArray[np.float64]:
    """The day's node capacities as staffed in the morning: scaled so the
    history's mean day of work (:func:`history_day_workload`) is
    ``utilization`` of the network. The day itself may come in above or
    below the plan; its own orders are not read.

    Raises
    ------
    InputError
        ``demand`` has no history: there is nothing known before the day to
        staff it from (``simulate`` always generates one).
    """
    per_day = history_day_workload(network, demand)
    if per_day is None:
        raise InputError("no orders to staff the day from", field="history")
    return scaled_capacity(network, per_day, utilization)


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
    the history's mean work per day (:func:`history_day_workload`), spread
    by capacity share.

    On the simulated day this is ``capacity × utilization``: the capacities
    are staffed from the same history (:func:`staffed_capacity`). It is
    computed from the history all the same, so the prior never depends on
    how the capacities were set (scaled from the day's own carts, that
    product would be the day's realized total). Without
    a history (``demand`` has no past orders) the plan's utilization of the
    capacity is all there is.
    """
    per_day = history_day_workload(network, demand)
    if per_day is None:
        return np.asarray(capacity * utilization, dtype=np.float64)
    share = capacity / max(float(capacity.sum()), 1e-12)
    return np.asarray(share * per_day, dtype=np.float64)


def rest_of_day_forecast(
    committed: NDArray[np.float64], prior: NDArray[np.float64], elapsed: float
) -> NDArray[np.float64]:
    """Work each node can still expect today: a run-rate shrunk toward a prior.

    The day's total is ``(committed + w · prior) / (elapsed + w)`` (early in
    the day the prior — the history's mean day at the node's capacity
    share, :func:`day_prior` — dominates; later the
    observed run rate), times the share of the day still to come.
    """
    total = (committed + PRIOR_WEIGHT * prior) / (elapsed + PRIOR_WEIGHT)
    return np.asarray(np.maximum(total * (1.0 - elapsed), 0.0), dtype=np.float64)
