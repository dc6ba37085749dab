"""The fulfillment network: a folder of tables validated on load and held as
read-only numpy arrays, with the node × destination distance and zone
matrices precomputed. Tables, columns and validation: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.carrier_calendar import calendar_summary, carrier_calendar
from tierflow.data.complexity import ComplexityWeights
from tierflow.data.delivery_calendar import DeliveryCalendar
from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_COST, MAX_POPULATION, MAX_UNITS
from tierflow.data.network_warnings import network_warnings
from tierflow.data.rates import SERVICES, RateCard, billed_weight_kg, service_index
from tierflow.data.readonly import ReadOnlyArrays
from tierflow.data.swapped_coordinates import (
    check_null_island,
    check_swapped_coordinates,
    check_swapped_destinations,
    far_node_warnings,
    flipped_destination_warnings,
    swapped_coordinate_warnings,
)
from tierflow.data.table_reader import (
    Column,
    cell_error,
    check_reference,
    first_error,
    read_table,
    table_path,
    unicode_twin,
)
from tierflow.data.zip_codes import ZIP3_PATTERN, zip3_error
from tierflow.data.zone_chart import ZoneChart, nearest_prefixes, read_zone_chart
from tierflow.data.zones import great_circle_miles, zone_for_miles

#: Node kinds, in code order (``node_kind`` holds the index).
NODE_KINDS: tuple[str, ...] = ("warehouse", "store", "3pl")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NODE_COLUMNS = (
    Column("node_id", identifier=True),
    Column("name", required=False, default="", allow_empty=True),
    Column("kind", choices=NODE_KINDS),
    Column("lat", "float", min=-90.0, max=90.0),
    Column("lon", "float", min=-180.0, max=180.0),
    Column("region", required=False, default="", allow_empty=True),
    Column("timezone", "timezone"),
    Column("capacity_units_per_day", "float", min=0.0, max=MAX_UNITS),
    Column("handling_cost", "float", min=0.0, max=MAX_COST),
    Column("cutoff_local", "hhmm"),
    Column("services"),
    Column(
        "zip3",
        required=False,
        default="",
        allow_empty=True,
        pattern=ZIP3_PATTERN,
        unmatched=zip3_error,
    ),
)
SKU_COLUMNS = (
    Column("sku", identifier=True),
    Column("weight_kg", "float", min=0.0, min_exclusive=True, max=1000.0),
    Column("length_cm", "float", min=0.0, min_exclusive=True, max=500.0),
    Column("width_cm", "float", min=0.0, min_exclusive=True, max=500.0),
    Column("height_cm", "float", min=0.0, min_exclusive=True, max=500.0),
    Column("fragile", "bool"),
    Column("hazmat", "bool"),
    Column(
        "popularity", "float", required=False, default=1.0, min=0.0, max=MAX_POPULATION
    ),
)
INVENTORY_COLUMNS = (
    Column("node_id"),
    Column("sku"),
    Column("on_hand", "int", min=0, max=MAX_UNITS),
)
DESTINATION_COLUMNS = (
    Column("zip3", pattern=ZIP3_PATTERN, unmatched=zip3_error),
    Column("lat", "float", min=-90.0, max=90.0),
    Column("lon", "float", min=-180.0, max=180.0),
    Column("state", pattern=r"[A-Z]{2}"),
    Column("timezone", "timezone"),
    Column("population", "float", min=0.0, max=MAX_POPULATION),
)


def _ro(arr: Any, dtype: Any = None) -> Any:
    out = np.array(arr, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


#: A ZIP code whose 3-digit prefix the network's destinations do not list
#: (the checkout's and orders.csv's words alike).
UNKNOWN_DEST = "unknown ZIP prefix (not a network destination)"


@dataclass(frozen=True, slots=True, eq=False)
class Network(ReadOnlyArrays):
    """An immutable, validated fulfillment network (see ``docs/data.md``).

    Arrays are read-only and indexed by position; the ``*_index`` mappings
    turn ids into positions (plain dicts so the object pickles for joblib
    workers; treat them as read-only). Node arrays have length ``n_nodes``, SKU arrays
    ``n_skus``, destination arrays ``n_dests``.

    Attributes
    ----------
    node_ids, node_names, node_regions
        Per node.
    node_kind
        Index into :data:`NODE_KINDS`.
    node_lat, node_lon
        Degrees.
    capacity
        Nominal capacity, complexity-weighted units per day.
    handling_cost
        Cost per unit picked at the node.
    cutoff_minutes
        Local cutoff, minutes after midnight.
    timezones, node_tz
        Distinct timezone names and each node's index into them.
    services_mask
        Bit ``s`` set when the node offers ``SERVICES[s]``.
    node_zip3
        Origin ZIP prefix: ``nodes.csv``'s ``zip3``, else the nearest
        destination prefix.
    sku_ids, sku_weight_kg, sku_dims_cm, sku_volume_cm3, sku_fragile, sku_hazmat,
    sku_oversize, sku_heavy, sku_popularity
        Per SKU (``sku_dims_cm`` is (n_skus, 3)).
    sku_complexity
        Capacity units one unit of the SKU uses (:mod:`tierflow.data.complexity`).
    inventory
        Dense ``(n_nodes, n_skus)`` on-hand units (int64).
    dest_zip3, dest_lat, dest_lon, dest_state, dest_population, dest_weight
        Per destination prefix; ``dest_weight`` is population normalized to 1.
    dest_timezones, dest_tz
        Distinct destination timezones and each prefix's index into them.
    distance_mi, zone
        ``(n_nodes, n_dests)`` great-circle miles and carrier zone (int8): the
        zone chart's where it lists the pair, else the mileage band's.
    zone_chart
        The folder's carrier zone chart (``zones.csv``), or None.
    rates
        Rate card and transit days (:class:`~tierflow.data.rates.RateCard`).
    complexity
        The weights used for ``sku_complexity``.
    calendar
        Ship/delivery calendar (:mod:`tierflow.data.delivery_calendar`).
    source
        Folder it was loaded from.
    file_warnings
        Warnings :func:`load_network` found in the files, naming their rows
        (a node whose ``lat`` and ``lon`` look swapped); part of
        :attr:`warnings`.
    """

    node_ids: tuple[str, ...]
    node_names: tuple[str, ...]
    node_regions: tuple[str, ...]
    node_kind: NDArray[np.int8]
    node_lat: FloatArray
    node_lon: FloatArray
    capacity: FloatArray
    handling_cost: FloatArray
    cutoff_minutes: NDArray[np.int16]
    timezones: tuple[str, ...]
    node_tz: NDArray[np.intp]
    services_mask: NDArray[np.uint8]
    node_zip3: tuple[str, ...]
    sku_ids: tuple[str, ...]
    sku_weight_kg: FloatArray
    sku_dims_cm: FloatArray
    sku_volume_cm3: FloatArray
    sku_fragile: NDArray[np.bool_]
    sku_hazmat: NDArray[np.bool_]
    sku_oversize: NDArray[np.bool_]
    sku_heavy: NDArray[np.bool_]
    sku_popularity: FloatArray
    sku_complexity: FloatArray
    inventory: IntArray
    dest_zip3: tuple[str, ...]
    dest_lat: FloatArray
    dest_lon: FloatArray
    dest_state: tuple[str, ...]
    dest_population: FloatArray
    dest_weight: FloatArray
    dest_timezones: tuple[str, ...]
    dest_tz: NDArray[np.intp]
    distance_mi: FloatArray
    zone: NDArray[np.int8]
    zone_chart: ZoneChart | None
    rates: RateCard
    complexity: ComplexityWeights
    calendar: DeliveryCalendar
    node_index: Mapping[str, int]
    sku_index: Mapping[str, int]
    dest_index: Mapping[str, int]
    source: Path | None = None
    file_warnings: tuple[str, ...] = ()

    # ------------------------------------------------------------------ sizes
    @property
    def main_timezone(self) -> str:
        """The destinations' zone with the most demand (population): the
        clock a network-wide time of day is read on (a promotion's hour, a
        simulated outage, the simulation report's axes); New York for a US
        network, Berlin for one mostly in Central Europe."""
        demand = np.bincount(
            self.dest_tz, weights=self.dest_weight, minlength=len(self.dest_timezones)
        )
        return self.dest_timezones[int(np.argmax(demand))]

    @property
    def n_nodes(self) -> int:
        """Number of fulfillment nodes."""
        return len(self.node_ids)

    @property
    def n_skus(self) -> int:
        """Number of SKUs."""
        return len(self.sku_ids)

    @property
    def n_dests(self) -> int:
        """Number of destination ZIP prefixes."""
        return len(self.dest_zip3)

    # -------------------------------------------------------------- id lookup
    def node_idx(self, node_id: str) -> int:
        """Position of ``node_id`` (``InputError`` when unknown)."""
        try:
            return self.node_index[node_id]
        except KeyError:
            hint = unicode_twin(node_id, self.node_index, "the network")
            raise InputError(
                "unknown node" + hint, field="node_id", value=node_id
            ) from None

    def sku_idx(self, skus: Iterable[str]) -> IntArray:
        """Positions of SKU ids (``InputError`` naming the first unknown one)."""
        out = []
        for sku in skus:
            pos = self.sku_index.get(sku)
            if pos is None:
                hint = unicode_twin(sku, self.sku_index, "the network")
                raise InputError("unknown SKU" + hint, field="sku", value=sku)
            out.append(pos)
        return np.array(out, dtype=np.int64)

    def dest_idx(self, zip_code: str) -> int:
        """Destination index of a ZIP code or 3-digit prefix (first 3 digits used)."""
        text = str(zip_code).strip()
        if len(text) < 3 or not text[:3].isdigit():
            raise InputError("not a US ZIP code", field="dest", value=zip_code)
        pos = self.dest_index.get(text[:3])
        if pos is None:
            raise InputError(UNKNOWN_DEST, field="dest", value=zip_code)
        return pos

    def offers(self, service: int | str) -> NDArray[np.bool_]:
        """Which nodes offer ``service`` (index or name)."""
        s = service_index(service) if isinstance(service, str) else int(service)
        return np.asarray((self.services_mask >> s) & 1, dtype=bool)

    def offered_services(self) -> NDArray[np.bool_]:
        """``(n_nodes, n_services)`` which services each node offers, in the
        order of :data:`~tierflow.data.rates.SERVICES`."""
        lanes = np.arange(len(SERVICES))
        return np.asarray((self.services_mask[:, None] >> lanes) & 1, dtype=bool)

    # ------------------------------------------------------- per-order helpers
    def order_workload(self, sku_idx: Any, quantity: Any) -> float:
        """Complexity-weighted capacity units of one order's lines."""
        return float(np.dot(self.sku_complexity[sku_idx], quantity))

    def billed_weight(self, sku_idx: Any, quantity: Any) -> float:
        """Billed kg of one shipment holding the lines (dimensional weight rule)."""
        q = np.asarray(quantity, dtype=np.float64)
        weight = float(np.dot(self.sku_weight_kg[sku_idx], q))
        volume = float(np.dot(self.sku_volume_cm3[sku_idx], q))
        return float(billed_weight_kg(weight, volume))

    def shipping_cost(
        self, service: int | str, dest: int, billed_kg: float
    ) -> FloatArray:
        """Carrier cost from every node to destination ``dest`` (nan: not offered)."""
        s = service_index(service) if isinstance(service, str) else int(service)
        cost = self.rates.price(s, self.zone[:, dest], billed_kg)
        return np.where(self.offers(s), cost, np.nan)

    def can_fill(
        self, sku_idx: Any, quantity: Any, stock: Any = None
    ) -> NDArray[np.bool_]:
        """Nodes holding every line in full (``stock`` defaults to ``inventory``)."""
        inv = self.inventory if stock is None else np.asarray(stock)
        need = np.asarray(quantity)
        return np.asarray((inv[:, sku_idx] >= need[None, :]).all(axis=1))

    def ship_and_delivery_dates(
        self, now: dt.datetime, service: int | str, dest: int
    ) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64]]:
        """Ship and delivery date (``datetime64[D]``) from every node to ``dest``.

        ``now`` is an aware instant (the order's release time); cutoffs are read
        in each node's local time; no delivery is dated before the customer's
        local date at ``now`` (``DeliveryCalendar.delivery_dates``).
        Nodes that do not offer the service get ``NaT``.
        """
        s = service_index(service) if isinstance(service, str) else int(service)
        local_date, local_secs = self.calendar.local_clock(
            now, self.timezones, self.node_tz
        )
        ship = self.calendar.ship_dates(local_date, local_secs, self.cutoff_minutes)
        ordered, _ = self.calendar.local_clock(
            now, self.dest_timezones, self.dest_tz[dest : dest + 1]
        )
        days = self.rates.transit(s, self.zone[:, dest])
        offered = self.offers(s)
        deliver = self.calendar.delivery_dates(
            ship, np.where(offered, days, 0), s, ordered=ordered[0]
        )
        nat = np.datetime64("NaT", "D")
        return np.where(offered, ship, nat), np.where(offered, deliver, nat)

    # ---------------------------------------------------------------- summary
    def summary(self, today: dt.date | None = None) -> dict[str, Any]:
        """Counts and totals, as printed by ``tierflow network validate``;
        the calendar lists the closed days of the year from ``today``."""
        kinds = {k: int((self.node_kind == i).sum()) for i, k in enumerate(NODE_KINDS)}
        carried = self.inventory > 0
        return {
            "source": str(self.source) if self.source else None,
            "nodes": self.n_nodes,
            "nodes_by_kind": kinds,
            "capacity_units_per_day": float(self.capacity.sum()),
            "skus": self.n_skus,
            "skus_fragile": int(self.sku_fragile.sum()),
            "skus_hazmat": int(self.sku_hazmat.sum()),
            "skus_oversize": int(self.sku_oversize.sum()),
            "skus_heavy": int(self.sku_heavy.sum()),
            "inventory_units": int(self.inventory.sum()),
            "inventory_positions": int(carried.sum()),
            "skus_out_of_stock_everywhere": int((~carried.any(axis=0)).sum()),
            "destinations": self.n_dests,
            "population": float(self.dest_population.sum()),
            "services": [s for i, s in enumerate(SERVICES) if self.rates.offered[i]],
            "mean_zone_to_nearest_node": float(
                np.average(self.zone.min(axis=0), weights=self.dest_weight)
            ),
            "calendar": calendar_summary(
                self.calendar,
                self.rates.offered,
                today or dt.date.today(),
                table=self._holidays_table(),
            ),
            "zone_chart": self._zone_chart_summary(),
        }

    def _holidays_table(self) -> str:
        """The file name of the network's holidays table (CSV or Parquet)."""
        found = None if self.source is None else table_path(self.source, "holidays")
        return "holidays.csv" if found is None else found.name

    def _zone_chart_summary(self) -> dict[str, Any] | None:
        chart = self.zone_chart
        if chart is None:
            return None
        charted = chart.zones_for(self.node_zip3, self.dest_index, self.n_dests) > 0
        return {
            "file": chart.file,
            "pairs": chart.n_pairs,
            "node_dest_pairs_charted": int(charted.sum()),
        }

    @property
    def warnings(self) -> tuple[str, ...]:
        """Suspicious but valid facts (a node's lat and lon swapped, no stock,
        no capacity, unstocked SKUs)."""
        return self.file_warnings + network_warnings(self)

    def nodes_frame(self) -> pd.DataFrame:
        """The node table as a DataFrame (for reports and plots)."""
        return pd.DataFrame(
            {
                "node_id": self.node_ids,
                "name": self.node_names,
                "kind": [NODE_KINDS[k] for k in self.node_kind],
                "lat": self.node_lat,
                "lon": self.node_lon,
                "region": self.node_regions,
                "timezone": [self.timezones[t] for t in self.node_tz],
                "capacity_units_per_day": self.capacity,
            }
        )


