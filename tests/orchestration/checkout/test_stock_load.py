"""Stock written to a live store (``tierflow stock load``) is what every
router of the store answers from next: stock is read per answer, never
kept; and a count cannot take held stock from under a hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY_NETWORK
from tests.service_fixtures import put_scores
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.data.store import StockChange, open_store
from tierflow.data.vocabulary import HoldStatus
from tierflow.orchestration.checkout.router import OnlineRouter


def test_a_restock_is_offered_by_another_router_and_a_count_below_a_hold_refused(
    state_location: Path | str,
) -> None:
    """WH-EAST's 2 SOFA (the only ones) held through one router: the other
    router offers no SOFA (holds live in wall-clock time: the answers are
    at the clock's time too). A receipt of 3 written to the store: the other
    router's next answer offers SOFA again, and holds 2 of them; a count of 3
    now (4 held) is refused with the units reserved and changes nothing."""
    with open_store(state_location) as store:
        put_scores(store)
    network = load_network(TINY_NETWORK)
    with (
        OnlineRouter.open(network, state_location, cltv_refresh_s=0.0) as one,
        OnlineRouter.open(network, state_location, cltv_refresh_s=0.0) as two,
    ):
        first = one.generate_fulfillment_options("C1", [("SOFA", 2)], "100")
        held = one.select(first.request_id, first.options[0].option_id)
        assert held.status == HoldStatus.HELD
        sold_out = two.generate_fulfillment_options("C2", [("SOFA", 2)], "100")
        assert not sold_out.options
        with open_store(state_location) as store:
            changed = store.change_stock([("WH-EAST", "SOFA", 3)], add=True)
        assert [(c.before, c.after, c.reserved) for c in changed] == [(2, 5, 2)]
        again = two.generate_fulfillment_options("C2", [("SOFA", 2)], "100")
        assert again.options
        assert {o.nodes for o in again.options} == {("WH-EAST",)}
        second = two.select(again.request_id, again.options[0].option_id)
        assert second.status == HoldStatus.HELD
        with open_store(state_location) as store:
            with pytest.raises(InputError) as refused:
                store.change_stock([("WH-EAST", "SOFA", 3)])
            assert refused.value.reason == (
                "on_hand would be 3, below the 4 units reserved (held by open "
                "checkouts): cut_holds (tierflow stock load --cut-holds) writes "
                "it and releases the newest holds there"
            )
            assert refused.value.index == 0
            cell = (
                store.inventory_frame()
                .set_index(["node_id", "sku"])
                .loc[("WH-EAST", "SOFA")]
            )
        assert (int(cell["on_hand"]), int(cell["reserved"])) == (5, 4)


def test_a_hold_past_its_ttl_does_not_keep_a_count_up(
    state_location: Path | str,
) -> None:
    """A hold whose TTL ran out holds nothing: a count below it is taken
    (the hold swept first), where one below a live hold is refused."""
    with open_store(state_location) as store:
        store.seed_network_inventory(load_network(TINY_NETWORK))
        store.reserve("lapsed", [("MUG", 15)], "WH-EAST", ttl_s=1.0, now=1000.0)
        store.reserve("live", [("TEE", 60)], "WH-EAST", ttl_s=60.0, now=1000.0)
        with pytest.raises(InputError) as refused:
            store.change_stock(
                [("WH-EAST", "MUG", 3), ("WH-EAST", "TEE", 50)], now=1010.0
            )
        assert (refused.value.index, refused.value.value) == (1, 50)
        assert "below the 60 units reserved" in refused.value.reason
        done = store.change_stock([("WH-EAST", "MUG", 3)], now=1010.0)
        assert done == [StockChange("WH-EAST", "MUG", 20, 3, 0)]
        assert store.reservation_status("lapsed") == "expired"
