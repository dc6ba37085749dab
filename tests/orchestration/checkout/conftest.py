"""Fixtures of the checkout tests (the tiny network: ``helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service_fixtures import tiny_router
from tierflow.orchestration.checkout.router import OnlineRouter


@pytest.fixture
def router(tmp_path: Path) -> Iterator[OnlineRouter]:
    """A router on the tiny network with CLTV scores C0..C10 ($0..$100)."""
    with tiny_router(tmp_path) as r:
        yield r
