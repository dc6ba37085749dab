"""Errors over HTTP: one JSON shape naming the field, never a trace (live
loopback server on the tiny network)."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"items": [{"sku": "TEE", "quantity": 0}]}, 422, "items[0].quantity"),
        ({"items": [{"sku": "TEE", "quantity": "1"}]}, 422, "items[0].quantity"),
        ({"items": [{"sku": "TEE", "quantity": 2.5}]}, 422, "items[0].quantity"),
        ({"items": [{"sku": "TEE", "quantity": 10**30}]}, 422, "items[0].quantity"),
        (
            {"items": [{"sku": "TEE", "quantity": 1}, {"sku": "HAT", "quantity": 1}]},
            422,
            "items[1].sku",
        ),
        ({"items": []}, 422, "items"),
        ({"items": "TEE:1"}, 422, "items"),
        ({"dest": "999"}, 422, "dest"),
        ({"dest": "6060"}, 422, "dest"),
        ({"dest": None}, 422, "dest"),
        ({"customer_id": ""}, 422, "customer_id"),
        ({"customer_id": "x" * 65}, 422, "customer_id"),
        ({"preferences": {"speed": -1}}, 422, "preferences.speed"),
        ({"preferences": {"fast": 1}}, 422, "preferences.fast"),
        ({"preferences": {"speed": 0, "cost": 0, "eco": 0}}, 422, "preferences"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_requests_get_4xx_json_naming_the_field(
    shared_live: Any, body: dict[str, Any], status: int, field: str
) -> None:
    client, _, _ = shared_live
    request = {"customer_id": "C1", **TEE_TO_CHICAGO, **body}
    r = client.post("/v1/options", json=request)
    assert r.status_code == status, r.text
    error = r.json()
    assert error["error"] == "invalid_request"
    assert error["field"] == field
    assert field.split("[")[0].split(".")[0] in error["message"]
    assert "Traceback" not in r.text


def test_every_refused_value_is_named(shared_live: Any) -> None:
    """Each problem names the value refused, as the router's errors do
    (``value 'HAT'``); a missing field and a list have none to name. They
    gave the validator's words alone (a 12-digit quantity: "Input should be
    less than or equal to 10000")."""
    client, _, _ = shared_live
    body = {"customer_id": "", "items": [{"sku": "TEE", "quantity": 10**12}],
            "dest": "ABCDE", "preferences": [1]}  # fmt: skip
    r = client.post("/v1/options", json=body)
    assert r.status_code == 422, r.text
    got = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert got == {
        "customer_id": "value '': String should have at least 1 character",
        "items[0].quantity": "value 1000000000000: Input should be less than or "
        "equal to 10000",
        "dest": "value 'ABCDE': String should match pattern "
        "'^[0-9]{3}([0-9]{2}(-[0-9]{4})?)?$'",
        "preferences": "Input should be a valid dictionary or object to extract "
        "fields from",
    }
    assert r.json()["message"] == f"field 'customer_id': {got['customer_id']}"
    missing = client.post("/v1/options", json={"items": body["items"]}).json()
    assert missing["errors"][0]["message"] == "Field required"


