"""The live stream: server-sent capacity changes and a checkout's new options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from tierflow.service.errors import ApiError
from tierflow.service.head import is_head
from tierflow.service.live import Subscriber
from tierflow.service.query_params import query_as_declared
from tierflow.service.state import FullView, State, operator_read

router = APIRouter(tags=["live"])
#: A stream refused for want of room is asked again after this many seconds.
STREAMS_RETRY_AFTER_S = 5
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


async def _stream_target(
    state: State,
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
    """The checkout a stream follows: it must be open (on any replica); one
    another network's server answered is 409 (``OtherNetwork``), not 404."""
    if request_id is not None and not state.router.is_open(request_id):
        raise ApiError(
            404,
            f"field 'request_id': value {request_id!r}: unknown request id (or "
            "its checkout is over)",
            field="request_id",
        )
    return request_id


_StreamTarget = Annotated[str | None, Depends(_stream_target)]


async def _capacity_events(
    request: Request,
    capacity: Annotated[
        bool,
        Query(
            description=(
                "Whether the stream sends the capacity map's events (false: "
                "only the checkout's options and closed events; the checkout "
                "page, which shows no map, does not download it at every "
                "change)"
            ),
        ),
    ] = True,
) -> bool:
    """Whether the stream sends the capacity map: an operator read, so with
    ``serve --operator-reads key`` a stream that asks for it needs the API
    key (a checkout's own stream, ``capacity=false``, does not)."""
    if capacity:
        await operator_read(request)
    return capacity


_CapacityEvents = Annotated[bool, Depends(_capacity_events)]


async def _subscription(
    request: Request,
    capacity: _CapacityEvents,  # the key (when asked for) before the checkout
    # each query parameter one it takes, once, before the checkout is found
    declared: Annotated[None, Depends(query_as_declared)],
    request_id: _StreamTarget,
    state: State,
    full: FullView,
) -> AsyncIterator[Subscriber | None]:
    """The stream's subscriber (None for a ``HEAD``: none left behind),
    unsubscribed as the request ends, however it ends (FastAPI's exit
    stack). Not in the stream's generator: when the client goes away while
    the generator waits at a ``yield``, FastAPI stops pulling from it and
    never closes it, so its ``finally`` ran only once a full garbage
    collection found it (seldom in a server: ``tune_gc``), and until then
    the hub kept sending to the subscriber, requoting its checkout and
    counting it in ``/healthz``."""
    if request_id is None and not capacity:
        # it asked for no event: a stream that never sent a byte, holding
        # one of the server's open streams until its client left
        raise ApiError(
            422,
            "field 'capacity': value False: a stream without request_id has no "
            "event to send with capacity=false (give request_id, or leave "
            "capacity true)",
            field="capacity",
        )
    if is_head(request.scope):
        yield None
        return
    hub = state.hub
    if hub.n_streams >= state.max_streams:
        # each stream holds a connection: one client opening thousands took
        # every file descriptor and the server refused every shopper; those
        # the hub dropped for not reading count until their requests end
        raise ApiError(
            503,
            f"too many open streams ({state.max_streams} on this server); "
            "retry shortly",
            headers={"Retry-After": str(STREAMS_RETRY_AFTER_S)},
        )
    # without the key in private mode: the options events' shopper view
    sub = await hub.subscribe(request_id, capacity=capacity, full=full)
    try:
        yield sub
    finally:
        hub.unsubscribe(sub)


_Subscription = Annotated[Subscriber | None, Depends(_subscription)]


@router.get(
    "/v1/stream",
    response_class=EventSourceResponse,
    # the errors are JSON, not events (the route's media type is the stream's)
    responses={
        404: {
            "description": "The checkout is unknown or over.",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        409: {
            "description": "The checkout names a node, SKU or destination this "
            "server's network lacks (a server of the store on another network "
            "answered it).",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        422: {
            "description": "A malformed request_id, `capacity=false` "
            "without a request_id (a stream of no event), a parameter "
            "given twice, or one it does not take.",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        503: {
            "description": "The state store cannot be read to find the "
            "checkout, or the server has as many open streams as it takes "
            "(`Retry-After`); retry.",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
    },
    summary="Server-sent events: capacity changes, a checkout's new options",
)
async def get_stream(sub: _Subscription) -> AsyncIterator[ServerSentEvent]:
    """Events ``capacity`` (every stream, first on connect), ``options``
    (with ``?request_id=``: what moved and the new option set) and
    ``closed`` (the checkout is over; the stream ends)."""
    if sub is None:  # the head only
        return
    while (ev := await sub.queue.get()) is not None:
        if ev.wire is not None:  # written once for every stream
            sent = ServerSentEvent(event=ev.event, raw_data=ev.wire, id=str(ev.id))
        else:
            sent = ServerSentEvent(event=ev.event, data=ev.data, id=str(ev.id))
        # waiting for the next event, a stream holds none of this one's
        # data: each stream's first map is its own, and an idle stream kept
        # it (its nodes' dicts) for as long as it was open
        del ev
        yield sent
