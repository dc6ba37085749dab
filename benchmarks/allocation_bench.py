"""Allocation policies side by side on one generated day, against hindsight.

Every policy allocates the same orders with the same capacity in the same
run; the hindsight relaxation gives the bound. Protocol: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network
from tierflow.data.order_generator import DEFAULT_START, Spike, generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.data.wording import counted
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationOutcome,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.hindsight import gap_to_bound_pct
from tierflow.orchestration.checkout.offerable import checkout_tiers
from tierflow.solver.verify import check_allocation_rows

UTILIZATION = {"loose": 0.70, "tight": 0.95}
#: The tight day's promotion: 2.5x demand from 19:00 New York time for an hour.
TIGHT_SPIKE = "19:00,2.5"


def generate_offered(network: Network, **draw: Any) -> pd.DataFrame:
    """``generate_orders(network, **draw)`` with Gold for every order drawn
    Platinum that checkout could not have offered Platinum when it was
    placed (:func:`checkout_tiers`, with the tier policy the benchmarks
    allocate with), as ``tierflow generate orders`` writes and simulate's
    history is (``docs/data.md``): drawn Platinum an evening past the
    cutoffs or on a Sunday, no policy could keep the promise."""
    frame, _ = checkout_tiers(generate_orders(network, **draw), network, TierPolicy())
    return frame


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """One policy's figures (a row of results.csv)."""

    policy: str
    engine: str
    bid_prices: bool
    total_cost: float
    gap_pct: float | None
    n_allocated: int
    n_deferred: int
    n_unfillable: int
    split_orders: int
    platinum_on_time_rate: float | None
    max_node_utilization: float
    runtime_s: float
    batch_solve_p95_s: float
    rerouted: int
    violations: int
    platinum_kept_pct: float | None


def make_day(
    network: Network, n_orders: int, seed: int, utilization: str, workdir: Path
) -> tuple[Orders, np.ndarray]:
    """The benchmark day and the capacity that puts it at the target utilization."""
    spike = Spike.parse(TIGHT_SPIKE) if utilization == "tight" else None
    frame = generate_offered(network, n_orders=n_orders, days=1, seed=seed, spike=spike)
    path = write_orders(frame, workdir / "orders.csv")
    orders = read_orders(path, network)
    load = float(orders.workload(network).sum())
    scale = load / (UTILIZATION[utilization] * float(network.capacity.sum()))
    return orders, network.capacity * scale


@dataclass(frozen=True, slots=True)
class BenchDay:
    """The day every policy allocates, with the same capacity."""

    network: Network
    orders: Orders
    capacity: np.ndarray

    def allocate(
        self, settings: AllocationSettings, events: Sequence[CapacityEvent] = ()
    ) -> AllocationOutcome:
        """One policy's run over the whole day."""
        return DayAllocator(
            self.network,
            self.orders,
            settings=settings,
            capacity=self.capacity,
            events=events,
        ).run()

    def violations(self, outcome: AllocationOutcome) -> int:
        """Problems :func:`check_allocation_rows` finds in the rows alone."""
        lines = self.orders.to_frame()[["order_id", "sku", "quantity"]]
        return len(
            check_allocation_rows(
                outcome.rows,
                node_ids=self.network.node_ids,
                sku_ids=self.network.sku_ids,
                capacity=self.capacity,
                inventory=self.network.inventory,
                sku_complexity=self.network.sku_complexity,
                order_lines=lines,
            )
        )


def platinum_on_time(outcome: AllocationOutcome) -> set[str]:
    """Platinum orders every line of which arrives by its promised date."""
    plat = {o for o, t in outcome.tiers.items() if t == "platinum"}
    rows = outcome.rows[outcome.rows["order_id"].isin(plat)]
    ok = (rows["status"] == "allocated") & (
        rows["delivery_date"].astype(str) <= rows["promised_date"].astype(str)
    )
    per_order = ok.groupby(rows["order_id"]).all()
    return set(per_order.index[per_order])


