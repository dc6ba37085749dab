"""Query parameters, the customer header and the key headers are given
once each.

FastAPI reads a scalar query parameter given twice as its last value, so
``GET /v1/stock?sku=TEE&sku=MUG`` answered MUG's positions alone, as if TEE
had not been asked for, and ``/v1/stream?request_id=A&request_id=B``
streamed B. The API's query parameters each take one value: one given more
often is refused (422 at the parameter), as a body's key given twice is.
A header is read as its first value: ``X-Customer-Id`` given twice is
refused the same way, since a gateway that appends the login's id after
one the client sent would have the client's checked; ``X-API-Key`` and
``Authorization`` too wherever the key is read (their values unsaid).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request
from starlette.datastructures import Headers

from tierflow.service.errors import ApiError
from tierflow.service.viewer import key_given_twice


def _given_once(name: str, values: Sequence[str], *, secret: bool = False) -> None:
    """Refuse ``values`` of the parameter or header ``name`` when there are
    more than one (422 at ``name``; the values named unless ``secret``)."""
    if len(values) > 1:
        shown = repr(list(values))
        if len(shown) > 200:
            shown = shown[:200] + "…"
        said = "" if secret else f"values {shown}: "
        raise ApiError(
            422,
            f"field '{name}': {said}given {len(values)} times; it takes one value",
            field=name,
        )


def given_once(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A route dependency refusing any of the query parameters ``names``
    given more than once (the first such, in ``names``' order)."""

    async def check(request: Request) -> None:
        for name in names:
            _given_once(name, request.query_params.getlist(name))

    return check


def header_given_once(name: str) -> Callable[[Request], Awaitable[None]]:
    """A route dependency refusing the header ``name`` given more than once
    (named as ``name`` is spelled here; headers match in any case)."""

    async def check(request: Request) -> None:
        _given_once(name, request.headers.getlist(name))

    return check


def key_given_once(headers: Headers) -> None:
    """Refuse ``X-API-Key`` or ``Authorization`` given more than once (422 at
    the header, its values unsaid: they are keys): the first was read, so a
    proxy appending its key after the client's let the client's decide."""
    twice = key_given_twice(headers)
    if twice is not None:
        _given_once(twice, headers.getlist(twice), secret=True)
