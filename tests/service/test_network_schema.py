"""The served OpenAPI document says what the network accepts
(:mod:`tierflow.service.network_schema`): its SKUs, ZIP prefixes and nodes,
the event window, each event type's value; and the rules it cannot say are
answered as documented (409 for a reused event id)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI

from tests.conftest import TINY_NETWORK
from tests.service.helpers import OUTAGE
from tests.service_fixtures import API_KEY
from tierflow.capacity.events import parse_event
from tierflow.data.errors import InputError
from tierflow.data.limits import EVENT_WINDOW, now
from tierflow.data.network import load_network
from tierflow.data.rates import SERVICES
from tierflow.service.app import create_app
from tierflow.service.network_schema import (
    TS_MARGIN_DAYS,
    date_pattern,
    narrow,
    ts_schema,
    ts_window,
)

KEY = {"X-API-Key": API_KEY}


def _schemas(client: Any) -> dict[str, Any]:
    schemas: dict[str, Any] = client.get("/openapi.json").json()["components"][
        "schemas"
    ]
    return schemas


def test_the_document_lists_the_network_s_skus_prefixes_and_nodes(
    shared_live: Any,
) -> None:
    client, router, _ = shared_live
    schemas = _schemas(client)
    assert schemas["Item"]["properties"]["sku"]["enum"] == sorted(
        router.network.sku_ids
    )
    dest = re.compile(schemas["OptionsRequest"]["properties"]["dest"]["pattern"])
    known = set(router.network.dest_index)
    for n in range(1000):  # every 3-digit prefix: allowed exactly when routed
        prefix = f"{n:03d}"
        assert bool(dest.fullmatch(prefix)) == (prefix in known), prefix
        assert bool(dest.fullmatch(f"{prefix}01-1234")) == (prefix in known)
    assert not dest.fullmatch("6060") and not dest.fullmatch("６０６")
    for branch in schemas["CapacityEventIn"]["oneOf"]:
        node = branch["properties"]["node_id"]
        assert node["enum"] == sorted(router.network.node_ids)


def test_each_event_type_has_its_value_and_service(shared_live: Any) -> None:
    client, _, _ = shared_live
    branches = {
        b["properties"]["type"]["const"]: b
        for b in _schemas(client)["CapacityEventIn"]["oneOf"]
    }
    assert branches["outage"]["properties"]["value"] == {"type": "boolean"}
    staffing = branches["staffing"]["properties"]["value"]
    assert (staffing["minimum"], staffing["maximum"]) == (0.0, 300.0)
    # a fraction (0.5 for half the staff) is refused: the document says so
    assert staffing["not"] == {"exclusiveMinimum": 0.0, "exclusiveMaximum": 1.0}
    branch = jsonschema_rs.validator_for(staffing)
    taken = [v for v in (0, 0.5, 0.99, 1, 50, 300) if branch.is_valid(v)]
    assert taken == [0, 1, 50, 300]
    assert "service" in branches["congestion"]["required"]
    service = branches["congestion"]["properties"]["service"]
    assert service["enum"] == list(SERVICES)


def test_the_date_pattern_holds_exactly_the_dates_of_its_range() -> None:
    first, last = dt.date(2023, 2, 27), dt.date(2025, 3, 2)
    dates = re.compile(f"^({date_pattern(first, last)})$")
    day = dt.date(2022, 12, 1)
    while day <= dt.date(2025, 12, 31):
        assert bool(dates.match(day.isoformat())) == (first <= day <= last), day
        day += dt.timedelta(days=1)
    for impossible in ("2024-02-30", "2023-02-29", "2024-04-31", "2024-13-01"):
        assert not dates.match(impossible)
    assert dates.match("2024-02-29")


@pytest.mark.parametrize("offset", ["+23:59", "-23:59", "Z"])
@pytest.mark.parametrize("server", ["2026-06-01T00:00:00Z", "2026-06-01T23:56:00Z"])
def test_every_time_the_document_allows_is_taken_up_to_the_servers_clock(
    offset: str, server: str
) -> None:
    """The first allowed date, at either end of the day and the widest
    offsets, passes the router's window check; on the last (the clock's date
    at +23:59) every instant up to the clock's lead is taken and a later one
    is refused by name, the rule the pattern cannot say; a day more at either
    end does not match."""
    network = load_network(TINY_NETWORK)
    received = dt.datetime.fromisoformat(server)
    pattern = re.compile(ts_schema(received=received)["pattern"])
    first, last = ts_window(received=received)
    lo, _ = EVENT_WINDOW.bounds()
    assert (first - lo.date()).days == TS_MARGIN_DAYS
    assert last == (received + dt.timedelta(minutes=5)).date() + dt.timedelta(1)
    lead = received + dt.timedelta(minutes=5)
    for day in (first, last):
        for clock in ("00:00:00", "23:59:59.999999"):
            ts = f"{day}T{clock}{offset}"
            assert pattern.match(ts), ts
            event = {**OUTAGE, "ts": ts, "node_id": "ST-CHI"}
            if dt.datetime.fromisoformat(ts) <= lead:
                assert parse_event(event, network, received=received).ts > 0
                continue
            with pytest.raises(InputError, match="ahead of the receiving clock"):
                parse_event(event, network, received=received)
    for day in (first - dt.timedelta(days=1), last + dt.timedelta(days=1)):
        assert not pattern.match(f"{day}T12:00:00{offset}")
    assert now() == dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # conftest's pinned now


@pytest.mark.parametrize("server", ["2026-06-01T00:03:00Z", "2026-06-01T23:56:00Z"])
def test_what_has_just_happened_matches_the_document_at_every_offset(
    server: str,
) -> None:
    """A live feed's events, dated at the server's clock (or up to its lead)
    and written at any offset, are valid by the document: the pattern ended
    two days before the clock, and a client validating its requests against
    it could not send today's events."""
    network = load_network(TINY_NETWORK)
    received = dt.datetime.fromisoformat(server)
    pattern = re.compile(ts_schema(received=received)["pattern"])
    for minutes in range(-23 * 60 - 59, 23 * 60 + 60, 17):
        zone = dt.timezone(dt.timedelta(minutes=minutes))
        for at in (received, received + dt.timedelta(minutes=5)):
            ts = at.astimezone(zone).isoformat()
            assert pattern.match(ts), ts
            event = {**OUTAGE, "ts": ts, "node_id": "ST-CHI"}
            assert parse_event(event, network, received=received).ts > 0


