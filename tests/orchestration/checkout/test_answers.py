"""What an answer offers: split shipments, stock-outs with reasons, the
satisfaction order, labels from the tier policy, the domain vocabulary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.formulations.tiers import MAX_PROMISE_DAYS, TierPolicy
from tierflow.orchestration.checkout.router import OnlineRouter


def test_split_across_nodes(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C5", [("MUG", 1), ("SPRAY", 1)], "900", now=MONDAY_10
    )
    gold = answer.option("gold")
    assert set(gold.nodes) == {"WH-EAST", "WH-WEST"} and len(gold.shipments) == 2
    by_node = {s.node_id: s for s in gold.shipments}
    assert by_node["WH-EAST"].lines == (("MUG", 1),)
    assert by_node["WH-WEST"].lines == (("SPRAY", 1),)
    split_cost = router.policy.split_shipment_cost
    assert gold.cost == pytest.approx(sum(s.cost for s in gold.shipments) + split_cost)
    assert gold.delivery_date == max(s.delivery_date for s in gold.shipments)


def test_a_confirmed_split_adds_each_lines_work_to_its_own_node(
    router: OnlineRouter,
) -> None:
    """Gold's MUG (work 1.5) from WH-EAST and SPRAY (work 2.0) from WH-WEST:
    the confirm adds each shipment's own lines' work to its node's backlog
    (its lanes at x1), as the allocator's ledger counts a split line, not
    the whole order's 3.5 to each."""
    answer = router.generate_fulfillment_options(
        "C5", [("MUG", 1), ("SPRAY", 1)], "900", now=MONDAY_10
    )
    net, mon = router.network, router.monitor
    east, west = net.node_idx("WH-EAST"), net.node_idx("WH-WEST")
    before = mon.backlog[[east, west]].copy()
    router.select(answer.request_id, "gold", now=MONDAY_10)
    assert router.confirm(answer.request_id, now=MONDAY_10).status == (
        HoldStatus.CONFIRMED
    )
    assert (mon.backlog[[east, west]] - before).tolist() == [1.5, 2.0]


def test_out_of_stock_answers_with_reasons(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C5", [("SOFA", 3)], "100", now=MONDAY_10
    )
    assert answer.options == () and answer.recommended is None
    assert set(answer.missing) == {"platinum", "gold", "silver", "overflow"}
    assert answer.missing["gold"] == (
        "out of stock: no node holds the quantity of ['SOFA']"
    )


def test_preferences_reorder_the_options(router: OnlineRouter) -> None:
    cart = [("TEE", 1)]
    cheap = router.generate_fulfillment_options(
        "C0", cart, "606", now=MONDAY_10, preferences={"speed": 0, "cost": 1, "eco": 0}
    )
    assert cheap.options[0].price == min(o.price for o in cheap.options)
    fast = router.generate_fulfillment_options(
        "C10", cart, "606", now=MONDAY_10, preferences={"speed": 1, "cost": 0, "eco": 0}
    )
    assert fast.options[0].delivery_date == min(o.delivery_date for o in fast.options)
    assert fast.options[0].satisfaction_score > cheap.options[-1].satisfaction_score


def test_labels_come_from_the_tier_rules(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A tier's wording is policy: change the rule, the option follows."""
    rules = dict(TierPolicy().rules)
    rules["silver"] = dataclasses.replace(rules["silver"], label="Cheapest")
    rules["gold"] = dataclasses.replace(rules["gold"], label="Balanced")
    with tiny_router(
        tmp_path, state=state_location, policy=TierPolicy(rules=rules)
    ) as r:
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "100", now=MONDAY_10
        )
    assert answer.option("gold").label == "Balanced"
    assert answer.option("silver").label == "Cheapest"


def test_the_longest_promise_is_quoted(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Every tier promising :data:`MAX_PROMISE_DAYS` delivery days, the
    overflow shipping its longest delay later: the quote still fits the
    calendar it is priced over (a longer promise once ran past its end)."""
    rules = {
        tier: dataclasses.replace(rule, promise_days=MAX_PROMISE_DAYS)
        for tier, rule in TierPolicy().rules.items()
    }
    policy = TierPolicy(rules=rules).with_changes(
        overflow_delay_days=30, overflow_score_threshold=1.0
    )
    with tiny_router(tmp_path, state=state_location, policy=policy) as r:
        answer = r.generate_fulfillment_options(
            "C9", [("TEE", 1)], "606", now=MONDAY_10
        )
    # every tier was quoted: offered, or left out only as dominated
    dominated = {t for t, why in answer.missing.items() if why.startswith("dominated")}
    assert {o.tier for o in answer.options} | dominated == set(Tier)
    assert all(o.delivery_date >= MONDAY_10.date() for o in answer.options)


def test_eco_friendly_silver(tmp_path: Path, state_location: Path | str) -> None:
    """With no saving required, Silver from Gold's node is eco-friendly."""
    policy = TierPolicy().with_changes(eco_min_saving=0.0)
    with tiny_router(tmp_path, state=state_location, policy=policy) as r:
        answer = r.generate_fulfillment_options(
            "C9", [("TEE", 1), ("MUG", 1)], "606", now=MONDAY_10
        )
    silver = answer.option("silver")
    assert (silver.eco, silver.label) == (True, "Eco-friendly")
    assert not answer.option("gold").eco


def test_tiers_and_statuses_are_the_vocabulary(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C10", [("MUG", 1)], "606", now=MONDAY_10
    )
    assert [o.tier for o in answer.options] == [
        Tier(o.option_id) for o in answer.options
    ]
    assert all(isinstance(o.tier, Tier) for o in answer.options)
    held = router.select(answer.request_id, "gold")
    assert held.status is HoldStatus.HELD and held.ok


def test_an_answer_reads_stock_and_score_in_one_call(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cart's stock and an unkept score come from one store call (one
    round trip on PostgreSQL), not a read each; a kept score is not read."""
    assert router.store is not None
    store_type = type(router.store)
    calls: list[str | None] = []
    facts = store_type.checkout_facts

    def counted(self: Any, skus: Any, customer_id: Any = None, **kw: Any) -> Any:
        calls.append(customer_id)
        return facts(self, skus, customer_id, **kw)

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("read on its own")

    monkeypatch.setattr(store_type, "checkout_facts", counted)
    monkeypatch.setattr(store_type, "available_by_sku", no_read)
    monkeypatch.setattr(store_type, "cltv_score", no_read)
    first = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    again = router.generate_fulfillment_options(
        "C10", [("MUG", 1)], "606", now=MONDAY_10
    )
    assert calls == ["C10", None]  # the second answer keeps C10's score
    for answer in (first, again):
        assert answer.customer.predicted_spend == 100.0
        assert answer.customer.platinum_eligible and not answer.degraded
