"""Open option sets: kept for their TTL, at most ``max_open``, oldest first."""

from __future__ import annotations

import time

import pytest

from tests.conftest import TINY_NETWORK
from tests.service_fixtures import MONDAY_10
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.orchestration.checkout.quotes import QuoteBook
from tierflow.orchestration.checkout.request import RequestValidator
from tierflow.orchestration.checkout.results import CustomerValue, OptionSet

_REQ = RequestValidator(load_network(TINY_NETWORK)).parse(
    "C1", [("TEE", 1)], "606", None, MONDAY_10
)


def _answer(request_id: str) -> OptionSet:
    return OptionSet(
        request_id=request_id,
        revision=1,
        customer=CustomerValue("C1", 0.0, "new", "prior", None, False),
        dest="606",
        items=(),
        created_at=MONDAY_10,
        options=(),
        missing={},
        bid_prices="none",
        capacity_as_of=None,
        degraded=False,
        notes=(),
    )


def test_remember_get_pop() -> None:
    book = QuoteBook(60.0, 10)
    book.remember(_REQ, _answer("a"), {})
    book.remember(_REQ, _answer("b"), {})
    assert book.ids() == ["a", "b"] and "a" in book
    assert book.get("a").answer.request_id == "a"
    book.remember(_REQ, _answer("a"), {})  # a requote moves it to the end
    assert book.ids() == ["b", "a"]
    assert book.nodes_of("a", "gold") == () and book.nodes_of("x", "gold") == ()
    assert book.pop("b") is not None and book.pop("b") is None
    with pytest.raises(InputError, match=r"^field 'request_id': value 'b': unknown"):
        book.get("b")


def test_oldest_dropped_beyond_the_cap() -> None:
    book = QuoteBook(60.0, 2)
    for request_id in "abc":
        book.remember(_REQ, _answer(request_id), {})
    assert book.ids() == ["b", "c"]


def test_expired_quotes() -> None:
    book = QuoteBook(1e-6, 10)
    book.remember(_REQ, _answer("a"), {})
    time.sleep(1e-3)
    with pytest.raises(InputError, match=r"options expired .*generate them again"):
        book.get("a")
    assert book.ids() == []
    book.remember(_REQ, _answer("b"), {})
    time.sleep(1e-3)
    book.remember(_REQ, _answer("c"), {})  # drops the expired ones first
    assert book.ids() == ["c"]
