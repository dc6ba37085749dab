"""The state store's checkout additions: stock reads, holds, orders, bid prices."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY_NETWORK
from tests.data.order_lines import order_line
from tests.postgres import downgrade_store, run_sql, set_schema_version
from tierflow.data.errors import InputError
from tierflow.data.network import Network, load_network
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import (
    ONLINE_ORDER_COLUMNS,
    SCHEMA_VERSION,
    CustomerMismatch,
    HeldAtClosedNode,
    QuoteChanged,
    SqliteStore,
    StateStore,
    UnknownCheckout,
    UpgradeNote,
    is_postgres_url,
    open_store,
)
from tierflow.data.store.database import Transaction
from tierflow.data.store.database_store import DatabaseStore
from tierflow.data.store.ledger import Ledger
from tierflow.data.store.postgres_database import PostgresDatabase
from tierflow.data.store.schema import MIGRATIONS, POSTGRES_MIGRATIONS
from tierflow.data.store.sqlite_database import SqliteDatabase, SqliteTransaction
from tierflow.data.store.stock import stock_query
from tierflow.data.vocabulary import HoldStatus


def _stock(store: StateStore, rows: list[tuple[str, str, int]]) -> None:
    store.upsert_inventory(pd.DataFrame(rows, columns=["node_id", "sku", "on_hand"]))


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    with open_store(state_location) as s:
        _stock(s, [("N1", "TEE", 10), ("N1", "MUG", 3), ("N2", "TEE", 4)])
        yield s


def _avail(store: StateStore, now: float) -> dict[tuple[str, str], int]:
    return {(n, s): a for n, s, a in store.available_by_sku(["TEE", "MUG"], now=now)}


def test_migration_3_upgrades_a_version_2_store(state_location: Path | str) -> None:
    open_store(state_location).close()
    downgrade_store(state_location, 2)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.latest_bid_prices() is None
        columns = [*ONLINE_ORDER_COLUMNS, "promised_date"]
        assert s.online_orders().columns.tolist() == columns


def test_seed_inventory_only_once(
    state_location: Path | str, tiny_network: Network
) -> None:
    with open_store(state_location) as s:
        assert s.seed_network_inventory(tiny_network) == 6  # positive cells
        s.reserve("r", [("TEE", 5)], "WH-EAST", ttl_s=60)
        s.commit("r")
        assert s.seed_network_inventory(tiny_network) == 0  # never overwrites
        frame = s.inventory_frame().set_index(["node_id", "sku"])
        assert frame.loc[("WH-EAST", "TEE"), "on_hand"] == 95


def test_a_store_of_another_network_gets_this_ones_nodes_and_says_so(
    state_location: Path | str,
    tiny_network: Network,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store used first with another network (one node) answered "out of
    stock" for every other node of this one, silently: only an empty table
    was seeded. Now the nodes the store holds no row of are seeded, the
    stock already there stays, and the other network's nodes are logged."""
    sample = load_network(sample_network_dir())
    with open_store(state_location) as s:
        assert s.seed_network_inventory(tiny_network) == 6
        s.reserve("r", [("TEE", 5)], "WH-EAST", ttl_s=60)
        s.commit("r")
        new_nodes = [
            i for i, n in enumerate(sample.node_ids) if n not in tiny_network.node_index
        ]
        tiny_positions = {
            (tiny_network.node_ids[i], tiny_network.sku_ids[k])
            for i, k in zip(*np.nonzero(tiny_network.inventory > 0), strict=True)
        }
        new_positions = {
            (sample.node_ids[i], sample.sku_ids[k])
            for i, k in zip(*np.nonzero(sample.inventory > 0), strict=True)
        } - tiny_positions
        written = s.seed_network_inventory(sample)  # a position both have stays
        assert written == len(new_positions) > 0
        assert s.seed_network_inventory(tiny_network) == 0
        frame = s.inventory_frame().set_index(["node_id", "sku"])
        assert frame.loc[("WH-EAST", "TEE"), "on_hand"] == 95
        assert len(frame) == 6 + written
    # the sample's seeding named the tiny network's nodes, and this the sample's
    record = [r for r in caplog.records if r.name == "tierflow.store"][-1]
    assert record.getMessage().startswith(
        f"{s.location}: the state store holds stock of {len(new_nodes)} nodes "
        "the network does not have ("
    )


def test_a_sku_new_at_a_node_the_store_knows_is_seeded(
    state_location: Path | str, tiny_network: Network, tmp_path: Path
) -> None:
    """Seeding was per node: a SKU added to a node the store already held
    stock of stayed "out of stock" there, silently. Now each (node, SKU)
    position the store has no row of is seeded; a position it has keeps its
    live stock."""
    with open_store(state_location) as s:
        assert s.seed_network_inventory(tiny_network) == 6
        s.reserve("r", [("TEE", 5)], "WH-EAST", ttl_s=60)
        s.commit("r")
        grown = tmp_path / "grown"
        shutil.copytree(TINY_NETWORK, grown)
        inventory = pd.read_csv(grown / "inventory.csv", dtype=str)
        stocked = set(zip(inventory["node_id"], inventory["sku"], strict=True))
        node, sku = next(
            (n, k)
            for n in tiny_network.node_ids
            for k in tiny_network.sku_ids
            if (n, k) not in stocked
        )
        extra = dict.fromkeys(inventory.columns, "")
        extra.update({"node_id": node, "sku": sku, "on_hand": "7"})
        pd.concat([inventory, pd.DataFrame([extra])]).to_csv(
            grown / "inventory.csv", index=False
        )
        assert s.seed_network_inventory(load_network(grown)) == 1
        frame = s.inventory_frame().set_index(["node_id", "sku"])
        assert frame.loc[(node, sku), "on_hand"] == 7
        assert frame.loc[("WH-EAST", "TEE"), "on_hand"] == 95


def test_available_by_sku_counts_stale_holds_as_free(store: StateStore) -> None:
    assert _avail(store, 0) == {("N1", "TEE"): 10, ("N1", "MUG"): 3, ("N2", "TEE"): 4}
    store.reserve("r", [("TEE", 4), ("MUG", 3)], "N1", ttl_s=10, now=0)
    assert _avail(store, 5) == {("N1", "TEE"): 6, ("N1", "MUG"): 0, ("N2", "TEE"): 4}
    assert _avail(store, 10) == {("N1", "TEE"): 10, ("N1", "MUG"): 3, ("N2", "TEE"): 4}


