"""The capacity map: nodes on a US map of ZIP-centroid dots, coloured by
capacity score (matplotlib only, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from tierflow.data.geography import map_extent, zip_points_within
from tierflow.data.network import NODE_KINDS, Network

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.text import Text

_MARKERS = {"warehouse": "s", "store": "o", "3pl": "^"}
#: Marker area per node kind (points², matplotlib's ``s``).
_MARKER_AREA = {"warehouse": 150.0, "store": 60.0, "3pl": 150.0}
#: Contiguous US bounding box (lon, lat).
#: Where a label starts: up and right of its node (points).
_LABEL_OFFSET = (8.0, 5.0)
#: Space kept between labels, and around node markers (pixels).
_LABEL_PAD = 2.0
#: Where a label that cannot stay beside its node may go: this many
#: directions around it, on rings this far from it (pixels).
_DIRECTIONS = 16
_RINGS = np.arange(8.0, 160.0, 6.0)
#: Pixels of distance a label would rather go than hide a pixel² of a
#: marker (a store's circle at 110 dpi: some 120 pixels; a label's own
#: leader then stays short, yet no label sits on a node it could avoid).
_MARKER_WEIGHT = 1.0
#: Where the legend may go inside the map (matplotlib's ``loc``).
_LegendSpot = Literal[
    "lower left",
    "upper left",
    "lower right",
    "upper right",
    "center left",
    "center right",
    "lower center",
    "upper center",
]
#: The spots in order of preference: the first whose box hides no node
#: marker (it sat in the lower left whatever was there, on top of Honolulu).
_LEGEND_SPOTS: tuple[_LegendSpot, ...] = get_args(_LegendSpot)


def plot_capacity_map(
    network: Network,
    scores: NDArray[np.float64],
    path: Path,
    *,
    title: str = "Capacity score by node",
) -> Path:
    """Write a PNG of the nodes coloured by ``scores`` (0 red … 1 green)."""
    import matplotlib.pyplot as plt

    fig = capacity_map(network, scores, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def capacity_map(
    network: Network,
    scores: NDArray[np.float64],
    *,
    title: str = "Capacity score by node",
) -> Figure:
    """The map as a figure (Agg), its node labels placed apart
    (:func:`_place_labels`: nodes a few miles apart had theirs on top of
    each other)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (x0, x1), (y0, y1) = extent = map_extent(network.node_lon, network.node_lat)
    lat, lon = zip_points_within(*extent)
    fig, ax = plt.subplots(figsize=(12, 7), dpi=110)
    ax.scatter(lon, lat, s=1.2, c="#aeb6c2", linewidths=0, zorder=1)
    art, labels = _draw_nodes(ax, network, scores, plt.get_cmap("RdYlGn"))
    if art is not None:
        fig.colorbar(art, ax=ax, shrink=0.75, label="capacity score (free / nominal)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.radians(38.0)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title)
    ax.legend(markerscale=0.8, frameon=True)  # placed by _place_legend
    fig.text(
        0.01,
        0.01,
        "Map dots: US ZIP centroids (zipcodes; GeoNames CC BY 4.0)",
        fontsize=7,
    )
    fig.tight_layout()
    legend = _place_legend(fig, ax, network)
    _place_labels(fig, ax, network, labels, legend)
    return fig


def _marker_boxes(
    fig: Figure, ax: Axes, network: Network
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each node's position and its marker's square (``x0, y0, x1, y1``), in
    pixels of the figure as laid out (a marker's area in points² is its
    width squared)."""
    every = ax.transData.transform(
        np.column_stack([network.node_lon, network.node_lat])
    )
    kinds = [NODE_KINDS[k] for k in network.node_kind]
    half = np.sqrt([_MARKER_AREA[k] for k in kinds]) * fig.dpi / 72.0 / 2
    boxes = np.column_stack([every - half[:, None], every + half[:, None]])
    return np.asarray(every, dtype=np.float64), boxes


def _place_legend(fig: Figure, ax: Axes, network: Network) -> Legend | None:
    """Put the legend in the first of :data:`_LEGEND_SPOTS` where it hides no
    node marker; if every one hides some, in the figure's lower right corner,
    outside the map.

    matplotlib's ``loc="best"`` would weigh the thousands of ZIP dots as
    much as the nodes; the boxes here are the legend's own extent with the
    figure's renderer, as for the labels.
    """
    legend = ax.get_legend()
    if legend is None:
        return None
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    _, markers = _marker_boxes(fig, ax, network)
    for loc in _LEGEND_SPOTS:
        legend.set_loc(loc)
        box = np.array([legend.get_window_extent(renderer).extents])
        if not _overlap_area(box, markers, _LABEL_PAD).any():
            return legend
    handles, names = ax.get_legend_handles_labels()
    legend.remove()
    return fig.legend(
        handles, names, loc="lower right", ncol=len(names), markerscale=0.8
    )


def _draw_nodes(
    ax: Axes, network: Network, scores: NDArray[np.float64], cmap: Colormap
) -> tuple[PathCollection | None, dict[int, Text]]:
    """One marker per node kind, coloured by score; hubs labelled with it.

    Returns the last scatter drawn (for the colour bar), ``None`` if none,
    and the labels by node, at their node until :func:`_place_labels`
    moves them.
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
            s=_MARKER_AREA[kind],
            edgecolors="black",
            linewidths=0.7,
            zorder=3,
            label=kind,
        )
    labels = {
        int(i): ax.text(
            network.node_lon[i],
            network.node_lat[i],
            f"{network.node_ids[i]} {scores[i]:.2f}",
            ha="left",
            va="bottom",
            fontsize=7,
            zorder=4,
        )
        for i in np.flatnonzero(kinds != "store")
    }
    return art, labels


def _place_labels(
    fig: Figure,
    ax: Axes,
    network: Network,
    labels: dict[int, Text],
    legend: Legend | None = None,
) -> None:
    """Move labels off each other, off the node markers and off the legend;
    a label that left its place beside its node is joined to it by a leader
    line.

    The boxes are the texts' own extents in pixels (the figure's renderer,
    once the layout is final), whatever the network's coordinates;
    :func:`_free_spots` places them.
    """
    if not labels:
        return
    nodes = list(labels)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    every, markers = _marker_boxes(fig, ax, network)
    anchor = every[nodes]
    extents = [labels[i].get_window_extent(renderer) for i in nodes]
    size = np.array([[e.width, e.height] for e in extents])
    frame = ax.get_window_extent(renderer)
    start = anchor + np.asarray(_LABEL_OFFSET) * fig.dpi / 72.0
    taken = (
        np.empty((0, 4))
        if legend is None
        else np.array([legend.get_window_extent(renderer).extents])
    )
    corner = _free_spots(
        anchor,
        start,
        size,
        markers,
        np.array([frame.x0, frame.y0, frame.x1, frame.y1]),
        taken,
    )
    to_data = ax.transData.inverted()
    at = to_data.transform(corner)
    # a leader from the node to the nearest point of its label's box
    end = to_data.transform(np.clip(anchor, corner, corner + size))
    moved = np.hypot(*(corner - start).T) > 1.0
    for k, i in enumerate(nodes):
        labels[i].set_position((float(at[k, 0]), float(at[k, 1])))
        if moved[k]:
            ax.plot(
                [network.node_lon[i], end[k, 0]],
                [network.node_lat[i], end[k, 1]],
                color="0.35",
                lw=0.6,
                zorder=2,
            )


def _free_spots(
    anchor: NDArray[np.float64],
    start: NDArray[np.float64],
    size: NDArray[np.float64],
    markers: NDArray[np.float64],
    frame: NDArray[np.float64],
    taken: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Lower-left corners for labels of ``size`` (pixels), one label at a
    time: its place beside its node (``start``), or a spot on the rings
    around the node (:data:`_DIRECTIONS` ways, :data:`_RINGS` out).

    A label goes inside ``frame`` (``x0, y0, x1, y1``) and off the labels
    placed before it and the boxes ``taken`` (the legend's), else where it
    overlaps them least; among such spots,
    the nearest to ``start``, a marker it hides (rows ``x0, y0, x1, y1``)
    counting as :data:`_MARKER_WEIGHT` pixels further per pixel² hidden.
    Repulsion (overlapping boxes pushed apart) swung between a label and
    the marker it was pushed onto and never settled; this search ends.
    """
    n = anchor.shape[0]
    angle = np.radians(np.arange(0.0, 360.0, 360.0 / _DIRECTIONS))
    way = np.column_stack([np.cos(angle), np.sin(angle)])
    way = np.where(np.abs(way) < 1e-9, 0.0, way)
    # a box on the side of the node the direction points to (centred on an axis)
    side = np.where(way > 0.3, 0.0, np.where(way < -0.3, 1.0, 0.5))
    distance = np.repeat(_RINGS, way.shape[0])
    placed = np.empty((0, 4)) if taken is None else np.asarray(taken, np.float64)
    out = start.copy()
    for k in range(n):
        spots = np.vstack(
            [
                start[k],
                anchor[k]
                + np.tile(way, (_RINGS.size, 1)) * distance[:, None]
                - np.tile(side, (_RINGS.size, 1)) * size[k],
            ]
        )
        boxes = np.column_stack([spots, spots + size[k]])
        inside = (boxes[:, :2] >= frame[:2]).all(axis=1) & (
            boxes[:, 2:] <= frame[2:]
        ).all(axis=1)
        on_labels = _overlap_area(boxes, placed, _LABEL_PAD)
        hidden = _overlap_area(boxes, markers, 0.0)
        far = np.hypot(*(spots - start[k]).T) + _MARKER_WEIGHT * hidden
        best = np.lexsort((far, on_labels, ~inside))[0]
        out[k] = spots[best]
        placed = np.vstack([placed, boxes[best]])
    return out


def _overlap_area(
    boxes: NDArray[np.float64], others: NDArray[np.float64], pad: float
) -> NDArray[np.float64]:
    """Per box (``x0, y0, x1, y1`` rows), the area it shares with ``others``
    grown by ``pad``."""
    lo = np.maximum(boxes[:, None, :2], others[None, :, :2] - pad)
    hi = np.minimum(boxes[:, None, 2:], others[None, :, 2:] + pad)
    area: NDArray[np.float64] = np.clip(hi - lo, 0.0, None).prod(axis=2).sum(axis=1)
    return area
