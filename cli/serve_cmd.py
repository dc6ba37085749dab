"""``tierflow serve``: the checkout API and pages over HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tierflow.cli.config import tier_policy
from tierflow.cli.network_cmd import log_network_warnings
from tierflow.cli.option_values import MAX_INTERVAL_S, MAX_TTL_S
from tierflow.cli.options import (
    examples,
    history_option,
    network_option,
    option,
    state_option,
)
from tierflow.cli.param_types import FiniteFloatRange, WholeRange
from tierflow.data.errors import InputError
from tierflow.data.logging_setup import redact
from tierflow.data.store_location import default_state_location, is_postgres_url
from tierflow.service.addresses import url_host
from tierflow.service.cpus import pin_process, worker_cpu, worker_cpus

if TYPE_CHECKING:
    from types import FrameType

    from fastapi import FastAPI

    from tierflow.capacity.demand_forecast import DemandForecast
    from tierflow.formulations.tiers import TierPolicy

_log = logging.getLogger("tierflow.service")

#: Environment variable holding the API key for operator writes.
API_KEY_ENV = "TIERFLOW_API_KEY"
#: Where a key made by ``tierflow serve`` itself comes from.
GENERATED = "generated for this run"


def load_api_key(key_file: Path | None) -> tuple[str, str]:
    """The API key and where it came from: ``--api-key-file``, else
    ``$TIERFLOW_API_KEY``, else a random key made for this run."""
    from tierflow.service.app import MIN_API_KEY_LENGTH

    if key_file is not None:
        text = _key_text(key_file)
        if why := _not_one_key(text):
            raise InputError(why, file=str(key_file))
        if len(text) < MIN_API_KEY_LENGTH:
            raise InputError(
                f"API key must be at least {MIN_API_KEY_LENGTH} characters",
                file=str(key_file),
            )
        if why := _unsendable(text):
            raise InputError(why, file=str(key_file))
        _warn_if_shared(key_file)
        return text, f"from {key_file}"
    env = os.environ.get(API_KEY_ENV, "").strip()
    if env:
        if len(env) < MIN_API_KEY_LENGTH:
            raise InputError(
                f"must be at least {MIN_API_KEY_LENGTH} characters", field=API_KEY_ENV
            )
        if why := _unsendable(env):
            raise InputError(why, field=API_KEY_ENV)
        return env, f"from ${API_KEY_ENV}"
    return secrets.token_urlsafe(24), GENERATED


def _key_text(key_file: Path) -> str:
    """The key file's text, stripped."""
    data = key_file.read_bytes()
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:  # the bytes are the secret: not echoed
        why = f"not UTF-8 text ({exc.reason} at byte {exc.start + 1})"
        raise InputError(why, file=str(key_file)) from None
    if not text:  # was "API key must be at least 16 characters"
        why = "only whitespace" if data else "empty"
        raise InputError(f"{why}: it holds no API key", file=str(key_file))
    return text


