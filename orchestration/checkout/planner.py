"""Planning one checkout: which node(s) ship each tier, or why it cannot.

:class:`Planner` prices the order at every node for every tier at once
(:class:`~tierflow.formulations.online_pricing.OrderPricer`), decides each
tier with the bid-price-adjusted greedy step
(:func:`~tierflow.solver.greedy.cheapest_feasible_node`), splits an order no
single node holds into shipments (a greedy cover), and plans the overflow
tier when capacity is short. The rules are in ``docs/checkout.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.monitor import CapacityMonitor
from tierflow.capacity.score import lane_factor
from tierflow.data.network import Network
from tierflow.data.vocabulary import TIERS, Tier
from tierflow.data.wording import money_apart, percent
from tierflow.formulations.batch_compiler import lane_weight
from tierflow.formulations.online_pricing import OrderPricer, TierQuote, day_to_date
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.live_context import Context
from tierflow.orchestration.checkout.request import CheckoutRequest
from tierflow.orchestration.checkout.results import CustomerValue
from tierflow.orchestration.checkout.shopper_words import (
    WhyNot,
    closed_now,
    fully_booked,
    no_guarantee,
    no_service,
    not_a_member,
    not_busy,
    out_of_stock,
    same_as,
    ships_no_later,
)
from tierflow.orchestration.checkout.timing import Stopwatch
from tierflow.solver.greedy import cheapest_feasible_node
from tierflow.solver.partial_assignment import TOL

_OVER = TIERS.index(Tier.OVERFLOW)
#: The operator's cause for a node of a nominal capacity of 0.
NO_CAPACITY = "has no capacity (nominal 0)"


@dataclass(frozen=True, slots=True)
class PlannedShipment:
    """One shipment of a plan: a node, the lines it ships, how and when.

    Days are day numbers (:func:`~tierflow.formulations.online_pricing.day_to_date`),
    ``service`` an index into :data:`~tierflow.data.rates.SERVICES`.
    """

    node: int
    lines: tuple[int, ...]
    service: int
    ship: int
    delivery: int
    days: int
    shipping: float
    handling: float
    penalty: float
    workload: float
    kg: float

    @classmethod
    def from_quote(
        cls,
        q: TierQuote,
        t: int,
        node: int,
        lines: tuple[int, ...],
        kg: float,
        work: float,
    ) -> PlannedShipment:
        """The shipment from ``node`` for tier row ``t`` of a quote."""
        return cls(
            node=node,
            lines=lines,
            service=int(q.service[t, node]),
            ship=int(q.ship[node]),
            delivery=int(q.delivery[t, node]),
            days=int(q.days[t, node]),
            shipping=float(q.shipping[t, node]),
            handling=float(q.handling[node]),
            penalty=float(q.penalty[t, node]),
            workload=work,
            kg=kg,
        )

    def lane_factor(self, congestion: NDArray[np.float64]) -> float:
        """The congestion of the shipment's lane in ``congestion`` (``(node,
        service)``; 1: no service): the node capacity a unit of its work
        takes."""
        return lane_factor(congestion, self.node, self.service)

    def capacity_taken(self, congestion: NDArray[np.float64]) -> float:
        """Node capacity the shipment takes: its workload times its lane's
        ``congestion`` (:meth:`lane_factor`), as a batch weighs an item
        (:func:`~tierflow.formulations.batch_compiler.lane_weight`)."""
        return self.workload * self.lane_factor(congestion)


#: The shipments of one tier's plan (one, or several for a split order).
Plan = tuple[PlannedShipment, ...]


def serving_nodes(
    q: TierQuote, tier: Tier, have: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """``(nodes, lines)``: the node holds the line (``have``) and can serve
    ``tier`` by the quote (for Platinum: deliver by the promised date, its
    cutoffs, timezones and the calendar respected). A tier is plannable,
    room aside, when every line has such a node (one node for all, or a
    split), and refused otherwise."""
    return np.asarray((q.service[TIERS.index(tier)] >= 0)[:, None] & have)


def _bid_charge(
    ctx: Context, work: float, service: NDArray[np.int_]
) -> NDArray[np.float64]:
    """Per node, the bid price of ``work`` shipped by ``service`` there
    (-1: none): the price is per unit of node capacity and a congested lane
    takes its congestion times the work of it, so the order pays that, as
    the batches' bid-price charge does (``price x lane_weight``)."""
    taken = lane_weight(np.array([work]), service[None, :], ctx.room.congestion)
    return np.asarray(ctx.bid * taken[0], dtype=np.float64)


