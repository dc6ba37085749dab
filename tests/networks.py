"""Variants of the sample network the tests run on."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path


def network_in_zone(sample_dir: Path, folder: Path, zone: str) -> Path:
    """A copy of the sample network in ``folder`` with every node and
    destination in ``zone``; returns ``folder``."""
    shutil.copytree(sample_dir, folder)
    for name in ("nodes.csv", "destinations.csv"):
        with open(folder / name, newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            row["timezone"] = zone
        with open(folder / name, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=list(rows[0]))
            out.writeheader()
            out.writerows(rows)
    return folder
