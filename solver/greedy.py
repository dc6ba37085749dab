"""Greedy construction plus bounded local search: the always-available engine.

Construction follows Martello & Toth's MTHG: items are taken in order of
*regret* (how much worse their second-best option is than their best; scaled
by priority such as CLTV when given), each placed on its best feasible node.
Regrets are re-evaluated lazily as capacity fills. Several desirability
measures (cost, relative weight) are tried when the first does not place
every item, then a repair step frees room by shifting one item elsewhere.

Improvement is best-improvement *shift* (many non-conflicting moves per
round, all scored as one array operation) and *swap* of two items between
nodes, bounded by rounds and by the time limit.

The per-item work is a handful of length-``n_agents`` array operations, so a
single checkout decision takes microseconds; this is the fallback whenever
another engine fails or times out.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import DEFAULT_RELATIVE_GAP, Availability
from tierflow.solver.result import Limit, SolveResult, Status

_TOL = 1e-9
#: Capacity prices tried by the blended desirability (see ``_desirability``).
BLEND_MUS = (0.25, 0.5, 1.0, 2.0, 4.0)
_INF = np.inf


@dataclass(slots=True)
class _Stock:
    """Sparse view of the extra resources: item -> (resource, units)."""

    item_ptr: NDArray[np.int64]
    resource: NDArray[np.int64]
    units: NDArray[np.float64]
    nz_item: NDArray[np.int64]

    @classmethod
    def of(cls, problem: AssignmentProblem) -> _Stock | None:
        if problem.use is None:
            return None
        items, res = np.nonzero(problem.use)
        ptr = np.searchsorted(items, np.arange(problem.n_items + 1)).astype(np.int64)
        return cls(
            item_ptr=ptr,
            resource=res.astype(np.int64),
            units=problem.use[items, res],
            nz_item=items.astype(np.int64),
        )

    def ok_for_item(self, i: int, stock_left: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Agents that hold enough of every resource item ``i`` needs."""
        lo, hi = self.item_ptr[i], self.item_ptr[i + 1]
        if lo == hi:
            return np.ones(stock_left.shape[0], dtype=bool)
        need = self.units[lo:hi]
        have = stock_left[:, self.resource[lo:hi]]
        ok: NDArray[np.bool_] = np.all(have >= need - _TOL, axis=1)
        return ok

    def ok_matrix(
        self, stock_left: NDArray[np.float64], n_items: int
    ) -> NDArray[np.bool_]:
        """``(n_items, n_agents)``: whether each agent can supply each item."""
        short = self.units[:, None] - _TOL > stock_left[:, self.resource].T
        bad = np.zeros((n_items, stock_left.shape[0]), dtype=np.int64)
        np.add.at(bad, self.nz_item, short)
        ok: NDArray[np.bool_] = bad == 0
        return ok


@dataclass(slots=True)
class _State:
    """A (partial) assignment with its residual capacity and stock."""

    assignment: NDArray[np.int64]
    residual: NDArray[np.float64]
    stock_left: NDArray[np.float64] | None
    reasons: dict[int, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, problem: AssignmentProblem) -> _State:
        return cls(
            assignment=np.full(problem.n_items, -1, dtype=np.int64),
            residual=problem.capacity.astype(np.float64).copy(),
            stock_left=None if problem.stock is None else problem.stock.copy(),
        )

    @classmethod
    def of(cls, problem: AssignmentProblem, assignment: NDArray[np.int64]) -> _State:
        """State of a given (possibly infeasible) assignment, made feasible.

        Ineligible pairs are dropped; on an overloaded node (capacity or stock)
        the most expensive items are dropped until it fits.
        """
        state = cls.empty(problem)
        a = np.asarray(assignment, dtype=np.int64).copy()
        a[(a < -1) | (a >= problem.n_agents)] = -1
        rows = np.flatnonzero(a >= 0)
        a[rows[~problem.eligible[rows, a[rows]]]] = -1
        state.assignment = a
        state.residual -= problem.load(a)
        if state.stock_left is not None:
            state.stock_left -= problem.resource_load(a)
        for j in range(problem.n_agents):
            while state.residual[j] < -_TOL or (
                state.stock_left is not None and (state.stock_left[j] < -_TOL).any()
            ):
                at_j = np.flatnonzero(state.assignment == j)
                worst = at_j[np.argmax(problem.cost[at_j, j])]
                state.place(problem, int(worst), -1)
        return state

    def place(self, problem: AssignmentProblem, i: int, j: int) -> None:
        old = int(self.assignment[i])
        if old >= 0:
            self.residual[old] += problem.weight[i, old]
            if self.stock_left is not None and problem.use is not None:
                self.stock_left[old] += problem.use[i]
        self.assignment[i] = j
        if j >= 0:
            self.residual[j] -= problem.weight[i, j]
            if self.stock_left is not None and problem.use is not None:
                self.stock_left[j] -= problem.use[i]