def _today_lanes(q: TierQuote) -> NDArray[np.int_]:
    """Per node, the lane an order would ship by today: Gold's, else
    Silver's (-1: neither ships from it). The overflow scores the order on
    it, the room Gold's placement reads (``Room.soft``): scored with no
    lane, a congested lane Gold found full read "capacity is not short"."""
    gold = q.service[TIERS.index(Tier.GOLD)]
    return np.asarray(np.where(gold >= 0, gold, q.service[TIERS.index(Tier.SILVER)]))


def same_plan(a: Plan, b: Plan) -> bool:
    """Whether two plans ship the same lines from the same nodes, alike."""
    return [(s.node, s.service, s.delivery, s.lines) for s in a] == [
        (s.node, s.service, s.delivery, s.lines) for s in b
    ]


@dataclass(slots=True)
class Plans:
    """Each offered tier's plan, and why each other tier is not offered
    (``missing`` for operators, ``unavailable`` in the shopper's words)."""

    by_tier: dict[Tier, Plan]
    missing: dict[Tier, str]
    unavailable: dict[Tier, str] = field(default_factory=dict)

    def refuse(self, tier: Tier, why: WhyNot) -> None:
        """``tier`` is not offered, for this reason."""
        self.missing[tier] = why.operator
        self.unavailable[tier] = why.shopper


@dataclass(frozen=True, slots=True, eq=False)
class _Order:
    """One request priced as a whole, with the nodes that hold its lines."""

    req: CheckoutRequest
    ctx: Context
    quote: TierQuote
    have: NDArray[np.bool_]
    have_all: NDArray[np.bool_]
    kg: float
    units: float
    work: float
    #: Split shipments priced so far, by lines and ship delay: each tier
    #: ranks and plans with them (Platinum, Gold and Silver alike).
    shipments: dict[tuple[tuple[int, ...], int], TierQuote] = field(
        default_factory=dict
    )


