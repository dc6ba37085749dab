"""CBC's executable without writing into site-packages."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tierflow.solver.cbc import _executable_copy, cbc_binary


def test_a_binary_without_its_execute_bit_is_copied_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    installed = tmp_path / "site-packages" / "cbc"
    installed.parent.mkdir()
    installed.write_bytes(b"#!/bin/sh\necho cbc\n")
    installed.chmod(0o444)
    installed.parent.chmod(0o555)  # a read-only install
    try:
        copy = _executable_copy(installed)
        assert (
            copy is not None and Path(copy).parent.parent.parent == tmp_path / "cache"
        )
        assert os.access(copy, os.X_OK)
        assert Path(copy).read_bytes() == installed.read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o444  # left as it was
        assert _executable_copy(installed) == copy  # made once
    finally:
        installed.parent.chmod(0o755)


def test_the_bundled_binary_runs() -> None:
    path = cbc_binary()
    assert path is not None and os.access(path, os.X_OK)


def test_a_solution_over_capacity_in_small_units_is_not_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CBC's absolute feasibility tolerance let an item of 1e-8 into a
    capacity of 0 (the only agent it may go to): "Optimal" at 3.0 on an
    infeasible problem. The engine's answer is no solution, naming the row.
    (The matrix now scales such rows to 1, and CBC proves them infeasible:
    unscaled here.)"""
    import numpy as np

    from tierflow.formulations.problem import AssignmentProblem
    from tierflow.solver import Status, matrix, solve
    from tierflow.solver.cbc import CbcEngine
    from tierflow.solver.params import SolveParams

    problem = AssignmentProblem(
        cost=[[1.0, np.inf], [np.inf, 2.0]],
        weight=[[3e-8, 1e-8], [1e-8, 1e-8]],
        capacity=[4e-7, 0.0],
    )
    assert solve(problem, "cbc", time_limit_s=5.0).status is Status.INFEASIBLE
    monkeypatch.setattr(
        matrix, "_row_scale", lambda rows, values, upper: np.ones(upper.size)
    )
    own = CbcEngine().solve(problem, SolveParams(time_limit_s=5.0))
    assert own.status is Status.NO_SOLUTION
    assert own.message == (
        "PuLP status Optimal, solution Optimal Solution Found; its solution "
        "breaks capacity agent 1 (load 1e-08 > 0) violated by 1e-08: not taken"
    )
    result = solve(problem, "cbc", time_limit_s=5.0)
    assert result.fallback_from == "cbc"
    assert not result.has_solution


_CTRL_C_IN_CBC = """
import os, signal, threading, time
from pathlib import Path
from tierflow.data.orlib_gap import generate_chu_beasley
from tierflow.formulations.gap import gap_instance
from tierflow.solver import solve

def cbc_children(live=False):
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split('(', 1)[1].rsplit(')', 1)
        state, ppid = rest.split()[:2]
        if name == 'cbc' and ppid == str(os.getpid()):
            if not (live and state == 'Z'):
                found.append(int(stat.parent.name))
    return found

def ctrl_c():
    while not cbc_children():
        time.sleep(0.02)
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=ctrl_c, daemon=True).start()
problem = gap_instance(generate_chu_beasley('D', 20, 400, seed=1)).problem
try:
    solve(problem, 'cbc', time_limit_s=60.0, fallback=False)
    print('returned')
except KeyboardInterrupt:
    time.sleep(0.5)
    left = sorted(os.listdir(os.environ['TMPDIR']))
    print('KeyboardInterrupt', len(cbc_children(live=True)), left)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_during_a_cbc_solve_stops_cbc_and_leaves_no_files(
    tmp_path: Path,
) -> None:
    """A Ctrl-C sent to tierflow alone (``kill -INT``, a supervisor) ended
    it, exit 130, while PuLP's CBC child ran on for the rest of its time
    limit (100 % of a core, 1.2 GB on 480,000 columns) and left its model
    files in the temporary folder (160 MB there, never removed; a Ctrl-C
    at a terminal, which CBC gets too, left them as well). CBC is now
    stopped with the run and its files go with it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_IN_CBC],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "KeyboardInterrupt 0 []"