def _not_one_key(text: str) -> str | None:
    """Why the key file's stripped ``text`` is not one key on one line (a
    second line read "character 25 is a line break or control
    character")."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return (
            f"holds {len(lines)} lines: an API key file holds the key alone, "
            "on one line"
        )
    return None


def _warn_if_shared(key_file: Path) -> None:
    """A warning when users other than its owner may read the key file (the
    generated key's file is the owner's alone)."""
    mode = key_file.stat().st_mode & 0o777
    if mode & 0o077:
        _log.warning(
            "%s: the API key file is open to other users (mode %04o): chmod 600 it",
            key_file,
            mode,
        )


def _unsendable(key: str) -> str | None:
    """Why an HTTP header cannot carry ``key`` as it is written (its place,
    never the key): a header is ASCII text on one line, so a key with a
    non-ASCII letter or a line break inside matched no request ever (spaces
    and tabs inside are a header's own characters, and kept)."""
    for at, char in enumerate(key, start=1):
        if " " <= char <= "~" or char == "\t":
            continue
        what = (
            "not ASCII" if not char.isascii() else "a line break or control character"
        )
        return (
            "API key must be printable ASCII (an HTTP header carries it): "
            f"character {at} is {what}"
        )
    return None


def _address(host: str) -> str:
    """``--host`` as given, where it names an address: an empty one (a
    settings file's ``host = ""``, a script's ``--host "$HOST"`` with
    ``$HOST`` unset) bound every interface, the server open to the
    network while its banner's links read ``http://:8000/``. An IPv6
    address in brackets, as a URL writes it (``[::1]``), is the address
    (the brackets were taken for part of a host name: "name or service
    not known")."""
    if not host.strip():
        raise click.BadParameter(
            "empty: name the address to bind (127.0.0.1 for this host only, "
            "0.0.0.0 for every interface)"
        )
    if host.startswith("[") and host.endswith("]") and ":" in host:
        return host[1:-1]
    return host


@click.command(
    "serve",
    epilog=examples(
        "tierflow serve --state out/simulate/state.db --allocation-dir out/simulate "
        "--capacity-max-age 0",
        "TIERFLOW_API_KEY=$(cat key.txt) tierflow serve --host 0.0.0.0 --port 8080",
    ),
)
@option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=lambda _ctx, _param, value: _address(value),
    help="Address to bind.",
)
@option(
    "--port",
    default=8000,
    show_default=True,
    type=WholeRange(0, 65535),
    help="Port to listen on.",
)
@network_option
@state_option
@option(
    "--api-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help=f"File holding the API key for operator writes (else ${API_KEY_ENV}, "
    "else a random key written to a new private file whose path is printed).",
)
@option(
    "--allocation-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder of `tierflow allocate` shown on /ops (default: the state "
    "store's latest allocation run).",
)
@option(
    "--max-body-kb",
    default=64,
    show_default=True,
    type=WholeRange(1, 10_240),
    help="Largest request body accepted (KiB).",
)
@option(
    "--reservation-ttl",
    "reservation_ttl_s",
    default=900.0,
    show_default=True,
    type=FiniteFloatRange(1.0, MAX_TTL_S),
    help="Seconds a selected option holds its stock.",
)
@option(
    "--workers",
    default=1,
    show_default=True,
    type=WholeRange(1, 64),
    help="Worker processes on the port (each with its own store connections).",
)
@option(
    "--pin-cpus/--no-pin-cpus",
    default=None,
    help="Run each worker on one CPU of those the server may use (worker k on "
    "the k-th, round robin): a worker's threads share one GIL, and spread "
    "over CPUs every hand-off is a cross-CPU wake-up (about twice the CPU per "
    "PostgreSQL-backed call, measured). Default: pinned on PostgreSQL, whose "
    "calls run in threads; not on SQLite. Linux only.",
)
@option(
    "--capacity-max-age",
    "capacity_max_age_s",
    default=3600.0,
    show_default=True,
    type=FiniteFloatRange(0.0, MAX_INTERVAL_S),
    help="Seconds after which a capacity map without new events is flagged "
    "degraded in every answer and on /ops (0: never).",
)
@history_option(
    "the rest-of-day forecast learns volume by hour and the order mix from "
    "them, as `allocate --history` does (default: from the orders confirmed "
    "so far today)."
)
@option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per HTTP request, with its request id (logger "
    "tierflow.access; --log-format json for JSON lines).",
)
@option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    help="Count requests and checkouts and serve them at /metrics (Prometheus).",
)
@option(
    "--operator-reads",
    type=click.Choice(["public", "key"]),
    default="public",
    show_default=True,
    help="Who may read the operator data (GET /v1/capacity, /v1/stock, "
    "/v1/allocation, /v1/map, /metrics, and /v1/stream's capacity events): "
    "anyone, or only callers with the API key, as the operator writes (401 "
    "without it, 403 for a wrong one; Prometheus sends it as a bearer "
    "token). With key, the "
    "checkout answers to a caller without it withhold the operator data "
    "(node ids, costs, bid prices, scores, CLTV figures).",
)
@option(
    "--samples/--no-samples",
    default=True,
    show_default=True,
    help="Serve GET /v1/samples, the demo's sample customer ids with their "
    "predicted spend (--no-samples: 404; the checkout page then asks for the "
    "customer id).",
)
def serve_command(
    host: str,
    port: int,
    network_dir: Path | None,
    state_path: Path | None,
    api_key_file: Path | None,
    allocation_dir: Path | None,
    max_body_kb: int,
    reservation_ttl_s: float,
    workers: int,
    pin_cpus: bool | None,
    capacity_max_age_s: float,
    history_path: Path | None,
    access_log: bool,
    metrics: bool,
    operator_reads: str,
    samples: bool,
) -> None:
    """Serve the checkout API, the checkout page (/) and operations page (/ops).

    Any number of workers (--workers) and of servers on one PostgreSQL
    store (--state postgresql://...) answer any call of any checkout.
    OpenAPI docs at /docs (offline), Prometheus metrics at /metrics.
    Operator writes (POST /v1/capacity/events) need the API key; a key
    generated for the run is written to a file only its owner can read,
    whose path is printed (the key never is). On the internet:
    --operator-reads key --no-samples (docs/service.md, "Security").
    """
    key, source = load_api_key(api_key_file)
    settings = _Settings(
        network_dir,
        state_path,
        key,
        allocation_dir,
        max_body_kb * 1024,
        reservation_ttl_s,
        capacity_max_age_s or None,
        tier_policy(),
        metrics,
        access_log,
        _demand(network_dir, history_path),
        operator_reads,
        samples,
    )
    from tierflow.service.workers import bind

    # the port is bound before anything is printed: one taken is an error
    # naming it, and port 0 is the free port the banner's links show
    sock = bind(host, port)
    port = int(sock.getsockname()[1])
    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        made: list[Path] = []  # this run's folders: removed as it ends
        if (
            metrics
            and workers > 1
            and (shared := stack.enter_context(_shared_metrics()))
        ):
            made.append(shared)
        if source == GENERATED:
            key_path = stack.enter_context(_key_file(key))
            made.append(key_path.parent)
            source = f"{source}, in {key_path}"
        fresh = _store_to_make(state_path)
        app, close = settings.build()
        # closed however the run ends from here: a Ctrl-C while the banner
        # was printed ended it with the store open (a SQLite -wal left)
        stack.callback(close)
        _warn_of_paths_with_nothing(app, fresh, allocation_dir)
        # said once, by this process: the workers load it again, silently
        log_network_warnings(app.state.router.network)
        cpus = worker_cpus(pin_cpus, threaded=app.state.service.offload is not None)
        if workers == 1:
            pin_process(worker_cpu(0, cpus))
        _print_banner(app, host, port, workers, cpus, source, _private(settings))
        if workers > 1:
            close()  # the parent keeps no connection across the fork
            from tierflow.service.server import log_settings
            from tierflow.service.workers import serve_workers

            serve_workers(
                functools.partial(settings.build, worker=True), host, port,
                workers, cpus, sock=sock, leftovers=made, **log_settings(),
            )  # fmt: skip
        else:
            # served on the socket bound above: closed and bound again by
            # uvicorn, a request that reached the port meanwhile was reset
            _serve_one(app, close, host, port, sock)
    click.echo("tierflow serve: stopped")