def test_lines_of_one_sku_past_one_order_line_are_refused(shared_live: Any) -> None:
    """Each line is within the schema's 10,000, but the order keeps one line
    per SKU: 6,000 + 5,000 was confirmed as a line of 11,000 that its export
    (``orders.csv``) could not hold and ``tierflow allocate`` refused."""
    client, _, _ = shared_live
    items = [{"sku": "TEE", "quantity": 6000}, {"sku": "MUG", "quantity": 1},
             {"sku": "TEE", "quantity": 5000}]  # fmt: skip
    r = client.post("/v1/options", json={**TEE_TO_CHICAGO, "customer_id": "C1",
                                         "items": items})  # fmt: skip
    words = (
        "value 5000: lines of SKU 'TEE' add up to "
        "11,000 units, more than 10,000 on one order line"
    )
    assert (r.status_code, r.json()) == (
        422,
        {
            "error": "invalid_request",
            "message": f"field 'items[2].quantity': {words}",
            "field": "items[2].quantity",
            "errors": [
                {
                    "field": "items[2].quantity",
                    "message": words,
                    "type": "invalid_request",
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 422, "invalid_request"),
        (b"[1, 2]", 422, "invalid_request"),
        (b"", 422, "invalid_request"),
        (b"\xff\xfe{", 400, "bad_request"),  # not UTF-8
    ],
)
def test_malformed_bodies(
    shared_live: Any, content: bytes, status: int, error: str
) -> None:
    client, _, _ = shared_live
    r = client.post(
        "/v1/options", content=content, headers={"Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (
        status,
        error,
        "body",
    )


_NOT_JSON = "not read as JSON ({}; send application/json)"
_DEEP = b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}"
_LONG_NUMBER = b'{"items": [{"sku": "TEE", "quantity": ' + b"9" * 5000 + b"}]}"


@pytest.mark.parametrize(
    "path",
    ["/v1/options", "/v1/checkouts/abc/select", "/v1/capacity/events"],
)
@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        # UTF-8 but no JSON: 422 as a syntax error is (they were 400
        # "There was an error parsing the body", a status documented only
        # for a body that is not UTF-8)
        (_DEEP, "application/json", 422, "JSON decode error (nested too deep)"),
        (b"[" * 60_000, "application/json", 422, "JSON decode error (nested too deep)"),
        (_LONG_NUMBER, "application/json", 422,
         "JSON decode error (a number of more than 4300 digits)"),
        (b"{not json", "application/json", 422, "JSON decode error"),
        # a JSON object under another content type is not read as JSON
        (b"{}", "text/plain", 422, _NOT_JSON.format("Content-Type 'text/plain'")),
        (b"{}", None, 422, _NOT_JSON.format("no Content-Type")),
        (b"{}", "application/x-www-form-urlencoded", 422,
         _NOT_JSON.format("Content-Type 'application/x-www-form-urlencoded'")),
        # not UTF-8: the one documented 400, naming the byte (it said
        # "There was an error parsing the body", which named no value)
        (b'{"items": "\xff"}', "application/json", 400,
         "field 'body': not UTF-8: byte 0xff at offset 11 cannot be decoded "
         "(invalid start byte); send JSON as UTF-8"),
        # a Latin-1 é; the offset into the body as sent, its byte order mark
        # counted (utf-8-sig counted from after it)
        (b'\xef\xbb\xbf{"items": "Z\xe9"}', "application/json", 400,
         "field 'body': not UTF-8: byte 0xe9 at offset 15 cannot be decoded "
         "(invalid continuation byte); send JSON as UTF-8"),
    ],
)  # fmt: skip
def test_every_malformed_body_gets_the_documented_status_and_shape(
    shared_live: Any,
    path: str,
    content: bytes,
    content_type: str | None,
    status: int,
    message: str,
) -> None:
    """docs/service.md, "Errors": 400 only for a body that is not UTF-8, 422
    for any other malformed body; one JSON shape naming ``body``."""
    client, _, _ = shared_live
    headers = {"X-API-Key": API_KEY}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = client.post(path, content=content, headers=headers)
    assert r.status_code == status, r.text
    code = {400: "bad_request", 422: "invalid_request"}[status]
    message = message.removeprefix("field 'body': ")
    assert r.json() == {
        "error": code,
        "message": f"field 'body': {message}",
        "field": "body",
        "errors": [r.json()["errors"][0] | {"field": "body", "message": message}],
    }
    assert len(r.json()["errors"]) == 1 and r.json()["errors"][0]["type"]


