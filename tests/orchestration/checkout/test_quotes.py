"""Open option sets: kept for their TTL in the store (any replica reads them)
and cached (at most ``max_open``, oldest first)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from pathlib import Path

import pytest

from tests.conftest import TINY_NETWORK
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.data.store import open_store
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.formulations.tiers import Pricing
from tierflow.orchestration.checkout.planner import PlannedShipment
from tierflow.orchestration.checkout.quotes import KeyTaken, Lapsed, QuoteBook
from tierflow.orchestration.checkout.request import RequestValidator
from tierflow.orchestration.checkout.results import (
    CustomerValue,
    FulfillmentOption,
    OptionSet,
)

_VALIDATOR = RequestValidator(load_network(TINY_NETWORK))
_REQ = _VALIDATOR.parse("C1", [("TEE", 1)], "606", {"speed": 2.0}, MONDAY_10)
_SHIP = PlannedShipment(2, (0,), 1, 20458, 20459, 1, 8.0, 2.0, 0.0, 1.5, 0.4)


def _answer(request_id: str, revision: int = 1) -> OptionSet:
    gold = FulfillmentOption(
        "gold", Tier.GOLD, "Standard shipping", ("ST-CHI",), "ground",
        MONDAY_10.date(), MONDAY_10.date(), False, 10.0, 10.0, 0.0, 0.0, 0.5,
        False, 1.0, "", (),
    )  # fmt: skip
    return OptionSet(
        request_id=request_id,
        revision=revision,
        customer=CustomerValue("C1", 10.0, "silver", "scores", 90.0, False),
        dest="606",
        items=(),
        created_at=MONDAY_10,
        options=(gold,),
        missing={},
        bid_prices="none",
        capacity_as_of=None,
        degraded=False,
        notes=(),
    )


def test_remember_get_close() -> None:
    book = QuoteBook(60.0, 10)  # no store: each new answer's id is marked
    a = book.remember(_REQ, _answer("a"), {Tier.GOLD: (_SHIP,)})
    b = book.remember(_REQ, _answer("b"), {})
    assert re.fullmatch(r"a_[0-9]+", a) and re.fullmatch(r"b_[0-9]+", b)
    assert book.ids() == [a, b] and a in book and "a" not in book
    quote = book.get(a)
    assert quote.option("gold").nodes == ("ST-CHI",)
    assert quote.plans[Tier.GOLD] == (_SHIP,)
    with pytest.raises(InputError, match=r"field 'option_id'.*one of \['gold'\]"):
        quote.option("platinum")
    # a requote keeps its id and moves it to the end
    assert book.remember(_REQ, _answer(a, 2), {}) == a
    assert book.ids() == [b, a] and book.get(a).revision == 2
    book.close(b, HoldStatus.CANCELLED)
    with pytest.raises(
        InputError, match=rf"^field 'request_id': value '{b}': checkout "
    ):
        book.get(b)
    with pytest.raises(InputError, match=r"^field 'request_id': value 'x': unknown"):
        book.get("x")


def test_oldest_dropped_beyond_the_cap() -> None:
    book = QuoteBook(60.0, 2)
    kept = [book.remember(_REQ, _answer(request_id), {}) for request_id in "abc"]
    assert book.ids() == kept[1:]


def test_expired_quotes() -> None:
    book = QuoteBook(1e-6, 10)
    a = book.remember(_REQ, _answer("a"), {})
    time.sleep(1e-3)
    with pytest.raises(InputError, match=r"options expired .*generate them again"):
        book.get(a)
    book.remember(_REQ, _answer("b"), {})
    time.sleep(1e-3)
    c = book.remember(_REQ, _answer("c"), {})  # drops the expired ones first
    assert book.ids() == [c]


def test_another_book_on_the_store_reads_and_closes_it(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Two replicas: what one offered, the other holds exactly; how it ended,
    both know."""
    with open_store(state_location) as one, open_store(state_location) as two:
        a = QuoteBook(60.0, 10, store=one, requests=_VALIDATOR)
        b = QuoteBook(60.0, 10, store=two, requests=_VALIDATOR)
        a.remember(_REQ, _answer("r1"), {Tier.GOLD: (_SHIP,)})
        seen = b.get("r1")
        assert seen.plans == {Tier.GOLD: (_SHIP,)}
        assert seen.option("gold").pricing is Pricing.STANDARD
        assert seen.customer == _answer("r1").customer
        assert seen.request.preferences == {"speed": 2.0}
        assert (seen.request.skus, seen.request.now) == (("TEE",), MONDAY_10)
        b.remember(seen.request, _answer("r1", 2), {})  # b requotes
        assert a.get("r1").revision == 2 and a.get("r1").plans == {}
        a.close("r1", HoldStatus.CONFIRMED)
        assert b.lookup("r1").closed is HoldStatus.CONFIRMED  # type: ignore[union-attr]
        with pytest.raises(InputError, match=r"checkout already confirmed"):
            b.get("r1")
        assert one.prune_quotes(now=time.time() + 120) == 1
        assert b.lookup("r1") is not None  # cached in b, gone from the store


