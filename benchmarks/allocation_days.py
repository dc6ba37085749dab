"""Allocation policies over many generated days, each against its own bound.

Every day has its own preceding 14-day history (the forecast's only input),
a volume drawn between 0.7x and 1.4x the history's mean and, on some days,
an unannounced promotion spike. Each day is allocated at loose and tight
capacity by the nearest-node baseline, myopic batches, the default policy
(bid prices from the history forecast) and, as a labelled reference, the
same with today's true volume (foresight). The node capacities are staffed
from the day's history (``simulate``'s :func:`staffed_capacity`), never from
the day's own orders, unless a run asks for the old protocol
(:data:`STAFFING`). Protocol: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tierflow.benchmarks.allocation_bench import (
    UTILIZATION,
    generate_offered,
    platinum_on_time,
)
from tierflow.capacity.demand_forecast import DemandForecast, business_day_start
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.order_generator import Spike
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.data.vocabulary import Tier
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationOutcome,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.hindsight import gap_to_bound_pct, telling_bound
from tierflow.orchestration.simulation.forecast import (
    scaled_capacity,
    staffed_capacity,
)
from tierflow.orchestration.simulation.report import bound_stop
from tierflow.solver.verify import check_allocation_rows

#: The first generated day; the others follow a week apart (all weekdays).
FIRST_DAY = dt.date(2026, 2, 2)
HISTORY_DAYS = 14
#: Share of days with an unannounced spike, and its range.
SPIKE_SHARE = 0.5
#: Seeds each day uses: the policies', its history's and its orders'.
SEEDS_PER_DAY = 3
#: Policies, in report order, with what each is.
POLICIES = {
    "nearest": "nearest node with stock and room (the OMS default)",
    "myopic": "the engine per batch, no bid prices",
    "default": "the engine with bid prices from the history forecast",
    "foresight": "REFERENCE, knows today's true volume: the default with foresight",
    "hindsight plan": "the whole day as one problem (knows the future)",
}
#: How a day's node capacities are set (``--staffing``), with what each is.
STAFFING = {
    "history": "staffed from the day's 14-day history: its mean day of work "
    "is the utilization's share (as simulate staffs)",
    "day": "scaled from the day's own workload, so every day is exactly the "
    "utilization's share full (knows the day's total)",
}


@dataclass(frozen=True, slots=True)
class DaySpec:
    """One generated day: its date, volume against the history, and spike.

    ``seed`` is the policies' (the bid prices' demand sample); the history
    and the orders are generated with the next two. Days are
    :data:`SEEDS_PER_DAY` seeds apart, so no two days share a stream (a
    stride of 1 generated day ``i``'s orders with day ``i + 1``'s history
    seed: the same shoppers, weighted alike).
    """

    index: int
    date: dt.date
    volume_factor: float
    spike: Spike | None
    seed: int

    @property
    def history_seed(self) -> int:
        """The seed of the day's 14-day history."""
        return self.seed + 1

    @property
    def orders_seed(self) -> int:
        """The seed of the day's orders."""
        return self.seed + 2

    @classmethod
    def draw(cls, index: int, seed: int) -> DaySpec:
        rng = np.random.default_rng([seed, index])
        date = FIRST_DAY + dt.timedelta(days=int(7 * index + rng.integers(0, 7)))
        spike = None
        if rng.random() < SPIKE_SHARE:
            hour, factor = int(rng.integers(9, 22)), float(rng.uniform(1.8, 3.0))
            spike = Spike.parse(f"{hour:02d}:00,{factor:.2f}")
        return cls(
            index,
            date,
            float(rng.uniform(0.7, 1.4)),
            spike,
            seed * 1000 + SEEDS_PER_DAY * index,
        )


@dataclass(frozen=True, slots=True, eq=False)
class BenchDayData:
    """A day's orders and the history before it (written as CSV in ``workdir``)."""

    spec: DaySpec
    history: Orders
    orders: Orders


