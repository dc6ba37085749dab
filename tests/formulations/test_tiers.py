"""Tier rules: the labels a shopper reads, and when an offer is eco-friendly."""

from __future__ import annotations

import pytest

from tierflow.data.errors import InputError
from tierflow.data.vocabulary import TIERS, Tier
from tierflow.formulations.tiers import TierPolicy, TierRule


def test_default_labels() -> None:
    policy = TierPolicy()
    assert policy.rule(Tier.PLATINUM).benefit() == "Guaranteed next-day"
    assert policy.rule(Tier.GOLD).benefit(eco=True) == "Standard shipping"
    silver = policy.rule(Tier.SILVER)
    assert (silver.benefit(), silver.benefit(eco=True)) == (
        "Lowest price",
        "Eco-friendly",
    )
    over = policy.rule(Tier.OVERFLOW)
    assert (over.benefit(), over.benefit(discount=4.0)) == (
        "Ship later",
        "Ship later, save $4.00",
    )
    assert [t for t in TIERS if policy.rule(t).compares_eco] == ["silver"]


@pytest.mark.parametrize(
    ("kg_mi", "reference", "expected"),
    [(90.0, 100.0, True), (90.1, 100.0, False), (10.0, None, False)],
)
def test_is_eco(kg_mi: float, reference: float | None, expected: bool) -> None:
    """At least ``eco_min_saving`` (10 %) less than the reference offer."""
    assert TierPolicy().is_eco(kg_mi, reference) is expected


def test_rules_are_validated() -> None:
    with pytest.raises(InputError, match=r"^field 'promise_days': value -1"):
        TierRule(("ground",), -1, False, 1.0, 1.0, "x")
    with pytest.raises(InputError, match=r"^field 'rules': no rule for tiers"):
        TierPolicy(rules={"gold": TierPolicy().rules["gold"]})
