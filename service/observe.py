"""Every HTTP request's id, access log line and metrics, in one ASGI layer
(which also adds the security headers, :mod:`tierflow.service.security_headers`).

The request id is the caller's ``X-Request-ID`` when it is a sane token
(else a new one); it is sent back in the response's ``X-Request-ID`` and is
on every log line written while the request is served
(:data:`tierflow.data.logging_setup.REQUEST_ID`), the access line last.
The layer wraps the whole app (outside Starlette's error middleware), so a
500 carries the id and its log line names it too. ``docs/service.md``,
"Access log".
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from urllib.parse import quote, quote_plus

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierflow.data.logging_setup import REQUEST_ID, quoted, redact
from tierflow.service.metrics import UNMATCHED, Metrics, method_label
from tierflow.service.request_limits import REQUEST_ID_KEY, TIMED_OUT
from tierflow.service.security_headers import with_security_headers

#: The access log's logger (one INFO line per request).
ACCESS_LOGGER = "tierflow.access"
REQUEST_ID_HEADER = "X-Request-ID"
#: A caller's request id is kept when it is 1-128 of these characters, one
#: a letter or digit at least: ``-`` alone read in a log as no id at all.
_SANE_ID = re.compile(r"(?=.*[A-Za-z0-9])[A-Za-z0-9._:@/+=-]{1,128}")
_HEADER = REQUEST_ID_HEADER.lower().encode()

access_log = logging.getLogger(ACCESS_LOGGER)


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The matched route's path template (``/v1/checkouts/{request_id}/select``),
    ``/static/{path}`` under a mount, else :data:`UNMATCHED`. A request
    answered before routing (a body over the limit: 413) or by a route that
    does not note itself in the scope (Starlette's own: ``/openapi.json``,
    the static files) is matched here against ``routes`` (the app's): they
    were all counted as ``unmatched``."""
    route = scope.get("route")
    if route is None and routes:
        route = _route_of(routes, scope)
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


def _route_of(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The first of ``routes`` that takes ``scope``'s path (whatever its
    method), if any. Matched on the path as it was asked: a mount that
    took the request moved its prefix into ``root_path`` and kept the one
    before in ``app_root_path``."""
    asked = {
        "type": "http",
        "path": scope["path"],
        "method": scope["method"],
        "root_path": scope.get("app_root_path", scope.get("root_path", "")),
    }
    for route in routes:
        match, _ = route.matches(asked)
        if match is not Match.NONE:
            return route
    return None


def request_id(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when sane, else a new id (128 random
    bits, 32 hex digits)."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            text = str(value.decode("latin-1")).strip()
            if _SANE_ID.fullmatch(text):
                return text
            break
    return os.urandom(16).hex()


class RequestObserver:
    """ASGI middleware: request id, access log line, request metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        log_access: bool,
        routes: Sequence[BaseRoute] = (),
        api_key: bytes | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.log_access = log_access
        #: The app's routes, one by one (for :func:`route_template`).
        self.routes = routes
        #: The API key as a path may carry it (:func:`key_spellings`).
        self.key_spellings = key_spellings(api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        # the request's own task: the id stays on what is logged after this
        # layer too (uvicorn's error line), and never reaches another request
        REQUEST_ID.set(rid)
        scope[REQUEST_ID_KEY] = rid  # for the protocol's warning of a 408
        header = (_HEADER, rid.encode())
        answer = _Answer()

        async def receive_noting_a_cut() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                answer.body_whole = not message.get("more_body", False)
            elif not answer.body_whole and not answer.started:  # http.disconnect
                answer.cut = True
                answer.status = (
                    REQUEST_TIMEOUT if scope.get(TIMED_OUT) else CLIENT_CLOSED
                )
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.started = True
                if answer.cut:  # an answer to nobody
                    await send(message)
                    return
                answer.status = message["status"]
                headers = list(message.get("headers", ()))
                answer.stream = (b"content-type", b"text/event-stream") in [
                    (k, v.split(b";")[0]) for k, v in headers
                ]
                headers = with_security_headers([*headers, header])
                message = {**message, "headers": headers}
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive_noting_a_cut, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            self._done(scope, answer, seconds)

    def refused(self, scope: Scope, status: int, seconds: float) -> str:
        """A 400, 408 or 431 the server's HTTP protocol wrote before the app
        saw the request (:class:`~tierflow.service.request_limits.RefusalWitness`):
        counted and logged as any answer, with a request id of its own (the
        caller's, if its header came); the id, for the answer."""
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)  # (the protocol's context: set back below)
        try:
            answer = _Answer()
            answer.status = status
            self._done(scope, answer, seconds)
        finally:
            REQUEST_ID.reset(token)
        return rid

    def _done(self, scope: Scope, answer: _Answer, seconds: float) -> None:
        if self.metrics.enabled:  # labels from bounded sets only
            method = method_label(scope["method"])
            route = route_template(scope, self.routes)
            timed = None if answer.stream else seconds
            self.metrics.request(method, route, answer.status, timed)
        if self.log_access:
            write_access_line(scope, answer.status, seconds, self.key_spellings)