def make_day(
    network: Network,
    spec: DaySpec,
    per_day: int,
    workdir: Path,
    *,
    history_scale: float = 1.0,
) -> BenchDayData:
    """Generate the history (``per_day x history_scale`` orders a day) and the
    day, each Platinum order one checkout could have offered
    (:func:`~tierflow.benchmarks.allocation_bench.generate_offered`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    history = generate_offered(
        network,
        n_orders=round(per_day * history_scale * HISTORY_DAYS),
        days=HISTORY_DAYS,
        seed=spec.history_seed,
        start=spec.date - dt.timedelta(days=HISTORY_DAYS),
    )
    today = generate_offered(
        network,
        n_orders=max(round(per_day * spec.volume_factor), 1),
        days=1,
        seed=spec.orders_seed,
        start=spec.date,
        spike=spec.spike,
    )
    return BenchDayData(
        spec,
        read_orders(write_orders(history, workdir / "history.csv"), network),
        read_orders(write_orders(today, workdir / "orders.csv"), network),
    )


@dataclass(frozen=True, slots=True)
class DayRow:
    """One policy on one day at one utilization (a row of results.csv)."""

    day: int
    date: str
    utilization: str
    spike: str
    volume_factor: float
    policy: str
    total_cost: float
    bound: float
    gap_pct: float
    cost_vs_nearest: float
    on_time_platinum: float | None
    on_time_gold: float | None
    on_time_silver: float | None
    on_time_overflow: float | None
    platinum_kept_pct: float | None
    n_deferred: int
    split_orders: int
    violations: int
    runtime_s: float
    batch_solve_p95_s: float
    repriced_total_cost: float
    repricing_problems: int
    forecast_scale: float | None = None
    #: How the day's capacities were set (a key of :data:`STAFFING`).
    staffing: str = field(kw_only=True)
    #: The day's workload as a share of those capacities (%).
    load_pct: float = field(kw_only=True)
    #: What cut the day's bound short (``finished``, ``lp:<stop>`` or
    #: ``branch_and_bound:<stop>``: :func:`~tierflow.orchestration.simulation.report.bound_stop`);
    #: results.csv's last column.
    bound_stop: str = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How every day is allocated."""

    engine: str = "cpsat"
    time_limit_s: float = 2.0
    hindsight_time_limit_s: float = 60.0
    threads: int | None = None
    forecast: tuple[str, ...] = ("history", "perfect")
    #: Every policy deterministic (``AllocationSettings.deterministic``).
    deterministic: bool = False
    #: How every day's capacities are set (a key of :data:`STAFFING`).
    staffing: str = "history"


def run_day(
    network: Network,
    data: BenchDayData,
    utilization: str,
    config: RunConfig,
    *,
    on_step: Callable[[str], None] | None = None,
) -> list[DayRow]:
    """Every policy on one day at one utilization, with its bound."""
    capacity = day_capacity(network, data, utilization, config.staffing)
    note = on_step or (lambda _: None)
    outcomes: dict[str, AllocationOutcome] = {}
    for name, (settings, forecast) in _plans(network, data, config).items():
        note(f"day {data.spec.index} {utilization}: {name}")
        outcomes[name] = _allocate(network, data, capacity, settings, forecast)
    judge = _Judge(network, data, utilization, capacity, outcomes, config.staffing)
    return [judge.row(name, out) for name, out in outcomes.items()]


def _allocate(
    network: Network,
    data: BenchDayData,
    capacity: np.ndarray,
    settings: AllocationSettings,
    forecast: DemandForecast | None,
) -> AllocationOutcome:
    return DayAllocator(
        network, data.orders, settings=settings, capacity=capacity, forecast=forecast
    ).run()


class _Judge:
    """Rows for one day's outcomes, against its hindsight plan's bound and
    the nearest-node cost."""

    def __init__(
        self,
        network: Network,
        data: BenchDayData,
        utilization: str,
        capacity: np.ndarray,
        outcomes: dict[str, AllocationOutcome],
        staffing: str,
    ) -> None:
        plan = outcomes["hindsight plan"]
        bound = _telling_bound(plan, data, utilization)
        self.network, self.data, self.capacity = network, data, capacity
        self.utilization, self.bound, self.staffing = utilization, bound, staffing
        self.bound_stop = bound_stop(plan.lp_bound_stop)
        self.kept = platinum_on_time(outcomes["hindsight plan"])
        self.nearest = float(outcomes["nearest"].summary()["total_cost"])

    def row(
        self, name: str, outcome: AllocationOutcome, scale: float | None = None
    ) -> DayRow:
        return _row(
            self.network,
            self.data,
            self.utilization,
            name,
            outcome,
            self.capacity,
            self.bound,
            self.nearest,
            self.kept,
            scale,
            staffing=self.staffing,
            bound_stop=self.bound_stop,
        )


