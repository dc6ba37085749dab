"""``browser``: the headless Chromium of the browser tests (the service's
pages, the simulation's report), for any test that takes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tierflow.benchmarks.chromium import CHROMIUM_ARGS, default_chromium

#: The Chromium the browser tests drive: Debian's headless shell, installed by
#: ``make test``, or the full browser where only it is installed.
CHROMIUM = default_chromium()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright), one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's "
            "chromium-headless-shell (as root), or set TIERFLOW_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield b
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Close the pages a test of ``browser`` opened before its fixtures end.
    Left open, a page kept its connections (and its event stream's retries)
    to the test's server, whose stop then drained them for
    ``service.server.QUIET_S`` (0.5 s a test), and the module's browser
    carried every earlier test's page to its end."""
    browser = getattr(item, "funcargs", {}).get("browser")
    if browser is not None:
        for context in browser.contexts:
            context.close()
    return (yield)
