"""The carrier tables: rate card and transit times, with vectorized lookups.

``rates.csv`` (``service, zone, max_weight_kg, cost``) is a carrier rate card:
a parcel of billed weight ``w`` in zone ``z`` by service ``s`` costs the
``cost`` of the lightest bracket of ``(s, z)`` whose ``max_weight_kg >= w``.
A parcel heavier than the heaviest bracket ships as ``ceil(w / max)`` equal
parcels, each priced at its own weight (what shippers do rather than pay
freight). ``transit.csv`` (``service, zone, days``) gives carrier transit
days; see :mod:`tierflow.data.delivery_calendar` for how days are counted.

Billed weight follows the carriers' dimensional-weight rule:
``max(actual kg, volume cm³ / DIM_DIVISOR)`` with the common divisor 5000
cm³/kg (139 in³/lb), computed per shipment over all its units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.table_reader import Column, read_table
from tierflow.data.zones import MAX_ZONE, MIN_ZONE, N_ZONES

#: Service levels, fastest first; a node's ``services`` is a bitmask over this.
SERVICES: tuple[str, ...] = ("next_day", "two_day", "ground", "economy")
#: Dimensional-weight divisor in cm³ per kg (UPS/FedEx domestic: 139 in³/lb).
DIM_DIVISOR_CM3_PER_KG = 5000.0


def service_index(name: str) -> int:
    """Position of ``name`` in :data:`SERVICES`."""
    try:
        return SERVICES.index(name)
    except ValueError:
        raise InputError(
            f"unknown service (one of {list(SERVICES)})", field="service", value=name
        ) from None


def billed_weight_kg(weight_kg: Any, volume_cm3: Any) -> NDArray[np.float64]:
    """Carrier billed weight: the larger of actual and dimensional weight."""
    return np.maximum(
        np.asarray(weight_kg, dtype=np.float64),
        np.asarray(volume_cm3, dtype=np.float64) / DIM_DIVISOR_CM3_PER_KG,
    )


@dataclass(frozen=True, slots=True, eq=False)
class RateCard:
    """Rates and transit days per (service, zone), as padded numpy arrays.

    Attributes
    ----------
    max_weight
        ``(n_services, 7, n_brackets)`` bracket upper bounds in kg, sorted,
        padded with ``inf``.
    cost
        Same shape, bracket cost; padding repeats the heaviest bracket.
    top_weight
        ``(n_services, 7)`` heaviest bracket of each (service, zone).
    transit_days
        ``(n_services, 7)`` carrier days; -1 where the service is not offered.
    offered
        ``(n_services,)`` services with a complete table.
    """

    max_weight: NDArray[np.float64]
    cost: NDArray[np.float64]
    top_weight: NDArray[np.float64]
    transit_days: NDArray[np.int16]
    offered: NDArray[np.bool_]

    def __post_init__(self) -> None:
        for name in ("max_weight", "cost", "top_weight", "transit_days", "offered"):
            getattr(self, name).setflags(write=False)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuild through __init__ so unpickled arrays are read-only again.
        return (
            type(self),
            tuple(getattr(self, f.name) for f in dataclasses.fields(self)),
        )

    def price(self, service: Any, zone: Any, billed_kg: Any) -> NDArray[np.float64]:
        """Shipping cost; ``service`` (index), ``zone`` (2..8) and weight broadcast.

        The cost of a service that is not offered is ``nan``.
        """
        s = np.asarray(service, dtype=np.intp)
        z = np.asarray(zone, dtype=np.intp) - MIN_ZONE
        w = np.asarray(billed_kg, dtype=np.float64)
        s, z, w = np.broadcast_arrays(s, z, w)
        top = self.top_weight[s, z]
        parcels = np.maximum(np.ceil(w / top), 1.0)
        per = w / parcels
        brackets = self.max_weight[s, z]  # (..., n_brackets)
        k = np.minimum((brackets < per[..., None]).sum(axis=-1), brackets.shape[-1] - 1)
        cost = np.take_along_axis(self.cost[s, z], k[..., None], axis=-1)[..., 0]
        return np.asarray(cost * parcels, dtype=np.float64)

    def transit(self, service: Any, zone: Any) -> NDArray[np.int16]:
        """Carrier transit days (``service`` index and ``zone`` broadcast)."""
        s = np.asarray(service, dtype=np.intp)
        z = np.asarray(zone, dtype=np.intp) - MIN_ZONE
        return np.asarray(self.transit_days[s, z])

    @classmethod
    def from_folder(cls, folder: Path) -> RateCard:
        """Read and validate ``rates`` and ``transit`` tables of a network folder.

        Raises
        ------
        InputError
            Bad cells, duplicate brackets, a rate that falls as weight rises,
            or a service whose zones 2..8 are not all priced and timed.
        """
        rates, rpath = read_table(
            folder,
            "rates",
            [
                Column("service", choices=SERVICES),
                Column("zone", "int", min=MIN_ZONE, max=MAX_ZONE),
                Column("max_weight_kg", "float", min=0.0, min_exclusive=True),
                Column("cost", "float", min=0.0),
            ],
            unique=[("service", "zone", "max_weight_kg")],
        )
        transit, tpath = read_table(
            folder,
            "transit",
            [
                Column("service", choices=SERVICES),
                Column("zone", "int", min=MIN_ZONE, max=MAX_ZONE),
                Column("days", "int", min=0, max=30),
            ],
            unique=[("service", "zone")],
        )
        raw_cost = rates.attrs["raw"]["cost"].to_numpy()
        n_s = len(SERVICES)
        rates = rates.assign(
            _row=np.arange(len(rates)) + 2,
            _s=rates["service"].map(SERVICES.index),
        ).sort_values(["_s", "zone", "max_weight_kg"], kind="stable")
        counts = rates.groupby(["_s", "zone"]).size()
        n_b = int(counts.max()) if len(counts) else 1
        max_w = np.full((n_s, N_ZONES, n_b), np.inf)
        cost = np.full((n_s, N_ZONES, n_b), np.nan)
        offered = np.zeros(n_s, dtype=bool)
        for (s, z), grp in rates.groupby(["_s", "zone"], sort=True):
            si, zi = int(s), int(z) - MIN_ZONE
            w = grp["max_weight_kg"].to_numpy()
            c = grp["cost"].to_numpy()
            falling = np.flatnonzero(np.diff(c) < 0)
            if falling.size:
                pos = int(falling[0]) + 1
                row = int(grp["_row"].iloc[pos])
                raise InputError(
                    f"cost falls below the {w[pos - 1]:g} kg bracket's {c[pos - 1]:g}",
                    file=rpath.name,
                    row=row,
                    field="cost",
                    value=raw_cost[row - 2],
                )
            max_w[si, zi, : len(w)] = w
            cost[si, zi, : len(w)] = c
            cost[si, zi, len(w) :] = c[-1]
            offered[si] = True
        for si in np.flatnonzero(offered).tolist():
            missing = np.flatnonzero(np.isnan(cost[si, :, 0]))
            if missing.size:
                raise InputError(
                    f"service {SERVICES[si]} has no rate for this zone",
                    file=rpath.name,
                    field="zone",
                    value=int(missing[0]) + MIN_ZONE,
                )
        days = np.full((n_s, N_ZONES), -1, dtype=np.int16)
        for s, z, d in zip(
            transit["service"], transit["zone"], transit["days"], strict=True
        ):
            days[SERVICES.index(str(s)), int(z) - MIN_ZONE] = int(d)
        for si in np.flatnonzero(offered).tolist():
            missing = np.flatnonzero(days[si] < 0)
            if missing.size:
                raise InputError(
                    f"service {SERVICES[si]} has no transit time for this zone",
                    file=tpath.name,
                    field="zone",
                    value=int(missing[0]) + MIN_ZONE,
                )
        top = np.where(np.isfinite(max_w), max_w, -np.inf).max(axis=-1)
        top = np.where(np.isfinite(top), top, 1.0)
        return cls(max_w, cost, top, days, offered)
