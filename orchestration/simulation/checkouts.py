"""The simulated day's checkouts: each cart answered by the router at its own
time, a customer's choice, the hold and its confirmation, while the capacity
monitor sees the day fill (``docs/simulation.md``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import DemandForecast, business_day_start
from tierflow.capacity.events import CapacityEvent
from tierflow.data.network import Network
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.orchestration.allocation.outcome import DECIMALS
from tierflow.orchestration.checkout.quotes import REQUEST_ID_BYTES, request_id_of
from tierflow.orchestration.checkout.results import (
    CheckoutResult,
    FulfillmentOption,
    OptionSet,
)
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.simulation.forecast import (
    day_prior,
    rest_of_day_forecast,
)
from tierflow.orchestration.simulation.settings import SimulationSettings, local_instant

#: A checkout whose customer left without choosing.
ABANDONED = "abandoned"
#: How often the forecast is refreshed and the capacity scores sampled.
TICK = dt.timedelta(minutes=30)


@dataclass(slots=True)
class CheckoutRecord:
    """One simulated checkout, as ``checkouts.csv`` reports it.

    ``platinum_pricing`` is how an offered Platinum was priced (``upgrade``
    or ``priced``; empty when not offered); ``cost``, ``pricing``,
    ``upgrade_cost`` and ``work`` (capacity units of its shipments) are the
    confirmed option's.
    """

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
    predicted_spend: float = 0.0
    platinum_pricing: str = ""
    cost: float = 0.0
    pricing: str = ""
    upgrade_cost: float = 0.0
    work: float = 0.0


def capacity_event(
    eid: str, when: dt.datetime, node: str, kind: str, value: Any
) -> dict[str, Any]:
    """A capacity event as the router takes it (JSON form)."""
    return {
        "event_id": eid,
        "ts": when.isoformat(),
        "node_id": node,
        "type": kind,
        "value": value,
    }


#: Second word of the choice model's seed, ``[seed, CHOICE_STREAM]``: a
#: stream of its own. Seeded with the day's seed alone, its draws were the
#: cart generator's (``default_rng(seed)``) in the same order: the k-th
#: shopper's leave-or-stay drew the very number the k-th customer's home
#: was drawn from.
CHOICE_STREAM = 0x43484F49  # "CHOI"


#: Second word of a deterministic day's request ids' seed, ``[seed,
#: REQUEST_ID_STREAM]`` (:func:`seeded_request_ids`).
REQUEST_ID_STREAM = 0x52455149  # "REQI"


def seeded_request_ids(seed: int) -> Callable[[], str]:
    """Request ids in the checkout's format (``REQUEST_ID_BYTES`` bytes,
    URL-safe: :func:`~tierflow.orchestration.checkout.quotes.new_request_id`'s)
    drawn from ``seed``: a ``simulate --deterministic`` day's orders keep
    their ids from run to run, so its allocations compare byte for byte
    (the ids are guessable: for a simulated day only)."""
    rng = np.random.default_rng([seed, REQUEST_ID_STREAM])

    def new_id() -> str:
        return request_id_of(rng.bytes(REQUEST_ID_BYTES))

    return new_id


class ChoiceModel:
    """The documented choice model (``docs/simulation.md``), seeded."""

    def __init__(self, settings: SimulationSettings, seed: int) -> None:
        self.s = settings
        self.rng = np.random.default_rng([seed, CHOICE_STREAM])

    def choose(self, options: OptionSet) -> tuple[str | None, bool]:
        """(option id or None to leave, whether the recommendation was overridden)."""
        if not options.options or self.rng.random() < self.s.abandon_p:
            return None, False
        recommended = options.options[0]
        overflow = [o for o in options.options if o.tier == Tier.OVERFLOW]
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

    def cancels(self) -> bool:
        """Whether a held checkout is cancelled instead of confirmed."""
        return bool(self.rng.random() < self.s.cancel_p)


class ForecastTicks:
    """Every half hour: each node's rest-of-day forecast, and a score sample."""

    def __init__(
        self,
        network: Network,
        router: OnlineRouter,
        prior: NDArray[np.float64],
        day: dt.date,
        first: dt.datetime,
        demand: DemandForecast,
    ) -> None:
        self.network = network
        self.demand = demand.on(network)
        self.day_start = (
            self.demand.business_day.start(day)
            .astype(dt.datetime)
            .replace(tzinfo=dt.UTC)
        )
        self.router = router
        self.prior = prior
        self.day = day
        self.next_tick = first
        self.scores: list[dict[str, Any]] = []
        self._seq = 0

    def catch_up(self, now: dt.datetime, committed: NDArray[np.float64]) -> None:
        """Every tick up to ``now``."""
        while now >= self.next_tick:
            self._tick(self.next_tick, committed)
            self.next_tick += TICK

    def _tick(self, at: dt.datetime, committed: NDArray[np.float64]) -> None:
        offset_s = (at - self.day_start).total_seconds()
        elapsed = self.demand.share_before(self.day, offset_s)
        forecast = rest_of_day_forecast(committed, self.prior, elapsed)
        self.router.apply_capacity_events(
            [
                capacity_event(
                    f"sim-fc-{self._seq}-{i}", at, n, "forecast", float(forecast[i])
                )
                for i, n in enumerate(self.network.node_ids)
            ]
        )
        self._seq += 1
        row = dict(
            zip(self.network.node_ids, self.router.monitor.score_map(), strict=True)
        )
        row["at"] = at.isoformat()
        self.scores.append(row)


