"""The ``live`` fixture: a client of the app served on loopback (tiny network,
pinned clock; see ``tests/service_fixtures.py``), once per store backend; and
``browser``, the headless Chromium of the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_fixtures import live_server
from tierflow.benchmarks.service_screenshots import CHROMIUM_ARGS
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


#: The Chromium the browser tests drive (Debian's, installed by ``make test``).
CHROMIUM = os.environ.get("TIERFLOW_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright), one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium "
            "(as root), or set TIERFLOW_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield b
        b.close()
