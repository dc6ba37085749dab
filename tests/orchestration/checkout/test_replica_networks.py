"""Replicas of one store whose network folders differ: the nodes listed in
another order (a regenerated ``nodes.csv``), or a node and a SKU one of them
lacks (a network change rolled replica by replica). A checkout answered on
one and selected or confirmed on the other must hold and ship what it
offered, or be refused by name; never held at another node."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import TINY_NETWORK
from tests.postgres import run_sql
from tests.service_fixtures import MONDAY_10, put_scores
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.data.store import open_store
from tierflow.data.vocabulary import HoldStatus
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.checkout.shopper_words import Refusal

#: The hub the grown network adds, and the SKU only it stocks.
NYC = "WH-NYC,NYC hub,warehouse,40.75,-73.99,northeast,America/New_York,1000,1.0,20:00,next_day;two_day;ground;economy"


def _reordered(folder: Path) -> Path:
    """The tiny network with WH-WEST listed before WH-EAST."""
    shutil.copytree(TINY_NETWORK, folder)
    head, east, west, *rest = (folder / "nodes.csv").read_text().splitlines()
    (folder / "nodes.csv").write_text("\n".join([head, west, east, *rest]) + "\n")
    return folder


def _grown(folder: Path) -> Path:
    """The tiny network with a fourth node, WH-NYC, which alone stocks HAT."""
    shutil.copytree(TINY_NETWORK, folder)
    with (folder / "nodes.csv").open("a") as f:
        f.write(NYC + "\n")
    with (folder / "skus.csv").open("a") as f:
        f.write("HAT,0.2,30,30,15,false,false\n")
    with (folder / "inventory.csv").open("a") as f:
        f.write("WH-NYC,HAT,10\nWH-NYC,SOFA,5\n")
    return folder


@contextmanager
def _router(network: Path, state: Path | str) -> Iterator[OnlineRouter]:
    with open_store(state) as store:
        put_scores(store)
    with OnlineRouter.open(
        load_network(network), state, capacity_refresh_s=0.0, cltv_refresh_s=0.0
    ) as router:
        yield router


def test_a_replica_listing_the_nodes_in_another_order_holds_the_offered_node(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Gold of 3 TEE to New York ships from WH-EAST. Selected and confirmed
    on a replica whose ``nodes.csv`` lists WH-WEST first, it was held and
    ordered at WH-WEST (the stored plan named its node by position): the
    select answered ``nodes: ["WH-EAST"]`` while the store reserved 3 TEE at
    WH-WEST, and the confirm shipped from there."""
    with (
        _router(TINY_NETWORK, state_location) as here,
        _router(_reordered(tmp_path / "reordered"), state_location) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 3)], "100", now=MONDAY_10
        ).request_id
        held = there.select(rid, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("WH-EAST",))
        reserved = run_sql(
            state_location, "SELECT node_id, reserved FROM inventory WHERE reserved > 0"
        )
        assert reserved == [("WH-EAST", 3)]
        done = there.confirm(rid, now=MONDAY_10)
        assert (done.status, done.nodes) == (HoldStatus.CONFIRMED, ("WH-EAST",))
    orders = run_sql(state_location, "SELECT node_id, sku, quantity FROM online_orders")
    assert orders == [("WH-EAST", "TEE", 3)]


@pytest.mark.parametrize(
    ("cart", "missing"), [("SOFA", "node 'WH-NYC'"), ("HAT", "SKU 'HAT'")]
)
def test_a_replica_lacking_a_node_or_sku_of_the_checkout_refuses_it_by_name(
    tmp_path: Path, state_location: Path | str, cart: str, missing: str
) -> None:
    """A checkout answered by a replica of the grown network (SOFA from its
    WH-NYC; HAT, which only WH-NYC has) is refused by one of the old network
    with what it lacks, at the request id: an ``IndexError`` (HTTP 500)
    for the node, and ``field 'items[0].sku'`` (422, a field the select's
    body does not have) for the SKU; a stream of it there was 404 "unknown
    request id (or its checkout is over)". Nothing is held."""
    with (
        _router(_grown(tmp_path / "grown"), state_location) as new,
        _router(TINY_NETWORK, state_location) as old,
    ):
        answer = new.generate_fulfillment_options(
            "C1", [(cart, 1)], "100", now=MONDAY_10
        )
        gold = next(o for o in answer.options if o.option_id == "gold")
        assert gold.nodes == ("WH-NYC",)
        for call in (
            lambda: old.select(answer.request_id, "gold", now=MONDAY_10),
            lambda: old.requote(answer.request_id, now=MONDAY_10),
            lambda: old.is_open(answer.request_id),  # the stream's check
        ):
            with pytest.raises(InputError) as refused:
                call()
            assert refused.value.field == "request_id"
            assert refused.value.value == answer.request_id
            assert missing in refused.value.reason
            assert "not in this server's network" in refused.value.reason
        held = new.select(answer.request_id, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("WH-NYC",))


