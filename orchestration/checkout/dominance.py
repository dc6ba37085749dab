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
    ``option`` brings (equal options dominate each other)."""
    return (
        better.delivery_date <= option.delivery_date
        and better.price <= option.price + _CENT
        and benefits(option, eco_weighted=eco_weighted)
        <= benefits(better, eco_weighted=eco_weighted)
    )


def drop_dominated(
    options: Sequence[FulfillmentOption], *, eco_weighted: bool
) -> tuple[list[FulfillmentOption], dict[Tier, str]]:
    """The options no other offered option dominates, and why each other one
    is not shown.

    ``options`` come best first: of two options that dominate each other
    (same date, price and benefits) the first is kept. Dominance is
    transitive, so every dropped option is dominated by a kept one, which
    the reason names.
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
    return beaten_by(
        option.label,
        by.label,
        earlier=earlier,
        cheaper=cheaper,
        operator=f"dominated by {by.tier}: {when}, {cost}",
    )
