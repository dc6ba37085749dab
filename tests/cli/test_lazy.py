"""``tierflow`` imports a command's stack (pandas, numpy, OR-Tools,
scikit-learn, FastAPI, psycopg) only when that command runs: its ``--help``
and its usage errors answer without them, and the lazy tables still name
real commands."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tierflow.cli import option_values
from tierflow.cli.main import COMMANDS, cli, subcommands

#: Packages no command's ``--help`` (nor a usage error) needs.
HEAVY = (
    "ortools",
    "sklearn",
    "fastapi",
    "pandas",
    "numpy",
    "scipy",
    "highspy",
    "joblib",
    "psycopg",
    "psycopg_pool",
    "tierflow.data.store",
)

_PROBE = (
    "import sys\n"
    "from tierflow.cli.main import cli\n"
    "try:\n"
    "    cli(sys.argv[1:], prog_name='tierflow')\n"
    "except SystemExit as exc:\n"
    "    print('exit', exc.code, file=sys.stderr)\n"
    f"heavy = {HEAVY!r}\n"
    "print(sorted(p for p in heavy if p in sys.modules), file=sys.stderr)\n"
)


def _imported(*args: str) -> tuple[str, str]:
    """The exit line and the heavy packages imported by ``tierflow ARGS``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *_, exit_line, loaded = done.stderr.strip().splitlines()
    return exit_line, loaded


def _paths(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in subcommands(group):
        if isinstance(sub, click.Group):
            yield from _paths(sub, (*path, name))
        else:
            yield (*path, name)


#: Every command and group, the root's ``()`` first.
PATHS = list(_paths(cli))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(("tierflow", *p)))
def test_help_imports_no_command_stack(path: tuple[str, ...]) -> None:
    """Every ``--help``, those of the commands with ``--state`` (``serve``,
    ``options``, ``capacity ...``) included: naming the default store
    imported the store's package and pandas (``serve --help`` took 0.9 s),
    and the limits module numpy (45 ms, every command)."""
    assert _imported(*path, "--help") == ("exit 0", "[]")


def test_every_state_command_is_checked() -> None:
    """The commands with ``--state`` are among those checked above."""
    with_state = {
        " ".join(path)
        for path in PATHS
        for param in getattr(_command(path), "params", [])
        if "--state" in getattr(param, "opts", [])
    }
    assert with_state == {
        "serve",
        "options",
        "allocate",
        "capacity ingest",
        "capacity forecast",
        "capacity show",
        "capacity forget",
        "cltv retrain",
        "cltv rollback",
        "stock load",
        "stock show",
        "state prune",
        "state migrate",
    }


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


def test_state_help_names_the_default_store_as_it_is_when_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--state``'s help, now from ``tierflow.data.store_location``, is
    the text it was: the default store read when the help is shown, a URL's
    password masked (in the user part and the query)."""
    state = _command(("serve",)).params
    (option,) = [p for p in state if "--state" in p.opts]
    head = "State store: a SQLite file or a postgresql:// URL (default: $TIERFLOW_STATE or "
    monkeypatch.delenv("TIERFLOW_STATE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert option.help == f"{head}{tmp_path / 'tierflow' / 'state.db'})."
    monkeypatch.setenv(
        "TIERFLOW_STATE",
        "postgresql://u:s3cret@host:5432/db?password=x&sslmode=require",
    )
    assert option.help == f"{head}postgresql://u@host:5432/db?sslmode=require)."
    monkeypatch.setenv("TIERFLOW_STATE", "/srv/some where/x.db")
    assert option.help == f"{head}/srv/some where/x.db)."


def test_a_missing_store_is_refused_before_any_import(tmp_path: Path) -> None:
    """``capacity show --state typo.db``: exit 1 naming the file, without
    the capacity monitor's, the network's nor the store's imports (1.3 s to
    say so)."""
    typo = tmp_path / "typo.db"
    assert _imported("capacity", "show", "--state", str(typo)) == ("exit 1", "[]")
    assert not typo.exists()


def test_a_bad_state_value_is_a_usage_error_before_any_import() -> None:
    """``--state mysql://...``: exit 2 from the option's type, which reads
    only ``tierflow.data.store_location`` (it imported the store's package)."""
    for command in (["serve"], ["capacity", "show"], ["allocate"]):
        assert _imported(*command, "--state", "mysql://x/y") == ("exit 2", "[]")


def test_a_usage_error_imports_no_command_stack() -> None:
    """``tierflow allocate`` on a missing file: exit 2 before any import of
    the allocator (it paid a second of imports to say so)."""
    missing = ["allocate", "--orders", "/no/such/orders.csv", "--out", "/no/out"]
    assert _imported(*missing) == ("exit 2", "[]")


def test_every_command_in_the_lazy_tables_resolves() -> None:
    """A wrong module or object name in ``COMMANDS`` (or a group that lists
    a command it cannot load) fails here, not in a user's hands."""
    for name, (module, attribute, _) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), name

    def walk(group: click.Group, path: str) -> int:
        ctx = click.Context(group)
        listed = group.list_commands(ctx)
        loaded = subcommands(group)
        assert [name for name, _ in loaded] == listed, path
        return len(loaded) + sum(
            walk(sub, f"{path} {name}")
            for name, sub in loaded
            if isinstance(sub, click.Group)
        )

    assert walk(cli, "tierflow") == 33  # 7 groups, 26 commands


