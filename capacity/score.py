"""The capacity score, a node's ability to take more work now:
``clip(((nominal × staffing × open − backlog − forecast × forecast
congestion) / congestion − workload) / nominal, 0, 1)``: the room after the
backlog and the rest-of-day forecast (node capacity they take) in the
order's own units on its lane, as the live room per lane counts it
(``CapacityMonitor.room(lanes=True, forecast=True)``), less the order's
workload. Every function broadcasts (``docs/data.md``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def lane_congestion(
    congestion: NDArray[np.float64], node: Any, service: Any
) -> NDArray[np.float64]:
    """The congestion of each lane ``(node, service)`` (indices broadcast
    together; ``congestion`` is ``(n_nodes, n_services)``), 1 where
    ``service`` is -1 (no lane): what one unit of work shipped by it takes
    of the node's capacity. The one lookup that the batches' weights
    (``lane_weight``), the checkout's charge and confirmed backlog, and the
    forecast's lane all read."""
    svc = np.asarray(service)
    factor = congestion[node, np.maximum(svc, 0)]
    return np.asarray(np.where(svc >= 0, factor, 1.0), dtype=np.float64)


def lane_factor(congestion: NDArray[np.float64], node: int, service: int) -> float:
    """:func:`lane_congestion` of one lane, as a float: the checkout's
    per-shipment lookup, without the array calls that cost it more than
    the lookup (``service`` -1: no lane, 1)."""
    return 1.0 if service < 0 else float(congestion[node, service])


def free_capacity(
    nominal: Any,
    staffing: Any,
    backlog: Any,
    forecast: Any,
    outage: Any,
    *,
    congestion: Any = 1.0,
    workload: Any = 0.0,
    forecast_congestion: Any = 1.0,
) -> NDArray[np.float64]:
    """Units of an order's work the node can still take today on a lane of
    ``congestion`` (negative: overcommitted). The backlog is node capacity
    taken already (a confirmed order's work at its lane's congestion) and
    the forecast work takes ``forecast_congestion`` times itself (the lane
    it is expected to ship by): both come off the node before the lane's
    congestion divides what is left, as the batches count a lane."""
    open_ = 1.0 - np.asarray(outage, dtype=np.float64)
    effective = np.asarray(nominal) * np.asarray(staffing) * open_
    claims = np.asarray(forecast) * np.asarray(forecast_congestion)
    return np.asarray(
        (effective - np.asarray(backlog) - claims) / np.asarray(congestion)
        - np.asarray(workload),
        dtype=np.float64,
    )


def capacity_scores(
    nominal: Any,
    staffing: Any,
    backlog: Any,
    forecast: Any,
    outage: Any,
    *,
    congestion: Any = 1.0,
    workload: Any = 0.0,
    forecast_congestion: Any = 1.0,
) -> NDArray[np.float64]:
    """Score in [0, 1] (see ``docs/data.md``); all arguments broadcast."""
    free = free_capacity(
        nominal,
        staffing,
        backlog,
        forecast,
        outage,
        congestion=congestion,
        workload=workload,
        forecast_congestion=forecast_congestion,
    )
    nom = np.asarray(nominal, dtype=np.float64)
    # a subnormal capacity counts as the smallest normal one, as the
    # monitor's cached 1 / nominal does (its map and this scored a node of
    # 5e-324 apart: 1 here, ~2e-16 there)
    tiny = np.finfo(np.float64).tiny
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(nom > 0, free / np.maximum(nom, tiny), 0.0)
    return np.asarray(np.clip(ratio, 0.0, 1.0), dtype=np.float64)