def test_a_replica_lacking_the_node_of_a_hold_refuses_its_confirm_by_name(
    tmp_path: Path, state_location: Path | str
) -> None:
    """SOFA held at WH-NYC on a replica of the grown network, confirmed on
    one of the old network (a rollout, a load balancer's next pick): it was
    confirmed there, the order placed at a node that replica's capacity map
    does not have, so it could not judge it (an outage at WH-NYC, which the
    grown replica refuses a confirm for, did not stop it: QA, 2026-12-07).
    It is refused by name as its select is, nothing written; the grown
    replica confirms it."""
    with (
        _router(_grown(tmp_path / "grown"), state_location) as new,
        _router(TINY_NETWORK, state_location) as old,
    ):
        rid = new.generate_fulfillment_options(
            "C1", [("SOFA", 1)], "100", now=MONDAY_10
        ).request_id
        held = new.select(rid, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("WH-NYC",))
        with pytest.raises(InputError) as refused:
            old.confirm(rid, now=MONDAY_10)
        assert (refused.value.field, refused.value.value) == ("request_id", rid)
        assert "node 'WH-NYC'" in refused.value.reason
        assert "not in this server's network" in refused.value.reason
        assert run_sql(state_location, "SELECT COUNT(*) FROM online_orders") == [(0,)]
        done = new.confirm(rid, now=MONDAY_10)
        assert (done.status, done.nodes) == (HoldStatus.CONFIRMED, ("WH-NYC",))
    orders = run_sql(state_location, "SELECT node_id, sku, quantity FROM online_orders")
    assert orders == [("WH-NYC", "SOFA", 1)]


def _cutoff_moved(folder: Path, cutoff: str) -> Path:
    """The tiny network with ST-CHI's order cutoff at ``cutoff`` (15:00 in
    the tiny network): a ``nodes.csv`` edited on one replica only."""
    shutil.copytree(TINY_NETWORK, folder)
    nodes = folder / "nodes.csv"
    nodes.write_text(nodes.read_text().replace(",15:00,", f",{cutoff},"))
    return folder


