"""Query parameters are given once each.

FastAPI reads a scalar query parameter given twice as its last value, so
``GET /v1/stock?sku=TEE&sku=MUG`` answered MUG's positions alone, as if TEE
had not been asked for, and ``/v1/stream?request_id=A&request_id=B``
streamed B. The API's query parameters each take one value: one given more
often is refused (422 at the parameter), as a body's key given twice is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from tierflow.service.errors import ApiError


def given_once(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A route dependency refusing any of the query parameters ``names``
    given more than once (the first such, in ``names``' order)."""

    async def check(request: Request) -> None:
        for name in names:
            values = request.query_params.getlist(name)
            if len(values) > 1:
                shown = repr(values)
                if len(shown) > 200:
                    shown = shown[:200] + "…"
                raise ApiError(
                    422,
                    f"field '{name}': values {shown}: given {len(values)} "
                    "times; it takes one value",
                    field=name,
                )

    return check
