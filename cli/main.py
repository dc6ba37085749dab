"""The ``tierflow`` command: a click group that only parses, calls and prints.

Errors raised on purpose (:class:`tierflow.data.errors.TierflowError`) become one-line
messages with exit code 1, never a traceback; usage errors exit 2 (click);
Ctrl-C is one line and exit 130 (:mod:`tierflow.cli.entry`, the console
script, which imports this module only once it handles Ctrl-C itself).
Every option also reads ``TIERFLOW_*`` and ``tierflow.toml`` (:mod:`tierflow.cli.config`).
``--log-level`` and ``--log-format`` are taken before the command's name and
by every command itself (:func:`tierflow.cli.options.add_log_options`).
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import click

from tierflow.cli.config import CONFIG_ENV, CONFIG_FILE, ENV_PREFIX, load_settings
from tierflow.cli.entry import Interrupted
from tierflow.cli.entry import main as entry_main
from tierflow.cli.options import add_log_options, examples, option, set_logging
from tierflow.data.errors import TierflowError
from tierflow.data.logging_setup import LOG_FORMATS, LOG_LEVELS


class TierflowGroup(click.Group):
    """A group that turns tierflow errors into clean ``ClickException``s, and
    Ctrl-C into :class:`~tierflow.cli.entry.Interrupted`, which click lets
    through to the console script (its own "Aborted!" exits 1)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            raise Interrupted from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted from None
        except TierflowError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went (`| head`): click ends quietly, exit 1
            why = exc.strerror or str(exc)
            # a write to standard output names no file ('> /dev/full')
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{why}") from None


@click.group(
    cls=TierflowGroup,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "auto_envvar_prefix": ENV_PREFIX,
    },
    epilog=examples(
        "tierflow simulate --out out/simulate",
        "tierflow --log-format json --log-level debug allocate --orders o.csv --out out/a",
        "TIERFLOW_SIMULATE_CHECKOUTS=500 tierflow --config my.toml simulate",
    ),
)
@click.version_option(package_name="tierflow")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    is_eager=True,
    expose_value=False,
    callback=load_settings,
    help=f"Settings file (TOML; default: ./{CONFIG_FILE} if present; "
    f"also ${CONFIG_ENV}).",
)
@option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="Least severe log record written (stderr).",
)
@option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="Log records as text lines or as JSON lines.",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_format: str) -> None:
    """tierflow: fulfillment orchestration with CLTV-aware tiering and allocation.

    Every option may also come from a TIERFLOW_<COMMAND>_<OPTION> variable or
    from tierflow.toml (command line > environment > file > default).
    """
    set_logging(ctx, log_level=log_level, log_format=log_format)


def _register() -> None:
    from tierflow.cli.bench_cmd import bench
    from tierflow.cli.cltv_cmd import cltv
    from tierflow.cli.generate_cmd import generate
    from tierflow.cli.solve_cmd import solve_command

    cli.add_command(solve_command)
    cli.add_command(bench)
    from tierflow.cli.network_cmd import network

    cli.add_command(network)
    cli.add_command(generate)
    from tierflow.cli.capacity_cmd import capacity

    cli.add_command(capacity)
    from tierflow.cli.allocate_cmd import allocate_command

    cli.add_command(allocate_command)
    from tierflow.cli.options_cmd import options_command

    cli.add_command(options_command)
    cli.add_command(cltv)
    from tierflow.cli.simulate_cmd import simulate_command

    cli.add_command(simulate_command)
    from tierflow.cli.serve_cmd import serve_command

    cli.add_command(serve_command)
    add_log_options(cli)


_register()


def run() -> None:
    """The commands, as ``tierflow`` (:func:`tierflow.cli.entry.main` calls it)."""
    cli(prog_name="tierflow")


def main() -> None:
    """``python -m tierflow.cli.main``: as the console script, once imported
    (Ctrl-C during these imports is Python's own)."""
    entry_main(run)


if __name__ == "__main__":  # pragma: no cover
    main()