def _telling_bound(
    plan: AllocationOutcome, data: BenchDayData, utilization: str
) -> float:
    """The day's hindsight bound, which every gap of the day is measured to.

    Raises
    ------
    InputError
        Its LP stopped (the hindsight time limit) before it proved a bound
        above 0: there is no gap to measure (a RuntimeError traceback, or a
        division by zero for a bound of 0, until 2026-12-06).
    """
    bound = telling_bound(plan.lp_bound)
    if bound is None:
        stop = (plan.lp_bound_stop or {}).get("lp") or "unsolved"
        raise InputError(
            f"the hindsight bound's LP stopped ({stop}) before it proved a "
            "bound above 0, so no gap to it can be measured (a longer "
            "--hindsight-time-limit gives one)",
            position=f"day {data.spec.index} ({utilization})",
            field="--hindsight-time-limit",
            value=plan.settings.time_limit_s,
        )
    return float(bound)


def run_sweep(
    network: Network,
    spec: DaySpec,
    per_day: int,
    config: RunConfig,
    workdir: Path,
    scales: Sequence[float],
    *,
    on_step: Callable[[str], None] | None = None,
) -> list[DayRow]:
    """The default policy on one tight day with histories whose mean is
    ``scale`` x the day's true volume: how forecast error costs.

    The day's orders are the same at every scale (they do not depend on the
    history); the bound, the hindsight plan and nearest node are computed once,
    at one capacity: the day's as the days run sets it (``config.staffing``;
    ``history``: staffed from the day's own history, not the scaled ones,
    which only the bid prices read).
    """
    note = on_step or (lambda _: None)
    truth = make_day(network, spec, per_day, workdir / "truth")
    capacity = day_capacity(network, truth, "tight", config.staffing)
    plans = _plans(network, truth, dataclasses.replace(config, forecast=()))
    outcomes = {}
    for name in ("hindsight plan", "nearest"):
        note(f"sweep: {name}")
        outcomes[name] = _allocate(network, truth, capacity, *plans[name])
    judge = _Judge(network, truth, "tight", capacity, outcomes, config.staffing)
    rows = [judge.row(name, out) for name, out in outcomes.items()]
    base = _base_settings(config, spec)
    for scale in scales:
        note(f"sweep: forecast {scale:g}x")
        data = make_day(
            network,
            spec,
            per_day,
            workdir / f"forecast-{scale:g}x",
            history_scale=scale * spec.volume_factor,
        )
        forecast = _history_forecast(data, network)
        outcome = _allocate(network, truth, capacity, base, forecast)
        rows.append(judge.row("default", outcome, scale))
    return rows


def _history_forecast(data: BenchDayData, network: Network) -> DemandForecast:
    """The forecast from the day's history as it stood when the day began
    (the day before's evening in the West runs past the next day's start:
    those orders had not arrived), as ``allocate --history`` takes it."""
    start = business_day_start(data.spec.date, network)
    return DemandForecast.from_history(data.history, network, before=start)


def _plans(
    network: Network, data: BenchDayData, config: RunConfig
) -> dict[str, tuple[AllocationSettings, DemandForecast | None]]:
    base = _base_settings(config, data.spec)
    history = _history_forecast(data, network)
    plans: dict[str, tuple[AllocationSettings, DemandForecast | None]] = {
        "hindsight plan": (
            dataclasses.replace(
                base, hindsight=True, time_limit_s=config.hindsight_time_limit_s
            ),
            None,
        ),
        "nearest": (
            dataclasses.replace(base, engine=NEAREST, use_bid_prices=False),
            None,
        ),
        "myopic": (dataclasses.replace(base, use_bid_prices=False), None),
    }
    if "history" in config.forecast:
        plans["default"] = (base, history)
    if "perfect" in config.forecast:
        truth = dataclasses.replace(base, expected_orders=data.orders.n_orders)
        plans["foresight"] = (truth, history)
    return plans