class Outage:
    """The busiest node (by confirmed work; before any, by the day's expected
    work ``prior``) goes down at ``at``."""

    def __init__(
        self, network: Network, at: dt.datetime | None, prior: NDArray[np.float64]
    ) -> None:
        self.network = network
        self.at = at
        self.prior = prior
        self.node: str | None = None
        self.event: CapacityEvent | None = None

    def due(self, now: dt.datetime) -> bool:
        """Whether the node goes down before ``now`` (and has not yet)."""
        return self.at is not None and self.node is None and now >= self.at

    def check(
        self, now: dt.datetime, committed: NDArray[np.float64], router: OnlineRouter
    ) -> None:
        """Take the busiest node down once ``now`` passes the outage time (an
        outage before the first confirmation took the network's first node:
        every node's work was 0)."""
        if self.at is None or not self.due(now):
            return
        busiest = int(np.argmax(committed if committed.any() else self.prior))
        self.node = self.network.node_ids[busiest]
        router.apply_capacity_events(
            [capacity_event("sim-outage", self.at, self.node, "outage", True)]
        )
        self.event = CapacityEvent(
            "sim-outage", self.at.timestamp(), busiest, "outage", 1.0
        )


class CheckoutDesk:
    """One checkout after another: options, choice, hold, confirmation.

    ``committed`` is each node's confirmed work so far; every confirmation
    adds to it (the router's confirm tells the monitor, ``backlog_delta``).
    """

    def __init__(
        self, network: Network, router: OnlineRouter, chooser: ChoiceModel
    ) -> None:
        self.network = network
        self.router = router
        self.chooser = chooser
        self.committed = np.zeros(network.n_nodes)

    def checkout(
        self, customer: str, items: list[tuple[str, int]], dest: str, now: dt.datetime
    ) -> CheckoutRecord:
        """One cart, answered at ``now``."""
        router = self.router
        options = router.generate_fulfillment_options(customer, items, dest, now=now)
        record = _offered(options, customer, now)
        option_id, overrode = self.chooser.choose(options)
        if option_id is None:
            return record
        held = router.select(options.request_id, option_id, now=now)
        if held.status == HoldStatus.REJECTED:  # stock went meanwhile: look again, once
            options = router.generate_fulfillment_options(
                customer, items, dest, now=now
            )
            if not options.options:
                record.status = HoldStatus.REJECTED
                return record
            option_id, overrode = options.options[0].option_id, False
            held = router.select(options.request_id, option_id, now=now)
        return self._settle(record, options, option_id, overrode, held, now)

    def _settle(
        self,
        record: CheckoutRecord,
        options: OptionSet,
        option_id: str,
        overrode: bool,
        held: CheckoutResult,
        now: dt.datetime,
    ) -> CheckoutRecord:
        """Cancel or confirm a hold (a failed hold is recorded as it ended)."""
        if held.status != HoldStatus.HELD:
            record.status = held.status
            return record
        chosen = options.option(option_id)
        if self.chooser.cancels():
            self.router.cancel(options.request_id, now=now)
            record.status = HoldStatus.CANCELLED
            return record
        self.router.confirm(options.request_id, now=now)
        record.work = self._commit(chosen)
        record.chosen = chosen.tier
        record.overrode = overrode
        record.overflow_taken = chosen.tier == Tier.OVERFLOW
        record.price = chosen.price
        record.discount = chosen.discount
        # its parts' float sum (14.860000000000001), to allocations.csv's decimals
        record.cost = round(chosen.cost, DECIMALS)
        record.pricing = chosen.pricing
        record.upgrade_cost = chosen.upgrade_cost
        record.delivery_date = chosen.delivery_date.isoformat()
        record.status = HoldStatus.CONFIRMED
        return record

    def _commit(self, chosen: FulfillmentOption) -> float:
        """The chosen shipments' work, counted here for the forecast (the
        router's confirm already logged it to the nodes' backlog); their
        total."""
        total = 0.0
        for shipment in chosen.shipments:
            skus = [s for s, _ in shipment.lines]
            qty = [q for _, q in shipment.lines]
            work = self.network.order_workload(self.network.sku_idx(skus), qty)
            self.committed[self.network.node_idx(shipment.node_id)] += work
            total += float(work)
        return total


