"""Great-circle distance and carrier zones 2..8 (the UPS/FedEx mileage bands,
upper bounds inclusive), vectorized. The bands: ``docs/data.md``."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Mean Earth radius in statute miles (IUGG mean radius 6371.0088 km).
EARTH_RADIUS_MI = 3958.7613
#: Inclusive upper bounds (miles) of zones 2..7; anything farther is zone 8.
ZONE_BOUNDS_MI: tuple[float, ...] = (150.0, 300.0, 600.0, 1000.0, 1400.0, 1800.0)
#: Smallest and largest zone.
MIN_ZONE = 2
MAX_ZONE = 8
#: Number of zones (2..8).
N_ZONES = MAX_ZONE - MIN_ZONE + 1

_BOUNDS = np.array(ZONE_BOUNDS_MI)


def great_circle_miles(
    lat1: Any, lon1: Any, lat2: Any, lon2: Any
) -> NDArray[np.float64]:
    """Haversine distance in miles; the arguments broadcast like numpy arrays.

    Examples
    --------
    ``great_circle_miles(lat[:, None], lon[:, None], dlat[None], dlon[None])``
    is the full node × destination matrix.
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64)) - np.radians(
        np.asarray(lon1, dtype=np.float64)
    )
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return np.asarray(
        2.0 * EARTH_RADIUS_MI * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))),
        dtype=np.float64,
    )


def zone_for_miles(miles: Any) -> NDArray[np.int8]:
    """Carrier zone (2..8) of each distance in miles (any array shape)."""
    idx = np.searchsorted(_BOUNDS, np.asarray(miles, dtype=np.float64), side="left")
    return (idx + MIN_ZONE).astype(np.int8)
