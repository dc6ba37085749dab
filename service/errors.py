"""HTTP errors: one JSON shape for every 4xx and 5xx, never a stack trace.

``{"error": CODE, "message": TEXT, "field": PATH | null, "errors": [...]}``;
``field`` is a path into the request (``items[0].quantity``). The codes and
when each is sent: ``docs/service.md``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tierflow.data.errors import InputError
from tierflow.data.log_repeats import RepeatedLines
from tierflow.data.logging_setup import quoted
from tierflow.data.store import CustomerMismatch, SchemaMovedOn, StoreUnavailable
from tierflow.orchestration.checkout.fallback import public_reason
from tierflow.service.shopper_view import refusal_reason
from tierflow.service.viewer import sees_operator_data

log = logging.getLogger("tierflow.service")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    431: "head_too_large",
    500: "internal_error",
    503: "unavailable",
}


#: Problems a validation error lists (the first ones; one more item says
#: how many more there were): 5,000 unknown keys in one cart line, within
#: the 64 KiB body limit, were answered with 519 KB listing each.
MAX_LISTED_ERRORS = 50
#: The ``type`` of the item that stands for the problems not listed.
MORE_ERRORS = "more_errors"


#: ``Retry-After`` of a 503 for a store that is away: the server tries it
#: again each second (its pool, the follower, a store that opened late), so a
#: client (a balancer, an SDK's retry policy) may too; without the header
#: each guessed its own back-off.
STORE_RETRY_AFTER = {"Retry-After": "1"}


class ApiError(Exception):
    """An error the API reports as it is (status, message, field)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


