"""``tierflow simulate``: one whole day on the embedded network, end to end.

1. **CLTV.** The model is trained on the network's two-year purchase history
   as of the eve of the day and every customer is scored into the state store
   (:mod:`cltv`), so checkout knows who is Platinum-eligible.
2. **Checkouts.** The day's carts are generated (:mod:`tierflow.data.order_generator`,
   seeded: population-weighted destinations, intraday/weekly seasonality,
   long-tailed baskets, an evening promotion). Each is answered by
   :meth:`tierflow.orchestration.checkout.router.OnlineRouter.generate_fulfillment_options` at its own
   time; a simulated customer chooses (the choice model below), the choice is
   held (:meth:`~tierflow.orchestration.checkout.router.OnlineRouter.select`) and confirmed.
3. **Capacity.** Node capacities are scaled so the day's expected workload is
   ``utilization`` of the network. The capacity monitor sees every confirmed
   order's workload at its node (``backlog_delta``) and, every half hour, a
   run-rate forecast of each node's remaining work (``forecast``): scores fall
   as the day fills, and the Tier-4 overflow incentive appears where they
   are low. At ``outage_at`` (New York time) the busiest node goes down.
4. **Allocation.** The confirmed orders are allocated in 15-minute CP-SAT
   micro-batches with bid prices, the outage applied at its batch; the same
   day is also allocated by the nearest-node policy and solved in hindsight
   (its LP value is the bound).
5. **Report.** ``report.html`` with plots and the CSV/JSON behind them.

**Choice model** (documented because it drives the results):

* 3 % of customers leave without choosing;
* when an overflow option is offered, it is taken with probability
  ``min(0.6, 0.15 + discount / price)`` — the bigger the saving, the likelier;
* otherwise 75 % take the recommended (first) option and 25 % override it,
  picking one of the others with probability proportional to
  ``exp(satisfaction / 0.1)``;
* 2 % of holds are cancelled instead of confirmed; a hold rejected because
  the stock went meanwhile is retried once with fresh options.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.events import CapacityEvent
from tierflow.cltv.features import load_customer_data
from tierflow.cltv.lifecycle import retrain
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.network import Network
from tierflow.data.order_generator import HOURLY_PROFILE, Spike, generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.store import ScoreStore, SqliteStore
from tierflow.data.table_reader import Column, read_table
from tierflow.data.transactions import day_number
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationOutcome,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.checkout.results import OptionSet
from tierflow.orchestration.checkout.router import OnlineRouter

_SCORE_COLUMNS = (
    Column("customer_id"),
    Column("predicted_spend", "float", min=0.0),
    Column("p_active", "float", min=0.0, max=1.0),
    Column("segment", choices=("platinum", "gold", "silver")),
)

#: New York noon is the reference for the outage time (events are instants).
NEW_YORK_OFFSET_H = 5


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """What ``tierflow simulate`` runs (see the module docstring)."""

    day: dt.date = dt.date(2026, 1, 19)
    checkouts: int = 3000
    seed: int = 11
    utilization: float = 0.92
    spike: str | None = "19:00,2.0"
    outage_at: dt.time | None = dt.time(13, 0)
    engine: str = "cpsat"
    time_limit_s: float = 2.0
    hindsight_time_limit_s: float = 20.0
    abandon_p: float = 0.03
    recommended_p: float = 0.75
    cancel_p: float = 0.02


@dataclass(slots=True)
class CheckoutRecord:
    """One simulated checkout, as ``checkouts.csv`` reports it."""

    at: str
    customer_id: str
    segment: str
    offered: str
    recommended: str
    chosen: str
    overrode: bool
    overflow_offered: bool
    overflow_taken: bool
    price: float
    discount: float
    delivery_date: str
    status: str


@dataclass(slots=True)
class SimulationResult:
    """Everything the report needs."""

    settings: SimulationSettings
    cltv: dict[str, Any]
    checkouts: pd.DataFrame
    scores: pd.DataFrame
    outage_node: str | None
    policies: dict[str, AllocationOutcome] = field(default_factory=dict)
    lp_bound: float | None = None

    def summary(self) -> dict[str, Any]:
        """The one-screen summary (also ``summary.json``)."""
        c = self.checkouts
        done = c[c["status"] == "confirmed"]
        out: dict[str, Any] = {
            "day": self.settings.day.isoformat(),
            "checkouts": len(c),
            "confirmed": len(done),
            "abandoned": int((c["status"] == "abandoned").sum()),
            "cancelled": int((c["status"] == "cancelled").sum()),
            "tier_mix": {
                str(k): int(v) for k, v in done["chosen"].value_counts().items()
            },
            "recommended_taken_pct": _pct((~done["overrode"]).sum(), len(done)),
            "overflow_offered": int(c["overflow_offered"].sum()),
            "overflow_taken": int(c["overflow_taken"].sum()),
            "platinum_offered": int(c["offered"].str.contains("platinum").sum()),
            "outage_node": self.outage_node,
            "cltv": self.cltv,
            "lp_bound": self.lp_bound,
            "policies": {},
        }
        for name, outcome in self.policies.items():
            s = outcome.summary()
            gap = (
                None
                if not self.lp_bound
                else 100.0 * (s["total_cost"] - self.lp_bound) / self.lp_bound
            )
            out["policies"][name] = {
                "total_cost": s["total_cost"],
                "gap_to_bound_pct": gap,
                "n_allocated": s["n_allocated"],
                "n_deferred": s["n_deferred"],
                "rerouted": s["rerouted"],
                "platinum_on_time_rate": s["platinum_on_time_rate"],
                "service_level_by_tier": s["service_level_by_tier"],
                "batch_solve_p95_s": s["batch_solve_p95_s"],
            }
        return out


def _pct(part: float, whole: float) -> float | None:
    return None if whole == 0 else 100.0 * float(part) / float(whole)


class _Chooser:
    """The documented choice model, seeded."""

    def __init__(self, settings: SimulationSettings, seed: int) -> None:
        self.s = settings
        self.rng = np.random.default_rng(seed)

    def choose(self, options: OptionSet) -> tuple[str | None, bool]:
        """(option id or None to leave, whether the recommendation was overridden)."""
        if not options.options or self.rng.random() < self.s.abandon_p:
            return None, False
        recommended = options.options[0]
        overflow = [o for o in options.options if o.tier == "overflow"]
        if overflow:
            o = overflow[0]
            take = min(0.6, 0.15 + o.discount / max(o.price + o.discount, 1e-9))
            if self.rng.random() < take:
                return o.option_id, o.option_id != recommended.option_id
        if len(options.options) == 1 or self.rng.random() < self.s.recommended_p:
            return recommended.option_id, False
        others = options.options[1:]
        weights = np.exp(np.array([o.satisfaction_score for o in others]) / 0.1)
        pick = others[int(self.rng.choice(len(others), p=weights / weights.sum()))]
        return pick.option_id, True


def scaled_capacity(
    network: Network, workload: float, utilization: float
) -> NDArray[np.float64]:
    """Node capacities scaled so ``workload`` is ``utilization`` of the total."""
    scale = workload / (utilization * float(network.capacity.sum()))
    return np.asarray(network.capacity * scale, dtype=np.float64)


#: Weight, in days of demand, of the capacity-share prior in the forecast.
PRIOR_WEIGHT = 0.25


def intraday_share(at: dt.datetime, day: dt.date) -> float:
    """Share of ``day``'s orders placed before ``at`` (New York clock), from the
    historical intraday profile the order generator also follows (0 before
    the day, 1 after it)."""
    midnight = dt.datetime.combine(day, dt.time(0), dt.UTC) + dt.timedelta(
        hours=NEW_YORK_OFFSET_H
    )
    hours = min(max((at - midnight).total_seconds() / 3600.0, 0.0), 24.0)
    cumulative = (
        np.concatenate([[0.0], np.cumsum(HOURLY_PROFILE)]) / HOURLY_PROFILE.sum()
    )
    return float(np.interp(hours, np.arange(25), cumulative))


def rest_of_day_forecast(
    committed: NDArray[np.float64], prior: NDArray[np.float64], elapsed: float
) -> NDArray[np.float64]:
    """Work each node can still expect today: a run-rate shrunk toward a prior.

    The day's total is ``(committed + w · prior) / (elapsed + w)`` (early in
    the day the prior — capacity share × utilization — dominates; later the
    observed run rate), times the share of the day still to come.
    """
    total = (committed + PRIOR_WEIGHT * prior) / (elapsed + PRIOR_WEIGHT)
    return np.asarray(np.maximum(total * (1.0 - elapsed), 0.0), dtype=np.float64)


def _event(
    eid: str, when: dt.datetime, node: str, kind: str, value: Any
) -> dict[str, Any]:
    return {
        "event_id": eid,
        "ts": when.isoformat(),
        "node_id": node,
        "type": kind,
        "value": value,
    }


def run_checkouts(
    network: Network,
    router: OnlineRouter,
    carts: pd.DataFrame,
    capacity: NDArray[np.float64],
    settings: SimulationSettings,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str | None, CapacityEvent | None]:
    """Answer, choose, hold and confirm every cart in time order.

    Returns the checkout records, the capacity scores every half hour, the
    node that went down and its outage event (for the allocation run).
    """
    chooser = _Chooser(settings, settings.seed)
    start = dt.datetime.combine(settings.day, dt.time(0), dt.UTC)
    router.apply_capacity_events(
        [
            _event(f"sim-cap-{n}", start, n, "nominal_capacity", float(capacity[i]))
            for i, n in enumerate(network.node_ids)
        ]
    )
    committed = np.zeros(network.n_nodes)
    prior = capacity * settings.utilization  # each node's expected share of the day
    groups = carts.groupby("order_id", sort=False)
    first = pd.Timestamp(carts["created_at"].min()).to_pydatetime()
    next_tick = first
    outage_at = None
    if settings.outage_at is not None:
        outage_at = dt.datetime.combine(
            settings.day, settings.outage_at, dt.UTC
        ) + dt.timedelta(hours=NEW_YORK_OFFSET_H)
    outage_node: str | None = None
    outage_event: CapacityEvent | None = None
    records: list[CheckoutRecord] = []
    scores: list[dict[str, Any]] = []
    seq = 0
    for k, (_order_id, lines) in enumerate(groups):
        now = pd.Timestamp(lines["created_at"].iloc[0]).to_pydatetime()
        while now >= next_tick:  # half-hourly forecast and score sample
            elapsed = intraday_share(next_tick, settings.day)
            forecast = rest_of_day_forecast(committed, prior, elapsed)
            router.apply_capacity_events(
                [
                    _event(
                        f"sim-fc-{seq}-{i}",
                        next_tick,
                        n,
                        "forecast",
                        float(forecast[i]),
                    )
                    for i, n in enumerate(network.node_ids)
                ]
            )
            seq += 1
            row = dict(zip(network.node_ids, router.monitor.score_map(), strict=True))
            row["at"] = next_tick.isoformat()
            scores.append(row)
            next_tick += dt.timedelta(minutes=30)
        if outage_at is not None and outage_node is None and now >= outage_at:
            busiest = int(np.argmax(committed))
            outage_node = network.node_ids[busiest]
            router.apply_capacity_events(
                [_event("sim-outage", outage_at, outage_node, "outage", True)]
            )
            outage_event = CapacityEvent(
                "sim-outage", outage_at.timestamp(), busiest, "outage", 1.0
            )
        items = list(
            zip(lines["sku"].astype(str), lines["quantity"].astype(int), strict=True)
        )
        customer = str(lines["customer_id"].iloc[0])
        dest = str(lines["dest"].iloc[0])
        records.append(
            _checkout(
                router,
                chooser,
                settings,
                customer,
                items,
                dest,
                now,
                committed,
                network,
            )
        )
        if on_progress is not None and k % 50 == 0:
            on_progress(k)
    return (
        pd.DataFrame([dataclasses.asdict(r) for r in records]),
        pd.DataFrame(scores),
        outage_node,
        outage_event,
    )


def _checkout(
    router: OnlineRouter,
    chooser: _Chooser,
    settings: SimulationSettings,
    customer: str,
    items: list[tuple[str, int]],
    dest: str,
    now: dt.datetime,
    committed: NDArray[np.float64],
    network: Network,
) -> CheckoutRecord:
    options = router.generate_fulfillment_options(customer, items, dest, now=now)
    offered = ",".join(o.tier for o in options.options)
    record = CheckoutRecord(
        at=now.isoformat(),
        customer_id=customer,
        segment=options.customer.segment,
        offered=offered,
        recommended=options.options[0].tier if options.options else "",
        chosen="",
        overrode=False,
        overflow_offered=any(o.tier == "overflow" for o in options.options),
        overflow_taken=False,
        price=0.0,
        discount=0.0,
        delivery_date="",
        status="abandoned",
    )
    option_id, overrode = chooser.choose(options)
    if option_id is None:
        return record
    held = router.select(options.request_id, option_id, now=now)
    if held.status == "rejected":  # stock went meanwhile: look again, once
        options = router.generate_fulfillment_options(customer, items, dest, now=now)
        if not options.options:
            record.status = "rejected"
            return record
        option_id, overrode = options.options[0].option_id, False
        held = router.select(options.request_id, option_id, now=now)
    if held.status != "held":
        record.status = held.status
        return record
    chosen = options.option(option_id)
    if chooser.rng.random() < settings.cancel_p:
        router.cancel(options.request_id, now=now)
        record.status = "cancelled"
        return record
    router.confirm(options.request_id, now=now)
    events = []
    for j, shipment in enumerate(chosen.shipments):
        skus = [s for s, _ in shipment.lines]
        qty = [q for _, q in shipment.lines]
        work = network.order_workload(network.sku_idx(skus), qty)
        node = network.node_idx(shipment.node_id)
        committed[node] += work
        events.append(
            _event(
                f"sim-bl-{options.request_id}-{j}",
                now,
                shipment.node_id,
                "backlog_delta",
                work,
            )
        )
    router.apply_capacity_events(events)
    record.chosen = chosen.tier
    record.overrode = overrode
    record.overflow_taken = chosen.tier == "overflow"
    record.price = chosen.price
    record.discount = chosen.discount
    record.delivery_date = chosen.delivery_date.isoformat()
    record.status = "confirmed"
    return record


def simulate(
    network: Network,
    store_path: Path,
    out: Path,
    settings: SimulationSettings,
    *,
    publish_cltv: Callable[[ScoreStore, dt.date], dict[str, Any]],
    on_step: Callable[[str, int | None], None] | None = None,
) -> SimulationResult:
    """Run the whole day (see the module docstring); files go to ``out``."""
    note = on_step or (lambda _name, _n: None)
    out.mkdir(parents=True, exist_ok=True)
    note("cltv", None)
    with SqliteStore(store_path) as store:
        cltv = publish_cltv(store, settings.day - dt.timedelta(days=1))
    note("carts", None)
    spike = Spike.parse(settings.spike) if settings.spike else None
    carts = generate_orders(
        network,
        n_orders=settings.checkouts,
        days=1,
        seed=settings.seed,
        start=settings.day,
        spike=spike,
    )
    carts["created_at"] = pd.to_datetime(
        carts["created_at"], utc=True, format="ISO8601"
    )
    carts = carts.sort_values("created_at", kind="stable")
    cart_path = write_orders(
        carts.assign(
            created_at=carts["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), tier=""
        ),
        out / "carts.csv",
    )
    cart_orders = read_orders(cart_path, network)
    capacity = scaled_capacity(
        network, float(cart_orders.workload(network).sum()), settings.utilization
    )
    policy = TierPolicy()
    note("checkouts", settings.checkouts)
    with OnlineRouter.open(
        network=network.source, state=store_path, policy=policy
    ) as router:
        checkouts, scores, outage_node, outage_event = run_checkouts(
            network,
            router,
            carts,
            capacity,
            settings,
            on_progress=lambda k: note("checkouts", k),
        )
    checkouts.to_csv(out / "checkouts.csv", index=False)
    scores.to_csv(out / "capacity_scores.csv", index=False)
    with SqliteStore(store_path) as store:
        confirmed = store.online_orders()
    orders_path = write_orders(confirmed.iloc[:, :7], out / "orders.csv")
    orders = read_orders(orders_path, network)
    spend = _spend(store_path, orders.customer_ids)
    result = SimulationResult(
        settings=settings,
        cltv=cltv,
        checkouts=checkouts,
        scores=scores,
        outage_node=outage_node,
    )
    events = [outage_event] if outage_event is not None else []
    plans = [
        (
            "hindsight",
            AllocationSettings(
                engine=settings.engine,
                hindsight=True,
                time_limit_s=settings.hindsight_time_limit_s,
            ),
        ),
        (
            f"{settings.engine} + bid prices",
            AllocationSettings(
                engine=settings.engine, time_limit_s=settings.time_limit_s
            ),
        ),
        ("nearest", AllocationSettings(engine=NEAREST, use_bid_prices=False)),
    ]
    for name, alloc in plans:
        note(f"allocate: {name}", None)
        outcome = DayAllocator(
            network,
            orders,
            settings=alloc,
            policy=policy,
            predicted_spend=spend,
            capacity=capacity,
            events=[] if alloc.hindsight else events,
        ).run()
        result.policies[name] = outcome
        if alloc.hindsight:
            result.lp_bound = outcome.lp_bound
    main = result.policies[f"{settings.engine} + bid prices"]
    main.rows.to_csv(out / "allocations.csv", index=False)
    return result


def _spend(store_path: Path, customers: tuple[str, ...]) -> NDArray[np.float64]:
    with SqliteStore(store_path) as store:
        scores = store.cltv_scores(sorted(set(customers)))
    if scores.empty:
        return np.zeros(len(customers))
    lookup = scores.set_index("customer_id")["predicted_spend"]
    spend: NDArray[np.float64] = (
        pd.Series(customers).map(lookup).fillna(0.0).to_numpy(dtype=np.float64)
    )
    return spend


def daily_cltv_job(
    transactions: Path,
    profiles: Path | None,
    model_dir: Path,
    *,
    horizon_days: int = 365,
) -> Callable[[ScoreStore, dt.date], dict[str, Any]]:
    """The production CLTV daily job (:func:`tierflow.cltv.lifecycle.retrain`) as a step:
    train as of the eve of the day, promote, publish every score to the store."""

    def publish(store: ScoreStore, as_of: dt.date) -> dict[str, Any]:
        data, _ = load_customer_data(transactions, profiles=profiles)
        result = retrain(
            data,
            day_number(as_of),
            ModelRegistry(model_dir),
            horizon_days=horizon_days,
            sink=store,
        )
        threshold = store.cltv_threshold(TierPolicy().platinum_percentile)
        return {**result.to_json(), "platinum_threshold": threshold}

    return publish


def published_scores(
    scores_csv: Path,
) -> Callable[[ScoreStore, dt.date], dict[str, Any]]:
    """A CLTV step that publishes ready-made scores (``tierflow cltv score`` output)
    instead of training: for re-runs, and for operators with their own model."""

    def publish(store: ScoreStore, as_of: dt.date) -> dict[str, Any]:
        frame, _ = read_table(scores_csv, scores_csv.stem, list(_SCORE_COLUMNS))
        rows = store.put_cltv_scores(frame, as_of=as_of, model_version=scores_csv.name)
        threshold = store.cltv_threshold(TierPolicy().platinum_percentile)
        return {
            "scores": str(scores_csv),
            "published_rows": rows,
            "platinum_threshold": threshold,
        }

    return publish
