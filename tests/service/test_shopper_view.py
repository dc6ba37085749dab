"""``serve --operator-reads key``: the checkout answers to a caller without the
key withhold the operator data (``service/shopper_view.py``,
``docs/service.md`` "Security"). Over HTTP, a fixed flow (options, the
checkout's stream, requote, an outage moving Gold, select, confirm, cancel,
a rejected select): without the key no answer names a node of the network
or a bid price, and every answer has the keys it has with the key; with the
key every answer is, to the byte, the default mode's; and the default mode
is, to the byte, what it was before (``golden/``). They carried node ids,
distances, our costs, bid prices and the CLTV figures to any shopper."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.fixed_flow import OUTAGE, Call, flow_on
from tests.service.helpers import Listener
from tests.service_fixtures import (
    API_KEY,
    MONDAY_10,
    TEE_TO_CHICAGO,
    live_server,
    tiny_network,
    tiny_router,
)
from tierflow.orchestration.checkout.results import (
    CheckoutResult,
    CustomerValue,
    FulfillmentOption,
    OptionSet,
    Shipment,
    Shortfall,
)
from tierflow.orchestration.checkout.wire import wire_fields
from tierflow.service.schemas import RESPONSE_MODELS
from tierflow.service.shopper_view import (
    NOTE_EMPTY,
    NOTE_KEYS,
    NOTE_NULL,
    WITHHELD,
    shopper_changes,
    shopper_view,
)

GOLDEN = Path(__file__).parent / "golden" / "default_checkout_answers.json"
PRIVATE: dict[str, Any] = {"operator_reads": "key", "samples": False}
_KEY = {"X-API-Key": API_KEY}


#: Every wire field of the checkout's answers a shopper reads whole: what
#: the checkout page shows, or the request's own values. The rest is
#: :data:`WITHHELD`'s.
_PUBLIC: dict[type[Any], set[str]] = {
    OptionSet: {
        "request_id",
        "revision",
        "customer",
        "dest",
        "items",
        "created_at",
        "recommended",
        "options",
        "degraded",
        "unavailable",
        "expires_at",
    },
    CustomerValue: {"customer_id", "platinum_eligible"},
    FulfillmentOption: {
        "option_id",
        "tier",
        "label",
        "service",
        "ship_date",
        "delivery_date",
        "guaranteed",
        "price",
        "discount",
        "eco",
        "shipments",
        "pricing",
        "standard_price",
    },
    Shipment: {"lines", "service", "ship_date", "delivery_date"},
    CheckoutResult: {
        "request_id",
        "option_id",
        "status",
        "expires_at",
        "message",
        "shortfall",
    },
    Shortfall: {"sku", "requested"},
}


def test_every_answer_field_is_either_public_or_withheld() -> None:
    """The withholding lists what to hide, so a field added to an answer
    would reach shoppers unseen: every field is classified here, and a new
    one fails this test until someone decides which it is."""
    assert set(WITHHELD) <= set(_PUBLIC)
    for record, public in _PUBLIC.items():
        fields = {name for name, _ in wire_fields(record)}
        withheld = set(WITHHELD.get(record, {}))
        assert not public & withheld, (record.__name__, public & withheld)
        assert fields == public | withheld, (
            record.__name__,
            sorted(fields - public - withheld),
            sorted((public | withheld) - fields),
        )


def _golden() -> list[Call]:
    return [tuple(call) for call in json.loads(GOLDEN.read_text())]


def _shape(value: Any) -> Any:
    """The keys of every object in ``value``, nested (lists: their objects'
    shapes, once each; a withheld list of ids is empty)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        items = {json.dumps(_shape(v)) for v in value if isinstance(v, dict)}
        return sorted(items)
    return None


