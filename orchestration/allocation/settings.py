"""How a day is allocated: the ``tierflow allocate`` options as one value."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_SEED, MAX_TIME_LIMIT_S, require_number
from tierflow.solver.partition import BACKENDS
from tierflow.solver.registry import engine_names, engines_with, get_engine

#: The baseline policy: each order, in arrival order, to the nearest node that
#: has its stock and room (what order-management systems do by default).
NEAREST = "nearest"

#: The longest batch window: a day.
MAX_BATCH_MINUTES = 1440.0
#: The longest an allocation may wait to be released to its node: a week.
MAX_RELEASE_MINUTES = 7 * 1440.0


@dataclass(frozen=True, slots=True)
class AllocationSettings:
    """How a day is allocated (the ``tierflow allocate`` options).

    Attributes
    ----------
    engine
        Registry name of the engine solving each batch.
    time_limit_s
        Limit per batch solve (per stage).
    batch_minutes, batch_size
        Micro-batches by time window, or by number of orders when
        ``batch_size`` is given.
    use_bid_prices, bid_refresh, bid_shift
        Add LP capacity duals to node costs, refreshed every ``bid_refresh``
        batches, after every capacity event, and as soon as the forecast of
        the day's total has moved by more than ``bid_shift`` (a share) since
        the prices were computed: an unannounced spike re-prices the nodes
        within a batch of being noticed, not at the next scheduled refresh.
    bid_scenarios
        With bid prices, how many demand scenarios the capacity prices
        average (1: the LP of the expected demand; more: a randomized LP,
        :func:`tierflow.orchestration.bid_prices.bid_prices`). An
        experiment, 1: not adopted by its benchmark rule, measured twice,
        and a third time with ``room_prices_by_tier`` (``docs/allocation.md``,
        bid prices over demand scenarios).
    stock_bid_prices
        With bid prices, also charge each unit of a SKU taken at a node its
        expected value to the rest of the day
        (:mod:`tierflow.orchestration.stock_prices`).
    room_prices_by_tier
        With bid prices, also charge an item of a tier without a guarantee
        the expected loss of the guaranteed (Platinum) orders to come that
        only the node can keep on time and whose room it takes
        (:mod:`tierflow.orchestration.room_prices`). An experiment, off: not
        adopted by its benchmark rule, measured twice, and a third time with
        ``bid_scenarios`` 4 (``docs/allocation.md``, room prices by tier).
    hindsight
        Solve the whole day as one problem.
    relative_gap
        Optimality tolerance passed to the engine.
    release_minutes
        An allocation is released to its node this long after its batch;
        until then a capacity event may reroute it.
    platinum_at_checkout
        Platinum orders had their node and stock reserved at checkout
        (:mod:`tierflow.orchestration.checkout.router`), so their cutoff is judged at the order's own
        time, not at the end of its batch window.
    expected_orders
        A what-if override of the day's order count in the bid-price
        forecast (``None``: the forecast's own, from past days or from
        today's arrivals).
    split_for_room
        Whole orders a batch leaves waiting are offered, line by line, to the
        room left (an order too big for any node's leftover still ships).
    backend, n_jobs
        ``none`` solves each batch whole; ``loky``/``threading``/``dask`` split
        it by region and solve the partitions in parallel
        (:mod:`tierflow.solver.partition`).
    deterministic
        Solve every batch reproducibly
        (:attr:`~tierflow.solver.params.SolveParams.deterministic`): CP-SAT
        stops on ``time_limit_s`` of its deterministic time, not on the
        clock, so the same command gives the same allocations on any machine
        and at any load. Only engines that can (``cpsat``, ``cpsat-plain``,
        ``greedy``, ``nearest``) take it.
    """

    engine: str = "cpsat"
    time_limit_s: float = 2.0
    batch_minutes: float = 15.0
    batch_size: int | None = None
    use_bid_prices: bool = True
    stock_bid_prices: bool = True
    bid_scenarios: int = 1
    room_prices_by_tier: bool = False
    bid_refresh: int = 4
    bid_shift: float = 0.10
    hindsight: bool = False
    relative_gap: float = 1e-4
    release_minutes: float = 60.0
    platinum_at_checkout: bool = True
    expected_orders: int | None = None
    seed: int = 0
    threads: int | None = None
    backend: str = "none"
    n_jobs: int = 2
    split_for_room: bool = True
    deterministic: bool = False

    def __post_init__(self) -> None:
        # a negative batch size allocated nothing, silently; NaN or inf
        # minutes failed deep in the batching with a numpy error
        if self.engine not in engine_names(baselines=True):
            raise InputError("unknown engine", field="engine", value=self.engine)
        if self.backend not in BACKENDS:
            raise InputError(
                f"must be one of {', '.join(BACKENDS)}",
                field="backend",
                value=self.backend,
            )
        require_number(self.time_limit_s, "time_limit_s", 0, MAX_TIME_LIMIT_S)
        require_number(
            self.batch_minutes, "batch_minutes", 0, MAX_BATCH_MINUTES, low_open=True
        )
        require_number(self.release_minutes, "release_minutes", 0, MAX_RELEASE_MINUTES)
        require_number(self.bid_shift, "bid_shift", 0, math.inf)  # inf: never
        require_number(self.relative_gap, "relative_gap", 0, 1)
        require_number(self.bid_refresh, "bid_refresh", 1, 10_000, integer=True)
        require_number(self.bid_scenarios, "bid_scenarios", 1, 100, integer=True)
        require_number(self.seed, "seed", 0, MAX_SEED, integer=True)
        require_number(self.n_jobs, "n_jobs", 1, 256, integer=True)
        optional = (
            ("batch_size", self.batch_size, 1_000_000),
            ("expected_orders", self.expected_orders, 100_000_000),
            ("threads", self.threads, 1024),
        )
        for name, value, most in optional:
            if value is not None:
                require_number(value, name, 1, most, integer=True)
        if self.deterministic:
            require_deterministic(self.engine)

    def params(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The settings that decide a run's allocations (part of its identity).

        How the partitions are spread is left out: ``loky``, ``threading``
        and ``dask`` at any ``n_jobs`` solve the same partitions with the
        same parameters, so a run resumed with another ``--jobs`` or
        parallel backend resumes instead of starting again. Whether the
        batches are partitioned at all (``backend`` ``none`` or not) changes
        the problems solved, and is kept as ``partitioned``.
        """
        kept = self.params()
        del kept["n_jobs"]
        if not kept["room_prices_by_tier"]:  # absent keeps earlier runs' ids
            del kept["room_prices_by_tier"]
        if kept["bid_scenarios"] == 1:  # absent keeps earlier runs' ids
            del kept["bid_scenarios"]
        kept["partitioned"] = kept.pop("backend") != "none"
        return kept

    @property
    def batch_bid_prices(self) -> bool:
        """Whether batches see bid prices: never in hindsight (it sees the
        day), nor for the nearest-node baseline, which reads no cost: it
        solved the bid-price LPs unread, and its summary said it had bid
        prices and a forecast (``allocate --engine nearest``)."""
        return self.use_bid_prices and not self.hindsight and self.engine != NEAREST


def require_deterministic(engine: str, *, baselines: bool = True) -> None:
    """Refuse ``engine`` for a deterministic run when it stops on the clock
    (``allocate``, ``simulate`` and ``bench allocation --deterministic``
    refuse it in the same words).

    ``baselines=False`` for a caller whose engines are the solvers alone
    (``simulate``'s ``--engine``, ``bench allocation``'s ``--engines``):
    the engines the error suggests are then only those it takes, where it
    told them to use ``nearest`` and then refused it as an unknown engine.
    """
    if engine in engine_names(baselines=True) and (
        not get_engine(engine).capabilities.deterministic
    ):
        offered = engine_names(baselines=baselines)
        able = ", ".join(e for e in engines_with(deterministic=True) if e in offered)
        raise InputError(
            f"stops on the clock, so it cannot solve deterministically (use {able})",
            field="engine",
            value=engine,
        )