def _parse_services(frame: pd.DataFrame, path: Path) -> NDArray[np.uint8]:
    masks = np.zeros(len(frame), dtype=np.uint8)
    for pos, text in enumerate(frame["services"]):
        parts = [p.strip() for p in str(text).split(";") if p.strip()]
        if not parts:
            raise cell_error(path, frame, pos, "services", "no service")
        for part in parts:
            if part not in SERVICES:
                raise cell_error(
                    path,
                    frame,
                    pos,
                    "services",
                    f"unknown service {part!r} (one of {list(SERVICES)})"
                    + _services_hint(part),
                )
            masks[pos] |= np.uint8(1 << SERVICES.index(part))
    return masks


def _services_hint(part: str) -> str:
    """How to write ``part`` when it is services separated otherwise than by
    ``;`` (``ground, economy``, ``ground/economy``: "unknown service" alone
    read as if a name were wrong) or one in other case (``Ground``); "" else."""
    pieces = [p for p in re.split(r"[\s,/|+&]+", part) if p]
    if len(pieces) > 1 and all(p.casefold() in SERVICES for p in pieces):
        return f": separate services with ';': write {';'.join(pieces).casefold()}"
    if part.casefold() in SERVICES:
        return f": names are lower case: write {part.casefold()}"
    return ""


