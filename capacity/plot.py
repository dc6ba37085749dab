"""The capacity map: nodes on a US map of ZIP-centroid dots, coloured by
capacity score (matplotlib only, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tierflow.data.geography import us_zip_points
from tierflow.data.network import NODE_KINDS, Network

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.colors import Colormap

_MARKERS = {"warehouse": "s", "store": "o", "3pl": "^"}
#: Contiguous US bounding box (lon, lat).
_LON = (-125.0, -66.5)
_LAT = (24.3, 49.5)


def plot_capacity_map(
    network: Network,
    scores: NDArray[np.float64],
    path: Path,
    *,
    title: str = "Capacity score by node",
) -> Path:
    """Write a PNG of the nodes coloured by ``scores`` (0 red … 1 green)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat, lon = us_zip_points()
    inside = (lon > _LON[0]) & (lon < _LON[1]) & (lat > _LAT[0]) & (lat < _LAT[1])
    fig, ax = plt.subplots(figsize=(12, 7), dpi=110)
    ax.scatter(lon[inside], lat[inside], s=1.2, c="#aeb6c2", linewidths=0, zorder=1)
    art = _draw_nodes(ax, network, scores, plt.get_cmap("RdYlGn"))
    if art is not None:
        fig.colorbar(art, ax=ax, shrink=0.75, label="capacity score (free / nominal)")
    ax.set_xlim(*_LON)
    ax.set_ylim(*_LAT)
    ax.set_aspect(1.0 / np.cos(np.radians(38.0)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title)
    ax.legend(loc="lower left", markerscale=0.8, frameon=True)
    fig.text(
        0.01,
        0.01,
        "Map dots: US ZIP centroids (zipcodes; GeoNames CC BY 4.0)",
        fontsize=7,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _draw_nodes(
    ax: Axes, network: Network, scores: NDArray[np.float64], cmap: Colormap
) -> PathCollection | None:
    """One marker per node kind, coloured by score; hubs labelled with it.

    Returns the last scatter drawn (for the colour bar), ``None`` if none.
    """
    kinds = np.array([NODE_KINDS[k] for k in network.node_kind])
    art = None
    for kind, marker in _MARKERS.items():
        sel = kinds == kind
        if not sel.any():
            continue
        art = ax.scatter(
            network.node_lon[sel],
            network.node_lat[sel],
            c=scores[sel],
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            marker=marker,
            s=150 if kind != "store" else 60,
            edgecolors="black",
            linewidths=0.7,
            zorder=3,
            label=kind,
        )
    for i in np.flatnonzero(kinds != "store"):
        ax.annotate(
            f"{network.node_ids[i]} {scores[i]:.2f}",
            (network.node_lon[i], network.node_lat[i]),
            xytext=(6, 5),
            textcoords="offset points",
            fontsize=7,
            zorder=4,
        )
    return art
