"""The checkout calls' lean path (``service/lean.py``): a well-formed request
is answered by the endpoint's lean handler; anything else is left to
FastAPI (the handler returns None), whose errors the route tests check."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from tests.service_fixtures import API_KEY, MONDAY_10, TEE_TO_CHICAGO, tiny_router
from tierflow.data.errors import InputError
from tierflow.service.app import create_app
from tierflow.service.lean import LeanDispatch, LeanRoute, replay
from tierflow.service.routes import checkout

JSON = "application/json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    router = tiny_router(tmp_path)
    try:
        yield create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10)
    finally:
        router.close()


def _request(
    app: FastAPI,
    body: bytes = b"",
    *,
    kind: str | None = JSON,
    request_id: str | None = None,
    customer: str | None = None,
    encoding: str | None = None,
) -> Request:
    headers = [(b"content-length", str(len(body)).encode())]
    if kind is not None:
        headers.append((b"content-type", kind.encode()))
    if encoding is not None:
        headers.append((b"content-encoding", encoding.encode()))
    if customer is not None:
        headers.append((b"x-customer-id", customer.encode()))
    scope: dict[str, Any] = {
        "type": "http", "method": "POST", "path": "/", "headers": headers,
        "query_string": b"", "app": app,
        "path_params": {} if request_id is None else {"request_id": request_id},
    }  # fmt: skip
    return Request(scope, replay(body))


def _lean(endpoint: Any, request: Request) -> Any:
    handler = endpoint.__tierflow_lean__
    return asyncio.run(handler(request))


def _options_body(**change: Any) -> bytes:
    return json.dumps({"customer_id": "C10", **TEE_TO_CHICAGO, **change}).encode()


def test_the_checkout_routes_are_lean() -> None:
    lean = {
        r.path
        for r in checkout.router.routes
        if isinstance(r, LeanRoute) and hasattr(r.endpoint, "__tierflow_lean__")
    }
    assert lean == {
        "/v1/options",
        "/v1/checkouts/{request_id}/select",
        "/v1/checkouts/{request_id}/confirm",
        "/v1/checkouts/{request_id}/cancel",
    }


def test_a_well_formed_checkout_is_answered_by_the_lean_handlers(
    app: FastAPI,
) -> None:
    answer = _lean(checkout.post_options, _request(app, _options_body()))
    assert answer.status_code == 200
    options = json.loads(answer.body)
    rid = options["request_id"]
    choice = json.dumps({"option_id": options["options"][0]["option_id"]}).encode()
    held = _lean(checkout.post_select, _request(app, choice, request_id=rid))
    assert (held.status_code, json.loads(held.body)["status"]) == (200, "held")
    done = _lean(
        checkout.post_confirm, _request(app, request_id=rid, kind=None, customer="C10")
    )
    assert (done.status_code, json.loads(done.body)["status"]) == (200, "confirmed")
    # the router's refusals are raised as from FastAPI's path (the app's
    # error handlers turn them into the error contract)
    with pytest.raises(InputError, match="already confirmed"):
        _lean(checkout.post_cancel, _request(app, request_id=rid, kind=None))


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (_options_body(), None),  # no content type
        (_options_body(), "text/plain"),
        (_options_body(), "application/merge-patch+json"),
        (b"", JSON),
        (b"null", JSON),
        (b'{"customer_id": "C10", "items": [', JSON),  # not JSON
        (b"\xff\xfe", JSON),  # not UTF-8
        (_options_body(dest="6060"), JSON),  # a bad field
        (_options_body(extra=1), JSON),  # an unknown field
        (_options_body(items=[{"sku": "TEE", "quantity": "1"}]), JSON),  # strict
    ],
)
def test_anything_else_is_left_to_fastapi(
    app: FastAPI, body: bytes, kind: str | None
) -> None:
    assert _lean(checkout.post_options, _request(app, body, kind=kind)) is None


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_a_body_in_a_content_coding_is_left_to_fastapi(
    app: FastAPI, encoding: str
) -> None:
    """Its route refuses a coding 415 (``identity`` it reads): the lean
    handlers read the JSON as if the header were not there."""
    body = _options_body()
    assert _lean(checkout.post_options, _request(app, body, encoding=encoding)) is None
    choice = json.dumps({"option_id": "gold"}).encode()
    request = _request(app, choice, request_id="abc", encoding=encoding)
    assert _lean(checkout.post_select, request) is None


@pytest.mark.parametrize(
    ("request_id", "customer"),
    [("a/b", None), ("x" * 65, None), ("ok", ""), ("ok", "C 1"), ("ok", "C" * 65)],
)
def test_bad_ids_are_left_to_fastapi(
    app: FastAPI, request_id: str, customer: str | None
) -> None:
    body = json.dumps({"option_id": "gold"}).encode()
    for endpoint, payload in (
        (checkout.post_select, body),
        (checkout.post_confirm, b""),
        (checkout.post_cancel, b""),
    ):
        request = _request(app, payload, request_id=request_id, customer=customer)
        assert _lean(endpoint, request) is None


def _call(
    app: FastAPI, path: str, body: bytes = b"", *, kind: str | None = JSON
) -> tuple[int, dict[str, Any], Any]:
    """``POST path`` through the whole app in process: the status, the
    JSON body, and the route the scope named (what the access log and the
    metrics read)."""
    headers = [(b"content-length", str(len(body)).encode())]
    if kind is not None:
        headers.append((b"content-type", kind.encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("t", 80),
    }  # fmt: skip
    out: dict[str, Any] = {}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] = out.get("body", b"") + message.get("body", b"")

    asyncio.run(app(scope, replay(body), send))
    return out["status"], json.loads(out["body"]), scope.get("route")


def test_the_dispatch_answers_well_formed_calls_before_fastapis_routing(
    app: FastAPI,
) -> None:
    """``LeanDispatch`` answers the lean calls itself: FastAPI's router sees
    only what the lean handlers leave (here, a bad field), which it answers
    as always, the body read once already given to it again."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, LeanDispatch)
    routed: list[str] = []
    router = dispatch.app

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await router(scope, receive, send)

    dispatch.app = counted
    status, options, route = _call(app, "/v1/options", _options_body())
    assert (status, route.path, routed) == (200, "/v1/options", [])
    rid = options["request_id"]
    choice = json.dumps({"option_id": options["options"][0]["option_id"]}).encode()
    status, held, route = _call(app, f"/v1/checkouts/{rid}/select", choice)
    assert (status, held["status"], routed) == (200, "held", [])
    assert route.path == "/v1/checkouts/{request_id}/select"
    status, done, _ = _call(app, f"/v1/checkouts/{rid}/confirm", kind=None)
    assert (status, done["status"], routed) == (200, "confirmed", [])
    # the router's refusal, through the app's error handlers
    status, refused, route = _call(app, f"/v1/checkouts/{rid}/cancel", kind=None)
    assert (status, refused["error"], routed) == (409, "conflict", [])
    assert route.path == "/v1/checkouts/{request_id}/cancel"
    # left to FastAPI, with the body: its validation names the field
    status, bad, route = _call(app, "/v1/options", _options_body(dest="6060"))
    assert (status, bad["field"], routed) == (422, "dest", ["/v1/options"])
    assert route.path == "/v1/options"