def test_checkout_facts_are_the_stock_and_score_reads_together(
    store: StateStore,
) -> None:
    """One call (one round trip on PostgreSQL) gives what the two reads
    give, lapsed holds added back and an unscored customer included."""
    scores = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "predicted_spend": [120.5, 3.0],
            "p_active": [0.9, 0.1],
            "segment": ["loyal", "lapsing"],
        }
    )
    store.put_cltv_scores(scores, as_of=dt.date(2026, 1, 4), model_version="v1")
    store.reserve("r", [("TEE", 4), ("MUG", 3)], "N1", ttl_s=10, now=0)
    for now in (5, 10):  # the hold live, then lapsed unswept
        for who in ("C1", "C9", None):
            facts = store.checkout_facts(["TEE", "MUG"], who, now=now)
            assert sorted(facts.stock) == sorted(
                store.available_by_sku(["TEE", "MUG"], now=now)
            )
            assert facts.score == (None if who is None else store.cltv_score(who))
    assert store.checkout_facts(["MUG"], "C1", now=5).stock == [("N1", "MUG", 0)]
    score = store.checkout_facts(["HAT"], "C1").score
    assert score is not None and (score.predicted_spend, score.segment) == (
        120.5,
        "loyal",
    )


def test_a_score_is_read_with_the_scores_version_it_is_of(store: StateStore) -> None:
    """The score's statement reads the scores' version too (no round trip
    more): what a reader holding a threshold of one version compares, for
    a scored customer, an unscored one, and before any score was stored."""
    empty = store.checkout_facts(["TEE"], "C1")
    first = store.cltv_version()
    assert (empty.score, empty.scores_version) == (None, first)
    assert store.checkout_facts(["TEE"]).scores_version is None  # not asked
    scores = pd.DataFrame(
        {"customer_id": ["C1"], "predicted_spend": [7.0], "p_active": [0.5],
         "segment": ["silver"]}
    )  # fmt: skip
    store.put_cltv_scores(scores, as_of=dt.date(2026, 1, 4), model_version="v1")
    version = store.cltv_version()
    assert version == first + 1
    facts = store.checkout_facts(["TEE"], "C1")
    assert facts.scores_version == version and facts.score == store.cltv_score("C1")
    assert store.cltv_versioned_score("C1") == (version, facts.score)
    assert store.cltv_versioned_score("C2") == (version, None)


def test_hold_confirm_and_orders(store: StateStore, tmp_path: Path) -> None:
    holds = [("N1", [("TEE", 2), ("MUG", 1)]), ("N2", [("TEE", 1)])]
    later = {**order_line("q1", "N2", "TEE", 1), "delivery_date": "2026-01-08"}
    order = [order_line("q1", "N1", "MUG", 1), later]
    held = store.hold_checkout("q1", "gold", holds, 60, order_lines=order, now=0)
    assert (held.status, held.expires_at, held.reservation_ids) == (
        "held",
        60.0,
        ("q1#1.0", "q1#1.1"),
    )
    again = store.hold_checkout("q1", "gold", holds, 60, order_lines=order, now=1)
    assert again.replayed and again.reservation_ids == held.reservation_ids
    assert _avail(store, 1)[("N1", "TEE")] == 8 and _avail(store, 1)[("N2", "TEE")] == 3
    done = store.confirm_checkout("q1", now=2)
    assert done.status == "confirmed" and not done.replayed
    assert store.confirm_checkout("q1", now=3).replayed
    inv = store.inventory_frame().set_index(["node_id", "sku"])
    assert inv.loc[("N1", "TEE")].tolist() == [8, 0]  # committed: left on_hand
    assert inv.loc[("N2", "TEE")].tolist() == [3, 0]
    orders = store.online_orders()
    assert orders[["order_id", "sku", "node_id", "quantity"]].values.tolist() == [
        ["q1", "MUG", "N1", 1],
        ["q1", "TEE", "N2", 1],
    ]
    assert orders["confirmed_at"].tolist() == [2.0, 2.0]
    assert store.online_orders(since=2.0).empty
    # the export is an orders.csv the allocator reads
    path = write_orders(orders, tmp_path / "orders.csv")
    back = read_orders(path)
    assert back.order_ids == ("q1",) and back.line_sku_id == ("MUG", "TEE")
    # the date shown at checkout (its last shipment's) is the order's promise
    assert back.promised_date is not None
    assert back.promised_date.tolist() == [dt.date(2026, 1, 8)]
    with pytest.raises(InputError, match=r"field 'request_id': value 'q1': checkout"):
        store.hold_checkout("q1", "silver", holds, 60, order_lines=order, now=4)
    with pytest.raises(InputError, match=r"confirmed, cannot cancel"):
        store.cancel_checkout("q1", now=4)
    assert store.check_consistency() == []


def test_a_hold_at_a_closed_node_is_not_confirmed(store: StateStore) -> None:
    """A confirm told the nodes closed now (an outage on the router's live
    map) refuses a hold that ships from one, under the checkout's lock and
    before anything changes: no order, no work on the closed node's backlog,
    the hold standing (a select swaps it, or it lapses). It was confirmed
    there: the order in ``online_orders`` at a node that cannot ship it,
    its work logged on the closed node's backlog."""
    order = [order_line("q", "N1", "MUG", 1), order_line("q", "N2", "TEE", 1)]
    holds = [("N1", [("MUG", 1)]), ("N2", [("TEE", 1)])]
    assert store.hold_checkout("q", "gold", holds, 60, order_lines=order, now=0).ok
    seq = store.last_event_seq()
    with pytest.raises(
        HeldAtClosedNode,
        match=r"^field 'request_id': value 'q': option 'gold' ships from N2, "
        r"which is closed$",
    ) as refused:
        store.confirm_checkout("q", now=1, closed_nodes=frozenset({"N9", "N2"}))
    assert (refused.value.option_id, refused.value.node_id) == ("gold", "N2")
    assert store.online_orders().empty
    assert store.events_after(seq) == []
    state = store.checkout_state("q", now=1)
    assert state is not None and state.status == "held"
    assert _avail(store, 1)[("N2", "TEE")] == 3  # still held
    # open again (or not among the held nodes): confirmed
    done = store.confirm_checkout("q", now=2, closed_nodes=frozenset({"N9"}))
    assert done.status == "confirmed"
    # a confirmed checkout answers as it was, whatever closed since
    again = store.confirm_checkout("q", now=3, closed_nodes=frozenset({"N2"}))
    assert again.status == "confirmed" and again.replayed
    assert store.online_orders()["node_id"].tolist() == ["N1", "N2"]
    assert store.check_consistency() == []