#: How long a request waits for the store's write lock (SQLite; another
#: process's transaction, a ``sqlite3`` shell's) or a pooled connection
#: (PostgreSQL) before it fails with 503: on SQLite a call runs on the event
#: loop, so a wait holds every request back (``/healthz`` too), and the
#: stores' own default (60 s, for batch jobs) would stall the server a minute.
STORE_WAIT_S = 5.0
#: How long a call waits without a byte of a PostgreSQL server's answer
#: before it probes the server with a new connection: a server that hangs
#: (alive, its sockets open, answering nothing) is a store unavailable (503,
#: options degraded) after it, plus the probe's 0.5 s (``PROBE_WAIT_S``);
#: the calls waited until it resumed. A live server is waited for on: a lock
#: wait or a long statement (seeding a large network) is not a hang.
STORE_ANSWER_S = 2.0


def _store_to_make(state: Path | str | None) -> Path | None:
    """The SQLite file the server is about to make, where none is there (a
    path mistyped, as often as a first run); None for one that exists or a
    URL or the default store. Asked before the router opens the store,
    which makes it."""
    if state is None and not os.environ.get("TIERFLOW_STATE"):
        return None  # the default store, made on the first run as it should be
    where = default_state_location() if state is None else state
    if is_postgres_url(where) or Path(where).exists():
        return None
    return Path(where)


