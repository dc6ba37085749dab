"""Scaled copies of the sample network, for measuring how paths grow with it.

The networks of ``docs/benchmarks.md`` ("Scaling with the network and the
day"): the sample's tables with its nodes repeated to ``N`` (each copy's
coordinates moved by up to ±0.3°, its id suffixed ``-1``, ``-2``...) and its
SKUs to ``M`` (suffixed likewise), each (node, SKU) position held with
probability 0.3 (1-199 units). Rates, transit, destinations, customers and
history are the sample's. Usage::

    python -m tierflow.benchmarks.network_scale --nodes 500 --skus 20000 --seed 0 --out DIR
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import decimal, whole
from tierflow.data.sample_network import SAMPLE_FILES, sample_network_dir

#: Share of (node, SKU) positions holding stock.
DENSITY = 0.3
#: Largest move of a copied node's latitude and longitude, in degrees.
JITTER_DEG = 0.3
#: Units on hand of a held position: uniform in [1, MAX_ON_HAND).
MAX_ON_HAND = 200


def _repeated(
    table: pd.DataFrame, key: str, size: int, rng: np.random.Generator | None
) -> pd.DataFrame:
    """``table`` copied until it has ``size`` rows, copy ``r``'s ``key`` suffixed
    ``-r``; with ``rng``, each copy's coordinates jittered (and its ``zip3``
    blanked, so it is derived from the moved point)."""
    copies = [table]
    for r in range(1, -(-size // len(table))):
        copy = table.copy()
        copy[key] = copy[key] + f"-{r}"
        if rng is not None:
            for col in ("lat", "lon"):
                moved = copy[col].astype(float) + rng.uniform(
                    -JITTER_DEG, JITTER_DEG, len(copy)
                )
                copy[col] = moved.round(5).astype(str)
            if "zip3" in copy:
                copy["zip3"] = ""
        copies.append(copy)
    return pd.concat(copies, ignore_index=True).iloc[:size]


def build_network(
    n_nodes: int,
    n_skus: int,
    out: Path | str,
    *,
    seed: int = 0,
    density: float = DENSITY,
) -> Path:
    """Write a network of ``n_nodes`` × ``n_skus`` to ``out`` (replaced) and return it."""
    if n_nodes < 1 or n_skus < 1:
        raise ValueError("need at least one node and one SKU")
    rng = np.random.default_rng(seed)
    src = sample_network_dir()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in SAMPLE_FILES:
        if name not in ("nodes.csv", "skus.csv", "inventory.csv"):
            shutil.copy(src / name, out / name)
    read = {"dtype": str, "keep_default_na": False}
    nodes = _repeated(pd.read_csv(src / "nodes.csv", **read), "node_id", n_nodes, rng)
    skus = _repeated(pd.read_csv(src / "skus.csv", **read), "sku", n_skus, None)
    nodes.to_csv(out / "nodes.csv", index=False)
    skus.to_csv(out / "skus.csv", index=False)
    i, j = np.nonzero(rng.random((n_nodes, n_skus)) < density)
    pd.DataFrame(
        {
            "node_id": nodes["node_id"].to_numpy()[i],
            "sku": skus["sku"].to_numpy()[j],
            "on_hand": rng.integers(1, MAX_ON_HAND, i.size),
        }
    ).to_csv(out / "inventory.csv", index=False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=whole, required=True)
    parser.add_argument("--skus", type=whole, required=True)
    parser.add_argument("--seed", type=whole, default=0)
    parser.add_argument("--density", type=decimal, default=DENSITY)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    build_network(args.nodes, args.skus, args.out, seed=args.seed, density=args.density)
    print(args.out)


if __name__ == "__main__":
    main()