def test_swap_reject_cancel_and_expiry(store: StateStore) -> None:
    order = [order_line("q", "N1", "TEE", 3)]
    assert store.hold_checkout(
        "q", "gold", [("N1", [("TEE", 3)])], 60, order_lines=order, now=0
    ).ok
    # swapping to a plan that does not fit keeps the old hold
    big = store.hold_checkout(
        "q", "silver", [("N2", [("TEE", 9)])], 60, order_lines=order, now=1
    )
    assert big.status == "rejected" and big.shortfall == (("N2", "TEE", 9, 4),)
    state = store.checkout_state("q", now=1)
    assert state is not None and (state.option_id, state.status) == ("gold", "held")
    # a swap that fits releases the old hold in the same transaction
    swap = store.hold_checkout(
        "q", "silver", [("N2", [("TEE", 2)])], 60, order_lines=order, now=2
    )
    assert swap.ok and swap.reservation_ids == ("q#2.0",)
    assert (
        _avail(store, 2)[("N1", "TEE")] == 10 and _avail(store, 2)[("N2", "TEE")] == 2
    )
    assert store.cancel_checkout("q", now=3).status == "cancelled"
    assert store.cancel_checkout("q", now=4).replayed
    assert _avail(store, 4)[("N2", "TEE")] == 4
    with pytest.raises(InputError, match=r"checkout was cancelled"):
        store.confirm_checkout("q", now=5)
    # expiry: the stock comes back at once, confirming is refused
    store.hold_checkout(
        "e", "gold", [("N1", [("MUG", 3)])], 10, order_lines=order, now=0
    )
    assert _avail(store, 9)[("N1", "MUG")] == 0
    assert _avail(store, 10)[("N1", "MUG")] == 3
    state = store.checkout_state("e", now=10)
    assert state is not None and state.status == "expired"
    with pytest.raises(
        InputError, match=r"field 'request_id': value 'e': hold expired at"
    ):
        store.confirm_checkout("e", now=10)
    assert store.hold_checkout(
        "e", "gold", [("N1", [("MUG", 3)])], 10, order_lines=order, now=11
    ).ok
    assert store.expire_stale(now=30) == 1
    assert store.cancel_checkout("e", now=31).status == "expired"
    with pytest.raises(
        InputError, match=r"field 'request_id': value 'zz': unknown checkout"
    ):
        store.confirm_checkout("zz")
    assert store.check_consistency() == []


def test_confirm_and_cancel_check_the_customer_before_any_change(
    store: StateStore,
) -> None:
    """The customer is checked in the transaction that would change the
    checkout (no read of its own before it): another customer's confirm or
    cancel changes nothing, the checkout's own goes through."""
    order = [order_line("q", "N1", "TEE", 3)]
    assert store.hold_checkout(
        "q", "gold", [("N1", [("TEE", 3)])], 60, order_lines=order, now=0
    ).ok
    for act in (store.confirm_checkout, store.cancel_checkout):
        with pytest.raises(
            CustomerMismatch,
            match=r"^field 'customer_id': value 'C2': not the customer of this checkout$",
        ):
            act("q", now=1, customer_id="C2")
    state = store.checkout_state("q", now=1)
    assert state is not None and state.status == "held"
    assert _avail(store, 1)[("N1", "TEE")] == 7
    assert store.online_orders().empty
    done = store.confirm_checkout("q", now=2, customer_id="C1")
    assert done.status == "confirmed" and done.customer_id == "C1"
    with pytest.raises(CustomerMismatch):  # a replay is checked too
        store.confirm_checkout("q", now=3, customer_id="C2")
    assert store.confirm_checkout("q", now=3, customer_id="C1").replayed
    assert len(store.online_orders()) == 1
    for act in (store.confirm_checkout, store.cancel_checkout):
        with pytest.raises(UnknownCheckout, match=r"value 'zz': unknown checkout"):
            act("zz", customer_id="C1")
    assert store.check_consistency() == []


def test_a_hold_from_a_stale_or_closed_option_set_writes_nothing(
    store: StateStore,
) -> None:
    """``quote_revision`` is checked in the hold's transaction: another
    revision or a closed option set is ``QuoteChanged`` and nothing is held;
    an option set the store never kept is taken as the caller's."""
    order = [order_line("q", "N1", "TEE", 3)]
    store.put_quote("q", "C1", 1, "{}", ttl_s=60, now=0)
    assert store.hold_checkout(
        "q", "gold", [("N1", [("TEE", 3)])], 60, order_lines=order, now=1,
        quote_revision=1,
    ).ok  # fmt: skip
    store.put_quote("q", "C1", 2, "{}", ttl_s=60, now=2)  # requoted elsewhere
    with pytest.raises(QuoteChanged, match=r"^q: option set at revision 2, not 1$"):
        store.hold_checkout(
            "q", "silver", [("N2", [("TEE", 2)])], 60, order_lines=order, now=3,
            quote_revision=1,
        )  # fmt: skip
    state = store.checkout_state("q", now=3)
    assert state is not None and (state.option_id, state.status) == ("gold", "held")
    assert _avail(store, 3) == {("N1", "TEE"): 7, ("N1", "MUG"): 3, ("N2", "TEE"): 4}
    assert store.hold_checkout(
        "q", "silver", [("N2", [("TEE", 2)])], 60, order_lines=order, now=4,
        quote_revision=2,
    ).ok  # fmt: skip
    store.put_quote("c", "C1", 1, "{}", ttl_s=60, now=0)
    store.close_quote("c", HoldStatus.CANCELLED, now=5)
    with pytest.raises(QuoteChanged, match=r"^c: option set at revision 1, cancelled"):
        store.hold_checkout(
            "c", "gold", [("N1", [("TEE", 1)])], 60,
            order_lines=[order_line("c", "N1", "TEE", 1)], now=6, quote_revision=1,
        )  # fmt: skip
    assert store.checkout_state("c") is None
    assert store.hold_checkout(  # never stored: the caller's copy stands
        "n", "gold", [("N1", [("MUG", 1)])], 60,
        order_lines=[order_line("n", "N1", "MUG", 1)], now=6, quote_revision=1,
    ).ok  # fmt: skip
    assert store.check_consistency() == []