def _row(
    policy: str,
    outcome: AllocationOutcome,
    bound: float | None,
    violations: int,
    kept_by_hindsight: set[str],
) -> PolicyRun:
    s = outcome.summary()
    gap = gap_to_bound_pct(s["total_cost"], bound)
    return PolicyRun(
        policy=policy,
        engine=outcome.settings.engine,
        bid_prices=bool(s["bid_prices"]),
        total_cost=s["total_cost"],
        gap_pct=gap,
        n_allocated=s["n_allocated"],
        n_deferred=s["n_deferred"],
        n_unfillable=s["n_unfillable"],
        split_orders=s["split_orders"],
        platinum_on_time_rate=s["platinum_on_time_rate"],
        max_node_utilization=s["max_node_utilization"],
        runtime_s=s["runtime_s"],
        batch_solve_p95_s=s["batch_solve_p95_s"],
        rerouted=s["rerouted"],
        violations=violations,
        platinum_kept_pct=None
        if not kept_by_hindsight
        else 100.0
        * len(kept_by_hindsight & platinum_on_time(outcome))
        / len(kept_by_hindsight),
    )


def outage_event(
    network: Network, outcome: AllocationOutcome, day: dt.date
) -> CapacityEvent:
    """An outage of ``outcome``'s busiest node at 13:00 New York time."""
    rows = outcome.rows[outcome.rows["status"] == "allocated"]
    busiest = rows.groupby("node_id")["quantity"].sum().idxmax()
    at = dt.datetime.combine(day, dt.time(13), dt.UTC) + dt.timedelta(hours=5)
    return CapacityEvent(
        event_id="bench-outage",
        ts=at.timestamp(),
        node=network.node_idx(str(busiest)),
        type="outage",
        value=1.0,
    )


def run_allocation_bench(
    network: Network,
    *,
    n_orders: int,
    seed: int,
    utilization: str,
    engines: Sequence[str],
    time_limit_s: float,
    hindsight_time_limit_s: float,
    workdir: Path,
    on_step: Callable[[str], None] | None = None,
    deterministic: bool = False,
) -> tuple[list[PolicyRun], dict[str, Any]]:
    """Every policy on one day; returns the rows and the extra figures
    (``deterministic``: every policy's, ``AllocationSettings.deterministic``)."""
    day = BenchDay(network, *make_day(network, n_orders, seed, utilization, workdir))
    note = on_step or (lambda _: None)
    plans = [
        (
            "hindsight",
            AllocationSettings(
                engine="cpsat",
                hindsight=True,
                time_limit_s=hindsight_time_limit_s,
                seed=seed,
                deterministic=deterministic,
            ),
        ),
        *policy_plans(
            engines, time_limit_s=time_limit_s, seed=seed, deterministic=deterministic
        ),
    ]
    outcomes: dict[str, AllocationOutcome] = {}
    for name, settings in plans:
        note(name)
        outcomes[name] = day.allocate(settings)
    hindsight = outcomes["hindsight"]
    kept = platinum_on_time(hindsight)
    runs = [
        _row(name, outcome, hindsight.lp_bound, day.violations(outcome), kept)
        for name, outcome in outcomes.items()
    ]
    extra: dict[str, Any] = {
        "n_orders": day.orders.n_orders,
        "n_lines": day.orders.n_lines,
        "utilization": utilization,
        "workload": float(day.orders.workload(network).sum()),
        "capacity": float(day.capacity.sum()),
        "lp_bound": hindsight.lp_bound,
        "lp_bound_stop": hindsight.lp_bound_stop,
        "lp_bound_budget": hindsight.lp_bound_budget,
        "deterministic": deterministic,
        "hindsight_platinum_on_time_rate": hindsight.summary()["platinum_on_time_rate"],
    }
    main = "cpsat + bid prices" if "cpsat + bid prices" in outcomes else plans[-1][0]
    note("outage")
    extra["outage"], outcomes["outage"] = _outage_run(day, main, outcomes[main])
    extra["utilization_trace"] = {
        name: [(t, float(np.max(u))) for t, u in outcomes[name].utilization_trace]
        for name in outcomes
        if outcomes[name].utilization_trace
    }
    return runs, extra