def test_a_replica_of_another_cutoff_refuses_a_select_naming_both_cutoffs(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Gold of a TEE to Chicago ships from ST-CHI today (cutoff 15:00
    Chicago time; the checkout is at 09:00 there). Selected at once on a
    replica whose ``nodes.csv`` says ST-CHI's cutoff is 08:00, it was
    refused "options expired: … whose cutoff has passed" at the instant
    it was offered, a requote (answered by either replica) offered it
    again and the select was refused again: the shopper was told to
    requote for dates that had not moved. The refusal now says the two
    servers differ, with both cutoffs; nothing is held. The same select on
    the answering replica holds."""
    with (
        _router(TINY_NETWORK, state_location) as here,
        _router(_cutoff_moved(tmp_path / "early", "08:00"), state_location) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "60601", now=MONDAY_10
        ).request_id
        with pytest.raises(Refusal) as refused:
            there.select(rid, "gold", now=MONDAY_10)
        why = refused.value
        assert (why.field, why.value) == ("request_id", rid)
        assert "ST-CHI" in why.reason
        assert "15:00 America/Chicago" in why.reason
        assert "08:00 America/Chicago" in why.reason
        assert "every server of a store must serve the same network" in why.reason
        assert "ST-CHI" not in why.shopper
        assert run_sql(state_location, "SELECT COUNT(*) FROM reservations") == [(0,)]
        held = here.select(rid, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("ST-CHI",))


def test_a_replica_of_another_cutoff_holds_where_both_cutoffs_ship_as_planned(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A cutoff that differs but that neither replica has passed (16:00
    against 15:00, at 09:00) changes nothing the option promised: held."""
    with (
        _router(TINY_NETWORK, state_location) as here,
        _router(_cutoff_moved(tmp_path / "late", "16:00"), state_location) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "60601", now=MONDAY_10
        ).request_id
        held = there.select(rid, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("ST-CHI",))


def test_a_replica_whose_node_lacks_the_plans_service_refuses_it_by_name(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Platinum to New York ships next-day from WH-EAST. On a replica whose
    ``nodes.csv`` lists WH-EAST without next_day it was held and confirmed,
    an order by a service that replica's network says the node does not
    ship: now refused 409 naming the node and service; nothing is held."""
    folder = tmp_path / "no-next-day"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = folder / "nodes.csv"
    head, east, *rest = nodes.read_text().splitlines()
    east = east.replace("next_day;two_day", "two_day")
    nodes.write_text("\n".join([head, east, *rest]) + "\n")
    with (
        _router(TINY_NETWORK, state_location) as here,
        _router(folder, state_location) as there,
    ):
        answer = here.generate_fulfillment_options(
            "C10", [("TEE", 1)], "10001", now=MONDAY_10
        )
        platinum = next(o for o in answer.options if o.option_id == "platinum")
        assert platinum.nodes == ("WH-EAST",)
        with pytest.raises(Refusal) as refused:
            there.select(answer.request_id, "platinum", now=MONDAY_10)
        why = refused.value
        assert (why.field, why.value) == ("request_id", answer.request_id)
        assert "WH-EAST" in why.reason
        assert "next_day" in why.reason
        assert "every server of a store must serve the same network" in why.reason
        assert "WH-EAST" not in why.shopper
        assert run_sql(state_location, "SELECT COUNT(*) FROM reservations") == [(0,)]


def _holidays(folder: Path, *rows: str) -> Path:
    """The tiny network with a ``holidays.csv`` of ``rows`` (``date,service``,
    closed): a carrier calendar edited on one replica only."""
    shutil.copytree(TINY_NETWORK, folder)
    lines = ["date,service,action", *(f"{row},closed" for row in rows)]
    (folder / "holidays.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    ("closed", "why"),
    [
        ("2026-01-05,*", "2026-01-05 open for shipping and this server closed"),
        ("2026-01-06,ground", "2026-01-06 open for ground and this server closed"),
    ],
)
def test_a_replica_of_another_carrier_calendar_refuses_a_select_naming_the_day(
    tmp_path: Path, state_location: Path | str, closed: str, why: str
) -> None:
    """Gold of a TEE to Chicago ships from ST-CHI on Monday 2026-01-05 by
    ground, delivered Tuesday. Selected at once on a replica whose
    ``holidays.csv`` closes that Monday, it was refused "cutoff has passed"
    at the instant it was offered (at 09:00, six hours before the cutoff);
    on one that closes Tuesday for ground, it was held and confirmed for a
    Tuesday delivery that replica's calendar has no carrier deliver on. Now
    refused 409 naming the day and how each server's calendar has it;
    nothing is held. The answering replica holds it."""
    with (
        _router(TINY_NETWORK, state_location) as here,
        _router(_holidays(tmp_path / "closed", closed), state_location) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "60601", now=MONDAY_10
        ).request_id
        with pytest.raises(Refusal) as refused:
            there.select(rid, "gold", now=MONDAY_10)
        found = refused.value
        assert (found.field, found.value) == ("request_id", rid)
        assert "ST-CHI" in found.reason
        assert why in found.reason
        assert "cutoff" not in found.reason
        assert "every server of a store must serve the same network" in found.reason
        assert "ST-CHI" not in found.shopper
        assert run_sql(state_location, "SELECT COUNT(*) FROM reservations") == [(0,)]
        held = here.select(rid, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("ST-CHI",))


@pytest.mark.parametrize(
    ("answering", "selecting"),
    [
        # a holiday the plan does not depend on: after its delivery, or of
        # a service it does not use
        ((), ("2026-01-07,*", "2026-01-06,economy")),
        # the answering replica's holiday: the other ships earlier, not later
        (("2026-01-05,*",), ()),
    ],
)
def test_a_replica_of_another_carrier_calendar_holds_where_the_dates_stand(
    tmp_path: Path,
    state_location: Path | str,
    answering: tuple[str, ...],
    selecting: tuple[str, ...],
) -> None:
    """A calendar that differs where the plan's dates do not depend on it,
    or where the selecting replica would ship sooner, changes nothing the
    option promised: held."""
    with (
        _router(_holidays(tmp_path / "a", *answering), state_location) as here,
        _router(_holidays(tmp_path / "b", *selecting), state_location) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "60601", now=MONDAY_10
        ).request_id
        held = there.select(rid, "gold", now=MONDAY_10)
        assert (held.status, held.nodes) == (HoldStatus.HELD, ("ST-CHI",))
