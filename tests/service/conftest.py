"""The ``live`` fixture: a client of the app served on loopback (tiny network,
pinned clock; see ``tests/service_fixtures.py``), once per store backend
(``browser``, the headless Chromium, is in ``tests/browser.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_fixtures import live_server
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.server import RunningServer


@pytest.fixture
def live(
    tmp_path: Path, state_location: Path | str
) -> Iterator[tuple[httpx.Client, OnlineRouter, RunningServer]]:
    """A client of the app on each store backend (SQLite, PostgreSQL)."""
    with (
        live_server(tmp_path, router_kw={"state": state_location}) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, router, server
