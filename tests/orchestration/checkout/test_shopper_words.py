"""Why a tier is missing, in the shopper's words (``OptionSet.unavailable``):
the same tiers as the operator's ``missing``, sentences that start with the
tier's label and never show a node id, a capacity score or a CLTV figure."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.orchestration.checkout.helpers import event
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.results import OptionSet
from tierflow.orchestration.checkout.router import OnlineRouter

#: What a shopper must never read: node ids, scores, thresholds, amounts
#: of the customer's value, engineering words.
_OPERATOR_WORDS = re.compile(
    r"WH-|ST-|score|threshold|percentile|predicted|dominated|node|forecast|\$|>=",
)


def _check(answer: OptionSet) -> None:
    assert set(answer.unavailable) == set(answer.missing)
    labels = {t: TierPolicy().rules[t].label for t in answer.missing}
    for tier, words in answer.unavailable.items():
        assert words.startswith(labels[tier]), (tier, words)
        assert not _OPERATOR_WORDS.search(words), (tier, words)
        assert words.endswith("."), words


def test_the_tiny_networks_reasons(router: OnlineRouter) -> None:
    """C4 ($40, below the $90 threshold) buys a tee to Chicago: Platinum is
    a perk, Silver (later and dearer than Gold) is not shown, overflow is
    for busy days."""
    answer = router.generate_fulfillment_options(
        "C4", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert dict(answer.unavailable) == {
        "platinum": "Guaranteed next-day is a perk for our most loyal customers.",
        "silver": "Lowest price isn't shown: “Standard shipping” arrives sooner "
        "for less.",
        "overflow": "Ship later (with a discount for waiting) is offered on our "
        "busiest days only; today your order can ship right away.",
    }
    _check(answer)
    assert answer.to_dict()["unavailable"] == dict(answer.unavailable)


def test_past_the_cutoff_and_out_of_stock(router: OnlineRouter) -> None:
    late = router.generate_fulfillment_options(
        "C9", [("TEE", 1)], "606", now=MONDAY_10.replace(hour=23)
    )
    assert late.unavailable["platinum"] == (
        "Guaranteed next-day isn't possible to this address today: your items "
        "can't reach you by Tue, Jan 6 (or today's order cutoff has passed)."
    )
    gone = router.generate_fulfillment_options(
        "C5", [("SOFA", 3)], "100", now=MONDAY_10
    )
    assert gone.unavailable["gold"] == (
        "Standard shipping isn't available: some items are out of stock in "
        "the quantity you want."
    )
    for answer in (late, gone):
        _check(answer)


def test_fully_booked(tmp_path: Path, state_location: Path | str) -> None:
    """Every node's day is taken by its backlog: Gold and Silver are booked
    up, overflow answers."""
    with tiny_router(tmp_path, state=state_location) as r:
        for i, node in enumerate(r.network.node_ids):
            event(r, node, "backlog", float(r.network.capacity[i]), i)
        answer = r.generate_fulfillment_options(
            "C9", [("TEE", 1)], "606", now=MONDAY_10
        )
    assert answer.unavailable["gold"] == "Standard shipping is fully booked today."
    assert answer.unavailable["platinum"] == (
        "Guaranteed next-day is fully booked today."
    )
    _check(answer)


@pytest.mark.parametrize("customer", ["C0", "C9", "NEW"])
def test_every_reason_reads_like_the_shoppers(
    router: OnlineRouter, customer: str
) -> None:
    """Carts, places and hours of the tiny network, ST-CHI open then closed."""
    carts = [[("TEE", 1)], [("MUG", 1), ("SPRAY", 1)], [("SPRAY", 2)], [("SOFA", 3)]]
    for closed in (False, True):
        if closed:
            event(router, "ST-CHI", "outage", True, 99)
        for cart, dest, hour in itertools.product(
            carts, ["606", "100", "900"], [9, 16, 23]
        ):
            now = MONDAY_10.replace(hour=hour)
            _check(router.generate_fulfillment_options(customer, cart, dest, now=now))