def _warn_of_paths_with_nothing(
    app: FastAPI, fresh: Path | None, allocation_dir: Path | None
) -> None:
    """Say, once at start-up, where a path given holds nothing to serve: a
    store made empty just now (it served a mistyped ``--state`` as if it were
    the day's, without a word) and an ``--allocation-dir`` with no
    ``summary.json`` (``/ops`` then shows no allocation)."""
    if fresh is not None and app.state.router.store is not None:
        _log.warning(
            "%s: no state store was there: serving a new, empty one (no CLTV "
            "scores, capacity events or allocations; the network's stock): "
            "is the path right?",
            fresh,
        )
    if allocation_dir is not None and not (allocation_dir / "summary.json").is_file():
        _log.warning(
            "--allocation-dir %s: no summary.json there: /ops shows no "
            "allocation until `tierflow allocate --out` or `tierflow simulate "
            "--out` writes one there",
            allocation_dir,
        )


def _private(settings: _Settings) -> list[str]:
    """The banner's lines on what ``--operator-reads key`` and
    ``--no-samples`` keep from the public."""
    lines = []
    if settings.operator_reads == "key":
        lines.append("operator reads need the API key (--operator-reads key)")
    if not settings.samples:
        lines.append("samples        off: /v1/samples answers 404 (--no-samples)")
    return lines


def _demand(network_dir: Path | None, history: Path | None) -> DemandForecast:
    """The rest-of-day forecast's model: learned from ``--history`` (read and
    checked before anything starts), else today's orders only."""
    from tierflow.capacity.demand_forecast import DemandForecast

    if history is None:
        return DemandForecast.intraday()
    from tierflow.cli.network_cmd import open_network

    # its warnings are said once the server's router has it (serve_command)
    net = open_network(network_dir, warn=False)
    return DemandForecast.from_history_file(history, net)[0]


def _print_banner(
    app: FastAPI,
    host: str,
    port: int,
    workers: int,
    cpus: Sequence[int],
    key: str,
    private: Sequence[str] = (),
) -> None:
    """Where everything is (never the key itself), and ``private``: what is
    kept from the public (said only when asked for: a demo's banner is as
    it was)."""
    router = app.state.router
    if router.store is not None:
        where = router.store.location
    else:  # why, on one line (the URL's password masked)
        why = " ".join(router.store_error.split())
        where = f"none (degraded: {redact(why)})"
    base = f"http://{url_host(host)}:{port}"
    click.echo(f"tierflow serve: state store {where}")
    click.echo(f"  checkout page  {base}/")
    click.echo(f"  operations     {base}/ops")
    click.echo(f"  API docs       {base}/docs")
    if app.state.service.metrics.enabled:
        click.echo(f"  metrics        {base}/metrics")
    on = [worker_cpu(k, cpus) for k in range(workers)]
    placed = (
        "as the OS places them" if not cpus else "on CPU " + ", ".join(map(str, on))
    )
    click.echo(f"  workers        {workers}, {placed}")
    demand = app.state.router.demand
    click.echo(
        f"  forecast       {'none' if demand is None else demand.forecaster.source}"
    )
    click.echo(f"  API key        {key}")
    for line in private:
        click.echo(f"  {line}")


