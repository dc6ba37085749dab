"""``tierflow simulate``: one whole day on the embedded network, end to end —
CLTV, checkouts, live capacity, allocation by three policies (see
``docs/simulation.md``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import DemandForecast, business_day_start
from tierflow.capacity.events import CapacityEvent
from tierflow.cltv.scores_file import read_cltv_scores
from tierflow.cltv.segments import SEGMENTS
from tierflow.data.network import Network
from tierflow.data.order_generator import (
    Shoppers,
    Spike,
    generate_orders,
    read_shoppers,
)
from tierflow.data.orders import ORDER_COLUMNS, Orders, read_orders, write_orders
from tierflow.data.store import ScoreStore, SqliteStore
from tierflow.data.vocabulary import TIERS, AllocationStatus, HoldStatus, Tier
from tierflow.formulations.tiers import Pricing, TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationOutcome,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.hindsight import (
    gap_to_bound_pct,
    telling_bound,
)
from tierflow.orchestration.allocation.outcome import DECIMALS
from tierflow.orchestration.allocation.outputs import printable
from tierflow.orchestration.checkout.offerable import checkout_tiers
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.simulation.checkouts import (
    ABANDONED,
    CheckoutRecord,
    run_checkouts,
    seeded_request_ids,
)
from tierflow.orchestration.simulation.checkpoints import Checkpoints
from tierflow.orchestration.simulation.forecast import (
    PRIOR_WEIGHT,
    rest_of_day_forecast,
    scaled_capacity,
    staffed_capacity,
)
from tierflow.orchestration.simulation.settings import SimulationSettings

__all__ = [
    "DAY_FILES",
    "PRIOR_WEIGHT",
    "CheckoutRecord",
    "SimulationResult",
    "SimulationSettings",
    "published_scores",
    "rest_of_day_forecast",
    "run_checkouts",
    "scaled_capacity",
    "segment_sizes",
    "simulate",
    "staffed_capacity",
]

#: The files :func:`simulate` writes in its folder.
DAY_FILES = (
    "carts.csv",
    "history.csv",
    "checkouts.csv",
    "capacity_scores.csv",
    "orders.csv",
    "allocations.csv",
    "allocations_hindsight.csv",
    "allocations_nearest.csv",
)

#: Each compared policy's line-level file, beside the main policy's
#: ``allocations.csv`` (the same columns), so every policy can be audited
#: the same way (only the main policy's was written until 2026-12-04).
COMPARED_FILES = {
    "hindsight": "allocations_hindsight.csv",
    "nearest": "allocations_nearest.csv",
}

#: Days of order history generated before the simulated day (the forecast's).
HISTORY_DAYS = 14

#: Publishes the CLTV scores the checkout uses, as of the eve of the day.
CltvStep = Callable[[ScoreStore, dt.date], dict[str, Any]]


log = logging.getLogger("tierflow.simulate")


@dataclass(slots=True)
class SimulationResult:
    """Everything the report needs."""

    settings: SimulationSettings
    cltv: dict[str, Any]
    checkouts: pd.DataFrame
    scores: pd.DataFrame
    outage_node: str | None
    #: The simulated day's clock (the network's main zone): the outage's
    #: and the spike's times, and the report's axes.
    timezone: str
    policies: dict[str, AllocationOutcome] = field(default_factory=dict)
    lp_bound: float | None = None
    overflow_threshold: float | None = None
    #: Work of the taken overflow orders that the main policy still shipped
    #: on the day itself (their customers agreed to a later day; the
    #: allocation is free to ship sooner where capacity allows).
    overflow_shipped_on_the_day: float = 0.0
    #: The network's warnings (:attr:`Network.warnings`): a day on a network
    #: with a node's lat and lon swapped says so in its summary.
    network_warnings: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The one-screen summary (also ``summary.json``)."""
        c = self.checkouts
        done = c[c["status"] == HoldStatus.CONFIRMED]
        return {
            "day": self.settings.day.isoformat(),
            "checkouts": len(c),
            "confirmed": len(done),
            "abandoned": int((c["status"] == ABANDONED).sum()),
            # of them, those the checkout offered nothing (no stock or room
            # for the cart): lost to the network, not the customer's choice
            "no_options": int(
                ((c["status"] == ABANDONED) & (c["offered"].fillna("") == "")).sum()
            ),
            "cancelled": int((c["status"] == HoldStatus.CANCELLED).sum()),
            "tier_mix": {
                str(k): int(v) for k, v in done["chosen"].value_counts().items()
            },
            "recommended_taken_pct": _pct((~done["overrode"]).sum(), len(done)),
            "overflow_offered": int(c["overflow_offered"].sum()),
            "overflow_taken": int(c["overflow_taken"].sum()),
            "platinum_offered": int(c["offered"].str.contains(Tier.PLATINUM).sum()),
            "upgrades": self._upgrades(),
            "outage_node": self.outage_node,
            "cltv": self.cltv,
            "lp_bound": self.lp_bound,
            "lp_bound_stop": self._hindsight_field("lp_bound_stop"),
            "lp_bound_budget": self._hindsight_field("lp_bound_budget"),
            "deterministic": self.settings.deterministic,
            "policies": {
                name: self._policy(outcome) for name, outcome in self.policies.items()
            },
            "savings": self._savings(),
            "overflow": self._overflow(),
            "overflow_threshold": self.overflow_threshold,
            "timezone": self.timezone,
            "network_warnings": list(self.network_warnings),
        }

    def _hindsight_field(self, name: str) -> Any:
        """The hindsight plan's ``summary.json`` field ``name`` (what stopped
        its bound, a deterministic bound's budget), ``None`` without it."""
        plan = self.policies.get("hindsight")
        return None if plan is None else plan.summary()[name]

    def _savings(self) -> dict[str, Any]:
        """The day's cost with tierflow (the engine with bid prices) against
        the nearest node with stock and against the hindsight bound (no
        allocation can cost less); ``None`` where a policy did not run."""
        main = self.policies.get(f"{self.settings.engine} + bid prices")
        near = self.policies.get("nearest")
        cost = None if main is None else float(main.summary()["total_cost"])
        base = None if near is None else float(near.summary()["total_cost"])
        bound = self.lp_bound
        saved = None if cost is None or base is None else base - cost
        # a bound of 0 or below says nothing of the day (the whole cost was
        # "above the hindsight bound" on the screen): no excess is measured
        telling = telling_bound(bound)
        above = None if cost is None or telling is None else cost - telling
        return {
            "policy": f"{self.settings.engine} + bid prices",
            "cost": cost,
            "nearest_cost": base,
            "vs_nearest": _figure(saved),
            "vs_nearest_pct": None if saved is None else _pct(saved, base or 0.0),
            "lp_bound": bound,
            "above_bound": _figure(above),
            "above_bound_pct": None
            if cost is None
            else _figure(gap_to_bound_pct(cost, bound)),
        }

    def _overflow(self) -> dict[str, Any]:
        """What the overflow incentive moved (orders, and today's capacity
        their work no longer takes) and what it cost (the discounts)."""
        c = self.checkouts
        done = c[c["status"] == HoldStatus.CONFIRMED]
        taken = done[done["overflow_taken"].astype(bool)]
        offered = int(c["overflow_offered"].sum())
        work = float(taken["work"].sum()) if "work" in taken else 0.0
        day_work = float(done["work"].sum()) if "work" in done else 0.0
        discounts = float(taken["discount"].sum())
        return {
            "offered": offered,
            "orders_moved": len(taken),
            "take_rate_pct": _pct(len(taken), offered),
            "work_moved": work,
            "work_moved_pct": _pct(work, day_work),
            "work_shipped_on_the_day": self.overflow_shipped_on_the_day,
            "work_shipped_on_the_day_pct": _pct(self.overflow_shipped_on_the_day, work),
            "discounts": discounts,
            "discount_mean": None if taken.empty else _fixed(discounts / len(taken)),
            "discount_per_work_unit": None if work == 0 else _fixed(discounts / work),
        }

    def _upgrades(self) -> dict[str, Any]:
        """Platinum upgrades (``docs/simulation.md``): offered, confirmed, what
        they cost us over Gold and its share of the day's fulfilment cost,
        and the predicted value of the customers who got them."""
        c = self.checkouts
        done = c[
            (c["status"] == HoldStatus.CONFIRMED) & (c["pricing"] == Pricing.UPGRADE)
        ]
        spend = float(done["upgrade_cost"].sum())
        value = done.drop_duplicates("customer_id")["predicted_spend"]
        main = self.policies.get(f"{self.settings.engine} + bid prices")
        day_cost = None if main is None else float(main.summary()["total_cost"])
        return {
            "offered_as_upgrade": int((c["platinum_pricing"] == Pricing.UPGRADE).sum()),
            "offered_priced": int((c["platinum_pricing"] == Pricing.PRICED).sum()),
            "confirmed": len(done),
            "spend": spend,
            "fulfilment_cost": day_cost,
            "share_of_fulfilment_cost_pct": _pct(spend, day_cost or 0.0),
            "customers": len(value),
            "customers_predicted_spend": float(value.sum()),
            "customers_predicted_spend_mean": (
                None if value.empty else _fixed(value.mean())
            ),
        }

    def _policy(self, outcome: AllocationOutcome) -> dict[str, Any]:
        """One policy's figures, with its gap to the hindsight bound."""
        s = outcome.summary()
        return {
            "total_cost": s["total_cost"],
            "gap_to_bound_pct": _figure(
                gap_to_bound_pct(s["total_cost"], self.lp_bound)
            ),
            "n_allocated": s["n_allocated"],
            "n_deferred": s["n_deferred"],
            "rerouted": s["rerouted"],
            "platinum_on_time_rate": s["platinum_on_time_rate"],
            "service_level_by_tier": s["service_level_by_tier"],
            "batch_solve_p95_s": s["batch_solve_p95_s"],
            "forecast": s["forecast"],
            "repriced_total_cost": s["repriced_total_cost"],
            "promises_by_tier": outcome.promises_by_tier(),
            "runtime_s": s["runtime_s"],
            "n_batches": s["n_batches"],
            "hindsight": s["hindsight"],
        }