class Planner:
    """Decides each tier's node(s) for one request (``docs/checkout.md``)."""

    def __init__(
        self,
        network: Network,
        policy: TierPolicy,
        pricer: OrderPricer,
        monitor: CapacityMonitor,
    ) -> None:
        self.network = network
        self.policy = policy
        self.pricer = pricer
        self.monitor = monitor
        self._nn = np.arange(network.n_nodes)
        #: ``(tiers, services)``: the lanes each tier may ship by
        self._allowed = policy.service_table()

    def plan(self, req: CheckoutRequest, ctx: Context, watch: Stopwatch) -> Plans:
        """Every tier's plan or reason (laps ``pricing`` and ``decide``)."""
        have = ctx.stock >= req.qty[None, :]
        unfillable = [req.skus[i] for i in np.flatnonzero(~have.any(axis=0))]
        plans = Plans({}, {})
        if unfillable:  # lines no node holds in full: nothing to price
            watch.lap("pricing")
            why = f"out of stock: no node holds the quantity of {unfillable}"
            for tier in Tier:
                plans.refuse(tier, out_of_stock(self._label(tier), unfillable, why))
        else:
            kg, units, work = req.totals(req.all_lines)
            q = self._quote(req, kg, units)
            watch.lap("pricing")
            have_all: NDArray[np.bool_] = np.asarray(have.all(axis=1))
            order = _Order(req, ctx, q, have, have_all, kg, units, work)
            for tier in (Tier.PLATINUM, Tier.GOLD, Tier.SILVER):
                self._plan_tier(order, tier, plans, watch)
            self._plan_overflow(order, plans)
            _drop_silver_like_gold(plans, self.policy)
        watch.lap("decide")
        return plans

    def _quote(
        self,
        req: CheckoutRequest,
        kg: float,
        units: float,
        tier: Tier | None = None,
    ) -> TierQuote:
        """``req``'s shipment of ``kg`` and ``units`` priced at every node for
        every tier, shipping when ``tier`` ships (None: at once): the
        overflow tier ``TierPolicy.ship_delay`` ship days after the ship day
        the order would otherwise get at each node. (A day added to the
        order's instant fell, on a Saturday night, a Sunday or a holiday,
        on that very ship day: "ship later" shipped with Gold.)"""
        delay = 0 if tier is None else self.policy.ship_delay(tier)
        return self.pricer.quote(req.ts, req.dest, kg, units, ship_delay=delay)

    def _plan_tier(
        self, order: _Order, tier: Tier, plans: Plans, watch: Stopwatch
    ) -> None:
        if tier is Tier.PLATINUM and not order.ctx.customer.platinum_eligible:
            plans.refuse(tier, self._not_platinum(order.ctx.customer))
            return
        plan: Plan = ()
        why: WhyNot | None = None
        if order.have_all.any():
            plan, why = self._plan_single(order, tier, watch)
        if not plan and len(order.req.skus) > 1:
            plan, split_why = self._plan_split(order, tier, order.quote)
            why = why or split_why
        if plan:
            plans.by_tier[tier] = plan
        else:
            plans.refuse(tier, why or self._no_plan(tier))

    def _no_plan(self, tier: Tier, holding: str = "the items") -> WhyNot:
        why = f"no node holding {holding} offers {tier}'s services"
        return no_service(self._label(tier), why)

    def _unserved(self, tier: Tier, q: TierQuote, holding: str) -> WhyNot:
        """No node holding ``holding`` offers the tier; for Platinum, none
        can make the promised date (its cutoffs and timezones)."""
        if tier is not Tier.PLATINUM:
            return self._no_plan(tier, holding)
        promised = day_to_date(int(q.promised[TIERS.index(tier)]))
        why = (
            f"no node holding {holding} can guarantee delivery by "
            f"{promised.isoformat()} (next-day cutoffs and timezones)"
        )
        return no_guarantee(self._label(tier), promised, why)

    def _label(self, tier: Tier) -> str:
        """The tier's benefit label: its name on the checkout page."""
        return self.policy.rules[tier].label

    def _not_platinum(self, customer: CustomerValue) -> WhyNot:
        thr = customer.platinum_threshold
        label = self._label(Tier.PLATINUM)
        if thr is None:
            why = "no CLTV scores stored: the Platinum threshold is unknown"
            return not_a_member(label, why)
        if customer.predicted_spend <= 0 and thr <= 0:
            return not_a_member(
                label,
                f"predicted spend ${customer.predicted_spend:,.2f}: Platinum is for "
                f"customers predicted to spend (threshold ${thr:,.2f}, "
                f"{percent(self.policy.platinum_percentile)} percentile)",
            )
        spend, threshold = money_apart(customer.predicted_spend, thr)
        return not_a_member(
            label,
            f"predicted spend {spend} is below the Platinum threshold {threshold} "
            f"({percent(self.policy.platinum_percentile)} percentile)",
        )

    def _plan_single(
        self, order: _Order, tier: Tier, watch: Stopwatch
    ) -> tuple[Plan, WhyNot | None]:
        """One-node plan for ``tier``, or () and why not."""
        q, ctx, t = order.quote, order.ctx, TIERS.index(tier)
        svc = q.service[t]
        eligible = (svc >= 0) & order.have_all
        platinum = tier is Tier.PLATINUM
        label = self._label(tier)
        if not eligible.any():
            return (), self._unserved(tier, q, "the items")
        room = ctx.room.hard if platinum else ctx.room.soft
        residual = room[np.maximum(svc, 0), self._nn]
        cost = np.where(eligible, q.shipping[t] + q.handling + q.penalty[t], np.inf)
        with watch.measure("decision"):
            if platinum:  # the fastest of every node that keeps the guarantee
                # and has room, by true cost among equals
                when = q.delivery[t].astype(np.float64)
                fastest = cheapest_feasible_node(when, eligible, order.work, residual)
                cost = np.where(when == when[max(fastest, 0)], cost, np.inf)
            else:
                cost = cost + _bid_charge(ctx, order.work, svc)
            j = cheapest_feasible_node(cost, eligible, order.work, residual)
        if j < 0:
            closure = self._closure_took(tier, svc, eligible, order.work)
            if platinum:
                return (), self._no_platinum_room(q, eligible, closure)
            why = self._no_room(eligible, "it")
            return (), self._shut_or_full(eligible, closure)(label, why)
        lines = order.req.all_lines
        shipment = PlannedShipment.from_quote(q, t, j, lines, order.kg, order.work)
        return (shipment,), None

    def _no_platinum_room(
        self,
        q: TierQuote,
        eligible: NDArray[np.bool_],
        closure: bool,
        holding: str = "the items",
    ) -> WhyNot:
        """Why no node can take a Platinum order it could deliver in time:
        no physical room, or closed (an outage: it said "lacks physical
        room" of a closed node, as Gold did); to the shopper closed when
        ``closure`` (:meth:`_closure_took`), else fully booked."""
        promised = day_to_date(int(q.promised[TIERS.index(Tier.PLATINUM)]))
        nodes = ", ".join(self.network.node_ids[j] for j in np.flatnonzero(eligible))
        cause = self._short_because(eligible, "lacks physical room today")
        return self._shut_or_full(eligible, closure)(
            self._label(Tier.PLATINUM),
            f"every node holding {holding} that can guarantee delivery by "
            f"{promised.isoformat()} ({nodes}) {cause}",
        )

    def _plan_split(
        self,
        order: _Order,
        tier: Tier,
        q: TierQuote,
        *,
        use_room: bool = True,
        only: NDArray[np.bool_] | None = None,
    ) -> tuple[Plan, WhyNot | None]:
        """Several shipments for ``tier`` (greedy cover), or () and why not;
        ``only``: from these nodes alone."""
        req, ctx, t = order.req, order.ctx, TIERS.index(tier)
        # whether a node serves the tier does not hang on the weight (which
        # services a tier allows, their lateness, the services the node and
        # the rate card offer): the whole order's quote says it for every
        # shipment; which of them a shipment takes does
        usable = q.service[t] >= 0
        if only is not None:
            usable = usable & only
        cover = order.have & usable[:, None]
        if not use_room:  # the overflow: from the nodes it may ship from
            # alone (a line only closed nodes held shipped from one, on a
            # date nobody knew the node would keep)
            cover = cover & self._overflow_nodes()[:, None]
        charged = tier is not Tier.PLATINUM and use_room
        delay = self.policy.ship_delay(tier)

        def shipment(lines: tuple[int, ...]) -> TierQuote:
            """The shipment of ``lines`` priced at every node (once an order)."""
            return self._shipment(order, lines, delay)

        room: LaneRoom | None = None
        if use_room:  # each node's room on the lane its shipment ships by
            lanes = ctx.room.hard if tier is Tier.PLATINUM else ctx.room.soft
            room = LaneRoom.of(
                lanes, lambda lines: shipment(lines).service[t], self._allowed[t]
            )

        def rank(lines: tuple[int, ...]) -> NDArray[np.float64]:
            """Per node, what shipping ``lines`` from it costs (+ the bid
            price of their work): ranked by the whole order's, a store
            shipping one Tee of three lines paid the three's handling and
            bid price."""
            qs = shipment(lines)
            ok = usable & (qs.service[t] >= 0)
            cost = np.where(ok, qs.shipping[t] + qs.handling + qs.penalty[t], np.inf)
            if charged:
                cost = cost + _bid_charge(ctx, req.totals(lines)[2], qs.service[t])
            return np.asarray(cost, dtype=np.float64)

        line_work = np.asarray(req.line_work, dtype=np.float64)
        picks, left = greedy_cover(cover, rank, line_work, room)
        if left:
            return (), self._split_refusal(order, tier, q, left)
        ships = []
        for j, lines in picks:
            kg, _, work = req.totals(lines)
            ships.append(
                PlannedShipment.from_quote(shipment(lines), t, j, lines, kg, work)
            )
        return tuple(ships), None

    def _shipment(self, order: _Order, lines: tuple[int, ...], delay: int) -> TierQuote:
        """The shipment of ``lines`` shipping ``delay`` ship days late,
        priced at every node (once an order: every tier reads it)."""
        key = (lines, delay)
        found = order.shipments.get(key)
        if found is None:
            kg, units, _ = order.req.totals(lines)
            found = self.pricer.quote(
                order.req.ts, order.req.dest, kg, units, ship_delay=delay
            )
            order.shipments[key] = found
        return found

    def _split_refusal(
        self, order: _Order, tier: Tier, q: TierQuote, left: list[int]
    ) -> WhyNot:
        """Why the lines ``left`` of a split order have no node: none holding
        them offers the tier (for Platinum: can make the promised date, its
        cutoffs and timezones), or every one that does lacks room; said as
        the one-node plan says it (a Platinum refused after the cutoff was
        "no node with room and platinum's services holds", to the shopper
        "isn't available for these items to this address")."""
        skus = [order.req.skus[i] for i in left]
        serving = serving_nodes(q, tier, order.have[:, left])
        nodes: NDArray[np.bool_] = np.asarray(serving.any(axis=1))
        none_serve = [s for s, k in zip(skus, serving.T, strict=True) if not k.any()]
        if none_serve:
            return self._unserved(tier, q, str(none_serve))
        if tier is Tier.OVERFLOW:
            return self._overflow_down(nodes, str(skus))
        # each line judged on the lane it would ship by alone (its own
        # quote's), as its shipment's room was read: on the whole order's,
        # a Tee refused at a closed WH-WEST read "fully booked" on a full
        # ground lane it does not use, "closed" beside a full two-day one
        t, delay = TIERS.index(tier), self.policy.ship_delay(tier)
        closure = any(
            self._closure_took(
                tier,
                self._shipment(order, (i,), delay).service[t],
                serving[:, k],
                order.req.line_work[i],
            )
            for k, i in enumerate(left)
        )
        if tier is Tier.PLATINUM:
            return self._no_platinum_room(q, nodes, closure, str(skus))
        why = self._no_room(nodes, str(skus), named=True)
        return self._shut_or_full(nodes, closure)(self._label(tier), why)

    def _closure_took(
        self,
        tier: Tier,
        svc: NDArray[np.int_],
        nodes: NDArray[np.bool_],
        work: float,
    ) -> bool:
        """Whether a closure took the last of ``nodes`` (each could ship the
        tier by service ``svc``; none has room for ``work`` today): one of
        them not working (an outage, or no staff) would have room for it
        working. The shopper then reads "temporarily closed" (they may try
        again later), else "fully booked" (a node closed and full alike is
        full): a closed node read "fully booked" and sent operators looking
        for a capacity problem."""
        down = nodes & self.monitor.not_working()
        if not down.any():
            return False
        # Platinum: physical room; the others: room after the forecast
        platinum = tier is Tier.PLATINUM
        room = self.monitor.room(lanes=True, forecast=not platinum, working=True)
        fits = room[np.maximum(svc, 0), self._nn] >= work - TOL
        return bool((down & fits).any())

    def _shut_or_full(
        self, nodes: NDArray[np.bool_], closure: bool
    ) -> Callable[[str, str], WhyNot]:
        """The shopper's words for a tier none of ``nodes`` (each could ship
        it) takes today: temporarily closed when a closure took the last of
        them (``closure``, :meth:`_closure_took`); not available for these
        items when every one has a nominal capacity of 0 (configuration: it
        ships nothing on any day, so neither "fully booked today" nor a
        closure the shopper may wait out); else fully booked."""
        if closure:
            return closed_now
        if not (self.monitor.nominal[nodes] > 0).any():
            return no_service
        return fully_booked

    def _no_room(
        self, nodes: NDArray[np.bool_], what: str, *, named: bool = False
    ) -> str:
        """Why none of ``nodes`` (which could ship ``what``) takes it today:
        no room after the forecast, or closed (an outage: it said "lacks
        room" of a closed node)."""
        cause = self._short_because(nodes, "lacks room after the forecast today")
        if not named:
            return f"every node that could ship {what} {cause}"
        names = ", ".join(self.network.node_ids[j] for j in np.flatnonzero(nodes))
        return f"every node that could ship {what} ({names}) {cause}"

    def _short_because(self, nodes: NDArray[np.bool_], lacks: str) -> str:
        """What keeps ``nodes`` from an order: ``lacks`` (room), a nominal
        capacity of 0 (configuration, whatever else: it said "lacks room"
        of a node that ships nothing on any day), no staff today (staffing
        0: it said "lacks room" of a node with nobody to work), their
        outage; each that applies, ``or``-joined."""
        cause = self.monitor.stop_causes()[nodes]
        zero, closed = cause == "nominal", cause == "outage"
        unstaffed, full = cause == "staffing", cause == ""
        causes = [
            cause
            for cause, some in (
                (lacks, full.any()),
                (NO_CAPACITY, zero.any()),
                ("has no staff today (staffing 0%)", unstaffed.any()),
                ("is closed (outage)", closed.any()),
            )
            if some
        ]
        return " or ".join(causes)

    def _plan_overflow(self, order: _Order, plans: Plans) -> None:
        """Tier 4, when every node that could serve the order is short: every
        node holding it all, or for an order that must split, every node
        holding one of its lines (the line that cannot ship today holds the
        whole order back: a split cart whose one line only a closed or full
        node held was offered nothing). An order whose every whole holder is
        closed, without staff or of nominal capacity 0
        (:meth:`_overflow_nodes`) must split, as for the other tiers: its
        lines' holders are scored and it ships split from open ones (it was
        refused as closed, the open nodes together holding every line, and
        the closed holder's score of 0 called capacity short). Each node is
        scored on the lane the order ships by from it (:func:`_today_lanes`),
        the room Gold's placement reads; for a split, for each line's own
        work on the lane the line ships by (:meth:`_line_scores`)."""
        req, have_all = order.req, order.have_all
        whole = have_all & self._overflow_nodes()
        if whole.any():
            scores = self.monitor.lane_score_map(order.work, _today_lanes(order.quote))
            best = float(scores[have_all].max())
            of = ""
        else:  # per line, its holders' best; the order waits for its worst line
            held = np.where(order.have, self._line_scores(order), -np.inf)
            best = float(held.max(axis=0).min())
            of = " for every line"
        thr = self.policy.overflow_score_threshold
        label = self._label(Tier.OVERFLOW)
        if best >= thr:
            short = (
                f"capacity is not short: best capacity score{of} {best:.2f} "
                f">= {thr:.2f}"
            )
            plans.refuse(Tier.OVERFLOW, not_busy(label, short))
            return
        qo = self._quote(req, order.kg, order.units, Tier.OVERFLOW)
        # "ship later": later than every other plan, not only than the day
        # its own node would ship (a node before its cutoff shipped it, a
        # ship day later, on the day Gold shipped from a node past its own)
        last = max((s.ship for p in plans.by_tier.values() for s in p), default=None)
        plan: Plan = ()
        why: WhyNot | None = None
        if have_all.any():
            plan, why = self._overflow_single(order, qo, last)
        if not plan and not whole.any():
            # no open node holds it all: split, as the other tiers do (the
            # whole holders' closure said first, as theirs is)
            plan, split_why = self._overflow_split(order, qo, last)
            why = why or split_why
        if plan:
            plans.by_tier[Tier.OVERFLOW] = plan
        else:
            plans.refuse(Tier.OVERFLOW, why or self._no_plan(Tier.OVERFLOW))

    def _line_scores(self, order: _Order) -> NDArray[np.float64]:
        """``(nodes, lines)``: each node's score for each line's own work on
        the lane the line alone ships by from it (its own quote's: a Tee
        beside a sofa goes two-day where the pair goes ground), the room a
        split's shipment of it takes. Scored for the whole order's work, a
        store with room for its one line was called capacity short; on the
        whole order's lane, a line was scored on a congested lane it does
        not use."""
        return np.column_stack(
            [
                self.monitor.lane_score_map(
                    work, _today_lanes(self._shipment(order, (i,), 0))
                )
                for i, work in enumerate(order.req.line_work)
            ]
        )

    def _overflow_single(
        self, order: _Order, qo: TierQuote, last: int | None
    ) -> tuple[Plan, WhyNot | None]:
        """The overflow plan from the cheapest node holding the whole order
        that may ship it (:meth:`_overflow_nodes`) after ``last``, or why
        not."""
        serving = (qo.service[_OVER] >= 0) & order.have_all
        if not serving.any():
            label = self._label(Tier.OVERFLOW)
            why = "no node holding the items offers its services"
            return (), no_service(label, why)
        ships = serving & self._overflow_nodes()
        if not ships.any():
            return (), self._overflow_down(serving, "it")
        if last is not None:
            ships = ships & (qo.ship > last)
            if not ships.any():
                return (), self._not_later(last)
        j = int(np.argmin(np.where(ships, qo.cost[_OVER], np.inf)))
        lines = order.req.all_lines
        ship = PlannedShipment.from_quote(qo, _OVER, j, lines, order.kg, order.work)
        return (ship,), None

    def _overflow_nodes(self) -> NDArray[np.bool_]:
        """The nodes the overflow may ship from: working today (open and
        staffed) and of some nominal capacity. It promises a date days
        ahead, and an outage carries no end time, nor a day without staff
        a return: nobody knows a closed node will keep it (it was offered
        from a closed node when every holder was closed). A nominal
        capacity of 0 is configuration, not a closure: the node ships
        nothing, on any day (:meth:`CapacityMonitor.shipping_nodes`, the
        nodes the allocator dates a waiting order from)."""
        return self.monitor.shipping_nodes()

    def _overflow_down(self, nodes: NDArray[np.bool_], what: str) -> WhyNot:
        """Overflow refused: none of ``nodes`` (each holds ``what`` and offers
        its services) may ship it (:meth:`_overflow_nodes`). Each cause
        named as for the other tiers; to the shopper closed when one of them
        is closed or has no staff and has a capacity (it may ship when it
        reopens), else not available for these items (a nominal capacity of
        0 alone: it read "fully booked today", as if tomorrow had room)."""
        names = ", ".join(self.network.node_ids[j] for j in np.flatnonzero(nodes))
        cause = self._short_because(nodes, NO_CAPACITY)
        why = f"every node that could ship {what} ({names}) {cause}"
        down = nodes & self.monitor.not_working() & (self.monitor.nominal > 0)
        label = self._label(Tier.OVERFLOW)
        return (closed_now if down.any() else no_service)(label, why)

    def _overflow_split(
        self, order: _Order, qo: TierQuote, last: int | None
    ) -> tuple[Plan, WhyNot | None]:
        """The overflow plan of an order that must split, its last shipment
        after ``last`` (from the nodes that ship after it, when the cover
        found first does not), or why not."""
        plan, why = self._plan_split(order, Tier.OVERFLOW, qo, use_room=False)
        if not plan or last is None or max(s.ship for s in plan) > last:
            return plan, why
        later = np.asarray(qo.ship > last)
        plan, _ = self._plan_split(order, Tier.OVERFLOW, qo, use_room=False, only=later)
        return plan, None if plan else self._not_later(last)

    def _not_later(self, last: int) -> WhyNot:
        """Overflow refused: no node holding the order would ship it after
        the last ship day of the other plans (``last``)."""
        return ships_no_later(
            self._label(Tier.OVERFLOW),
            "no node holding the items would ship later than the other "
            f"options (the last of them ships on {day_to_date(last).isoformat()})",
        )