def test_the_default_mode_answers_as_before_to_the_byte(tmp_path: Path) -> None:
    assert flow_on(tmp_path, {}) == _golden()


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}]
)
def test_with_the_key_the_private_mode_answers_as_the_default(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    assert flow_on(tmp_path, headers, **PRIVATE) == _golden()


GOLD_WITHHELD: dict[str, Any] = {
    "option_id": "gold",
    "tier": "gold",
    "label": "Standard shipping",
    "nodes": [],
    "service": "ground",
    "ship_date": "2026-01-05",
    "delivery_date": "2026-01-06",
    "guaranteed": False,
    "price": 10.0,
    "cost": None,
    "discount": 0.0,
    "capacity_cost": None,
    "satisfaction_score": None,
    "eco": False,
    "emissions_kg_mi": None,
    "explanation": None,
    "shipments": [
        {
            "node_id": None,
            "lines": [{"sku": "TEE", "quantity": 1}],
            "service": "ground",
            "ship_date": "2026-01-05",
            "delivery_date": "2026-01-06",
            "cost": None,
            "distance_mi": None,
        }
    ],
    "pricing": "standard",
    "upgrade_cost": None,
    "standard_price": None,
}


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "not-the-key-01234567"}], ids=["none", "wrong"]
)
def test_without_the_key_no_node_id_or_bid_price_is_answered(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    """A wrong key is no key: a public call is never refused for it."""
    calls = flow_on(tmp_path, headers, **PRIVATE)
    golden = _golden()
    assert [c[:2] for c in calls] == [c[:2] for c in golden]
    nodes = tiny_network().node_ids
    assert set(nodes) == {"WH-EAST", "WH-WEST", "ST-CHI"}
    named = [what for what, _, whole in golden if any(n in whole for n in nodes)]
    assert len(named) == len(golden) - 1  # all but the cancel before a select
    for (what, _, text), (_, _, whole) in zip(calls, golden, strict=True):
        assert [n for n in nodes if n in text] == [], (what, text)
        assert "bid price" not in text.lower(), (what, text)
        assert _shape(json.loads(text)) == _shape(json.loads(whole)), what
    options = json.loads(calls[0][2])
    assert options["customer"] == {
        "customer_id": "C9",
        "predicted_spend": None,
        "segment": None,
        "source": None,
        "platinum_threshold": None,
        "platinum_eligible": True,
        "upgrade_allowance": None,
    }
    assert options["options"][0] == GOLD_WITHHELD
    assert options["missing"] == {"silver": None, "overflow": None}
    assert (options["bid_prices"], options["capacity_as_of"], options["notes"]) == (
        None,
        None,
        [],
    )
    assert options["unavailable"] == json.loads(golden[0][2])["unavailable"]
    # the outage's live update: Gold's new date and price, not its node
    moved = json.loads(calls[3][2])
    assert moved["revision"] == 3
    assert moved["changes"][0] == {
        "option_id": "gold",
        "change": "changed",
        "fields": {
            "nodes": [[], []],  # they moved, from and to withheld
            "delivery_date": ["2026-01-06", "2026-01-08"],
            "price": [10.0, 13.0],
        },
    }
    assert [c["change"] for c in moved["changes"]] == ["changed", "added"]
    assert moved["changes"][1]["option"]["explanation"] is None
    held = json.loads(calls[4][2])
    assert (held["status"], held["nodes"]) == ("held", [])
    rejected = json.loads(calls[-1][2])
    assert calls[-1][1] == 409
    assert rejected["shortfall"] == [
        {"node_id": None, "sku": "SOFA", "requested": 2, "available": None}
    ]
    assert rejected["message"] == (
        "stock was taken since the options were made: ask for options again"
    )


def test_the_private_document_says_what_is_withheld(tmp_path: Path) -> None:
    """Every withheld field is nullable (or an empty list, a mapping of
    nulls) and says so; the document lists no node of the network."""
    with live_server(tmp_path, **PRIVATE) as (server, _):
        document = httpx.get(server.url + "/openapi.json").json()
    schemas = document["components"]["schemas"]
    for record, gone in WITHHELD.items():
        props = schemas[RESPONSE_MODELS[record].__name__]["properties"]
        for name in gone:
            prop = props[name]
            assert prop["description"] in (NOTE_NULL, NOTE_EMPTY, NOTE_KEYS), name
            if prop["description"] == NOTE_NULL:
                assert {"type": "null"} in prop["anyOf"], name
    missing = schemas["OptionSetOut"]["properties"]["missing"]
    assert missing["additionalProperties"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    assert schemas["OptionOut"]["properties"]["cost"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}],
        "title": "Cost",
        "description": NOTE_NULL,
    }
    assert "`--operator-reads key`" in document["info"]["description"]
    text = json.dumps(document)
    assert [n for n in tiny_network().node_ids if n in text] == []


