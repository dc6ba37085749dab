"""Shared fixtures: paths to the shipped data, independent of the working directory."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

#: Both store backends (``state_location``, ``new_state``): ``tests/postgres.py``;
#: the headless Chromium (``browser``): ``tests/browser.py``.
pytest_plugins = ["tests.postgres", "tests.browser"]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
GAP_DIR = ROOT / "benchmarks" / "data" / "gap"


@pytest.fixture(scope="session")
def gap_dir() -> Path:
    """The OR-Library GAP files shipped in ``benchmarks/data/gap``."""
    return GAP_DIR


TINY_NETWORK = DATA_DIR / "tiny_network"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the commands the tests start, however the suite was
    started. A shell without job control starts a background command with
    SIGINT ignored (``make test &``, ``(.ci/run &)``, ``nohup``), every child
    inherits that across ``exec``, and Python then installs no handler: the
    Ctrl-C tests' signals were dropped and their commands ran to the end
    (13 failures, 2026-12-06). Handled here, the children start with the
    default again. And the children write and read bytecode as under
    ``make test``."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # bytecode written and read as `make test` has it (the Makefile clears
    # PYTHONDONTWRITEBYTECODE): `pytest` run directly where the environment
    # sets it compiled every import of every child again (a server's import
    # 2.3 s of CPU against 0.9 s cached; test_interrupt.py and
    # test_store_gone.py 89 s against 57 s, 2026-12-07)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


@pytest.fixture(scope="session", autouse=True)
def _tierflow_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Generated data (the cached sample network) goes to a temp folder; the
    readers' time windows are measured from a fixed instant."""
    import os

    os.environ["TIERFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("tierflow-cache"))
    # time windows (docs/data.md "Limits") measured from a fixed instant, so the
    # 2026 fixtures stay inside them whenever the tests run
    os.environ.setdefault("TIERFLOW_NOW", "2026-06-01T00:00:00Z")


@pytest.fixture(scope="session")
def sample_dir(_tierflow_cache: None) -> Path:
    """The embedded sample network, materialized once per test session."""
    from tierflow.data.sample_network import sample_network_dir

    return sample_network_dir()


@pytest.fixture(scope="session")
def sample_network(sample_dir: Path) -> object:
    """The sample network, loaded once (a :class:`tierflow.data.network.Network`)."""
    from tierflow.data.network import load_network

    return load_network(sample_dir)


@pytest.fixture(scope="session")
def tiny_network() -> object:
    """The hand-made 3-node network of ``tests/data/tiny_network``."""
    from tierflow.data.network import load_network

    return load_network(TINY_NETWORK)


CDNOW_DIR = ROOT / "benchmarks" / "data" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    """The CDNOW files shipped in ``benchmarks/data/cdnow`` (see its README)."""
    return CDNOW_DIR


def untimed_lines(stderr: str) -> list[str]:
    """A text log's lines without their date and time (``LEVEL logger:
    message``): what a test can compare exactly."""
    return [line.split(" ", 2)[2] for line in stderr.splitlines()]
