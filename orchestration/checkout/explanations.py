"""The prose a shopper reads: why an option ships from where it does.

:class:`Explainer` describes each shipment (node, distance, zone, dates),
why the tier's node was chosen, the overflow discount's arithmetic and how
Platinum was priced (an upgrade on us, or why not).
The tiers' labels live with the tiers (:class:`~tierflow.formulations.tiers.TierRule`).
"""

from __future__ import annotations

from tierflow.data.network import NODE_KINDS, Network
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import Tier
from tierflow.formulations.online_pricing import day_to_date
from tierflow.formulations.tiers import (
    PricedBecause,
    Pricing,
    TierPolicy,
    UpgradeQuote,
)
from tierflow.orchestration.checkout.planner import Plan

#: Why each tier's node was chosen.
_HOW = {
    Tier.PLATINUM: "the fastest node with stock and room that guarantees "
    "next-day, by true cost (bid prices ignored)",
    Tier.GOLD: "the lowest cost + lateness + bid-price charge among nodes with "
    "stock and room",
    Tier.SILVER: "the cheapest with Silver's slower services among nodes with "
    "stock and room",
    Tier.OVERFLOW: "capacity is short today: ships later, from the cheapest node "
    "holding the items",
}


#: A shipment's delivery days counted from the customer's own date at
#: ordering (its calendar): 0 is that date (a 0-day service; it read "next
#: day", and so did a 1-day one from a node a day behind, delivering on the
#: order's date, until the forty-seventh session).
_ARRIVES = {0: "same day", 1: "next day"}


class Explainer:
    """Writes an option's explanation."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._node_text = [
            f"{node} ({NODE_KINDS[int(kind)]}, cutoff {int(cut) // 60:02d}:"
            f"{int(cut) % 60:02d} {network.timezones[int(tz)]}),"
            for node, kind, cut, tz in zip(
                network.node_ids,
                network.node_kind,
                network.cutoff_minutes,
                network.node_tz,
                strict=True,
            )
        ]

    def option(self, tier: Tier, ships: Plan, dest: int, bid_source: str) -> str:
        """Each shipment, then why this node, then which bid prices."""
        net = self.network
        parts = []
        for s in ships:
            j = s.node
            arrive = _ARRIVES.get(s.days, f"{s.days} delivery days")
            miles = float(net.distance_mi[j, dest])
            parts.append(
                f"{self._node_text[j]} {miles:.0f} mi, zone "
                f"{int(net.zone[j, dest])}: ships {day_to_date(s.ship)} by "
                f"{SERVICES[s.service]}, arrives {day_to_date(s.delivery)} ({arrive})"
            )
        split = (
            f"; {len(ships)} shipments (no node holds every item)"
            if len(ships) > 1
            else ""
        )
        return f"{'; '.join(parts)} — {_HOW[tier]}{split}; bid prices: {bid_source}"

    @staticmethod
    def discount(
        discount: float,
        cap: float,
        freed: float,
        where: str | None,
        least: float = 0.0,
        price: float | None = None,
    ) -> str:
        """How an overflow discount was bounded (appended to the explanation);
        ``where`` names the nodes whose capacity it frees today (None: no Gold
        or Silver plan ships it today, so it frees none); ``price`` is the
        price it was taken from."""
        value = (
            f"value of the capacity freed today ${freed:.2f} (neither Gold nor "
            "Silver ships it today)"
            if where is None
            else f"value of the capacity freed today at {where} ${freed:.2f}"
        )
        if least > freed:
            value = f"max({value}, least ${least:.2f})"
        bound = "price" if price is None else f"price ${price:.2f}"
        return f"; discount ${discount:.2f} = min(cap ${cap:.2f}, {value}, {bound})"

    @staticmethod
    def priced_from(tier: Tier, price: float, own: float, discount: float) -> str:
        """An overflow priced from a cheaper option's price than its own
        (appended to the explanation after :meth:`discount`)."""
        return (
            f"; priced from {tier}'s ${price:.2f} (its own ${own:.2f}): "
            f"${price:.2f} - ${discount:.2f} = ${round(price - discount, 2):.2f}"
        )

    @staticmethod
    def upgrade(quote: UpgradeQuote, left: float | None, policy: TierPolicy) -> str:
        """How Platinum was priced (appended to its explanation)."""
        if quote.pricing is Pricing.UPGRADE:
            premium = policy.platinum_premium
            plus = f" + ${premium:.2f}" if premium > 0 else ""
            covered = (
                f"; we cover the extra ${quote.upgrade_cost:.2f} of guaranteed "
                "next-day shipping"
                if quote.upgrade_cost >= 0.005
                else ""
            )
            return (
                f"; Platinum upgrade: you pay ${quote.price:.2f}, no more than "
                f"Gold's price{plus}{covered}"
            )
        if quote.because is PricedBecause.ALLOWANCE:
            why = (
                f"your upgrades on us for this {policy.upgrade_period_days}-day "
                f"period are used up (${left or 0.0:.2f} left, this one would "
                f"need ${quote.needed:.2f})"
            )
        elif quote.because is PricedBecause.NO_GOLD:
            why = "there is no standard offer to upgrade from"
        else:
            why = "upgrades on us need your customer value, unknown right now"
        return f"; priced at the next-day shipping rate: {why}"
