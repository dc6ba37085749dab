"""From plans to the shopper's options: money, labels, scores, order.

:class:`OptionBuilder` turns each tier's plan into a
:class:`~tierflow.orchestration.checkout.results.FulfillmentOption` (cost,
price by the tier policy's pricing — Platinum as an upgrade within the
customer's allowance —, overflow discount, label from the tier's rule,
satisfaction score, explanation), orders them best first and leaves out the
dominated ones, into the
:class:`~tierflow.orchestration.checkout.results.OptionSet`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import TIERS, Tier
from tierflow.formulations.online_pricing import day_to_date
from tierflow.formulations.satisfaction import SatisfactionWeights, satisfaction_weights
from tierflow.formulations.tiers import Pricing, TierPolicy
from tierflow.orchestration.checkout.dominance import dominators
from tierflow.orchestration.checkout.explanations import Explainer
from tierflow.orchestration.checkout.live_context import Context
from tierflow.orchestration.checkout.planner import Plan, Plans
from tierflow.orchestration.checkout.request import CheckoutRequest
from tierflow.orchestration.checkout.results import (
    CartLine,
    FulfillmentOption,
    OptionSet,
    Shipment,
)


@dataclass(frozen=True, slots=True)
class _Money:
    """What an option costs us and charges the customer (before rounding).

    ``base_price`` is the price before the overflow's ``discount``: the
    tier's markup price (the overflow's: at most the cheapest other shown
    option's price, :meth:`OptionBuilder._overflow`).
    """

    cost: float
    base_price: float
    discount: float
    capacity_cost: float
    why: str
    pricing: Pricing = Pricing.STANDARD
    upgrade_cost: float = 0.0
    standard_price: float | None = None

    @property
    def price(self) -> float:
        """What the customer pays, to the cent."""
        return round(self.base_price - self.discount, 2)


class OptionBuilder:
    """Builds the option set of one answer from its plans."""

    def __init__(self, network: Network, policy: TierPolicy) -> None:
        self.network = network
        self.policy = policy
        self.explainer = Explainer(network)

    def build(
        self,
        req: CheckoutRequest,
        ctx: Context,
        plans: Plans,
        request_id: str,
        revision: int,
    ) -> OptionSet:
        """The answer: options best first, the reasons for the missing tiers."""
        customer = ctx.customer
        thr = customer.platinum_threshold
        value = 0.0 if not thr else customer.predicted_spend / thr
        weights = satisfaction_weights(self.policy, req.preferences, value)
        emissions = {
            tier: self._kg_mi(ships, req.dest) for tier, ships in plans.by_tier.items()
        }
        money = {tier: self._money(ctx, tier, plans.by_tier) for tier in plans.by_tier}
        if Tier.PLATINUM in money:
            money[Tier.PLATINUM] = self._platinum(ctx, money)
        options = [
            self._option(req, ctx, tier, ships, money[tier], emissions, weights)
            for tier, ships in plans.by_tier.items()
            if tier is not Tier.OVERFLOW
        ]
        options.sort(key=lambda o: (-o.satisfaction_score, TIERS.index(o.tier)))
        if Tier.OVERFLOW in money:
            # priced against the others as the shopper would see them
            shown, _ = dominators(options, eco_weighted=weights.eco > 0)
            over = self._overflow(ctx, plans.by_tier, money[Tier.OVERFLOW], shown)
            ships = plans.by_tier[Tier.OVERFLOW]
            options.append(
                self._option(req, ctx, Tier.OVERFLOW, ships, over, emissions, weights)
            )
            options.sort(key=lambda o: (-o.satisfaction_score, TIERS.index(o.tier)))
        options, dominated = dominators(options, eco_weighted=weights.eco > 0)
        missing = {**plans.missing, **{t: w.operator for t, w in dominated.items()}}
        words = {**plans.unavailable, **{t: w.shopper for t, w in dominated.items()}}
        return OptionSet(
            request_id=request_id,
            revision=revision,
            customer=customer,
            dest=req.zip3,
            items=tuple(
                CartLine(s, q) for s, q in zip(req.skus, req.qty.tolist(), strict=True)
            ),
            created_at=req.now,
            options=tuple(options),
            missing={t: missing[t] for t in Tier if t in missing},
            unavailable={t: words[t] for t in Tier if t in words},
            bid_prices=ctx.bid_source,
            capacity_as_of=ctx.capacity_as_of,
            degraded=ctx.notes.degraded,
            notes=tuple(dict.fromkeys(ctx.notes.notes)),
        )

    def _kg_mi(self, ships: Plan, dest: int) -> float:
        """Billed kg × great-circle miles of a plan (an emissions proxy)."""
        return sum(s.kg * float(self.network.distance_mi[s.node, dest]) for s in ships)

    def _option(
        self,
        req: CheckoutRequest,
        ctx: Context,
        tier: Tier,
        ships: Plan,
        money: _Money,
        emissions: Mapping[Tier, float],
        weights: SatisfactionWeights,
    ) -> FulfillmentOption:
        rule = self.policy.rule(tier)
        last = max(ships, key=lambda s: (s.delivery, s.service))
        reference = emissions.get(Tier.GOLD, emissions.get(Tier.PLATINUM))
        eco = rule.compares_eco and self.policy.is_eco(emissions[tier], reference)
        explanation = self.explainer.option(tier, ships, req.dest, ctx.bid_source)
        return FulfillmentOption(
            option_id=tier.value,
            tier=tier,
            label=rule.benefit(eco=eco, discount=money.discount),
            nodes=tuple(dict.fromkeys(self.network.node_ids[s.node] for s in ships)),
            service=SERVICES[last.service],
            ship_date=day_to_date(max(s.ship for s in ships)),
            delivery_date=day_to_date(last.delivery),
            guaranteed=rule.guaranteed,
            price=money.price,
            cost=money.cost,
            discount=money.discount,
            capacity_cost=money.capacity_cost,
            satisfaction_score=weights.score(
                last.days, money.price, emissions[tier], self.policy
            ),
            eco=eco,
            emissions_kg_mi=emissions[tier],
            explanation=explanation + money.why,
            shipments=self._shipments(req, ships),
            pricing=money.pricing,
            upgrade_cost=money.upgrade_cost,
            standard_price=money.standard_price,
        )

    def _platinum(self, ctx: Context, money: Mapping[Tier, _Money]) -> _Money:
        """Platinum's money under the pricing policy: an upgrade measured
        against Gold within the customer's allowance, else priced."""
        plat, gold = money[Tier.PLATINUM], money.get(Tier.GOLD)
        left = ctx.customer.upgrade_allowance
        quote = self.policy.price_platinum(
            priced=plat.price,
            cost=plat.cost,
            gold=None if gold is None else (gold.price, gold.cost),
            allowance_left=left,
        )
        return dataclasses.replace(
            plat,
            base_price=quote.price,
            why=self.explainer.upgrade(quote, left, self.policy),
            pricing=quote.pricing,
            upgrade_cost=round(quote.upgrade_cost, 2),
            standard_price=quote.standard_price,
        )

    def _money(self, ctx: Context, tier: Tier, plans: Mapping[Tier, Plan]) -> _Money:
        """Cost (+ split costs) and the price by the tier's markup (the
        overflow's discount comes later, :meth:`_overflow`)."""
        policy = self.policy
        ships = plans[tier]
        shipping = sum(s.shipping for s in ships)
        cost = sum(s.shipping + s.handling + s.penalty for s in ships) + (
            policy.split_shipment_cost * (len(ships) - 1)
        )
        base_price = round(float(policy.price_markup[tier]) * shipping, 2)
        capacity_cost = (  # the overflow's capacity is freed, not used, today
            0.0 if tier is Tier.OVERFLOW else _capacity_cost(ctx, ships)
        )
        return _Money(cost, base_price, 0.0, capacity_cost, "")

    def _overflow(
        self,
        ctx: Context,
        plans: Mapping[Tier, Plan],
        own: _Money,
        shown: Sequence[FulfillmentOption],
    ) -> _Money:
        """The overflow's money: its own price, or the cheapest ``shown``
        other option's price (the price the shopper sees, Platinum's upgrade
        pricing included) when that is lower, less the discount for waiting
        — the value of the capacity it frees today, at least the policy's
        least discount (the tier is planned only when capacity is short, and
        a discount of $0 hid it as dominated by Silver while the day's
        forecast still fitted: zero bid prices), at most the cap and the
        price it is taken from.

        "Save $x" is then true against every option shown: priced from its
        own node's price alone it was shown at Gold's price or above (Gold
        $10.00, "Ship later, save $1.00" $10.00), and kept, as its discount
        counts as a benefit.
        """
        policy = self.policy
        reference, cheaper = own.base_price, None
        for option in shown:
            if option.price < reference:
                reference, cheaper = option.price, option
        # the capacity it frees today: what Gold (else Silver) would have
        # used; with neither (no room today), nothing: it was valued at the
        # overflow's own node, whose capacity it uses tomorrow, so the
        # busiest days gave up to the cap off every order that could only wait
        today = plans.get(Tier.GOLD) or plans.get(Tier.SILVER)
        freed = 0.0 if today is None else _capacity_cost(ctx, today)
        where = (
            None
            if today is None
            else ", ".join(self.network.node_ids[s.node] for s in today)
        )
        cap, least = policy.overflow_discount_cap, policy.overflow_min_discount
        discount = _money_floor(min(cap, max(freed, least), reference))
        why = self.explainer.discount(discount, cap, freed, where, least, reference)
        if cheaper is not None:
            why += self.explainer.priced_from(
                cheaper.tier, reference, own.base_price, discount
            )
        return dataclasses.replace(
            own, base_price=reference, discount=discount, why=why
        )

    def _shipments(self, req: CheckoutRequest, ships: Plan) -> tuple[Shipment, ...]:
        net = self.network
        return tuple(
            Shipment(
                node_id=net.node_ids[s.node],
                lines=tuple(CartLine(req.skus[i], int(req.qty[i])) for i in s.lines),
                service=SERVICES[s.service],
                ship_date=day_to_date(s.ship),
                delivery_date=day_to_date(s.delivery),
                cost=s.shipping + s.handling + s.penalty,
                distance_mi=float(net.distance_mi[s.node, req.dest]),
            )
            for s in ships
        )


def _capacity_cost(ctx: Context, ships: Plan) -> float:
    """Bid price x the node capacity each shipment takes (its work times its
    lane's congestion, as the batches charge it): the price is per unit of
    node capacity, and an order by a lane at x2 uses twice its work of it."""
    return sum(
        float(ctx.bid[s.node]) * s.capacity_taken(ctx.room.congestion) for s in ships
    )


def _money_floor(value: float) -> float:
    """Down to the cent (never below 0)."""
    return math.floor(max(value, 0.0) * 100.0 + 1e-9) / 100.0
