"""The scaled networks of ``docs/benchmarks.md`` load, at the sizes asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tierflow.benchmarks.network_scale import DENSITY, JITTER_DEG, main
from tierflow.data.network import Network, load_network


def test_a_scaled_network_loads_with_the_sizes_asked(
    tmp_path: Path, sample_network: Network
) -> None:
    """More nodes and SKUs than the sample has (52, 600), so both are copied:
    the copies' ids are new, their points near the originals', and about
    ``DENSITY`` of the positions hold stock."""
    out = tmp_path / "net"
    main(["--nodes", "70", "--skus", "900", "--seed", "3", "--out", str(out)])
    net = load_network(out)
    assert (net.n_nodes, net.n_skus) == (70, 900)
    assert net.inventory.shape == (70, 900)
    base = sample_network.n_nodes
    assert net.node_ids[base] == f"{sample_network.node_ids[0]}-1"
    assert net.sku_ids[600] == f"{sample_network.sku_ids[0]}-1"
    moved = np.abs(net.node_lat[base:] - sample_network.node_lat[: 70 - base])
    assert 0 < moved.max() <= JITTER_DEG + 1e-9
    np.testing.assert_array_equal(net.node_lat[:base], sample_network.node_lat)
    held = float((net.inventory > 0).mean())
    assert abs(held - DENSITY) < 0.02, held
