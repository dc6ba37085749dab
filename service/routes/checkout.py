"""Checkout routes: a cart's tiered options, then select, confirm or cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from tierflow.orchestration.checkout.router import CheckoutResult
from tierflow.service.capacity_view import capacity_version
from tierflow.service.schemas import (
    CheckoutOut,
    ErrorResponse,
    OptionSetOut,
    OptionsRequest,
    SelectRequest,
)
from tierflow.service.state import State

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 404, 409, 413, 422, 500, 503)
}
RequestId = Annotated[
    str,
    PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
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
def post_options(body: OptionsRequest, state: State) -> JSONResponse:
    """Options best first (``recommended`` is the first); ``missing``
    says why a tier is not offered. Unknown customers get the
    new-customer prior."""
    version = capacity_version(state.router)
    prefs = (
        None
        if body.preferences is None
        else body.preferences.model_dump(exclude_none=True)
    )
    answer = state.router.generate_fulfillment_options(
        body.customer_id,
        [(i.sku, i.quantity) for i in body.items],
        body.dest,
        preferences=prefs,
        now=state.clock(),
    )
    state.hub.remember(answer, version)
    return JSONResponse(answer.to_dict())


@router.post(
    "/v1/checkouts/{request_id}/select",
    response_model=CheckoutOut,
    summary="Hold the chosen option's stock",
)
def post_select(
    request_id: RequestId, body: SelectRequest, state: State
) -> JSONResponse:
    """Any option may be chosen (overriding the recommendation); choosing
    another swaps the hold. 409 ``rejected``: the stock is gone."""
    return _checkout_response(state.router.select(request_id, body.option_id))


@router.post(
    "/v1/checkouts/{request_id}/confirm",
    response_model=CheckoutOut,
    summary="Turn the held option into an order",
)
def post_confirm(request_id: RequestId, state: State) -> JSONResponse:
    """Idempotent; 409 when the hold expired or the checkout was cancelled."""
    result = state.router.confirm(request_id)
    if result.status == "confirmed":
        state.hub.forget(request_id)
    return _checkout_response(result)


@router.post(
    "/v1/checkouts/{request_id}/cancel",
    response_model=CheckoutOut,
    summary="Release the hold",
)
def post_cancel(request_id: RequestId, state: State) -> JSONResponse:
    """Idempotent; 409 for a confirmed checkout."""
    result = state.router.cancel(request_id)
    if result.ok:
        state.hub.forget(request_id)
    return _checkout_response(result)