def _pct(part: float, whole: float) -> float | None:
    return None if whole == 0 else _fixed(100.0 * float(part) / float(whole))


def _fixed(value: float) -> float:
    """A derived figure (a share, a mean, a difference of two costs) at
    ``DECIMALS``, as ``checkouts.csv``'s and ``allocations.csv``'s costs:
    ``summary.json`` carried its float noise (``569.7445150000003``, a
    share of ``77.11267605633803`` %). Sums stay as they were added up."""
    return round(float(value), DECIMALS) + 0.0  # never -0.0


def _figure(value: float | None) -> float | None:
    """:func:`_fixed`, ``None`` (a figure that says nothing) kept."""
    return None if value is None else _fixed(value)


def simulate(
    network: Network,
    store_path: Path,
    out: Path,
    settings: SimulationSettings,
    *,
    publish_cltv: CltvStep,
    on_step: Callable[[str, int | None], None] | None = None,
    policy: TierPolicy | None = None,
    checkpoints: Checkpoints | None = None,
    shoppers: Shoppers | None = None,
) -> SimulationResult:
    """Run the whole day (see ``docs/simulation.md``); files go to ``out``
    (``policy``: the tier policy, default :class:`TierPolicy`; ``shoppers``:
    the network's customers as the caller read them, else read here, once
    for the carts and the history).

    ``on_step`` is told of each step (``None``) and of the checkouts done
    so far (0 as they start, every one once the step ends).

    ``checkpoints`` keeps each finished step (CLTV, checkouts, each
    allocation policy) so that an interrupted run resumes after the last
    one (:mod:`.checkpoints`); without them every step runs.
    """
    note = on_step or (lambda _name, _n: None)
    steps = checkpoints or Checkpoints(None)
    out.mkdir(parents=True, exist_ok=True)
    note("cltv", None)
    cltv = _cltv(steps, store_path, publish_cltv, settings)
    note("carts", None)
    if shoppers is None:
        shoppers = read_shoppers(network)
    carts = _carts(network, settings, out, shoppers)
    _say_unscored_shoppers(store_path, carts)
    policy = policy or TierPolicy()
    demand = _history_forecast(network, settings, out, shoppers, policy)
    # staffed in the morning from what is known then: the history's mean day
    # (regenerated from the seed on a resumed run, so the same capacities)
    # (or, --keep-capacity, as the network file has them: a retailer's own
    # staffing, which was always rescaled)
    capacity = (
        np.asarray(network.capacity, dtype=np.float64)
        if settings.keep_capacity
        else staffed_capacity(network, demand, settings.utilization)
    )
    day = _checkouts_step(
        network, store_path, steps, carts, capacity, settings, demand, policy, note
    )
    checkouts, scores, outage_node, outage_event = day
    checkouts.to_csv(out / "checkouts.csv", index=False)
    scores.to_csv(out / "capacity_scores.csv", index=False)
    result = SimulationResult(
        settings, cltv, checkouts, scores, outage_node, network.main_timezone,
        network_warnings=network.warnings,
    )  # fmt: skip
    result.overflow_threshold = policy.overflow_score_threshold
    orders = _confirmed_orders(store_path, network, out)
    spend = _spend(store_path, orders.customer_ids)
    day_orders = _DayOrders(network, orders, spend, policy, demand)
    for name, alloc in _policies(settings):
        note(f"allocate: {name}", None)
        outcome = steps.load(f"allocate {name}")
        if outcome is None:
            outcome = day_orders.allocate(alloc, capacity, outage_event)
            steps.save(f"allocate {name}", outcome)
        result.policies[name] = outcome
        if alloc.hindsight:
            result.lp_bound = outcome.lp_bound
    result.lp_bound = _bound_under_rounding(result.lp_bound, result.policies.values())
    main = result.policies[f"{settings.engine} + bid prices"]
    # as `allocate` prints its rows (a cost part's 3.999999999999999 read
    # 4.0 there and its float residue here: docs/cli.md, "Outputs")
    printable(main.rows).to_csv(out / "allocations.csv", index=False)
    for name, file_name in COMPARED_FILES.items():
        printable(result.policies[name].rows).to_csv(out / file_name, index=False)
    result.overflow_shipped_on_the_day = _overflow_shipped_on(
        network, orders, main.rows, settings.day
    )
    return result