def _offered(options: OptionSet, customer: str, now: dt.datetime) -> CheckoutRecord:
    """The record of a checkout before the customer chooses (left: abandoned)."""
    plat = [o for o in options.options if o.tier == Tier.PLATINUM]
    return CheckoutRecord(
        at=now.isoformat(),
        customer_id=customer,
        segment=options.customer.segment,
        offered=",".join(o.tier for o in options.options),
        recommended=options.options[0].tier if options.options else "",
        chosen="",
        overrode=False,
        overflow_offered=any(o.tier == Tier.OVERFLOW for o in options.options),
        overflow_taken=False,
        price=0.0,
        discount=0.0,
        delivery_date="",
        status=ABANDONED,
        predicted_spend=options.customer.predicted_spend,
        platinum_pricing=plat[0].pricing if plat else "",
    )


def _open_day(
    network: Network,
    router: OnlineRouter,
    capacity: NDArray[np.float64],
    day: dt.date,
) -> None:
    """Each node's nominal capacity for the day, dated at its start: the
    first midnight of the network's zones (:func:`business_day_start`). At
    00:00 UTC, a network east of UTC (Berlin's day starts at 23:00 UTC the
    day before) logged its capacities after the first checkouts they
    answered."""
    start = business_day_start(day, network).astype(dt.datetime).replace(tzinfo=dt.UTC)
    router.apply_capacity_events(
        [
            capacity_event(
                f"sim-cap-{n}", start, n, "nominal_capacity", float(capacity[i])
            )
            for i, n in enumerate(network.node_ids)
        ]
    )


def run_checkouts(
    network: Network,
    router: OnlineRouter,
    carts: pd.DataFrame,
    capacity: NDArray[np.float64],
    settings: SimulationSettings,
    demand: DemandForecast,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str | None, CapacityEvent | None]:
    """Answer, choose, hold and confirm every cart in time order.

    Returns the checkout records, the capacity scores every half hour, the
    node that went down and its outage event (for the allocation run).
    """
    _open_day(network, router, capacity, settings.day)
    desk = CheckoutDesk(network, router, ChoiceModel(settings, settings.seed))
    first = pd.Timestamp(carts["created_at"].min()).to_pydatetime()
    # each node's expected work of the day, from the history (not the
    # capacities: they are scaled from the day's own carts)
    prior = day_prior(network, capacity, demand, settings.utilization)
    ticks = ForecastTicks(network, router, prior, settings.day, first, demand)
    outage = Outage(
        network,
        None
        if settings.outage_at is None
        else local_instant(settings.day, settings.outage_at, network.main_timezone),
        prior,
    )
    records: list[CheckoutRecord] = []
    for k, (_order_id, lines) in enumerate(carts.groupby("order_id", sort=False)):
        now = pd.Timestamp(lines["created_at"].iloc[0]).to_pydatetime()
        if outage.due(now):  # the samples before it went down, then the outage
            assert outage.at is not None
            ticks.catch_up(outage.at, desk.committed)
            outage.check(now, desk.committed, router)
        ticks.catch_up(now, desk.committed)
        items = list(
            zip(lines["sku"].astype(str), lines["quantity"].astype(int), strict=True)
        )
        customer, dest = str(lines["customer_id"].iloc[0]), str(lines["dest"].iloc[0])
        records.append(desk.checkout(customer, items, dest, now))
        if on_progress is not None and k % 50 == 0:
            on_progress(k)
    if outage.at is not None and outage.node is None:  # after the last cart
        ticks.catch_up(outage.at, desk.committed)
        outage.check(outage.at, desk.committed, router)
    return (
        pd.DataFrame([dataclasses.asdict(r) for r in records]),
        pd.DataFrame(ticks.scores),
        outage.node,
        outage.event,
    )