def _item_options(
    problem: AssignmentProblem, stock: _Stock | None, state: _State, i: int
) -> NDArray[np.bool_]:
    ok: NDArray[np.bool_] = problem.eligible[i] & (
        problem.weight[i] <= state.residual + _TOL
    )
    if stock is not None and state.stock_left is not None:
        ok &= stock.ok_for_item(i, state.stock_left)
    return ok


def _desirability(problem: AssignmentProblem, measure: str) -> NDArray[np.float64]:
    if measure == "cost":
        return np.asarray(problem.cost, dtype=np.float64)
    cap = np.maximum(problem.capacity, _TOL)
    if measure == "weight":
        return problem.weight / cap[None, :]
    if measure == "cost_weight":
        return problem.cost * problem.weight / cap[None, :]
    if measure.startswith("blend:"):
        # cost plus mu x the share of an item's fair capacity slice it uses: a
        # crude Lagrangian price of capacity, scanned over mu
        mu = float(measure.split(":", 1)[1])
        scale = float(np.median(np.abs(problem.cost[problem.eligible]))) or 1.0
        share = cap / max(problem.n_items / max(problem.n_agents, 1), 1.0)
        return problem.cost / scale + mu * problem.weight / share[None, :]
    raise ValueError(f"unknown desirability measure {measure!r}")


def _regret(values: NDArray[np.float64]) -> float:
    """Second-best minus best of a row (``inf`` when only one option)."""
    if values.size <= 1:
        return _INF
    two = np.partition(values, 1)[:2]
    return float(two[1] - two[0])


def construct(
    problem: AssignmentProblem,
    measure: str = "cost",
    state: _State | None = None,
    items: NDArray[np.int64] | None = None,
    desirability: NDArray[np.float64] | None = None,
) -> _State:
    """Place ``items`` (default: every unassigned item) in regret order.

    ``desirability`` overrides the measure's matrix (lower is better), e.g.
    a perturbed cost for randomized restarts.
    """
    stock = _Stock.of(problem)
    state = state or _State.empty(problem)
    desir = _desirability(problem, measure) if desirability is None else desirability
    can_defer = problem.defer_cost is not None
    if items is None:
        items = np.flatnonzero(state.assignment < 0)
    if items.size == 0:
        return state
    weight = np.ones(problem.n_items)
    if problem.priority is not None:
        pr = np.maximum(problem.priority, 0.0)
        weight = 1.0 + pr / max(float(pr.mean()), _TOL)

    # Static first estimate of every regret, from the initial residuals.
    masked = np.where(
        problem.eligible[items] & (problem.weight[items] <= state.residual + _TOL),
        desir[items],
        _INF,
    )
    if can_defer and measure == "cost":
        assert problem.defer_cost is not None
        masked = np.concatenate([masked, problem.defer_cost[items, None]], axis=1)
    if masked.shape[1] >= 2:
        two = np.partition(masked, 1, axis=1)[:, :2]
        with np.errstate(invalid="ignore"):
            regret = np.where(np.isinf(two[:, 1]), _INF, two[:, 1] - two[:, 0])
    else:
        regret = np.full(items.size, _INF)
    regret = np.nan_to_num(regret, nan=_INF, posinf=1e300)
    key = regret * weight[items]
    heap = [(-float(k), int(i)) for k, i in zip(key, items, strict=True)]
    heapq.heapify(heap)
    fresh = np.zeros(problem.n_items, dtype=bool)
    while heap:
        _, i = heapq.heappop(heap)
        ok = _item_options(problem, stock, state, i)
        values = desir[i][ok]
        cols = np.flatnonzero(ok)
        defer_here = can_defer and measure == "cost"
        if defer_here:
            assert problem.defer_cost is not None
            values = np.append(values, problem.defer_cost[i])
        if values.size == 0 or (defer_here and values.size == 1):
            state.assignment[i] = -1
            state.reasons[i] = _no_option_reason(problem, stock, state, i)
            continue
        if not fresh[i] and heap:
            new_key = min(_regret(values), 1e300) * weight[i]
            if new_key < -heap[0][0] - _TOL:
                fresh[i] = True
                heapq.heappush(heap, (-new_key, i))
                continue
        best = int(np.argmin(values))
        if best >= cols.size:  # deferral is the cheapest option
            state.assignment[i] = -1
            state.reasons[i] = "deferred: waiting is cheaper than every feasible node"
            continue
        state.place(problem, i, int(cols[best]))
    return state