# ------------------------------------------------- a select refused 409
CHICAGO = dt.timezone(dt.timedelta(hours=-6))
#: Each refusal that names the node: its operator words, its shopper words.
REFUSALS = {
    "cutoff passed": (
        "options expired: option 'gold' ships from ST-CHI on 2026-01-05, whose "
        "cutoff has passed (it would ship on 2026-01-06): requote for the new dates",
        "options expired: option 'gold' was to ship on 2026-01-05, but today's "
        "order cutoff has passed (it would ship on 2026-01-06): requote for the "
        "new dates",
    ),
    "node closed": (
        "options expired: option 'gold' ships from ST-CHI, closed since it was "
        "offered (outage): requote for the new options",
        "options expired: option 'gold' can't ship as offered (a location that "
        "ships your items is temporarily closed): requote for the new options",
    ),
}


def _refused_select(client: httpx.Client, kind: str) -> str:
    """A checkout whose Gold (from ST-CHI) a select now refuses: asked a
    second before ST-CHI's 15:00 cutoff and selected after it, or asked
    before an outage of ST-CHI; its request id."""
    answer = client.post("/v1/options", json={"customer_id": "C4", **TEE_TO_CHICAGO})
    gold = next(o for o in answer.json()["options"] if o["option_id"] == "gold")
    assert gold["delivery_date"] == "2026-01-06"
    if kind == "cutoff passed":
        time.sleep(1.1)  # the select's instant: the quote's, moved on by the wall
    else:
        events = {"events": [OUTAGE]}
        posted = client.post("/v1/capacity/events", json=events, headers=_KEY)
        assert posted.status_code == 200, posted.text
    rid: str = answer.json()["request_id"]
    return rid