def test_unexpected_errors_are_json_500s_without_a_trace(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server of its own: after a 500 uvicorn closes the connection."""
    client, router, _ = live

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("boom in /secret/internal/path.py")

    monkeypatch.setattr(router, "generate_fulfillment_options", broken)
    r = client.post("/v1/options", json={"customer_id": "C1", **TEE_TO_CHICAGO})
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error"
    assert body["message"].startswith("internal error (incident ")
    assert "boom" not in r.text and "secret" not in r.text
    assert "Traceback" not in r.text and "File " not in r.text


def _body(error: str, message: str, field: str | None = None) -> dict[str, Any]:
    """An error answer with one item (``error_body``)."""
    words = message.removeprefix(f"field '{field}': ")
    one = {"field": field, "message": words, "type": error}
    return {"error": error, "message": message, "field": field, "errors": [one]}


#: The words of an unknown path's 404 (it was Starlette's "Not Found").
UNKNOWN_PATH = _body("not_found", "unknown path")


def test_unknown_paths_and_methods(shared_live: Any) -> None:
    """In the API's words, as its other refusals: they were Starlette's
    reason phrases ("Not Found", "Method Not Allowed")."""
    client, _, _ = shared_live
    r = client.get("/v1/nothing")
    assert (r.status_code, r.json()) == (404, UNKNOWN_PATH)
    r = client.get("/static/nothing.js")
    assert (r.status_code, r.json()) == (404, UNKNOWN_PATH)
    r = client.delete("/v1/options")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
    assert r.json() == _body(
        "method_not_allowed", "method 'DELETE' not allowed here (allowed: POST)"
    )
    r = client.post("/v1/capacity")
    assert r.json() == _body(
        "method_not_allowed", "method 'POST' not allowed here (allowed: GET, HEAD)"
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_a_405_allows_every_method_of_its_path(shared_live: Any, method: str) -> None:
    """``/v1/stock`` takes GET (and HEAD) and POST, two routes: its 405 said
    ``Allow: GET, HEAD``, the methods of the first route alone, so a client
    (or a tool reading ``Allow``, RFC 9110) was told the stock write it
    needs is not there."""
    client, _, _ = shared_live
    r = client.request(method, "/v1/stock")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD, POST")
    assert r.json() == _body(
        "method_not_allowed",
        f"method {method!r} not allowed here (allowed: GET, HEAD, POST)",
    )


def test_every_refusal_has_one_shape_and_voice(shared_live: Any) -> None:
    """401, 403, 413 and 422 as clients parse them (``error``, ``message``,
    ``field`` where there is one; 404 and 405 above)."""
    client, _, _ = shared_live
    events = {"events": [{"event_id": "x"}]}
    r = client.post("/v1/capacity/events", json=events)
    assert (r.status_code, r.json()) == (
        401,
        _body(
            "unauthorized",
            "this endpoint needs the API key (X-API-Key header or Authorization: Bearer)",
            "X-API-Key",
        ),
    )
    wrong = {"X-API-Key": "w" * 20}
    r = client.post("/v1/capacity/events", json=events, headers=wrong)
    assert (r.status_code, r.json()) == (
        403,
        _body("forbidden", "wrong API key", "X-API-Key"),
    )
    big = b"{" + b" " * 70_000 + b"}"
    r = client.post(
        "/v1/options", content=big, headers={"Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()) == (
        413,
        _body("body_too_large", "request body over 65536 bytes", "body"),
    )
    r = client.post("/v1/checkouts/bad$id/confirm")
    message = (
        "field 'request_id': value 'bad$id': String should match pattern "
        "'^[A-Za-z0-9_-]+$'"
    )
    assert (r.status_code, r.json()) == (
        422,
        {
            **_body("invalid_request", message, "request_id"),
            "errors": [
                {
                    "field": "request_id",
                    "message": message.removeprefix("field 'request_id': "),
                    "type": "string_pattern_mismatch",
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/options/"),
        ("POST", "/v1/checkouts/abc/confirm/"),
        ("POST", "/v1/capacity/events/"),
        ("GET", "/v1/capacity/"),
        ("GET", "/healthz/"),
        ("GET", "/docs/"),
    ],
)
def test_a_path_with_a_trailing_slash_is_an_unknown_path(
    shared_live: Any, method: str, path: str
) -> None:
    """It is a 404 as every unknown path is. It was a bodiless 307 to
    ``http://`` + the request's ``Host`` header + the path without it (a
    ``Host: evil.example`` sent there; ``http`` behind a TLS proxy)."""
    client, _, _ = shared_live
    r = client.request(method, path, headers={"Host": "evil.example"})
    assert (r.status_code, r.headers.get("location")) == (404, None)
    assert r.json() == UNKNOWN_PATH


@pytest.mark.parametrize(
    ("encoding", "status", "error"),
    [
        ("utf-16", 400, "bad_request"),  # a byte order mark: not UTF-8
        ("utf-32", 400, "bad_request"),
        # no byte order mark: ASCII with NUL bytes, UTF-8 that is no JSON
        ("utf-16-le", 422, "invalid_request"),
    ],
)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/options", {"customer_id": "C1", **TEE_TO_CHICAGO}),
        ("/v1/checkouts/abc/select", {"option_id": "gold"}),
        ("/v1/capacity/events", {"events": []}),
    ],
)
def test_json_in_another_unicode_encoding_is_refused_as_a_malformed_body(
    shared_live: Any,
    path: str,
    body: dict[str, Any],
    encoding: str,
    status: int,
    error: str,
) -> None:
    """docs/service.md, "Errors": JSON on the wire is UTF-8 (RFC 8259); a
    body that is not UTF-8 is 400, one that is UTF-8 but no JSON 422.
    ``json.loads`` of the bytes guessed UTF-16 and UTF-32 and answered such
    a body as a valid request."""
    client, _, _ = shared_live
    content = json.dumps(body).encode(encoding)
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    r = client.post(path, content=content, headers=headers)
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (
        status,
        error,
        "body",
    ), r.text


def test_utf8_with_a_byte_order_mark_is_still_read(shared_live: Any) -> None:
    client, _, _ = shared_live
    content = (
        b"\xef\xbb\xbf" + json.dumps({"customer_id": "C1", **TEE_TO_CHICAGO}).encode()
    )
    r = client.post(
        "/v1/options", content=content, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text


_OPTIONS = json.dumps({"customer_id": "C1", **TEE_TO_CHICAGO}).encode()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/options", _OPTIONS),
        ("/v1/checkouts/abc/select", b'{"option_id": "gold"}'),
        ("/v1/capacity/events", b'{"events": []}'),
        ("/v1/stock", b'{"changes": []}'),
    ],
    ids=["options", "select", "capacity-events", "stock"],
)
@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        # a coding named but not applied: the lean checkout path read the
        # JSON and answered it as if the header were not there
        ("br", bytes),
        ("gzip, identity", gzip.compress),
    ],
    ids=["gzip", "deflate", "br-not-applied", "gzip-identity"],
)
def test_a_body_in_a_content_coding_is_refused_naming_the_header(
    shared_live: Any,
    path: str,
    body: bytes,
    encoding: str,
    encode: Any,
) -> None:
    """docs/service.md, "Errors": 415 naming ``Content-Encoding`` and its
    value. The header was ignored: a gzipped body was read as the body and
    answered 400 "not UTF-8", which sent the caller looking at its JSON."""
    client, _, _ = shared_live
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": encoding,
        "X-API-Key": API_KEY,
    }
    r = client.post(path, content=encode(body), headers=headers)
    message = (
        f"field 'Content-Encoding': value {encoding!r}: not supported; send the "
        "body uncompressed (no Content-Encoding)"
    )
    assert (r.status_code, r.json()) == (
        415,
        _body("unsupported_media_type", message, "Content-Encoding"),
    ), r.text
    assert r.headers["accept-encoding"] == "identity"  # RFC 9110, 15.5.16


def test_a_body_in_the_identity_coding_is_read(shared_live: Any) -> None:
    """``identity`` is no coding at all: the body is read as sent."""
    client, _, _ = shared_live
    headers = {"Content-Type": "application/json", "Content-Encoding": "Identity"}
    r = client.post("/v1/options", content=_OPTIONS, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["options"]


def test_an_operator_body_with_a_key_twice_is_refused(shared_live: Any) -> None:
    """JSON keeps the last of a repeated key: ``"value": 80, "value": 290``
    was applied as 290 without a word, where a JSON-lines feed refuses it."""
    client, router, _ = shared_live
    seq = router.monitor.last_seq
    body = (
        b'{"events": [{"event_id": "twice-1", "ts": "2026-01-05T10:00:00Z", '
        b'"node_id": "WH-EAST", "type": "staffing", "value": 80, "value": 290}]}'
    )
    r = client.post(
        "/v1/capacity/events",
        content=body,
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    message = "JSON decode error (key 'value' given twice in one object)"
    assert (r.status_code, r.json()["message"], r.json()["field"]) == (
        422,
        f"field 'body': {message}",
        "body",
    )
    assert router.monitor.last_seq == seq  # nothing logged


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        (
            "/v1/options",
            b'{"customer_id": "C1", "items": [{"sku": "TEE", "quantity": 1, '
            b'"quantity": 9999}], "dest": "60601"}',
            "quantity",
        ),
        (
            "/v1/options",
            b'{"customer_id": "C1", "items": [{"sku": "TEE", "quantity": 1}], '
            b'"dest": "60601", "dest": "10001"}',
            "dest",
        ),
        (
            "/v1/checkouts/abc/select",
            b'{"option_id": "gold", "option_id": "platinum"}',
            "option_id",
        ),
    ],
)
def test_a_checkout_body_with_a_key_twice_is_refused(
    shared_live: Any, path: str, body: bytes, key: str
) -> None:
    """A cart line's ``"quantity": 1, "quantity": 9999`` was answered (and
    could be ordered) as 9999 units without a word, and a select naming two
    options held the last: a checkout's body is read as an operator's is."""
    client, _, _ = shared_live
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    message = f"JSON decode error (key {key!r} given twice in one object)"
    assert (r.status_code, r.json()["message"], r.json()["field"]) == (
        422,
        f"field 'body': {message}",
        "body",
    ), r.text


def test_a_feed_event_may_not_take_a_checkouts_work_id(shared_live: Any) -> None:
    """``checkout:<request_id>:<node_id>`` is a confirmed checkout's work,
    which the server logs itself: a posted event of such an id was taken
    for an order's work (no sign of the feed's life), and logged first it
    made that checkout's confirm a duplicate, its work never counted."""
    client, router, _ = shared_live
    seq = router.monitor.last_seq
    event: dict[str, Any] = {
        "event_id": "checkout:R1:WH-EAST",
        "ts": "2026-01-05T14:00:00Z",
    }
    event |= {"node_id": "WH-EAST", "type": "backlog_delta", "value": 5}
    r = client.post(
        "/v1/capacity/events", json={"events": [event]}, headers={"X-API-Key": API_KEY}
    )
    assert (r.status_code, r.json()["field"], r.json()["message"]) == (
        422,
        "events[0].event_id",
        "field 'events[0].event_id': value 'checkout:R1:WH-EAST': ids beginning "
        "'checkout:' are a confirmed checkout's own work "
        "(checkout:<request_id>:<node_id>), which the server logs itself; give "
        "the event an id of another prefix",
    )
    assert router.monitor.last_seq == seq  # nothing logged


