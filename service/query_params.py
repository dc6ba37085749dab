"""Query parameters as declared, given once each; the key and customer
headers given once.

FastAPI reads a scalar query parameter given twice as its last value, so
``GET /v1/stock?sku=TEE&sku=MUG`` answered MUG's positions alone, as if TEE
had not been asked for, and ``/v1/stream?request_id=A&request_id=B``
streamed B. The API's query parameters each take one value: one given more
often is refused (422 at the parameter), as a body's key given twice is.
FastAPI also ignores a query parameter the route does not declare, so
``GET /v1/stock?nod_id=WH-EAST`` (a typo) answered every position of every
node: an API operation refuses one (422 at it, naming those it takes).
A header is read as its first value: ``X-Customer-Id`` given twice is
refused the same way, since a gateway that appends the login's id after
one the client sent would have the client's checked; ``X-API-Key`` and
``Authorization`` too wherever the key is read (their values unsaid).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers

from tierflow.service.errors import ApiError
from tierflow.service.schemas import ErrorResponse
from tierflow.service.viewer import key_given_twice

#: A name or values shown in a refusal at most this long (then ``…``).
_SHOWN = 200
#: The attribute a route keeps the query parameters it takes in (read once
#: from its dependencies).
_TAKES = "__tierflow_query__"


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _given_once(name: str, values: Sequence[str], *, secret: bool = False) -> None:
    """Refuse ``values`` of the parameter or header ``name`` when there are
    more than one (422 at ``name``; the values named unless ``secret``)."""
    if len(values) > 1:
        shown = "" if secret else f"values {_shown(repr(list(values)))}: "
        raise ApiError(
            422,
            f"field '{name}': {shown}given {len(values)} times; it takes one value",
            field=name,
        )


def _takes(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` declares, its dependencies' included
    (those the OpenAPI document lists for it)."""
    takes: frozenset[str] | None = getattr(route, _TAKES, None)
    if takes is None:
        takes = frozenset(_query_names(route.dependant))
        setattr(route, _TAKES, takes)
    return takes


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def query_as_declared(request: Request) -> None:
    """A route dependency: each query parameter is one the route declares,
    given once (the first one that is not, in the query's order, refused)."""
    route = request.scope.get("route")
    takes = _takes(route) if isinstance(route, APIRoute) else frozenset()
    query = request.query_params
    for name in query:
        if name not in takes:
            listed = ", ".join(sorted(takes)) or "no query parameter"
            shown = _shown(name)
            raise ApiError(
                422,
                f"field '{shown}': unknown query parameter (this path takes {listed})",
                field=shown,
            )
        _given_once(name, query.getlist(name))


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


#: :func:`query_as_declared` as a route's dependency (after the key's,
#: where the route asks for it: a caller without the key learns nothing).
QUERY_AS_DECLARED = Depends(query_as_declared)
#: The 422 of a route that takes no query parameter (FastAPI documents one
#: only for a route with parameters).
NO_QUERY_422: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorResponse,
        "description": "A query parameter: this path takes none.",
    }
}
