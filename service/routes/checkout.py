"""Checkout routes: a cart's tiered options, then select, confirm or cancel.

The checkout calls run on the event loop with an embedded store (SQLite: a
call is a fraction of a millisecond, a thread hop would cost more) and in
worker threads with PostgreSQL (their round trips to the server overlap);
see ``ServiceState.call``. Every
outcome has one status and one body on every replica (``docs/service.md``,
"Errors").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from tierflow.data.errors import InputError
from tierflow.data.store import CustomerMismatch
from tierflow.orchestration.checkout.router import CheckoutResult
from tierflow.service.capacity_view import map_version
from tierflow.service.errors import STORE_RETRY_AFTER
from tierflow.service.lean import (
    LeanRoute,
    customer_header,
    json_body,
    lean,
    path_id,
)
from tierflow.service.query_params import QUERY_AS_DECLARED, header_given_once
from tierflow.service.schemas import (
    ID_PATTERN,
    STORE_AWAY,
    CheckoutOut,
    ErrorResponse,
    OptionSetOut,
    OptionsRequest,
    SelectRequest,
)
from tierflow.service.shopper_view import answer_body
from tierflow.service.state import (
    FullView,
    ServiceState,
    State,
    service_state,
)
from tierflow.service.viewer import sees_operator_data
from tierflow.service.wire_response import WireResponse

#: When each error status is sent (the OpenAPI document lists them).
_WHEN: dict[int, str] = {
    400: "The body is not UTF-8.",
    403: "The customer id given (`X-Customer-Id` or the body's `customer_id`) "
    "is not the checkout's.",
    404: "Unknown request id (no options were made for it, or they were dropped "
    "after expiring).",
    409: "The checkout is in another state: already confirmed or cancelled "
    "(`select`, `cancel` after `confirm`), nothing selected yet (`confirm`), "
    "the options or the hold expired, or the stock was taken (`select`: the "
    "body is the outcome, status `rejected`).",
    413: "The body is over the limit.",
    415: "The body was sent in a content coding (`Content-Encoding`: gzip, "
    "…): send it uncompressed.",
    422: "A malformed body or a bad value (`field` names it).",
    500: "A bug: the answer carries an incident id.",
    503: "The state store cannot be written now, or read for a checkout this "
    "server never saw (retry); for select, confirm and cancel the body is the "
    "outcome, status `unavailable`.",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse, "description": why} for s, why in _WHEN.items()
}
#: A requote's: no body to read (one over the limit is refused all the same),
#: the customer in ``X-Customer-Id`` only.
_REQUOTE_ERRORS: dict[int | str, dict[str, Any]] = {
    **{s: _ERRORS[s] for s in (404, 409, 413, 422, 500)},
    403: {
        "model": ErrorResponse,
        "description": "The customer id given (`X-Customer-Id`) is not the checkout's.",
    },
    **STORE_AWAY,
}
#: An options call's: it has no checkout yet to find, check the customer of
#: or be in another state (no 403, 404, 409), and it answers degraded
#: rather than fail when the store is away (no 503).
_OPTIONS_ERRORS: dict[int | str, dict[str, Any]] = {
    s: _ERRORS[s] for s in (400, 413, 415, 422, 500)
}
RequestId = Annotated[
    str,
    PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
]
#: The header a gateway names the shopper's customer id in.
CUSTOMER_HEADER = "X-Customer-Id"
CustomerHeader = Annotated[
    str | None,
    Header(
        alias=CUSTOMER_HEADER,
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="The shopper's customer id: when given, it must be the "
        "checkout's (403 otherwise).",
    ),
]
#: A route dependency: ``X-Customer-Id`` given twice is refused (422), not
#: read as its first value (a client's, before a gateway's appended one).
CUSTOMER_HEADER_ONCE = Depends(header_given_once(CUSTOMER_HEADER))

#: The header a client names its key of an options ask in, to retry it
#: safely (IETF draft-ietf-httpapi-idempotency-key-header).
KEY_HEADER = "Idempotency-Key"
#: The longest key taken (a UUID is 36 characters).
MAX_KEY_CHARS = 255
KeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        description="A fresh key per ask (a UUID), sent again with a retry: "
        "the same request under the same key answers the option set made "
        "for it, on any server, while its options can be selected (once "
        "confirmed or cancelled, until it is pruned a day after it "
        "expires); past its expiry a retry is answered a new set, which "
        "the key then names. Another request under it is refused (422). 1-255 "
        'printable ASCII characters, bare or as a structured-field string ("…").',
        # said in the document, checked by idempotency_key (in its words)
        json_schema_extra={
            "minLength": 1,
            "maxLength": MAX_KEY_CHARS,
            "pattern": r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
        },
    ),
]
KEY_HEADER_ONCE = Depends(header_given_once(KEY_HEADER))
_KEY_CHARS = re.compile(r"[\x20-\x7e]*")
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')


def idempotency_key(raw: str) -> str:
    """The key an ``Idempotency-Key`` value names: a structured-field string
    (``"…"``, the draft's form) unquoted, or the value as sent (the common
    bare form). ``InputError`` at the header (422) for one blank, over
    :data:`MAX_KEY_CHARS` or with a control (or non-ASCII) character."""
    quoted = _SF_STRING.fullmatch(raw)
    key = raw if quoted is None else re.sub(r"\\(.)", r"\1", quoted[1])
    if not key.strip():
        raise InputError("must not be blank", field=KEY_HEADER, value=raw)
    if len(key) > MAX_KEY_CHARS:
        raise InputError(
            f"is {len(key)} characters: at most {MAX_KEY_CHARS}", field=KEY_HEADER
        )
    if (printable := _KEY_CHARS.match(key)) is not None and printable.end() < len(key):
        # the header's bytes arrive one per character (latin-1): name the
        # first refused and its place, as the API key's check does (it said
        # "a control character was sent" of a UTF-8 letter too)
        at = printable.end()
        code = ord(key[at])
        what = (
            f"is not ASCII (byte {code:#04x})"
            if code > 0x7F
            else f"is a control character ({code:#04x})"
        )
        raise InputError(
            f"must be printable ASCII: character {at + 1} {what}",
            field=KEY_HEADER,
            value=raw,
        )
    return key


#: No checkout call takes a query parameter (one is refused, 422).
router = APIRouter(
    tags=["checkout"], route_class=LeanRoute, dependencies=[QUERY_AS_DECLARED]
)


def _outcome_or_error(
    *statuses: int, body: bool = True
) -> dict[int | str, dict[str, Any]]:
    """A checkout call's error statuses, with those whose body is the call's
    outcome (``CheckoutOut``: status ``rejected``, ``unavailable``) or, for
    the other reasons, the error shape: the document says both. Without a
    ``body`` to read (confirm, cancel) no 400 or 415: a body is never parsed."""
    errors = (
        _ERRORS if body else {s: e for s, e in _ERRORS.items() if s not in (400, 415)}
    )
    return errors | {
        s: {"model": CheckoutOut | ErrorResponse, "description": _WHEN[s]}
        for s in statuses
    }


def _checkout_response(result: CheckoutResult, full: bool) -> JSONResponse:
    """200 for a standing hold or a finished checkout; 409 when the stock was
    taken (select again after new options); 503 when the store is down. The
    outcome whole, or the shopper's view of it (not ``full``)."""
    status = {"rejected": 409, "unavailable": 503}.get(result.status, 200)
    retry = status == 503 and not result.lasting
    return WireResponse(
        answer_body(result, full),
        status_code=status,
        headers=STORE_RETRY_AFTER if retry else None,
    )


