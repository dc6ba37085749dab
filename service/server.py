"""Running the app under uvicorn: in the foreground (``tierflow serve``) or in a
background thread (tests, the load benchmark).

Server-sent-event streams never end on their own, and uvicorn waits for open
responses before it shuts down; :class:`ServiceServer` therefore closes the
app's live hub first, which ends every stream cleanly.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from tierflow.data.errors import TierflowError
from tierflow.data.stop_signals import STOP_NOW
from tierflow.service.addresses import url_host
from tierflow.service.request_limits import BoundedRequestProtocol

#: How long a stopping server goes on answering the requests its open
#: connections send (each answer closing its connection) before uvicorn
#: closes what is left ...
DRAIN_S = 2.0
#: ... or less: once no request has been in flight or come for this long.
QUIET_S = 0.5


class ServiceServer(uvicorn.Server):
    """A uvicorn server that ends the app's event streams before shutting
    down, and answers what clients sent before it closes their connections."""

    def __init__(
        self, config: uvicorn.Config, app: FastAPI, *, announce: bool = False
    ) -> None:
        super().__init__(config)
        self._closing: _CloseWhenDraining | None = None
        self._app = app
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup; on sockets given (bound before the app was
        built, so a request that comes meanwhile waits) with ``announce``,
        the line uvicorn writes for a socket it binds itself, which it
        leaves to the process that bound them."""
        # around the app uvicorn loaded (its middleware included), so that
        # ``config.app`` stays the app
        self._closing = _CloseWhenDraining(self.config.loaded_app)
        self.config.loaded_app = self._closing
        await super().startup(sockets)
        if self._announce and sockets and self.started:
            host, port = sockets[0].getsockname()[:2]
            where = url_host(host)
            logging.getLogger("uvicorn.error").info(
                "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", where, port
            )

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's SIGINT and SIGTERM, and SIGHUP as SIGINT: a closed
        terminal or ssh session, or a logrotate's ``kill -HUP``, ended the
        server at once (Python's default: exit 129, the requests under way
        dropped, the generated key's file left behind)."""
        hangup = getattr(signal, "SIGHUP", None)  # POSIX only
        if hangup is None or threading.current_thread() is not threading.main_thread():
            with super().capture_signals():
                yield
            return

        def hang_up(signum: int, frame: FrameType | None) -> None:
            self.handle_exit(signal.SIGINT, frame)

        previous = signal.signal(hangup, hang_up)
        try:
            with super().capture_signals():
                yield
        finally:
            signal.signal(hangup, previous)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's stop signal; at its second SIGINT (a force exit) also a
        store call waiting for another process's SQLite lock stops waiting
        (:data:`~tierflow.data.stop_signals.STOP_NOW`, a 503): SQLite calls
        run on the event loop, and one behind a ``sqlite3`` shell's lock held
        the stop for the store's whole wait."""
        super().handle_exit(sig, frame)
        if self.force_exit:
            STOP_NOW.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close the live hub (ends the SSE streams), drain the connections,
        then uvicorn's shutdown."""
        hub = getattr(self._app.state, "hub", None)
        if hub is not None:
            hub.close()
        await self._drain(sockets)
        await super().shutdown(sockets)
        if self.force_exit and not self._lifespan_ended():
            # uvicorn skips the app's shutdown on a second Ctrl-C; tierflow's
            # is bounded and is what closes the store's other users: the
            # capacity follower's connection, the store calls under way in
            # threads (each finishes its transaction). Skipped, the worker
            # ended with them running (and the lifespan's task cancelled:
            # a CancelledError traceback per worker)
            await self.lifespan.shutdown()

    def _lifespan_ended(self) -> bool:
        """Whether the app's lifespan shutdown ran (or it has none)."""
        ended = getattr(self.lifespan, "shutdown_event", None)
        return ended is None or ended.is_set()

    async def _drain(self, sockets: list[socket.socket] | None) -> None:
        """Stop accepting connections, then answer what the open ones send,
        each answer with ``Connection: close``, until none is left, none has
        sent a request for :data:`QUIET_S` or :data:`DRAIN_S` has passed.
        uvicorn alone closes every connection between two answers at once:
        a request a client had sent on it, not read yet (the event loop
        busy with others), was reset (QA: every one of 30 busy clients' at
        each stop under load), though the client could not tell whether it
        ran."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if self._closing is not None:
            self._closing.draining = True
        state = self.server_state
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_S
        seen, quiet_since = state.total_requests, loop.time()
        while state.connections and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(0.02)
            if state.tasks or state.total_requests != seen:
                seen, quiet_since = state.total_requests, loop.time()
            elif loop.time() - quiet_since >= QUIET_S:
                return


class _CloseWhenDraining:
    """The ASGI app as it is, except that once :attr:`draining` every answer
    closes its connection (``Connection: close``: its client opens a new one
    for its next request, and finds the server gone)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.draining or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)


def server_config(
    app: FastAPI, host: str, port: int, *, access_log: bool = False, **kw: Any
) -> uvicorn.Config:
    """The uvicorn settings tierflow uses (one process, no reload, short grace)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=kw.pop("http", BoundedRequestProtocol),
        access_log=access_log,
        log_level=kw.pop("log_level", "info"),
        timeout_graceful_shutdown=kw.pop("timeout_graceful_shutdown", 5),
        lifespan="on",
        **kw,
    )


def log_settings() -> dict[str, Any]:
    """uvicorn settings that send its records through tierflow's handler
    (``--log-level``/``--log-format``) instead of its own."""
    return {
        "log_config": None,
        "log_level": logging.getLogger("tierflow").getEffectiveLevel(),
    }


#: The collector's thresholds in a serving process: an options answer
#: allocates a few thousand short-lived objects, so CPython's default (a
#: young collection every 700 allocations) runs several collections per
#: request, about a tenth of a checkout's server time. 200,000 rather than
#: 50,000: at most 2-3 % more checkout calls a second (``docs/service.md``),
#: the older generations' cadence unchanged.
GC_THRESHOLDS = (200_000, 20, 10)


def tune_gc() -> None:
    """The garbage collector of a process that is about to serve: what was
    built at start-up (network, models, modules) moved out of its sight for
    good (``gc.freeze``), young collections rarer (:data:`GC_THRESHOLDS`).
    Call it in the serving process only, not in a library user's."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` (an IPv4 or IPv6 address, or a name)
    right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server started by :func:`serve_in_thread`."""

    server: ServiceServer
    thread: threading.Thread
    url: str


@contextmanager
def serve_in_thread(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    startup_timeout_s: float = 30.0,
    **kw: Any,
) -> Iterator[RunningServer]:
    """Serve ``app`` from a daemon thread while the block runs (loopback only).

    Yields once uvicorn has started; on exit asks it to stop and joins it.
    """
    config = server_config(
        app,
        host,
        port or free_port(host),
        log_level=kw.pop("log_level", "warning"),
        **kw,
    )
    server = ServiceServer(config, app)
    thread = threading.Thread(target=server.run, name="tierflow-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    tick = threading.Event()  # never set: a wait that cannot be cut short
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        tick.wait(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        raise TierflowError(f"the server did not start on {host}:{config.port}")
    try:
        yield RunningServer(server, thread, f"http://{host}:{config.port}")
    finally:
        server.should_exit = True
        thread.join(30)