def error_body(
    status: int,
    message: str,
    field: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON of an error response. Without ``errors``, its one item is
    ``message`` after the field (``value 'HAT': unknown SKU``), as a
    validation error's items are: the field is named once, in its own key."""
    if errors is None:
        lead = f"field '{field}': "
        words = message[len(lead) :] if message.startswith(lead) else message
        errors = [{"field": field, "message": words, "type": _CODES.get(status)}]
    return {
        "error": _CODES.get(status, "error"),
        "message": message,
        "field": field,
        "errors": list(errors),
    }


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error response (see the module docstring)."""
    return JSONResponse(
        error_body(status, message, field, errors), status_code=status, headers=headers
    )


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "items", 0, "quantity")`` → ``items[0].quantity``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def input_error_field(exc: InputError, *, prefix: str = "") -> str:
    """Where an :class:`InputError` points, as a request path.

    The router names cart lines by ``field='sku'|'quantity'`` and the line's
    ``index``; those become ``items[i].sku``.
    """
    name = exc.field or "body"
    if name in ("sku", "quantity") and isinstance(exc.index, int):
        return f"{prefix}items[{exc.index}].{name}"
    if exc.index is not None and isinstance(exc.index, int):
        return f"{prefix}{name}[{exc.index}]"
    return prefix + name


def input_error_message(exc: InputError, path: str, reason: str | None = None) -> str:
    """``field 'items[1].sku': value 'HAT': unknown SKU`` — the request path
    instead of the router's field and index; ``reason`` in place of the
    error's own (its words for the caller: ``refusal_reason``)."""
    value = "" if exc.value is None else f": value {_loggable(exc.value)}"
    return f"field '{path}'{value}: {exc.reason if reason is None else reason}"


def input_error_status(exc: InputError) -> int:
    """403 for a customer id that is not the checkout's, 404 for an unknown
    request id, 409 for a checkout in the wrong state, 422 for any other
    bad value."""
    if isinstance(exc, CustomerMismatch):
        return 403
    if exc.field == "request_id":
        if exc.reason.startswith(("unknown request id", "unknown checkout")):
            return 404
        return 409
    return 422


def _loggable(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    kind = request.headers.get("content-type")
    problems = exc.errors()
    listed = problems[:MAX_LISTED_ERRORS]
    errors = [_validation_item(err, kind) for err in listed]
    if len(problems) > len(listed):
        errors.append(_more_item(len(problems) - len(listed)))
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    message = f"field '{first['field']}': {first['message']}"
    return error_response(422, message, first["field"], errors)


def _more_item(more: int) -> dict[str, Any]:
    """The last item of a list cut at :data:`MAX_LISTED_ERRORS`: how many
    problems were not listed (the answer stays a few KB however many)."""
    return {
        "field": None,
        "message": f"{more:,} more problems not listed (the first "
        f"{MAX_LISTED_ERRORS} are)",
        "type": MORE_ERRORS,
    }


def _validation_item(err: dict[str, Any], content_type: str | None) -> dict[str, Any]:
    path = field_path(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        path = "body"
    message = str(err.get("msg", ""))
    if path == "body" and isinstance(err.get("input"), bytes):
        # FastAPI reads a body as JSON only under a JSON content type: the
        # body was left as bytes, and pydantic's "should be a valid
        # dictionary" would send the caller looking in the body
        got = (
            f"Content-Type {content_type[:80]!r}" if content_type else "no Content-Type"
        )
        message = f"not read as JSON ({got}; send application/json)"
    elif (value := _scalar_input(err)) is not None:
        message = f"value {value}: {message}"
    return {"field": path, "message": message, "type": err.get("type")}


def _scalar_input(err: dict[str, Any]) -> str | None:
    """The value a validation error refused, as the router's errors name it
    (``value 'ABCDE'``), when it is one (a string, number or boolean; not a
    missing field, an object or a list)."""
    if err.get("type") == "missing" or "input" not in err:
        return None
    value = err["input"]
    if not isinstance(value, str | int | float | bool):
        return None
    try:
        return _loggable(value)
    except ValueError:  # an int too long for str() (over 4,300 digits)
        return None


async def _on_input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    path = input_error_field(exc)
    # a refusal naming a node (a select's): the shopper's words without the key
    reason = refusal_reason(exc, sees_operator_data(request))
    message = input_error_message(exc, path, reason)
    return error_response(input_error_status(exc), message, path)


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.field, headers=exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        return _not_utf8(exc.__cause__)
    if exc.status_code == 400 and (why := _not_json(exc.__cause__)) is not None:
        return _json_invalid(why)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = _with_head(_allow_every_route(request, getattr(exc, "headers", None)))
    if exc.status_code in (404, 405) and message == HTTPStatus(exc.status_code).phrase:
        message = _in_our_words(request, exc.status_code, headers)  # not Starlette's
    return error_response(
        exc.status_code,
        message,
        "body" if exc.status_code == 400 else None,  # only body parsing says 400
        headers=headers,
    )


def _in_our_words(request: Request, status: int, headers: dict[str, str] | None) -> str:
    """An unknown path's 404 or a method's 405 (``status``) said as the
    API's other refusals are: they were Starlette's reason phrases, "Not
    Found" and "Method Not Allowed"."""
    if status == 404:
        return "unknown path"
    allow = (headers or {}).get("Allow")
    allowed = f" (allowed: {allow})" if allow else ""
    return f"method {_loggable(request.method)} not allowed here{allowed}"


def _not_json(cause: BaseException | None) -> str | None:
    """Why a UTF-8 body is no JSON, when FastAPI's parse failed other than
    by a syntax error (which it reports as 422 itself): nesting too deep (a
    ``RecursionError``), a number too long to convert; None for a body that
    is not UTF-8 (the 400 of ``docs/service.md``) or another cause."""
    if isinstance(cause, RecursionError):
        return "nested too deep"
    if isinstance(cause, UnicodeDecodeError) or not isinstance(cause, ValueError):
        return None
    if "integer string conversion" in str(cause):
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return str(cause).splitlines()[0][:80] if str(cause) else type(cause).__name__


def _not_utf8(exc: UnicodeDecodeError) -> JSONResponse:
    """400 for a body that is not UTF-8, naming the first byte that is not
    and where it is: it said Starlette's "There was an error parsing the
    body", which named neither (a client's Latin-1 ``é`` was a hunt)."""
    byte = exc.object[exc.start : exc.start + 1].hex()
    message = (
        f"field 'body': not UTF-8: byte 0x{byte} at offset {exc.start} cannot "
        f"be decoded ({exc.reason}); send JSON as UTF-8"
    )
    return error_response(400, message, "body")


def _json_invalid(why: str) -> JSONResponse:
    """422 for a body that is UTF-8 but not JSON, as FastAPI answers a
    syntax error (``json_invalid`` at ``body``)."""
    message = f"JSON decode error ({why})"
    item = {"field": "body", "message": message, "type": "json_invalid"}
    return error_response(422, f"field 'body': {message}", "body", [item])


def _allow_every_route(
    request: Request, headers: dict[str, str] | None
) -> dict[str, str] | None:
    """A 405's ``Allow`` with the methods of every route of its path: a
    path of two routes (``GET`` and ``POST /v1/stock``) was refused with
    the first's alone (Starlette's), telling a client its write was not
    there."""
    allow = (headers or {}).get("Allow")
    if allow is None:
        return headers
    methods = [m.strip() for m in allow.split(",") if m.strip()]
    asked = {
        "type": "http",
        "path": request.scope["path"],
        "method": request.scope["method"],
        "root_path": request.scope.get("root_path", ""),
    }
    # every route served (``create_app``'s ``served_routes``), flat: the app's
    # router holds the included routers, not their routes
    for route in getattr(request.app, "served_routes", ()):
        taken = getattr(route, "methods", None)
        if taken and route.matches(asked)[0] is Match.PARTIAL:
            methods += sorted(m for m in taken if m not in methods)
    order = [m for m in _METHOD_ORDER if m in methods]
    return {
        **(headers or {}),
        "Allow": ", ".join(order + sorted(set(methods) - set(order))),
    }


#: The order an ``Allow`` lists methods in (the safe ones first).
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _with_head(headers: dict[str, str] | None) -> dict[str, str] | None:
    """A 405's ``Allow`` lists ``HEAD`` wherever it lists ``GET``: ``HEAD``
    is answered there (``service/head.py``), though the route declares GET."""
    allow = (headers or {}).get("Allow")
    if allow is None:
        return headers
    methods = [m.strip() for m in allow.split(",") if m.strip()]
    if "GET" in methods and "HEAD" not in methods:
        methods.insert(methods.index("GET") + 1, "HEAD")
    return {**(headers or {}), "Allow": ", ".join(methods)}


#: Set while code that says its own store failures runs (the capacity
#: follower's reads and retries): the app's store-error listener says
#: nothing of them (:func:`caller_says_store_failures`).
_CALLER_SAYS: ContextVar[bool] = ContextVar("tierflow_caller_says", default=False)


@contextlib.contextmanager
def store_failures_said_here() -> Iterator[None]:
    """Within it, a store failure is said by the code that catches it (with
    what it could not do and the backend), not also by the app's listener:
    one failure was two lines, ``state store (postgres): X`` and ``still
    without the store, still waiting (30 s): … (X)``, every 30 s of an
    outage (5,760 a day)."""
    token = _CALLER_SAYS.set(True)
    try:
        yield
    finally:
        _CALLER_SAYS.reset(token)


def caller_says_store_failures() -> bool:
    """Whether a store failure now is said by its caller
    (:func:`store_failures_said_here`)."""
    return _CALLER_SAYS.get()


#: A route's calls refused alike while the store is away: said once in this
#: many seconds (with how many more), not once each.
UNAVAILABLE_LOG_EVERY_S = 10.0
_unavailable_said = RepeatedLines(UNAVAILABLE_LOG_EVERY_S)


async def _on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 for a call that needs the state store while it is away (the
    checkout calls answer without it, or say ``unavailable`` themselves):
    capacity events, samples, the allocation view answered 500 with a
    traceback in the log. The reason, not the store's location."""
    assert isinstance(exc, StoreUnavailable)
    _unavailable_said.say(  # each call has its access line; this, once a while
        log,
        logging.WARNING,
        f"{request.method} {quoted(request.url.path)}: state store unavailable: {exc}",
    )
    message = f"state store unavailable ({public_reason(exc)})"
    if isinstance(exc, SchemaMovedOn):  # a retry never fits: upgrade the server
        return error_response(503, message)
    return error_response(503, f"{message}; retry shortly", headers=STORE_RETRY_AFTER)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error(
        "internal error %s on %s %s",
        incident,
        request.method,
        quoted(request.url.path),
        exc_info=exc,
    )
    return error_response(
        500, f"internal error (incident {incident}; see the server log)"
    )


_HANDLERS: dict[
    type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]
] = {
    RequestValidationError: _on_validation,
    InputError: _on_input_error,
    ApiError: _on_api_error,
    StarletteHTTPException: _on_http_error,
    StoreUnavailable: _on_store_unavailable,
    Exception: _on_unexpected,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    for exc_type, handler in _HANDLERS.items():
        app.add_exception_handler(exc_type, handler)
