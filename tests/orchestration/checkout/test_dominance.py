"""No dominated option: the rule on hand-made options (the answers' property
test is in ``test_offers``)."""

from __future__ import annotations

import datetime as dt

import pytest

from tierflow.data.vocabulary import Tier
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.dominance import (
    dominates,
    dominators,
    drop_dominated,
)
from tierflow.orchestration.checkout.results import FulfillmentOption

_MONDAY = dt.date(2026, 1, 5)


def _option(
    tier: Tier,
    days: int,
    price: float,
    *,
    eco: bool = False,
    discount: float = 0.0,
    kg_mi: float = 100.0,
) -> FulfillmentOption:
    rule = TierPolicy().rule(tier)
    return FulfillmentOption(
        option_id=tier.value,
        tier=tier,
        label=rule.label,
        nodes=("WH-EAST",),
        service="ground",
        ship_date=_MONDAY,
        delivery_date=_MONDAY + dt.timedelta(days=days),
        guaranteed=rule.guaranteed,
        price=price,
        cost=price,
        discount=discount,
        capacity_cost=0.0,
        satisfaction_score=0.5,
        eco=eco,
        emissions_kg_mi=kg_mi,
        explanation="",
        shipments=(),
    )


def test_later_and_dearer_is_dominated() -> None:
    gold = _option(Tier.GOLD, 1, 8.90)
    silver = _option(Tier.SILVER, 2, 11.02)
    kept, why = drop_dominated([gold, silver], eco_weighted=True)
    assert kept == [gold]
    assert why == {
        Tier.SILVER: "dominated by gold: earlier date (2026-01-06 vs 2026-01-07), "
        "lower price ($8.90 vs $11.02)"
    }


def test_a_guarantee_is_a_benefit() -> None:
    """Priced Platinum on Gold's date at a higher price stays: it is guaranteed."""
    plat = _option(Tier.PLATINUM, 1, 45.74)
    gold = _option(Tier.GOLD, 1, 8.90)
    kept, why = drop_dominated([gold, plat], eco_weighted=True)
    assert kept == [gold, plat] and why == {}
    # a free upgrade (Gold's price, same date) makes Gold pointless
    free = _option(Tier.PLATINUM, 1, 8.90)
    kept, why = drop_dominated([free, gold], eco_weighted=True)
    assert kept == [free]
    assert why == {Tier.GOLD: "dominated by platinum: same date, same price"}


@pytest.mark.parametrize(("weighted", "shown"), [(True, 2), (False, 1)])
def test_eco_counts_when_the_customer_weighs_it(weighted: bool, shown: int) -> None:
    gold = _option(Tier.GOLD, 1, 8.90)
    eco = _option(Tier.SILVER, 3, 9.50, eco=True, kg_mi=80.0)
    kept, _ = drop_dominated([gold, eco], eco_weighted=weighted)
    assert len(kept) == shown


def test_an_eco_label_is_no_benefit_over_an_option_that_moves_less() -> None:
    """Silver "Eco-friendly" (2,938 kg·mi) was shown beside a "Ship later"
    that arrived sooner, for less, moving 524 kg·mi: the overflow tier
    carries no eco label, so the label counted as a benefit it lacked. It is
    one only over an option that moves more."""
    later = _option(Tier.OVERFLOW, 4, 7.72, discount=1.0, kg_mi=524.0)
    eco = _option(Tier.SILVER, 6, 12.32, eco=True, kg_mi=2938.0)
    kept, why = drop_dominated([later, eco], eco_weighted=True)
    assert kept == [later]
    assert why == {
        Tier.SILVER: "dominated by overflow: earlier date (2026-01-09 vs "
        "2026-01-11), lower price ($7.72 vs $12.32), no more kg·mi (524 vs 2,938)"
    }
    _, words = dominators([later, eco], eco_weighted=True)
    assert words[Tier.SILVER].shopper == (
        "Lowest price isn't shown: “Ship later” arrives sooner for less, with "
        "no more emissions."
    )
    # an eco option that moves less than the other keeps its benefit
    dirtier = _option(Tier.OVERFLOW, 4, 7.72, discount=1.0, kg_mi=3000.0)
    assert drop_dominated([dirtier, eco], eco_weighted=True)[0] == [dirtier, eco]


def test_a_discount_for_waiting_is_a_benefit() -> None:
    """The option builder prices "Ship later" at least its discount below
    every other shown option (Gold $8.90, save $2.00: $6.90), so its saving
    is real; the rule itself still keeps a discounted option at any price
    (the discount is a benefit), and hides a later option without one (a
    policy with no least discount, zero bid prices) priced as Gold."""
    gold = _option(Tier.GOLD, 1, 8.90)
    later = _option(Tier.OVERFLOW, 4, 6.90, discount=2.0)
    assert drop_dominated([gold, later], eco_weighted=True)[0] == [gold, later]
    dearer = _option(Tier.OVERFLOW, 4, 9.00, discount=2.0)
    assert drop_dominated([gold, dearer], eco_weighted=True)[0] == [gold, dearer]
    no_discount = _option(Tier.OVERFLOW, 4, 8.90)
    assert drop_dominated([gold, no_discount], eco_weighted=True)[0] == [gold]


def test_equal_options_keep_the_first_and_reasons_name_a_kept_one() -> None:
    """Of equals the first (best scored) stays; a chain is reported against
    the option that is shown."""
    silver = _option(Tier.SILVER, 2, 8.0)
    gold = _option(Tier.GOLD, 2, 8.0)
    over = _option(Tier.OVERFLOW, 3, 8.0)
    assert dominates(gold, silver, eco_weighted=True)
    assert dominates(silver, gold, eco_weighted=True)
    kept, why = drop_dominated([silver, gold, over], eco_weighted=True)
    assert kept == [silver]
    assert why == {
        Tier.GOLD: "dominated by silver: same date, same price",
        Tier.OVERFLOW: "dominated by silver: earlier date (2026-01-07 vs "
        "2026-01-08), same price",
    }