def test_a_body_of_thousands_of_problems_lists_the_first_50(shared_live: Any) -> None:
    """A 64 KiB body with 5,000 unknown keys in one cart line was answered
    with every problem listed, 519 KB: the list is cut after the first
    ``MAX_LISTED_ERRORS`` (50), and one more item says how many more there
    were, in the items' shape (``field`` null: no one part of the request)."""
    client, _, _ = shared_live
    line: dict[str, Any] = {"sku": "TEE", "quantity": 1}
    line.update({f"k{i}": 1 for i in range(5_000)})
    body = {"customer_id": "C1", "dest": "60601", "items": [line]}
    r = client.post("/v1/options", json=body)
    assert r.status_code == 422, r.text[:300]
    assert len(r.content) < 8_000, len(r.content)
    got = r.json()
    assert got["field"] == "items[0].k0"
    assert (
        got["message"] == "field 'items[0].k0': value 1: Extra inputs are not permitted"
    )
    *listed, more = got["errors"]
    assert [e["field"] for e in listed] == [f"items[0].k{i}" for i in range(50)]
    assert {(e["message"], e["type"]) for e in listed} == {
        ("value 1: Extra inputs are not permitted", "extra_forbidden")
    }
    assert more == {
        "field": None,
        "message": "4,950 more problems not listed (the first 50 are)",
        "type": "more_errors",
    }
    # up to 50, each is listed and none stands for more
    line = {"sku": "TEE", "quantity": 1, **{f"k{i}": 1 for i in range(50)}}
    r = client.post("/v1/options", json={**body, "items": [line]})
    assert [e["type"] for e in r.json()["errors"]] == ["extra_forbidden"] * 50


