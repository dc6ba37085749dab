"""The ``live`` fixture: a client of the app served on loopback (tiny network,
pinned clock; see ``tests/service_fixtures.py``), once per store backend
(``browser``, the headless Chromium, is in ``tests/browser.py``); and
``shared_live``, one such server for a whole module's refused requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.postgres import BACKENDS, new_database
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


@pytest.fixture(scope="module", params=BACKENDS)
def shared_live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, OnlineRouter, RunningServer]]:
    """``live``, served once per module and backend: for tests of requests
    the service refuses, which change nothing (a server per test cost them
    0.3 s on SQLite and 0.8 s on PostgreSQL, most of their time)."""
    folder = tmp_path_factory.mktemp("shared_live")
    state: Path | str = (
        folder / "state.db"
        if request.param == "sqlite"
        else new_database(request.getfixturevalue("postgres_server"))
    )
    with (
        live_server(folder, router_kw={"state": state}) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, router, server