def test_a_confirm_gives_the_capacity_log_as_it_committed(
    store: StateStore,
) -> None:
    """``events_after``: the log after that seq as the confirm committed
    (another writer's event and the order's own work, in seq order), read
    with the commit; a replayed confirm and one not asking read nothing."""
    first = store.append_events(
        [{"event_id": "e1", "ts": "2026-01-05T10:00:00Z", "node_id": "N1",
          "type": "staffing", "value": 50}]
    )[0]  # fmt: skip
    assert first is not None
    store.append_events(
        [{"event_id": "e2", "ts": "2026-01-05T10:01:00Z", "node_id": "N2",
          "type": "staffing", "value": 40}]
    )  # fmt: skip
    for rid in ("q", "r"):
        line = {**order_line(rid, "N1", "TEE", 1), "workload": 2.5}
        assert store.hold_checkout(
            rid, "gold", [("N1", [("TEE", 1)])], 60, order_lines=[line], now=0
        ).ok
    done = store.confirm_checkout("q", now=1, events_after=first)
    assert done.status == "confirmed" and done.capacity_events is not None
    got = [(e.event_id, e.type, e.payload) for e in done.capacity_events]
    assert got == [
        ("e2", "staffing", {"value": 40}),
        ("checkout:q:N1", "backlog_delta", {"value": 2.5}),
    ]
    seqs = [e.seq for e in done.capacity_events]
    assert seqs == sorted(seqs) and seqs[0] > first
    assert [e.seq for e in store.events_after(first)] == seqs
    assert (
        store.confirm_checkout("q", now=2, events_after=first).capacity_events is None
    )
    assert store.confirm_checkout("r", now=2).capacity_events is None
    assert store.check_consistency() == []


def test_hold_counts(store: StateStore) -> None:
    """Per option and state: a live hold, a lapsed one, one cancelled after
    it lapsed (expired), one cancelled in time, one confirmed."""
    assert store.hold_counts(now=0) == {}
    for rid, option, ttl in (("a", "gold", 100), ("b", "gold", 10), ("c", "silver", 10),
                             ("d", "silver", 100), ("e", "overflow", 100)):  # fmt: skip
        order = [order_line(rid, "N1", "TEE", 1)]
        held = store.hold_checkout(
            rid, option, [("N1", [("TEE", 1)])], ttl, order_lines=order, now=0
        )
        assert held.ok
    store.cancel_checkout("c", now=20)  # after its hold lapsed at 10
    store.cancel_checkout("d", now=20)
    store.confirm_checkout("e", now=20)
    assert store.hold_counts(now=20) == {
        ("gold", "active"): 1,
        ("gold", "expired"): 1,
        ("silver", "expired"): 1,
        ("silver", "cancelled"): 1,
        ("overflow", "confirmed"): 1,
    }
    assert store.hold_counts(now=200)[("gold", "expired")] == 2


def test_prune_checkouts_finds_holds_however_their_reservations_are_named(
    store: StateStore, state_location: Path | str
) -> None:
    """A hold of more shipments than the cart has lines, and one of its
    reservations renamed behind the store's back: the prune finds every
    reservation of the ended checkout by what is stored, gives the lapsed
    (unswept) holds' stock back and leaves the live checkout's alone."""
    order = [order_line("wide", "N1", "TEE", 1)]
    three = [("N1", [("TEE", 1)]), ("N1", [("MUG", 1)]), ("N2", [("TEE", 1)])]
    assert store.hold_checkout("wide", "gold", three, 60, order_lines=order, now=0).ok
    columns = "node_id, status, created_at, expires_at, updated_at, checkout_id"
    run_sql(
        state_location,
        f"INSERT INTO reservations (request_id, {columns}) "
        f"SELECT 'held:wide/2', {columns} FROM reservations "
        "WHERE request_id = 'wide#1.2'",
        "UPDATE reservation_lines SET request_id = 'held:wide/2' "
        "WHERE request_id = 'wide#1.2'",
        "DELETE FROM reservations WHERE request_id = 'wide#1.2'",
    )
    one = [order_line("live", "N1", "TEE", 1)]
    assert store.hold_checkout(
        "live", "gold", [("N1", [("TEE", 1)])], 5000, order_lines=one, now=0
    ).ok

    def left(table: str) -> list[str]:
        rows = run_sql(state_location, f"SELECT request_id FROM {table}")
        return sorted(str(r[0]) for r in rows)

    assert left("reservations") == ["held:wide/2", "live#1.0", "wide#1.0", "wide#1.1"]
    assert store.prune_checkouts(now=1000, grace_s=100) == 1
    assert left("checkouts") == ["live"]
    assert left("reservations") == ["live#1.0"]
    assert left("reservation_lines") == ["live#1.0"]
    assert _avail(store, 1000) == {
        ("N1", "TEE"): 10 - 1,
        ("N1", "MUG"): 3,
        ("N2", "TEE"): 4,
    }
    assert store.check_consistency() == []


