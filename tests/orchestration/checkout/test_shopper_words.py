"""Why a tier is missing, in the shopper's words (``OptionSet.unavailable``):
the same tiers as the operator's ``missing``, sentences that start with the
tier's label and never show a node id, a capacity score or a CLTV figure."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import TINY_NETWORK
from tests.orchestration.checkout.helpers import event, ids
from tests.service_fixtures import MONDAY_10, put_scores, tiny_router
from tierflow.data.network import load_network
from tierflow.data.store import open_store
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.results import OptionSet, option_changes
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.checkout.shopper_words import Refusal

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
        "Standard shipping isn't available: SOFA is out of stock in the "
        "quantity you want."
    )
    both = router.generate_fulfillment_options(
        "C5", [("SOFA", 3), ("TEE", 1), ("SPRAY", 11)], "100", now=MONDAY_10
    )
    assert both.unavailable["silver"] == (
        "Lowest price isn't available: SOFA and SPRAY are out of stock in the "
        "quantities you want."
    )
    for answer in (late, gone, both):
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


#: How a tier the outage took reads after its label.
_CLOSED = (
    "isn't available right now: a location that ships your items is temporarily closed."
)


def test_a_closed_node_reads_closed_not_fully_booked(router: OnlineRouter) -> None:
    """SPRAY is held at WH-WEST alone; an outage closes it: every tier is
    refused, and the shopper reads that the place is closed (it read "fully
    booked today", and operators looked for a capacity problem). The
    overflow too: an outage has no end time, so nobody knows the closed
    node will ship on the date "Ship later" would promise (it was offered
    from WH-WEST, closed)."""
    event(router, "WH-WEST", "outage", True, 1)
    answer = router.generate_fulfillment_options(
        "C10", [("SPRAY", 1)], "900", now=MONDAY_10
    )
    assert ids(answer) == []
    assert dict(answer.missing) == {
        "platinum": "every node holding the items that can guarantee delivery "
        "by 2026-01-06 (WH-WEST) is closed (outage)",
        "gold": "every node that could ship it is closed (outage)",
        "silver": "every node that could ship it is closed (outage)",
        "overflow": "every node that could ship it (WH-WEST) is closed (outage)",
    }
    assert dict(answer.unavailable) == {
        "platinum": f"Guaranteed next-day {_CLOSED}",
        "gold": f"Standard shipping {_CLOSED}",
        "silver": f"Lowest price {_CLOSED}",
        "overflow": f"Ship later {_CLOSED}",
    }
    _check(answer)


def test_a_node_without_staff_reads_closed(router: OnlineRouter) -> None:
    """Staffing 0 at WH-WEST (nobody to work, room 0): the operator reads
    that it has no staff (it read "lacks room after the forecast"), the
    shopper that it is closed, as for an outage."""
    event(router, "WH-WEST", "staffing", 0.0, 1)
    answer = router.generate_fulfillment_options(
        "C10", [("SPRAY", 1)], "900", now=MONDAY_10
    )
    assert answer.missing["gold"] == (
        "every node that could ship it has no staff today (staffing 0%)"
    )
    assert answer.missing["platinum"] == (
        "every node holding the items that can guarantee delivery by 2026-01-06 "
        "(WH-WEST) has no staff today (staffing 0%)"
    )
    assert answer.unavailable["gold"] == f"Standard shipping {_CLOSED}"
    assert answer.unavailable["platinum"] == f"Guaranteed next-day {_CLOSED}"
    assert (answer.missing["overflow"], answer.unavailable["overflow"]) == (
        "every node that could ship it (WH-WEST) has no staff today (staffing 0%)",
        f"Ship later {_CLOSED}",
    )
    assert ids(answer) == []
    _check(answer)


def test_full_nodes_and_a_closed_one(router: OnlineRouter) -> None:
    """TEE to Chicago: WH-EAST and WH-WEST full (backlog = capacity),
    ST-CHI closed. ST-CHI open would have had room: the closure took the
    last node, so Gold reads closed; Platinum (which ST-CHI cannot ship)
    stays fully booked. With ST-CHI full too, reopening would not help:
    Gold reads fully booked, as does a full network with none closed."""
    for i, node in enumerate(("WH-EAST", "WH-WEST")):
        cap = float(router.network.capacity[router.network.node_ids.index(node)])
        event(router, node, "backlog", cap, i)
    full = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    event(router, "ST-CHI", "outage", True, 5)
    closed = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    event(router, "ST-CHI", "backlog", 100.0, 6)
    both = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert "gold" in ids(full)  # ST-CHI ships it
    mixed = (
        "every node that could ship it lacks room after the forecast today "
        "or is closed (outage)"
    )
    assert (closed.missing["gold"], closed.unavailable["gold"]) == (
        mixed,
        f"Standard shipping {_CLOSED}",
    )
    assert closed.unavailable["platinum"] == (
        "Guaranteed next-day is fully booked today."
    )
    assert (both.missing["gold"], both.unavailable["gold"]) == (
        mixed,
        "Standard shipping is fully booked today.",
    )
    for answer in (closed, both):
        _check(answer)


def test_a_split_line_only_a_closed_node_holds_reads_closed(
    router: OnlineRouter,
) -> None:
    """MUG (WH-EAST) and SPRAY (WH-WEST, closed): the split's refusal names
    the closed node, and the shopper reads closed."""
    event(router, "WH-WEST", "outage", True, 1)
    answer = router.generate_fulfillment_options(
        "C5", [("MUG", 1), ("SPRAY", 1)], "606", now=MONDAY_10
    )
    assert answer.missing["gold"] == (
        "every node that could ship ['SPRAY'] (WH-WEST) is closed (outage)"
    )
    assert answer.unavailable["gold"] == f"Standard shipping {_CLOSED}"
    _check(answer)


def test_a_requote_after_an_outage_says_closed(router: OnlineRouter) -> None:
    """A live update (requote) after the outage: the removed options carry
    the operator's reason, and the page's words say closed."""
    first = router.generate_fulfillment_options(
        "C10", [("SPRAY", 1)], "900", now=MONDAY_10
    )
    assert ids(first) == ["gold", "platinum", "silver"]
    event(router, "WH-WEST", "outage", True, 1)
    again = router.requote(first.request_id, now=MONDAY_10)
    removed = {
        c["option_id"]: c["reason"]
        for c in option_changes(first, again)
        if c["change"] == "removed"
    }
    assert removed == {
        "platinum": "every node holding the items that can guarantee delivery "
        "by 2026-01-06 (WH-WEST) is closed (outage)",
        "gold": "every node that could ship it is closed (outage)",
        "silver": "every node that could ship it is closed (outage)",
    }
    assert again.unavailable["gold"] == f"Standard shipping {_CLOSED}"
    _check(again)


def _busy(router: OnlineRouter) -> None:
    """Every node's backlog at 95% of its capacity: capacity is short
    everywhere (scores below the overflow threshold), room is left."""
    net = router.network
    for i, node in enumerate(net.node_ids):
        event(router, node, "backlog", float(net.capacity[i]) * 0.95, i)


@pytest.mark.parametrize(("kind", "value"), [("outage", True), ("staffing", 0.0)])
def test_overflow_ships_from_an_open_holder(
    router: OnlineRouter, kind: str, value: object
) -> None:
    """TEE to Chicago, capacity short: "Ship later" ships from WH-EAST, the
    cheapest holder. Closed (an outage) or without staff, WH-EAST is passed
    over for ST-CHI, open (a node without staff shipped it, on a date
    nobody knew it would keep)."""
    _busy(router)
    before = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    event(router, "WH-EAST", kind, value, 5)
    after = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert before.option("overflow").nodes == ("WH-EAST",)
    assert after.option("overflow").nodes == ("ST-CHI",)


def test_overflow_comes_back_when_the_outage_lifts(router: OnlineRouter) -> None:
    """SPRAY (WH-WEST alone), capacity short, WH-WEST closed: no option,
    "Ship later" refused as closed. The outage lifted (``outage`` false), a
    requote (as the live hub's on an open page) adds it back from WH-WEST,
    as the other tiers."""
    _busy(router)
    event(router, "WH-WEST", "outage", True, 5)
    closed = router.generate_fulfillment_options(
        "C10", [("SPRAY", 1)], "900", now=MONDAY_10
    )
    assert ids(closed) == []
    assert (closed.missing["overflow"], closed.unavailable["overflow"]) == (
        "every node that could ship it (WH-WEST) is closed (outage)",
        f"Ship later {_CLOSED}",
    )
    _check(closed)
    event(router, "WH-WEST", "outage", False, 6)
    reopened = router.requote(closed.request_id, now=MONDAY_10)
    changes = option_changes(closed, reopened)
    assert [(c["option_id"], c["change"]) for c in changes] == [
        ("platinum", "added"),
        ("gold", "added"),
        ("silver", "added"),
        ("overflow", "added"),
    ]
    assert changes[3]["option"]["nodes"] == ["WH-WEST"]
    assert "overflow" not in reopened.missing


def _no_capacity_at(tmp_path: Path, node: str, nominal: str) -> OnlineRouter:
    """A router on the tiny network with ``node``'s nominal capacity (its
    ``capacity_units_per_day``, written as ``nominal`` in nodes.csv) 0."""
    folder = tmp_path / "network"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = folder / "nodes.csv"
    text = nodes.read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"{node},"))
    nodes.write_text(text.replace(row, row.replace(f",{nominal},", ",0,")))
    store = open_store(tmp_path / "state.db")
    put_scores(store)
    return OnlineRouter.open(
        load_network(folder), store, capacity_refresh_s=0.0, cltv_refresh_s=0.0
    )


def test_a_node_of_no_capacity_never_ships_the_overflow(tmp_path: Path) -> None:
    """WH-WEST configured with a nominal capacity of 0: not a closure (it
    will not reopen) and not a full day (tomorrow has no room either), so
    every tier of SPRAY (WH-WEST alone holds it) reads not available for
    these items, "Ship later" too, its cause named in ``missing``: they
    read "fully booked today" (and Gold's cause "lacks room after the
    forecast", of a node that ships nothing on any day), and "Ship later"
    was offered from WH-WEST. TEE to 900, the others short: from WH-EAST
    (it was from WH-WEST, the nearest)."""
    with _no_capacity_at(tmp_path, "WH-WEST", "800") as r:
        assert r.network.capacity[r.network.node_ids.index("WH-WEST")] == 0
        spray = r.generate_fulfillment_options(
            "C10", [("SPRAY", 1)], "900", now=MONDAY_10
        )
        _busy(r)
        tee = r.generate_fulfillment_options("C10", [("TEE", 1)], "900", now=MONDAY_10)
    assert ids(spray) == []
    assert dict(spray.missing) == {
        "platinum": "every node holding the items that can guarantee delivery "
        "by 2026-01-06 (WH-WEST) has no capacity (nominal 0)",
        "gold": "every node that could ship it has no capacity (nominal 0)",
        "silver": "every node that could ship it has no capacity (nominal 0)",
        "overflow": "every node that could ship it (WH-WEST) has no capacity "
        "(nominal 0)",
    }
    assert dict(spray.unavailable) == {
        "platinum": "Guaranteed next-day isn't available for these items to "
        "this address.",
        "gold": "Standard shipping isn't available for these items to this address.",
        "silver": "Lowest price isn't available for these items to this address.",
        "overflow": "Ship later isn't available for these items to this address.",
    }
    _check(spray)
    assert tee.option("overflow").nodes == ("WH-EAST",)


def test_a_node_of_no_capacity_beside_a_full_one_is_fully_booked(
    tmp_path: Path,
) -> None:
    """TEE to 900 with WH-WEST of a nominal capacity of 0 and WH-EAST and
    ST-CHI full (their backlog at their capacity): the nodes that could ship
    it are full, so Gold reads fully booked; the operator reads both causes
    (WH-WEST's read "lacks room after the forecast today")."""
    with _no_capacity_at(tmp_path, "WH-WEST", "800") as r:
        net = r.network
        for i, node in enumerate(net.node_ids):
            if node != "WH-WEST":
                event(r, node, "backlog", float(net.capacity[i]), i)
        tee = r.generate_fulfillment_options("C5", [("TEE", 1)], "900", now=MONDAY_10)
    assert (tee.missing["gold"], tee.unavailable["gold"]) == (
        "every node that could ship it lacks room after the forecast today or "
        "has no capacity (nominal 0)",
        "Standard shipping is fully booked today.",
    )
    _check(tee)


def test_a_select_refused_for_its_node_says_it_twice(router: OnlineRouter) -> None:
    """Gold from ST-CHI selected past ST-CHI's 15:00 cutoff (asked at 14:50
    there), then after an outage there: each refusal is a ``Refusal`` whose
    message is the operator's (naming ST-CHI, as before) and whose
    ``shopper`` words name no node (what a caller without the key reads,
    ``service/shopper_view.py``); both begin "options expired", which the
    checkout page reads as "requote"."""
    chicago = dt.timezone(dt.timedelta(hours=-6))
    asked = dt.datetime(2026, 1, 5, 14, 50, tzinfo=chicago)
    answer = router.generate_fulfillment_options("C4", [("TEE", 1)], "606", now=asked)
    assert answer.option("gold").nodes == ("ST-CHI",)
    rid = answer.request_id
    with pytest.raises(Refusal) as late:
        router.select(rid, "gold", now=asked + dt.timedelta(minutes=20))
    event(router, "ST-CHI", "outage", True, 1)
    with pytest.raises(Refusal) as closed:
        router.select(rid, "gold", now=asked)
    assert [(str(e.value), e.value.shopper) for e in (late, closed)] == [
        (
            f"field 'request_id': value '{rid}': options expired: option 'gold' "
            "ships from ST-CHI on 2026-01-05, whose cutoff has passed (it would "
            "ship on 2026-01-06): requote for the new dates",
            "options expired: option 'gold' was to ship on 2026-01-05, but "
            "today's order cutoff has passed (it would ship on 2026-01-06): "
            "requote for the new dates",
        ),
        (
            f"field 'request_id': value '{rid}': options expired: option 'gold' "
            "ships from ST-CHI, closed since it was offered (outage): requote "
            "for the new options",
            "options expired: option 'gold' can't ship as offered (a location "
            "that ships your items is temporarily closed): requote for the new "
            "options",
        ),
    ]
    for e in (late, closed):
        assert not _OPERATOR_WORDS.search(e.value.shopper), e.value.shopper
