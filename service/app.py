"""The FastAPI app: the checkout API, the live stream and the two pages.

``create_app(router, api_key=...)`` wires thin handlers to one
:class:`~tierflow.orchestration.checkout.router.OnlineRouter` (option sets live in its memory: one
router, one server process). Handlers only translate HTTP to router calls
and back; the router decides, the store reserves.

Endpoints (OpenAPI at ``/docs``, ``/openapi.json``):

==========================================  ======================================
``POST /v1/options``                        a checkout's tiered options
``POST /v1/checkouts/{request_id}/select``  hold an option's stock (TTL)
``POST /v1/checkouts/{request_id}/confirm`` the held option becomes an order
``POST /v1/checkouts/{request_id}/cancel``  release the hold
``GET  /v1/capacity``                       the capacity map with its inputs
``POST /v1/capacity/events``                operator/feed events (API key)
``GET  /v1/stream``                         server-sent live updates
``GET  /v1/samples``                        customers, carts, ZIPs for the page
``GET  /v1/allocation``                     the latest allocation run, summarized
``GET  /v1/map``                            the US outline the ops page draws
``GET  /healthz``                           liveness and store state
``GET  /`` and ``GET /ops``                 the checkout and operations pages
==========================================  ======================================

Checkout calls are public (a request id is an unguessable token); operator
writes need the API key in ``X-API-Key`` (or ``Authorization: Bearer``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles

from tierflow.data.errors import InputError
from tierflow.orchestration.checkout.router import CheckoutResult, OnlineRouter
from tierflow.service.allocation_view import latest_allocation
from tierflow.service.capacity_view import (
    capacity_payload,
    capacity_version,
    us_outline_cells,
)
from tierflow.service.errors import (
    ApiError,
    BodySizeLimit,
    input_error_field,
    input_error_message,
    install_error_handlers,
)
from tierflow.service.live import LiveHub
from tierflow.service.samples import sample_carts, sample_customers, sample_destinations
from tierflow.service.schemas import (
    AllocationOut,
    CapacityEventsRequest,
    CapacityOut,
    CheckoutOut,
    ErrorResponse,
    HealthOut,
    IngestOut,
    OptionSetOut,
    OptionsRequest,
    SamplesOut,
    SelectRequest,
)

#: Minimum API key length: a short key is guessable.
MIN_API_KEY_LENGTH = 16
#: Default request-body limit (a 50-line cart is about 3 kB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024

_REQUEST_ID = Annotated[
    str,
    PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 404, 409, 413, 422, 500, 503)
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 413, 422, 500)
}


async def _stream_target(
    request: Request,
    request_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="A checkout to follow (its options events)",
        ),
    ] = None,
) -> str | None:
    """The checkout a stream follows: it must be open in this server."""
    router: OnlineRouter = request.app.state.router
    if request_id is not None and request_id not in router.open_requests():
        raise ApiError(
            404, "unknown request id (or its checkout is over)", field="request_id"
        )
    return request_id


_StreamTarget = Annotated[str | None, Depends(_stream_target)]


def _checkout_response(result: CheckoutResult) -> JSONResponse:
    """200 for a standing hold or a finished checkout; 409 when the stock was
    taken (select again after new options); 503 when the store is down."""
    status = {"rejected": 409, "unavailable": 503}.get(result.status, 200)
    return JSONResponse(result.to_dict(), status_code=status)


def create_app(
    router: OnlineRouter,
    *,
    api_key: str,
    clock: Callable[[], dt.datetime] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allocation_dir: Path | None = None,
    poll_s: float = 1.0,
) -> FastAPI:
    """The HTTP app over one router (see the module docstring).

    Parameters
    ----------
    router
        Answers checkouts; the app does not close it.
    api_key
        Secret for operator writes (at least 16 characters).
    clock
        The checkout instant (default: the wall clock); tests pin it.
    max_body_bytes
        Larger request bodies get 413.
    allocation_dir
        Folder of a ``tierflow allocate --out`` run for the ops page
        (default: the store's latest run).
    poll_s
        How often to look for capacity events from other processes.
    """
    if not isinstance(api_key, str) or len(api_key.strip()) < MIN_API_KEY_LENGTH:
        raise InputError(
            f"must be at least {MIN_API_KEY_LENGTH} characters", field="api_key"
        )
    if max_body_bytes < 1024:
        raise InputError(
            "must be >= 1024", field="max_body_bytes", value=max_body_bytes
        )
    secret = api_key.strip().encode()
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    hub = LiveHub(router, now, poll_s=poll_s)
    # the service's own reads (samples, allocation runs) use a connection of
    # their own, so they never interleave with the router's transactions
    reader = router.store.reopen() if router.store is not None else None
    reader_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        title="tierflow",
        summary="Tiered fulfillment options at checkout, live capacity, operations.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.router = router
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    def require_key(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        """Operator writes: the API key, compared in constant time."""
        given = x_api_key
        if given is None and authorization and authorization.startswith("Bearer "):
            given = authorization[len("Bearer ") :]
        if not given:
            raise ApiError(
                401,
                "this endpoint needs the API key (X-API-Key header)",
                field="X-API-Key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode(), secret):
            raise ApiError(403, "wrong API key", field="X-API-Key")

    # ------------------------------------------------------------ checkout
    @app.post(
        "/v1/options",
        response_model=OptionSetOut,
        responses=_ERRORS,
        tags=["checkout"],
        summary="Tiered fulfillment options for a cart",
    )
    def post_options(body: OptionsRequest) -> JSONResponse:
        """Options best first (``recommended`` is the first); ``missing``
        says why a tier is not offered. Unknown customers get the
        new-customer prior."""
        version = capacity_version(router)
        prefs = (
            None
            if body.preferences is None
            else body.preferences.model_dump(exclude_none=True)
        )
        answer = router.generate_fulfillment_options(
            body.customer_id,
            [(i.sku, i.quantity) for i in body.items],
            body.dest,
            preferences=prefs,
            now=now(),
        )
        hub.remember(answer, version)
        return JSONResponse(answer.to_dict())

    @app.post(
        "/v1/checkouts/{request_id}/select",
        response_model=CheckoutOut,
        responses=_ERRORS,
        tags=["checkout"],
        summary="Hold the chosen option's stock",
    )
    def post_select(request_id: _REQUEST_ID, body: SelectRequest) -> JSONResponse:
        """Any option may be chosen (overriding the recommendation); choosing
        another swaps the hold. 409 ``rejected``: the stock is gone."""
        return _checkout_response(router.select(request_id, body.option_id))

    @app.post(
        "/v1/checkouts/{request_id}/confirm",
        response_model=CheckoutOut,
        responses=_ERRORS,
        tags=["checkout"],
        summary="Turn the held option into an order",
    )
    def post_confirm(request_id: _REQUEST_ID) -> JSONResponse:
        """Idempotent; 409 when the hold expired or the checkout was cancelled."""
        result = router.confirm(request_id)
        if result.status == "confirmed":
            hub.forget(request_id)
        return _checkout_response(result)

    @app.post(
        "/v1/checkouts/{request_id}/cancel",
        response_model=CheckoutOut,
        responses=_ERRORS,
        tags=["checkout"],
        summary="Release the hold",
    )
    def post_cancel(request_id: _REQUEST_ID) -> JSONResponse:
        """Idempotent; 409 for a confirmed checkout."""
        result = router.cancel(request_id)
        if result.ok:
            hub.forget(request_id)
        return _checkout_response(result)

    # ------------------------------------------------------------ capacity
    @app.get(
        "/v1/capacity",
        response_model=CapacityOut,
        tags=["capacity"],
        summary="Capacity score of every node with its inputs",
    )
    def get_capacity() -> JSONResponse:
        """Score = free / nominal capacity in [0, 1]; below
        ``overflow_threshold`` everywhere, checkouts get the overflow tier."""
        router.refresh()
        return JSONResponse(capacity_payload(router))

    @app.post(
        "/v1/capacity/events",
        response_model=IngestOut,
        responses=_WRITE_ERRORS,
        tags=["capacity"],
        summary="Apply capacity events (operators, feeds; needs the API key)",
        dependencies=[Depends(require_key)],
    )
    def post_events(body: CapacityEventsRequest) -> JSONResponse:
        """All or none: a bad event applies nothing and is named by its
        index. A repeated ``event_id`` is ignored (counted in
        ``duplicates``). Open checkout pages update within a second."""
        records = [e.model_dump(exclude_none=True) for e in body.events]
        try:
            result = router.apply_capacity_events(records)
        except InputError as exc:
            row = exc.row if isinstance(exc.row, int) else 1
            path = input_error_field(exc, prefix=f"events[{row - 1}].")
            raise ApiError(422, input_error_message(exc, path), field=path) from None
        hub.notify()
        return JSONResponse(
            {
                "applied": result.applied,
                "duplicates": result.duplicates,
                "last_seq": result.last_seq,
            }
        )

    # -------------------------------------------------------------- stream
    @app.get(
        "/v1/stream",
        response_class=EventSourceResponse,
        responses={404: {"model": ErrorResponse}},
        tags=["live"],
        summary="Server-sent events: capacity changes, a checkout's new options",
    )
    async def get_stream(
        request_id: _StreamTarget,
    ) -> AsyncIterator[ServerSentEvent]:
        """Events ``capacity`` (every stream, first on connect), ``options``
        (with ``?request_id=``: what moved and the new option set) and
        ``closed`` (the checkout is over; the stream ends)."""
        sub = await hub.subscribe(request_id)
        try:
            while True:
                ev = await sub.queue.get()
                if ev is None:
                    return
                yield ServerSentEvent(event=ev.event, data=ev.data, id=str(ev.id))
        finally:
            hub.unsubscribe(sub)

    # ---------------------------------------------------------- page data
    @app.get(
        "/v1/samples",
        response_model=SamplesOut,
        tags=["pages"],
        summary="Sample customers, carts and destinations",
    )
    def get_samples() -> JSONResponse:
        """Customers spanning the CLTV segments (see :mod:`tierflow.service.samples`)."""
        with reader_lock:
            customers, note = sample_customers(reader, router.policy, router.network)
        return JSONResponse(
            {
                "customers": customers,
                "carts": sample_carts(router.network),
                "destinations": sample_destinations(router.network),
                "note": note,
            }
        )

    @app.get(
        "/v1/allocation",
        response_model=AllocationOut,
        tags=["pages"],
        summary="The latest allocation run, summarized",
    )
    def get_allocation() -> JSONResponse:
        """From ``--allocation-dir`` or the store's latest run."""
        with reader_lock:
            return JSONResponse(latest_allocation(allocation_dir, reader))

    @app.get("/v1/map", tags=["pages"], summary="The US outline (dot grid)")
    def get_map() -> JSONResponse:
        """0.5° cells holding a US ZIP centroid: the ops page's map background."""
        return JSONResponse(us_outline_cells())

    @app.get("/healthz", response_model=HealthOut, tags=["service"])
    async def healthz() -> JSONResponse:
        """Liveness, on the event loop without touching the router's lock;
        ``degraded`` when the router has no state store (no reservations)."""
        return JSONResponse(
            {
                "status": "ok" if router.store is not None else "degraded",
                "store": router.store is not None,
                "subscribers": hub.n_subscribers,
            }
        )

    # --------------------------------------------------------------- pages
    static = resources.files("tierflow.service") / "static"

    def page(name: str) -> Callable[[], HTMLResponse]:
        def serve() -> HTMLResponse:
            return HTMLResponse(
                (static / name).read_text(encoding="utf-8"),
                headers={"Cache-Control": "no-cache"},
            )

        return serve

    app.add_api_route("/", page("checkout.html"), include_in_schema=False)
    app.add_api_route("/ops", page("ops.html"), include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app
