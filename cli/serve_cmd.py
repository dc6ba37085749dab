"""``tierflow serve``: the checkout API and pages over HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.cli.config import tier_policy
from tierflow.cli.options import examples, network_option, option, state_option
from tierflow.data.errors import InputError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tierflow.formulations.tiers import TierPolicy

#: Environment variable holding the API key for operator writes.
API_KEY_ENV = "TIERFLOW_API_KEY"


def load_api_key(key_file: Path | None) -> tuple[str, str]:
    """The API key and where it came from: ``--api-key-file``, else
    ``$TIERFLOW_API_KEY``, else a random key made for this run."""
    from tierflow.service.app import MIN_API_KEY_LENGTH

    if key_file is not None:
        text = key_file.read_text(encoding="utf-8").strip()
        if len(text) < MIN_API_KEY_LENGTH:
            raise InputError(
                f"API key must be at least {MIN_API_KEY_LENGTH} characters",
                file=str(key_file),
            )
        return text, f"from {key_file}"
    env = os.environ.get(API_KEY_ENV, "").strip()
    if env:
        if len(env) < MIN_API_KEY_LENGTH:
            raise InputError(
                f"must be at least {MIN_API_KEY_LENGTH} characters", field=API_KEY_ENV
            )
        return env, f"from ${API_KEY_ENV}"
    return secrets.token_urlsafe(24), "generated for this run"


@click.command(
    "serve",
    epilog=examples(
        "tierflow serve --state out/simulate/state.db --allocation-dir out/simulate",
        "TIERFLOW_API_KEY=$(cat key.txt) tierflow serve --host 0.0.0.0 --port 8080",
        "tierflow serve --workers 2 --state 'postgresql://app@/tierflow?host=/run/postgresql'",
    ),
)
@option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@network_option
@state_option
@option(
    "--api-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help=f"File holding the API key for operator writes (else ${API_KEY_ENV}, "
    "else a random key printed at start).",
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
    type=click.IntRange(1, 10_240),
    help="Largest request body accepted (KiB).",
)
@option(
    "--reservation-ttl",
    "reservation_ttl_s",
    default=900.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="Seconds a selected option holds its stock.",
)
@option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes on the port (each with its own store connections).",
)
@option(
    "--capacity-max-age",
    "capacity_max_age_s",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Seconds after which a capacity map without new events is flagged "
    "degraded in every answer and on /ops (0: never).",
)
@option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log every HTTP request.",
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
    capacity_max_age_s: float,
    access_log: bool,
) -> None:
    """Serve the checkout API, the checkout page (/) and operations page (/ops).

    Any number of workers (--workers) and of servers on one PostgreSQL
    store (--state postgresql://...) answer any call of any checkout.
    OpenAPI docs at /docs. Operator writes (POST /v1/capacity/events) need
    the API key.
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
    )
    app, close = settings.build()
    store = app.state.router.store
    base = f"http://{host}:{port}"
    click.echo(
        f"tierflow serve: state store {'none (degraded)' if store is None else store.location}"
    )
    click.echo(f"  checkout page  {base}/")
    click.echo(f"  operations     {base}/ops")
    click.echo(f"  API docs       {base}/docs")
    click.echo(f"  workers        {workers}")
    if source == "generated for this run":
        click.echo(f"  API key ({source}): {key}")
    else:
        click.echo(f"  API key {source}")
    # uvicorn's records go through tierflow's handler (--log-level/--log-format)
    log_kw: dict[str, Any] = {
        "log_config": None,
        "log_level": logging.getLogger("tierflow").getEffectiveLevel(),
    }
    if workers > 1:
        close()  # the parent keeps no connection across the fork
        from tierflow.service.workers import serve_workers

        serve_workers(
            settings.build, host, port, workers, access_log=access_log, **log_kw
        )
    else:
        _serve_one(app, close, host, port, access_log, log_kw)
    click.echo("tierflow serve: stopped")


def _serve_one(
    app: FastAPI,
    close: Callable[[], None],
    host: str,
    port: int,
    access_log: bool,
    log_kw: dict[str, Any],
) -> None:
    """One process: uvicorn in the foreground."""
    from tierflow.service.server import ServiceServer, server_config

    try:
        config = server_config(app, host, port, access_log=access_log, **log_kw)
        server = ServiceServer(config, app)
        # uvicorn re-raises the signal it shut down on: a clean stop here
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        close()


@dataclass(frozen=True, slots=True)
class _Settings:
    """What each worker builds its app from."""

    network_dir: Path | None
    state_path: Path | str | None
    api_key: str
    allocation_dir: Path | None
    max_body_bytes: int
    reservation_ttl_s: float
    capacity_max_age_s: float | None
    policy: TierPolicy

    def build(self) -> tuple[FastAPI, Callable[[], None]]:
        """A router on the store and the app over it, and how to close them."""
        from tierflow.orchestration.checkout.router import OnlineRouter
        from tierflow.service.app import create_app

        router = OnlineRouter.open(
            self.network_dir,
            self.state_path,
            reservation_ttl_s=self.reservation_ttl_s,
            capacity_max_age_s=self.capacity_max_age_s,
            policy=self.policy,
        )
        try:
            app = create_app(
                router,
                api_key=self.api_key,
                max_body_bytes=self.max_body_bytes,
                allocation_dir=self.allocation_dir,
            )
        except BaseException:
            router.close()
            raise

        def close() -> None:
            app.state.service.pages.close()
            router.close()

        return app, close