def _no_option_reason(
    problem: AssignmentProblem, stock: _Stock | None, state: _State, i: int
) -> str:
    elig = problem.eligible[i]
    if not elig.any():
        return "no eligible node"
    if stock is not None and state.stock_left is not None:
        if not (elig & stock.ok_for_item(i, problem.stock)).any():  # type: ignore[arg-type]
            return "no eligible node holds the stock"
        if not (elig & stock.ok_for_item(i, state.stock_left)).any():
            return "stock at eligible nodes taken by other items"
    if not (elig & (problem.weight[i] <= problem.capacity + _TOL)).any():
        return "larger than the capacity of every eligible node"
    return "capacity of every eligible node taken by other items"


def _current_cost(
    problem: AssignmentProblem, a: NDArray[np.int64]
) -> NDArray[np.float64]:
    cur = np.where(a >= 0, problem.cost[np.arange(a.size), np.maximum(a, 0)], 0.0)
    if problem.defer_cost is not None:
        cur = np.where(a < 0, problem.defer_cost, cur)
    else:
        cur = np.where(a < 0, _INF, cur)
    return cur


def shift_round(problem: AssignmentProblem, state: _State, stock: _Stock | None) -> int:
    """Apply improving shifts, at most one per target node; return how many."""
    a = state.assignment
    cur = _current_cost(problem, a)
    feasible = problem.eligible & (problem.weight <= state.residual[None, :] + _TOL)
    if stock is not None and state.stock_left is not None:
        feasible &= stock.ok_matrix(state.stock_left, problem.n_items)
    delta = np.where(feasible, problem.cost - cur[:, None], _INF)
    assigned = np.flatnonzero(a >= 0)
    delta[assigned, a[assigned]] = _INF
    if problem.defer_cost is not None:
        # Column m = "defer": releasing an item that costs more than waiting.
        defer_delta = np.where(a >= 0, problem.defer_cost - cur, _INF)
        delta = np.concatenate([delta, defer_delta[:, None]], axis=1)
    best_item = np.argmin(delta, axis=0)
    best_delta = delta[best_item, np.arange(delta.shape[1])]
    moves = 0
    used_items: set[int] = set()
    for j in np.argsort(best_delta):
        if best_delta[j] >= -_TOL * max(1.0, abs(float(cur[best_item[j]]))):
            break
        i = int(best_item[j])
        if i in used_items:
            continue
        target = int(j) if j < problem.n_agents else -1
        if target >= 0 and problem.weight[i, target] > state.residual[target] + _TOL:
            continue  # another move this round already filled it
        if (
            target >= 0
            and stock is not None
            and state.stock_left is not None
            and not stock.ok_for_item(i, state.stock_left)[target]
        ):
            continue
        used_items.add(i)
        state.place(problem, i, target)
        if target < 0:
            state.reasons[i] = "deferred: waiting is cheaper than every feasible node"
        else:
            state.reasons.pop(i, None)
        moves += 1
    return moves