def test_migration_9_links_the_holds_before_it_to_their_checkouts(
    store: StateStore, state_location: Path | str
) -> None:
    """Reservations of holds taken before migration 9 get their checkout
    from their ids (a checkout id with its own ``#`` and digits included),
    a plain reservation none; the prune then deletes them."""
    for rid, attempts in (("a", 2), ("a#7", 1)):
        for t in range(attempts):  # a second select swaps the hold
            plan = [("N1", [("TEE", 1)]), ("N2", [("TEE", 1)])][: 2 - t]
            lines = [order_line(rid, "N1", "TEE", 1)]
            assert store.hold_checkout(
                rid, "gold", plan, 60, order_lines=lines, now=t
            ).ok
    assert store.reserve("a#spare", [("MUG", 1)], "N1", 60, now=0).ok  # plain
    store.close()
    downgrade_store(state_location, 8)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        rows = run_sql(
            state_location, "SELECT request_id, checkout_id FROM reservations"
        )
        assert sorted(rows, key=lambda r: str(r[0])) == [
            ("a#1.0", "a"),
            ("a#1.1", "a"),
            ("a#2.0", "a"),
            ("a#7#1.0", "a#7"),
            ("a#7#1.1", "a#7"),
            ("a#spare", None),
        ]
        assert s.prune_checkouts(now=1000, grace_s=100) == 2
        left = run_sql(state_location, "SELECT request_id FROM reservations")
        assert left == [("a#spare",)]
        assert s.check_consistency() == []


#: The checkouts by option and state as a scan of the table counts them (what
#: ``hold_counts`` read before the tally): the oracle of the tally.
_SCANNED_COUNTS = """SELECT option_id, CASE
    WHEN status = 'held' AND expires_at > {now} THEN 'active'
    WHEN status = 'held' OR (status = 'cancelled' AND expires_at <= updated_at)
    THEN 'expired' ELSE status END AS state, COUNT(*)
    FROM checkouts GROUP BY option_id, state"""


def _scanned(location: Path | str, now: float) -> dict[tuple[str, str], int]:
    rows = run_sql(location, _SCANNED_COUNTS.format(now=now))
    return {(str(o), str(s)): int(str(n)) for o, s, n in rows}


def test_hold_counts_follow_every_change_of_the_checkouts(
    store: StateStore, state_location: Path | str
) -> None:
    """Holds, swaps between options, a lapsed hold selected again, confirms,
    cancels in time and after the lapse, prunes, and a version 9 store
    counted as migration 10 upgrades it: at every step the counts are what
    a scan of the checkouts says."""
    _checkouts_of_every_ending(store)
    one = [("N1", [("TEE", 1)])]
    for rid, option, t in (("hop", "gold", 0), ("hop", "silver", 1), ("hop", "overflow", 2),
                           ("late", "gold", 0), ("late", "silver", 70)):  # fmt: skip
        lines = [order_line(rid, "N1", "TEE", 1)]
        assert store.hold_checkout(rid, option, one, 60, order_lines=lines, now=t).ok
    store.cancel_checkout("late", now=200)  # after its second hold lapsed
    steps = [0.5, 30, 61, 200, 5000]
    for now in steps:
        assert store.hold_counts(now=now) == _scanned(state_location, now), now
    assert store.hold_counts(now=200)[("silver", "expired")] == 1
    assert store.prune_checkouts(now=1000, grace_s=100, limit=3) == 3
    assert store.hold_counts(now=1000) == _scanned(state_location, 1000)
    assert store.check_consistency() == []
    store.close()
    downgrade_store(state_location, 9)
    with open_store(state_location) as s:
        for now in steps:
            assert s.hold_counts(now=now) == _scanned(state_location, now), now
        assert s.prune_checkouts(now=1000, grace_s=100) > 0
        assert s.hold_counts(now=1000) == _scanned(state_location, 1000)
        assert s.check_consistency() == []


#: Migration 10 as released (before commit 351cf37 gave ``hold_tally`` its
#: ``shard`` in place): what a store migrated to 10 by then holds. Data, not
#: the code's migration: that one has changed.
_RELEASED_MIGRATION_10 = (
    """CREATE TABLE hold_tally (
        option_id TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('held', 'confirmed', 'cancelled', 'lapsed')),
        n INTEGER NOT NULL,
        PRIMARY KEY (option_id, state)
    )""",
    """INSERT INTO hold_tally (option_id, state, n)
        SELECT option_id, state, COUNT(*) FROM (SELECT c.option_id,
            CASE WHEN c.status = 'cancelled'
                AND c.expires_at <= c.updated_at THEN 'lapsed'
                ELSE c.status END AS state FROM checkouts c) x
        GROUP BY option_id, state""",
    "CREATE INDEX checkouts_live ON checkouts (status, expires_at, option_id)",
)


def test_migration_12_repairs_the_tally_of_a_store_migrated_to_10_before_its_shard(
    store: StateStore, state_location: Path | str
) -> None:
    """A store migrated to version 10 before its ``hold_tally`` got ``shard``
    (and was then opened by 11, which never touched it) works once opened:
    every hold, confirm and cancel failed on it ("table hold_tally has no
    column named shard", PostgreSQL's UndefinedColumn)."""
    _checkouts_of_every_ending(store)
    store.close()
    downgrade_store(state_location, 9)
    run_sql(state_location, *_RELEASED_MIGRATION_10)
    set_schema_version(state_location, 10)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.check_consistency() == []
        for now in (0.5, 61, 5000):
            assert s.hold_counts(now=now) == _scanned(state_location, now), now
        one = [("N1", [("TEE", 1)])]
        for rid, option in (("a", "gold"), ("b", "gold"), ("c", "silver")):
            lines = [order_line(rid, "N1", "TEE", 1)]
            assert s.hold_checkout(rid, option, one, 60, order_lines=lines, now=10).ok
        assert s.hold_checkout(  # a swap
            "c", "gold", one, 60, order_lines=[order_line("c", "N1", "TEE", 1)], now=11
        ).ok
        assert s.confirm_checkout("a", now=12).status == HoldStatus.CONFIRMED
        assert s.cancel_checkout("b", now=13).status == HoldStatus.CANCELLED
        assert s.check_consistency() == []
        assert s.hold_counts(now=14) == _scanned(state_location, 14)
    # on a store that was right it changes no count
    with open_store(state_location) as s:
        before = s.hold_counts(now=14)
    downgrade_store(state_location, 11)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.hold_counts(now=14) == before
        assert s.check_consistency() == []


