"""Agent-subset large-neighbourhood search: exact re-solves of a few agents at a time.

A move frees every item of a few random agents and re-solves them among
those agents with a small CP-SAT model; the rest stays, so every move is
feasible and the objective can only fall.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.cpsat import solve_model
from tierflow.solver.params import SolveParams

#: Items freed per move (about: whole agents are freed, at least 2 and at most
#: LNS_MAX_AGENTS of them), and the time limit of one move's sub-solve.
#: Around 40 items a sub-GAP (even type E) is solved to optimality in tens of ms.
LNS_ITEMS = 40
LNS_MAX_AGENTS = 4
LNS_MOVE_S = 0.5


def _agents_per_move(problem: AssignmentProblem) -> int:
    """Agents to free so that about :data:`LNS_ITEMS` items move."""
    per_agent = max(problem.n_items / max(problem.n_agents, 1), 1.0)
    return int(np.clip(round(LNS_ITEMS / per_agent), 2, LNS_MAX_AGENTS))


def _resolve_agents(
    problem: AssignmentProblem,
    best: NDArray[np.int64],
    items: NDArray[np.intp],
    chosen: NDArray[np.bool_],
    params: SolveParams,
) -> NDArray[np.int64] | None:
    """``best`` with ``items`` (those of the ``chosen`` agents) re-solved among
    those agents (``None`` when the sub-solve finds nothing)."""
    sub = problem.subset(items)
    sub = sub.replace(eligible=sub.eligible & chosen[None, :])
    result = solve_model(sub, params, warm_start=best[items])
    if not result.has_solution:
        return None
    trial = best.copy()
    trial[items] = result.assignment
    return trial


def agent_lns(
    problem: AssignmentProblem,
    start: NDArray[np.int64],
    *,
    deadline: float,
    seed: int,
    workers: int,
    agents_per_move: int | None = None,
) -> tuple[NDArray[np.int64], int]:
    """Improve ``start`` by agent-subset moves until ``deadline``; (best, moves kept)."""
    rng = np.random.default_rng(seed)
    best = np.asarray(start, dtype=np.int64).copy()
    value = problem.objective(best)
    m = problem.n_agents
    if agents_per_move is None:
        agents_per_move = _agents_per_move(problem)
    k = min(agents_per_move, m)
    kept = 0
    if k < 2:
        return best, kept  # one agent alone cannot move anything
    while (left := deadline - time.perf_counter()) >= 0.05:
        chosen = np.zeros(m, dtype=bool)
        chosen[rng.choice(m, size=k, replace=False)] = True
        items = np.flatnonzero((best >= 0) & chosen[np.maximum(best, 0)])
        if items.size == 0:
            continue
        params = SolveParams(
            time_limit_s=min(LNS_MOVE_S, left),
            seed=int(rng.integers(1 << 30)),
            threads=workers,
        )
        trial = _resolve_agents(problem, best, items, chosen, params)
        if trial is None:
            continue
        trial_value = problem.objective(trial)
        if trial_value < value - 1e-9 * max(1.0, abs(value)):
            best, value = trial, trial_value
            kept += 1
    return best, kept