def swap_round(problem: AssignmentProblem, state: _State, stock: _Stock | None) -> int:
    """Apply improving swaps of two assigned items, best first, each node in at
    most one swap per round (so every checked move stays valid); return how many.
    """
    a = state.assignment
    idx = np.flatnonzero(a >= 0)
    if idx.size < 2:
        return 0
    ag = a[idx]
    cur = problem.cost[idx, ag]
    cq = problem.cost[idx][:, ag]  # cq[u, v]: item idx[u] at the agent of idx[v]
    wq = problem.weight[idx][:, ag]
    eq = problem.eligible[idx][:, ag]
    room = state.residual[ag] + problem.weight[idx, ag]  # room at own agent if left
    delta = cq + cq.T - cur[:, None] - cur[None, :]
    ok = eq & eq.T & (room[:, None] + _TOL >= wq.T) & (wq <= room[None, :] + _TOL)
    ok &= ag[:, None] != ag[None, :]
    delta = np.where(ok, delta, _INF)
    np.fill_diagonal(delta, _INF)
    top = min(delta.size - 1, 2 * problem.n_agents + 32)
    order = np.argpartition(delta, top, axis=None)[: top + 1]
    order = order[np.argsort(delta.ravel()[order], kind="stable")]
    touched: set[int] = set()
    swaps = 0
    for flat in order:
        u, v = np.unravel_index(int(flat), delta.shape)
        if delta[u, v] >= -_TOL * max(1.0, abs(float(cur[u] + cur[v]))):
            break
        i, k = int(idx[u]), int(idx[v])
        p, q = int(a[i]), int(a[k])
        if p in touched or q in touched:
            continue  # an earlier swap of this round changed p's or q's room
        if (
            stock is not None
            and state.stock_left is not None
            and problem.use is not None
        ):
            left_p = state.stock_left[p] + problem.use[i] - problem.use[k]
            left_q = state.stock_left[q] + problem.use[k] - problem.use[i]
            if (left_p < -_TOL).any() or (left_q < -_TOL).any():
                continue
        state.place(problem, i, -1)
        state.place(problem, k, p)
        state.place(problem, i, q)
        touched.update((p, q))
        swaps += 1
    return swaps


def _repair_limit(problem: AssignmentProblem) -> int:
    """Most unassigned items worth a repair pass (each costs O(nodes × items))."""
    return 5 + problem.n_items // 20


def repair(
    problem: AssignmentProblem,
    state: _State,
    stock: _Stock | None,
    *,
    deadline: float | None = None,
) -> int:
    """Place unassigned items by moving one blocking item elsewhere; return count.

    For an unplaced item ``i`` and each eligible node ``j``, a candidate is an
    item ``k`` now at ``j`` whose removal frees enough capacity *and* stock for
    ``i``, and which fits (capacity, stock, eligibility) at some other node ``q``.
    The cheapest such double move wins. Stops at ``deadline``. It mends a few
    leftovers: with more than :func:`_repair_limit` items unplaced (each costs
    O(nodes × items)) it does nothing and returns 0.
    """
    placed = 0
    use = problem.use
    unplaced = np.flatnonzero(state.assignment < 0)
    if unplaced.size > _repair_limit(problem):
        return 0
    for i in map(int, unplaced):
        if deadline is not None and time.perf_counter() > deadline:
            break
        if problem.defer_cost is not None and "deferred" in state.reasons.get(i, ""):
            continue
        best: tuple[float, int, int, int] | None = None
        for j in map(int, np.flatnonzero(problem.eligible[i])):
            need = problem.weight[i, j] - state.residual[j]
            stock_ok = (
                stock is None
                or state.stock_left is None
                or bool(stock.ok_for_item(i, state.stock_left)[j])
            )
            if need <= _TOL and stock_ok:
                cand = (float(problem.cost[i, j]), j, -1, -1)
                if best is None or cand < best:
                    best = cand
                continue
            at_j = np.flatnonzero(state.assignment == j)
            at_j = at_j[problem.weight[at_j, j] >= need - _TOL]
            if use is not None and state.stock_left is not None and at_j.size:
                # after k leaves j, j must hold what i needs
                after = state.stock_left[j][None, :] + use[at_j]
                at_j = at_j[np.all(after >= use[i][None, :] - _TOL, axis=1)]
            if at_j.size == 0:
                continue
            fits = problem.eligible[at_j] & (
                problem.weight[at_j] <= state.residual[None, :] + _TOL
            )
            fits[:, j] = False
            if use is not None and state.stock_left is not None:
                have = state.stock_left[None, :, :] >= use[at_j][:, None, :] - _TOL
                fits &= np.all(have, axis=2)
            if not fits.any():
                continue
            extra = np.where(
                fits, problem.cost[at_j] - problem.cost[at_j, j][:, None], _INF
            )
            u, q = np.unravel_index(int(np.argmin(extra)), extra.shape)
            cand = (
                float(problem.cost[i, j] + extra[u, q]),
                j,
                int(at_j[u]),
                int(q),
            )
            if best is None or cand < best:
                best = cand
        if best is None:
            continue
        _, target, moved, dest = best
        if moved >= 0:
            state.place(problem, moved, dest)
        state.place(problem, i, target)
        state.reasons.pop(i, None)
        placed += 1
    return placed