def test_each_error_item_names_its_field_once(shared_live: Any) -> None:
    """``errors[i]`` is ``{field, message}`` with the message's words after
    the field, on every route and for every kind of refusal: the answer's
    ``message`` is ``field '<field>': <errors[0].message>``. The router's
    refusals (an unknown SKU, an option id, a node, a checkout's state) said
    ``field 'items[0].sku': field 'items[0].sku': …`` to a client that
    printed an item's field before its message; the validator's never did."""
    client, _, _ = shared_live
    rid = client.post("/v1/options", json={"customer_id": "C1", **TEE_TO_CHICAGO})
    rid = rid.json()["request_id"]
    event = {"event_id": "e1", "ts": "2026-01-05T14:00:00Z", "node_id": "NOPE",
             "type": "staffing", "value": 90}  # fmt: skip
    calls = [
        (
            "/v1/options",
            {
                "customer_id": "C1",
                "dest": "60601",
                "items": [{"sku": "HAT", "quantity": 1}],
            },
            "items[0].sku",
            "value 'HAT': unknown SKU",
        ),
        (
            "/v1/options",
            {"customer_id": "", **TEE_TO_CHICAGO},
            "customer_id",
            "value '': String should have at least 1 character",
        ),
        (
            f"/v1/checkouts/{rid}/select",
            {"option_id": "nope"},
            "option_id",
            "value 'nope': not an option of this request (one of ",
        ),
        (
            f"/v1/checkouts/{rid}/confirm",
            None,
            "request_id",
            f"value '{rid}': no option selected for this request yet",
        ),
        (
            "/v1/checkouts/abc/cancel",
            None,
            "request_id",
            "value 'abc': unknown request id",
        ),
        (
            "/v1/capacity/events",
            {"events": [event]},
            "events[0].node_id",
            "value 'NOPE': unknown node",
        ),
    ]
    for path, body, field, words in calls:
        r = client.post(path, json=body, headers={"X-API-Key": API_KEY})
        assert r.status_code in (404, 409, 422), r.text
        got = r.json()
        (item,) = got["errors"]
        assert (got["field"], item["field"]) == (field, field), r.text
        assert item["message"].startswith(words), r.text
        assert got["message"] == f"field '{field}': {item['message']}", r.text