@contextlib.contextmanager
def _key_file(key: str) -> Iterator[Path]:
    """The generated key in a new file only the owner can read (mode 0600,
    in a folder of mode 0700), removed when the server stops."""
    folder = Path(tempfile.mkdtemp(prefix="tierflow-serve-"))
    path = folder / "api-key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(key + "\n")
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[Path | None]:
    """Every worker's counts in one folder (prometheus-client's multiprocess
    mode): a new one for the run (yielded) unless ``$PROMETHEUS_MULTIPROC_DIR``
    names one (None); set before any app is built, so the workers inherit it."""
    from tierflow.service.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        yield None
        return
    folder = tempfile.mkdtemp(prefix="tierflow-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield Path(folder)
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def _serve_one(
    app: FastAPI,
    close: Callable[[], None],
    host: str,
    port: int,
    sock: socket.socket,
) -> None:
    """One process: uvicorn in the foreground, on ``sock`` (bound and
    listening: a request that comes while the app starts waits for it)."""
    from tierflow.service.server import (
        ServiceServer,
        log_settings,
        server_config,
        tune_gc,
    )

    # uvicorn re-raises the signal it shut down on, after putting back the
    # handler it found: SIGTERM's default would end the process before any
    # cleanup (the store's close, the generated key file's removal), so it
    # becomes SIGINT's KeyboardInterrupt, a clean stop here
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        config = server_config(app, host, port, **log_settings())
        server = ServiceServer(config, app, announce=True)
        tune_gc()
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """A stop signal as Ctrl-C."""
    raise KeyboardInterrupt


@dataclass(frozen=True, slots=True)
class _Settings:
    """What each worker builds its app from."""

    network_dir: Path | None
    state_path: Path | str | None
    api_key: str = field(repr=False)
    allocation_dir: Path | None
    max_body_bytes: int
    reservation_ttl_s: float
    capacity_max_age_s: float | None
    policy: TierPolicy
    metrics: bool
    access_log: bool
    demand: DemandForecast | None = None
    operator_reads: str = "public"
    samples: bool = True

    def build(self, worker: bool = False) -> tuple[FastAPI, Callable[[], None]]:
        """A router on the store and the app over it, and how to close them
        (``worker``: a store of a newer schema is served degraded, not refused:
        the supervisor would start a refusing worker again and again; a SQLite
        file gone since the supervisor opened it is a store unavailable, not
        made again empty)."""
        from tierflow.orchestration.checkout.router import OnlineRouter
        from tierflow.service.app import create_app

        router = OnlineRouter.open(
            self.network_dir,
            self.state_path,
            reservation_ttl_s=self.reservation_ttl_s,
            capacity_max_age_s=self.capacity_max_age_s,
            policy=self.policy,
            demand=self.demand,
            store_wait_s=STORE_WAIT_S,
            store_answer_s=STORE_ANSWER_S,
            serve_newer_schema=worker,
            make_store=not worker,  # the supervisor made it: never a new one
        )
        try:
            app = create_app(
                router,
                api_key=self.api_key,
                max_body_bytes=self.max_body_bytes,
                allocation_dir=self.allocation_dir,
                metrics=self.metrics,
                access_log=self.access_log,
                operator_reads=self.operator_reads,
                samples=self.samples,
            )
        except BaseException:
            router.close()
            raise

        closed: list[bool] = []

        def close() -> None:  # once: the serve's end and its exit stack
            if not closed:
                closed.append(True)
                app.state.service.pages.close()
                router.close()

        return app, close