#: The status of a request whose app sent nothing (a 500 then).
NO_ANSWER = 500
#: The status of a request whose client closed the connection before its
#: body had come (nginx's "client closed request"): whatever the app made of
#: the body cut short (FastAPI: 400 "error parsing the body") reached nobody,
#: and nothing was wrong with the request.
CLIENT_CLOSED = 499
#: The status of a request whose body stopped coming for
#: :data:`~tierflow.service.request_limits.READ_IDLE_S` (the server answered
#: 408 and closed the connection).
REQUEST_TIMEOUT = 408


class _Answer:
    """What the app sent back: the status (:data:`NO_ANSWER` when it sent
    nothing, :data:`CLIENT_CLOSED` or :data:`REQUEST_TIMEOUT` when the
    connection went before the body came and before an answer started),
    whether it is an event stream, and whether the body has come whole."""

    __slots__ = ("body_whole", "cut", "started", "status", "stream")

    def __init__(self) -> None:
        self.status = NO_ANSWER
        self.stream = False
        self.body_whole = False
        self.started = False  # the app's answer has started
        self.cut = False  # the connection went before the body came


def key_spellings(api_key: bytes | None) -> tuple[str, ...]:
    """``api_key`` as a request's path may carry it: as it is and
    percent-encoded (a space as ``%20`` or ``+``); none without a key."""
    if not api_key:
        return ()
    key = api_key.decode("latin-1")
    return tuple(dict.fromkeys([key, quote(key, safe=""), quote_plus(key, safe="")]))


def write_access_line(
    scope: Scope, status: int, seconds: float, key_spellings: Sequence[str] = ()
) -> None:
    """``127.0.0.1:51234 "POST /v1/options HTTP/1.1" 200 2.1 ms``; the JSON
    format adds the fields (``method``, ``path``, ``status``, ``duration_ms``,
    ``client``) to the record's ``request_id``. The API key is written
    ``***`` wherever the path or query has it (``key_spellings``): a client
    that sent it as ``?key=`` or ``?x-api-key=``, names no mask knows, had
    it written in clear. The path is written as
    :func:`~tierflow.data.logging_setup.quoted` has it: at most
    :data:`~tierflow.data.logging_setup.MAX_QUOTED_CHARS` characters,
    escaped (a 64 KiB path was written whole, in JSON twice). (The method
    is one httptools knows: it refuses any other.)"""
    client = scope.get("client")
    who = f"{client[0]}:{client[1]}" if client else "-"
    path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    query = scope.get("query_string", b"")
    if query and "?" not in path:
        path = f"{path}?{query.decode('latin-1')}"
    path = redact(path)  # a secret in the query (?api_key=) never logged
    for spelling in key_spellings:
        if spelling in path:
            path = path.replace(spelling, "***")
    path = quoted(path)  # masked first: a cut could leave half a secret
    ms = round(seconds * 1e3, 2)
    access_log.info(
        '%s "%s %s HTTP/%s" %d %.1f ms',
        who,
        scope["method"],
        path,
        scope.get("http_version", "1.1"),
        status,
        ms,
        extra={
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": ms,
            "client": who,
        },
    )