@pytest.mark.parametrize(
    ("query", "field", "values"),
    [
        ("/v1/stock?sku=TEE&sku=MUG", "sku", ["TEE", "MUG"]),
        ("/v1/stock?node_id=WH-EAST&sku=TEE&node_id=WH-WEST", "node_id",
         ["WH-EAST", "WH-WEST"]),
        ("/v1/stream?request_id=abc&request_id=def", "request_id", ["abc", "def"]),
        ("/v1/stream?request_id=abc&capacity=false&capacity=true", "capacity",
         ["false", "true"]),
    ],
)  # fmt: skip
def test_a_query_parameter_given_twice_is_refused(
    shared_live: Any, query: str, field: str, values: list[str]
) -> None:
    """Each query parameter takes one value: one given twice answered the
    last alone (``/v1/stock?sku=TEE&sku=MUG``: MUG's positions, as if TEE
    had not been asked for; a stream of the second checkout named)."""
    client, _, _ = shared_live
    r = client.get(query)
    message = f"values {values!r}: given {len(values)} times; it takes one value"
    assert (r.status_code, r.json()) == (
        422,
        {
            "error": "invalid_request",
            "message": f"field '{field}': {message}",
            "field": field,
            "errors": [{"field": field, "message": message, "type": "invalid_request"}],
        },
    )


def _unknown(name: str, takes: str) -> dict[str, Any]:
    """The refusal of the query parameter ``name`` on a path taking ``takes``."""
    words = f"unknown query parameter (this path takes {takes})"
    return {
        "error": "invalid_request",
        "message": f"field '{name}': {words}",
        "field": name,
        "errors": [{"field": name, "message": words, "type": "invalid_request"}],
    }