@pytest.mark.parametrize("kind", list(REFUSALS))
@pytest.mark.parametrize("private", [True, False], ids=["private", "default"])
def test_a_select_refused_for_its_node_names_it_only_to_the_operator(
    tmp_path: Path, kind: str, private: bool
) -> None:
    """A select refused 409 because its node passed its cutoff or closed
    since the options were made: without the key, in the private mode, the
    refusal says why in the shopper's words and no node id of the network is
    anywhere in the answer; with the key, and in the default mode to anyone,
    the operator's words as before. It said "ships from ST-CHI" to any
    shopper."""
    clock = dt.datetime(2026, 1, 5, 14, 59, 59, tzinfo=CHICAGO)  # cutoff 15:00
    app_kw: dict[str, Any] = {**PRIVATE} if private else {}
    with (
        live_server(tmp_path, clock=lambda: clock, **app_kw) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        rid = _refused_select(client, kind)
        answers = {
            name: client.post(
                f"/v1/checkouts/{rid}/select", json={"option_id": "gold"}, headers=h
            )
            for name, h in (
                ("none", {}),
                ("wrong key", {"X-API-Key": "not-the-key-01234567"}),
                ("key", _KEY),
            )
        }
    operator, shopper = REFUSALS[kind]
    for name, r in answers.items():
        words = shopper if private and name != "key" else operator
        item = f"value '{rid}': {words}"
        assert (r.status_code, r.json()) == (
            409,
            {
                "error": "conflict",
                "message": f"field 'request_id': {item}",
                "field": "request_id",
                "errors": [
                    {"field": "request_id", "message": item, "type": "conflict"}
                ],
            },
        ), name
        named = [n for n in tiny_network().node_ids if n in r.text]
        assert named == ([] if words == shopper else ["ST-CHI"]), name


def test_a_hold_a_count_cut_names_its_node_only_to_the_operator(
    tmp_path: Path,
) -> None:
    """ST-CHI's 5 TEE, held by C1 then C2; a count of 1 with ``cut_holds``
    cuts C2's hold. Its confirm (409) and its select again (rejected) say
    the stock was recounted: without the key, in the private mode, naming
    no node of the network (they said "the stock of TEE at ST-CHI" to any
    shopper, QA 2026-12-07); with the key, the operator's words."""
    with (
        live_server(tmp_path, **PRIVATE) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        rids = []
        for customer in ("C1", "C2"):
            answer = client.post(
                "/v1/options",
                json={"customer_id": customer, **TEE_TO_CHICAGO},
                headers=_KEY,
            ).json()
            assert answer["options"][0]["nodes"] == ["ST-CHI"]
            r = client.post(
                f"/v1/checkouts/{answer['request_id']}/select",
                json={"option_id": answer["options"][0]["option_id"]},
            )
            assert r.status_code == 200, r.text
            rids.append((answer["request_id"], answer["options"][0]["option_id"]))
        count = {
            "mode": "set",
            "changes": [{"node_id": "ST-CHI", "sku": "TEE", "on_hand": 1}],
            "cut_holds": True,
        }
        r = client.post("/v1/stock", json=count, headers=_KEY)
        assert r.json()["holds_cut"][0]["request_id"] == rids[1][0], r.text
        rid, option = rids[1]
        confirms = {
            name: client.post(f"/v1/checkouts/{rid}/confirm", headers=h)
            for name, h in (("shopper", {}), ("key", _KEY))
        }
        assert client.post(f"/v1/checkouts/{rids[0][0]}/confirm").status_code == 200
        selects = {
            name: client.post(
                f"/v1/checkouts/{rid}/select", json={"option_id": option}, headers=h
            )
            for name, h in (("shopper", {}), ("key", _KEY))
        }
    for name, r in confirms.items():
        assert (r.status_code, r.json()["field"]) == (409, "request_id"), r.text
        where = " at ST-CHI" if name == "key" else ""
        assert r.json()["message"].endswith(
            f": the stock of TEE{where} was recounted below what open checkouts "
            "held; select an option again"
        ), r.text
    for name, r in selects.items():
        assert (r.status_code, r.json()["status"]) == (409, "rejected"), r.text
        where = " at ST-CHI" if name == "key" else ""
        assert r.json()["message"].startswith("hold cut at "), r.text
        assert r.json()["message"].endswith(
            f": the stock of TEE{where} was recounted below what open checkouts "
            "held: ask for options again"
        ), r.text
    for r in (confirms["shopper"], selects["shopper"]):
        assert [n for n in tiny_network().node_ids if n in r.text] == [], r.text


# ------------------------------------------------- a checkout's stream
def _ended(stream: Listener) -> list[tuple[str, dict[str, Any]]]:
    """Every event of ``stream`` as ``(event, data)``, once the server ended
    it (fails after 10 s, or if it was cut off or refused)."""
    stream.wait_ended()
    assert stream.error is None, stream.error
    assert {e["status"] for e in stream.events} <= {200}
    return [(e["event"], e["data"]) for e in stream.events]


#: The options' lifetime in the stream test: the last checkout expires.
_STREAM_TTL_S = 4.0


def _stream_flow(
    tmp_path: Path, headers: dict[str, str], **app_kw: Any
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Three checkouts of a TEE to Chicago, each with its stream
    (``capacity=false``, sending ``headers``): an outage moves Gold (an
    ``options`` event each); then the first is confirmed, the second
    cancelled, and the third left to expire (``closed`` each). Every
    stream's events, by what became of its checkout."""
    router_kw = {"quote_ttl_s": _STREAM_TTL_S}
    with (
        live_server(tmp_path, router_kw=router_kw, **app_kw) as (server, _),
        httpx.Client(base_url=server.url, timeout=10, headers=headers) as client,
    ):
        made = time.monotonic()
        rids = {
            ending: client.post(
                "/v1/options", json={"customer_id": customer, **TEE_TO_CHICAGO}
            ).json()["request_id"]
            for ending, customer in (
                ("confirmed", "C9"),
                ("cancelled", "C4"),
                ("expired", "C5"),
            )
        }
        streams = {
            ending: Listener(
                f"{server.url}/v1/stream?request_id={rid}&capacity=false", headers
            )
            for ending, rid in rids.items()
        }
        for stream in streams.values():
            stream.wait_open()
        events = {"events": [OUTAGE]}
        posted = client.post("/v1/capacity/events", json=events, headers=_KEY)
        assert posted.status_code == 200, posted.text
        for stream in streams.values():
            stream.wait_events(1)
        rid = rids["confirmed"]
        held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.json()["status"] == "held", held.text
        assert client.post(f"/v1/checkouts/{rid}/confirm").status_code == 200
        cancel = client.post(f"/v1/checkouts/{rids['cancelled']}/cancel")
        assert cancel.status_code == 200
        time.sleep(max(0.0, made + _STREAM_TTL_S + 0.5 - time.monotonic()))
        lifted = {**OUTAGE, "event_id": "fixed-2", "value": False}
        posted = client.post(
            "/v1/capacity/events", json={"events": [lifted]}, headers=_KEY
        )
        assert posted.status_code == 200, posted.text
        return {ending: _ended(stream) for ending, stream in streams.items()}


#: What the outage's live update of Gold is, but for its nodes.
_GOLD_MOVED = {
    "delivery_date": ["2026-01-06", "2026-01-08"],
    "price": [10.0, 13.0],
}
#: Each checkout's ``closed`` reason and ``why``.
_CLOSED = {
    "confirmed": ("checkout already confirmed", "confirmed"),
    "cancelled": ("checkout already cancelled", "cancelled"),
    "expired": (
        f"options expired (older than {_STREAM_TTL_S:g} s): generate them again",
        "expired",
    ),
}


@pytest.mark.parametrize(
    ("headers", "app_kw", "whole"),
    [
        ({}, PRIVATE, False),
        (_KEY, PRIVATE, True),
        ({}, {}, True),
    ],
    ids=["private-none", "private-key", "default"],
)
def test_every_event_of_a_checkout_stream_is_worded_for_its_reader(
    tmp_path: Path, headers: dict[str, str], app_kw: dict[str, Any], whole: bool
) -> None:
    """Each event a checkout's own stream sends (an ``options`` update after
    a capacity event, ``closed`` after a confirm, a cancel, an expiry),
    field by field: without the key in the private mode every operator
    field is withheld and no node of the network is named anywhere; with
    the key, and in the default mode, the events are whole (the default's
    options events are also ``golden/``'s, to the byte)."""
    flows = _stream_flow(tmp_path, headers, **app_kw)
    nodes = tiny_network().node_ids
    for ending, events in flows.items():
        assert [e for e, _ in events] == ["options", "closed"], (ending, events)
        (_, update), (_, closed) = events
        rid = update["request_id"]
        reason, why = _CLOSED[ending]
        assert closed == {"request_id": rid, "reason": reason, "why": why}
        assert update["revision"] == 2
        assert list(update) == ["request_id", "revision", "changes", "option_set"]
        gold = update["changes"][0]
        assert (gold["option_id"], gold["change"]) == ("gold", "changed")
        moved = gold["fields"]
        assert {k: v for k, v in moved.items() if k != "nodes"} == _GOLD_MOVED
        answer = update["option_set"]
        assert (answer["request_id"], answer["revision"]) == (rid, 2)
        text = json.dumps(events)
        if whole:
            assert moved["nodes"] == [["ST-CHI"], ["WH-EAST"]]
            assert answer["bid_prices"] is not None
            assert answer["customer"]["predicted_spend"] is not None
            assert all(o["nodes"] and o["explanation"] for o in answer["options"])
            continue
        assert [n for n in nodes if n in text] == [], (ending, text)
        assert "bid price" not in text.lower()
        assert moved["nodes"] == [[], []]
        for change in update["changes"][1:]:
            if change["change"] == "added":
                assert change["option"]["explanation"] is None
            elif change["change"] == "removed":  # the shopper's words
                words = answer["unavailable"][change["option_id"]]
                assert change["reason"] == words
        assert answer["customer"] == {
            "customer_id": answer["customer"]["customer_id"],
            "predicted_spend": None,
            "segment": None,
            "source": None,
            "platinum_threshold": None,
            "platinum_eligible": answer["customer"]["platinum_eligible"],
            "upgrade_allowance": None,
        }
        assert answer["missing"] == dict.fromkeys(answer["missing"])
        assert (answer["bid_prices"], answer["capacity_as_of"], answer["notes"]) == (
            None,
            None,
            [],
        )
        gold_option = next(o for o in answer["options"] if o["option_id"] == "gold")
        shipment = {**GOLD_WITHHELD["shipments"][0], "delivery_date": "2026-01-08"}
        assert gold_option == {
            **GOLD_WITHHELD,
            "delivery_date": "2026-01-08",
            "price": 13.0,
            "shipments": [shipment],
        }
        for option in answer["options"]:
            assert option["nodes"] == []
            for name in (
                "cost",
                "capacity_cost",
                "satisfaction_score",
                "emissions_kg_mi",
                "explanation",
                "upgrade_cost",
            ):
                assert option[name] is None, (option["option_id"], name)
            for shipment in option["shipments"]:
                assert (
                    shipment["node_id"],
                    shipment["cost"],
                    shipment["distance_mi"],
                ) == (None, None, None)


#: WH-WEST closed: a SPRAY (WH-WEST alone) to Los Angeles loses every tier.
_WEST_OUTAGE = {**OUTAGE, "event_id": "west-1", "node_id": "WH-WEST"}
_SPRAY_TO_LA: dict[str, Any] = {
    "items": [{"sku": "SPRAY", "quantity": 1}],
    "dest": "90001",
}
_CLOSED_WORDS = "isn't available right now: a location that ships your items is "
#: The removed tiers' reasons after the outage, in each reader's words.
_REMOVED_REASONS = {
    "operator": {
        "platinum": "every node holding the items that can guarantee delivery "
        "by 2026-01-06 (WH-WEST) is closed (outage)",
        "gold": "every node that could ship it is closed (outage)",
        "silver": "every node that could ship it is closed (outage)",
    },
    "shopper": {
        "platinum": f"Guaranteed next-day {_CLOSED_WORDS}temporarily closed.",
        "gold": f"Standard shipping {_CLOSED_WORDS}temporarily closed.",
        "silver": f"Lowest price {_CLOSED_WORDS}temporarily closed.",
    },
}


@pytest.mark.parametrize("by", ["live update", "requote"])
@pytest.mark.parametrize(
    ("app_kw", "readers"),
    [(PRIVATE, {"shopper": {}, "operator": _KEY}), ({}, {"operator": {}})],
    ids=["private", "default"],
)
def test_a_removed_option_says_why_in_its_readers_words(
    tmp_path: Path, by: str, app_kw: dict[str, Any], readers: dict[str, Any]
) -> None:
    """An outage removes every tier of an open checkout, found by the live
    hub's re-answer (``options`` event) or by ``POST …/requote`` (its
    stream's ``options`` event): without the key, in the private mode, each
    ``removed`` change's reason is the same answer's ``unavailable`` words of
    its tier; with the key, and in the default mode, the operator's
    ``missing`` reason as before. A shopper's was null: the page could not
    say why the option went."""
    kw = {**app_kw, "poll_s": 600.0} if by == "requote" else app_kw
    with (
        live_server(tmp_path, **kw) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        answer = client.post(
            "/v1/options", json={"customer_id": "C10", **_SPRAY_TO_LA}
        ).json()
        assert [o["option_id"] for o in answer["options"]] == [
            "gold",
            "platinum",
            "silver",
        ]
        rid = answer["request_id"]
        url = f"{server.url}/v1/stream?request_id={rid}&capacity=false"
        streams = {who: Listener(url, headers) for who, headers in readers.items()}
        for stream in streams.values():
            stream.wait_open()
        if by == "requote":  # the hub does not look before the requote
            router.apply_capacity_events([_WEST_OUTAGE])
            requoted = client.post(f"/v1/checkouts/{rid}/requote")
            assert requoted.status_code == 200, requoted.text
        else:
            events = {"events": [_WEST_OUTAGE]}
            posted = client.post("/v1/capacity/events", json=events, headers=_KEY)
            assert posted.status_code == 200, posted.text
        updates = {
            who: stream.wait_events(1, "options")[0]["data"]
            for who, stream in streams.items()
        }
    for who, update in updates.items():
        answered = update["option_set"]
        assert (answered["revision"], answered["options"]) == (2, []), who
        removed = {
            c["option_id"]: c["reason"]
            for c in update["changes"]
            if c["change"] == "removed"
        }
        assert [c["change"] for c in update["changes"]] == ["removed"] * 3, who
        assert removed == _REMOVED_REASONS[who], who
        words = answered["unavailable"] if who == "shopper" else answered["missing"]
        assert removed == {tier: words[tier] for tier in removed}, who


def test_a_removed_options_shopper_reason_is_its_tiers_unavailable_words(
    tmp_path: Path,
) -> None:
    """The shopper's reason of a removed option is its tier's
    ``unavailable`` words in the new answer: a dominated one's say which
    option beats it, without the operator's figures. An answer with no
    words for the tier (one stored before ``unavailable`` was written,
    read back with it empty) leaves it null, never the operator's text."""
    with tiny_router(tmp_path) as router:
        after = router.generate_fulfillment_options(
            "C4", [("TEE", 1)], "606", now=MONDAY_10
        )
    operator = after.missing["silver"]
    assert operator.startswith("dominated by gold: ")
    changes = [{"option_id": "silver", "change": "removed", "reason": operator}]
    assert shopper_changes(changes, after) == [
        {
            "option_id": "silver",
            "change": "removed",
            "reason": "Lowest price isn't shown: “Standard shipping” arrives "
            "sooner for less.",
        }
    ]
    unworded = dataclasses.replace(after, unavailable={})
    assert shopper_changes(changes, unworded) == [{**changes[0], "reason": None}]
    assert changes[0]["reason"] == operator  # the operator's list is left as is


def test_a_shoppers_answer_reads_no_field_hints_per_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shopper's view of an answer and of a checkout's outcome reads
    each record type's field hints once per process, not per answer:
    ``typing.get_type_hints`` on every nested record cost 1.2 ms an option
    set (more than the router's whole decision), with ``--operator-reads
    key`` on every shopper's call. The view is the same either way."""
    with tiny_router(tmp_path) as router:
        answer = router.generate_fulfillment_options(
            "C4", [("TEE", 1)], "606", now=MONDAY_10
        )
        held = router.select(answer.request_id, "gold", now=MONDAY_10)
    assert answer.options and held.status == "held"
    first = (shopper_view(answer), shopper_view(held))
    hints: list[type] = []
    reads = typing.get_type_hints

    def counted(cls: Any, *args: Any, **kw: Any) -> Any:
        hints.append(cls)
        return reads(cls, *args, **kw)

    monkeypatch.setattr(typing, "get_type_hints", counted)
    again = (shopper_view(answer), shopper_view(held))
    assert hints == []
    assert again == first
    assert again[0]["options"][0]["shipments"][0]["node_id"] is None
    assert again[0]["options"][0]["nodes"] == []
