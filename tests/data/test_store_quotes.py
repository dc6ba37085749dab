"""The store's quotes (any replica reads what another offered), the work a
confirmed checkout logs to the capacity log, and checkout answers that read
the same however often they are repeated; on both backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.postgres import downgrade_store
from tierflow.data.errors import InputError
from tierflow.data.store import (
    SCHEMA_VERSION,
    CustomerMismatch,
    QuoteChanged,
    StateStore,
    UnknownCheckout,
    open_store,
)
from tierflow.data.vocabulary import HoldStatus


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    with open_store(state_location) as s:
        s.upsert_inventory(
            pd.DataFrame(
                {
                    "node_id": ["N1", "N2", "N1"],
                    "sku": ["TEE", "SPRAY", "MUG"],
                    "on_hand": [5, 5, 5],
                }
            )
        )
        yield s


def _line(node: str, qty: int, work: float | None, sku: str = "TEE") -> dict[str, Any]:
    line: dict[str, Any] = {
        "order_id": "r", "created_at": "2026-01-05T15:00:00Z", "customer_id": "C1",
        "dest": "606", "tier": "gold", "sku": sku, "quantity": qty,
        "node_id": node, "service": "ground", "ship_date": "2026-01-05",
        "delivery_date": "2026-01-06",
    }  # fmt: skip
    if work is not None:
        line["workload"] = work
    return line


def test_quotes_put_get_close_prune(store: StateStore, state_location: Path) -> None:
    store.put_quote("q1", "C1", 1, '{"a": 1}', ttl_s=60, now=1000.0)
    with open_store(state_location) as other:  # another replica
        seen = other.get_quote("q1")
        assert seen is not None
        assert (seen.customer_id, seen.revision, seen.body, seen.closed) == (
            "C1", 1, '{"a": 1}', None,
        )  # fmt: skip
        assert (seen.created_at, seen.expires_at) == (1000.0, 1060.0)
        other.put_quote("q1", "C1", 2, '{"a": 2}', ttl_s=60, now=1010.0)
        other.put_quote("q1", "C1", 2, '{"a": 3}', ttl_s=60, now=1011.0)  # not newer
    again = store.get_quote("q1")
    assert again is not None
    assert (again.revision, again.body, again.expires_at) == (2, '{"a": 2}', 1060.0)
    store.close_quote("q1", HoldStatus.CANCELLED)
    store.close_quote("q1", HoldStatus.CONFIRMED)  # the first ending stays
    store.put_quote("q1", "C1", 3, "{}", ttl_s=60)  # a closed quote stays closed
    closed = store.get_quote("q1")
    assert closed is not None and (closed.closed, closed.revision) == (
        HoldStatus.CANCELLED,
        2,
    )
    with pytest.raises(InputError, match="must be confirmed or cancelled"):
        store.close_quote("q1", HoldStatus.HELD)
    assert store.get_quote("nope") is None
    assert store.prune_quotes(now=1059.0) == 0
    assert store.prune_quotes(now=1061.0) == 1 and store.get_quote("q1") is None


def test_confirm_logs_each_nodes_work_once(store: StateStore) -> None:
    lines = [
        _line("N1", 2, 1.5),
        _line("N2", 1, 0.75, "SPRAY"),
        _line("N1", 1, 0.5, "MUG"),
    ]
    holds = [("N1", [("TEE", 2), ("MUG", 1)]), ("N2", [("SPRAY", 1)])]
    held = store.hold_checkout("r", "gold", holds, 60, order_lines=lines, now=1000.0)
    assert (held.nodes, held.customer_id) == (("N1", "N2"), "C1")
    before = store.last_event_seq()
    done = store.confirm_checkout("r", now=1010.0)
    assert done.nodes == ("N1", "N2")
    events = store.events_after(before)
    assert [(e.event_id, e.node_id, e.type, e.payload) for e in events] == [
        ("checkout:r:N1", "N1", "backlog_delta", {"value": 2.0}),
        ("checkout:r:N2", "N2", "backlog_delta", {"value": 0.75}),
    ]
    assert events[0].ts == "1970-01-01T00:16:50+00:00"
    assert store.confirm_checkout("r", now=1020.0) == dataclasses.replace(
        done, replayed=True
    )
    assert store.last_event_seq() == events[-1].seq  # nothing logged again


def test_lines_without_work_log_nothing(store: StateStore) -> None:
    store.hold_checkout(
        "r", "gold", [("N1", [("TEE", 1)])], 60, order_lines=[_line("N1", 1, None)]
    )
    before = store.last_event_seq()
    store.confirm_checkout("r")
    assert store.last_event_seq() == before


@pytest.mark.parametrize(
    ("cancel_at", "status"), [(1010.0, "cancelled"), (1100.0, "expired")]
)
def test_a_repeated_cancel_answers_as_the_first(
    store: StateStore, cancel_at: float, status: str
) -> None:
    store.hold_checkout(
        "r", "gold", [("N1", [("TEE", 1)])], 60,
        order_lines=[_line("N1", 1, 1.0)], now=1000.0,
    )  # fmt: skip
    first = store.cancel_checkout("r", now=cancel_at)
    second = store.cancel_checkout("r", now=cancel_at + 500)
    assert (first.status, first.nodes) == (status, ("N1",))
    assert second == dataclasses.replace(first, replayed=True)
    assert store.checkout_state("r") == second


def test_a_cancel_before_any_select_closes_the_option_set_under_its_lock(
    store: StateStore, state_location: Path
) -> None:
    """A never-selected checkout's cancel closes its stored option set in
    the transaction and lock a select takes: another replica's select after
    it finds the set closed and holds nothing. The set was closed in a later
    step, so a select and confirm in between placed an order the cancel had
    answered ``cancelled`` (a QA race on two PostgreSQL replicas: 5 of 20)."""
    store.put_quote("r", "C1", 1, "{}", ttl_s=60, now=1000.0)
    with pytest.raises(CustomerMismatch):
        store.cancel_checkout("r", now=1001.0, customer_id="C2")
    stored = store.get_quote("r")
    assert stored is not None and stored.closed is None  # refused: unchanged
    with pytest.raises(UnknownCheckout) as first:
        store.cancel_checkout("r", now=1001.0, customer_id="C1")
    assert first.value.quote_cancelled
    with open_store(state_location) as other, pytest.raises(QuoteChanged):
        other.hold_checkout(
            "r", "gold", [("N1", [("TEE", 1)])], 60,
            order_lines=[_line("N1", 1, 1.0)], now=1002.0, quote_revision=1,
        )  # fmt: skip
    assert store.inventory_frame()["reserved"].sum() == 0
    stored = store.get_quote("r")
    assert stored is not None and stored.closed is HoldStatus.CANCELLED
    with pytest.raises(UnknownCheckout) as again:  # closed already: not by this one
        store.cancel_checkout("r", now=1003.0)
    assert not again.value.quote_cancelled
    with pytest.raises(UnknownCheckout) as unknown:  # no option set stored
        store.cancel_checkout("zz", now=1003.0)
    assert not unknown.value.quote_cancelled


def test_migration_6_adds_quotes_to_a_version_5_store(
    state_location: Path | str,
) -> None:
    open_store(state_location).close()
    downgrade_store(state_location, 5)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        s.put_quote("q1", "C1", 1, "{}", ttl_s=60.0, now=1000.0)
        assert s.get_quote("q1") is not None


def test_a_key_holds_one_quote_until_it_is_pruned(
    store: StateStore, state_location: Path | str
) -> None:
    """The first answer under a key is kept, with its digest; another
    under the same key is not (the unique index decides, whichever replica
    writes it); a quote without a key takes none. The key goes when its
    quote is pruned, and is free again."""
    assert store.put_keyed_quote(
        "q1", "C1", '{"a": 1}', key="k1", digest="d1", ttl_s=60, now=1000.0
    )
    with open_store(state_location) as other:  # another replica
        assert not other.put_keyed_quote(
            "q2", "C1", '{"a": 2}', key="k1", digest="d2", ttl_s=60, now=1001.0
        )
        kept = other.quote_for_key("k1")
    assert store.get_quote("q2") is None
    assert kept is not None
    assert (kept.digest, kept.quote.request_id, kept.quote.body) == (
        "d1",
        "q1",
        '{"a": 1}',
    )
    assert (kept.quote.revision, kept.quote.expires_at) == (1, 1060.0)
    store.put_quote("q3", "C1", 1, "{}", ttl_s=60, now=1000.0)
    store.put_quote("q4", "C1", 1, "{}", ttl_s=60, now=1000.0)  # no key: no conflict
    assert store.quote_for_key("k2") is None
    assert store.prune_quotes(now=1061.0) == 3
    assert store.quote_for_key("k1") is None
    assert store.put_keyed_quote(
        "q5", "C2", "{}", key="k1", digest="d5", ttl_s=60, now=1062.0
    )


def _renew(s: StateStore, rid: str, renews: str, key: str, now: float) -> bool:
    """A new answer ``rid`` under ``key`` (digest ``d``, 60 s) taking the
    key from ``renews``."""
    return s.put_keyed_quote(
        rid, "C1", f'{{"id": "{rid}"}}', key=key, digest="d", ttl_s=60, now=now,
        renews=renews,
    )  # fmt: skip


def test_a_key_moves_from_its_expired_open_quote_once(
    store: StateStore, state_location: Path | str
) -> None:
    """``renews``: a new answer takes the key from its open quote once that
    expired, in one transaction; only one of two retries does (the second
    finds the key gone), nothing before the expiry, nothing from a closed
    quote. The expired quote stays, body and all."""
    assert store.put_keyed_quote(
        "q1", "C1", '{"a": 1}', key="k1", digest="d", ttl_s=60, now=1000.0
    )
    assert not _renew(store, "q2", "q1", "k1", now=1059.0)  # not expired yet
    assert store.get_quote("q2") is None
    assert _renew(store, "q2", "q1", "k1", now=1061.0)
    with open_store(state_location) as other:  # another replica, a moment later
        assert not _renew(other, "q3", "q1", "k1", now=1061.5)
    kept = store.quote_for_key("k1")
    assert kept is not None
    assert (kept.digest, kept.quote.request_id, kept.quote.expires_at) == (
        "d",
        "q2",
        1121.0,
    )
    old = store.get_quote("q1")
    assert old is not None and (old.body, old.expires_at) == ('{"a": 1}', 1060.0)
    assert store.get_quote("q3") is None
    assert store.put_keyed_quote(
        "q4", "C1", "{}", key="k2", digest="d", ttl_s=60, now=1000.0
    )
    store.close_quote("q4", HoldStatus.CONFIRMED, now=1010.0)
    assert not _renew(store, "q5", "q4", "k2", now=1061.0)
    kept = store.quote_for_key("k2")
    assert kept is not None and kept.quote.request_id == "q4"


def test_migration_20_adds_the_key_to_a_version_19_store(
    state_location: Path | str,
) -> None:
    """Quotes stored before migration 20 keep working and take no key;
    a keyed one is kept after it."""
    open_store(state_location).close()
    downgrade_store(state_location, 19)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        s.put_quote("q1", "C1", 1, "{}", ttl_s=60.0, now=1000.0)
    downgrade_store(state_location, 19)  # q1 stays, stored before the key
    with open_store(state_location) as s:
        assert s.get_quote("q1") is not None
        assert s.put_keyed_quote(
            "q2", "C1", "{}", key="k", digest="d", ttl_s=60.0, now=1000.0
        )
        assert not s.put_keyed_quote(
            "q3", "C1", "{}", key="k", digest="d", ttl_s=60.0, now=1000.0
        )
        found = s.quote_for_key("k")
        assert found is not None and found.quote.request_id == "q2"
