"""The capacity score: a node's ability to take more work now, in [0, 1].

All quantities are complexity-weighted units (:mod:`tierflow.data.complexity`):

``effective = nominal × staffing × (not closed) / congestion[service]``
``free = effective − backlog − forecast − workload``
``score = clip(free / nominal, 0, 1)``  (0 when ``nominal`` is 0)

* ``nominal`` — units per day the node is built for;
* ``staffing`` — fraction of planned staff present (a 70 % shift handles
  70 % of the work);
* ``backlog`` — units already waiting; ``forecast`` — units predicted to
  arrive for the rest of the day; both are claims on today's capacity;
* ``congestion`` — the carrier lane's delay factor for the order's service
  (1 = normal, 2 = pickups at half rate), which throttles what the node can
  push out by that service;
* ``workload`` — the order being placed: a complex order (fragile, heavy,
  oversize, hazmat) uses more units, so the same node scores lower for it
  than for a simple one.

Every function broadcasts, so the whole network (or a batch of orders ×
every node) is one array expression.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def free_capacity(
    nominal: Any,
    staffing: Any,
    backlog: Any,
    forecast: Any,
    outage: Any,
    *,
    congestion: Any = 1.0,
    workload: Any = 0.0,
) -> NDArray[np.float64]:
    """Units the node can still take today (negative: overcommitted)."""
    open_ = 1.0 - np.asarray(outage, dtype=np.float64)
    effective = (
        np.asarray(nominal) * np.asarray(staffing) * open_ / np.asarray(congestion)
    )
    return np.asarray(
        effective - np.asarray(backlog) - np.asarray(forecast) - np.asarray(workload),
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
) -> NDArray[np.float64]:
    """Score in [0, 1] (see the module docstring); all arguments broadcast."""
    free = free_capacity(
        nominal,
        staffing,
        backlog,
        forecast,
        outage,
        congestion=congestion,
        workload=workload,
    )
    nom = np.asarray(nominal, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(nom > 0, free / np.where(nom > 0, nom, 1.0), 0.0)
    return np.asarray(np.clip(ratio, 0.0, 1.0), dtype=np.float64)
