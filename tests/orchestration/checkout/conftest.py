"""Fixtures of the checkout tests (the tiny network: ``helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service_fixtures import tiny_router
from tierflow.orchestration.checkout.router import OnlineRouter


@pytest.fixture
def router(tmp_path: Path, state_location: Path | str) -> Iterator[OnlineRouter]:
    """A router on the tiny network with CLTV scores C0..C10 ($0..$100), on
    each store backend."""
    with tiny_router(tmp_path, state=state_location) as r:
        yield r
