"""A lean request path for the checkout calls.

FastAPI's per-request machinery (the endpoint's context for error messages,
the content type parsed as a MIME header, the dependency tree solved, the
body and every parameter validated field by field) costs a checkout call
about as much server time as the decision's own store writes. A
:class:`LeanRoute` first offers the request to the endpoint's lean handler
(:func:`lean`), which answers a well-formed request itself with the same
models and the same endpoint code, or returns None: then FastAPI runs the
endpoint exactly as before (a body whose read failed fails the same way
for it), so every malformed request gets the error it always got. The
OpenAPI document is FastAPI's, from the route as declared.

:class:`LeanDispatch` goes one step further: it sits where FastAPI's router
does (inside the error handling) and hands a ``POST`` whose path is a lean
route's straight to that route's lean handler, without FastAPI's route
matching and request handling; whatever the handler leaves goes to the
router with the body it read, and is answered as always.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierflow.service.utf8_json import (
    UniqueKeysJsonRequest,
    Utf8JsonRoute,
    loads_utf8_unique,
)

#: Answers a well-formed request, or None to let FastAPI run the endpoint.
LeanHandler = Callable[[Request], Awaitable[Response | None]]

_ATTR = "__tierflow_lean__"
_F = TypeVar("_F", bound=Callable[..., Any])
_M = TypeVar("_M", bound=BaseModel)
#: The checkout's path ids (``RequestId`` in ``routes/checkout.py``).
_PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Customer ids (``ID_PATTERN``, 1-64 characters).
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: The headers a key comes in, as ASGI spells them.
_KEY_HEADERS = frozenset({b"x-api-key", b"authorization"})


def lean(handler: LeanHandler) -> Callable[[_F], _F]:
    """Give an endpoint of a :class:`LeanRoute` its lean handler."""

    def mark(endpoint: _F) -> _F:
        setattr(endpoint, _ATTR, handler)
        return endpoint

    return mark


class LeanRoute(Utf8JsonRoute):
    """An ``APIRoute`` whose endpoint's lean handler (if any) answers first
    (a JSON body read as UTF-8 only, :class:`Utf8JsonRoute`, an object with
    a key twice refused: a cart line's ``"quantity": 1, "quantity": 9999``
    was read as 9999 units without a word)."""

    request_class = UniqueKeysJsonRequest

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        first: LeanHandler | None = getattr(self.endpoint, _ATTR, None)
        if first is None:
            return full

        async def handler(request: Request) -> Response:
            if not plain(request.scope):
                return await full(request)
            try:
                answer = await first(request)
            except BodyUnread as unread:  # FastAPI meets the same failure
                request = Request(request.scope, unread.receive)
                answer = None
            return await full(request) if answer is None else answer

        return handler


class LeanDispatch:
    """ASGI: the app's router, with the lean routes' well-formed calls first.

    A ``POST`` that one of ``routes`` (those with a lean handler) matches
    is given to its lean handler at once, the scope filled in as FastAPI's
    router fills it (``route``, ``endpoint``, ``path_params``: the access log
    and the metrics name the route); an exception goes to the app's error
    handlers as from the route. When the handler returns None the request
    goes to ``app`` (the router), its body replayed, and is answered as
    before. With FastAPI's OpenTelemetry on, every request takes the router
    (it records the route it selects).
    """

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self._lean: list[tuple[APIRoute, LeanHandler]] = []
        for route in routes:
            first = getattr(getattr(route, "endpoint", None), _ATTR, None)
            if (
                isinstance(route, APIRoute)
                and "POST" in (route.methods or ())
                and first
            ):
                self._lean.append((route, first))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and "fastapi.telemetry" not in scope
        ):
            for route, first in self._lean:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    left = await _answer(first, child, scope, receive, send)
                    if left is None:
                        return
                    receive = left
                    break
        await self.app(scope, receive, send)


async def _answer(
    first: LeanHandler, child: Scope, scope: Scope, receive: Receive, send: Send
) -> Receive | None:
    """Answer with the lean handler (returns None), or give back what reads
    the request's body again, the scope as it was, for the router."""
    if not plain(scope):
        return receive
    saved = {key: scope[key] for key in child if key in scope}
    scope.update(child)
    request = Request(scope, receive, send)
    try:
        answer = await first(request)
    except BodyUnread as unread:  # the router meets the same failure
        receive = unread.receive
    else:
        if answer is not None:
            await answer(scope, receive, send)
            return None
        body: bytes | None = getattr(request, "_body", None)
        if body is not None:
            receive = replay(body, receive)
    for key in child:
        scope.pop(key, None)
    scope.update(saved)
    return receive


def plain(scope: Scope) -> bool:
    """Whether a lean handler may take the request: it has no query string
    and gives neither key header twice. The route refuses those (a query
    parameter it does not take, a key given twice: ``query_params.py``)
    where FastAPI runs it; the lean handler answered them as if unsaid."""
    if scope.get("query_string"):
        return False
    keys = [name for name, _ in scope["headers"] if name in _KEY_HEADERS]
    return len(keys) == len(set(keys))


def replay(body: bytes, receive: Receive | None = None) -> Receive:
    """An ASGI ``receive`` that first gives ``body`` (read already) whole, then
    defers to ``receive`` (``None``: the client has disconnected)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        if receive is None:
            return {"type": "http.disconnect"}
        return await receive()

    return again


class BodyUnread(Exception):
    """Reading the body failed (too large, the client gone): FastAPI gets a
    request whose body read fails the same way, and answers as always."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause

    async def receive(self) -> Message:
        """The failed read, again."""
        raise self.cause


async def json_body(request: Request, model: type[_M]) -> _M | None:
    """The body as ``model`` when it is ``application/json``, in no content
    coding, and valid (the same parse, a key twice refused, and validation
    FastAPI runs); None for anything else (a ``Content-Encoding``, even
    ``identity``: FastAPI's route refuses or reads it, ``utf8_json.py``)."""
    kind = request.headers.get("content-type", "")
    if kind.partition(";")[0].strip().lower() != "application/json":
        return None
    if "content-encoding" in request.headers:  # a JSON body read as sent
        return None
    try:
        raw = await request.body()
    except Exception as exc:
        raise BodyUnread(exc) from exc
    try:
        data = loads_utf8_unique(raw) if raw else None
    except Exception:  # FastAPI parses it again and answers as always
        return None
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except Exception:  # a ValidationError, even a RecursionError: FastAPI's
        return None


def path_id(request: Request) -> str | None:
    """The ``request_id`` path parameter when well-formed, else None."""
    value = request.path_params.get("request_id")
    return value if isinstance(value, str) and _PATH_ID.fullmatch(value) else None


def customer_header(request: Request) -> tuple[bool, str | None]:
    """``(well-formed, value)`` of the ``X-Customer-Id`` header (absent is
    well-formed, ``None``; given twice is not: the route refuses it)."""
    values = request.headers.getlist("x-customer-id")
    if not values:
        return True, None
    value = values[0]
    return len(values) == 1 and _CUSTOMER_ID.fullmatch(value) is not None, value