def test_a_server_clock_a_year_back_ends_the_document_a_year_back() -> None:
    """The window is measured from now, the live lead from the server's clock:
    the document's dates end at the earlier of the two."""
    received = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
    assert ts_window(received=received)[1] == dt.date(2025, 3, 11)
    _, hi = EVENT_WINDOW.bounds()
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert ts_window(received=later)[1] == hi.date() - dt.timedelta(days=2)


def test_requests_valid_by_the_document_are_accepted(live: Any) -> None:
    """3.0 is an integer to JSON Schema; repeated lines of one SKU add up to
    one line of at most the per-line cap (an order line, as ``orders.csv``
    holds it), as the document's ``items`` says and the answer's merged
    line's ``maximum`` states (it was 50 × 10,000, and a merged 10,003 was
    answered and could be confirmed)."""
    client, _, _ = live
    body = {
        "customer_id": "C1",
        "items": [{"sku": "TEE", "quantity": 3.0}, {"sku": "TEE", "quantity": 9997}],
        "dest": "60601",
    }
    r = client.post("/v1/options", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"sku": "TEE", "quantity": 10000}]
    over = [{"sku": "TEE", "quantity": 3}, {"sku": "TEE", "quantity": 9998}]
    r = client.post("/v1/options", json={**body, "items": over})
    assert (r.status_code, r.json()["field"]) == (422, "items[1].quantity")
    schemas = _schemas(client)
    assert schemas["CartLineOut"]["properties"]["quantity"]["maximum"] == 10000
    items = schemas["OptionsRequest"]["properties"]["items"]["description"]
    assert "one order line, which holds at most 10,000 units" in items
    for quantity in (2.5, "3", True):
        bad = {**body, "items": [{"sku": "TEE", "quantity": quantity}]}
        r = client.post("/v1/options", json=bad)
        assert (r.status_code, r.json()["field"]) == (422, "items[0].quantity")


