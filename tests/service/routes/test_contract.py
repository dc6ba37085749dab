"""One error contract for the checkout API (issue 17, items 7 and 8): the same
status and body for the same situation, idempotent repeats answering as the
first call, the customer check, unguessable ids, HEAD, the OpenAPI document;
and a stale capacity map flagged. Each test runs on both store backends."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.helpers import post_options
from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server


def _post(client: httpx.Client, rid: str, action: str, **kw: Any) -> httpx.Response:
    return client.post(f"/v1/checkouts/{rid}/{action}", **kw)


def test_after_the_end_select_is_409_and_repeats_answer_as_the_first(
    live: Any,
) -> None:
    client, _, _ = live
    rid = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    assert _post(client, rid, "select", json={"option_id": "gold"}).status_code == 200
    first = _post(client, rid, "confirm")
    assert first.status_code == 200 and first.json()["nodes"] == ["ST-CHI"]
    assert _post(client, rid, "confirm").json() == first.json()
    late = _post(client, rid, "select", json={"option_id": "gold"})
    assert (late.status_code, late.json()["error"]) == (409, "conflict")
    assert "already confirmed" in late.json()["message"]
    # cancelled while held, and cancelled before anything was selected
    held = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    _post(client, held, "select", json={"option_id": "gold"})
    never = post_options(client, "C6", **TEE_TO_CHICAGO)["request_id"]
    for rid, nodes in ((held, ["ST-CHI"]), (never, [])):
        first = _post(client, rid, "cancel")
        assert (first.status_code, first.json()["status"]) == (200, "cancelled")
        assert first.json()["nodes"] == nodes
        assert _post(client, rid, "cancel").json() == first.json()
        late = _post(client, rid, "select", json={"option_id": "gold"})
        assert (late.status_code, late.json()["field"]) == (409, "request_id")
        again = _post(client, rid, "confirm")
        assert again.status_code == 409 and "cancelled" in again.json()["message"]
    unknown = _post(client, "AAAAAAAAAAAAAAAAAAAAAA", "select", json={"option_id": "x"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


def test_a_caller_naming_another_customer_is_refused(live: Any) -> None:
    client, router, _ = live
    rid = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    # the field is where the refused id was sent: the header's is named
    # X-Customer-Id (it was customer_id, a field a confirm has not)
    for kw, field in (
        ({"json": {"option_id": "gold", "customer_id": "C6"}}, "customer_id"),
        (
            {"json": {"option_id": "gold"}, "headers": {"X-Customer-Id": "C6"}},
            "X-Customer-Id",
        ),
        # the body's id is the checkout's, the header's (a gateway's) is not
        (
            {
                "json": {"option_id": "gold", "customer_id": "C5"},
                "headers": {"X-Customer-Id": "C6"},
            },
            "customer_id",
        ),
    ):
        r = _post(client, rid, "select", **kw)
        assert r.status_code == 403
        assert set(r.json()) == {"error", "message", "field", "errors"}
        assert (r.json()["error"], r.json()["field"]) == ("forbidden", field)
    assert r.json()["message"] == (
        "field 'customer_id': value 'C5': the X-Customer-Id header names another "
        "customer ('C6')"
    )
    assert router.store is not None and router.store.checkout_state(rid) is None
    ok = _post(client, rid, "select", json={"option_id": "gold", "customer_id": "C5"})
    assert ok.status_code == 200
    for action in ("confirm", "cancel"):
        r = _post(client, rid, action, headers={"X-Customer-Id": "C6"})
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
        assert (r.json()["field"], r.json()["message"]) == (
            "X-Customer-Id",
            "field 'X-Customer-Id': value 'C6': not the customer of this checkout",
        )
    done = _post(client, rid, "confirm", headers={"X-Customer-Id": "C5"})
    assert done.json()["status"] == "confirmed"
    assert _post(client, rid, "confirm").json() == done.json()  # no id: no check
    # another customer learns nothing of the finished checkout (select said
    # 409 "checkout already confirmed" where confirm said 403)
    for action, kw in (
        ("select", {"json": {"option_id": "gold"}}),
        ("confirm", {}),
        ("cancel", {}),
    ):
        r = _post(client, rid, action, headers={"X-Customer-Id": "C6"}, **kw)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), action


def test_a_requote_naming_another_customer_is_refused(live: Any) -> None:
    """A requote checks ``X-Customer-Id`` as select, confirm and cancel do:
    it answered anyone who knew the request id with the checkout's options
    (and made a revision of them)."""
    client, _, _ = live
    rid = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    words = "value 'C6': not the customer of this checkout"
    refused = {
        "error": "forbidden",
        "message": f"field 'X-Customer-Id': {words}",
        "field": "X-Customer-Id",
        "errors": [{"field": "X-Customer-Id", "message": words, "type": "forbidden"}],
    }
    other = {"X-Customer-Id": "C6"}
    r = _post(client, rid, "requote", headers=other)
    assert (r.status_code, r.json()) == (403, refused)
    own = _post(client, rid, "requote", headers={"X-Customer-Id": "C5"})
    assert (own.status_code, own.json()["revision"]) == (200, 2)  # none made
    anyone = _post(client, rid, "requote")  # no id: no check
    assert (anyone.status_code, anyone.json()["revision"]) == (200, 3)
    # another customer learns nothing of the finished checkout
    assert _post(client, rid, "cancel").json()["status"] == "cancelled"
    r = _post(client, rid, "requote", headers=other)
    assert (r.status_code, r.json()) == (403, refused)
    r = _post(client, rid, "requote", headers={"X-Customer-Id": "C5"})
    assert (r.status_code, r.json()["error"]) == (409, "conflict")


def test_an_x_customer_id_given_twice_is_refused(live: Any) -> None:
    """Two ``X-Customer-Id`` headers are refused (422 at the header, both
    values named), whichever comes first: the first alone was checked, so
    a gateway that appends the login's id after one the client sent let the
    client's stand (QA: ``C5`` then ``C6`` held C5's checkout for C6's
    login), and nothing is changed."""
    client, router, _ = live
    rid = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("select", {"json": {"option_id": "gold"}}),
        ("select", {"json": {"option_id": "gold", "customer_id": "C5"}}),
        ("requote", {}),
        ("confirm", {}),
        ("cancel", {}),
    ]
    for own_first in (True, False):
        ids = ["C5", "C6"] if own_first else ["C6", "C5"]
        words = f"values {ids!r}: given 2 times; it takes one value"
        for action, kw in calls:
            headers = [("X-Customer-Id", i) for i in ids]
            r = _post(client, rid, action, headers=headers, **kw)
            assert (r.status_code, r.json()) == (
                422,
                {
                    "error": "invalid_request",
                    "message": f"field 'X-Customer-Id': {words}",
                    "field": "X-Customer-Id",
                    "errors": [
                        {
                            "field": "X-Customer-Id",
                            "message": words,
                            "type": "invalid_request",
                        }
                    ],
                },
            ), (action, ids)
    assert router.store is not None and router.store.checkout_state(rid) is None
    one = _post(client, rid, "requote", headers={"X-Customer-Id": "C5"})
    assert (one.status_code, one.json()["revision"]) == (200, 2)  # none made
    held = _post(client, rid, "select", json={"option_id": "gold"})
    assert (held.status_code, held.json()["status"]) == (200, "held")


def _twice(header: str) -> dict[str, Any]:
    """The refusal of the key header ``header`` given twice (its values,
    secrets, never said)."""
    words = "given 2 times; it takes one value"
    return {
        "error": "invalid_request",
        "message": f"field '{header}': {words}",
        "field": header,
        "errors": [{"field": header, "message": words, "type": "invalid_request"}],
    }


def test_an_x_api_key_given_twice_is_refused(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Two ``X-API-Key`` headers (or two ``Authorization``) are refused 422
    at the header wherever the key is read, as ``X-Customer-Id`` twice is:
    the first was taken, so a proxy that appends its own key after the
    client's let the client's decide (a wrong key first was 403 beside the
    right one, a right one first passed beside any). Neither value is
    named (they are secrets), nothing is written, and on the checkout
    calls (``--operator-reads key``) the lean path refuses as FastAPI's."""
    right, wrong = API_KEY, "x" * 24
    pairs = [
        ("X-API-Key", [right, right]),
        ("X-API-Key", [right, wrong]),
        ("X-API-Key", [wrong, right]),
        ("Authorization", [f"Bearer {right}", f"Bearer {wrong}"]),
    ]
    kw = {"state": state_location}
    with (
        live_server(tmp_path, router_kw=kw, operator_reads="key") as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        rid = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
        calls: list[tuple[str, str, Any]] = [
            ("POST", "/v1/capacity/events", {"events": []}),
            ("POST", "/v1/stock", {"mode": "add", "changes": []}),
            ("GET", "/v1/capacity", None),
            ("GET", "/v1/stock", None),
            ("GET", "/v1/allocation", None),
            ("GET", "/v1/map", None),
            ("GET", "/metrics", None),
            ("GET", "/v1/stream", None),
            ("GET", f"/v1/stream?request_id={rid}&capacity=false", None),
            ("POST", "/v1/options", {"customer_id": "C5", **TEE_TO_CHICAGO}),
            ("POST", f"/v1/checkouts/{rid}/select", {"option_id": "gold"}),
            ("POST", f"/v1/checkouts/{rid}/requote", None),
            ("POST", f"/v1/checkouts/{rid}/confirm", None),
            ("POST", f"/v1/checkouts/{rid}/cancel", None),
        ]
        for header, values in pairs:
            headers = [(header, v) for v in values]
            for method, path, body in calls:
                # a stream answered 200 goes on: its body is not read
                with client.stream(method, path, json=body, headers=headers) as r:
                    text = "" if r.status_code == 200 else r.read().decode()
                assert (r.status_code, text and json.loads(text)) == (
                    422,
                    _twice(header),
                ), (header, values, path)
                assert right not in text and wrong not in text
        assert router.store is not None and router.store.checkout_state(rid) is None
        requoted = _post(client, rid, "requote", headers={"X-API-Key": right})
        assert (requoted.status_code, requoted.json()["revision"]) == (200, 2)
    # the default mode reads the key on the writes alone: a public call
    # with two is answered as ever (no key is read, none guessed)
    with (
        live_server(tmp_path / "public") as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        twice = [("X-API-Key", right), ("X-API-Key", wrong)]
        r = client.post("/v1/capacity/events", json={"events": []}, headers=twice)
        assert (r.status_code, r.json()) == (422, _twice("X-API-Key"))
        assert client.get("/v1/capacity", headers=twice).status_code == 200
        body = {"customer_id": "C5", **TEE_TO_CHICAGO}
        assert client.post("/v1/options", json=body, headers=twice).status_code == 200


def test_request_ids_are_unguessable(live: Any) -> None:
    client, _, _ = live
    ids = {post_options(client, "C1", **TEE_TO_CHICAGO)["request_id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)  # 128 bits


def test_head_wherever_get_exists(live: Any) -> None:
    client, _, _ = live
    for path in ("/healthz", "/v1/capacity", "/", "/ops", "/v1/samples"):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/v1/options").status_code == 405
    assert client.head("/nowhere").status_code == 404
    # a 405's Allow lists HEAD wherever GET is (it said "GET" alone)
    for path in ("/healthz", "/v1/capacity", "/v1/stream", "/"):
        refused = client.delete(path)
        assert refused.status_code == 405, path
        assert refused.headers["allow"] == "GET, HEAD", path
    assert client.get("/v1/options").headers["allow"] == "POST"
    # the stream's head holds no subscriber (each HEAD left one behind)
    before = client.get("/healthz").json()["subscribers"]
    for _ in range(5):
        head = client.head("/v1/stream")
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
    assert client.get("/healthz").json()["subscribers"] == before
    assert client.head("/v1/stream", params={"request_id": "nope"}).status_code == 404


def test_the_openapi_document_states_the_contract(live: Any) -> None:
    client, _, _ = live
    doc = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    outcome = {"$ref": "#/components/schemas/CheckoutOut"}
    # the body is the outcome (rejected, unavailable) or an error: both said
    either = {
        ("select", "409"),
        ("select", "503"),
        ("confirm", "503"),
        ("cancel", "503"),
    }
    for action in ("select", "confirm", "cancel", "requote"):
        op = doc["paths"][f"/v1/checkouts/{{request_id}}/{action}"]["post"]
        for status in ("403", "404", "409", "422", "503"):
            answer = op["responses"][status]
            schema = answer["content"]["application/json"]["schema"]
            if (action, status) in either:
                assert schema["anyOf"] == [outcome, error], (action, status)
            else:
                assert schema == error, (action, status)
            assert answer["description"]
        assert "X-Customer-Id" in [p["name"] for p in op["parameters"]]
    assert (
        "already confirmed"
        in (
            doc["paths"]["/v1/checkouts/{request_id}/select"]["post"]["responses"][
                "409"
            ]["description"]
        )
    )
    # an options call has no checkout yet: no customer to check, no request
    # id to find, no state to be in (it listed the checkout calls' 403, 404
    # and 409, "the customer id given is not the checkout's")
    options = doc["paths"]["/v1/options"]["post"]["responses"]
    assert sorted(options) == ["200", "400", "413", "415", "422", "500"]
    assert options["422"]["content"]["application/json"]["schema"] == error
    # confirm and cancel read no body: one that is not UTF-8, or in a
    # content coding, is no 400 or 415 there (the document said "The body
    # is not UTF-8." for both)
    paths = doc["paths"]
    select_errors = paths["/v1/checkouts/{request_id}/select"]["post"]["responses"]
    assert {"400", "415"} <= set(select_errors)
    for action in ("confirm", "cancel"):
        path = f"/v1/checkouts/{{request_id}}/{action}"
        assert not {"400", "415"} & set(paths[path]["post"]["responses"]), action
        r = client.post(
            path.format(request_id="nobody-asked"),
            content=b"\xff\xfe{",
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 404, r.text
    # the pages' reads need the store, and answer 503 while it is away
    # (test_store_gone.py): the document listed 200 alone
    for path in ("/v1/samples", "/v1/allocation"):
        unavailable = doc["paths"][path]["get"]["responses"]["503"]
        assert unavailable["content"]["application/json"]["schema"] == error
        assert "retry" in unavailable["description"]
    select = doc["components"]["schemas"]["SelectRequest"]["properties"]
    assert "customer_id" in select
    capacity = doc["components"]["schemas"]["CapacityOut"]["properties"]
    assert {"degraded", "notes"} <= set(capacity)
    # the stream's errors are JSON in the error shape, as answered (the
    # document said an event stream for 404, FastAPI's {detail} for 422)
    stream = doc["paths"]["/v1/stream"]["get"]["responses"]
    for status in ("404", "422"):
        assert stream[status]["content"] == {"application/json": {"schema": error}}
    r = client.get("/v1/stream", params={"request_id": ""})
    assert r.status_code == 422 and set(r.json()) == {
        "error",
        "message",
        "field",
        "errors",
    }
    assert r.headers["content-type"] == "application/json"


def test_a_stale_capacity_map_is_flagged_everywhere(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The pinned clock is 15:00 UTC; the newest event is from 13:00 and the
    map may be an hour old at most."""
    kw = {"state": state_location, "capacity_max_age_s": 3600.0}
    with (
        live_server(tmp_path, router_kw=kw) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert client.get("/v1/capacity").json()["degraded"] is False  # no events
        _staffing_event(client, "old", "2026-01-05T13:00:00Z")
        cap = client.get("/v1/capacity").json()
        assert cap["degraded"] is True
        assert cap["notes"] == [
            "capacity map is stale: its newest event (2026-01-05T13:00:00+00:00) "
            "is 2.0 h old, over the 60 min allowed"
        ]
        answer = post_options(client, "C5", **TEE_TO_CHICAGO)
        assert answer["degraded"] is True and cap["notes"][0] in answer["notes"]


def test_a_checkouts_own_work_does_not_keep_a_dead_feed_fresh(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A confirmed checkout logs its work on its nodes (``backlog_delta``,
    ``checkout:…``): the server's own news, not the feed's. It counted as a
    sign of life, so a server taking orders never flagged a capacity feed
    that had died (its staffing, outages and shipped work unheard for
    hours). The map stays stale; ``as_of`` still says the newest event."""
    kw = {"state": state_location, "capacity_max_age_s": 3600.0}
    with (
        live_server(tmp_path, router_kw=kw) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        _staffing_event(client, "old", "2026-01-05T13:00:00Z")
        answer = post_options(client, "C5", **TEE_TO_CHICAGO)
        rid, option = answer["request_id"], answer["options"][0]["option_id"]
        path = f"/v1/checkouts/{rid}"
        assert client.post(f"{path}/select", json={"option_id": option}).is_success
        assert client.post(f"{path}/confirm").json()["status"] == "confirmed"
        cap = client.get("/v1/capacity").json()
        assert cap["as_of"] > "2026-01-05T13:00:00+00:00"  # the order's work
        assert cap["degraded"] is True
        assert cap["notes"] == [
            "capacity map is stale: its newest event (2026-01-05T13:00:00+00:00) "
            "is 2.0 h old, over the 60 min allowed"
        ]


def test_a_map_that_never_heard_an_event_is_stale_from_the_start(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The age of a map without events counts from the server's start, not
    from its first answer (an idle server's first answer, two hours in, said
    fresh and then "3 s since the server started")."""
    start = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)
    clock = [start]
    kw = {"state": state_location, "capacity_max_age_s": 3600.0}
    with (
        live_server(tmp_path, router_kw=kw, clock=lambda: clock[0]) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        clock[0] = start + dt.timedelta(hours=2)  # nobody asked until now
        first = client.get("/v1/capacity").json()
        assert first["degraded"] is True
        assert first["notes"] == [
            "capacity map is stale: no capacity event in the 2.0 h since the "
            "server started, over the 60 min allowed"
        ]


def test_a_future_dated_event_does_not_keep_a_dead_feed_fresh(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event dated 30 days ahead (inside the event window) made the map
    "fresh" for 30 days (``degraded: false``, whatever the feed did). Its
    time counts only up to its receipt; and a map that never heard an event
    is stale once the age has passed too (it was never flagged). (A live
    event is dated 5 minutes ahead at most now; one logged through the
    function-call API, which takes a simulated day's scripted events, or by
    an older release still counts only up to its receipt.)"""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    monkeypatch.setenv("TIERFLOW_NOW", start.isoformat())
    clock = [start]
    kw = {"state": state_location, "capacity_max_age_s": 3600.0}
    with (
        live_server(tmp_path, router_kw=kw, clock=lambda: clock[0]) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert client.get("/v1/capacity").json()["degraded"] is False
        clock[0] = start + dt.timedelta(hours=2)
        empty = client.get("/v1/capacity").json()
        assert (empty["as_of"], empty["degraded"]) == (None, True)
        assert empty["notes"] == [
            "capacity map is stale: no capacity event in the 2.0 h since the "
            "server started, over the 60 min allowed"
        ]
        clock[0] = dt.datetime.now(dt.UTC)  # the feed is back
        ahead = start + dt.timedelta(days=30)
        event = {"event_id": "ahead", "ts": ahead.isoformat(), "node_id": "WH-WEST",
                 "type": "staffing", "value": 90}  # fmt: skip
        router.apply_capacity_events([event])
        assert client.get("/v1/capacity").json()["degraded"] is False  # just heard
        clock[0] = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        cap = client.get("/v1/capacity").json()
        assert cap["as_of"] is not None and cap["as_of"].startswith(
            ahead.date().isoformat()
        )
        assert cap["degraded"] is True
        assert len(cap["notes"]) == 1
        assert cap["notes"][0].startswith(
            f"capacity map is stale: its newest event ({ahead.isoformat()}) was "
            "received 2.0 h ago ("
        )
        assert cap["notes"][0].endswith("), over the 60 min allowed")


def _staffing_event(client: httpx.Client, event_id: str, ts: str) -> None:
    """One staffing event at WH-WEST, applied (the operator's key)."""
    event = {"event_id": event_id, "ts": ts, "node_id": "WH-WEST",
             "type": "staffing", "value": 90}  # fmt: skip
    r = client.post(
        "/v1/capacity/events", json={"events": [event]}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