def test_the_values_help_shows_are_their_owners() -> None:
    """``cli/option_values.py`` copies values so that ``--help`` imports
    none of their owners; a change there must show here."""
    from tierflow.cltv.history import DEFAULT_MAX_HISTORY_LOSS
    from tierflow.cltv.level import LEVELS
    from tierflow.data.order_generator import DEFAULT_START
    from tierflow.data.rates import SERVICES
    from tierflow.orchestration.allocation.day_allocator import NEAREST
    from tierflow.orchestration.allocation.settings import (
        MAX_BATCH_MINUTES,
        MAX_RELEASE_MINUTES,
    )
    from tierflow.orchestration.checkout.router import MAX_INTERVAL_S, MAX_TTL_S
    from tierflow.solver.partition import BACKENDS
    from tierflow.solver.registry import engine_names

    assert tuple(engine_names()) == option_values.ENGINE_NAMES
    assert option_values.NEAREST == NEAREST
    assert option_values.BACKENDS == BACKENDS
    assert option_values.MAX_BATCH_MINUTES == MAX_BATCH_MINUTES
    assert option_values.MAX_RELEASE_MINUTES == MAX_RELEASE_MINUTES
    assert option_values.CLTV_LEVELS == LEVELS
    assert option_values.DEFAULT_MAX_HISTORY_LOSS == DEFAULT_MAX_HISTORY_LOSS
    assert option_values.SERVICES == SERVICES
    assert option_values.DEFAULT_START == DEFAULT_START
    assert option_values.MAX_TTL_S == MAX_TTL_S
    assert option_values.MAX_INTERVAL_S == MAX_INTERVAL_S


#: Packages ``tierflow serve`` imports only when a request needs them: the
#: carrier holidays (a year's set is built on first ask), the stock prices'
#: Poisson tails (``scipy.special``) and the bid-price LP's sparse matrix
#: (``scipy.sparse``, whose array-API layer was the larger part of both).
SERVE_LATER = ("holidays", "scipy", "scipy.special", "scipy.sparse")

#: What answering a checkout never runs: CP-SAT (OR-Tools), CBC (PuLP) and
#: the engine registry that imports every engine. HiGHS is not among them:
#: the bid-price LP runs on it when capacity is tight.
CHECKOUT_NEVER = (
    "ortools",
    "ortools.sat",
    "pulp",
    "tierflow.solver.registry",
    "tierflow.solver.cpsat",
    "tierflow.solver.cbc",
    "tierflow.solver.portfolio",
)