def _read_nodes(
    folder: Path, rates: RateCard
) -> tuple[pd.DataFrame, NDArray[np.uint8], Path]:
    """The node table and each node's services mask (every service priced)."""
    nodes, path = read_table(folder, "nodes", NODE_COLUMNS, unique=[("node_id",)])
    masks = _parse_services(nodes, path)
    offered_mask = int(sum(1 << i for i in np.flatnonzero(rates.offered)))
    unpriced = (masks & ~np.uint8(offered_mask)) != 0
    if unpriced.any():
        raise first_error(
            path, nodes, unpriced, "services", "service not priced in rates.csv"
        )
    return nodes, masks, path


def _read_destinations(folder: Path, nodes: pd.DataFrame) -> pd.DataFrame:
    """The folder's destinations (their places checked against ``nodes``),
    else the real US ZIP prefixes."""
    if table_path(folder, "destinations") is None:
        from tierflow.data.geography import zip3_destinations

        return zip3_destinations()
    dest, path = read_table(
        folder, "destinations", DESTINATION_COLUMNS, unique=[("zip3",)]
    )
    check_null_island(dest, path)
    check_swapped_destinations(dest, path, nodes)
    return dest


def load_network(
    folder: Path | str,
    *,
    complexity: ComplexityWeights | None = None,
    calendar: DeliveryCalendar | None = None,
) -> Network:
    """Load and validate a network folder.

    Parameters
    ----------
    folder
        Folder holding the tables listed in ``docs/data.md``.
    complexity
        Capacity weights; default: ``complexity.csv`` in the folder, else the
        documented defaults.
    calendar
        Ship/delivery calendar; default: the carrier calendar of the folder
        (carrier holidays, ``holidays.csv``, ``services.csv``).

    Raises
    ------
    InputError
        The first problem found, naming file, row, column and value.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a network folder", file=str(folder))
    rates = RateCard.from_folder(folder)
    nodes, masks, npath = _read_nodes(folder, rates)
    skus, spath = read_table(folder, "skus", SKU_COLUMNS, unique=[("sku",)])
    # an empty table is said first: a header-only nodes.csv was "inventory.csv:
    # row 2: unknown node_id (not in nodes.csv)", which blamed the inventory
    if len(nodes) == 0:
        raise InputError("no nodes", file=npath.name)
    if len(skus) == 0:  # validated, then every order generated crashed
        raise InputError("no SKUs", file=spath.name)
    inv, ipath = read_table(
        folder, "inventory", INVENTORY_COLUMNS, unique=[("node_id", "sku")]
    )
    check_reference(inv, ipath, "node_id", nodes["node_id"], npath.name)
    check_reference(inv, ipath, "sku", skus["sku"], spath.name)
    dest = _read_destinations(folder, nodes)
    if len(dest) == 0:
        dpath = table_path(folder, "destinations")
        raise InputError("no destinations", file=dpath.name if dpath else None)
    check_null_island(nodes, npath)
    check_swapped_coordinates(nodes, npath, dest)
    weights = (
        complexity if complexity is not None else ComplexityWeights.from_folder(folder)
    )
    dest_file = "destinations.csv" if table_path(folder, "destinations") else "US ZIP3s"
    chart = read_zone_chart(folder, dest["zip3"], nodes["zip3"], dest_file)
    return build_network(
        nodes,
        masks,
        skus,
        inv,
        dest,
        rates,
        weights,
        calendar or carrier_calendar(folder, rates.offered),
        folder,
        zone_chart=chart,
        file_warnings=swapped_coordinate_warnings(nodes, npath, dest)
        + far_node_warnings(nodes, npath, dest)
        + _destination_warnings(folder, dest, nodes),
    )


def _destination_warnings(
    folder: Path, dest: pd.DataFrame, nodes: pd.DataFrame
) -> tuple[str, ...]:
    """:func:`flipped_destination_warnings` of the folder's own destinations
    (the real US prefixes need none)."""
    dpath = table_path(folder, "destinations")
    return () if dpath is None else flipped_destination_warnings(dest, dpath, nodes)


def _ids(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def _timezone_codes(names: pd.Series) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    """Distinct timezone names (sorted) and each row's index into them."""
    distinct = tuple(sorted({str(t) for t in names}))
    pos = {t: i for i, t in enumerate(distinct)}
    return distinct, np.array([pos[str(t)] for t in names], dtype=np.intp)