#: The end of a CBC log stopped on time, as CBC 2.10.3 writes it (the
#: numbers are c05100's, costs x 1e-6): the summary prints the bound with
#: three decimals, 0.0019239 as 0.002, above the optimum 0.001931 and the
#: incumbent 0.00195.
_CBC_LOG_TAIL = """\
Cbc0005I Partial search - best objective 0.00195 (best possible 0.0019239815), took 0 iterations and 0 nodes (0.31 seconds)

Result - Stopped on time limit

Objective value:                0.00195000
Lower bound:                    0.002
Gap:                            0.01
"""


@pytest.mark.parametrize(
    ("log", "bound"),
    [
        (_CBC_LOG_TAIL, 0.0015),
        ("Lower bound:                    0.002\n", 0.0015),
        ("Lower bound:                    -343.587\n", -343.5875),
        ("Lower bound:                    1.5e+12\n", 1.45e12),
        ("Objective value: 1e+50\n", None),
    ],
)
def test_the_bound_read_from_the_log_is_never_rounded_up(
    log: str, bound: float | None
) -> None:
    """CBC prints its bound rounded (``Lower bound`` with three decimals):
    read as printed it could exceed the optimum, and did (0.002 on an
    optimum of 0.001931). The printed value less half a unit of its last
    digit is a bound (a partial search's ``best possible``, more precise,
    is not read: a sub-MIP's would not bound the problem)."""
    from tierflow.solver.cbc import cbc_lower_bound

    found = cbc_lower_bound(log)
    assert found == (None if bound is None else pytest.approx(bound, rel=1e-12))


def test_cbc_proves_an_optimum_of_small_unit_costs_to_the_unit() -> None:
    """CBC prunes every node that cannot beat the incumbent by its cutoff
    increment, 1e-5 by default: on c05100 with costs x 1e-6 it stopped at
    0.001933 and said "Optimal solution found" (the optimum is 0.001931), so
    tierflow reported a bound above the optimum. The increment is now far
    below any gap tierflow calls optimal. Shown on a Chu & Beasley type C of
    5 agents and 40 jobs, costs x 1e-6 (optimum 778, cpsat and CBC): CBC
    with the default increment says "Optimal" at 0.000783; with tierflow's,
    it proves 0.000778 in 0.3 s of CPU (c05100 x 1e-6 took 5 s)."""
    from tierflow.data.orlib_gap import generate_chu_beasley
    from tierflow.formulations.gap import gap_instance
    from tierflow.solver import Status, solve, verify

    problem = gap_instance(generate_chu_beasley("C", 5, 40, seed=1)).problem
    assert solve(problem, "cpsat", time_limit_s=30).objective == 778.0
    problem = problem.replace(cost=problem.cost * 1e-6)
    result = solve(problem, "cbc", time_limit_s=60)
    verify(problem, result)
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(778e-6, rel=1e-9)
    assert result.bound is not None and result.bound <= 778e-6 * (1 + 1e-12)


def test_a_time_limited_cbc_bound_is_below_the_known_optimum() -> None:
    """c05100 (optimum 1931) with costs x 1e-6: CBC stopped on time printed
    a bound of 0.002 over an optimum of 0.001931; tierflow reported it,
    clamped to the incumbent, as a gap of 0 (greedy's 0.002878 on c10200
    ``optimal`` after a CBC that found nothing)."""
    from tests.conftest import GAP_DIR
    from tierflow.formulations.gap import load_gap_file
    from tierflow.solver import Status, solve, verify

    problem = load_gap_file(GAP_DIR / "c05100.txt")[0].problem
    problem = problem.replace(cost=problem.cost * 1e-6)
    result = solve(problem, "cbc", time_limit_s=0.2)
    verify(problem, result)
    assert result.bound is not None and result.bound <= 1931e-6
    if result.status is Status.OPTIMAL:
        assert result.objective == pytest.approx(1931e-6, rel=1e-9)
    else:
        assert result.objective is not None and result.bound < result.objective
