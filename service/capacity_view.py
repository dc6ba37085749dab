"""The capacity map as JSON (``GET /v1/capacity``, the stream's ``capacity``
events) and the US outline the operations page draws it on.

The outline is offline: every contiguous-US ZIP centroid (the ``zipcodes``
package, as in :mod:`tierflow.capacity.plot`) binned into a 0.5° grid; each occupied
cell is one dot of the SVG map, so the dots trace the country and its
population. Contains GeoNames data (CC BY 4.0).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import numpy as np

from tierflow.capacity.monitor import CHANGED_KINDS, stamp_instant
from tierflow.data.geography import map_extent, zip_points_within
from tierflow.data.network import NODE_KINDS, Network
from tierflow.data.rates import SERVICES
from tierflow.orchestration.checkout.router import OnlineRouter

#: The largest utilization reported (a million times the nominal capacity);
#: beyond, the figure says only "hopelessly overbooked".
MAX_UTILIZATION = 1e6
#: Contiguous US bounding box (lon, lat), as :mod:`tierflow.capacity.plot` draws it.
CELL_DEG = 0.5


def capacity_version(router: OnlineRouter) -> tuple[int, int]:
    """Changes whenever the router's capacity map does (applied events, log seq)."""
    mon = router.monitor
    return (int(mon.n_applied), int(mon.last_seq))


def map_version(router: OnlineRouter) -> tuple[int, int, int]:
    """Changes whenever anything an answer reads from the map does: the
    capacity version and the rest-of-day forecast's revisions (what the live
    hub watches; :func:`capacity_version` is the wire's ``version``)."""
    return router.monitor.state_key


def demand_payload(router: OnlineRouter) -> dict[str, Any] | None:
    """The rest-of-day forecast the scores carry (``None``: the service
    runs without one, or has not estimated it yet)."""
    demand = router.demand
    if demand is None or demand.outlook is None:
        return None
    return demand.outlook.to_dict()


def capacity_payload(
    router: OnlineRouter, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Score and inputs of every node (the ``CapacityOut`` schema); the map
    is ``degraded`` (with a note) when it is stale at ``now`` (default: the
    wall clock; see the router's ``capacity_max_age_s``).

    The map, its time and the forecast are read together under the router's
    lock: the capacity follower's thread changes them between two events.
    """
    net = router.network
    mon = router.monitor
    with router.lock:
        table = mon.table()
        congestion = mon.congestion.copy()
        set_at = mon.set_at(CHANGED_KINDS)
        set_by = mon.set_by(CHANGED_KINDS)
        util = mon.utilization()
        lanes = mon.lane_rooms()
        as_of = mon.as_of()
        version = list(capacity_version(router))
        demand = demand_payload(router)
    nominal = table["nominal_capacity"].to_numpy(dtype=np.float64)
    free = table["free_capacity"].to_numpy(dtype=np.float64)
    closed = table["outage"].to_numpy(dtype=bool)
    # a backlog on a tiny capacity (1e9 units on 1e-300) would overflow to
    # inf, which is no JSON number: past MAX_UTILIZATION the figure is capped
    util = np.clip(util, 0.0, MAX_UTILIZATION)
    # a closed node scores 0 (its free room is 0 in the table already); its
    # utilization is 1 (nothing workable: CapacityMonitor.utilization)
    score = np.where(closed, 0.0, table["score"].to_numpy(dtype=np.float64))
    # the lanes each node ships, by service: which lane is delayed, not only
    # the largest delay (a delay sent for a service the node does not ship
    # changes nothing it ships, as max_congestion leaves it out)
    offered = [(k, s, net.offers(k).tolist()) for k, s in enumerate(SERVICES)]
    nodes = [
        {
            "node_id": net.node_ids[i],
            "name": net.node_names[i],
            "kind": NODE_KINDS[int(net.node_kind[i])],
            "region": net.node_regions[i],
            "lat": round(float(net.node_lat[i]), 4),
            "lon": round(float(net.node_lon[i]), 4),
            "score": round(float(score[i]), 4),
            "utilization": round(float(util[i]), 4),
            "nominal_capacity": round(float(nominal[i]), 2),
            "staffing_pct": round(float(table["staffing_pct"].iat[i]), 2),
            "backlog": round(float(table["backlog"].iat[i]), 2),
            "forecast_rest_of_day": round(
                float(table["forecast_rest_of_day"].iat[i]), 2
            ),
            # + 0.0: room a hair below zero (0.3 - (0.1 + 0.2)) rounds to -0.0
            "free_capacity": round(float(free[i]), 2) + 0.0,
            "outage": bool(closed[i]),
            "max_congestion": round(float(table["max_congestion"].iat[i]), 3),
            "congestion": {
                s: round(float(congestion[i, k]), 3) for k, s, on in offered if on[i]
            },
            # each lane's room as the checkout prices an order by it: a node
            # at 0.60 with its two_day lane at x3 is all but full by two_day
            "lanes": lanes[i],
            "changed_at": {
                k: stamp_instant(float(set_at[k][i])) for k in CHANGED_KINDS
            },
            "changed_by": {k: set_by[k][i] for k in CHANGED_KINDS},
        }
        for i in range(net.n_nodes)
    ]
    stale = router.capacity_staleness(now or dt.datetime.now(dt.UTC))
    # without its store, or with its event log unreadable, the map hears no
    # event from elsewhere: degraded, as every checkout answer of that router
    # says (/ops said healthy while the answers said degraded)
    unread = router.capacity_unread
    notes = [*router.unavailable_store, *([stale] if stale else [])]
    notes += [router.schema_note] if router.schema_note else []
    notes += [unread] if unread else []
    return {
        "as_of": None if as_of is None else as_of.isoformat(),
        "version": version,
        "overflow_threshold": router.policy.overflow_score_threshold,
        "nodes": nodes,
        "degraded": bool(notes),
        "notes": notes,
        "demand_forecast": demand,
    }


def map_outline(network: Network) -> dict[str, Any]:
    """The ops page's map of ``network``: the contiguous US widened to every
    node (:func:`~tierflow.data.geography.map_extent`)."""
    return us_outline_cells(*map_extent(network.node_lon, network.node_lat))


@lru_cache(maxsize=4)
def us_outline_cells(
    lon_range: tuple[float, float], lat_range: tuple[float, float]
) -> dict[str, Any]:
    """Occupied 0.5° cells within the ranges: ``{"cell", "lon", "lat",
    "bounds"}`` with cell centres as flat lists (about 3,000 cells for the
    contiguous US)."""
    lat, lon = zip_points_within(lon_range, lat_range)
    x0, y0 = lon_range[0], lat_range[0]
    ix = np.floor((lon - x0) / CELL_DEG).astype(np.int64)
    iy = np.floor((lat - y0) / CELL_DEG).astype(np.int64)
    cells = np.unique(np.stack([ix, iy], axis=1), axis=0)
    return {
        "cell": CELL_DEG,
        "lon": np.round(x0 + (cells[:, 0] + 0.5) * CELL_DEG, 3).tolist(),
        "lat": np.round(y0 + (cells[:, 1] + 0.5) * CELL_DEG, 3).tolist(),
        "bounds": {"lon": list(lon_range), "lat": list(lat_range)},
        "attribution": "Map dots: US ZIP centroids (zipcodes; contains GeoNames data, "
        "CC BY 4.0)",
    }