def _node_fields(
    nodes: pd.DataFrame, services_mask: NDArray[np.uint8]
) -> dict[str, Any]:
    timezones, node_tz = _timezone_codes(nodes["timezone"])
    return {
        "node_ids": _ids(nodes["node_id"]),
        "node_names": _ids(nodes["name"]),
        "node_regions": _ids(nodes["region"]),
        "node_kind": _ro(nodes["kind"].map(NODE_KINDS.index), np.int8),
        "node_lat": _ro(nodes["lat"], np.float64),
        "node_lon": _ro(nodes["lon"], np.float64),
        "capacity": _ro(nodes["capacity_units_per_day"], np.float64),
        "handling_cost": _ro(nodes["handling_cost"], np.float64),
        "cutoff_minutes": _ro(nodes["cutoff_local"], np.int16),
        "timezones": timezones,
        "node_tz": _ro(node_tz),
        "services_mask": _ro(services_mask, np.uint8),
    }


def _sku_fields(skus: pd.DataFrame, complexity: ComplexityWeights) -> dict[str, Any]:
    dims = skus[["length_cm", "width_cm", "height_cm"]].to_numpy(dtype=np.float64)
    weight = skus["weight_kg"].to_numpy(dtype=np.float64)
    fragile = skus["fragile"].to_numpy(dtype=bool)
    hazmat = skus["hazmat"].to_numpy(dtype=bool)
    return {
        "sku_ids": _ids(skus["sku"]),
        "sku_weight_kg": _ro(weight),
        "sku_dims_cm": _ro(dims),
        "sku_volume_cm3": _ro(dims.prod(axis=1)),
        "sku_fragile": _ro(fragile),
        "sku_hazmat": _ro(hazmat),
        "sku_oversize": _ro(complexity.is_oversize(dims)),
        "sku_heavy": _ro(weight > complexity.heavy_kg),
        "sku_popularity": _ro(skus["popularity"], np.float64),
        "sku_complexity": _ro(complexity.unit_weights(weight, dims, fragile, hazmat)),
    }


