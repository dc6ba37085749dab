"""Shared fixtures: paths to the shipped data, independent of the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
GAP_DIR = ROOT / "benchmarks" / "data" / "gap"


@pytest.fixture(scope="session")
def gap_dir() -> Path:
    """The OR-Library GAP files shipped in ``benchmarks/data/gap``."""
    return GAP_DIR


CDNOW_DIR = ROOT / "benchmarks" / "data" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    """The CDNOW files shipped in ``benchmarks/data/cdnow`` (see its README)."""
    return CDNOW_DIR
