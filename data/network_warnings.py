"""Suspicious but valid networks: what ``tierflow network validate`` warns
about (no stock at all, no capacity anywhere, SKUs no node can ship). A
node whose lat and lon look swapped is warned about too, found while the
files are read (``Network.file_warnings``, :mod:`tierflow.data.swapped_coordinates`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from tierflow.data.network import Network

#: How many ids a warning lists before "and N more".
_SHOW = 5
#: Up to this share of the SKUs may have no stock anywhere without a
#: warning: a few SKUs out everywhere (discontinued, awaiting a delivery) is
#: an ordinary catalogue, the sample's included (1 %); every command that
#: loads a network prints its warnings, so one it always has is noise.
UNSTOCKED_SKUS_SHARE = 0.02


def _some(what: str, ids: Sequence[str], picked: NDArray[np.bool_] | np.bool_) -> str:
    """``"2 of 3 nodes ... (A, B)"``-style count and the first few ids."""
    names = [ids[i] for i in np.flatnonzero(picked)[:_SHOW]]
    more = int(picked.sum()) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    return f"{int(picked.sum())} of {len(ids)} {what} ({listed})"


def _stock_warnings(network: Network) -> list[str]:
    stocked = network.inventory > 0
    if not stocked.any():
        return ["inventory: no node holds any stock (no row with on_hand > 0)"]
    out = []
    unstocked_skus = ~stocked.any(axis=0)
    if unstocked_skus.mean() > UNSTOCKED_SKUS_SHARE:
        some = _some("SKUs", network.sku_ids, unstocked_skus)
        out.append(f"inventory: {some} have no stock at any node")
    idle = ~stocked.any(axis=1)
    if idle.any():
        out.append(f"inventory: {_some('nodes', network.node_ids, idle)} hold no stock")
    return out


def _capacity_warnings(network: Network) -> list[str]:
    zero = network.capacity <= 0
    if zero.all():
        return ["nodes: every node has capacity_units_per_day 0"]
    if zero.any():
        some = _some("nodes", network.node_ids, zero)
        return [f"nodes: {some} have capacity_units_per_day 0"]
    return []


def network_warnings(network: Network) -> tuple[str, ...]:
    """Warnings about a valid network that cannot do all it is for."""
    out = _stock_warnings(network) + _capacity_warnings(network)
    if network.n_dests and not (network.dest_population > 0).any():
        out.append("destinations: every population is 0 (demand spread evenly)")
    return tuple(out)