def test_hold_counts_read_no_scan_of_the_checkouts(
    store: StateStore, state_location: Path | str
) -> None:
    """``/metrics`` reads the tally and the live holds through
    ``checkouts_by_expiry`` (``checkouts_live`` before migration 14): its
    cost does not grow with the day's checkouts."""
    from tierflow.data.store.hold_tally import HOLD_COUNTS_SQL

    sql = HOLD_COUNTS_SQL.replace("?", "'held'", 1).replace("?", "0")
    if is_postgres_url(state_location):  # a tiny table: make a scan the dearest
        plan = run_sql(state_location, "SET enable_seqscan = off", f"EXPLAIN {sql}")
        text = "\n".join(str(r[0]) for r in plan)
        assert "checkouts_by_expiry" in text, text
        assert "Seq Scan on checkouts" not in text, text
    else:
        plan = run_sql(state_location, f"EXPLAIN QUERY PLAN {sql}")
        details = [str(r[-1]) for r in plan]
        assert any("checkouts_by_expiry" in d for d in details), details
        assert not any(d.startswith("SCAN checkouts") for d in details), details


def test_holds_of_other_checkouts_do_not_wait_on_an_open_tally_row(
    store: StateStore, state_location: Path | str
) -> None:
    """A transaction keeps the tally rows it moved locked until it commits
    (on PostgreSQL; SQLite has one writer anyway): with one row per state,
    every hold of the fleet waited for the hold before it to commit, WAL
    flush included. Here a transaction is left open on one checkout's tally
    row, and checkouts on the other shards hold and confirm at once."""
    if not is_postgres_url(state_location):
        pytest.skip("SQLite writes one transaction at a time")
    import psycopg

    from tierflow.data.store.hold_tally import tally_shard

    others = [f"c{k}" for k in range(40) if tally_shard(f"c{k}") != tally_shard("open")]
    assert len(others) >= 3  # one row per state: every checkout would wait
    one = [("N1", [("TEE", 1)])]
    url = str(state_location)
    impatient = f"{url}{'&' if '?' in url else '?'}options=-c%20lock_timeout%3D2000"
    with psycopg.connect(url) as conn:  # a checkout's transaction, left open
        conn.execute(
            "INSERT INTO hold_tally (option_id, state, shard, n) VALUES "
            "('gold', 'held', %s, 1) ON CONFLICT (option_id, state, shard) "
            "DO UPDATE SET n = hold_tally.n + excluded.n",
            (tally_shard("open"),),
        )
        with open_store(impatient) as other:  # waits 2 s on a lock, then fails
            for rid in others[:3]:
                lines = [order_line(rid, "N1", "TEE", 1)]
                assert other.hold_checkout(
                    rid, "gold", one, 60, order_lines=lines, now=3.0
                ).ok
                assert other.confirm_checkout(rid, now=4.0).ok
        conn.rollback()
    assert store.check_consistency() == []


def test_bid_prices_round_trip_and_validation(store: StateStore) -> None:
    assert store.latest_bid_prices() is None and store.latest_bid_price_run() is None
    when = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    store.put_bid_prices({"N1": 0.5, "N2": 0}, as_of=when, source="lp test")
    store.put_bid_prices(
        {"N1": 0.25}, as_of=when + dt.timedelta(hours=1), source="lp 2"
    )
    run = store.latest_bid_price_run()
    assert run is not None and (run.source, run.prices) == ("lp 2", {"N1": 0.25})
    assert run.as_of == when + dt.timedelta(hours=1)
    for bad, match in (
        ({"N1": -1.0}, r"field 'prices': index N1: value -1\.0: must be a finite"),
        ({"N1": float("nan")}, r"index N1: value nan: must be a finite"),
        ({"": 1.0}, r"field 'prices': value '': empty node id"),
        ({"N1": "x"}, r"index N1: value 'x': not a number"),
    ):
        with pytest.raises(InputError, match=match):
            store.put_bid_prices(bad, as_of=when, source="bad")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"field 'as_of'"):
        store.put_bid_prices({"N1": 1.0}, as_of=dt.datetime(2026, 1, 5), source="x")
    assert store.latest_bid_prices() == {"N1": 0.25}  # nothing bad was written


def _checkouts_of_every_ending(store: StateStore) -> None:
    """A live hold, one that outlives the grace; holds lapsed, noted (an
    upgrade never confirmed), confirmed, cancelled, swapped (attempt 1's two
    holds released) and confirmed, charged (an upgrade confirmed) and one
    whose quote is kept: 13 reservations."""
    two = [("N1", [("MUG", 1)]), ("N2", [("TEE", 1)])]
    one = [("N1", [("TEE", 1)])]
    note = UpgradeNote("platinum", "C1", 5.0, 900.0)

    def hold(
        rid: str, plan: Any, t: float, ttl: float = 60, option: str = "gold", **kw: Any
    ) -> None:
        lines = [order_line(rid, "N1", "MUG", 1), order_line(rid, "N2", "TEE", 1)]
        assert store.hold_checkout(
            rid, option, plan, ttl, order_lines=lines, now=t, **kw
        ).ok

    hold("live", one, 950)  # first: the holds after it sweep nothing
    hold("long", one, 50, ttl=10_000)
    hold("lapsed", two, 0)
    hold("noted", one, 0, upgrade=note)
    hold("confirmed", two, 0)
    store.confirm_checkout("confirmed", now=1)
    hold("cancelled", one, 0)
    store.cancel_checkout("cancelled", now=1)
    hold("swapped", two, 0)
    hold("swapped", one, 1)
    store.confirm_checkout("swapped", now=2)
    hold("charged", one, 0, option="platinum", upgrade=note)
    store.confirm_checkout("charged", now=1)
    hold("quoted", one, 0)
    store.put_quote("quoted", "C1", 1, "{}", ttl_s=1800, now=0)


