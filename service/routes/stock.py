"""Stock routes: the stock positions (an operator read: the API key with
``serve --operator-reads key``), and counts and receipts written to them
(an operator write: the API key), as ``tierflow stock show`` and ``tierflow
stock load`` read and write them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from tierflow.data.errors import InputError
from tierflow.data.store import ChangeIdConflict
from tierflow.orchestration.stock_load import load_stock, load_summary, stock_records
from tierflow.service.errors import (
    STORE_RETRY_AFTER,
    ApiError,
    input_error_field,
    input_error_message,
)
from tierflow.service.query_params import QUERY_AS_DECLARED
from tierflow.service.schemas import (
    STORE_AWAY,
    ErrorResponse,
    StockLevelOut,
    StockLoadOut,
    StockRequest,
)
from tierflow.service.state import KeyFirstRoute, OperatorRead, State, require_key

#: A server without its store (it could not be opened; it tries each second).
_NO_STORE = "no state store: the stock cannot be {}"
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 413, 415, 500)
}
_WRITE_ERRORS[422] = {
    "model": ErrorResponse,
    "description": "A change refused, named by its place (`changes[1].on_hand`, "
    "`changes[0].sku`; `changes[2]` for a position given twice): a node or "
    "SKU the network served lacks, a quantity that is not an integer, an "
    "on_hand that would be below 0, above the limit or below the units open "
    "checkouts hold (without `cut_holds`). Nothing is written.",
}
_WRITE_ERRORS[409] = {
    "model": ErrorResponse,
    "description": "A `change_id` already used by another change (another "
    "mode or changes): ids are idempotency keys. Nothing is written.",
}
_WRITE_ERRORS[503] = {
    "model": ErrorResponse,
    "description": "The state store cannot be written now (the server runs "
    "without it, or it is away). Nothing is written; retry.",
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "A node or SKU neither the "
          "network nor the store knows, a filter given twice, or a query parameter "
          "other than these two."},
    **STORE_AWAY,
}  # fmt: skip

router = APIRouter(tags=["stock"])


@router.get(
    "/v1/stock",
    response_model=list[StockLevelOut],
    responses=_READ_ERRORS,
    summary="On hand, reserved and available per stock position",
    dependencies=[OperatorRead, QUERY_AS_DECLARED],
)
async def get_stock(
    state: State,
    node_id: Annotated[
        str | None, Query(max_length=200, description="Only this node's positions")
    ] = None,
    sku: Annotated[
        str | None, Query(max_length=200, description="Only this SKU's positions")
    ] = None,
) -> JSONResponse:
    """Every position (node, SKU) the store holds, by node and SKU, as
    ``tierflow stock show --json`` prints them: reserved is what open
    checkouts hold, available what is left (holds past their TTL free)."""
    store = state.router.store
    if store is None:
        raise ApiError(503, _NO_STORE.format("read"), headers=STORE_RETRY_AFTER)
    levels = await state.call(store.stock_levels)
    return JSONResponse(stock_records(levels, state.router.network, node_id, sku))


async def post_stock(body: StockRequest, state: State) -> JSONResponse:
    """Counts (``set``) or receipts and adjustments (``add``), all or none:
    every change is checked first, and a bad one writes nothing and is named
    by its place. With a ``change_id``, once: a retry answers the first's
    summary (``duplicate``), the id with another body is refused (409). A position the store holds no row of starts from the
    network's on_hand. Every replica's next checkout answer reads the new
    stock (they read it from the store per answer)."""
    store = state.router.store
    if store is None:
        raise ApiError(
            503,
            _NO_STORE.format("written; nothing written"),
            headers=STORE_RETRY_AFTER,
        )
    changes = [(c.node_id, c.sku, c.on_hand) for c in body.changes]
    try:
        done = await state.call(
            load_stock,
            store,
            state.router.network,
            changes,
            mode=body.mode,
            change_id=body.change_id,
            cut_holds=body.cut_holds,
        )
    except ChangeIdConflict as exc:
        message = input_error_message(exc, "change_id")
        raise ApiError(409, message, field="change_id") from None
    except InputError as exc:
        path = (
            f"changes[{exc.index}]" + ("" if exc.field is None else f".{exc.field}")
            if isinstance(exc.index, int)
            else input_error_field(exc)
        )
        raise ApiError(422, input_error_message(exc, path), field=path) from None
    return JSONResponse(
        load_summary(done, body.mode, body.change_id, cut_holds=body.cut_holds)
    )


# an operator write: the key is checked before the body is read (KeyFirstRoute)
router.add_api_route(
    "/v1/stock",
    post_stock,
    methods=["POST"],
    response_model=StockLoadOut,
    responses=_WRITE_ERRORS,
    summary="Write stock counts or receipts (a WMS, an ERP; needs the API key)",
    dependencies=[Depends(require_key), QUERY_AS_DECLARED],
    route_class_override=KeyFirstRoute,
)
