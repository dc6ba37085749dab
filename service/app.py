"""The FastAPI app over one :class:`~tierflow.orchestration.checkout.router.OnlineRouter`.

:func:`create_app` checks its settings, keeps what the routes share on
``app.state`` (:mod:`tierflow.service.state`) and includes the routers of
:mod:`tierflow.service.routes`. Endpoints, errors and live updates:
``docs/service.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
import resource
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from tierflow.data.errors import InputError
from tierflow.data.limits import now as limits_now
from tierflow.data.log_repeats import RepeatedLines
from tierflow.data.network import Network
from tierflow.data.store import (
    StoreConflict,
    StoreUnavailable,
    is_postgres_url,
    off_store_error,
    on_store_error,
)
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.body_limit import BodySizeLimit
from tierflow.service.errors import (
    caller_says_store_failures,
    install_error_handlers,
)
from tierflow.service.feed import CapacityFollower
from tierflow.service.head import HeadAsGet
from tierflow.service.lean import LeanDispatch
from tierflow.service.live import LiveHub
from tierflow.service.metrics import Metrics, ServiceMetrics
from tierflow.service.network_schema import narrow, ts_window
from tierflow.service.observe import RequestObserver
from tierflow.service.request_limits import WITNESS
from tierflow.service.routes import checkout, include_routes
from tierflow.service.schemas import RESPONSE_MODELS
from tierflow.service.shopper_view import describe_withholding
from tierflow.service.state import OFFLOAD_THREADS, PageReader, ServiceState

log = logging.getLogger("tierflow.service")

#: Minimum API key length: a short key is guessable.
MIN_API_KEY_LENGTH = 16
#: Default request-body limit (a 50-line cart is about 3 kB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: Who may read the operator data (``create_app(operator_reads=…)``,
#: ``serve --operator-reads``): anyone, or callers with the API key.
OPERATOR_READS = ("public", "key")
#: Open event streams at most, whatever the open-file limit allows.
MAX_STREAMS = 10_000
#: One warning per distinct store error in this many seconds (a locked
#: store fails every request; the access log has each of them). Distinct
#: by reason, its durations aside (``RepeatedLines``): a replica retrying
#: behind a session idle in a transaction said each retry, as the session's
#: idle time in the reason changed.
STORE_ERROR_LOG_EVERY_S = 30.0
_store_errors_said = RepeatedLines(STORE_ERROR_LOG_EVERY_S)


def _log_store_error(backend: str, error: StoreUnavailable) -> None:
    """The operator's copy of a store failure, location included: an answer
    to a caller says only the reason (``public_reason``). Lost lock
    conflicts are retried and not logged, nor failures their caller says
    itself (the capacity follower's: one line each, not two)."""
    if isinstance(error, StoreConflict) or caller_says_store_failures():
        return
    _store_errors_said.say(log, logging.WARNING, f"state store ({backend}): {error}")


def create_app(
    router: OnlineRouter,
    *,
    api_key: str,
    clock: Callable[[], dt.datetime] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allocation_dir: Path | None = None,
    poll_s: float = 1.0,
    metrics: bool = True,
    access_log: bool = True,
    max_streams: int | None = None,
    operator_reads: str = "public",
    samples: bool = True,
) -> FastAPI:
    """The HTTP app over one router (see ``docs/service.md``).

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
    metrics
        Count requests and checkouts and serve ``/metrics`` (Prometheus).
    access_log
        Log one line per request (logger ``tierflow.access``, INFO).
    max_streams
        Open event streams at most (``GET /v1/stream``; more are 503): each
        holds a connection. Default: half the process's open-file limit, at
        most :data:`MAX_STREAMS`, so streams cannot take every descriptor.
    operator_reads
        Who may read the operator data (``GET /v1/capacity``,
        ``/v1/allocation``, ``/v1/map``, ``/metrics`` and the capacity
        events of ``/v1/stream``): ``"public"`` anyone, ``"key"`` callers
        with the API key (401 without it, 403 for a wrong one), as one of
        :data:`OPERATOR_READS`. With ``"key"`` the checkout answers to a
        caller without the key also withhold it (node ids, costs, bid
        prices, scores, CLTV figures:
        :mod:`tierflow.service.shopper_view`).
    samples
        Serve ``GET /v1/samples`` (sample customer ids with their predicted
        spend, for the demo checkout page); off, it is 404.
    """
    secret = _checked_key(api_key)
    if max_body_bytes < 1024:
        raise InputError(
            "must be >= 1024", field="max_body_bytes", value=max_body_bytes
        )
    streams = _default_max_streams() if max_streams is None else max_streams
    if not isinstance(streams, int) or streams < 1:
        raise InputError("must be >= 1", field="max_streams", value=streams)
    if operator_reads not in OPERATOR_READS:
        raise InputError(
            f"must be one of {', '.join(OPERATOR_READS)}",
            field="operator_reads",
            value=operator_reads,
        )
    now = clock or _wall_clock
    private = operator_reads == "key"
    hub = LiveHub(router, now, poll_s=poll_s, withhold=private)
    follower = CapacityFollower(router, hub.notify, now, hub.stock_changed)
    observed = ServiceMetrics(router) if metrics else Metrics()
    app = _new_app(observed, access_log, router.network)
    app.clock = now
    offload = (
        ThreadPoolExecutor(OFFLOAD_THREADS, thread_name_prefix="tierflow-store")
        if is_postgres_url(router.location)  # also while it cannot be opened yet
        else None
    )
    app.state.service = ServiceState(
        router=router, hub=hub, clock=now, api_key=secret,
        pages=PageReader(router, allocation_dir), offload=offload, metrics=observed,
        max_streams=streams,
    )  # fmt: skip
    app.state.hub = hub  # the server closes it first on shutdown
    app.state.follower = follower
    app.state.router = router
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.served_routes.extend(
        include_routes(app, with_metrics=metrics, with_samples=samples)
    )
    # the checkout calls' lean path first, where the router sits: inside the
    # error handling, before FastAPI's route matching (service/lean.py)
    app.router.middleware_stack = LeanDispatch(
        app.router.middleware_stack, checkout.router.routes
    )
    return app


def _new_app(observed: Metrics, access_log: bool, network: Network) -> _ObservedApp:
    """The FastAPI app itself: its OpenAPI identity, lifespan, offline docs."""
    return _ObservedApp(
        observed,
        access_log,
        network,
        title="tierflow",
        summary="Tiered fulfillment options at checkout, live capacity, operations.",
        version="0.1.0",
        lifespan=_lifespan,
        docs_url=None,  # served offline (routes/docs.py)
        redoc_url=None,
        # a path with a slash more is unknown (404), not a 307 to the path
        # without it at ``http://`` + the request's Host header
        redirect_slashes=False,
    )


class _ObservedApp(FastAPI):
    """The app with :class:`RequestObserver` around everything, Starlette's
    error middleware included (a 500 gets its request id too), and an OpenAPI
    document that says what the network accepts."""

    def __init__(
        self, metrics: Metrics, access_log: bool, network: Network, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self._observe = (metrics, access_log)
        #: Every route served (:func:`~tierflow.service.routes.include_routes`).
        self.served_routes: list[BaseRoute] = []
        self._network = network
        #: The server's clock, which a posted event may pass by a few minutes.
        self.clock: Callable[[], dt.datetime] = _wall_clock
        self._narrowed: tuple[tuple[dt.date, dt.date], dict[str, Any]] | None = None

    @property
    def withholds(self) -> bool:
        """The checkout answers withhold the operator data from a caller
        without the key (``--operator-reads key``): the document says so.
        Read from the app's :class:`~tierflow.service.state.ServiceState`
        (False before :func:`create_app` set it)."""
        service = getattr(self.state, "service", None)
        return service is not None and bool(service.operator_key)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document narrowed to the network's SKUs, prefixes, nodes
        and event times (:func:`~tierflow.service.network_schema.narrow`),
        made again when the dates an event may carry move; with the fields a
        caller without the key is not shown described so when the answers
        withhold them (:func:`~tierflow.service.shopper_view.describe_withholding`)."""
        at, received = limits_now(), self.clock()
        dates = ts_window(at, received)
        if self._narrowed is None or self._narrowed[0] != dates:
            document = narrow(
                super().openapi(),
                self._network,
                at=at,
                received=received,
                list_nodes=not self.withholds,
            )
            if self.withholds:
                document = describe_withholding(document, RESPONSE_MODELS)
                _document_keyed_reads(document)
            self._narrowed = (dates, document)
        return self._narrowed[1]

    def build_middleware_stack(self) -> ASGIApp:
        metrics, access_log = self._observe
        service = getattr(self.state, "service", None)
        observer = RequestObserver(
            super().build_middleware_stack(),
            metrics=metrics,
            log_access=access_log,
            routes=self.served_routes,
            api_key=service.api_key if service is not None else None,
        )
        # the refusals the HTTP protocol writes before the app (400, 408,
        # 431) get their access line and count from it too (they had none)
        setattr(self.state, WITNESS, observer)
        return observer


#: The operator reads that need the key with ``--operator-reads key``.
KEYED_READS = (
    "/v1/capacity",
    "/v1/stock",
    "/v1/allocation",
    "/v1/map",
    "/metrics",
    "/v1/stream",
)


def _document_keyed_reads(document: dict[str, Any]) -> None:
    """The 401 and 403 of the API key on each operator read of ``document``
    (changed in place), as the operator write documents them: without them
    a client checking statuses against the document met undocumented ones."""
    paths = document.get("paths", {})
    write = paths.get("/v1/capacity/events", {}).get("post", {}).get("responses", {})
    stream = " (with its capacity events: `capacity=true`, the default)"
    for path in KEYED_READS:
        read = paths.get(path, {}).get("get")
        if read is None:
            continue
        when = stream if path == "/v1/stream" else ""
        for status, words in (("401", "No API key"), ("403", "A wrong API key")):
            if status in write:
                read.setdefault("responses", {})[status] = {
                    **write[status],
                    "description": f"{words} (`X-API-Key` or `Authorization: "
                    f"Bearer`): this server runs with `--operator-reads key`{when}.",
                }


def _checked_key(api_key: str) -> bytes:
    """The API key as bytes, refused when it is too short to be a secret."""
    if not isinstance(api_key, str) or len(api_key.strip()) < MIN_API_KEY_LENGTH:
        raise InputError(
            f"must be at least {MIN_API_KEY_LENGTH} characters", field="api_key"
        )
    return api_key.strip().encode()


def _default_max_streams() -> int:
    """Half the open-file limit (the rest for the other requests, the store,
    the logs), at most :data:`MAX_STREAMS`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_STREAMS
    return max(1, min(MAX_STREAMS, soft // 2))


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The live hub and the capacity follower run while the app serves."""
    hub: LiveHub = app.state.service.hub
    follower: CapacityFollower = app.state.follower
    service = app.state.service
    service.router.serving_from(service.clock())
    service.router.load_scores()  # before the first checkout, not in it

    def log_store_error(backend: str, error: StoreUnavailable) -> None:
        _log_store_error(backend, error)  # this app's own, taken off when it stops

    on_store_error(log_store_error)
    await hub.start()
    follower.start()
    try:
        yield
    finally:
        off_store_error(log_store_error)
        follower.stop()
        await hub.stop()
        app.state.service.metrics.close()
        if app.state.service.offload is not None:
            # calls still queued are dropped: a server stopping while its
            # database is down would otherwise wait out each one in turn
            app.state.service.offload.shutdown(wait=True, cancel_futures=True)
