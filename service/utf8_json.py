"""JSON request bodies are read as UTF-8, and only as UTF-8.

FastAPI parses a JSON body with Starlette's ``Request.json``, that is
``json.loads`` of the bytes, which guesses UTF-16 and UTF-32 from the
first bytes: such a body was answered as a valid request, though JSON on
the wire is UTF-8 (RFC 8259) and ``docs/service.md`` ("Errors") answers a
body that is not UTF-8 with 400 ``bad_request``. UTF-16-LE without a byte
order mark is even valid UTF-8 (ASCII with NUL bytes), so checking the
bytes is not enough: the body is decoded as UTF-8 (a leading byte order
mark allowed, as ``json.loads`` allowed it) and the text parsed. A
:class:`Utf8JsonRoute` gives FastAPI such a request; its parse fails inside
FastAPI's own body reading, which answers as for any other body:
``UnicodeDecodeError`` is the 400, a syntax error the 422.

A body is read as sent, in no content coding: a route with a body refuses
one sent with ``Content-Encoding`` (other than ``identity``) 415, naming
the header, before reading it. The header was ignored, and a gzipped body
was answered 400 "not UTF-8", which sent the caller looking at its JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from tierflow.data.json_objects import loads_unique
from tierflow.service.errors import ApiError

#: What a 415 for a body in a content coding says it reads (RFC 9110,
#: 15.5.16: the codings it would have accepted).
_IDENTITY_ONLY = {"Accept-Encoding": "identity"}


def utf8_text(body: bytes) -> str:
    """``body`` decoded as UTF-8, a leading byte order mark dropped (as
    ``utf-8-sig`` does); a ``UnicodeDecodeError``'s offset is into ``body``
    as sent (``utf-8-sig`` counted it after the mark)."""
    return body.decode("utf-8").removeprefix("\ufeff")


def loads_utf8(body: bytes) -> Any:
    """``body`` parsed as JSON text in UTF-8 (``UnicodeDecodeError`` if it is
    not UTF-8, ``json.JSONDecodeError`` if it is no JSON)."""
    return json.loads(utf8_text(body))


def loads_utf8_unique(body: bytes) -> Any:
    """:func:`loads_utf8` refusing an object with a key twice
    (:class:`~tierflow.data.json_objects.RepeatedKey`, a ``ValueError``)."""
    return loads_unique(utf8_text(body))


def check_identity(encoding: str | None) -> None:
    """Refuse (``ApiError`` 415) a ``Content-Encoding`` other than none or
    ``identity``: the body would be read as its encoded bytes."""
    if encoding is None:
        return
    codings = [c.strip().lower() for c in encoding.split(",")]
    if all(c in ("", "identity") for c in codings):
        return
    raise ApiError(
        415,
        f"field 'Content-Encoding': value {encoding[:80]!r}: not supported; "
        "send the body uncompressed (no Content-Encoding)",
        field="Content-Encoding",
        headers=_IDENTITY_ONLY,
    )


class Utf8JsonRequest(Request):
    """A ``Request`` whose ``json()`` reads the body as UTF-8 only."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = self.parse(await self.body())
        return self._json

    def parse(self, body: bytes) -> Any:
        """The body's bytes as a JSON value."""
        return loads_utf8(body)


class UniqueKeysJsonRequest(Utf8JsonRequest):
    """A :class:`Utf8JsonRequest` whose ``json()`` also refuses an object
    with a key twice (which FastAPI answers through ``service/errors.py`` as
    a body that is no JSON: 422, naming the key)."""

    def parse(self, body: bytes) -> Any:
        return loads_utf8_unique(body)


class Utf8JsonRoute(APIRoute):
    """An ``APIRoute`` whose endpoint reads a JSON body as UTF-8 only."""

    #: The class its requests are given (they add no state of their own).
    request_class: type[Request] = Utf8JsonRequest

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        reads_body = self.body_field is not None

        async def handler(request: Request) -> Response:
            if reads_body:  # a bodiless call's (confirm's) is never read
                check_identity(request.headers.get("content-encoding"))
            # the same request (its body may have been read already), with
            # the stricter json(); Utf8JsonRequest adds no state of its own
            request.__class__ = self.request_class
            return await full(request)

        return handler