# Each endpoint has a lean handler (``service/lean.py``) that answers a
# well-formed request without FastAPI's per-request machinery; both run the
# same code below. ``full``: the answer with the operator data
# (``sees_operator_data``), else the shopper's view of it.
def _exact_skus(state: ServiceState, body: OptionsRequest) -> None:
    """Refuse a cart line whose SKU is a network id with spaces around it.

    The document's ``sku`` is an ``enum`` of the network's ids, and a
    request it calls invalid gets a 4xx; the router strips a cart's SKUs (as
    it reads an orders file's), so ``" TEE "`` was answered as TEE, and
    under an ``Idempotency-Key`` counted as another request than TEE's.
    ``InputError`` at the line's ``sku`` (422), naming the id meant.
    """
    index = state.router.network.sku_index
    for i, item in enumerate(body.items):
        meant = item.sku.strip()
        if item.sku not in index and meant in index:
            raise InputError(
                f"unknown SKU; the network has {meant!r}, without the spaces "
                "around it (ids are exact)",
                field="sku",
                index=i,
                value=item.sku,
            )


async def _options(
    state: ServiceState, body: OptionsRequest, full: bool, key: str | None = None
) -> JSONResponse:
    _exact_skus(state, body)
    version = map_version(state.router)
    prefs = (
        None
        if body.preferences is None
        else body.preferences.model_dump(exclude_none=True)
    )
    answer = await state.call(
        state.router.generate_fulfillment_options,
        body.customer_id,
        [(i.sku, i.quantity) for i in body.items],
        body.dest,
        preferences=prefs,
        now=state.clock(),
        idempotency_key=key,
    )
    state.hub.remember(answer, version)
    if not answer.replayed:
        state.metrics.answered(answer)
    return WireResponse(answer_body(answer, full))


