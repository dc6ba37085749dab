"""``tierflow serve``: the checkout API and pages over HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

import click

from tierflow.cli.config import tier_policy
from tierflow.cli.options import examples, network_option, option, state_option
from tierflow.data.errors import InputError

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
    access_log: bool,
) -> None:
    """Serve the checkout API, the checkout page (/) and operations page (/ops).

    One process: the router keeps open checkouts in memory. OpenAPI docs at
    /docs. Operator writes (POST /v1/capacity/events) need the API key.
    """
    from tierflow.orchestration.checkout.router import OnlineRouter
    from tierflow.service.app import create_app
    from tierflow.service.server import ServiceServer, server_config

    key, source = load_api_key(api_key_file)
    router = OnlineRouter.open(
        network_dir,
        state_path,
        reservation_ttl_s=reservation_ttl_s,
        policy=tier_policy(),
    )
    try:
        app = create_app(
            router,
            api_key=key,
            max_body_bytes=max_body_kb * 1024,
            allocation_dir=allocation_dir,
        )
        store = "none (degraded)" if router.store is None else router.store.location
        base = f"http://{host}:{port}"
        click.echo(f"tierflow serve: state store {store}")
        click.echo(f"  checkout page  {base}/")
        click.echo(f"  operations     {base}/ops")
        click.echo(f"  API docs       {base}/docs")
        if source == "generated for this run":
            click.echo(f"  API key ({source}): {key}")
        else:
            click.echo(f"  API key {source}")
        # uvicorn's records go through tierflow's handler (--log-level/--log-format)
        config = server_config(
            app,
            host,
            port,
            access_log=access_log,
            log_config=None,
            log_level=logging.getLogger("tierflow").getEffectiveLevel(),
        )
        server = ServiceServer(config, app)
        # uvicorn re-raises the signal it shut down on: a clean stop here
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        click.echo("tierflow serve: stopped")
    finally:
        router.close()