def improve(
    problem: AssignmentProblem,
    state: _State,
    *,
    deadline: float,
    max_rounds: int = 10_000,
    swaps: bool = True,
) -> _State:
    """Local search until no shift or swap improves, the round cap, or the deadline."""
    stock = _Stock.of(problem)
    use_swaps = swaps and problem.n_items <= 3000
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        if shift_round(problem, state, stock):
            continue
        if not use_swaps or time.perf_counter() > deadline:
            break
        if not swap_round(problem, state, stock):
            break
    return state


#: Starts (best first) that get the shift/swap local search, beyond
#: :data:`SMALL_PAIRS` items × nodes (below it every start does).
IMPROVED_STARTS = 3
SMALL_PAIRS = 10_000


def greedy_assign(
    problem: AssignmentProblem,
    *,
    time_limit_s: float = 10.0,
    warm_start: NDArray[np.int64] | None = None,
    improve_solution: bool = True,
    seed: int = 0,
    max_restarts: int = 500,
) -> tuple[NDArray[np.int64], dict[int, str]]:
    """Best greedy assignment found; returns ``(assignment, reasons)``.

    ``reasons`` explains each unassigned item. Without a defer option an
    unassigned item means no complete feasible assignment was found; in that
    case randomized restarts (perturbed desirabilities, then repair) run until
    one is complete, ``max_restarts`` or the time limit.
    """
    start = time.perf_counter()
    deadline = start + max(time_limit_s, 0.0)
    stock = _Stock.of(problem)
    measures = (
        ["cost"]
        if problem.can_defer
        else ["cost", *(f"blend:{mu:g}" for mu in BLEND_MUS), "cost_weight", "weight"]
    )
    if problem.n_items > 20_000:
        measures = measures[:1]
    candidates: list[_State] = []
    if warm_start is not None:
        state = _State.of(problem, np.asarray(warm_start, dtype=np.int64))
        construct(problem, "cost", state)
        candidates.append(state)
    for measure in measures:
        if candidates and time.perf_counter() > deadline:
            break
        state = construct(problem, measure)
        if (state.assignment < 0).any():
            repair(problem, state, stock, deadline=deadline)
            if measure != "cost" and (state.assignment < 0).any():
                construct(problem, "cost", state)
        candidates.append(state)
        complete = not problem.can_defer and not (state.assignment < 0).any()
        if complete and problem.n_items * problem.n_agents > 200_000:
            break  # a complete start on a big instance: skip the other measures

    def score(s: _State) -> tuple[int, float]:
        missing = 0 if problem.can_defer else int((s.assignment < 0).sum())
        return missing, float(
            _current_cost(problem, s.assignment)[s.assignment >= 0].sum()
        )

    if improve_solution:
        # every start on small instances (milliseconds, and the best local
        # optimum often comes from a worse start); the most promising few on
        # larger ones, where a swap round is O(n²) and polishing every start
        # costs seconds for little
        candidates.sort(key=score)
        small = problem.n_items * problem.n_agents <= SMALL_PAIRS
        for state in candidates if small else candidates[:IMPROVED_STARTS]:
            improve(problem, state, deadline=deadline)
            incomplete = (state.assignment < 0).any() and not problem.can_defer
            if incomplete and repair(problem, state, stock, deadline=deadline):
                improve(problem, state, deadline=deadline)
    best = min(candidates, key=score)
    if not problem.can_defer and (best.assignment < 0).any():
        rng = np.random.default_rng(seed)
        base = [_desirability(problem, m) for m in ("cost", "weight")]
        for restart in range(max_restarts):
            if time.perf_counter() > deadline:
                break
            noise = 1.0 + rng.random((problem.n_items, problem.n_agents))
            state = construct(problem, desirability=base[restart % 2] * noise)
            repair(problem, state, stock, deadline=deadline)
            if not (state.assignment < 0).any():
                if improve_solution:
                    improve(problem, state, deadline=deadline)
                best = state
                break
    if problem.can_defer:
        best = min(candidates, key=lambda s: problem.objective(s.assignment))
    reasons = {
        int(i): best.reasons.get(int(i), "no feasible node found")
        for i in np.flatnonzero(best.assignment < 0)
    }
    return best.assignment, reasons