@contextmanager
def _header_named(customer: str | None) -> Iterator[None]:
    """A refused customer id that came in the ``X-Customer-Id`` header
    (``customer``, None when it did not) is named as that header: the router
    names its ``customer_id``, a field a confirm or cancel has not."""
    try:
        yield
    except CustomerMismatch as exc:
        if customer is None or exc.field != "customer_id" or exc.value != customer:
            raise
        raise CustomerMismatch(
            exc.reason, field=CUSTOMER_HEADER, value=exc.value
        ) from exc


async def _select(
    state: ServiceState,
    request_id: str,
    body: SelectRequest,
    customer: str | None,
    full: bool,
) -> JSONResponse:
    if body.customer_id and customer and body.customer_id != customer:
        # one of them is not the checkout's customer, whichever is checked
        raise CustomerMismatch(
            f"the X-Customer-Id header names another customer ({customer!r})",
            field="customer_id",
            value=body.customer_id,
        )
    with _header_named(customer if not body.customer_id else None):
        result = await state.call(
            state.router.select,
            request_id,
            body.option_id,
            customer_id=body.customer_id or customer,
        )
    state.metrics.checkout("select", result)
    return _checkout_response(result, full)


async def _confirm(
    state: ServiceState, request_id: str, customer: str | None, full: bool
) -> JSONResponse:
    with _header_named(customer):
        result = await state.call(
            state.router.confirm, request_id, customer_id=customer
        )
    if result.status == "confirmed":
        state.hub.forget(request_id, "confirmed")
    state.metrics.checkout("confirm", result)
    return _checkout_response(result, full)


async def _cancel(
    state: ServiceState, request_id: str, customer: str | None, full: bool
) -> JSONResponse:
    with _header_named(customer):
        result = await state.call(state.router.cancel, request_id, customer_id=customer)
    if result.ok:
        state.hub.forget(request_id, "cancelled")
    state.metrics.checkout("cancel", result)
    return _checkout_response(result, full)


async def _requote(
    state: ServiceState, request_id: str, customer: str | None, full: bool
) -> JSONResponse:
    version = map_version(state.router)
    with _header_named(customer):
        answer = await state.call(
            state.router.requote, request_id, now=state.clock(), customer_id=customer
        )
    state.hub.answered_again(answer, version)
    return WireResponse(answer_body(answer, full))


async def _lean_options(request: Request) -> JSONResponse | None:
    keys = request.headers.getlist(KEY_HEADER)
    if len(keys) > 1:  # the route refuses it
        return None
    body = await json_body(request, OptionsRequest)
    if body is None:
        return None
    key = idempotency_key(keys[0]) if keys else None
    full = sees_operator_data(request)
    return await _options(await service_state(request), body, full, key)


async def _lean_select(request: Request) -> JSONResponse | None:
    request_id = path_id(request)
    well_formed, customer = customer_header(request)
    if request_id is None or not well_formed:
        return None
    body = await json_body(request, SelectRequest)
    if body is None:
        return None
    state, full = await service_state(request), sees_operator_data(request)
    return await _select(state, request_id, body, customer, full)


