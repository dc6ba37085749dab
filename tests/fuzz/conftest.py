"""Fuzz run bookkeeping: with ``FUZZ_REPORT=DIR`` the per-reader counts of
this pytest process are written there when the session ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.contract import write_report


@pytest.fixture(scope="session", autouse=True)
def _fuzz_report() -> Iterator[None]:
    yield
    folder = os.environ.get("FUZZ_REPORT", "")
    if folder:
        write_report(Path(folder))