@pytest.mark.parametrize("content_type", ["application/json", "application/cart+json"])
def test_a_sku_with_spaces_around_it_is_refused_as_the_document_says(
    shared_live: Any, content_type: str
) -> None:
    """The document's ``sku`` is an ``enum`` of the network's ids, which
    ``" TEE "`` is not: it is a 422 at the line's ``sku``, naming the id
    meant, and makes no option set. It was answered 200 as TEE (the router
    strips a cart's SKUs, as it reads an orders file's), a request invalid
    by the document taken, and under an ``Idempotency-Key`` it was another
    request than TEE's. Both the checkout's lean path (``application/json``)
    and FastAPI's (any other JSON type) refuse it."""
    client, _, _ = shared_live
    enum = _schemas(client)["Item"]["properties"]["sku"]["enum"]
    for padded in (" TEE", "TEE ", "\tTEE\u3000"):
        assert padded not in enum and padded.strip() in enum
        body = {"customer_id": "C1", "items": [{"sku": "MUG", "quantity": 1},
                {"sku": padded, "quantity": 1}], "dest": "60601"}  # fmt: skip
        r = client.post(
            "/v1/options",
            content=json.dumps(body),
            headers={"Content-Type": content_type},
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "items[1].sku"
        assert r.json()["message"] == (
            f"field 'items[1].sku': value {padded!r}: unknown SKU; the network "
            "has 'TEE', without the spaces around it (ids are exact)"
        )


def test_all_zero_preferences_are_invalid_by_the_document_too(live: Any) -> None:
    client, _, _ = live
    rule = _schemas(client)["Preferences"]["not"]
    zero = {"speed": 0, "cost": 0.0, "eco": 0}
    assert set(rule["required"]) == set(zero)
    body = {"customer_id": "C1", "items": [{"sku": "TEE", "quantity": 1}]}
    r = client.post("/v1/options", json={**body, "dest": "606", "preferences": zero})
    assert (r.status_code, r.json()["field"]) == (422, "preferences")
    some = {"speed": 0, "cost": 0}  # two of three at 0 is a valid choice
    r = client.post("/v1/options", json={**body, "dest": "606", "preferences": some})
    assert r.status_code == 200


def test_a_reused_event_id_is_a_409_and_applies_nothing(live: Any) -> None:
    client, router, _ = live
    post = client.post
    assert post(
        "/v1/capacity/events", json={"events": [OUTAGE]}, headers=KEY
    ).is_success
    reopened = {**OUTAGE, "value": False}
    r = post("/v1/capacity/events", json={"events": [reopened]}, headers=KEY)
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    assert r.json()["field"] == "events[0].event_id"
    twice = {**OUTAGE, "event_id": "ops-9"}, {**reopened, "event_id": "ops-9"}
    r = post("/v1/capacity/events", json={"events": list(twice)}, headers=KEY)
    assert (r.status_code, r.json()["field"]) == (409, "events[1].event_id")
    assert router.monitor.outage.sum() == 1  # only the first event holds
    doc = client.get("/openapi.json").json()
    answers = doc["paths"]["/v1/capacity/events"]["post"]["responses"]
    assert "idempotency" in answers["409"]["description"]


def test_a_blank_event_id_is_invalid_by_the_document_as_by_the_server(
    live: Any,
) -> None:
    """The spaces around an id are removed before it is read, so an id of
    spaces only (any the parser strips: U+001C, U+3000) is refused: the
    document's ``minLength`` let them through as valid (the fuzzer's
    ``" "`` was a 422 of schema-valid data); its pattern now asks for one
    character that stays, and an id with spaces around it still passes."""
    client, _, _ = live
    doc = _schemas(client)["CapacityEventIn"]["oneOf"][0]
    text = doc["properties"]["event_id"]["anyOf"][0]
    pattern = re.compile(text["pattern"])
    for blank in (" ", "\t\n", "\u001c", "\u3000\u00a0"):
        assert len(blank) >= text["minLength"] and not pattern.search(blank)
        event = {**OUTAGE, "event_id": blank}
        r = client.post("/v1/capacity/events", json={"events": [event]}, headers=KEY)
        assert (r.status_code, r.json()["field"]) == (422, "events[0].event_id")
    assert pattern.search(" ops-7\u3000")
    event = {**OUTAGE, "event_id": " ops-7\u3000"}
    r = client.post("/v1/capacity/events", json={"events": [event]}, headers=KEY)
    assert r.status_code == 200, r.text
    # maxLength counts the spaces too: 200 characters with them pass, 201 not
    for padded, status in ((" " + "a" * 198 + " ", 200), (" " + "b" * 199 + " ", 422)):
        event = {**OUTAGE, "event_id": padded, "value": status == 422}
        r = client.post("/v1/capacity/events", json={"events": [event]}, headers=KEY)
        assert r.status_code == status, r.text
        assert (len(padded) <= text["maxLength"]) == (status == 200)
        assert status == 200 or r.json()["field"] == "events[0].event_id"


def test_an_event_id_no_store_can_hold_is_a_422(shared_live: Any) -> None:
    """A NUL (PostgreSQL's text has none) or a lone surrogate (JSON's
    ``\\ud800``; not UTF-8) in an event id was a 500 at the store's insert;
    a 422 at the id now, and the document's pattern leaves NUL out (a
    document-valid id is taken)."""
    client, router, _ = shared_live
    doc = _schemas(client)["CapacityEventIn"]["oneOf"][0]
    pattern = re.compile(doc["properties"]["event_id"]["anyOf"][0]["pattern"])
    assert not pattern.search("ops\x00-8") and pattern.search(" ops-8 ")
    for event_id, why in (
        ("ops\x00-8", "U+0000, NUL"),
        ("ops\ud800-8", "U+D800, a lone surrogate"),
    ):
        body = json.dumps({"events": [{**OUTAGE, "event_id": event_id}]})
        r = client.post(
            "/v1/capacity/events",
            content=body,
            headers={**KEY, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "events[0].event_id"
        assert r.json()["message"].endswith(
            f": has a character no store can hold ({why})"
        ), r.text
    assert router.monitor.outage.sum() == 0


@pytest.mark.parametrize("value", ["70", [70], None])
def test_event_values_are_taken_as_json_types_only(
    shared_live: Any, value: Any
) -> None:
    client, _, _ = shared_live
    event = {**OUTAGE, "type": "staffing", "value": value}
    r = client.post("/v1/capacity/events", json={"events": [event]}, headers=KEY)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("events[0].value")


def test_past_max_enum_ids_are_a_pattern_and_unknown_ones_a_422(
    shared_live: Any,
) -> None:
    """The fallback for a huge network: a pattern of the ids' characters, so
    an id of that form the network does not know is schema-valid and a 422
    (the reason the enum is used up to ``MAX_ENUM`` ids)."""
    client, router, _ = shared_live
    base = FastAPI.openapi(create_app(router, api_key=API_KEY))  # not narrowed
    doc = narrow(base, router.network, max_enum=3)
    sku = doc["components"]["schemas"]["Item"]["properties"]["sku"]
    assert "enum" not in sku and "too many to list" in sku["description"]
    assert re.match(sku["pattern"], "TEA") and "TEA" not in router.network.sku_index
    body = {"customer_id": "C1", "items": [{"sku": "TEA", "quantity": 1}]}
    r = client.post("/v1/options", json={**body, "dest": "606"})
    assert (r.status_code, r.json()["field"]) == (422, "items[0].sku")
    node = doc["components"]["schemas"]["CapacityEventIn"]["oneOf"][0]
    assert node["properties"]["node_id"]["enum"] == sorted(router.network.node_ids)


def test_a_bad_window_instant_is_still_refused() -> None:
    """The router's instant check stays: the schema's margin is not a hole."""
    network = load_network(TINY_NETWORK)
    lo, _ = EVENT_WINDOW.bounds()
    early = (lo - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(InputError, match="outside the allowed window"):
        parse_event({**OUTAGE, "ts": early}, network)


def test_the_reserved_checkout_prefix_is_in_the_documents_event_id(
    shared_live: Any,
) -> None:
    """``checkout:…`` ids are a confirmed checkout's work, which the server
    logs itself, and a posted one is refused (422): the document's pattern
    let them through as valid (it promised what the server refuses). Its
    pattern now leaves them out (with the spaces a read removes before
    them), its description says why, and an id that only looks alike (another
    case, the prefix later in the id) is valid and taken."""
    client, router, _ = shared_live
    doc = _schemas(client)["CapacityEventIn"]["oneOf"][0]
    text = doc["properties"]["event_id"]["anyOf"][0]
    pattern = re.compile(text["pattern"])
    assert "'checkout:'" in doc["properties"]["event_id"]["description"]
    for reserved in ("checkout:R1:WH-EAST", " \u3000checkout:", "checkout:"):
        assert not pattern.search(reserved), reserved
    for free in ("Checkout:R1", "ops-checkout:R1", "checkout-R1", "checkout", " c:"):
        assert pattern.search(free), free
    seq = router.monitor.last_seq
    event = {**OUTAGE, "event_id": " checkout:R1:WH-EAST"}
    r = client.post("/v1/capacity/events", json={"events": [event]}, headers=KEY)
    why = (
        "value 'checkout:R1:WH-EAST': ids beginning 'checkout:' are a confirmed "
        "checkout's own work (checkout:<request_id>:<node_id>), which the server "
        "logs itself; give the event an id of another prefix"
    )
    assert r.status_code == 422
    assert r.json() == {
        "error": "invalid_request",
        "message": f"field 'events[0].event_id': {why}",
        "field": "events[0].event_id",
        "errors": [
            {"field": "events[0].event_id", "message": why, "type": "invalid_request"}
        ],
    }
    assert router.monitor.last_seq == seq  # nothing logged