def _base_settings(config: RunConfig, spec: DaySpec) -> AllocationSettings:
    return AllocationSettings(
        engine=config.engine,
        time_limit_s=config.time_limit_s,
        seed=spec.seed,
        threads=config.threads,
        deterministic=config.deterministic,
    )


def day_capacity(
    network: Network, data: BenchDayData, utilization: str, staffing: str
) -> np.ndarray:
    """The day's node capacities at ``utilization`` (every policy, the
    hindsight plan and the bound of the day read the same).

    ``history``: staffed from the day's history as it stood when the day
    began (:func:`staffed_capacity`, as ``simulate`` staffs), so a day above
    its history's mean runs above the utilization. ``day``: scaled so the
    day's own workload is the utilization's share (the protocol before
    2026-12-06: capacity, an input to every batch, carried the day's total).
    """
    share = UTILIZATION[utilization]
    if staffing == "history":
        return staffed_capacity(network, _history_forecast(data, network), share)
    if staffing == "day":
        load = float(data.orders.workload(network).sum())
        return scaled_capacity(network, load, share)
    raise ValueError(f"unknown staffing {staffing!r}: expected one of {list(STAFFING)}")


def _row(
    network: Network,
    data: BenchDayData,
    utilization: str,
    policy: str,
    outcome: AllocationOutcome,
    capacity: np.ndarray,
    bound: float,
    nearest_cost: float,
    kept: set[str],
    scale: float | None = None,
    *,
    staffing: str,
    bound_stop: str,
) -> DayRow:
    s = outcome.summary()
    gap = gap_to_bound_pct(s["total_cost"], bound)
    assert gap is not None  # _telling_bound refused a bound of 0 or below
    on_time = s["service_level_by_tier"]
    kept_pct = (
        100.0 * len(kept & platinum_on_time(outcome)) / len(kept) if kept else None
    )
    return DayRow(
        day=data.spec.index,
        date=data.spec.date.isoformat(),
        utilization=utilization,
        spike="" if data.spec.spike is None else str(data.spec.spike),
        volume_factor=round(data.spec.volume_factor, 3),
        policy=policy,
        total_cost=s["total_cost"],
        bound=bound,
        gap_pct=gap,
        cost_vs_nearest=s["total_cost"] / nearest_cost,
        on_time_platinum=on_time.get(Tier.PLATINUM),
        on_time_gold=on_time.get(Tier.GOLD),
        on_time_silver=on_time.get(Tier.SILVER),
        on_time_overflow=on_time.get(Tier.OVERFLOW),
        platinum_kept_pct=kept_pct,
        n_deferred=s["n_deferred"],
        split_orders=s["split_orders"],
        violations=_violations(network, data.orders, outcome, capacity),
        runtime_s=s["runtime_s"],
        batch_solve_p95_s=s["batch_solve_p95_s"],
        repriced_total_cost=s["repriced_total_cost"],
        repricing_problems=s["repricing_problems"],
        forecast_scale=scale,
        staffing=staffing,
        load_pct=100.0
        * float(data.orders.workload(network).sum())
        / float(capacity.sum()),
        bound_stop=bound_stop,
    )


def _violations(
    network: Network, orders: Orders, outcome: AllocationOutcome, capacity: np.ndarray
) -> int:
    lines = orders.to_frame()[["order_id", "sku", "quantity"]]
    return len(
        check_allocation_rows(
            outcome.rows,
            node_ids=network.node_ids,
            sku_ids=network.sku_ids,
            capacity=capacity,
            inventory=network.inventory,
            sku_complexity=network.sku_complexity,
            order_lines=lines,
        )
    )


def run_days(
    network: Network,
    n_days: int,
    seed: int,
    per_day: int,
    config: RunConfig,
    workdir: Path,
    *,
    utilizations: Sequence[str] = ("loose", "tight"),
    on_step: Callable[[str], None] | None = None,
) -> list[DayRow]:
    """Every day at every utilization (days generated once, in ``workdir``)."""
    rows: list[DayRow] = []
    for index in range(n_days):
        spec = DaySpec.draw(index, seed)
        data = make_day(network, spec, per_day, workdir / f"day{index:02d}")
        for utilization in utilizations:
            rows += run_day(network, data, utilization, config, on_step=on_step)
    return rows
