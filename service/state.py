"""What the routes share, kept on ``app.state.service`` and handed to them as
FastAPI dependencies: the router, the live hub, the clock, the API key and
the pages' own store reader."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import functools
import hmac
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from starlette.datastructures import Headers

from tierflow.data.store import StateStore
from tierflow.orchestration.checkout.fallback import STORE_ERRORS
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.allocation_view import latest_allocation
from tierflow.service.errors import ApiError
from tierflow.service.live import LiveHub
from tierflow.service.metrics import Metrics
from tierflow.service.query_params import key_given_once
from tierflow.service.samples import sample_carts, sample_customers, sample_destinations
from tierflow.service.utf8_json import UniqueKeysJsonRequest, Utf8JsonRoute
from tierflow.service.viewer import given_key, sees_operator_data

_R = TypeVar("_R")

log = logging.getLogger("tierflow.service")

#: Threads a server's checkout calls run in on a networked store. Few: each
#: waits on a pooled connection (4) most of the time, and more threads only
#: fight over the GIL. Measured (PostgreSQL, one worker, 50 clients, 12 s
#: each): 4 or 8 threads 894-986 checkout calls/s, 16 threads 828, anyio's
#: default of 40 816-861.
OFFLOAD_THREADS = 8


class PageReader:
    """The pages' reads (sample customers, allocation runs) on a store
    connection of their own, so they never interleave with the router's
    transactions."""

    def __init__(self, router: OnlineRouter, allocation_dir: Path | None) -> None:
        self._router = router
        self._allocation_dir = allocation_dir
        self._store: StateStore | None = None
        self._lock = threading.Lock()
        with self._lock:
            self._reader()

    def _reader(self) -> StateStore | None:
        """The pages' store, opened now if it could not be before (the
        database away, or out of connections): the pages read without it
        meanwhile instead of the server failing to start. Under the lock."""
        if self._store is None and self._router.store is not None:
            try:
                self._store = self._router.store.reopen()
            except STORE_ERRORS as exc:
                log.warning("pages read without the store: %s", exc)
        return self._store

    def samples(self) -> dict[str, Any]:
        """Customers, carts and destinations for the checkout page."""
        router = self._router
        with self._lock:
            customers, note = sample_customers(
                self._reader(), router.policy, router.network
            )
        return {
            "customers": customers,
            "carts": sample_carts(router.network),
            "destinations": sample_destinations(router.network),
            "note": note,
        }

    def allocation(self) -> dict[str, Any]:
        """The latest allocation run, summarized."""
        with self._lock:
            return latest_allocation(self._allocation_dir, self._reader())

    def close(self) -> None:
        """Close the pages' store connection."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One app's collaborators (see :func:`tierflow.service.app.create_app`).

    ``offload``: the threads the checkout calls run in (a store across the
    network: their round trips overlap), or None to run them on the event
    loop (an embedded store: a thread hop costs more than the call's reads).
    ``metrics``: what the routes report (a no-op when metrics are off).
    ``max_streams``: open event streams at most (more are 503).
    ``operator_key``: the operator reads (the capacity map, the allocation
    run, the map outline, ``/metrics``, the stream's capacity events) need
    the API key, as the operator writes do (``serve --operator-reads key``),
    and a checkout answer to a caller without it is the shopper's view. One
    fact, recorded once, by the ``hub`` (made first: it writes the shopper
    views of its events); read here, by the routes, the error handlers and
    the app's document (``app.withholds``), so none can disagree.
    """

    router: OnlineRouter
    hub: LiveHub
    clock: Callable[[], dt.datetime]
    api_key: bytes
    pages: PageReader
    offload: ThreadPoolExecutor | None = None
    metrics: Metrics = field(default_factory=Metrics)
    max_streams: int = 10_000

    @property
    def operator_key(self) -> bool:
        """Whether the server runs ``--operator-reads key`` (the hub's
        :attr:`~tierflow.service.live.LiveHub.withhold`)."""
        return self.hub.withhold

    async def call(self, func: Callable[..., _R], /, *args: Any, **kw: Any) -> _R:
        """``func(*args, **kw)``: in an ``offload`` thread when there are
        some, with the request's context (its id is on what it logs)."""
        if self.offload is None:
            return func(*args, **kw)
        run = functools.partial(contextvars.copy_context().run, func, *args, **kw)
        return await asyncio.get_running_loop().run_in_executor(self.offload, run)


async def service_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState` (a FastAPI dependency)."""
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(service_state)]


async def require_key(
    request: Request,
    state: State,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Operator writes: the API key, compared in constant time (a FastAPI
    dependency: it declares the headers in the OpenAPI document, and reads
    them from the request, where a header given twice shows; the
    :class:`KeyFirstRoute` checks the same before the body is read)."""
    del x_api_key, authorization  # each is its header's first value
    check_key(state, request.headers)


def check_key(state: ServiceState, headers: Headers) -> None:
    """The API key of ``X-API-Key`` or ``Authorization: Bearer``: 422 when
    either header is given twice (``key_given_once``), 401 when missing,
    403 when wrong."""
    key_given_once(headers)
    given = given_key(headers.get("x-api-key"), headers.get("authorization"))
    if not given:
        raise ApiError(
            401,
            "this endpoint needs the API key (X-API-Key header or Authorization: Bearer)",
            field="X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.strip().encode(), state.api_key):
        raise ApiError(403, "wrong API key", field="X-API-Key")


async def full_view(request: Request) -> bool:
    """:func:`sees_operator_data` as a FastAPI dependency (on the event loop;
    it takes only the request, so nothing in the OpenAPI document). A key
    given twice is refused (422) where the key is read: with
    ``--operator-reads key``."""
    state: ServiceState = request.app.state.service
    if state.operator_key:
        key_given_once(request.headers)
    return sees_operator_data(request)


FullView = Annotated[bool, Depends(full_view)]


async def operator_read(request: Request) -> None:
    """Operator reads: the API key when the app asks for it on them
    (``operator_key``), else nothing. A FastAPI dependency that takes only
    the request, so it adds nothing to the OpenAPI document: these routes
    are public by default and their documented parameters stay as they were."""
    state: ServiceState = request.app.state.service
    if state.operator_key:
        check_key(state, request.headers)


OperatorRead = Depends(operator_read)


class KeyFirstRoute(Utf8JsonRoute):
    """An operator route that checks the API key before FastAPI reads and
    validates the body: a caller without the key learns nothing of what the
    body should be (it got 422 for a malformed body, 401 only for a
    well-formed one). Its body may not give a key twice: an operator's
    ``"value": 80, "value": 290`` was applied as 290 without a word."""

    request_class = UniqueKeysJsonRequest

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()

        async def handler(request: Request) -> Response:
            check_key(request.app.state.service, request.headers)
            return await full(request)

        return handler
