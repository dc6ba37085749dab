"""What importing the solver costs: OR-Tools is imported by the first CP-SAT
model, not by the registry that lists the engine, so the checkout (whose
bid-price LP runs on HiGHS) never loads it."""

from __future__ import annotations

import subprocess
import sys


def _loaded(statement: str) -> list[str]:
    """The packages of OR-Tools and PuLP in ``sys.modules`` after ``statement``,
    in a fresh interpreter."""
    code = (
        f"import sys\n{statement}\n"
        "print(sorted(m for m in ('ortools', 'pulp') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return [done.stdout]


def test_the_registry_and_the_bid_price_lp_import_no_ortools() -> None:
    statement = (
        "import tierflow.orchestration.bid_prices\n"
        "from tierflow.solver import engine_names, get_engine\n"
        "assert 'cpsat-plain' in engine_names()\n"
        "get_engine('cpsat').available()"
    )
    assert _loaded(statement) == ["[]\n"]


def test_a_cp_sat_solve_imports_it() -> None:
    statement = (
        "from tests.instances import fractional_lp\n"
        "from tierflow.solver import solve\n"
        "assert solve(fractional_lp().problem, 'cpsat-plain').status.name == 'OPTIMAL'"
    )
    assert _loaded(statement) == ["['ortools']\n"]