def _dest_fields(dest: pd.DataFrame) -> dict[str, Any]:
    pop = dest["population"].to_numpy(dtype=np.float64)
    total = pop.sum()
    weight = pop / total if total > 0 else np.full(len(pop), 1.0 / len(pop))
    timezones, dest_tz = _timezone_codes(dest["timezone"])
    return {
        "dest_zip3": _ids(dest["zip3"]),
        "dest_lat": _ro(dest["lat"], np.float64),
        "dest_lon": _ro(dest["lon"], np.float64),
        "dest_state": _ids(dest["state"]),
        "dest_population": _ro(pop),
        "dest_weight": _ro(weight),
        "dest_timezones": timezones,
        "dest_tz": _ro(dest_tz),
    }


def _inventory_matrix(
    inventory: pd.DataFrame, node_index: Mapping[str, int], sku_index: Mapping[str, int]
) -> IntArray:
    """Dense ``(n_nodes, n_skus)`` on-hand units (0 where no row).

    Ids become positions by one hashed lookup per column (``get_indexer``):
    ``Series.map`` with a dict went row by row in Python, most of loading a
    network of millions of positions. Every id was checked on load."""
    inv = np.zeros((len(node_index), len(sku_index)), dtype=np.int64)
    rows = pd.Index(list(node_index)).get_indexer(inventory["node_id"])
    cols = pd.Index(list(sku_index)).get_indexer(inventory["sku"])
    inv[rows, cols] = inventory["on_hand"].to_numpy(dtype=np.int64)
    return inv


