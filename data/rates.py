"""The carrier tables: rate card (weight brackets per service and zone) and
transit days, with vectorized lookups, and billed weight by the
dimensional-weight rule. Pricing rules: ``docs/data.md``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_BRACKET_KG, MAX_COST
from tierflow.data.readonly import ReadOnlyArrays
from tierflow.data.table_reader import Column, cell_error, read_table
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
class RateCard(ReadOnlyArrays):
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
            _RATE_COLUMNS,
            unique=[("service", "zone", "max_weight_kg")],
        )
        transit, tpath = read_table(
            folder, "transit", _TRANSIT_COLUMNS, unique=[("service", "zone")]
        )
        max_w, cost, offered = _brackets(rates, rpath)
        _require_every_zone(np.isnan(cost[:, :, 0]), offered, "rate", rpath)
        days = _transit_days(transit)
        _require_every_zone(days < 0, offered, "transit time", tpath)
        top = np.where(np.isfinite(max_w), max_w, -np.inf).max(axis=-1)
        top = np.where(np.isfinite(top), top, 1.0)
        return cls(max_w, cost, top, days, offered)


_RATE_COLUMNS = (
    Column("service", choices=SERVICES),
    Column("zone", "int", min=MIN_ZONE, max=MAX_ZONE),
    Column("max_weight_kg", "float", min=0.0, min_exclusive=True, max=MAX_BRACKET_KG),
    Column("cost", "float", min=0.0, max=MAX_COST),
)
_TRANSIT_COLUMNS = (
    Column("service", choices=SERVICES),
    Column("zone", "int", min=MIN_ZONE, max=MAX_ZONE),
    Column("days", "int", min=0, max=30),
)


def _brackets(
    rates: pd.DataFrame, path: Path
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Padded bracket bounds and costs per (service, zone), and the services
    priced at all; a cost that falls as the weight rises is an error."""
    raw = rates.attrs["raw"]
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
            message = f"cost falls below the {w[pos - 1]:g} kg bracket's {c[pos - 1]:g}"
            row = int(grp["_row"].iloc[pos])
            raise cell_error(path, raw, row - 2, "cost", message)
        max_w[si, zi, : len(w)] = w
        cost[si, zi, : len(w)] = c
        cost[si, zi, len(w) :] = c[-1]
        offered[si] = True
    return max_w, cost, offered


def _transit_days(transit: pd.DataFrame) -> NDArray[np.int16]:
    """Carrier days per (service, zone); -1 where the table has none."""
    days = np.full((len(SERVICES), N_ZONES), -1, dtype=np.int16)
    for s, z, d in zip(
        transit["service"], transit["zone"], transit["days"], strict=True
    ):
        days[SERVICES.index(str(s)), int(z) - MIN_ZONE] = int(d)
    return days


def _require_every_zone(
    missing: NDArray[np.bool_], offered: NDArray[np.bool_], what: str, path: Path
) -> None:
    """Every offered service must have a ``what`` in every zone."""
    for si in np.flatnonzero(offered).tolist():
        zones = np.flatnonzero(missing[si])
        if zones.size:
            raise InputError(
                f"service {SERVICES[si]} has no {what} for this zone",
                file=path.name,
                field="zone",
                value=int(zones[0]) + MIN_ZONE,
            )