@pytest.mark.parametrize(
    ("method", "query", "name", "takes"),
    [
        ("GET", "/v1/stock?nod_id=WH-EAST", "nod_id", "node_id, sku"),
        ("GET", "/v1/stock?node_id=WH-EAST&SKU=TEE", "SKU", "node_id, sku"),
        ("GET", "/v1/stream?request_id=abc&requestid=abc", "requestid",
         "capacity, request_id"),
        ("GET", "/v1/capacity?node_id=WH-EAST", "node_id", "no query parameter"),
        ("GET", "/v1/allocation?run=latest", "run", "no query parameter"),
        ("GET", "/v1/map?x", "x", "no query parameter"),
        ("GET", "/v1/samples?n=3", "n", "no query parameter"),
        ("GET", "/metrics?name[]=tierflow_holds", "name[]", "no query parameter"),
        ("HEAD", "/v1/capacity?node_id=WH-EAST", "node_id", "no query parameter"),
        ("POST", "/v1/options?dry_run=1", "dry_run", "no query parameter"),
        ("POST", "/v1/capacity/events?dry_run=1", "dry_run", "no query parameter"),
        ("POST", "/v1/stock?dry_run=1", "dry_run", "no query parameter"),
    ],
)  # fmt: skip
def test_an_unknown_query_parameter_is_refused(
    shared_live: Any, method: str, query: str, name: str, takes: str
) -> None:
    """A query parameter the path does not take is refused, naming it and
    those the path takes: ``GET /v1/stock?nod_id=WH-EAST`` answered every
    position of every node (an operator's typo read the whole table as the
    one node's), ``/v1/capacity?node_id=`` the whole map. The options call's
    body is valid: its lean path answered it as if no query had come; the
    writes' are not, and their query is refused before the body is read."""
    client, _, _ = shared_live
    body = {
        "/v1/options": {"customer_id": "C1", **TEE_TO_CHICAGO},
        "/v1/capacity/events": {"events": []},
        "/v1/stock": {"mode": "add", "changes": []},
    }.get(query.partition("?")[0])
    r = client.request(method, query, json=body, headers={"X-API-Key": API_KEY})
    assert r.status_code == 422, r.text
    if method != "HEAD":
        assert r.json() == _unknown(name, takes)


def test_every_api_operation_takes_only_its_documented_query_parameters(
    shared_live: Any,
) -> None:
    """Each operation of the OpenAPI document refuses a query parameter the
    document does not list for it, naming those it lists; the probes, the
    pages and their files take any (a balancer's or a monitor's cache
    buster never fails a probe, a shared link's ``?utm_source=`` never
    breaks a page). The key is asked first: a keyed write refuses a caller
    without it 401, whatever its query (``KeyFirstRoute``)."""
    client, _, _ = shared_live
    paths = client.get("/openapi.json").json()["paths"]
    checked = []
    for path, operations in paths.items():
        for method, op in operations.items():
            takes = sorted(
                p["name"] for p in op.get("parameters", []) if p["in"] == "query"
            )
            # a stream of no checkout would be answered, and go on, before
            url = path.replace("{request_id}", "abc") + (
                "?request_id=abc&zz=1" if path == "/v1/stream" else "?zz=1"
            )
            r = client.request(method.upper(), url, headers={"X-API-Key": API_KEY})
            if path in ("/healthz", "/readyz"):
                assert r.status_code == 200, (path, r.text)
                continue
            checked.append((method, path))
            expected = _unknown("zz", ", ".join(takes) or "no query parameter")
            assert (r.status_code, r.json()) == (422, expected), (method, path)
    assert len(checked) == 14, checked  # each operation but the two probes
    for page in ("/?utm_source=mail", "/ops?v=2", "/static/app.css?v=2", "/docs?x=1"):
        assert client.get(page).status_code == 200, page
    keyless = client.post("/v1/capacity/events?zz=1", json={"events": []})
    assert (keyless.status_code, keyless.json()["error"]) == (401, "unauthorized")
