"""Who reads the operator data of a checkout answer: the API key a request
sends, and whether it is the server's when the server asks for it on the
operator reads (``serve --operator-reads key``). Apart from
:mod:`tierflow.service.state` so that the error handlers
(:mod:`tierflow.service.errors`, which the state imports) can ask it too: a
refusal is worded for its reader (:func:`~tierflow.service.shopper_view.refusal_reason`)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.datastructures import Headers

if TYPE_CHECKING:
    from tierflow.service.state import ServiceState


def given_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request sends, in ``X-API-Key`` or as a bearer token."""
    given = x_api_key
    if not given and authorization:  # a blank X-API-Key is no key
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":  # schemes are case-insensitive (RFC 9110)
            given = token
    return given or None


#: The headers a request sends the key in, as the refusals name them.
KEY_HEADERS = ("X-API-Key", "Authorization")


def key_given_twice(headers: Headers) -> str | None:
    """The key header (of :data:`KEY_HEADERS`) ``headers`` give more than
    once, or None: which of two keys is meant is the caller's to say."""
    for name in KEY_HEADERS:
        if len(headers.getlist(name)) > 1:
            return name
    return None


def sees_operator_data(request: Request) -> bool:
    """Whether a checkout call's answer is given whole (with the operator
    data: :mod:`tierflow.service.shopper_view`): always unless the app asks
    for the key on the operator reads (``operator_key``), then only with
    the right key. A public call is never refused for a missing or wrong
    key: it gets the shopper's view. A key given twice is read as none here
    (the routes refuse it, ``full_view``; an error handler words its
    refusal for a shopper)."""
    state: ServiceState = request.app.state.service
    if not state.operator_key:
        return True
    headers = request.headers
    if key_given_twice(headers) is not None:
        return False
    given = given_key(headers.get("x-api-key"), headers.get("authorization"))
    return given is not None and hmac.compare_digest(
        given.strip().encode(), state.api_key
    )