def _lean_ending(
    call: Callable[[ServiceState, str, str | None, bool], Awaitable[JSONResponse]],
) -> Callable[[Request], Awaitable[JSONResponse | None]]:
    async def handler(request: Request) -> JSONResponse | None:
        request_id = path_id(request)
        well_formed, customer = customer_header(request)
        if request_id is None or not well_formed:
            return None
        state, full = await service_state(request), sees_operator_data(request)
        return await call(state, request_id, customer, full)

    return handler


@router.post(
    "/v1/options",
    response_model=OptionSetOut,
    responses=_OPTIONS_ERRORS,
    summary="Tiered fulfillment options for a cart",
    dependencies=[KEY_HEADER_ONCE],
)
@lean(_lean_options)
async def post_options(
    body: OptionsRequest,
    state: State,
    full: FullView,
    key: KeyHeader = None,
) -> JSONResponse:
    """Options best first (``recommended`` is the first); ``missing``
    says why a tier is not offered. Unknown customers get the
    new-customer prior. With an ``Idempotency-Key``, a retry answers the
    option set made for it (a new one, which the key then names, once an
    open one expired)."""
    given = None if key is None else idempotency_key(key)
    return await _options(state, body, full, given)


@router.post(
    "/v1/checkouts/{request_id}/select",
    response_model=CheckoutOut,
    responses=_outcome_or_error(409, 503),
    dependencies=[CUSTOMER_HEADER_ONCE],
    summary="Hold the chosen option's stock",
)
@lean(_lean_select)
async def post_select(
    request_id: RequestId,
    body: SelectRequest,
    state: State,
    full: FullView,
    x_customer_id: CustomerHeader = None,
) -> JSONResponse:
    """Any option may be chosen (overriding the recommendation); choosing
    another swaps the hold. 409 ``rejected``: the stock is gone."""
    return await _select(state, request_id, body, x_customer_id, full)


@router.post(
    "/v1/checkouts/{request_id}/confirm",
    response_model=CheckoutOut,
    responses=_outcome_or_error(503, body=False),
    dependencies=[CUSTOMER_HEADER_ONCE],
    summary="Turn the held option into an order",
)
@lean(_lean_ending(_confirm))
async def post_confirm(
    request_id: RequestId,
    state: State,
    full: FullView,
    x_customer_id: CustomerHeader = None,
) -> JSONResponse:
    """Idempotent (a repeat answers as the first); 409 when the hold expired,
    the checkout was cancelled, or a node the hold ships from closed since
    (options expired: requote, then select again)."""
    return await _confirm(state, request_id, x_customer_id, full)


@router.post(
    "/v1/checkouts/{request_id}/cancel",
    response_model=CheckoutOut,
    responses=_outcome_or_error(503, body=False),
    dependencies=[CUSTOMER_HEADER_ONCE],
    summary="Release the hold",
)
@lean(_lean_ending(_cancel))
async def post_cancel(
    request_id: RequestId,
    state: State,
    full: FullView,
    x_customer_id: CustomerHeader = None,
) -> JSONResponse:
    """Idempotent (a repeat answers as the first); 409 for a confirmed
    checkout."""
    return await _cancel(state, request_id, x_customer_id, full)


@router.post(
    "/v1/checkouts/{request_id}/requote",
    response_model=OptionSetOut,
    responses=_REQUOTE_ERRORS,
    dependencies=[CUSTOMER_HEADER_ONCE],
    summary="Answer an open checkout again with today's dates and prices",
)
async def post_requote(
    request_id: RequestId,
    state: State,
    full: FullView,
    x_customer_id: CustomerHeader = None,
) -> JSONResponse:
    """Same ``request_id`` and option ids, ``revision`` + 1, on the capacity,
    stock and clock of now: after a select refused 409 "options expired …:
    requote", select from this answer. A held option keeps its hold; the
    checkout's streams get the new answer. 409 when the checkout is
    finished or its options expired."""
    return await _requote(state, request_id, x_customer_id, full)
