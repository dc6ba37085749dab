"""Tier rules: the labels a shopper reads, and when an offer is eco-friendly."""

from __future__ import annotations

import math
from typing import Any

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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"split_shipment_cost": math.nan}, r"^field 'split_shipment_cost': value nan: must be a number in \[0, 1,000,000\]$"),
        ({"split_shipment_cost": -1e9}, r"^field 'split_shipment_cost': value -1000000000\.0: must be a number in"),
        ({"cltv_defer_weight": "4"}, r"^field 'cltv_defer_weight': value '4': must be a number in \[0, 1,000\]$"),
        ({"cltv_cap": math.inf}, r"^field 'cltv_cap': value inf: must be a number in \[0, 1,000,000,000\]$"),
        ({"price_scale": "4"}, r"^field 'price_scale': value '4': must be in \[1e-09, inf\]$"),
        ({"overflow_delay_days": None}, r"^field 'overflow_delay_days': must be in \[1, 30\]$"),
        ({"rules": dict.fromkeys(TierPolicy().rules, "x")}, r"^field 'rules\.platinum': value 'x': must be a TierRule$"),
    ],
)  # fmt: skip
def test_every_setting_is_checked(changes: dict[str, Any], message: str) -> None:
    """The first three were never checked: a NaN split cost made every
    option's cost NaN; a string reached numpy."""
    with pytest.raises(InputError, match=message):
        TierPolicy().with_changes(**changes)


def test_a_promise_is_whole_days() -> None:
    with pytest.raises(
        InputError, match=r"^field 'promise_days': value 1\.5: must be an integer$"
    ):
        TierRule(("ground",), 1.5, False, 1.0, 1.0, "x")  # type: ignore[arg-type]