#: Per node, the rank of shipping these lines from it (lower first).
Rank = Callable[[tuple[int, ...]], NDArray[np.float64]]


@dataclass(frozen=True, slots=True, eq=False)
class LaneRoom:
    """Each node's room for a shipment, on the lane the shipment ships by
    there: the service its own quote chooses, which may not be the whole
    order's (lighter lines can go by another service, whose lane may be
    fuller or emptier; read on the whole order's lane, a Tee was refused
    on a congested lane it did not use, or offered on a full one).

    Attributes
    ----------
    by_lane
        ``(services, nodes)``: the live room per lane.
    lane
        Per node, the service a shipment of these lines ships by (-1: none).
    floor
        Per node, the least room of the lanes the tier may ship by: lines
        that fit it fit their own lane, found without pricing them.
    """

    by_lane: NDArray[np.float64]
    lane: Callable[[tuple[int, ...]], NDArray[np.int8]]
    floor: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        by_lane: NDArray[np.float64],
        lane: Callable[[tuple[int, ...]], NDArray[np.int8]],
        allowed: NDArray[np.bool_],
    ) -> LaneRoom:
        """The room of ``by_lane`` for shipments on the lanes ``allowed``
        (per service) and each one's own (``lane``)."""
        floor = np.where(allowed[:, None], by_lane, np.inf).min(axis=0)
        return cls(by_lane, lane, np.asarray(floor, dtype=np.float64))

    def fit(
        self, node: int, lines: NDArray[np.intp], work: NDArray[np.float64]
    ) -> tuple[int, ...]:
        """Of ``lines``, those a shipment from ``node`` takes: first fit in
        line order in the room of its own lane, the lane of the lines it
        takes (fewer lines may ship by another service): refitted on that
        lane until the two agree (at most once per room); else the most
        lines that fit their own lane."""
        taken = tuple(int(i) for i in lines)
        fitting: list[tuple[int, ...]] = []
        seen: set[tuple[int, ...]] = set()
        while taken and taken not in seen:
            seen.add(taken)
            room = float(self.by_lane[max(int(self.lane(taken)[node]), 0), node])
            again = _first_fit(lines, work, room)
            if again == taken:
                return taken
            if _first_fit(np.asarray(taken), work, room) == taken:
                fitting.append(taken)
            taken = again
        return max(fitting, key=len, default=())