def test_prune_checkouts_deletes_what_ended_checkouts_left(
    store: StateStore, state_location: Path | str
) -> None:
    """A checkout's row, the reservations of every hold it took (each
    attempt's, every shipment's) with their lines and an upgrade note never
    charged go once its hold expired and its quote is gone, a grace after;
    the orders, a charged upgrade, a live hold and a checkout whose quote is
    still kept stay. A lapsed hold no write swept yet gives its stock back
    as it goes."""
    _checkouts_of_every_ending(store)

    def left(table: str) -> list[str]:
        rows = run_sql(state_location, f"SELECT request_id FROM {table}")
        return sorted(str(r[0]) for r in rows)

    assert len(left("reservations")) == 13
    assert store.prune_checkouts(now=80, grace_s=100) == 0  # in the grace
    assert store.prune_checkouts(now=1000, grace_s=100, limit=2) == 2
    assert store.prune_checkouts(now=1000, grace_s=100) == 4
    assert store.prune_checkouts(now=1000, grace_s=100) == 0
    assert left("checkouts") == ["live", "long", "quoted"]
    assert store.check_consistency() == []  # lapsed holds' stock given back
    assert store.prune_quotes(now=1900) == 1
    assert store.prune_checkouts(now=1000, grace_s=100) == 1  # quoted
    assert left("checkouts") == ["live", "long"]
    assert left("reservations") == ["live#1.0", "long#1.0"]
    assert left("reservation_lines") == ["live#1.0", "long#1.0"]
    assert left("upgrades") == ["charged"]
    orders = store.online_orders()["order_id"].tolist()
    assert sorted(orders) == sorted(2 * ["charged", "confirmed", "swapped"])
    with pytest.raises(UnknownCheckout):
        store.confirm_checkout("confirmed", now=1001)
    assert _avail(store, 1000)[("N1", "TEE")] == 10 - 2 - 2  # orders; live, long
    assert store.check_consistency() == []


def test_a_sweep_gives_back_every_lapsed_hold_once(store: StateStore) -> None:
    """Lapsed holds of several lines, nodes and checkouts (two on one stock
    row) come back whole from one sweep: their lines are read together and
    the stock rows updated once each, in (node, sku) order."""
    holds = {
        "c1": [("N1", [("TEE", 2), ("MUG", 1)]), ("N2", [("TEE", 1)])],
        "c2": [("N2", [("TEE", 2)]), ("N1", [("TEE", 3)])],
    }
    for rid, hold in holds.items():
        lines = [order_line(rid, n, s, q) for n, skus in hold for s, q in skus]
        assert store.hold_checkout(rid, "a", hold, 5, order_lines=lines, now=0).ok
    assert _avail(store, 1) == {("N1", "TEE"): 5, ("N1", "MUG"): 2, ("N2", "TEE"): 1}
    assert store.expire_stale(now=10) == 4  # two reservations each
    assert store.expire_stale(now=11) == 0  # given back once
    assert _avail(store, 11) == {("N1", "TEE"): 10, ("N1", "MUG"): 3, ("N2", "TEE"): 4}
    frame = store.inventory_frame()
    assert frame["reserved"].sum() == 0
    assert store.check_consistency() == []


def test_a_confirm_finds_holds_stored_without_their_checkout_id(
    store: StateStore,
) -> None:
    """A confirm reads its checkout's live holds by ``checkout_id`` with the
    checkout's row (one round trip); a hold whose reservations lack it (a
    store's rows from before migration 9 that it could not attribute) is
    read again by the row's reservation ids, and confirmed as before."""
    hold = [("N1", [("MUG", 2)]), ("N2", [("TEE", 1)])]
    lines = [order_line("c1", n, s, q) for n, skus in hold for s, q in skus]
    assert store.hold_checkout("c1", "a", hold, 60, order_lines=lines, now=0).ok
    store._db.write("UPDATE reservations SET checkout_id = NULL")  # type: ignore[attr-defined]
    assert store.confirm_checkout("c1", now=1).status == "confirmed"
    frame = store.inventory_frame().set_index(["node_id", "sku"])
    assert frame.loc[("N1", "MUG"), "on_hand"] == 1
    assert frame.loc[("N2", "TEE"), "on_hand"] == 3
    assert frame["reserved"].sum() == 0
    assert store.check_consistency() == []


class _OlderStore(DatabaseStore):
    """A store on a database migrated only as far as its ``Database`` says."""

    def reopen(
        self,
        *,
        connection_wait_s: float | None = None,
        answer_wait_s: float | None = None,
    ) -> Self:
        raise NotImplementedError("a test's store of an older schema")


def _store_at(location: Path | str, version: int) -> DatabaseStore:
    """A store migrated to ``version`` only (as an older tierflow left it)."""
    if is_postgres_url(location):
        db: Any = PostgresDatabase(str(location), POSTGRES_MIGRATIONS[:version])
    else:
        db = SqliteDatabase(Path(location), MIGRATIONS[:version])
    return _OlderStore(db)


def _kept(store: StateStore, now: float) -> dict[str, Any]:
    """What the checkouts left in a store, as its reads give it back."""
    ids = ["live", "long", "lapsed", "noted", "confirmed", "cancelled", "swapped"]
    return {
        "stock": store.inventory_frame().to_dict("records"),
        "available": sorted(store.available_by_sku(["TEE", "MUG"], now=now)),
        "holds": store.hold_counts(now=now),
        "checkouts": [store.checkout_state(rid, now=now) for rid in ids],
        "orders": store.online_orders().to_dict("records"),
        "quote": store.get_quote("quoted"),
    }


#: The indexes of the tables a checkout call writes, after migration 14:
#: SQLite keeps ``inventory``, ``reservations``, their lines, the orders and
#: the tally as the b-trees of their primary keys (no index of the key), the
#: stock by SKU (the order the checkout reads it in).
_INDEXES_14 = {
    "sqlite": {
        ("checkouts", "checkouts_by_expiry"),
        ("checkouts", "sqlite_autoindex_checkouts_1"),
        ("online_orders", "online_orders_by_time"),
        ("quotes", "quotes_by_expiry"),
        ("quotes", "sqlite_autoindex_quotes_1"),
        ("reservations", "reservations_by_checkout"),
        ("reservations", "reservations_live"),
    },
    "postgres": {
        ("checkouts", "checkouts_by_expiry"),
        ("checkouts", "checkouts_pkey"),
        ("hold_tally", "hold_tally_pkey"),
        ("inventory", "inventory_by_sku"),
        ("inventory", "inventory_pkey"),
        ("online_orders", "online_orders_by_time"),
        ("online_orders", "online_orders_pkey"),
        ("quotes", "quotes_by_expiry"),
        ("quotes", "quotes_pkey"),
        ("reservation_lines", "reservation_lines_pkey"),
        ("reservations", "reservations_by_checkout"),
        ("reservations", "reservations_live"),
        ("reservations", "reservations_pkey"),
    },
}
#: Indexes of the checkout tables later migrations added (migration 20: the
#: option sets asked with an ``Idempotency-Key``, a partial unique index).
_INDEXES_AFTER_14 = {("quotes", "quotes_by_key")}
_CHECKOUT_TABLES = (
    "inventory", "reservations", "reservation_lines", "checkouts", "quotes",
    "online_orders", "hold_tally",
)  # fmt: skip