def cheapest_feasible_node(
    cost: NDArray[np.float64],
    eligible: NDArray[np.bool_],
    weight: float | NDArray[np.float64],
    residual: NDArray[np.float64],
) -> int:
    """The online decision for one item: cheapest eligible node with room, or -1.

    ``weight`` is the item's capacity use per node, or one number when it is
    the same everywhere (the checkout's case: three array operations, a few µs).
    """
    masked = np.where(eligible & (residual >= weight - _TOL), cost, _INF)
    j = int(masked.argmin())
    return j if masked[j] < _INF else -1


class GreedyEngine:
    """``greedy``: regret construction + repair + shift/swap local search."""

    name = "greedy"
    exact = False
    proves_bound = False
    uses_warm_start = True

    def available(self) -> Availability:
        return Availability.AVAILABLE

    def solve(
        self,
        problem: AssignmentProblem,
        *,
        time_limit_s: float,
        seed: int,
        warm_start: NDArray[np.int64] | None,
        threads: int | None,
        relative_gap: float = DEFAULT_RELATIVE_GAP,
    ) -> SolveResult:
        start = time.perf_counter()
        assignment, reasons = greedy_assign(
            problem, time_limit_s=time_limit_s, warm_start=warm_start, seed=seed
        )
        runtime = time.perf_counter() - start
        if not problem.can_defer and (assignment < 0).any():
            return SolveResult(
                engine=self.name,
                status=Status.NO_SOLUTION,
                objective=None,
                bound=None,
                runtime_s=runtime,
                assignment=assignment,
                unassigned_reason=reasons,
                limit=Limit.OTHER,
                message=f"{int((assignment < 0).sum())} items could not be placed",
            )
        return SolveResult(
            engine=self.name,
            status=Status.FEASIBLE,
            objective=problem.objective(assignment),
            bound=None,
            runtime_s=runtime,
            assignment=assignment,
            unassigned_reason=reasons,
        )


def first_come_assign(
    problem: AssignmentProblem, key: NDArray[np.float64]
) -> tuple[NDArray[np.int64], dict[int, str]]:
    """Items in index order, each to the feasible node with the lowest ``key``.

    No look-ahead and no regret: what order-management systems do by default
    with ``key`` = distance ("nearest node with stock"). An item with no
    feasible node is deferred (the problem must allow deferral).
    """
    stock = _Stock.of(problem)
    state = _State.empty(problem)
    for i in range(problem.n_items):
        ok = _item_options(problem, stock, state, i)
        if not ok.any():
            state.reasons[i] = _no_option_reason(problem, stock, state, i)
            continue
        state.place(problem, i, int(np.argmin(np.where(ok, key[i], _INF))))
    reasons = {
        int(i): state.reasons.get(int(i), "no feasible node")
        for i in np.flatnonzero(state.assignment < 0)
    }
    return state.assignment, reasons