def greedy_cover(
    cover: NDArray[np.bool_],
    rank: NDArray[np.float64] | Rank,
    work: NDArray[np.float64] | None = None,
    room: NDArray[np.float64] | LaneRoom | None = None,
) -> tuple[list[tuple[int, tuple[int, ...]]], list[int]]:
    """Nodes chosen to cover every line: most lines first, then lowest rank.

    ``cover[node, line]`` says the node can ship the line. ``rank`` is per
    node, or a :data:`Rank` of the lines each node would take then (its own
    shipment's cost, not the whole order's). With ``work`` (per line) and
    ``room`` (per node, or a :class:`LaneRoom`: on the lane of each
    shipment's own), a node takes, of the lines it can ship, those that
    fit its room in line order (each shipment uses its own lines' work, not
    the whole order's), and ships once. Returns the picks ``(node, lines)``
    and the lines no node covers (empty when all are).
    """
    cover = cover.copy()
    uncovered = np.ones(cover.shape[1], dtype=bool)
    picks: list[tuple[int, tuple[int, ...]]] = []
    while uncovered.any():
        takes = cover & uncovered[None, :]
        if work is not None and room is not None:
            takes = _fitting(takes, work, room)
        gain = takes.sum(axis=1)
        best = int(gain.max())
        if best == 0:
            return picks, [int(i) for i in np.flatnonzero(uncovered)]
        cand = np.flatnonzero(gain == best)
        j = _lowest(cand, takes, rank)
        lines = tuple(int(i) for i in np.flatnonzero(takes[j]))
        uncovered[list(lines)] = False
        cover[j] = False  # one shipment per node: its room is spoken for
        picks.append((j, lines))
    return picks, []