def _indexes(location: Path | str) -> set[tuple[str, str]]:
    tables = ", ".join(f"'{t}'" for t in _CHECKOUT_TABLES)
    if is_postgres_url(location):
        query = (
            "SELECT tablename, indexname FROM pg_indexes "
            f"WHERE schemaname = current_schema() AND tablename IN ({tables})"
        )
    else:
        query = (
            "SELECT tbl_name, name FROM sqlite_master "
            f"WHERE type = 'index' AND tbl_name IN ({tables})"
        )
    return {(str(t), str(i)) for t, i in run_sql(location, query)}


def test_migration_14_keeps_every_checkout_with_fewer_indexes_to_write(
    state_location: Path | str,
) -> None:
    """Migration 14 (fewer pages written per checkout call: every table a
    checkout writes without a separate index of its key on SQLite, the stock
    kept by SKU, the live reservations a partial index, one index of the
    checkouts by expiry) keeps every row of a store of version 13: the same
    stock, holds, counts, orders and quotes, and the store works on."""
    with _store_at(state_location, 13) as old:
        _stock(old, [("N1", "TEE", 10), ("N1", "MUG", 3), ("N2", "TEE", 4)])
        _checkouts_of_every_ending(old)
        before = _kept(old, 960)
    backend = "postgres" if is_postgres_url(state_location) else "sqlite"
    assert _indexes(state_location) != _INDEXES_14[backend]
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.check_consistency() == []
        assert _kept(s, 960) == before
        one = [("N1", [("TEE", 1)])]
        lines = [order_line("after", "N1", "TEE", 1)]
        assert s.hold_checkout("after", "gold", one, 60, order_lines=lines, now=970).ok
        assert s.confirm_checkout("after", now=971).status == HoldStatus.CONFIRMED
        assert s.cancel_checkout("live", now=972).status == HoldStatus.CANCELLED
        assert s.check_consistency() == []
        assert s.hold_counts(now=973) == _scanned(state_location, 973)
    assert _indexes(state_location) == _INDEXES_14[backend] | _INDEXES_AFTER_14
    if backend == "sqlite":
        rowid = run_sql(
            state_location,
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            f"AND name IN ({', '.join(repr(t) for t in _CHECKOUT_TABLES)}) "
            "AND sql NOT LIKE '%WITHOUT ROWID'",
        )
        assert sorted(rowid) == [("checkouts",), ("quotes",)]


def test_the_checkout_reads_of_sqlite_find_their_rows_by_index(tmp_path: Path) -> None:
    """As the code sends them, parameters bound: the cart's stock from the
    table by SKU (its key since migration 14) and the lapsed-hold probe from
    the partial index of live reservations (a bound status could not use
    it: the statement names ``'active'`` as the index does), a confirm's
    live holds by their checkout."""
    SqliteStore(tmp_path / "s.db").close()
    live = Ledger(cast(Transaction, SqliteTransaction), 5.0).live_of_checkout("c")
    with closing(sqlite3.connect(tmp_path / "s.db")) as db:

        def plan(sql: str, args: Sequence[Any]) -> list[str]:
            return [str(r[3]) for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", args)]

        assert plan(*stock_query(["TEE", "MUG"], 5.0)) == [
            "SEARCH inventory USING PRIMARY KEY (sku=?)",
            "SCALAR SUBQUERY 1",
            "SEARCH reservations USING INDEX reservations_live (expires_at<?)",
        ]
        assert plan(*live)[:2] == [
            "SEARCH r USING INDEX reservations_by_checkout (checkout_id=?)",
            "SEARCH l USING PRIMARY KEY (request_id=?)",
        ]


def test_migration_14_copies_each_table_in_the_order_of_its_new_key(
    tmp_path: Path,
) -> None:
    """SQLite: migration 14 reads each table it rebuilds ``WITHOUT ROWID``
    through an index in the order of the new key (no sort, no scan in
    rowid order), so every row is appended to the new b-tree. Copied in
    rowid order (the orders by time under random ids, the stock by node
    where the new key is by SKU) each row went to a random page of a table
    larger than the page cache: QA's store of 5.3 million order lines (some
    40 days of the sample mix: ``online_orders`` is kept for good) took
    185 s to migrate, holding the write lock every other process gives up
    on after 60 s."""
    location = tmp_path / "state.db"
    _store_at(location, 13).close()
    plans = {}
    with closing(sqlite3.connect(location, isolation_level=None)) as db:
        db.execute("BEGIN")
        for statement in MIGRATIONS[13]:
            if statement.startswith("INSERT"):
                table = statement.split()[2]
                plan = db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
                plans[table] = [str(row[-1]) for row in plan]
            db.execute(statement)
        db.execute("ROLLBACK")
    assert plans == {
        "inventory_v14": ["SCAN inventory USING COVERING INDEX inventory_by_sku"],
        "reservations_v14": [
            "SCAN reservations USING INDEX sqlite_autoindex_reservations_1"
        ],
        "reservation_lines_v14": [
            "SCAN reservation_lines USING INDEX sqlite_autoindex_reservation_lines_1"
        ],
        "online_orders_v14": [
            "SCAN online_orders USING INDEX sqlite_autoindex_online_orders_1"
        ],
        "hold_tally_v14": ["SCAN hold_tally USING INDEX sqlite_autoindex_hold_tally_1"],
    }
