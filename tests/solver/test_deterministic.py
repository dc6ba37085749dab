"""``SolveParams(deterministic=True)``: the same problem, the same answer.

CP-SAT under a wall-clock limit stops wherever the clock finds it: two
solves of one instance that neither proves optimal differ with the load of
the machine (8 workers, 0.3 s: 6,419 and 6,395 on the instance below). On
deterministic time, with one worker or several interleaved, they do not,
however busy the machine; the answer depends on the worker count.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tierflow.data.errors import InputError
from tierflow.data.orlib_gap import generate_chu_beasley
from tierflow.formulations.gap import gap_instance
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.params import SolveParams
from tierflow.solver.registry import engines_with
from tierflow.solver.result import Status
from tierflow.solver.solve import solve


@pytest.fixture(scope="module")
def hard() -> AssignmentProblem:
    """A type-D GAP (10 agents, 100 jobs) that 0.3 of CP-SAT's deterministic
    time does not prove optimal."""
    return gap_instance(generate_chu_beasley("D", 10, 100, seed=3)).problem


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """A thread keeping a core busy meanwhile (a machine under load)."""
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("engine", ["cpsat", "cpsat-plain"])
def test_deterministic_solves_repeat_their_answer(
    hard: AssignmentProblem, engine: str
) -> None:
    """The second solve runs with a core busy, the first without: the same
    answer under another load (and the spinning thread's CPU paid for one
    solve in two)."""
    for threads in (None, 2):
        params = SolveParams(time_limit_s=0.2, threads=threads, deterministic=True)
        first = solve(hard, engine, params=params)
        assert first.status is Status.FEASIBLE  # stopped by its limit, not proven
        with busy():
            again = solve(hard, engine, params=params)
        assert again.objective == first.objective
        np.testing.assert_array_equal(again.assignment, first.assignment)


@pytest.mark.parametrize("engine", ["highs", "lp"])
def test_engines_on_the_clock_refuse_a_deterministic_solve(
    hard: AssignmentProblem, engine: str
) -> None:
    able = ", ".join(engines_with(deterministic=True))
    assert able == "cpsat, greedy, cpsat-plain, nearest"
    with pytest.raises(
        InputError,
        match=rf"^field 'deterministic': value '{engine}': stops on the clock, "
        rf"so its answers are not reproducible: deterministic solves use {able}$",
    ):
        solve(hard, engine, params=SolveParams(deterministic=True))