def test_quotes_long_expired_are_deleted_as_new_ones_come(
    state_location: Path | str,
) -> None:
    """Nothing else deletes quotes: each book prunes the store now and then
    (here at every remember, keeping nothing past its expiry)."""
    with open_store(state_location) as store:
        book = QuoteBook(0.05, 10, store=store, requests=_VALIDATOR, keep_s=0.0,
                         prune_every_s=0.0)  # fmt: skip
        book.remember(_REQ, _answer("old"), {})
        assert store.get_quote("old") is not None
        time.sleep(0.1)  # "old" expired
        book.remember(_REQ, _answer("new"), {})
        assert store.get_quote("old") is None and store.get_quote("new") is not None
        kept = QuoteBook(0.05, 10, store=store, requests=_VALIDATOR)  # defaults
        assert (kept.keep_s, kept.prune_every_s) == (86_400.0, 60.0)
        time.sleep(0.1)
        kept.remember(_REQ, _answer("newer"), {})
        assert store.get_quote("new") is not None  # expired, but kept a day


def test_a_requote_keeps_the_first_expiry_on_every_replica(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The store keeps a requoted checkout's first expiry; the requoting
    replica had renewed it in its own cache, so past that instant a select
    was refused on the other replica ('options expired') and held here."""
    with (
        tiny_router(tmp_path, state=state_location, quote_ttl_s=0.6) as a,
        tiny_router(tmp_path, state=state_location, quote_ttl_s=0.6) as b,
    ):
        answer = a.generate_fulfillment_options("C5", [("TEE", 1)], "606")
        gold = next(o.option_id for o in answer.options if o.tier is Tier.GOLD)
        time.sleep(0.3)
        assert b.requote(answer.request_id).revision == 2
        time.sleep(0.45)  # past the first answer's expiry, not the requote's
        for router in (a, b):
            with pytest.raises(InputError, match=r"options expired"):
                router.select(answer.request_id, gold)


def test_without_a_store_a_key_is_kept_in_the_process() -> None:
    """No store: the answer under a key is kept here, with its marked id,
    and answered again (``replayed``) for the same request only; a second
    answer under the key is not kept."""
    book = QuoteBook(60.0, 10)
    rid = book.remember(_REQ, _answer("a"), {}, key=("k", "d1"))
    again = book.for_key("k", "d1")
    assert isinstance(again, OptionSet) and again.replayed
    assert (again.request_id, again.options) == (rid, _answer("a").options)
    assert book.for_key("other", "d1") is None
    with pytest.raises(InputError, match=r"^field 'Idempotency-Key': was used with"):
        book.for_key("k", "d2")
    with pytest.raises(KeyTaken):
        book.remember(_REQ, _answer("b"), {}, key=("k", "d1"))
    assert [r.partition("_")[0] for r in book.ids()] == ["a"]


def _expired(request_id: str) -> OptionSet:
    """An answer whose options expired a second ago."""
    past = dt.datetime.fromtimestamp(time.time() - 1.0, dt.UTC)
    return dataclasses.replace(_answer(request_id), expires_at=past)


def test_without_a_store_an_expired_open_set_gives_up_its_key() -> None:
    """No store: the key's set, open past its expiry, is not replayed
    (``Lapsed``); a new answer takes the key from it, once (a second one
    naming it is ``KeyTaken``), and is replayed after. A closed set is
    replayed however old."""
    book = QuoteBook(60.0, 10)
    old = book.remember(_REQ, _expired("a"), {}, key=("k", "d1"))
    assert book.for_key("k", "d1") == Lapsed(old)
    with pytest.raises(InputError, match=r"^field 'Idempotency-Key': was used with"):
        book.for_key("k", "d2")
    new = book.remember(_REQ, _answer("b"), {}, key=("k", "d1"), renews=old)
    again = book.for_key("k", "d1")
    assert isinstance(again, OptionSet)
    assert (again.request_id, again.replayed) == (new, True)
    with pytest.raises(KeyTaken):
        book.remember(_REQ, _answer("c"), {}, key=("k", "d1"), renews=old)
    done = book.remember(_REQ, _expired("e"), {}, key=("k2", "d1"))
    book.close(done, HoldStatus.CONFIRMED)
    ended = book.for_key("k2", "d1")
    assert isinstance(ended, OptionSet)
    assert (ended.request_id, ended.replayed) == (done, True)
