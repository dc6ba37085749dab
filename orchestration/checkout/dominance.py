"""No dominated option on the page: an option another offered option beats
on date and price without losing a benefit is not shown (``docs/checkout.md``,
"No dominated options")."""

from __future__ import annotations

from collections.abc import Sequence

from tierflow.data.vocabulary import Tier
from tierflow.orchestration.checkout.results import FulfillmentOption
from tierflow.orchestration.checkout.shopper_words import WhyNot, beaten_by

_CENT = 0.005


def benefits(option: FulfillmentOption, *, eco_weighted: bool) -> frozenset[str]:
    """What an option brings besides its date and price: a guarantee, an eco
    label (when the customer weighs eco), a discount for waiting."""
    out = set()
    if option.guaranteed:
        out.add("guarantee")
    if option.eco and eco_weighted:
        out.add("eco")
    if option.discount > 0:
        out.add("discount")
    return frozenset(out)


def dominates(
    better: FulfillmentOption, option: FulfillmentOption, *, eco_weighted: bool
) -> bool:
    """``better`` arrives no later, costs no more and brings every benefit
    ``option`` brings (equal options dominate each other). An eco label is
    no benefit over an option that moves no more kg·mi (:func:`_greener`):
    "Eco-friendly" was shown beside a "Ship later" that arrived sooner, for
    less, moving a fifth of its kg·mi (the overflow tier is not labelled
    eco)."""
    if better.delivery_date > option.delivery_date:
        return False
    if better.price > option.price + _CENT:
        return False
    lacks = benefits(option, eco_weighted=eco_weighted) - benefits(
        better, eco_weighted=eco_weighted
    )
    if _greener(better, option):
        lacks -= {"eco"}
    return not lacks


def _greener(better: FulfillmentOption, option: FulfillmentOption) -> bool:
    """Whether ``better``, unlabelled, moves no more kg·mi than the
    eco-labelled ``option``: the label's benefit is then ``better``'s too."""
    return (
        option.eco
        and not better.eco
        and better.emissions_kg_mi <= option.emissions_kg_mi
    )


def drop_dominated(
    options: Sequence[FulfillmentOption], *, eco_weighted: bool
) -> tuple[list[FulfillmentOption], dict[Tier, str]]:
    """The options no other offered option dominates, and why each other one
    is not shown.

    ``options`` come best first: of two options that dominate each other
    (same date, price and benefits) the first is kept. The reason names a
    kept option that dominates the dropped one: with the default tiers one
    always does (Platinum and a discounted overflow are never dominated,
    and only Silver is labelled eco, which Gold never moves less than).
    """
    kept, beaten = dominators(options, eco_weighted=eco_weighted)
    return kept, {tier: why.operator for tier, why in beaten.items()}


def dominators(
    options: Sequence[FulfillmentOption], *, eco_weighted: bool
) -> tuple[list[FulfillmentOption], dict[Tier, WhyNot]]:
    """:func:`drop_dominated` with each dropped tier's reason in both words
    (the operator's and the shopper's)."""
    kept: list[FulfillmentOption] = []
    beaten: dict[int, list[FulfillmentOption]] = {}
    for k, option in enumerate(options):
        by = [
            other
            for i, other in enumerate(options)
            if i != k
            and dominates(other, option, eco_weighted=eco_weighted)
            and (i < k or not dominates(option, other, eco_weighted=eco_weighted))
        ]
        if by:
            beaten[k] = by
        else:
            kept.append(option)
    kept_ids = {id(o) for o in kept}
    return kept, {
        options[k].tier: _why(
            options[k], next((o for o in by if id(o) in kept_ids), by[0])
        )
        for k, by in beaten.items()
    }


def _why(option: FulfillmentOption, by: FulfillmentOption) -> WhyNot:
    """``dominated by gold: same date, lower price ($8.90 vs $45.74)``, and
    ``Guaranteed next-day isn't shown: “Standard shipping” arrives the same
    day for less.``"""
    earlier = by.delivery_date != option.delivery_date
    if earlier:
        when = f"earlier date ({by.delivery_date} vs {option.delivery_date})"
    else:
        when = "same date"
    cheaper = abs(by.price - option.price) >= _CENT
    if cheaper:
        cost = f"lower price (${by.price:.2f} vs ${option.price:.2f})"
    else:
        cost = "same price"
    greener = _greener(by, option)
    if greener:
        cost += (
            f", no more kg·mi ({by.emissions_kg_mi:,.0f} vs "
            f"{option.emissions_kg_mi:,.0f})"
        )
    return beaten_by(
        option.label,
        by.label,
        earlier=earlier,
        cheaper=cheaper,
        greener=greener,
        operator=f"dominated by {by.tier}: {when}, {cost}",
    )
