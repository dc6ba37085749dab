"""Capacity routes: the capacity map (an operator read: the API key with
``serve --operator-reads key``), and operator or feed events (API key)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tierflow.capacity.events import EventIdConflict
from tierflow.data.errors import InputError
from tierflow.service.capacity_view import capacity_payload
from tierflow.service.errors import (
    STORE_RETRY_AFTER,
    ApiError,
    input_error_field,
    input_error_message,
)
from tierflow.service.query_params import NO_QUERY_422, QUERY_AS_DECLARED
from tierflow.service.schemas import (
    CapacityEventsRequest,
    CapacityOut,
    ErrorResponse,
    IngestOut,
)
from tierflow.service.state import KeyFirstRoute, OperatorRead, State, require_key

_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 413, 415, 422, 500)
}
_WRITE_ERRORS[503] = {
    "model": ErrorResponse,
    "description": "The server runs without its state store (it could not be "
    "opened): an event it cannot log would reach no other replica and be lost "
    "at a restart. Nothing is applied; retry.",
}
_WRITE_ERRORS[409] = {
    "model": ErrorResponse,
    "description": "An `event_id` already used with other content (earlier in "
    "the batch, or applied or logged before): ids are idempotency keys. "
    "Nothing is applied.",
}

router = APIRouter(tags=["capacity"])


@router.get(
    "/v1/capacity",
    response_model=CapacityOut,
    responses=NO_QUERY_422,
    summary="Capacity score of every node with its inputs",
    dependencies=[OperatorRead, QUERY_AS_DECLARED],
)
def get_capacity(state: State) -> JSONResponse:
    """Score = free / nominal capacity in [0, 1]; below
    ``overflow_threshold`` everywhere, checkouts get the overflow tier."""
    state.router.refresh()
    now = state.clock()
    payload = capacity_payload(state.router, now)
    # the ops page stamps its events with this clock, not the browser's
    payload["server_time"] = now.astimezone(dt.UTC).isoformat()
    # this server's, not the fleet's: the page says so
    payload["worker_restarts"] = state.metrics.worker_restarts()
    # what `tierflow network validate` warns about the network served
    payload["network_warnings"] = list(state.router.network.warnings)
    return JSONResponse(payload)


def post_events(body: CapacityEventsRequest, state: State) -> JSONResponse:
    """All or none: a bad event applies nothing and is named by its
    index. A repeated ``event_id`` is ignored (counted in
    ``duplicates``). Open checkout pages update within a second."""
    if state.router.store is None:
        raise ApiError(
            503,
            "no state store: the events cannot be logged, so they would reach "
            "no other replica and be lost at a restart; nothing applied",
            headers=STORE_RETRY_AFTER,
        )
    # a null is given to the parser as such: it says "missing (null)"
    records = [e.model_dump(exclude_unset=True) for e in body.events]
    try:
        result = state.router.apply_capacity_events(records, received=state.clock())
    except InputError as exc:
        row = exc.row if isinstance(exc.row, int) else 1
        path = input_error_field(exc, prefix=f"events[{row - 1}].")
        status = 409 if isinstance(exc, EventIdConflict) else 422
        raise ApiError(status, input_error_message(exc, path), field=path) from None
    state.hub.notify()
    return JSONResponse(
        {
            "applied": result.applied,
            "duplicates": result.duplicates,
            "last_seq": result.last_seq,
            "stale": result.stale,
        }
    )


# an operator write: the key is checked before the body is read (KeyFirstRoute)
router.add_api_route(
    "/v1/capacity/events",
    post_events,
    methods=["POST"],
    response_model=IngestOut,
    responses=_WRITE_ERRORS,
    summary="Apply capacity events (operators, feeds; needs the API key)",
    dependencies=[Depends(require_key), QUERY_AS_DECLARED],
    route_class_override=KeyFirstRoute,
)