#: Four stages run one after another in one fresh interpreter (one
#: start-up's imports, not four): a network loaded, the serving stack
#: imported, what it defers used, then a router built on a fresh store
#: (``STATE``) and one checkout answered.
_STAGES = {
    "network": (
        "from pathlib import Path\n"
        "from tierflow.data.network import load_network\n"
        "load_network(Path('tests/data/tiny_network'))"
    ),
    "serving": (
        "import tierflow.service.app\n"
        "import tierflow.orchestration.checkout.router\n"
        "import tierflow.orchestration.bid_prices\n"
        "import tierflow.cli.serve_cmd"
    ),
    "used": (
        "import datetime as dt\n"
        "import numpy as np\n"
        "from tierflow.data.carrier_calendar import carrier_days\n"
        "from tierflow.orchestration.stock_prices import _poisson_cdf, _poisson_sf\n"
        "from tests.instances import fractional_lp\n"
        "from tierflow.solver.matrix import build_matrix\n"
        "assert dt.date(2026, 12, 25) in carrier_days(2026)\n"
        "k, lam = np.array([-1, 0, 3]), np.array([2.0, 2.0, 2.0])\n"
        "assert _poisson_cdf(k, lam)[0] == 0.0 and _poisson_sf(k, lam)[0] == 1.0\n"
        "assert build_matrix(fractional_lp().problem).matrix.nnz > 0"
    ),
    "checkout": (
        "import datetime as dt\n"
        "from tierflow.orchestration.checkout.router import OnlineRouter\n"
        "router = OnlineRouter.open(Path('tests/data/tiny_network'), STATE)\n"
        "now = dt.datetime(2026, 1, 5, 15, tzinfo=dt.timezone.utc)\n"
        "answer = router.generate_fulfillment_options(\n"
        "    'C1', [('TEE', 1)], '10001', now=now\n"
        ")\n"
        "assert answer.options and not answer.degraded, answer\n"
        "router.close()"
    ),
}


@pytest.fixture(scope="module")
def loaded_after(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Which of :data:`SERVE_LATER` and :data:`CHECKOUT_NEVER` are imported
    after each of :data:`_STAGES`."""
    state = tmp_path_factory.mktemp("lazy") / "state.db"
    watched = SERVE_LATER + CHECKOUT_NEVER
    code = f"import json, sys\nSTATE = {str(state)!r}\nloaded = {{}}\n"
    for stage, statement in _STAGES.items():
        code += (
            f"{statement}\n"
            f"loaded[{stage!r}] = sorted(m for m in {watched!r} if m in sys.modules)\n"
        )
    code += "print(json.dumps(loaded))\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, list[str]] = json.loads(done.stdout)
    return loaded


def _of(names: tuple[str, ...], loaded: list[str]) -> list[str]:
    """Those of ``loaded`` among ``names``."""
    return [m for m in loaded if m in names]


def test_the_serving_stack_imports_no_holidays_nor_scipy(
    loaded_after: dict[str, list[str]],
) -> None:
    """The app, the checkout router (stock and bid prices) and the serve
    command: 0.22 s less CPU a server start without them (1.41 -> 1.19 s,
    median of 9)."""
    assert _of(SERVE_LATER, loaded_after["serving"]) == []


def test_loading_a_network_imports_no_holidays(
    loaded_after: dict[str, list[str]],
) -> None:
    """A server start reads its network; the carrier holidays of a year are
    built (and the ``holidays`` package imported) when a date is asked."""
    assert _of(SERVE_LATER, loaded_after["network"]) == []


def test_what_the_serving_stack_defers_still_loads_when_used(
    loaded_after: dict[str, list[str]],
) -> None:
    """The deferred imports happen on use: a carrier date, a Poisson tail
    and an LP matrix."""
    assert _of(SERVE_LATER, loaded_after["used"]) == sorted(SERVE_LATER)


def test_a_checkout_imports_no_engine_it_never_runs(
    loaded_after: dict[str, list[str]],
) -> None:
    """The serving stack, a router and one options call (after every stage
    above) import neither OR-Tools nor PuLP, nor the engine registry, which
    imports every engine: the checkout runs greedy's node choice and, at
    tight capacity, the bid-price LP on HiGHS."""
    assert _of(CHECKOUT_NEVER, loaded_after["checkout"]) == []