def _bound_under_rounding(
    bound: float | None, outcomes: Iterable[AllocationOutcome]
) -> float | None:
    """The hindsight ``bound``, no higher than any policy's ``total_cost``
    that it passes only by that cost's rounding.

    A policy's cost is the sum of its lines' costs, each at ``DECIMALS``
    (``allocations.csv``), while the bound is the LP's value unrounded: on a
    day the bound is tight (one order, its seven lines waiting a day at
    $3.234698188... each) it read 25.8775855 against every policy's
    25.877584, and the screen and the report printed "+-0.00 %", "$-0 above
    the hindsight bound" and "Left on the table, at most −$0" for a
    proven lower bound above the costs. Lowering a lower bound keeps it
    one; a bound above a cost by more than its rounding is left as it is,
    to be seen."""
    if bound is None:
        return None
    for outcome in outcomes:
        cost = float(outcome.summary()["total_cost"])
        # each line's half unit in the last decimal, and the total's own
        slack = 0.5 * 10.0**-DECIMALS * (len(outcome.rows) + 1)
        if cost < bound <= cost + slack:
            bound = cost
    return bound


#: What :func:`run_checkouts` returns: the records, the capacity scores, the
#: node that went down and its outage event.
_Checkouts = tuple[pd.DataFrame, pd.DataFrame, str | None, CapacityEvent | None]