def policy_plans(
    engines: Sequence[str],
    *,
    time_limit_s: float,
    seed: int,
    deterministic: bool = False,
) -> list[tuple[str, AllocationSettings]]:
    """The nearest-node baseline, then each engine without and with bid prices."""
    same = deterministic
    plans = [
        (
            "nearest",
            AllocationSettings(
                engine=NEAREST, use_bid_prices=False, seed=seed, deterministic=same
            ),
        )
    ]
    for engine in engines:
        for bid in (False, True):
            settings = AllocationSettings(
                engine=engine,
                use_bid_prices=bid,
                time_limit_s=time_limit_s,
                seed=seed,
                deterministic=same,
            )
            plans.append((f"{engine}{' + bid prices' if bid else ''}", settings))
    return plans


def _outage_run(
    day: BenchDay, policy: str, without: AllocationOutcome
) -> tuple[dict[str, Any], AllocationOutcome]:
    """``policy`` again with its busiest node down at mid-day: the figures."""
    settings = without.settings
    ev = outage_event(day.network, without, DEFAULT_START)
    outage = day.allocate(settings, events=[ev])
    s = outage.summary()
    node = day.network.node_ids[ev.node]
    after = (
        (outage.rows["node_id"] == node)
        & (outage.rows["status"] == "allocated")
        & (pd.to_numeric(outage.rows["batch"]) > _batch_at(outage, ev.ts))
    )
    figures = {
        "policy": policy,
        "node": node,
        "at_utc": dt.datetime.fromtimestamp(ev.ts, dt.UTC).isoformat(),
        "unreleased_at_node": _unreleased_at(without, node, ev.ts, settings),
        "rerouted": s["rerouted"],
        "pulled_back": s["pulled_back"],
        "pulled_back_final_status": _final_status(outage, outage.pulled_back),
        "reroute_cost_delta": s["reroute_cost_delta"],
        "platinum_on_time_rate": s["platinum_on_time_rate"],
        "platinum_on_time_rate_without_outage": without.summary()[
            "platinum_on_time_rate"
        ],
        "violations": day.violations(outage),
        "allocated_at_node_after_outage": int(after.sum()),
    }
    return figures, outage


def _final_status(outcome: AllocationOutcome, orders: Sequence[str]) -> dict[str, int]:
    """How the pulled-back orders ended: moved to another node, or not."""
    rows = outcome.rows[outcome.rows["order_id"].isin(set(orders))]
    per = rows.groupby("order_id")["status"].agg(lambda s: ",".join(sorted(set(s))))
    return {str(k): int(v) for k, v in per.value_counts().items()}


def _batch_at(outcome: AllocationOutcome, ts: float) -> int:
    """Number of the last batch decided at or before ``ts``."""
    times = [t for t, _ in outcome.utilization_trace]
    return int(np.searchsorted(times, ts, side="right")) - 1


def _unreleased_at(
    outcome: AllocationOutcome, node: str, ts: float, settings: AllocationSettings
) -> int:
    """Orders at ``node`` allocated but not yet released at ``ts`` (no outage run)."""
    times = np.array([t for t, _ in outcome.utilization_trace])
    rows = outcome.rows[
        (outcome.rows["node_id"] == node) & (outcome.rows["status"] == "allocated")
    ]
    batch_time = times[pd.to_numeric(rows["batch"]).to_numpy(dtype=int)]
    pending = (batch_time <= ts) & (batch_time + 60 * settings.release_minutes > ts)
    return int(rows[pending]["order_id"].nunique())