def build_network(
    nodes: pd.DataFrame,
    services_mask: NDArray[np.uint8],
    skus: pd.DataFrame,
    inventory: pd.DataFrame,
    dest: pd.DataFrame,
    rates: RateCard,
    complexity: ComplexityWeights,
    calendar: DeliveryCalendar,
    source: Path | None = None,
    *,
    zone_chart: ZoneChart | None = None,
    file_warnings: tuple[str, ...] = (),
) -> Network:
    """Assemble a :class:`Network` from already validated frames."""
    node = _node_fields(nodes, services_mask)
    sku = _sku_fields(skus, complexity)
    place = _dest_fields(dest)
    node_index = {k: i for i, k in enumerate(node["node_ids"])}
    sku_index = {k: i for i, k in enumerate(sku["sku_ids"])}
    dist = great_circle_miles(
        node["node_lat"][:, None],
        node["node_lon"][:, None],
        place["dest_lat"][None, :],
        place["dest_lon"][None, :],
    )
    node_zip3 = nearest_prefixes(nodes["zip3"], dist, place["dest_zip3"])
    dest_index = {k: i for i, k in enumerate(place["dest_zip3"])}
    zone = zone_for_miles(dist)
    if zone_chart is not None:
        charted = zone_chart.zones_for(node_zip3, dest_index, len(dest_index))
        zone = np.where(charted > 0, charted, zone).astype(np.int8)
    return Network(
        **node,
        **sku,
        inventory=_ro(_inventory_matrix(inventory, node_index, sku_index)),
        **place,
        node_zip3=node_zip3,
        distance_mi=_ro(dist),
        zone=_ro(zone),
        zone_chart=zone_chart,
        rates=rates,
        complexity=complexity,
        calendar=calendar,
        node_index=node_index,
        sku_index=sku_index,
        dest_index=dest_index,
        source=source,
        file_warnings=file_warnings,
    )
