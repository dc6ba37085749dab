"""``tierflow serve --workers N``: N worker processes on one port (pre-fork).

The parent binds the port and forks the workers; each builds its own app,
router and store connections after the fork (connections and threads never
cross a fork) and runs uvicorn on the shared socket, where the kernel hands
each new connection to one of them. Any worker answers any call of any
checkout: quotes, holds and orders live in the store, and capacity events
reach every worker through the store's event log. A worker that dies is
started again; SIGINT or SIGTERM to the parent stops them all gracefully.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi import FastAPI

from tierflow.data.errors import TierflowError
from tierflow.data.stop_signals import STOP_NOW
from tierflow.service.addresses import url_host
from tierflow.service.cpus import pin_process, worker_cpu
from tierflow.service.metrics import count_worker_restart, fold_dead_worker
from tierflow.service.server import ServiceServer, server_config, tune_gc

log = logging.getLogger("tierflow.service")

#: Least time between two starts of a worker that keeps dying.
RESTART_S = 1.0
#: How long the parent waits for the workers to stop before killing them.
STOP_S = 15.0
#: How often a worker looks whether its supervisor is still there.
PARENT_POLL_S = 0.5

#: Builds one worker's app in the worker, and what to close after it stops.
AppFactory = Callable[[], tuple[FastAPI, Callable[[], None]]]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port), shared by the
    workers; :class:`TierflowError` naming the address when it cannot be
    had (in use, not this host's, no permission)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"{url_host(host)}:{port}"
        why = (exc.strerror or str(exc)).lower()
        raise TierflowError(f"cannot listen on {where}: {why}") from None
    sock.set_inheritable(True)
    return sock


#: What stops the supervisor and its workers: SIGHUP too (a closed terminal
#: or ssh session, a logrotate's ``kill -HUP``), which ended the supervisor
#: at once before (its workers followed within half a second).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def serve_workers(
    build: AppFactory,
    host: str,
    port: int,
    workers: int,
    cpus: Sequence[int] = (),
    sock: socket.socket | None = None,
    leftovers: Sequence[Path] = (),
    **config_kw: Any,
) -> None:
    """Run ``workers`` processes serving ``build()``'s app on one port until
    SIGINT or SIGTERM, worker ``k`` on CPU :func:`~tierflow.service.cpus.worker_cpu`
    of ``cpus`` (none: where the OS puts it; ``sock``: the port bound already
    by :func:`bind`; ``config_kw``: more uvicorn settings, e.g. logging;
    ``leftovers``: the run's own folders, which the workers remove if the
    supervisor is killed before it could)."""
    sock = bind(host, port) if sock is None else sock
    supervisor = _Supervisor(
        build, sock, host, port, tuple(cpus), config_kw, tuple(leftovers)
    )
    previous = {sig: signal.signal(sig, supervisor.stop) for sig in STOP_SIGNALS}
    try:
        for slot in range(workers):
            supervisor.spawn(slot)
        supervisor.watch()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


class _Supervisor:
    """Starts the workers, starts again the ones that die, stops them all."""

    def __init__(
        self,
        build: AppFactory,
        sock: socket.socket,
        host: str,
        port: int,
        cpus: tuple[int, ...],
        config_kw: dict[str, Any],
        leftovers: tuple[Path, ...] = (),
    ) -> None:
        self.build = build
        self.cpus = cpus
        self.config_kw = config_kw
        self.sock = sock
        self.host = host
        self.port = port
        self.children: dict[int, int] = {}  # pid -> slot
        self.started: dict[int, float] = {}  # slot -> last start
        self.stopping = False
        self.leftovers = leftovers
        #: The stop signals received, in order (said by :meth:`watch`: a
        #: handler that logs could run inside a log call of the watch).
        self.signals: list[int] = []

    def spawn(self, slot: int) -> None:
        """Fork one worker for ``slot``."""
        self.started[slot] = time.monotonic()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            os._exit(self._worker(slot, parent))
        self.children[pid] = slot

    def stop(self, signum: int, frame: FrameType | None) -> None:
        """Stop every worker (each finishes its requests, ends its streams);
        again (a second Ctrl-C, a supervisor sending the signal again): at
        once, as uvicorn's second SIGINT (no wait for the connections; the
        store calls under way finish, the store is closed)."""
        self.stopping = True
        self.signals.append(signum)
        # no new connection from now on, for any worker: a worker stops
        # accepting as it drains, but the port stayed open here until the
        # last one ended, and the connections made meanwhile, queued for
        # nobody, were reset then (a client told to reconnect by the
        # drain's ``Connection: close`` sent its request into one)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)

    def watch(self) -> None:
        """Wait for the workers; start again one that died unasked."""
        deadline = None
        said = 0  # stop signals said so far
        killed: set[int] = set()
        while self.children:
            if self.stopping and deadline is None:
                deadline = time.monotonic() + STOP_S
            said = self._say_stop(said, deadline)
            if len(self.signals) > 2:
                self._kill(killed, "asked a third time")
            elif deadline is not None and time.monotonic() > deadline:
                self._kill(killed, f"still running {STOP_S:g} s after the stop")
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.1)
                continue
            slot = self.children.pop(pid, None)
            if slot is not None:
                self._ended(slot, pid, status, killed)

    def _ended(self, slot: int, pid: int, status: int, killed: set[int]) -> None:
        """Worker ``slot`` (``pid``) ended: started again, unless the server
        is stopping (then one line if it did not stop cleanly on its own)."""
        if self.stopping:
            if status != 0 and pid not in killed:
                log.warning(
                    "worker %d (pid %d) %s while stopping", slot, pid, ended(status)
                )
            return
        log.warning(
            "worker %d (pid %d) %s; starting it again", slot, pid, ended(status)
        )
        fold_dead_worker(pid)
        count_worker_restart()
        time.sleep(max(0.0, self.started[slot] + RESTART_S - time.monotonic()))
        if not self.stopping:
            self.spawn(slot)

    def _kill(self, killed: set[int], why: str) -> None:
        """SIGKILL the workers still running (one line each, saying ``why``),
        adding them to ``killed``."""
        for pid in set(self.children) - killed:
            log.error(
                "worker %d (pid %d) killed, %s (a store transaction under way "
                "is rolled back)",
                self.children[pid], pid, why,
            )  # fmt: skip
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)

    def _say_stop(self, said: int, deadline: float | None) -> int:
        """Log the stop signals from the ``said``-th on, one line each; how
        many are said now."""
        for signum in self.signals[said:]:
            name = signal.Signals(signum).name
            left = max(0.0, (deadline or time.monotonic()) - time.monotonic())
            if said == 0:
                log.info(
                    "%s: stopping %d workers (each answers what it was sent and "
                    "closes its store; any still running in %.0f s is killed)",
                    name, len(self.children), left,
                )  # fmt: skip
            elif said == 1:
                log.warning(
                    "%s again: the workers stop now (requests not read yet are "
                    "dropped, store calls under way finish, one waiting for "
                    "another process's SQLite lock gives up; any still running "
                    "in %.0f s is killed, or at a third signal)",
                    name, left,
                )  # fmt: skip
            said += 1
        return said

    def _worker(self, slot: int, parent: int) -> int:
        """A worker's life: its own process group (the parent forwards the
        signals once), its CPU, its own app and store, uvicorn on the shared
        socket; it stops when ``parent`` is gone (:func:`_stop_with_parent`)."""
        code = 1
        try:
            os.setpgid(0, 0)
            pin_process(worker_cpu(slot, self.cpus))
            # a stop while the worker starts is kept for when it has a
            # server: left at the default (or the supervisor's copy), it
            # killed a worker still opening its store, which was left open
            # (a CI run's Ctrl-C one second after the first worker answered)
            early: list[int] = []
            for sig in STOP_SIGNALS:
                signal.signal(sig, lambda signum, frame: early.append(signum))
            # after the parent's handlers are gone (a SIGTERM from the watch
            # would run the supervisor's copy: stopping the other workers)
            _stop_with_parent(parent, slot, self.leftovers)
            app, close = self.build()
            try:
                config = server_config(app, self.host, self.port, **self.config_kw)
                server = ServiceServer(config, app)
                _signals_stop(server)
                if early:  # later ones reach the server: it starts and stops
                    log.info(
                        "worker %d: %s while it started; it serves nothing",
                        slot, signal.Signals(early[0]).name,
                    )  # fmt: skip
                else:
                    tune_gc()
                    server.run(sockets=[self.sock])
                code = 0
            finally:
                close()
        except BaseException:  # report, and let the parent start it again
            log.exception("worker failed")
        return code


def _signals_stop(server: ServiceServer) -> None:
    """From here on a stop signal asks ``server`` to stop (a second SIGINT:
    at once, as uvicorn's own handler does), also outside uvicorn's handlers:
    after it runs, it re-raises the signal it stopped on into the handler it
    found, which was the default's, and that killed the worker before it
    closed its store (a SQLite ``-wal`` left unmerged, PostgreSQL sessions
    dropped, not ended); the close after it is never cut short either. A
    second SIGINT also ends a store call's wait for another process's lock
    (:meth:`ServiceServer.handle_exit`, while uvicorn serves)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
            STOP_NOW.set()
        server.should_exit = True

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)


def ended(status: int) -> str:
    """How a process ended, from its ``waitpid`` status (the raw status read
    "ended (256)" for an exit code of 1)."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = f" ({signal.Signals(number).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {number}{name}"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended (status {status})"


def _stop_with_parent(parent: int, slot: int, leftovers: Sequence[Path]) -> None:
    """Stop this worker, as SIGTERM does, once the supervisor ``parent`` is
    gone. Killed with SIGKILL (the OOM killer, ``systemctl kill -s KILL``),
    it forwarded nothing: its workers, each in a process group of its own,
    kept the port, so the restarted service could not listen on it
    ("address already in use") and the old workers answered meanwhile. The
    run's ``leftovers`` (the metrics folder, the generated key's) are
    removed too: the supervisor removes them only when it stops itself."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        log.warning(
            "worker %d: its supervisor (pid %d) is gone; stopping", slot, parent
        )
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tierflow-parent-watch", daemon=True).start()