def _checkouts_step(
    network: Network,
    store_path: Path,
    steps: Checkpoints,
    carts: pd.DataFrame,
    capacity: NDArray[np.float64],
    settings: SimulationSettings,
    demand: DemandForecast,
    policy: TierPolicy,
    note: Callable[[str, int | None], None],
) -> _Checkouts:
    """The day's checkouts (:func:`run_checkouts`), or a finished step's;
    ``note`` hears of 0 done as they start and of every one at the end (it
    heard every 50th only, and the allocations started at 2 % of a 40-cart
    day's progress)."""
    note("checkouts", 0)
    day: _Checkouts | None = steps.load(_CHECKOUTS)
    if day is None:
        # the network already read (it is immutable), not its folder read again
        with OnlineRouter.open(
            network=network,
            state=store_path,
            policy=policy,
            request_ids=_request_ids(settings),
        ) as router:
            day = run_checkouts(
                network, router, carts, capacity, settings, demand,
                on_progress=lambda k: note("checkouts", k),
            )  # fmt: skip
        steps.save(_CHECKOUTS, day)
    note("checkouts", settings.checkouts)
    return day


def _request_ids(settings: SimulationSettings) -> Callable[[], str] | None:
    """A deterministic day's checkout request ids, drawn from its seed
    (``None``: the router's own, random)."""
    return seeded_request_ids(settings.seed) if settings.deterministic else None


def _overflow_shipped_on(
    network: Network, orders: Orders, rows: pd.DataFrame, day: dt.date
) -> float:
    """Work of the overflow orders' lines that ``rows`` (one policy's
    allocation) ship on ``day``."""
    overflow = orders.tier == TIERS.index(Tier.OVERFLOW)
    ids = {orders.order_ids[i] for i in np.flatnonzero(overflow)}
    shipped = rows[
        rows["order_id"].isin(ids)
        & (rows["status"] == AllocationStatus.ALLOCATED)
        & (rows["ship_date"].astype(str) == day.isoformat())
    ]
    if shipped.empty:
        return 0.0
    skus = network.sku_idx(shipped["sku"].astype(str).tolist())
    return network.order_workload(skus, shipped["quantity"].to_numpy(np.float64))