def _lowest(
    cand: NDArray[np.intp], takes: NDArray[np.bool_], rank: NDArray[np.float64] | Rank
) -> int:
    """The candidate of lowest rank (the first of equals), each ranked for
    the lines it would take (one :data:`Rank` call per set of lines; none
    for a lone candidate)."""
    if not callable(rank):
        return int(cand[np.argmin(rank[cand])])
    if cand.size == 1:
        return int(cand[0])
    rows = takes[cand]
    alike: dict[bytes, list[int]] = {}
    for k, row in enumerate(rows):
        alike.setdefault(row.tobytes(), []).append(k)
    of = np.empty(cand.size)
    for ks in alike.values():
        lines = tuple(int(i) for i in np.flatnonzero(rows[ks[0]]))
        of[ks] = rank(lines)[cand[ks]]
    return int(cand[np.argmin(of)])


def _fitting(
    takes: NDArray[np.bool_],
    work: NDArray[np.float64],
    room: NDArray[np.float64] | LaneRoom,
) -> NDArray[np.bool_]:
    """Of the lines each node could take, those that fit its room, first
    fit in line order (a :class:`LaneRoom`: on the shipment's own lane;
    all of them, unpriced, where their total fits the tightest lane the
    tier may use, as first fit takes every line whose total fits)."""
    if isinstance(room, LaneRoom):
        out = takes & (takes @ work <= room.floor + TOL)[:, None]
        for j in np.flatnonzero(takes.any(axis=1) & ~out.any(axis=1)):
            out[j, list(room.fit(int(j), np.flatnonzero(takes[j]), work))] = True
        return out
    out = np.zeros_like(takes)
    for j in np.flatnonzero(takes.any(axis=1)):
        out[j, list(_first_fit(np.flatnonzero(takes[j]), work, float(room[j])))] = True
    return out


def _first_fit(
    lines: NDArray[np.intp], work: NDArray[np.float64], room: float
) -> tuple[int, ...]:
    """Of ``lines``, those that fit ``room`` first fit in line order."""
    left, fits = room, []
    for i in lines:
        if work[i] <= left + TOL:
            fits.append(int(i))
            left -= float(work[i])
    return tuple(fits)


def _drop_silver_like_gold(plans: Plans, policy: TierPolicy) -> None:
    gold = plans.by_tier.get(Tier.GOLD)
    silver = plans.by_tier.get(Tier.SILVER)
    if gold and silver and same_plan(gold, silver):
        del plans.by_tier[Tier.SILVER]
        why = same_as(
            policy.rules[Tier.SILVER].label,
            policy.rules[Tier.GOLD].label,
            "the cheapest plan is the same as Gold's",
        )
        plans.refuse(Tier.SILVER, why)