def write_reports(runs: Sequence[PolicyRun], extra: dict[str, Any], out: Path) -> str:
    """results.csv, summary.md, summary.json and the two plots."""
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([dataclasses.asdict(r) for r in runs])
    frame.to_csv(out / "results.csv", index=False)
    trace = extra.pop("utilization_trace", {})
    (out / "summary.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    md = _markdown(runs, extra)
    (out / "summary.md").write_text(md)
    _plots(runs, trace, out)
    return md


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _were(n: int) -> str:
    """The verb after a count of orders: "1 order was", "2 orders were"."""
    return "was" if n == 1 else "were"


def _markdown(runs: Sequence[PolicyRun], extra: dict[str, Any]) -> str:
    from tierflow.orchestration.simulation.report import weak_bound_note

    lines = [
        f"# Allocation benchmark ({extra['utilization']}, "
        f"{counted(extra['n_orders'], 'order')})",
        "",
        f"Workload {extra['workload']:,.0f} units on capacity {extra['capacity']:,.0f} "
        f"({100 * extra['workload'] / extra['capacity']:.0f} %). Hindsight LP bound "
        f"{_f(extra['lp_bound'])}{weak_bound_note(extra)}. Gap = (cost − bound) / bound.",
        "",
        "| policy | total cost | gap % | allocated | deferred | unfillable | split "
        "| Platinum on time | Platinum kept where hindsight kept | max util | run s "
        "| p95 batch s | violations |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.policy} | {_f(r.total_cost)} | {_f(r.gap_pct, 2)} | {r.n_allocated} "
            f"| {r.n_deferred} | {r.n_unfillable} | {r.split_orders} "
            f"| {_f(None if r.platinum_on_time_rate is None else 100 * r.platinum_on_time_rate, 1)} % "
            f"| {_f(r.platinum_kept_pct, 1)} % "
            f"| {r.max_node_utilization:.3f} | {r.runtime_s:.1f} | {r.batch_solve_p95_s:.3f} "
            f"| {r.violations} |"
        )
    if "outage" in extra:
        o = extra["outage"]
        lines += [
            "",
            f"## Mid-day outage of the busiest node ({o['node']}, {o['at_utc']})",
            "",
            f"Policy {o['policy']}: {counted(o['unreleased_at_node'], 'order')} "
            f"{_were(o['unreleased_at_node'])} allocated to it and not yet released; "
            f"{o['pulled_back']} {_were(o['pulled_back'])} pulled back into the next "
            f"batch and {o['rerouted']} moved to another node (cost delta "
            f"{_f(o['reroute_cost_delta'])}); final status of the pulled-back orders: "
            f"{o['pulled_back_final_status']}; nothing allocated to it after "
            f"the outage: {o['allocated_at_node_after_outage'] == 0}. Platinum on time "
            f"{_f(100 * (o['platinum_on_time_rate'] or 0), 1)} % (without the outage "
            f"{_f(100 * (o['platinum_on_time_rate_without_outage'] or 0), 1)} %); "
            f"violations {o['violations']}.",
        ]
    lines.append("")
    return "\n".join(lines)


def _plots(runs: Sequence[PolicyRun], trace: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    named = [r for r in runs if r.gap_pct is not None and r.policy != "hindsight"]
    ax.bar(
        [r.policy for r in named],
        [r.gap_pct or 0.0 for r in named],
        color=["#b5b5b5" if r.policy == "nearest" else "#3b7dd8" for r in named],
    )
    ax.set_ylabel("cost above hindsight bound (%)")
    ax.set_title("Allocation policies: cost gap")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(out / "cost_gap.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, points in trace.items():
        if not points:
            continue
        t0 = points[0][0]
        ax.plot(
            [(t - t0) / 3600 for t, _ in points], [u for _, u in points], label=name
        )
    ax.set_xlabel("hours since the first batch")
    ax.set_ylabel("max node utilization")
    ax.set_title("Busiest node's utilization over the day")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "utilization.png", dpi=120)
    plt.close(fig)


def median_of(values: Sequence[float]) -> float:
    """Median helper for repeated runs."""
    return float(statistics.median(values))