#: The checkout step's checkpoint (it changes the store: see :func:`_cltv`).
_CHECKOUTS = "checkouts"
_CLTV = "cltv"


def _cltv(
    steps: Checkpoints,
    store_path: Path,
    publish_cltv: CltvStep,
    settings: SimulationSettings,
) -> dict[str, Any]:
    """Publish the CLTV scores, or take them from a finished step: after the
    checkouts the store is left as it is; after the CLTV step only, the store
    is put back as it stood then (the checkouts start again)."""
    done: dict[str, Any] | None = steps.load(_CLTV)
    if done is not None:
        if not steps.has(_CHECKOUTS):
            steps.restore_store(_CLTV, store_path)
        return done
    with SqliteStore(store_path) as store:
        cltv = publish_cltv(store, settings.day - dt.timedelta(days=1))
    steps.save(_CLTV, cltv, store=store_path)
    return cltv


def _carts(
    network: Network, settings: SimulationSettings, out: Path, shoppers: Shoppers
) -> pd.DataFrame:
    """The day's carts in time order (also ``carts.csv``). The capacities
    are not scaled from them but from the history (:func:`staffed_capacity`):
    scaled from its own carts, the day came in at exactly the settings'
    utilization, staffed with foresight."""
    spike = Spike.parse(settings.spike) if settings.spike else None
    carts = generate_orders(
        network,
        n_orders=settings.checkouts,
        days=1,
        seed=settings.seed,
        start=settings.day,
        spike=spike,
        shoppers=shoppers,
    )
    carts["created_at"] = pd.to_datetime(
        carts["created_at"], utc=True, format="ISO8601"
    )
    carts = carts.sort_values("created_at", kind="stable")
    write_orders(
        carts.assign(
            created_at=carts["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), tier=""
        ),
        out / "carts.csv",
    )
    return carts


def _history_forecast(
    network: Network,
    settings: SimulationSettings,
    out: Path,
    shoppers: Shoppers,
    policy: TierPolicy,
) -> DemandForecast:
    """The demand forecast from the :data:`HISTORY_DAYS` days before the day
    (generated at ``settings.history_per_day`` checkouts a day, by default
    the day's volume; ``history.csv``): the same forecast the
    batch allocator and the checkout's capacity ticks use, and the day's
    staffing plan (:func:`staffed_capacity`), the day's own orders unseen.
    Its orders passed checkout, so each is of a tier checkout could offer
    it (:func:`checkout_tiers`: a Platinum drawn on a Sunday is Gold)."""
    history = generate_orders(
        network,
        n_orders=settings.history_per_day * HISTORY_DAYS,
        days=HISTORY_DAYS,
        seed=settings.seed + 1,
        start=settings.day - dt.timedelta(days=HISTORY_DAYS),
        shoppers=shoppers,
    )
    history, _ = checkout_tiers(history, network, policy)
    orders = read_orders(write_orders(history, out / "history.csv"), network)
    # what had arrived when the day began (the day before's evening in the
    # West runs past the next day's start), as ``allocate --history`` takes it
    start = business_day_start(settings.day, network)
    return DemandForecast.from_history(orders, network, before=start)


def _confirmed_orders(store_path: Path, network: Network, out: Path) -> Orders:
    """The orders confirmed at checkout (also ``orders.csv``), each with the
    delivery date the customer was shown as its promise and each line with
    the node its units were reserved at (``node_id``), in an order that
    does not depend on their ids (see :func:`_by_content`)."""
    with SqliteStore(store_path) as store:
        confirmed = _by_content(store.online_orders())
    # with the promise shown at checkout (the store's promised_date: its last
    # shipment's date, as lines held at several nodes may arrive apart) and
    # the node the confirm took each line's units from: a Platinum line is
    # kept there (it left it on 14 of 36 lines until 2026-12-06)
    frame = confirmed[[*ORDER_COLUMNS, "promised_date", "node_id"]]
    return read_orders(write_orders(frame, out / "orders.csv"), network)


def _by_content(lines: pd.DataFrame) -> pd.DataFrame:
    """Order lines sorted by confirmation time, then by what the order is.

    An order's id is its checkout's request id, random by design, and checkouts
    confirmed in the same second would otherwise reach the allocator in id
    order: a rerun of the same day would decide ties differently. Lines of
    one order stay together and in their order.
    """
    content = (
        (lines["sku"].astype(str) + ":" + lines["quantity"].astype(str))
        .groupby(lines["order_id"])
        .transform(";".join)
    )
    keys = ["confirmed_at", "created_at", "customer_id", "dest", "tier"]
    order = lines.assign(_content=content).sort_values(
        [*keys, "_content"], kind="stable"
    )
    return order.drop(columns="_content").reset_index(drop=True)


def _policies(settings: SimulationSettings) -> list[tuple[str, AllocationSettings]]:
    """The three allocation policies compared: hindsight, the engine with bid
    prices in batches (on capacity only without ``stock_bid_prices``), and
    the nearest node with stock; each deterministic with ``deterministic``."""
    same = settings.deterministic
    return [
        (
            "hindsight",
            AllocationSettings(
                engine=settings.engine,
                hindsight=True,
                time_limit_s=settings.hindsight_time_limit_s,
                deterministic=same,
            ),
        ),
        (
            f"{settings.engine} + bid prices",
            AllocationSettings(
                engine=settings.engine,
                time_limit_s=settings.time_limit_s,
                stock_bid_prices=settings.stock_bid_prices,
                deterministic=same,
            ),
        ),
        (
            "nearest",
            AllocationSettings(
                engine=NEAREST, use_bid_prices=False, deterministic=same
            ),
        ),
    ]


@dataclass(frozen=True, slots=True, eq=False)
class _DayOrders:
    """The confirmed orders, ready to be allocated by any policy."""

    network: Network
    orders: Orders
    spend: NDArray[np.float64]
    policy: TierPolicy
    demand: DemandForecast

    def allocate(
        self,
        settings: AllocationSettings,
        capacity: NDArray[np.float64],
        outage: CapacityEvent | None,
    ) -> AllocationOutcome:
        """One policy's day. The hindsight plan does not apply the outage (it
        sees the day) but is told of it: its bound must not assume the outage
        node's room for the policies that lost it."""
        events = [] if outage is None else [outage]
        return DayAllocator(
            self.network,
            self.orders,
            settings=settings,
            policy=self.policy,
            predicted_spend=self.spend,
            capacity=capacity,
            events=events,
            forecast=None if settings.hindsight else self.demand,
        ).run()


def _say_unscored_shoppers(store_path: Path, carts: pd.DataFrame) -> None:
    """Warn when none of the day's shoppers has a published CLTV score: a
    network without customers.csv makes its shoppers up, so scores given
    with --cltv-scores matched none of them and every shopper was new
    (no Platinum offered), without a word."""
    shoppers = sorted(set(carts["customer_id"].astype(str)))
    with SqliteStore(store_path) as store:
        published = store.latest_cltv_as_of() is not None
        scored = store.cltv_scores(shoppers) if published else None
    if scored is not None and scored.empty:
        log.warning(
            "none of the day's %d shoppers has a published CLTV score: every "
            "one is a new customer to the checkout (the network's customers.csv "
            "names the shoppers; the scores must be theirs)",
            len(shoppers),
        )


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


def segment_sizes(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Customers and mean predicted spend per CLTV segment (best first)."""
    out: dict[str, dict[str, float]] = {}
    total = max(len(scores), 1)
    for segment in SEGMENTS:
        rows = scores.loc[scores["segment"] == segment, "predicted_spend"]
        out[segment] = {
            "customers": len(rows),
            "share_pct": _fixed(100.0 * len(rows) / total),
            "mean_predicted_spend": _fixed(rows.mean()) if len(rows) else 0.0,
        }
    return out


def published_scores(
    scores_csv: Path, *, platinum_percentile: float = TierPolicy().platinum_percentile
) -> CltvStep:
    """A CLTV step that publishes ready-made scores (``tierflow cltv score`` output)
    instead of training: for re-runs, and for operators with their own model.

    The scores are read and checked here, before the step runs.
    """
    frame = read_cltv_scores(scores_csv)

    def publish(store: ScoreStore, as_of: dt.date) -> dict[str, Any]:
        rows = store.put_cltv_scores(frame, as_of=as_of, model_version=scores_csv.name)
        threshold = store.cltv_top_threshold(platinum_percentile * 100.0)
        return {
            "scores": str(scores_csv),
            "published_rows": rows,
            "platinum_threshold": threshold,
            "model_version": scores_csv.name,
            "segments": segment_sizes(frame),
            "backtest": None,
        }

    return publish
