"""Platinum priced by value: a free upgrade within the customer's allowance,
priced when it is spent, charged once per confirmed checkout (tiny network:
TEE to Chicago on Monday 10:00 ET — Gold from ST-CHI by ground, $10.00 for a
cost of $14.00; Platinum from WH-EAST next-day, both arriving Tue 01-06,
$31.25 priced for a cost of $26.50; C10's predicted spend is $100)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.store import SqliteStore
from tierflow.formulations.tiers import Pricing, TierPolicy
from tierflow.orchestration.checkout.router import OnlineRouter

_TEE = [("TEE", 1)]


def _router(tmp_path: Path, **policy: float) -> OnlineRouter:
    return tiny_router(tmp_path, policy=TierPolicy().with_changes(**policy))


@pytest.fixture
def generous(tmp_path: Path) -> Iterator[OnlineRouter]:
    """C10's allowance: $20 per 30 days (one $12.50 upgrade)."""
    with _router(tmp_path, upgrade_allowance_share=0.2) as r:
        yield r


def test_within_the_allowance_platinum_costs_the_gold_price(
    generous: OnlineRouter,
) -> None:
    answer = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    assert answer.customer.upgrade_allowance == 20.0
    plat = answer.option("platinum")
    assert (plat.price, plat.pricing, plat.standard_price) == (10.0, "upgrade", 10.0)
    assert (plat.cost, plat.upgrade_cost) == (26.5, 12.5)  # 26.50 - 14.00
    assert plat.explanation.endswith(
        "; Platinum upgrade: you pay $10.00, no more than Gold's price; we cover "
        "the extra $12.50 of guaranteed next-day shipping"
    )
    # Gold, same day at the same price without the guarantee, is not shown
    assert [o.option_id for o in answer.options] == ["platinum"]
    assert answer.missing["gold"] == "dominated by platinum: same date, same price"


def test_the_premium_is_paid_by_the_customer(tmp_path: Path) -> None:
    with _router(tmp_path, upgrade_allowance_share=0.2, platinum_premium=2.0) as r:
        answer = r.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    plat, gold = answer.option("platinum"), answer.option("gold")
    assert (plat.price, gold.price, plat.pricing) == (12.0, 10.0, Pricing.UPGRADE)
    assert plat.upgrade_cost == 10.5  # the premium pays part of the extra cost
    assert "no more than Gold's price + $2.00" in plat.explanation


def test_a_spent_allowance_prices_platinum(tmp_path: Path) -> None:
    """The default allowance, 5 % of $100, does not cover a $12.50 upgrade."""
    with tiny_router(tmp_path) as r:
        answer = r.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    plat = answer.option("platinum")
    assert (plat.price, plat.pricing, plat.upgrade_cost) == (31.25, "priced", 0.0)
    assert plat.standard_price == 10.0 and answer.option("gold").price == 10.0
    assert plat.explanation.endswith(
        "; priced at the next-day shipping rate: your upgrades on us for this "
        "30-day period are used up ($5.00 left, this one would need $12.50)"
    )
    assert plat.to_dict()["pricing"] == "priced"


def test_the_allowance_is_charged_once_per_confirmed_request(
    generous: OnlineRouter,
) -> None:
    store = generous.store
    assert isinstance(store, SqliteStore)
    first = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    generous.select(first.request_id, "platinum", now=MONDAY_10)
    assert store.upgrade_spent("C10", since=0) == 0.0  # held: nothing charged
    assert generous.confirm(first.request_id, now=MONDAY_10).status == "confirmed"
    assert generous.confirm(first.request_id, now=MONDAY_10).status == "confirmed"
    assert store.upgrade_spent("C10", since=0) == 12.5  # not 25
    again = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    assert again.customer.upgrade_allowance == 7.5
    plat = again.option("platinum")
    assert (plat.pricing, plat.price) == ("priced", 31.25)
    assert "($7.50 left, this one would need $12.50)" in plat.explanation


def test_cancelled_or_switched_selections_charge_nothing(
    generous: OnlineRouter,
) -> None:
    store = generous.store
    assert isinstance(store, SqliteStore)
    cancelled = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    generous.select(cancelled.request_id, "platinum", now=MONDAY_10)
    generous.cancel(cancelled.request_id, now=MONDAY_10)
    switched = generous.generate_fulfillment_options(
        "C10", [("TEE", 1)], "100", now=MONDAY_10
    )
    generous.select(switched.request_id, "platinum", now=MONDAY_10)
    generous.select(switched.request_id, "silver", now=MONDAY_10)
    generous.confirm(switched.request_id, now=MONDAY_10)
    assert store.upgrade_spent("C10", since=0) == 0.0


def test_another_process_confirms_and_charges(generous: OnlineRouter) -> None:
    answer = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    generous.select(answer.request_id, "platinum", now=MONDAY_10)
    assert generous.store is not None
    with OnlineRouter.open(generous.network, generous.store.location) as other:
        assert other.confirm(answer.request_id, now=MONDAY_10).status == "confirmed"
        assert other.store is not None
        assert other.store.upgrade_spent("C10", since=0) == 12.5


def test_no_platinum_customers_have_no_allowance(generous: OnlineRouter) -> None:
    for customer in ("C8", "stranger"):
        answer = generous.generate_fulfillment_options(
            customer, _TEE, "606", now=MONDAY_10
        )
        assert answer.customer.upgrade_allowance is None


def test_platinum_selected_again_at_a_price_is_not_charged_as_an_upgrade(
    generous: OnlineRouter,
) -> None:
    """Selected as an upgrade, then requoted after another checkout spent the
    allowance and selected again at its price: the confirm charges nothing
    (the customer pays the price; the earlier note is dropped)."""
    store = generous.store
    assert store is not None
    first = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    assert first.option("platinum").pricing == Pricing.UPGRADE
    generous.select(first.request_id, "platinum", now=MONDAY_10)  # noted
    other = generous.generate_fulfillment_options("C10", _TEE, "606", now=MONDAY_10)
    generous.select(other.request_id, "platinum", now=MONDAY_10)
    generous.confirm(other.request_id, now=MONDAY_10)
    assert store.upgrade_spent("C10", since=0) == 12.5  # $7.50 of $20 left
    again = generous.requote(first.request_id, now=MONDAY_10)
    assert (again.option("platinum").pricing, again.option("platinum").price) == (
        Pricing.PRICED,
        31.25,
    )
    generous.select(first.request_id, "platinum", now=MONDAY_10)
    assert generous.confirm(first.request_id, now=MONDAY_10).status == "confirmed"
    assert store.upgrade_spent("C10", since=0) == 12.5
