"""Checkout routes: a cart's tiered options, then select, confirm or cancel.

The checkout calls run on the event loop with an embedded store (SQLite: a
call is a fraction of a millisecond, a thread hop would cost more) and in
worker threads with PostgreSQL (their round trips to the server overlap);
see ``ServiceState.call``. Every
outcome has one status and one body on every replica (``docs/service.md``,
"Errors").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from tierflow.orchestration.checkout.router import CheckoutResult
from tierflow.service.capacity_view import map_version
from tierflow.service.schemas import (
    ID_PATTERN,
    CheckoutOut,
    ErrorResponse,
    OptionSetOut,
    OptionsRequest,
    SelectRequest,
)
from tierflow.service.state import State

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
    422: "A malformed body or a bad value (`field` names it).",
    500: "A bug: the answer carries an incident id.",
    503: "The state store cannot be written now (retry); for select, confirm "
    "and cancel the body is the outcome, status `unavailable`.",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse, "description": why} for s, why in _WHEN.items()
}
RequestId = Annotated[
    str,
    PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
]
CustomerHeader = Annotated[
    str | None,
    Header(
        alias="X-Customer-Id",
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="The shopper's customer id: when given, it must be the "
        "checkout's (403 otherwise).",
    ),
]

router = APIRouter(tags=["checkout"], responses=_ERRORS)


def _checkout_response(result: CheckoutResult) -> JSONResponse:
    """200 for a standing hold or a finished checkout; 409 when the stock was
    taken (select again after new options); 503 when the store is down."""
    status = {"rejected": 409, "unavailable": 503}.get(result.status, 200)
    return JSONResponse(result.to_dict(), status_code=status)


@router.post(
    "/v1/options",
    response_model=OptionSetOut,
    summary="Tiered fulfillment options for a cart",
)
async def post_options(body: OptionsRequest, state: State) -> JSONResponse:
    """Options best first (``recommended`` is the first); ``missing``
    says why a tier is not offered. Unknown customers get the
    new-customer prior."""
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
    )
    state.hub.remember(answer, version)
    state.metrics.answered(answer)
    return JSONResponse(answer.to_dict())


@router.post(
    "/v1/checkouts/{request_id}/select",
    response_model=CheckoutOut,
    summary="Hold the chosen option's stock",
)
async def post_select(
    request_id: RequestId,
    body: SelectRequest,
    state: State,
    x_customer_id: CustomerHeader = None,
) -> JSONResponse:
    """Any option may be chosen (overriding the recommendation); choosing
    another swaps the hold. 409 ``rejected``: the stock is gone."""
    result = await state.call(
        state.router.select,
        request_id,
        body.option_id,
        customer_id=body.customer_id or x_customer_id,
    )
    state.metrics.checkout("select", result)
    return _checkout_response(result)


@router.post(
    "/v1/checkouts/{request_id}/confirm",
    response_model=CheckoutOut,
    summary="Turn the held option into an order",
)
async def post_confirm(
    request_id: RequestId, state: State, x_customer_id: CustomerHeader = None
) -> JSONResponse:
    """Idempotent (a repeat answers as the first); 409 when the hold expired
    or the checkout was cancelled."""
    result = await state.call(
        state.router.confirm, request_id, customer_id=x_customer_id
    )
    if result.status == "confirmed":
        state.hub.forget(request_id)
    state.metrics.checkout("confirm", result)
    return _checkout_response(result)


@router.post(
    "/v1/checkouts/{request_id}/cancel",
    response_model=CheckoutOut,
    summary="Release the hold",
)
async def post_cancel(
    request_id: RequestId, state: State, x_customer_id: CustomerHeader = None
) -> JSONResponse:
    """Idempotent (a repeat answers as the first); 409 for a confirmed
    checkout."""
    result = await state.call(
        state.router.cancel, request_id, customer_id=x_customer_id
    )
    if result.ok:
        state.hub.forget(request_id)
    state.metrics.checkout("cancel", result)
    return _checkout_response(result)
