"""Carrier zone charts: an optional ``zones.csv`` (origin ZIP3, destination
ZIP3, zone) that overrides the mileage bands for the pairs it lists, and the
origin prefix of each node. Format and rules: ``docs/data.md``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.readonly import ReadOnlyArrays
from tierflow.data.table_reader import Column, check_reference, read_table, table_path
from tierflow.data.zip_codes import ZIP3_PATTERN, zip3_error
from tierflow.data.zones import MAX_ZONE, MIN_ZONE

ZONE_CHART_COLUMNS = (
    Column("origin_zip3", pattern=ZIP3_PATTERN, unmatched=zip3_error),
    Column("dest_zip3", pattern=ZIP3_PATTERN, unmatched=zip3_error),
    Column("zone", "int", min=MIN_ZONE, max=MAX_ZONE),
)


@dataclass(frozen=True, slots=True, eq=False)
class ZoneChart(ReadOnlyArrays):
    """A carrier zone chart as parallel arrays, one entry per listed pair.

    Attributes
    ----------
    file
        The file it was read from (``zones.csv`` or ``zones.parquet``).
    origin, dest
        3-digit ZIP prefixes of each pair.
    zone
        The pair's zone (``MIN_ZONE..MAX_ZONE``).
    """

    file: str
    origin: NDArray[np.str_]
    dest: NDArray[np.str_]
    zone: NDArray[np.int8]

    @property
    def n_pairs(self) -> int:
        """Pairs (rows) listed."""
        return int(self.zone.size)

    def zones_for(
        self, node_zip3: Iterable[str], dest_index: Mapping[str, int], n_dests: int
    ) -> NDArray[np.int8]:
        """``(n_nodes, n_dests)`` charted zone from each node's origin prefix;
        0 where the chart does not list the pair."""
        origins = {z: i for i, z in enumerate(dict.fromkeys(node_zip3))}
        table = np.zeros((len(origins), n_dests), dtype=np.int8)
        row = pd.Series(self.origin).map(origins).fillna(-1).to_numpy(dtype=np.intp)
        col = pd.Series(self.dest).map(dest_index).to_numpy(dtype=np.intp)
        used = row >= 0
        table[row[used], col[used]] = self.zone[used]
        return table[[origins[str(z)] for z in node_zip3]]


def read_zone_chart(
    folder: Path, dest_zip3: Iterable[str], origins: Iterable[str], dest_file: str
) -> ZoneChart | None:
    """Read and validate ``zones.csv``; None when the folder has none.

    Parameters
    ----------
    dest_zip3
        The network's destination prefixes: every ``dest_zip3`` must be one.
    origins
        Further known origin prefixes (the nodes' ``zip3``); an
        ``origin_zip3`` must be one of these or a destination prefix.
    dest_file
        Where destination prefixes come from, for messages.

    Raises
    ------
    InputError
        A bad cell, an unknown prefix, a zone outside the rate card's zones
        or a repeated pair, located.
    """
    if table_path(folder, "zones") is None:
        return None
    chart, path = read_table(
        folder, "zones", ZONE_CHART_COLUMNS, unique=[("origin_zip3", "dest_zip3")]
    )
    dests = list(dest_zip3)
    check_reference(
        chart, path, "origin_zip3", [*dests, *origins], f"{dest_file} nor nodes.csv"
    )
    check_reference(chart, path, "dest_zip3", dests, dest_file)
    return ZoneChart(
        file=path.name,
        origin=chart["origin_zip3"].to_numpy(dtype=str),
        dest=chart["dest_zip3"].to_numpy(dtype=str),
        zone=chart["zone"].to_numpy(dtype=np.int8),
    )


def nearest_prefixes(
    given: Iterable[str], distance_mi: NDArray[np.float64], dest_zip3: Iterable[str]
) -> tuple[str, ...]:
    """Each node's origin prefix: its own (``given``), else the destination
    prefix nearest to it (``distance_mi`` is nodes × destinations)."""
    prefixes = np.asarray(list(dest_zip3), dtype=object)
    nearest = prefixes[np.argmin(distance_mi, axis=1)]
    return tuple(
        str(own) if own else str(near) for own, near in zip(given, nearest, strict=True)
    )
